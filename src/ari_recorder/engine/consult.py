"""Intake for agents' consultation calls (domain/consult.py): whose call a consultation is, the
REFER with Replaces that completes it, and what reconciliation must tell about it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ari_recorder.ari.errors import AriNotFound
from ari_recorder.ari.events import ChannelTransfer, StasisStart
from ari_recorder.ari.rest import AriClient
from ari_recorder.domain import call as c
from ari_recorder.domain.consult import ConsultRequested, ReplacesRequested
from ari_recorder.domain.devices import on_endpoint
from ari_recorder.domain.policy import AgentId
from ari_recorder.engine.inbound import Refused, agent_policy, parse_args
from ari_recorder.engine.live_settings import LiveSettings, as_live
from ari_recorder.settings import Settings


class Devices(Protocol):
    """Where agents are logged in (engine/logins.py's Logins; SettingsDevices without a store)."""

    def where(self, agent: str) -> str | None: ...

    def on(self, channel_name: str) -> str | None: ...


class SettingsDevices:
    """Every agent on its default device, as the settings say (no logins)."""

    def __init__(self, settings: Settings | LiveSettings) -> None:
        self.live = as_live(settings)

    @property
    def settings(self) -> Settings:
        return self.live.current

    def where(self, agent: str) -> str | None:
        set_up = self.settings.agents.get(agent)
        return set_up.endpoint or None if set_up is not None else None

    def on(self, channel_name: str) -> str | None:
        return endpoint_agent(self.settings, channel_name)


def endpoint_agent(settings: Settings, channel_name: str) -> str | None:
    """The agent whose default device (the settings') a channel is on: without logins only."""
    on = (agent for agent, set_up in settings.agents.items() if on_endpoint(channel_name, set_up.endpoint))
    return next(on, None)


def consult_request(
    settings: Settings, start: StasisStart, agent_call: Callable[[str], c.Call | None], devices: Devices
) -> tuple[str, ConsultRequested] | Refused:
    """`Stasis(app,consult,agent=<ext>)` on an agent's phone's new call: the call whose agent (the
    one logged in on the phone) it is, and what to tell it; Refused when it is no agent's with a
    customer."""
    agent = devices.on(start.channel.name)
    if agent is None:
        return Refused(f"consultation from {start.channel.name}, where no agent is logged in")
    call = agent_call(agent)
    if call is None:
        return Refused(f"consultation from agent {agent}, who is on no call")
    destination = parse_args(start.args).get("agent", "")
    to = agent_policy(settings, destination, devices.where) if destination in settings.agents else None
    sip = start.channel.name.startswith("PJSIP/")
    return call.id, ConsultRequested(start.channel.id, AgentId(agent), destination, to, sip=sip)


def replaces_request(event: ChannelTransfer) -> ReplacesRequested | None:
    """A REFER with Replaces (it names the phone's other call), as the call's event."""
    other = event.refer_to.destination_channel
    if other is None:
        return None
    return ReplacesRequested(event.referred_by.source_channel.id, other.id)


async def consult_missed(ari: AriClient, call: c.Call, live: set[str]) -> list[c.CallEvent]:
    """What the consultation missed while the event socket was down."""
    k = call.consultation
    if k is None:
        return []
    if k.channel not in live:
        return [c.AgentLeft(k.channel)]
    if k.dialled not in live:
        return [c.AgentFailed(k.dialled, 0)]
    if not k.answered:
        try:
            if (await ari.get_channel(k.dialled)).state == "Up":
                return [c.AgentAnswered(k.dialled)]
        except AriNotFound:
            return [c.AgentFailed(k.dialled, 0)]
    return []
