"""What a SIP phone's REFER starts: a blind transfer (Asterisk's own, or reported only, with
PJSIP_TRANSFER_HANDLING()=ari-only) and an attended transfer after a consultation call outside
Stasis, with Asterisk's link of the two bridges (sip_blind_transfer_*.jsonl,
sip_attended_transfer_core.jsonl)."""

from __future__ import annotations

import logging
import math
import re
import uuid
from typing import TYPE_CHECKING, Any

from ari_simulator.asterisk import BasicBridge
from ari_simulator.audio import AGENT_HZ
from ari_simulator.phones import CONSULT_SECONDS, DIAL_TIMEOUT, PHONE_BYE_AFTER_LINK, REFER_TO_LINK
from ari_simulator.state import Channel, Json, Kind, SimError

if TYPE_CHECKING:
    from ari_simulator.dialplan import Dialplan

log = logging.getLogger("ari_simulator")


def blind_transfer(dialplan: Dialplan, agent: Channel, destination: str) -> None:
    """The agent's phone sends a SIP REFER to `destination`."""
    core = dialplan.core
    if agent.kind is not Kind.PJSIP:
        raise SimError(400, "only a SIP phone (PJSIP channel) can send a REFER")
    br = agent.bridge
    if br is None:
        raise SimError(409, "the agent's channel is not in a bridge")
    others = [c for c in br.channels if c is not agent]
    if agent.variables.get("PJSIP_TRANSFER_HANDLING()") == "ari-only":
        # Asterisk changes nothing and reports the REFER; a second report with only the
        # source channel follows ~300 ms later (sip_blind_transfer_ari_only.jsonl).
        referred_by: Json = {"source_channel": agent.json(), "bridge": br.json()}
        if others:
            referred_by["connected_channel"] = others[0].json()
        refer_to = {"requested_destination": {"destination": destination}}
        apps = agent.apps()
        core.emit("ChannelTransfer", apps, refer_to=refer_to, referred_by=referred_by)
        core.later(
            0.311,
            lambda: core.emit(
                "ChannelTransfer", apps, refer_to=refer_to, referred_by={"source_channel": agent.json()}
            ),
        )
        return
    _core_blind_transfer(dialplan, agent, br, others, destination)


def _core_blind_transfer(
    dialplan: Dialplan, agent: Channel, br: Any, others: list[Channel], exten: str
) -> None:
    # Default handling (sip_blind_transfer_core.jsonl): a Local channel takes the agent's place
    # in the bridge; its ;2 half re-enters the app with transfer,agent=<exten>; the agent's
    # channel leaves the bridge but stays in the application.
    core = dialplan.core
    snapshot = br.json()
    core.emit("ChannelUnhold", agent.apps(), channel=agent.json())
    if not re.fullmatch(r"3\d{3}", exten):
        core.emit(
            "BridgeBlindTransfer",
            agent.apps() | br.subscribed,
            bridge=snapshot,
            channel=agent.json(),
            context="agent-transfers",
            exten=exten,
            is_external=True,
            result="Invalid",
            **({"transferee": others[0].json()} if others else {}),
        )
        return
    base = f"Local/{exten}@agent-transfers-{core.local_suffix()}"
    one = core.add_channel(
        Channel(
            id=core.new_channel_id(),
            name=f"{base};1",
            kind=Kind.TRANSFER_LOCAL,
            state="Down",
            context="agent-transfers",
            exten=exten,
        )
    )
    args = ["transfer", f"agent={exten}"]
    two = core.add_channel(
        Channel(
            id=core.new_channel_id(),
            name=f"{base};2",
            kind=Kind.TRANSFER_LOCAL,
            state="Ring",
            caller=others[0].caller if others else ("", ""),
            context="agent-transfers",
            exten=exten,
            app_name="Stasis",
            app_data=",".join([dialplan.app, *args]),
            peer=one,
        )
    )
    one.peer = two
    core.stasis_start(two, dialplan.app, args)
    core.stasis_start(one, (br.subscribed and sorted(br.subscribed)[0]) or dialplan.app, [])
    core.leave_bridge(agent)
    dialplan.talk(agent, False)  # the phone holds the call while it transfers (rec-sip-core-3001.wav)
    # The transferer stays in the application, but its originate subscription went with the
    # transfer: its hangup later ends with StasisEnd and no ChannelDestroyed (core trace).
    agent.subscribed.clear()
    core.enter_bridge(br, one, absorb_dtmf=False, mute=False)
    core.emit(
        "BridgeBlindTransfer",
        agent.apps() | br.subscribed,
        bridge=snapshot,
        channel=agent.json(),
        context="agent-transfers",
        exten=exten,
        is_external=True,
        replace_channel=one.json(),
        result="Success",
        **({"transferee": others[0].json()} if others else {}),
    )


