"""Dead deliveries by hand (`ari-recorder deliveries`, GET /api/v1/deliveries and the supervisor
page): listed, and put back in the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from ari_recorder.storage import audit
from ari_recorder.storage.deliveries import UNFINISHED, State, allowed
from ari_recorder.storage.interaction_reads import Within, in_reach
from ari_recorder.storage.recordings import utc
from ari_recorder.storage.tables import DeliveryRow, RecordingRow

FAILING = "failing"  # not a state: a row still in the queue whose last attempt failed

if TYPE_CHECKING:
    from ari_recorder.storage.store import Store


@dataclass(frozen=True)
class Revived:
    """A dead row back in the queue."""

    id: str
    recording: str
    state: State  # where it waits again: fetching (died before the spool) or pending
    attempts: int  # the attempts it had used
    previous_error: str | None


@dataclass(frozen=True)
class NotRetried:
    """A row named that stays as it is, and why."""

    id: str
    state: str | None  # as read; None: no such row
    why: str


async def list_deliveries(store: Store, state: State | None = None, limit: int = 100) -> list[DeliveryRow]:
    """Rows, newest first."""
    query = select(DeliveryRow).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc()).limit(limit)
    if state is not None:
        query = query.where(DeliveryRow.state == state)
    async with store.sessions() as session:
        return list((await session.scalars(query)).all())


async def delivery_page(
    store: Store,
    state: State | str | None = None,
    offset: int = 0,
    limit: int = 50,
    reach: Within | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of rows, newest first, each with its interaction; `state` one of the queue's, or
    FAILING; and whether more follow. `reach` (a supervisor's): only the rows of interactions it
    covers (a row whose interaction's metadata is purged is no one's in particular: not in it)."""
    query = (
        select(DeliveryRow, RecordingRow.interaction_id)
        .outerjoin(RecordingRow, RecordingRow.name == DeliveryRow.recording)
        .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    if state == FAILING:
        query = query.where(DeliveryRow.state.in_(UNFINISHED), DeliveryRow.last_error.is_not(None))
    elif state is not None:
        query = query.where(DeliveryRow.state == state)
    if reach is not None:
        query = query.where(in_reach(RecordingRow.interaction_id, reach, store.backend))
    async with store.sessions() as session:
        rows = (await session.execute(query)).all()
    items = [
        {
            "id": row.id,
            "recording": row.recording,
            "interaction": interaction,
            "kind": row.kind,
            "state": row.state,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "next_attempt_at": utc(row.next_attempt_at).isoformat(),
            "created_at": utc(row.created_at).isoformat(),
            "delivered_at": utc(row.delivered_at).isoformat() if row.delivered_at else None,
        }
        for row, interaction in rows[:limit]
    ]
    return items, len(rows) > limit


def stage_of_dead(row: DeliveryRow) -> State:
    """Where a dead row goes back to. A row dies in the state it was claimed in; a dead row no
    longer says which, but only rows safe in the spool have a spool path (`spooled` sets it on
    every file): without one it died fetching from Asterisk."""
    return State.PENDING if row.spool_path is not None else State.FETCHING


async def retry_dead_rows(
    store: Store, ids: Sequence[str] | None, *, actor: str, now: datetime
) -> tuple[list[Revived], list[NotRetried]]:
    """The named rows (every dead row when `ids` is None) back to waiting, due, attempts 0,
    each with its audit row in the same transaction; rows unknown or not dead are left as they
    are and returned. Only dead rows change (compare-and-set: a row that changes under us, or
    that another `retry` took first, is not touched twice)."""
    revived: list[Revived] = []
    refused: list[NotRetried] = []
    async with store.sessions.begin() as session:
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        if ids is None:
            query = query.where(DeliveryRow.state == State.DEAD)
        else:
            query = query.where(DeliveryRow.id.in_(list(ids)))
        if store.backend == "postgresql":
            query = query.with_for_update()
        found = {row.id: row for row in (await session.scalars(query)).all()}
        wanted = list(dict.fromkeys(ids)) if ids is not None else list(found)
        for row_id in wanted:
            row = found.get(row_id)
            if row is None:
                refused.append(NotRetried(row_id, None, "no such delivery"))
                continue
            if row.state != State.DEAD:
                refused.append(NotRetried(row_id, row.state, f"not dead ({row.state})"))
                continue
            back, attempts, error = stage_of_dead(row), row.attempts, row.last_error
            allowed(State.DEAD, back)
            # Due now, or since it died (a controller's clock stamped it) if that is earlier:
            # due at once for every controller, whatever this host's clock says.
            due = min(now, utc(row.next_attempt_at))
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == row.id, DeliveryRow.state == State.DEAD)
                .values(state=back.value, attempts=0, next_attempt_at=due, worker=None)
                .execution_options(synchronize_session=False)
            )
            if int(result.rowcount) != 1:  # type: ignore[attr-defined]
                refused.append(NotRetried(row_id, row.state, "changed meanwhile: not dead any more"))
                continue
            detail = {"delivery": row.id, "previous_error": error, "attempts": attempts, "state": back.value}
            key = audit.audit_id("delivery", row.id, "retry", repeatable=True)
            await audit.write(session, audit.Entry(key, now, "delivery-retry", row.recording, detail, actor))
            revived.append(Revived(row.id, row.recording, back, attempts, error))
    return revived, refused
