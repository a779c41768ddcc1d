"""A call's life, from its mailbox: each event stepped by the pure state machine, the state
kept (mailbox, store) and the actions carried out, until the call ends and its recordings have
finished; then the call's report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ari_recorder import clock, metrics
from ari_recorder.ari.errors import AriError
from ari_recorder.domain import call as c
from ari_recorder.domain import consult
from ari_recorder.engine.calls import Calls
from ari_recorder.engine.executor import Executor
from ari_recorder.engine.mailbox import Asked, HandOver, Mailbox, Missed
from ari_recorder.engine.persister import Persister
from ari_recorder.engine.reconcile import leftovers
from ari_recorder.engine.services import answer, too_late
from ari_recorder.metrics import failures_changed, pauses_changed, segments_changed

log = logging.getLogger("ari_recorder.engine")
DRAIN = 10.0  # seconds an ended call waits for its recordings to finish


@dataclass(frozen=True)
class CallReport:
    """What happened to one call, for the log, the demo and the tests."""

    call: c.Call
    seconds: float

    @property
    def queue(self) -> str | None:
        return self.call.interaction.queue


class Runner:
    def __init__(
        self, calls: Calls, executor: Executor, persister: Persister, on_report: Callable[[CallReport], None]
    ) -> None:
        self.calls = calls
        self.executor = executor
        self.persister = persister
        self.on_report = on_report

    async def run(self, mailbox: Mailbox, opening: list[c.Action] | None = None) -> None:
        """The call's life: its opening actions (none when resumed after a restart: its
        deadlines are armed from its state), then its events one by one, until it ends and its
        recordings have finished."""
        began = time.monotonic()
        call = mailbox.call
        metrics.CALLS_ACTIVE.inc()
        try:
            mailbox.update(call)
            if opening is not None:
                self.persister.save(call)
                call, _ = await self._act(mailbox, call, opening)
            while call.phase is not c.Phase.ENDED:
                item = await mailbox.queue.get()
                if isinstance(item, HandOver):
                    log.info("call=%s action=hand-over phase=%s", call.id, call.phase.value)
                    return  # no report: the call goes on with the next leader
                event = item.event if isinstance(item, Asked | Missed) else item
                if event in mailbox.snoops_in:  # not stepped between actions: stepped now, once
                    mailbox.snoops_in.remove(event)
                if isinstance(event, c.AnnouncementFinished | c.AgentFailed):
                    event = replace(event, busy=self.calls.busy(call.id))
                before = call
                call, actions = consult.step(call, event, clock.now(), seen=not isinstance(item, Missed))
                pauses_changed(before.pauses, call.pauses)
                self._stepped(mailbox, before, call)
                call, failed = await self._act(mailbox, call, actions)
                if isinstance(item, Asked):
                    answer(item, call, failed)
            if await self._drain(mailbox, call):
                return
            if opening is None:  # resumed: its stored state may have lagged behind Asterisk's
                await leftovers(self.executor.ari, self.executor.app, call)
        finally:
            metrics.CALLS_ACTIVE.dec()
            self.calls.close(call.id)
            for asked in mailbox.close():  # requests that came too late
                too_late(asked, call.id)
        await self.persister.flush()  # the report speaks of what is stored
        self.on_report(CallReport(mailbox.call, time.monotonic() - began))

    async def _drain(self, mailbox: Mailbox, call: c.Call) -> bool:
        """The snoops' recordings end with their channels: wait for them, within reason. True
        when the call is handed over meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN):
                while call.recordings_open:
                    item = await mailbox.queue.get()
                    if isinstance(item, HandOver):
                        log.info("call=%s action=hand-over phase=ended recordings-open", call.id)
                        return True
                    if isinstance(item, Asked):
                        answer(item, call, [])
                        continue
                    before = call
                    event = item.event if isinstance(item, Missed) else item
                    call, actions = consult.step(call, event, clock.now(), seen=not isinstance(item, Missed))
                    self._stepped(mailbox, before, call)
                    # A recording not started by its deadline is said so, its snoop hung up.
                    await self.executor.run(call.id, self._timed(mailbox, actions), resumed=mailbox.resumed)
        if call.recordings_open:
            log.warning("call=%s recordings still open: %s", call.id, ", ".join(sorted(call.recordings_open)))
        return False

    def _stepped(self, mailbox: Mailbox, before: c.Call, call: c.Call) -> None:
        """The step's new state: counted, kept (its deadlines armed) and written."""
        failures_changed(before, call)
        segments_changed(before, call)
        mailbox.update(call)
        self.persister.save(call)  # what must survive a restart, written as it acts

    async def _act(
        self, mailbox: Mailbox, call: c.Call, actions: list[c.Action]
    ) -> tuple[c.Call, list[tuple[c.Action, AriError]]]:
        """Carry out the step's actions; a snoop that entered the application meanwhile is
        stepped at once, between two actions (its record request goes out then), and again,
        doing nothing, when its turn in the mailbox comes."""
        failed: list[tuple[c.Action, AriError]] = []
        for action in self._timed(mailbox, actions):
            failed += await self.executor.run(call.id, [action], resumed=mailbox.resumed)
            waiting = mailbox.snoops_in
            while waiting:
                before = call
                call, more = c.step(call, waiting.pop(0), clock.now())
                segments_changed(before, call)
                mailbox.update(call)
                self.persister.save(call)
                call, refused = await self._act(mailbox, call, more)
                failed += refused
        return call, failed

    @staticmethod
    def _timed(mailbox: Mailbox, actions: list[c.Action]) -> list[c.Action]:
        """The actions for the executor. Timers are the mailbox's: a deadline's is armed from
        the call's state already (domain/derived.py), a short wait's (a retry) armed here."""
        rest: list[c.Action] = []
        for action in actions:
            match action:
                case c.StartTimer() | c.StartPauseTimer() | c.Later(_, c.RecordDeadline()):
                    pass
                case c.Later(seconds, event):
                    mailbox.timers.later(seconds, event)
                case _:
                    rest.append(action)
        return rest