def attended_transfer(
    dialplan: Dialplan, agent: Channel, to: str, consult: float = CONSULT_SECONDS, hold: bool = True
) -> tuple[Channel, Channel]:
    """The agent's SIP phone holds the call, calls `to` outside Stasis, and after `consult` s of
    talking completes an attended transfer (REFER with Replaces). The consultation's two
    channels: the agent's second leg, and the target phone's.

    Modelled from Asterisk's source and testsuite, not from a recorded trace (none exists):
    main/bridge.c ast_bridge_transfer_attended / attended_transfer_bridge; res/stasis/
    stasis_bridge.c bridge_stasis_push_peek / bridge_stasis_push; and the testsuite's
    tests/rest_api/external_interaction/attended_transfer/ (non_stasis_bridge_to_stasis_bridge,
    the mirror case of this one, and stasis_bridge_to_non_stasis_app). See `_complete_attended`.
    """
    core = dialplan.core
    if agent.kind is not Kind.PJSIP:
        raise SimError(400, "only a SIP phone (PJSIP channel) can make an attended transfer")
    br = agent.bridge
    if br is None:
        raise SimError(409, "the agent's channel is not in a bridge")
    if isinstance(br, BasicBridge) or agent.stasis_app is None:
        raise SimError(409, "the agent's channel is not in a Stasis bridge")
    if agent.id in dialplan.consulting:
        raise SimError(409, "the agent's phone is already on a consultation call")
    phone = dialplan.phone(to, sip=True) if (to in dialplan.phones or re.fullmatch(r"3\d{3}", to)) else None
    if phone is None:
        raise SimError(404, f"no SIP phone at extension {to}")
    if not math.isfinite(consult) or consult < 0:
        raise SimError(400, "consult must be a number of seconds, not negative")
    ext = agent.name.rpartition("-")[0].partition("/")[2] or agent.endpoint
    if to == ext:
        raise SimError(400, "a phone cannot call itself")
    # A desk phone puts the customer on hold (a re-INVITE, sendonly): ChannelHold, and the
    # agent's voice stops. The held party's music is not modelled. `hold` False: the tests'
    # SIPp phone (tests/sipp/agent-attended-transfer.xml), which sends no re-INVITE: no
    # ChannelHold, and its voice goes on to the customer until the consultation is answered
    # (its voice follows the latest SDP: rec-sip-att-core-3001.wav).
    if hold:
        core.emit("ChannelHold", agent.apps(), channel=agent.json())
        dialplan.talk(agent, False)
    caller = (f"Agent {ext}", ext)
    second = core.add_channel(
        Channel(
            id=core.new_channel_id(),
            name=f"PJSIP/{ext}-{core.pjsip_suffix()}",
            kind=Kind.PJSIP,
            state="Ring",
            caller=caller,
            context="agents",
            exten=f"7{to}",
            priority=5,
            app_name="Dial",
            app_data=f"PJSIP/{to},{DIAL_TIMEOUT:.0f}",
            talk_hz=AGENT_HZ,
            protocol_id=f"1-{uuid.uuid4().int % 10000}@127.0.0.1",
            endpoint=ext,
        )
    )
    target = core.add_channel(
        Channel(
            id=core.new_channel_id(),
            name=f"PJSIP/{to}-{core.pjsip_suffix()}",
            kind=Kind.PJSIP,
            state="Down",
            connected=caller,
            context="agents",
            exten="",
            app_name="AppDial",
            app_data="(Outgoing Line)",
            talk_hz=AGENT_HZ,
            protocol_id=str(uuid.uuid4()),
            endpoint=to,
        )
    )
    dialplan.consulting[agent.id] = second
    # Dial() bridges the two only when the target answers; here they share their basic bridge
    # from the start (nothing in ARI can tell), so that either hanging up, ringing or talking,
    # ends the consultation and takes the other down.
    bridge = BasicBridge(id=str(uuid.uuid4()), name="", bridge_type="mixing")
    bridge.on_dissolve = lambda: _consultation_over(dialplan, agent, second)
    for ch in (second, target):
        core.enter_bridge(bridge, ch, absorb_dtmf=False, mute=False)

    def answer() -> None:
        core.set_state(target, "Up")
        core.set_state(second, "Up")
        dialplan.talk(agent, False)
        dialplan.talk(second, True)
        dialplan.talk(target, True)
        for begin, end in phone.quiet:
            core.later(begin, lambda: dialplan.talk(target, False), target)
            core.later(end, lambda: dialplan.talk(target, True), target)
        core.later(consult, lambda: _complete_attended(dialplan, agent, second, target), second)

    if phone.answer == "busy":
        core.later(0.0, lambda: core.hangup(target, cause=17, soft=False), second)
    elif phone.answer == "never" or phone.delay >= DIAL_TIMEOUT:
        core.set_state(target, "Ringing")
        core.later(DIAL_TIMEOUT, lambda: core.hangup(target, cause=19, soft=False), second)
    else:
        if phone.delay > 0:
            core.set_state(target, "Ringing")
        core.later(phone.delay, answer, second)
    return second, target


