"""The small dialplan the reference traces were recorded with, and the phones behind it.

`asterisk/extensions.conf` in ../shared/ari-reference: inbound calls via Local/<queue>@inbound
(the ;2 half enters Stasis with queue=<queue>, the ;1 half is the customer's handset playing
440 Hz), agents via Local/<ext>@agent-phone (the ;2 half is the handset playing 1000 Hz; 2xxx
press *7 then *8), SIP phones PJSIP/3xxx, and the agent-transfers context a blind transfer
re-enters the application from. A SIP phone's consultation call to another phone (an attended
transfer's second call) runs Dial(PJSIP/<ext>) outside Stasis, in a context of the simulator's own
("agents"; the reference dialplan has none).

Calls into the application and the phones' answers are here; the phones themselves in phones.py,
the transfers their REFERs start in transfers.py.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ari_simulator import transfers
from ari_simulator.audio import AGENT_HZ, CUSTOMER_HZ, dtmf_tones
from ari_simulator.phones import (
    CONSULT_SECONDS,
    Endpoint,
    Phone,
    default_phone,
    parse_caller_id,
    parse_endpoint,
)
from ari_simulator.state import Channel, Json, Kind, SimError

if TYPE_CHECKING:
    from ari_simulator.asterisk import Asterisk
    from ari_simulator.consult import Consult

log = logging.getLogger("ari_simulator")


@dataclass
class Dialplan:
    core: Asterisk
    app: str = "ari-recorder"  # ${ARI_APP}
    phones: dict[str, Phone] = field(default_factory=dict)
    consulting: dict[str, Channel] = field(default_factory=dict)  # agent's first leg id -> second leg
    consults: dict[str, Consult] = field(default_factory=dict)  # the same, in the application (consult.py)

    def phone(self, exten: str, sip: bool) -> Phone | None:
        return self.phones[exten] if exten in self.phones else default_phone(exten, sip)

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

    # ----- what phones ask for (transfers.py) -----
    def blind_transfer(self, agent: Channel, destination: str) -> None:
        """The agent's phone sends a SIP REFER to `destination`."""
        transfers.blind_transfer(self, agent, destination)

    def attended_transfer(
        self, agent: Channel, to: str, consult: float = CONSULT_SECONDS, hold: bool = True
    ) -> tuple[Channel, Channel]:
        """The agent's phone consults `to` outside Stasis, then completes an attended transfer."""
        return transfers.attended_transfer(self, agent, to, consult, hold)
