"""Agents' devices (hot-desking): what an endpoint may look like, and which endpoint a channel is on."""

from __future__ import annotations

import re

# PJSIP/2041, SIP/2041, IAX2/2041, PJSIP/2041@desk-phones (an AOR at a host), Local/1001@agent-phone.
_ENDPOINT = re.compile(
    r"(?:(?:PJSIP|SIP|IAX2)/[A-Za-z0-9_.+-]{1,80}(?:@[A-Za-z0-9_.:-]{1,80})?"
    r"|Local/[A-Za-z0-9_.+*#-]{1,80}@[A-Za-z0-9_.-]{1,80})\Z"
)
EXAMPLES = "PJSIP/<name>, SIP/<name>, IAX2/<name> or Local/<extension>@<context>"


def endpoint_problem(endpoint: str) -> str | None:
    """Why `endpoint` cannot be an agent's device; None when it can."""
    if _ENDPOINT.match(endpoint):
        return None
    return f"{endpoint[:100]!r} is not an endpoint: {EXAMPLES}"


def on_endpoint(channel_name: str, endpoint: str) -> bool:
    """Whether a channel is on `endpoint` (PJSIP/2041-00000005 is on PJSIP/2041,
    Local/1001@agent-phone-00000002;1 on Local/1001@agent-phone)."""
    return bool(endpoint) and channel_name.startswith(f"{endpoint}-")