def _consultation_over(dialplan: Dialplan, agent: Channel, second: Channel) -> None:
    """The consultation ended without a transfer (busy, no answer, a hangup): the phone goes
    back to the customer."""
    if dialplan.consulting.get(agent.id) is not second:
        return
    del dialplan.consulting[agent.id]
    if not agent.hungup:
        dialplan.core.emit("ChannelUnhold", agent.apps(), channel=agent.json())
        dialplan.talk(agent, True)


def _complete_attended(dialplan: Dialplan, first: Channel, second: Channel, target: Channel) -> None:
    """The phone sends REFER with Replaces: Asterisk takes the first leg off hold at once
    (ChannelUnhold, though the phone never held it: sip_attended_transfer_core.jsonl, where
    the SIPp phone sends no hold re-INVITE) and links the two bridges REFER_TO_LINK later."""
    dialplan.consulting.pop(first.id, None)
    if _attended_refused(first, second):
        return
    dialplan.core.emit("ChannelUnhold", first.apps(), channel=first.json())
    dialplan.core.later(REFER_TO_LINK, lambda: _link_attended(dialplan, first, second, target), second)


def _attended_refused(first: Channel, second: Channel) -> bool:
    if (
        first.hungup
        or first.bridge is None
        or first.stasis_app is None
        or not isinstance(second.bridge, BasicBridge)
    ):
        # The customer's call is gone (or left its bridge; Asterisk's transfer into the
        # application is not modelled): the agent simply stays on the consultation call.
        log.info("attended transfer of %s not completed: its leg is no longer bridged", first.name)
        return True
    return False


