"""One mailbox per call: the queue its events wait in (so that they are handled in order, and no
call waits for another), its latest state, and its timers. The timers' handles are the
mailbox's: a deadline is armed from the call's state (domain/derived.py) after every step and
on resume, cancelled when a step takes it away, and every timer is cancelled when the call ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ari_recorder import clock
from ari_recorder.domain import call as c
from ari_recorder.domain import consult
from ari_recorder.domain.derived import Deadline, deadlines


@dataclass
class Asked:
    """A request from the HTTP API, answered once the call has acted on it."""

    event: consult.Event
    reply: asyncio.Future[c.Call]


@dataclass(frozen=True)
class HandOver:
    """The controller is handing its calls over (SIGTERM): the call stops after what it has in
    hand, its state in the store for the next leader."""


@dataclass(frozen=True)
class Missed:
    """An event reconciliation found missed while the event stream was down: it happened
    earlier than it is stepped (a segment's end learned so is not the true end)."""

    event: consult.Event


Item = consult.Event | Asked | HandOver | Missed


class Timers:
    """A call's timers: its deadlines, by the event each tells (one per event), and the short
    waits its steps ask for (`Later`, a refused recording's retry)."""

    def __init__(self, tell: Callable[[c.CallEvent], None]) -> None:
        self._tell = tell
        # A deadline stays here once told, so that the same deadline is not armed again while
        # the state still implies it (a wait limit told to a connected call, which ignores it).
        self._deadlines: dict[c.CallEvent, tuple[float, asyncio.TimerHandle]] = {}
        self._told: set[c.CallEvent] = set()  # deadlines among them that have been told
        self._later: dict[c.CallEvent, asyncio.TimerHandle] = {}
        # A resumed call: a recording start whose deadline passed while no controller watched
        # may have begun unseen (its RecordingStarted in the gap). Its deadline waits for the
        # reconciliation to ask Asterisk (engine/reconcile.py), then is told if still due.
        self.unreconciled = False

    def arm(self, due: list[Deadline], now: float) -> None:
        """Arm the deadlines not armed yet (one past is told at once); cancel those not due any
        more, or due at another time."""
        wanted = {
            event: when
            for when, event in due
            if not (self.unreconciled and isinstance(event, c.RecordDeadline) and when <= now)
        }
        for event in [e for e, (when, _) in self._deadlines.items() if wanted.get(e) != when]:
            self._deadlines.pop(event)[1].cancel()
            self._told.discard(event)
        loop = asyncio.get_running_loop()
        for event, when in wanted.items():
            if event not in self._deadlines:
                self._deadlines[event] = (when, loop.call_later(max(0.0, when - now), self._due, event))

    def _due(self, event: c.CallEvent) -> None:
        self._told.add(event)
        self._tell(event)

    def later(self, seconds: float, event: c.CallEvent) -> None:
        """Tell `event` after `seconds`; the same event asked for again supersedes the first."""
        superseded = self._later.pop(event, None)
        if superseded is not None:
            superseded.cancel()
        self._later[event] = asyncio.get_running_loop().call_later(seconds, self._fire, event)

    def _fire(self, event: c.CallEvent) -> None:
        self._later.pop(event, None)
        self._tell(event)

    def pending(self) -> list[c.CallEvent]:
        """The events still to be told (for the log and the tests)."""
        return [e for e in self._deadlines if e not in self._told] + list(self._later)

    def cancel(self) -> None:
        for _, handle in self._deadlines.values():
            handle.cancel()
        for handle in self._later.values():
            handle.cancel()
        self._deadlines.clear()
        self._told.clear()
        self._later.clear()


class Mailbox:
    """A call's queue, its latest state (for whom is busy, the API's views) and its timers."""

    def __init__(self, call: c.Call) -> None:
        self.call = call
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.timers = Timers(self.put)
        # A snoop in the application, told to its call between two of the call's actions rather
        # than after all of them: every round trip before the record request is audio lost.
        self.snoops_in: list[c.SnoopEntered] = []
        # Taken from the store (a restart, a takeover): what it asks of Asterisk may be made already.
        self.resumed = False

    @property
    def id(self) -> str:
        return self.call.id

    def put(self, item: Item) -> None:
        if isinstance(item, c.SnoopEntered):  # also in the queue, should the call be idle
            self.snoops_in.append(item)
        self.queue.put_nowait(item)

    def update(self, call: c.Call) -> None:
        """The call's new state; its deadlines armed as the state now implies."""
        self.call = call
        self.timers.arm(deadlines(call), clock.now())

    def reconciled(self) -> None:
        """Asterisk has been asked what the call missed (told before this, in its queue): the
        deadlines held until then are armed, those past told after what it missed."""
        if self.timers.unreconciled:
            self.timers.unreconciled = False
            self.timers.arm(deadlines(self.call), clock.now())

    def close(self) -> list[Asked]:
        """The call is over: its timers cancelled; the requests that came too late."""
        self.timers.cancel()
        self.snoops_in.clear()
        late: list[Asked] = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, Asked):
                late.append(item)
        return late
