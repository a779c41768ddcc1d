"""An agent's SIP phone consulting a colleague through the application, then completing the
attended transfer: the kit's dialplan in the `application` mode (asterisk/conf/extensions.conf).

The phone holds the customer and dials 7<ext>: its new call, PJSIP/<agent>-<n>, runs
`Stasis(app,consult,agent=<ext>)`. Its REFER with Replaces on the customer's call, with
PJSIP_TRANSFER_HANDLING()=ari-only on that call, is only reported: ChannelTransfer, with the
payload tests/reference/traces-sip/sip_attended_transfer_ari_only.jsonl recorded from Asterisk
22.10.1 (the replay compares it field by field), as its source writes it
(res_pjsip_refer.c refer_incoming_ari_request, main/refer.c ast_refer_notify_transfer_request:
the bridges and their peers as snapshots, a peer only in a bridge of two; stasis_channels.c
ari_transfer_to_json: the Replaces' tags as additional_protocol_params, parameter_name and
parameter_value). A second report, with the requested destination and the referrer only, comes
as the referring call ends. The phone itself hangs up nothing:
carrying the transfer out is the application's.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from ari_simulator.asterisk import BasicBridge
from ari_simulator.audio import AGENT_HZ
from ari_simulator.dialplan import Dialplan
from ari_simulator.state import Channel, Json, Kind, SimError


@dataclass
class Consult:
    """A phone's consultation call in the application."""

    channel: Channel
    dialled: str  # what the phone dialled: 7<ext>
    to: str  # the colleague's extension, which the phone's REFER names
    tags: tuple[str, str]  # its dialog's From (the phone's) and To (Asterisk's) tags


def _extension(agent: Channel) -> str:
    return agent.name.rpartition("-")[0].partition("/")[2] or agent.endpoint


def consult(dialplan: Dialplan, agent: Channel, to: str, hold: bool = True) -> Channel:
    """The agent's phone (its call in a Stasis bridge) holds it and dials 7<to>: the new call,
    entering the application with `consult,agent=<to>`."""
    core = dialplan.core
    if agent.kind is not Kind.PJSIP:
        raise SimError(400, "only a SIP phone (PJSIP channel) places a consultation call")
    br = agent.bridge
    if br is None or isinstance(br, BasicBridge) or agent.stasis_app is None:
        raise SimError(409, "the agent's channel is not in a Stasis bridge")
    if agent.id in dialplan.consults or agent.id in dialplan.consulting:
        raise SimError(409, "the agent's phone is already on a consultation call")
    ext = _extension(agent)
    if to == ext:
        raise SimError(400, "a phone cannot call itself")
    # The hold, as in the Asterisk-handled attended transfer (a re-INVITE, sendonly).
    # `hold` False: the tests' SIPp phone, which sends no hold re-INVITE: no ChannelHold
    # (sip_attended_transfer_ari_only.jsonl has none); its voice goes to the consultation, which
    # the application answers at once.
    if hold:
        core.emit("ChannelHold", agent.apps(), channel=agent.json())
    dialplan.talk(agent, False)
    args = ["consult", f"agent={to}"]
    # (the agents context's _7XXXX, through the stasis-or-wait Gosub)
    second = dialplan._sip_into_stasis(ext, (f"Agent {ext}", ext), ("agents", f"7{to}", 3), args, AGENT_HZ)
    # The dialog's tags: the phone's own (SIPp: <pid>K<call>) and Asterisk's (a UUID).
    k = Consult(second, f"7{to}", to, (f"{secrets.randbelow(99999)}K1", str(uuid.uuid4())))
    dialplan.consults[agent.id] = k

    def over() -> None:
        # The consultation ended without a transfer (or with one the application carried out):
        # the phone takes the customer off hold, if that call is still up.
        if dialplan.consults.get(agent.id) is not k:
            return
        del dialplan.consults[agent.id]
        if not agent.hungup:
            if hold:
                core.emit("ChannelUnhold", agent.apps(), channel=agent.json())
            dialplan.talk(agent, True)

    second.on_hangup.append(over)
    return second


def refer_replaces(dialplan: Dialplan, agent: Channel) -> Channel:
    """The agent's phone sends a REFER with Replaces on its held call, naming its consultation:
    reported as ChannelTransfer (ari-only). The consultation's channel."""
    core = dialplan.core
    k = dialplan.consults.get(agent.id)
    if k is None or k.channel.hungup:
        raise SimError(409, "the agent's phone has no consultation call in the application to replace")
    if agent.variables.get("PJSIP_TRANSFER_HANDLING()") != "ari-only":
        # Asterisk would carry it out itself, between two Stasis bridges: not modelled.
        raise SimError(409, "a REFER with Replaces is modelled with PJSIP_TRANSFER_HANDLING()=ari-only only")
    br = agent.bridge
    if br is None:
        raise SimError(409, "the agent's channel is not in a bridge")
    second, (ours, theirs) = k.channel, k.tags
    requested: Json = {
        # The Refer-To's user part: the tests' phone (tests/sipp/agent-attended-transfer.xml)
        # names the colleague's extension there, not the 7<ext> it dialled.
        "destination": k.to,
        "protocol_id": second.protocol_id,
        "additional_protocol_params": [
            {"parameter_name": "from", "parameter_value": ours},
            {"parameter_name": "to", "parameter_value": theirs},
        ],
    }
    refer_to: Json = {"requested_destination": requested, "destination_channel": second.json()}
    if second.bridge is not None:
        refer_to["bridge"] = second.bridge.json()
        peers = [ch for ch in second.bridge.channels if ch is not second]
        if len(peers) == 1:
            refer_to["connected_channel"] = peers[0].json()
    referred_by: Json = {"source_channel": agent.json(), "bridge": br.json()}
    others = [ch for ch in br.channels if ch is not agent]
    if len(others) == 1:
        referred_by["connected_channel"] = others[0].json()
    apps = agent.apps()
    core.emit("ChannelTransfer", apps, refer_to=refer_to, referred_by=referred_by)

    def again() -> None:
        # Asterisk's second report as the referring call ends (its transfer progress hook), just
        # after that call's StasisEnd: the requested destination only, the referrer only
        # (sip_attended_transfer_ari_only.jsonl).
        core.emit(
            "ChannelTransfer",
            apps,
            refer_to={"requested_destination": requested},
            referred_by={"source_channel": agent.json()},
        )

    agent.on_hangup.append(again)
    return second