def _link_attended(dialplan: Dialplan, first: Channel, second: Channel, target: Channel) -> None:
    """ast_bridge_transfer_attended(first leg, second leg), as sip_attended_transfer_core.jsonl
    recorded it.

    Both legs are bridged, and ARI (Stasis) bridges inhibit merge and swap, so the result is
    a "link" (two_bridge_attended_transfer -> attended_transfer_bridge): a Local pair
    Local/_attended@transfer-<n>;1/;2, whose ;1 is imparted into the first leg's bridge in the
    first leg's place and ;2 into the second leg's bridge in the second leg's place. ;1 is not in
    Stasis, so the Stasis bridge first runs Stasis() on it (bridge_stasis_push), with the
    replace_channel of the channel it swaps out (bridge_stasis_push_peek).

    What the application gets: StasisStart of ;1 (state Down, args [], replace_channel the
    first leg), ChannelLeftBridge of the first leg, ChannelEnteredBridge of ;1, ;1 answered
    (ChannelStateChange Up, Dial ANSWER), then BridgeAttendedTransfer (is_external false,
    destination_type "link", the legs' bridges as they were before). The first leg stays in
    the application: its StasisEnd comes with the phone's BYE (ChannelHangupRequest cause 16,
    StasisEnd) PHONE_BYE_AFTER_LINK later, without ChannelDestroyed (the application's
    originate subscription went with the swap). ;2 and the target phone's channel stay outside
    Stasis: no events. ;1 carries what ;2 hears (TRANSFER_LOCAL halves pass audio through), so
    the Stasis bridge hears the target.
    """
    core = dialplan.core
    if _attended_refused(first, second):
        return
    br, second_bridge = first.bridge, second.bridge
    assert br is not None and isinstance(second_bridge, BasicBridge) and first.stasis_app is not None
    app = first.stasis_app
    customer = [c for c in br.channels if c is not first]
    before: Json = {
        "transferer_first_leg": first.json(),
        "transferer_second_leg": second.json(),
        "transferer_first_leg_bridge": br.json(),
        "transferer_second_leg_bridge": second_bridge.json(),
        "transfer_target": target.json(),
    }
    if len(customer) == 1:
        before["transferee"] = customer[0].json()
    # The halves are of the blind transfer's kind (TRANSFER_LOCAL): each passes on what the
    # other hears, and a hangup of one takes the other down a moment later.
    base = f"Local/_attended@transfer-{core.local_suffix()}"
    one = core.add_channel(
        Channel(
            id=core.new_channel_id(),
            name=f"{base};1",
            kind=Kind.TRANSFER_LOCAL,
            state="Down",
            context="transfer",
            exten="_attended",
            app_name="Stasis",
            app_data=app,
        )
    )
    two = core.add_channel(
        Channel(
            id=core.new_channel_id(),
            name=f"{base};2",
            kind=Kind.TRANSFER_LOCAL,
            state="Ring",
            context="transfer",
            exten="_attended",
            peer=one,
        )
    )
    one.peer = two
    # ;2 swaps the second leg out of the consultation's bridge (no application hears of it);
    # from now on the target's hangup takes ;2, and so ;1, down, and the other way round.
    second_bridge.on_dissolve = None
    core.enter_bridge(second_bridge, two, absorb_dtmf=False, mute=False)
    core.leave_bridge(second)
    two.state = "Up"
    core.stasis_start(one, app, [], replace_channel=first.json())
    first.subscribed.clear()
    core.leave_bridge(first)
    core.enter_bridge(br, one, absorb_dtmf=False, mute=False)
    core.set_state(one, "Up")
    core.emit("Dial", one.apps(), dialstatus="ANSWER", dialstring="", forward="", peer=one.json())
    apps = first.apps() | br.subscribed | {a for c in customer for a in c.apps()}
    core.emit(
        "BridgeAttendedTransfer",
        apps,
        result="Success",
        is_external=False,
        destination_type="link",
        destination_link_first_leg=one.json(),
        destination_link_second_leg=two.json(),
        **before,
    )

    def bye() -> None:
        # The phone, told by NOTIFY that the transfer succeeded, hangs up its first call;
        # Asterisk hangs up the second, replaced by ;2.
        core.hangup(first, cause=16, soft=False)
        core.hangup(second, cause=16, soft=False)

    core.later(PHONE_BYE_AFTER_LINK, bye)
