"""Event intake: ARI events become the call's own events, delivered to one mailbox per call (a
queue and a task), so that each call's events are handled in order and no call waits for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

from ari_recorder import errors, metrics
from ari_recorder.ari.errors import AriError, AriNotFound
from ari_recorder.ari.events import (
    BridgeAttendedTransfer,
    BridgeBlindTransfer,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelTransfer,
    Event,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    UntypedEvent,
)
from ari_recorder.ari.rest import AriClient
from ari_recorder.ari.stream import StreamConnected
from ari_recorder.domain import call as c
from ari_recorder.domain import consult, ids
from ari_recorder.domain.ids import Own
from ari_recorder.domain.pausing import Source
from ari_recorder.domain.policy import Direction
from ari_recorder.engine.consult import consult_missed, consult_request, replaces_request
from ari_recorder.engine.executor import Executor
from ari_recorder.engine.inbound import Refused, agent_policy, build_call, parse_args
from ari_recorder.engine.outbound import build_outbound, check_outbound, customer_endpoint
from ari_recorder.engine.persister import Persister
from ari_recorder.metrics import failures_changed, pauses_changed, segments_changed
from ari_recorder.settings import Settings
from ari_recorder.storage.store import Store

log = logging.getLogger("ari_recorder.engine")
SLOW_EVENT = 0.1  # seconds; handling one event for longer than this is worth a warning
DRAIN = 10.0  # seconds an ended call waits for its recordings to finish
RECONCILE_PASSES, RECONCILE_AGAIN = 3, 0.3  # passes at most, seconds between two
UNCLAIMED = 5.0  # seconds a phone transfer's Local channel may wait for its BridgeBlindTransfer


class NoSuchCall(errors.NotFound):
    """No live call has that id."""

    id = "no-such-call"


class NoSuchTarget(errors.Unprocessable):
    """No agent or queue of that name, or no free agent in the queue."""

    id = "no-such-target"


class NotNow(errors.Conflict):
    """The call cannot do that in its present phase (no agent yet, a transfer under way)."""

    id = "not-now"


class Forbidden(errors.Forbidden):
    """The settings do not allow it (pause_allowed = false)."""

    id = "not-allowed"


class AsteriskRefused(errors.Upstream):
    """Asterisk refused what the call asked of it (the error says what)."""

    id = "asterisk-refused"


@dataclass
class _Asked:
    """A request from the HTTP API, answered once the call has acted on it."""

    event: consult.Event
    reply: asyncio.Future[c.Call]


@dataclass(frozen=True)
class _HandOver:
    """The controller is handing its calls over (SIGTERM): the call stops after what it has in
    hand, its state in the store for the next leader."""


@dataclass(frozen=True)
class _Missed:
    """An event reconciliation found missed while the event stream was down: it happened
    earlier than it is stepped (a segment's end learned so is not the true end)."""

    event: consult.Event


@dataclass(frozen=True)
class CallReport:
    """What happened to one call, for the log, the demo and the tests."""

    call: c.Call
    seconds: float

    @property
    def queue(self) -> str | None:
        return self.call.interaction.queue


class Controller:
    """Routes the event stream to per-call mailboxes and runs each call's state machine."""

    def __init__(
        self,
        ari: AriClient,
        settings: Settings,
        store: Store,
        on_report: Callable[[CallReport], None] = lambda report: None,
    ) -> None:
        self.ari = ari
        self.settings = settings
        self.store = store
        self.persister = Persister(store)
        self.on_report = on_report
        self.connected = asyncio.Event()
        # The leader takes calls; a standby (another controller holds the leadership) takes none.
        self.leading = False
        self.executor = Executor(ari, settings.ari.app, self._feedback)
        self._mailboxes: dict[str, asyncio.Queue[consult.Event | _Asked | _HandOver | _Missed]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._calls: dict[str, c.Call] = {}  # the live calls' latest states, for whom is busy
        self._turns: dict[str, int] = {}  # round robin: calls taken per queue
        self._transfer_legs: dict[str, str] = {}  # a phone transfer's Local ;2 by name, until claimed
        # Channels Asterisk made that joined a call (an attended transfer's Local ;1) -> the call.
        self._aliases: dict[str, str] = {}
        # An attended transfer's new party (its Local ;1) -> the agent it is, told before the swap.
        self._identified: dict[str, c.Agent | None] = {}
        # A snoop in the application, told to its call between two of the call's actions rather
        # than after all of them: every round trip before the record request is audio lost.
        self._snoops_in: dict[str, list[c.SnoopEntered]] = {}

    async def consume(self, stream: AsyncIterable[Event | StreamConnected]) -> None:
        """Take every item of an EventStream until it ends."""
        async for item in stream:
            started = time.monotonic()
            self.intake(item)
            if not isinstance(item, StreamConnected | UntypedEvent):
                metrics.event_handled(item.timestamp, time.time())
            if time.monotonic() - started > SLOW_EVENT:
                log.warning("event intake took %.0f ms", (time.monotonic() - started) * 1000)

    def intake(self, item: Event | StreamConnected) -> None:
        if isinstance(item, StreamConnected):
            self.connected.set()
            log.info("ari connected app=%s reconnect=%s", self.settings.ari.app, item.reconnect)
            # Events may have been missed: while the socket was down, or while no controller ran.
            if self._calls:
                self._spawn(self._reconcile(), name="reconcile")
            return
        if isinstance(item, StasisStart) and ids.is_outbound(item.args):
            self._open_outbound(item)
            return
        if isinstance(item, StasisStart) and ids.is_queue_call(item.args):
            self._open(item)
            return
        if isinstance(item, ChannelTransfer):
            self._transfer(item)
            return
        if isinstance(item, StasisStart) and ids.is_consult(item.args):
            self._consult(item)
            return
        if isinstance(item, StasisStart) and ids.is_transfer(item.args):
            self._transfer_leg(item)
            return
        if isinstance(item, BridgeBlindTransfer):
            self._blind_transfer(item)
            return
        if isinstance(item, BridgeAttendedTransfer):
            self._attended_transfer(item)
            return
        if isinstance(item, StasisStart) and item.replace_channel is not None:
            self._swapped_in(item)
            return
        if isinstance(item, StasisEnd) and item.channel.id in self._aliases:
            self._feedback(item.channel.id, c.AgentLeft(item.channel.id))
            return
        translated = _translate(item)
        if translated is not None:
            owner, event = translated
            self._feedback(owner, event)

    def _transfer(self, event: ChannelTransfer) -> None:
        """An agent's phone sent a REFER (PJSIP_TRANSFER_HANDLING()=ari-only): the call carries
        it out. Asterisk reports it twice; only the first report names the connected customer."""
        if event.referred_by.connected_channel is None:
            return
        replaces = replaces_request(event)
        if replaces is not None:  # an attended transfer: the phone's other call takes its place
            self._feedback(replaces.channel, replaces)
            return
        destination = event.refer_to.requested_destination.destination or ""
        requested = c.TransferRequested(destination, self._agent(destination))
        self._feedback(event.referred_by.source_channel.id, requested)

    def _consult(self, start: StasisStart) -> None:
        """An agent's phone placed a consultation call (the dialplan's 7<ext>): the agent's call
        takes it (domain/consult.py); one that is no call's is hung up."""
        found = consult_request(self.settings, start, self.agent_call)
        if isinstance(found, Refused):
            log.warning('channel=%s action=consult-refused why="%s"', start.channel.id, found.why)
            self._spawn(self._hang_up_quietly(start.channel.id))
            return
        call_id, requested = found
        self._aliases[start.channel.id] = call_id  # its StasisEnd is the consulting agent leaving
        self._feedback(call_id, replace(requested, busy=self._busy(call_id)))

    def _agent(self, name: str) -> c.Agent | None:
        return agent_policy(self.settings, name) if name in self.settings.agents else None

    def _transfer_leg(self, start: StasisStart) -> None:
        """A phone transfer Asterisk carried out (default handling) came back from the dialplan
        (`transfer,agent=<exten>`). Its BridgeBlindTransfer says whose call it is; a leg no call
        claims is hung up, never left in the application."""
        name = start.channel.name.rpartition(";")[0]
        self._transfer_legs[name] = start.channel.id
        asyncio.get_running_loop().call_later(UNCLAIMED, self._unclaimed, name, start.channel.id)

    def _unclaimed(self, name: str, channel: str) -> None:
        if self._transfer_legs.get(name) != channel:
            return
        del self._transfer_legs[name]
        log.warning('channel=%s action=hangup why="a phone transfer no call of ours made"', channel)
        self._spawn(self._hang_up_quietly(channel))

    async def _hang_up_quietly(self, channel: str) -> None:
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel)

    def _blind_transfer(self, event: BridgeBlindTransfer) -> None:
        if event.result != "Success" or event.replace_channel is None:
            channel, result, exten = event.channel.id, event.result, event.exten
            log.warning("channel=%s action=phone-transfer result=%s exten=%s", channel, result, exten)
            return
        self._transfer_legs.pop(event.replace_channel.name.rpartition(";")[0], None)
        to = self._agent(event.exten)
        replaced = c.AgentReplaced(event.channel.id, event.replace_channel.id, event.exten, to)
        self._feedback(event.channel.id, replaced)

    def live_calls(self) -> list[c.Call]:
        return sorted(self._calls.values(), key=lambda call: call.id)

    def request_transfer(self, call_id: str, agent: str | None = None, queue: str | None = None) -> str:
        """Hand a connected call to an agent, or to the first free agent of a queue (the HTTP
        API's transfer); the agent to be dialled. The old agent leaves when the new one answers."""
        call = self._calls.get(call_id)
        if call is None or call.phase is c.Phase.ENDED:
            raise NoSuchCall(f"no live call {call_id!r}")
        if call.interaction.direction is Direction.OUTBOUND:
            raise NotNow(f"call {call_id} is an outbound call: those are not transferred (yet)")
        if call.segment is None:
            raise NotNow(f"call {call_id} is {call.phase.value}: no agent to transfer from yet")
        if call.dialling is not None:
            raise NotNow(f"call {call_id} is already being transferred")
        if call.consultation is not None:
            raise NotNow(f"call {call_id}'s agent is consulting agent {call.consultation.to.policy.agent}")
        if agent is not None:
            if agent not in self.settings.agents:
                raise NoSuchTarget(f"no agent {agent!r}")
            if agent == call.segment.agent:
                raise NotNow(f"agent {agent} is already on call {call_id}")
            if agent in self._busy(call_id):
                raise NotNow(f"agent {agent} is on another call")
            target = agent
        else:
            if queue not in self.settings.queues:
                raise NoSuchTarget(f"no queue {queue!r}")
            taken = self._busy(call_id) | {call.segment.agent}
            free = [a for a in self.settings.queues[queue].agents if a not in taken]
            if not free:
                raise NoSuchTarget(f"no free agent in queue {queue!r}")
            target = free[0]
        self._feedback(call_id, c.TransferRequested(target, agent_policy(self.settings, target)))
        return target

    async def place_call(self, agent: str, to: str, queue: str | None = None) -> str:
        """An outbound call for an agent (the HTTP API): the agent's phone rings first; when the
        agent answers, the call enters the application as if dialled from the phone. Its id."""
        wrong = check_outbound(self.settings, agent, to, queue)
        if wrong is not None:
            raise NoSuchTarget(wrong)
        if agent in self._busy(""):
            raise NotNow(f"agent {agent} is on another call")
        call_id = ids.new_call()
        args = ids.outbound_args(agent, to, queue)
        await self.ari.originate(
            self.settings.agents[agent].endpoint,
            app=self.settings.ari.app,
            app_args=",".join(args),
            channel_id=call_id,
            caller_id=to,
            timeout=self.settings.company.outbound_ring_timeout,
        )
        return call_id

    def _swapped_in(self, start: StasisStart) -> None:
        """A channel Asterisk made took the place of one of ours in a bridge (an attended
        transfer: `Local/_attended@transfer-...;1` with replace_channel, whose other half is
        bridged with the target). It becomes the call's; who it is may be known already."""
        assert start.replace_channel is not None
        old, new = start.replace_channel.id, start.channel.id
        call_id = self._owner(old)
        if call_id is None:
            log.warning('channel=%s action=swap-in replaces=%s why="no call of ours"', new, old)
            return
        self._aliases[new] = call_id
        self._feedback(call_id, c.AgentSwapped(old, new, self._identified.pop(new, None)))

    def _attended_transfer(self, event: BridgeAttendedTransfer) -> None:
        """An agent completed an attended transfer on the phone (Asterisk's own handling; no
        trace of a real one: this follows Asterisk's testsuite and source). Our bridge, an ARI
        one, is never merged or swapped: a Local channel takes the agent's place in it, its
        other half bridged with the target (destination "link"), or running the dialplan
        towards it ("application"). The event names the target, which is recorded by the rules
        if it is one of our agents; the swap itself comes as that Local channel's StasisStart,
        before or after this event."""
        ours = next(
            (leg for leg in (event.transferer_first_leg, event.transferer_second_leg) if self._owner(leg.id)),
            None,
        )
        party = event.destination_link_first_leg or event.replace_channel
        if ours is None:
            return
        if event.result != "Success" or party is None:
            why = f"result={event.result} destination={event.destination_type}"
            log.warning("channel=%s action=attended-transfer %s: left to Asterisk", ours.id, why)
            return
        target = event.transfer_target
        to = None
        if target is not None:
            to = next(
                (
                    agent_policy(self.settings, agent)
                    for agent, configured in self.settings.agents.items()
                    if target.name.startswith(f"{configured.endpoint}-")
                ),
                None,
            )
        if party.id in self._aliases:  # swapped in already
            if to is not None:
                self._feedback(party.id, c.PartyIdentified(party.id, to))
        else:
            self._identified[party.id] = to
            asyncio.get_running_loop().call_later(UNCLAIMED, self._identified.pop, party.id, None)

    def _call_id(self, owner: str) -> str:
        # Every id a call creates starts with the call's id (domain/ids.py); others that joined
        # it are aliased.
        return self._aliases.get(owner) or ids.call_of(owner)

    def _owner(self, channel: str) -> str | None:
        """The live call a channel belongs to, if any."""
        call_id = self._call_id(channel)
        return call_id if call_id in self._mailboxes else None

    def _feedback(self, owner: str, event: consult.Event | _Asked | _HandOver | _Missed) -> None:
        call_id = self._call_id(owner)
        mailbox = self._mailboxes.get(call_id)
        if mailbox is not None:
            if isinstance(event, c.SnoopEntered):  # also in the mailbox, should the call be idle
                self._snoops_in.setdefault(call_id, []).append(event)
            mailbox.put_nowait(event)

    def agent_call(self, agent: str) -> c.Call | None:
        """The live call the agent is on (with the customer, or dialling out), if any."""
        for call in self._calls.values():
            if call.phase is c.Phase.ENDED:
                continue
            if call.segment is not None and call.segment.agent == agent:
                return call
            if call.interaction.direction is Direction.OUTBOUND and call.agents[0].policy.agent == agent:
                return call
        return None

    async def pause(self, agent: str, by: str) -> c.Call:
        """Pause the recording of the agent's segment (the agent desktop API); the call after."""
        return await self._ask(agent, c.PauseRequested(by, Source.API))

    async def resume_recording(self, agent: str, by: str) -> c.Call:
        return await self._ask(agent, c.ResumeRequested(by, Source.API))

    async def _ask(self, agent: str, event: c.PauseRequested | c.ResumeRequested) -> c.Call:
        call = self.agent_call(agent)
        if call is None:
            raise NoSuchCall(f"agent {agent} is on no call")
        reply: asyncio.Future[c.Call] = asyncio.get_running_loop().create_future()
        self._feedback(call.id, _Asked(event, reply))
        async with asyncio.timeout(10):
            return await reply

    def _answer(self, asked: _Asked, call: c.Call, failed: list[tuple[c.Action, AriError]]) -> None:
        """The call has acted on the request: the API's answer, or why not."""
        if asked.reply.done():
            return
        refusal = c.pause_refusal(call, resuming=isinstance(asked.event, c.ResumeRequested))
        asked_of_asterisk = c.PauseRecording | c.ResumeRecording
        refused = next((error for action, error in failed if isinstance(action, asked_of_asterisk)), None)
        if refusal is not None and refusal.forbidden:
            asked.reply.set_exception(Forbidden(refusal.why))
        elif refusal is not None:
            asked.reply.set_exception(NotNow(refusal.why))
        elif refused is not None:
            asked.reply.set_exception(AsteriskRefused(f"Asterisk refused: {refused}"))
        else:
            asked.reply.set_result(call)

    def resume(self, calls: list[c.Call]) -> None:
        """Take back the calls a previous controller left (from the store); reconciled with
        Asterisk as soon as the event stream connects. A pause in force keeps its time limit."""
        loop = asyncio.get_running_loop()
        for call in calls:
            log.warning("call=%s action=resume phase=%s", call.id, call.phase.value)
            mailbox: asyncio.Queue[consult.Event | _Asked | _HandOver | _Missed] = asyncio.Queue()
            self._mailboxes[call.id] = mailbox
            self._calls[call.id] = call
            if call.consultation is not None:
                self._aliases[call.consultation.channel] = call.id
            self._spawn(self._run(call, mailbox), name=f"call-{call.id}")
            if call.pause is not None:
                left = call.pause.started + call.pausing.max_seconds - time.time()
                expired = c.PauseExpired(call.pause.number)
                loop.call_later(max(0.0, left), self._feedback, call.id, expired)
            for start in call.starting:  # recordings asked for, not confirmed: their deadlines
                left = start.since + call.record_deadline - time.time()
                loop.call_later(max(0.0, left), self._feedback, call.id, c.RecordDeadline(start.name))

    def _open(self, start: StasisStart) -> None:
        queue = next((a.partition("=")[2] for a in start.args if a.startswith("queue=")), "")
        built = build_call(self.settings, start, self._turns.get(queue, 0))
        self._turns[queue] = self._turns.get(queue, 0) + 1
        if isinstance(built, Refused):
            self._spawn(self._refuse(start, built, self.settings.company.unknown_queue))
        else:
            self._begin(c.start(built))

    def _open_outbound(self, start: StasisStart) -> None:
        built = build_outbound(self.settings, start)
        if isinstance(built, Refused):
            self._spawn(self._refuse(start, built, "hangup"))
            return
        endpoint = customer_endpoint(self.settings, parse_args(start.args)["to"])
        self._begin(c.start_outbound(built, endpoint))

    def _begin(self, opening: tuple[c.Call, list[c.Action]]) -> None:
        call = opening[0]
        mailbox: asyncio.Queue[consult.Event | _Asked | _HandOver | _Missed] = asyncio.Queue()
        self._mailboxes[call.id] = mailbox
        self._calls[call.id] = call
        self._spawn(self._run(call, mailbox, opening[1]), name=f"call-{call.id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str | None = None) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refuse(self, start: StasisStart, refused: Refused, how: str) -> None:
        channel = start.channel.id
        log.warning('call=%s action=refuse how=%s why="%s"', channel, how, refused.why)
        with contextlib.suppress(AriError):
            if how == "continue":
                await self.ari.continue_in_dialplan(channel)
            else:
                await self.ari.answer(channel)
                await self.ari.hangup(channel)

    async def _run(
        self,
        call: c.Call,
        mailbox: asyncio.Queue[consult.Event | _Asked | _HandOver | _Missed],
        opening: list[c.Action] | None = None,
    ) -> None:
        """The call's life: its opening actions (none when resumed after a restart), then its
        events one by one, until it ends and its recordings have finished."""
        began = time.monotonic()
        metrics.CALLS_ACTIVE.inc()
        try:
            if opening is not None:
                self.persister.save(call)
                call, _ = await self._act(call, opening)
            while call.phase is not c.Phase.ENDED:
                item = await mailbox.get()
                if isinstance(item, _HandOver):
                    log.info("call=%s action=hand-over phase=%s", call.id, call.phase.value)
                    return  # no report: the call goes on with the next leader
                event = item.event if isinstance(item, _Asked | _Missed) else item
                waiting = self._snoops_in.get(call.id, [])
                if event in waiting:  # not stepped between actions: stepped now, once
                    waiting.remove(event)
                if isinstance(event, c.AnnouncementFinished | c.AgentFailed):
                    event = replace(event, busy=self._busy(call.id))
                before = call
                call, actions = consult.step(call, event, time.time(), seen=not isinstance(item, _Missed))
                self._calls[call.id] = call
                pauses_changed(before.pauses, call.pauses)
                failures_changed(before, call)
                segments_changed(before, call)
                self.persister.save(call)  # what must survive a restart, written as it acts
                call, failed = await self._act(call, actions)
                if isinstance(item, _Asked):
                    self._answer(item, call, failed)
            # The snoops' recordings end with their channels: wait for them, within reason.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN):
                    while call.recordings_open:
                        item = await mailbox.get()
                        if isinstance(item, _HandOver):
                            log.info("call=%s action=hand-over phase=ended recordings-open", call.id)
                            return
                        if isinstance(item, _Asked):
                            self._answer(item, call, [])
                            continue
                        before = call
                        missed = isinstance(item, _Missed)
                        event = item.event if isinstance(item, _Missed) else item
                        call, actions = consult.step(call, event, time.time(), seen=not missed)
                        failures_changed(before, call)
                        segments_changed(before, call)
                        self.persister.save(call)
                        # A recording not started by its deadline is said so, its snoop hung up.
                        await self.executor.run(call.id, actions)
            if call.recordings_open:
                log.warning(
                    "call=%s recordings still open: %s", call.id, ", ".join(sorted(call.recordings_open))
                )
        finally:
            metrics.CALLS_ACTIVE.dec()
            self._mailboxes.pop(call.id, None)
            self._calls.pop(call.id, None)
            self._snoops_in.pop(call.id, None)
            for channel in [a for a, owner in self._aliases.items() if owner == call.id]:
                del self._aliases[channel]
            while not mailbox.empty():  # requests that came too late
                item = mailbox.get_nowait()
                if isinstance(item, _Asked) and not item.reply.done():
                    item.reply.set_exception(NoSuchCall(f"call {call.id} has ended"))
        await self.persister.flush()  # the report speaks of what is stored
        self.on_report(CallReport(call, time.monotonic() - began))

    async def _act(
        self, call: c.Call, actions: list[c.Action]
    ) -> tuple[c.Call, list[tuple[c.Action, AriError]]]:
        """Carry out the step's actions; a snoop that entered the application meanwhile is
        stepped at once, between two actions (its record request goes out then), and again,
        doing nothing, when its turn in the mailbox comes."""
        failed: list[tuple[c.Action, AriError]] = []
        for action in actions:
            failed += await self.executor.run(call.id, [action])
            waiting = self._snoops_in.get(call.id)
            while waiting:
                before = call
                call, more = c.step(call, waiting.pop(0), time.time())
                segments_changed(before, call)
                self._calls[call.id] = call
                self.persister.save(call)
                call, refused = await self._act(call, more)
                failed += refused
        return call, failed

    async def _reconcile(self) -> None:
        """The socket was down and Asterisk does not replay what happened meanwhile: ask its REST
        API, and tell each call what it missed (websocket_reconnect.jsonl)."""
        try:
            # What a missed event leads to may itself have happened already: a call adopted as
            # dialling whose agent answered is connected again, and the recording it starts is
            # the one its previous controller started (live in Asterisk, its start never seen
            # here). Asked again once the call has stepped, until nothing more is missed.
            for _ in range(RECONCILE_PASSES):
                app = await self.ari.get_application(self.settings.ari.app)
                live: set[str] = set(app.channel_ids)
                missed = False
                for call in list(self._calls.values()):
                    for event in await self._missed(call, live):
                        log.warning("call=%s action=reconcile missed=%s", call.id, type(event).__name__)
                        self._feedback(call.id, _Missed(event))
                        missed = True
                if not missed:
                    return
                await asyncio.sleep(RECONCILE_AGAIN)
        except AriError as error:
            log.warning("reconcile after reconnect failed: %s", error)

    async def _missed(self, call: c.Call, live: set[str]) -> list[consult.Event]:
        missed: list[consult.Event] = []
        if call.phase is not c.Phase.ENDED and call.id not in live:
            missed.append(c.CustomerLeft(call.id))
        elif call.phase is c.Phase.CONNECTED and call.customer not in live:
            missed.append(c.CustomerLeft(call.customer))
        elif call.phase is c.Phase.ANSWERING and not await self._exists(
            self.ari.get_playback(ids.announcement(call.id))
        ):
            # Its end was in the gap: whether it played to the end, nobody can say.
            missed.append(c.AnnouncementFinished(failed="its end was not seen (the event stream was down)"))
        elif call.dialling is not None:
            if call.dialling not in live:
                missed.append(c.AgentFailed(call.dialling, 0))
            elif (await self.ari.get_channel(call.dialling)).state == "Up":
                missed.append(c.AgentAnswered(call.dialling))
        elif call.segment is not None and call.segment.channel not in live:
            missed.append(c.AgentLeft(call.segment.channel))
        if call.phase is not c.Phase.ENDED:
            missed += await consult_missed(self.ari, call, live)
        starting = {start.name for start in call.starting}
        for name in sorted(call.recordings_open):
            there = await self._exists(self.ari.get_live(name))
            if name in starting and there:  # its RecordingStarted was in the gap
                missed.append(c.RecordingBegan(name))
            elif name not in starting and not there:
                missed.append(c.RecordingEnded(name))
        return missed

    @staticmethod
    async def _exists(lookup: Awaitable[object]) -> bool:
        try:
            await lookup
        except AriNotFound:
            return False
        return True

    def _busy(self, caller: str) -> frozenset[str]:
        """Agents on another call, or being dialled for one."""
        busy = set()
        for other in self._calls.values():
            if other.id == caller or other.phase is c.Phase.ENDED:
                continue
            if other.segment is not None:
                busy.add(other.segment.agent)
            if other.consultation is not None:  # talking with the agent who consults them
                busy.add(other.consultation.to.policy.agent)
            if other.dialling is not None and other.tried:
                busy.add(other.agents[other.tried - 1].policy.agent)
            if other.interaction.direction is Direction.OUTBOUND:  # the agent is on the phone
                busy.add(other.agents[0].policy.agent)
        return frozenset(busy)

    async def hand_over(self, grace: float) -> None:
        """Stop taking calls (the event socket is closed already) and let each call finish the
        actions in hand, then its state is written: the next leader adopts it from the store.
        What is not done within `grace` seconds is cancelled."""
        self.leading = False
        self.connected.clear()
        calls = [task for task in self._tasks if task.get_name().startswith("call-")]
        for mailbox in self._mailboxes.values():
            mailbox.put_nowait(_HandOver())
        if calls:
            _, late = await asyncio.wait(calls, timeout=grace)
            if late:
                log.warning("hand-over: %d call(s) still acting after %g s: cancelled", len(late), grace)
        await self.aclose()
        log.info("hand-over: %d call(s) left in the store for the next leader", len(calls))

    async def stand_down(self) -> None:
        """Leadership lost: stop acting at once, writing nothing more; the next leader adopts
        the calls from the store and reconciles them with Asterisk."""
        self.leading = False
        self.connected.clear()
        await self._cancel_all()
        await self.persister.abandon()
        self._transfer_legs.clear()
        self._identified.clear()

    async def _cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        await self._cancel_all()
        await self.persister.aclose()


def _translate(event: Event) -> tuple[str, c.CallEvent] | None:
    """The ARI event as the event of the call it belongs to (by the id it names), if any."""
    own = ids.own_start(event.args) if isinstance(event, StasisStart) else None
    match event:
        case PlaybackFinished(playback=playback) if ids.is_announcement(playback.id):
            # A sound Asterisk does not have ends "failed" 1 ms after it began: nothing was heard.
            failed = None if playback.state == "done" else f"the playback ended {playback.state}"
            return playback.id, c.AnnouncementFinished(failed=failed)
        case StasisStart(channel=channel) if own and own.kind is Own.SNOOP:
            return channel.id, c.SnoopEntered(channel.id, own.argument)
        case RecordingFailed(recording=recording):
            why = f"Asterisk reported the recording failed ({recording.cause or recording.state})"
            return recording.name, c.RecordRefused(recording.name, why)
        case StasisStart(channel=channel) if own and own.kind is Own.AGENT:
            return channel.id, c.AgentAnswered(channel.id)
        case StasisEnd(channel=channel) if ids.is_agent_channel(channel.id):
            return channel.id, c.AgentLeft(channel.id)
        case ChannelDestroyed(channel=channel, cause=cause) if ids.is_agent_channel(channel.id):
            return channel.id, c.AgentFailed(channel.id, cause)
        case StasisStart(channel=channel) if own and own.kind is Own.CUSTOMER:
            return channel.id, c.CustomerAnswered(channel.id)
        case StasisEnd(channel=channel) | ChannelDestroyed(channel=channel) if ids.is_leg(channel.id):
            return channel.id, c.CustomerLeft(channel.id)
        case StasisEnd(channel=channel) if ids.is_call(channel.id):
            return channel.id, c.CustomerLeft(channel.id)
        case RecordingFinished(recording=recording):
            return recording.name, c.RecordingEnded(recording.name)
        case RecordingStarted(recording=recording):
            return recording.name, c.RecordingBegan(recording.name)
        case ChannelDtmfReceived(channel=channel, digit=digit):
            return channel.id, c.KeyPressed(channel.id, digit)
    return None
