"""A call's mailbox owns its timers: armed from the call's state, cancelled when a step takes a
deadline away or the call ends, never told after the call is gone."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from ari_recorder.domain import call as c
from ari_recorder.engine.mailbox import Mailbox, Missed, Timers
from tests.domain.test_call import agent, new_call


def waiting(since: float, wait_limit: int = 1) -> c.Call:
    call, _ = c.start(new_call(agent("1001")))
    call, _ = c.step(call, c.AnnouncementFinished(), since)
    return replace(call, wait_limit=wait_limit)


async def test_a_timer_of_an_ended_call_is_cancelled() -> None:
    mailbox = Mailbox(waiting(time.time() - 0.8))
    mailbox.update(mailbox.call)
    mailbox.timers.later(0.2, c.RecordRetry("7.1-seg1-1001", 1))
    assert mailbox.timers.pending() == [c.WaitLimitReached(), c.RecordRetry("7.1-seg1-1001", 1)]
    assert mailbox.close() == []
    await asyncio.sleep(0.4)  # both would have fired by now
    assert mailbox.queue.empty(), "no stray callback after the call is gone"
    assert mailbox.timers.pending() == []


async def test_a_deadline_a_step_takes_away_is_cancelled_and_one_due_is_told_once() -> None:
    told: list[c.CallEvent] = []
    timers = Timers(told.append)
    now = time.time()
    timers.arm([(now + 0.1, c.PauseExpired(1)), (now + 0.1, c.WaitLimitReached())], now)
    timers.arm([(now + 0.1, c.WaitLimitReached())], now)  # the pause ended: its deadline goes
    await asyncio.sleep(0.3)
    assert told == [c.WaitLimitReached()]
    assert timers.pending() == []
    timers.arm([(now + 0.1, c.WaitLimitReached())], time.time())  # still implied by the state
    await asyncio.sleep(0.2)
    assert told == [c.WaitLimitReached()], "told once, not armed again"
    timers.arm([(now + 0.2, c.WaitLimitReached())], time.time())  # another deadline: armed again
    await asyncio.sleep(0.05)
    assert told == [c.WaitLimitReached()] * 2


async def test_a_later_asked_again_supersedes_the_first() -> None:
    told: list[c.CallEvent] = []
    timers = Timers(told.append)
    retry = c.RecordRetry("7.1-seg1-1001", 1)
    timers.later(0.1, retry)
    timers.later(0.3, retry)
    await asyncio.sleep(0.2)
    assert told == []
    await asyncio.sleep(0.2)
    assert told == [retry]
    assert timers.pending() == []


async def test_a_resumed_calls_past_recording_start_waits_for_the_reconciliation() -> None:
    """Killed after asking for a recording, restarted after its start deadline: whether it began
    (its RecordingStarted in the gap) is Asterisk's to say first; the deadline is told after what
    the reconciliation found, and only if the start is still unconfirmed then."""
    long_ago = time.time() - 60
    call, _ = c.start(new_call(agent("1001")))
    call, _ = c.step(call, c.AnnouncementFinished(), long_ago)
    assert call.dialling is not None
    call, _ = c.step(call, c.AgentAnswered(call.dialling), long_ago)
    (start,) = call.starting
    mailbox = Mailbox(call)
    mailbox.timers.unreconciled = True  # as Calls.open(call, resumed=True)
    mailbox.update(call)
    await asyncio.sleep(0.1)
    assert mailbox.queue.empty(), "a start past its deadline is not failed before Asterisk is asked"
    found = Missed(c.RecordingBegan(start.name))  # what engine/reconcile.py tells it
    mailbox.put(found)
    mailbox.reconciled()
    await asyncio.sleep(0.1)
    told = [mailbox.queue.get_nowait() for _ in range(mailbox.queue.qsize())]
    # After what was missed: the call has taken the start as begun by then, and ignores it.
    assert told == [found, c.RecordDeadline(start.name)]


async def test_a_new_calls_past_deadline_is_told_at_once() -> None:
    long_ago = time.time() - 60
    call, _ = c.start(new_call(agent("1001")))
    call, _ = c.step(call, c.AnnouncementFinished(), long_ago)
    assert call.dialling is not None
    call, _ = c.step(call, c.AgentAnswered(call.dialling), long_ago)
    (start,) = call.starting
    mailbox = Mailbox(call)
    mailbox.update(call)
    await asyncio.sleep(0.1)
    assert mailbox.queue.get_nowait() == c.RecordDeadline(start.name)
