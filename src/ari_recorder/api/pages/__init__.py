"""Pages served by the controller itself, for people: the agent's page (/agent) and the
supervisor's (/supervisor), on api/pages/site.py's sessions."""

from ari_recorder.api.pages.agent import add_agent_page
from ari_recorder.api.pages.supervisor import add_supervisor_page

__all__ = ["add_agent_page", "add_supervisor_page"]
