"""What the engine reads off a call's state alone, so that a call resumed from the store (after a
restart, or by the next leader) is timed and routed as the call it was: its deadlines, and the
channels Asterisk made that joined it."""

from __future__ import annotations

from ari_recorder.domain import ids
from ari_recorder.domain.call import (
    Call,
    CallEvent,
    PauseExpired,
    Phase,
    RecordDeadline,
    WaitLimitReached,
)

Deadline = tuple[float, CallEvent]  # (when, wall clock seconds; what the call is told then)


def deadlines(call: Call) -> list[Deadline]:
    """Every deadline the call's state implies, whether it is past or not: the mailbox arms
    them after each step (and on resume), cancels the ones a step took away."""
    due: list[Deadline] = []
    if call.phase is not Phase.ENDED and call.waiting_since is not None:
        # Told once, from the first wait: the call ignores it unless it is still waiting then.
        due.append((call.waiting_since + call.wait_limit, WaitLimitReached()))
    pause = call.pause
    if pause is not None:
        due.append((pause.started + call.pausing.max_seconds, PauseExpired(pause.number)))
    # Recordings asked for, not confirmed: also once the call has ended (its drain says them).
    due += [(start.since + call.record_deadline, RecordDeadline(start.name)) for start in call.starting]
    return due


def aliases(call: Call) -> frozenset[str]:
    """The channels of the call whose ids are not the call's own (domain/ids.py): an agent
    phone's consultation call, and the Local channel an attended transfer Asterisk carried out
    put in an agent's place (with the customer, or swapped out since). Their events find the
    call only through these."""
    k = call.consultation
    joined = (
        k.channel if k is not None else None,
        call.handed_to,
        *(segment.channel for segment in call.segments),
        *call.swapped_out,
    )
    return frozenset(ch for ch in joined if ch is not None and ids.call_of(ch) != call.id)
