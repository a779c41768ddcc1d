"""The small dialplan the reference traces were recorded with, and the phones behind it.

`asterisk/extensions.conf` in ../shared/ari-reference: inbound calls via Local/<queue>@inbound
(the ;2 half enters Stasis with queue=<queue>, the ;1 half is the customer's handset playing
440 Hz), agents via Local/<ext>@agent-phone (the ;2 half is the handset playing 1000 Hz; 2xxx
press *7 then *8), SIP phones PJSIP/3xxx, and the agent-transfers context a blind transfer
re-enters the application from. A SIP phone's consultation call to another phone (an attended
transfer's second call) runs Dial(PJSIP/<ext>) outside Stasis, in a context of the simulator's own
("agents"; the reference dialplan has none).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ari_simulator.asterisk import BasicBridge
from ari_simulator.audio import AGENT_HZ, CUSTOMER_HZ, dtmf_tones
from ari_simulator.state import Channel, Json, Kind, SimError

if TYPE_CHECKING:
    from ari_simulator.asterisk import Asterisk
    from ari_simulator.consult import Consult

log = logging.getLogger("ari_simulator")

# When each key goes down, after the answer. SendDTMF(*7,250,120) after one 2 s play of the agent
# tone, *8 after the next: the key events (at each key's end) came 2.24 s, 2.61 s, 5.08 s and
# 5.46 s after the answer (answer_pause_transfer_hangup.jsonl).
LOCAL_2XXX_KEYS = ((2.121, "*"), (2.492, "7"), (4.964, "*"), (5.336, "8"))
# The handset's tone stops while SendDTMF runs (the dialplan steps at 2.02/2.86 s and 4.86/5.71 s
# after the answer; rec-agent-2001.wav holds only the customer then).
LOCAL_2XXX_QUIET = ((2.019, 2.862), (4.862, 5.707))
# SIPp phone 3003 sending RFC 4733 keys of 280 ms; events 2.14, 2.55, 4.55, 4.96 s after the
# answer (sip_dtmf_native_vs_snoop.jsonl).
SIP_3003_KEYS = ((1.863, "*"), (2.267, "7"), (4.272, "*"), (4.676, "8"))
# SIPp's voice starts 0.1 s after the answer and pauses around each key (rec-sip-dtmf-3003.wav).
SIP_3003_QUIET = ((0.0, 0.1), (2.06, 2.16), (2.42, 2.56), (4.42, 4.56), (4.82, 4.96))
SIP_RING_SECONDS = 0.306
CONSULT_SECONDS = 1.0  # how long an agent talks to the colleague before completing an attended transfer
DIAL_TIMEOUT = 30.0  # Dial()'s ring timeout for a consultation call
# Asterisk's own attended transfer (sip_attended_transfer_core.jsonl): from the REFER (the first
# leg's ChannelUnhold) to the link's StasisStart 0.506 s, and the phone's BYE of its first call
# 0.115 s after the link.
REFER_TO_LINK = 0.506
PHONE_BYE_AFTER_LINK = 0.115


@dataclass
class Phone:
    """How the phone behind an agent extension behaves when called."""

    answer: str = "auto"  # auto | never | busy
    delay: float = 0.0
    keys: tuple[tuple[float, str], ...] = ()
    quiet: tuple[tuple[float, float], ...] = ()  # (from, to) after the answer: not talking
    key_ms: int = 120


@dataclass
class Endpoint:
    tech: str  # Local | PJSIP
    resource: str  # exten for Local, endpoint name for PJSIP
    context: str = ""  # Local only
    trunk: str = ""  # PJSIP/<number>@<trunk>: the endpoint the number is dialled through


def parse_caller_id(text: str | None) -> tuple[str, str]:
    if not text:
        return ("", "")
    match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    return (match.group(1), match.group(2)) if match else ("", text.strip())


def parse_endpoint(endpoint: str | None) -> Endpoint:
    if not endpoint:
        raise SimError(400, "Endpoint must be specified")
    tech, _, rest = endpoint.partition("/")
    if tech == "Local" and "@" in rest:
        exten, _, context = rest.partition("@")
        return Endpoint("Local", exten, context.split("/")[0])
    if tech == "PJSIP" and rest:
        # PJSIP/<ext>, or PJSIP/<number>@<trunk endpoint> (a customer an agent calls out to)
        number, _, trunk = rest.partition("@")
        return Endpoint("PJSIP", number, trunk=trunk)
    raise SimError(400, "Invalid endpoint specified")


@dataclass
class Dialplan:
    core: Asterisk
    app: str = "ari-recorder"  # ${ARI_APP}
    phones: dict[str, Phone] = field(default_factory=dict)
    consulting: dict[str, Channel] = field(default_factory=dict)  # agent's first leg id -> second leg
    consults: dict[str, Consult] = field(default_factory=dict)  # the same, in the application (consult.py)

    def phone(self, exten: str, sip: bool) -> Phone | None:
        if exten in self.phones:
            return self.phones[exten]
        if sip and re.fullmatch(r"\d+", exten):
            # The traces' SIPp phones: 3001 answers at once, the others ring first; 3003 presses keys.
            if exten == "3003":
                return Phone(delay=SIP_RING_SECONDS, keys=SIP_3003_KEYS, key_ms=280, quiet=SIP_3003_QUIET)
            return Phone(delay=0.0 if exten == "3001" else SIP_RING_SECONDS)
        if re.fullmatch(r"1\d{3}", exten):
            return Phone()
        if re.fullmatch(r"2\d{3}", exten):
            return Phone(keys=LOCAL_2XXX_KEYS, quiet=LOCAL_2XXX_QUIET)
        return None

    # ----- originate -----
    def originate(self, params: dict[str, str], variables: dict[str, str], channel_id: str | None) -> Json:
        endpoint = parse_endpoint(params.get("endpoint"))
        app = params.get("app")
        if not app and not params.get("extension"):
            raise SimError(400, "Application or extension must be specified")
        for wanted in (channel_id, params.get("otherChannelId")):
            if wanted and wanted in self.core.channels:
                raise SimError(409, "Channel with given unique ID already exists")
        caller = parse_caller_id(params.get("callerId"))
        timeout = float(params.get("timeout") or 30)
        if endpoint.tech == "Local" and endpoint.context == "inbound":
            return self.inbound_local(
                endpoint.resource,
                caller,
                [f"queue={endpoint.resource}"],
                channel_id,
                params.get("otherChannelId"),
            ).json()
        if not app:
            raise SimError(400, f"Unsupported dialplan target in the simulator: {params.get('context')}")
        args = params.get("appArgs", "")
        return self.dial_agent(
            endpoint,
            app,
            args.split(",") if args else [],
            caller,
            timeout,
            channel_id,
            params.get("otherChannelId"),
            variables,
        ).json()

    def inbound_local(
        self,
        queue: str,
        caller: tuple[str, str],
        args: list[str],
        channel_id: str | None = None,
        other_id: str | None = None,
    ) -> Channel:
        """A customer call: Local/<queue>@inbound, the ;2 half entering Stasis(app, queue=...)."""
        core = self.core
        suffix = core.local_suffix()
        handset = core.add_channel(
            Channel(
                id=channel_id or core.new_channel_id(),
                name=f"Local/{queue}@inbound-{suffix};1",
                kind=Kind.CUSTOMER_HANDSET,
                state="Down",
                caller=caller,
                connected=caller,
                context="inbound",
                exten=queue,
                app_name="AppDial2",
                app_data="(Outgoing Line)",
            )
        )
        call = core.add_channel(
            Channel(
                id=other_id or core.new_channel_id(),
                name=f"Local/{queue}@inbound-{suffix};2",
                kind=Kind.INBOUND,
                state="Ring",
                caller=caller,
                connected=caller,
                context="inbound",
                exten=queue,
                priority=2,
                app_name="Stasis",
                app_data=",".join([self.app, *args]),
                talk_hz=CUSTOMER_HZ,
                peer=handset,
                endpoint=caller[1],
            )
        )
        handset.peer = call
        self._enter_or_hang_up(call, args)
        return handset

    def inbound_sip(self, caller: tuple[str, str], args: list[str], trunk: str = "customer") -> Channel:
        """A customer call from a SIP trunk: PJSIP/<trunk>-<n> entering Stasis (traces-sip)."""
        exten = args[0].partition("=")[2] or "s"
        return self._sip_into_stasis(trunk, caller, ("inbound", exten, 2), args, CUSTOMER_HZ)

    def outbound_sip(self, agent: str, to: str) -> Channel:
        """An agent's SIP phone dials out: PJSIP/<agent>-<n> runs the dialplan's
        Stasis(ari-recorder,outbound,agent=<agent>,to=<number>)."""
        args = ["outbound", f"agent={agent}", f"to={to}"]
        caller = (f"Agent {agent}", agent)
        return self._sip_into_stasis(agent, caller, ("agent-outbound", to, 1), args, AGENT_HZ)

    def _sip_into_stasis(
        self,
        endpoint: str,
        caller: tuple[str, str],
        where: tuple[str, str, int],  # context, exten, priority of the Stasis() line
        args: list[str],
        talk_hz: int,
    ) -> Channel:
        core = self.core
        context, exten, priority = where
        call = core.add_channel(
            Channel(
                id=core.new_channel_id(),
                name=f"PJSIP/{endpoint}-{core.pjsip_suffix()}",
                kind=Kind.PJSIP,
                state="Ring",
                caller=caller,
                context=context,
                exten=exten,
                priority=priority,
                app_name="Stasis",
                app_data=",".join([self.app, *args]),
                talk_hz=talk_hz,
                protocol_id=f"1-{uuid.uuid4().int % 10000}@127.0.0.1",
                endpoint=caller[1],
            )
        )
        self._enter_or_hang_up(call, args)
        return call

    def _enter_or_hang_up(self, call: Channel, args: list[str]) -> None:
        """The kit's stasis-or-wait: Stasis(); while it fails (no WebSocket connected for the
        application), answer, wait 1 s with music on hold, try again, until STASIS_RETRY_SECONDS
        have passed by the clock's whole seconds (${EPOCH}); then the fallback, which plays a sound
        Asterisk does not have and hangs up (stasis_without_websocket.jsonl)."""
        until = int(time.time()) + self.core.stasis_retry_seconds

        def enter() -> None:
            if call.hungup:
                return
            location = (call.context, call.exten, call.priority, call.app_name, call.app_data)
            if self.core.stasis_start(call, self.app, args):
                return
            if int(time.time()) >= until:
                log.warning(
                    "%s: not connected for %d s: to the fallback", call.name, self.core.stasis_retry_seconds
                )
                self.core.hangup(call, cause=16, soft=False)
                return
            self.core.set_state(call, "Up")
            call.context, call.exten, call.priority, call.app_name, call.app_data = (
                "stasis-or-wait",
                "s",
                13,
                "Wait",
                "1",
            )

            def again() -> None:
                call.context, call.exten, call.priority, call.app_name, call.app_data = location
                enter()

            self.core.later(1.0, again, call)

        self.core.later(0.0, enter, call)

    def dial_agent(
        self,
        endpoint: Endpoint,
        app: str,
        args: list[str],
        caller: tuple[str, str],
        timeout: float,
        channel_id: str | None,
        other_id: str | None,
        variables: dict[str, str],
    ) -> Channel:
        core = self.core
        sip = endpoint.tech == "PJSIP"
        exten = endpoint.resource
        dialstring = exten if sip else f"{exten}@{endpoint.context}"
        # PJSIP/<number>@<trunk>: a customer's phone, which speaks the customer's tone; Asterisk
        # names the channel after the endpoint dialled through (PJSIP/<trunk>-<n>).
        talk_hz = CUSTOMER_HZ if endpoint.trunk else AGENT_HZ
        if sip:
            agent = core.add_channel(
                Channel(
                    id=channel_id or core.new_channel_id(),
                    name=f"PJSIP/{endpoint.trunk or exten}-{core.pjsip_suffix()}",
                    kind=Kind.PJSIP,
                    state="Down",
                    caller=caller,
                    connected=caller,
                    context=endpoint.context or "default",
                    exten="s",
                    app_name="AppDial2",
                    app_data="(Outgoing Line)",
                    talk_hz=talk_hz,
                    protocol_id=str(uuid.uuid4()),
                    endpoint=exten,
                    subscribed={app},
                )
            )
            handset = None
        else:
            suffix = core.local_suffix()
            base = f"Local/{exten}@{endpoint.context}-{suffix}"
            agent = core.add_channel(
                Channel(
                    id=channel_id or core.new_channel_id(),
                    name=f"{base};1",
                    kind=Kind.AGENT,
                    state="Down",
                    caller=caller,
                    connected=caller,
                    context=endpoint.context,
                    exten=exten,
                    app_name="AppDial2",
                    app_data="(Outgoing Line)",
                    talk_hz=AGENT_HZ,
                    endpoint=exten,
                    subscribed={app},
                )
            )
            # The app is told of both halves of a Local pair it originated (websocket_reconnect:
            # GET /applications lists the ;2 half too).
            handset = core.add_channel(
                Channel(
                    id=other_id or core.new_channel_id(),
                    name=f"{base};2",
                    kind=Kind.AGENT_HANDSET,
                    state="Ring",
                    caller=caller,
                    connected=caller,
                    context=endpoint.context,
                    exten=exten,
                    peer=agent,
                    subscribed={app},
                )
            )
            agent.peer = handset
        agent.variables.update(variables)
        phone = self.phone(exten, sip) if (sip or endpoint.context == "agent-phone") else None
        core.later(0.0, lambda: self._ring(agent, handset, phone, app, args, dialstring, timeout), agent)
        return agent

    def _ring(
        self,
        agent: Channel,
        handset: Channel | None,
        phone: Phone | None,
        app: str,
        args: list[str],
        dialstring: str,
        timeout: float,
    ) -> None:
        core = self.core
        dial: dict[str, Any] = {"dialstring": dialstring, "forward": ""}
        core.emit("Dial", agent.apps(), dialstatus="", peer=agent.json(), **dial)
        if phone is None:
            core.hangup(agent, cause=1, soft=False)  # no such extension
            return
        if phone.answer == "busy":
            core.emit("Dial", agent.apps(), dialstatus="BUSY", peer=agent.json(), **dial)
            core.hangup(agent, cause=17, soft=False)
            return
        if phone.delay > 0:
            core.set_state(agent, "Ringing")
            core.emit("Dial", agent.apps(), dialstatus="RINGING", peer=agent.json(), **dial)
        if phone.answer == "never" or phone.delay >= timeout:

            def give_up() -> None:
                core.emit("Dial", agent.apps(), dialstatus="NOANSWER", peer=agent.json(), **dial)
                core.hangup(agent, cause=19, soft=False)

            core.later(timeout, give_up, agent)
            return

        def answer() -> None:
            if handset is not None:
                core.set_state(handset, "Up")
            core.set_state(agent, "Up")
            core.emit("Dial", agent.apps(), dialstatus="ANSWER", peer=agent.json(), **dial)
            agent.talking = True
            agent.app_name, agent.app_data = "Stasis", ",".join([app, *args])
            if not core.stasis_start(agent, app, args):
                core.hangup(agent, cause=16, soft=False)
                return
            for offset, digit in phone.keys:
                core.later(offset, functools.partial(self.key, agent, digit, phone.key_ms), agent)
            for begin, end in phone.quiet:
                core.later(begin, lambda: self.talk(agent, False), agent)
                core.later(end, lambda: self.talk(agent, True), agent)

        core.later(phone.delay, answer, agent)

    # ----- what parties do -----
    def talk(self, ch: Channel, talking: bool) -> None:
        ch.talking = talking and ch.talk_hz is not None
        self.core.audio_changed(ch)

    def key(self, ch: Channel, digit: str, duration_ms: int) -> None:
        """The party behind `ch` presses a key: it sounds for its duration, then ARI reports it."""
        core = self.core
        if ch.hungup:
            return
        ch.keys = dtmf_tones(digit)
        core.audio_changed(ch)

        def released() -> None:
            ch.keys = frozenset()
            core.audio_changed(ch)
            if ch.stasis_app is not None and not self._natively_bridged(ch):
                core.emit(
                    "ChannelDtmfReceived", ch.apps(), channel=ch.json(), digit=digit, duration_ms=duration_ms
                )
            core.media.dtmf(ch, digit)

        core.later(duration_ms / 1000, released, ch)

    @staticmethod
    def _natively_bridged(ch: Channel) -> bool:
        # Two SIP phones alone in a bridge with nothing attached exchange RTP directly, so the
        # application hears no keys at all (sip_dtmf_native_vs_snoop.jsonl, first call).
        br = ch.bridge
        return (
            br is not None
            and len(br.channels) == 2
            and all(m.kind is Kind.PJSIP and not m.snoops and not m.recordings for m in br.channels)
        )

    def blind_transfer(self, agent: Channel, destination: str) -> None:
        """The agent's phone sends a SIP REFER to `destination`."""
        core = self.core
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
        self._core_blind_transfer(agent, br, others, destination)

    def _core_blind_transfer(self, agent: Channel, br: Any, others: list[Channel], exten: str) -> None:
        # Default handling (sip_blind_transfer_core.jsonl): a Local channel takes the agent's place
        # in the bridge; its ;2 half re-enters the app with transfer,agent=<exten>; the agent's
        # channel leaves the bridge but stays in the application.
        core = self.core
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
                app_data=",".join([self.app, *args]),
                peer=one,
            )
        )
        one.peer = two
        core.stasis_start(two, self.app, args)
        core.stasis_start(one, (br.subscribed and sorted(br.subscribed)[0]) or self.app, [])
        core.leave_bridge(agent)
        self.talk(agent, False)  # the phone holds the call while it transfers (rec-sip-core-3001.wav)
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

    # ----- attended transfer -----
    def attended_transfer(
        self, agent: Channel, to: str, consult: float = CONSULT_SECONDS, hold: bool = True
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
        core = self.core
        if agent.kind is not Kind.PJSIP:
            raise SimError(400, "only a SIP phone (PJSIP channel) can make an attended transfer")
        br = agent.bridge
        if br is None:
            raise SimError(409, "the agent's channel is not in a bridge")
        if isinstance(br, BasicBridge) or agent.stasis_app is None:
            raise SimError(409, "the agent's channel is not in a Stasis bridge")
        if agent.id in self.consulting:
            raise SimError(409, "the agent's phone is already on a consultation call")
        phone = self.phone(to, sip=True) if (to in self.phones or re.fullmatch(r"3\d{3}", to)) else None
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
            self.talk(agent, False)
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
        self.consulting[agent.id] = second
        # Dial() bridges the two only when the target answers; here they share their basic bridge
        # from the start (nothing in ARI can tell), so that either hanging up, ringing or talking,
        # ends the consultation and takes the other down.
        bridge = BasicBridge(id=str(uuid.uuid4()), name="", bridge_type="mixing")
        bridge.on_dissolve = lambda: self._consultation_over(agent, second)
        for ch in (second, target):
            core.enter_bridge(bridge, ch, absorb_dtmf=False, mute=False)

        def answer() -> None:
            core.set_state(target, "Up")
            core.set_state(second, "Up")
            self.talk(agent, False)
            self.talk(second, True)
            self.talk(target, True)
            for begin, end in phone.quiet:
                core.later(begin, lambda: self.talk(target, False), target)
                core.later(end, lambda: self.talk(target, True), target)
            core.later(consult, lambda: self._complete_attended(agent, second, target), second)

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

    def _consultation_over(self, agent: Channel, second: Channel) -> None:
        """The consultation ended without a transfer (busy, no answer, a hangup): the phone goes
        back to the customer."""
        if self.consulting.get(agent.id) is not second:
            return
        del self.consulting[agent.id]
        if not agent.hungup:
            self.core.emit("ChannelUnhold", agent.apps(), channel=agent.json())
            self.talk(agent, True)

    def _complete_attended(self, first: Channel, second: Channel, target: Channel) -> None:
        """The phone sends REFER with Replaces: Asterisk takes the first leg off hold at once
        (ChannelUnhold, though the phone never held it: sip_attended_transfer_core.jsonl, where
        the SIPp phone sends no hold re-INVITE) and links the two bridges REFER_TO_LINK later."""
        self.consulting.pop(first.id, None)
        if self._attended_refused(first, second):
            return
        self.core.emit("ChannelUnhold", first.apps(), channel=first.json())
        self.core.later(REFER_TO_LINK, lambda: self._link_attended(first, second, target), second)

    def _attended_refused(self, first: Channel, second: Channel) -> bool:
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

    def _link_attended(self, first: Channel, second: Channel, target: Channel) -> None:
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
        core = self.core
        if self._attended_refused(first, second):
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
