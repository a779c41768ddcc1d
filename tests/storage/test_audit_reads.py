"""Reading the audit trail and the interactions, on SQLite and PostgreSQL: filters, the cursor
across pages while rows are appended, time ranges, each read audited; every segment's decision
in the trail; and nothing in the product that changes or deletes an audit row."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ari_recorder.domain import call as c
from ari_recorder.storage import audit, audit_reads, interaction_reads
from ari_recorder.storage.audit_reads import AuditFilters, InvalidCursor
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.interaction_reads import InteractionFilters
from ari_recorder.storage.store import Store
from tests.test_storage import a_call

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SOURCE = Path(__file__).parent.parent.parent / "src" / "ari_recorder"


async def _append(
    store: Store, n: int, at: datetime, actor: str = "controller", action: str = "pause"
) -> None:
    async with store.sessions.begin() as session:
        await audit.write(
            session, audit.Entry(f"t/{at.isoformat()}/{n}", at, action, f"rec-{n % 3}", {"n": n}, actor)
        )


async def _all(store: Store, filters: AuditFilters, size: int) -> list[dict[str, object]]:
    return [item async for got in audit_reads.pages(store, filters, size=size) for item in got.items]


async def test_filters_select_by_actor_action_subject_and_time(store: Store) -> None:
    for n in range(12):
        await _append(
            store, n, T0 + timedelta(minutes=n), "1001" if n % 2 else "admin", "pause" if n < 6 else "x"
        )
    by_actor = await audit_reads.page(store, AuditFilters(actor="1001"))
    assert [i["detail"] for i in by_actor.items] == [{"n": n} for n in (11, 9, 7, 5, 3, 1)], "newest first"
    by_action = await audit_reads.page(store, AuditFilters(action="x", subject="rec-0"))
    assert [i["detail"] for i in by_action.items] == [{"n": 9}, {"n": 6}]
    ranged = await audit_reads.page(
        store, AuditFilters(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=5))
    )
    assert [i["detail"] for i in ranged.items] == [{"n": 4}, {"n": 3}], "since inclusive, until exclusive"
    assert ranged.next is None
    assert (await audit_reads.page(store, AuditFilters(actor="a\x00b"))).items == []


async def test_the_cursor_pages_through_without_gaps_or_repeats_while_rows_are_appended(store: Store) -> None:
    for n in range(10):
        await _append(store, n, T0 + timedelta(seconds=n // 2))  # pairs at the same time: the id decides
    seen: list[object] = []
    cursor = None
    appended = 0
    while True:
        got = await audit_reads.page(store, AuditFilters(), cursor, limit=3)
        seen += [i["detail"]["n"] for i in got.items]  # type: ignore[index]
        # Rows appended between pages: later ones (left for the next read) and one earlier than
        # the cursor (still to be reached: found on a later page).
        await _append(store, 100 + appended, T0 + timedelta(hours=1))
        if appended == 0:
            await _append(store, 200, T0 - timedelta(hours=1))
        appended += 1
        if got.next is None:
            break
        cursor = got.next
    assert seen == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 200]
    with pytest.raises(InvalidCursor):
        await audit_reads.page(store, AuditFilters(), "not-a-cursor")


async def test_an_export_streams_every_page(store: Store) -> None:
    for n in range(7):
        await _append(store, n, T0 + timedelta(seconds=n))
    assert [i["detail"] for i in await _all(store, AuditFilters(), size=2)] == [
        {"n": n} for n in range(6, -1, -1)
    ]


async def test_a_read_is_audited_with_its_reader_and_filters(store: Store) -> None:
    await _append(store, 1, T0)
    got = await audit_reads.read(store, "cli:alice", AuditFilters(action="pause", since=T0), None, 10)
    assert [i["detail"] for i in got.items] == [{"n": 1}], "the read's own row is not a pause"
    (row,) = await store.audit("audit")
    assert (row.actor, row.action) == ("cli:alice", "audit-read")
    assert row.detail == {
        "filters": {"action": "pause", "since": T0.isoformat()},
        "cursor": None,
        "limit": 10,
    }


async def test_every_segment_decision_is_in_the_trail_once_and_found_by_its_interaction(store: Store) -> None:
    call, _ = c.start(a_call())
    call, _ = c.step(call, c.AnnouncementFinished())
    call, _ = c.step(call, c.AgentAnswered("9.1-agent-1"))
    await store.save_call(call)
    await store.save_call(call)  # again: still one row
    decisions = [r for r in await store.audit() if r.action == "decision"]
    assert [(r.id, r.subject, r.actor) for r in decisions] == [
        ("decision/9.1/1", "segment/9.1/1", "controller")
    ]
    assert decisions[0].detail == {
        "interaction": "9.1",
        "media": "voice",
        "segment": 1,
        "agent": "1001",
        "selected": True,
        "recorded": True,
        "levels": [{"level": "agent", "by": "1001"}],
        "reason": "selected by agent 1001",
        "recording": "9.1-seg1-1001",
    }
    about = await audit_reads.page(store, AuditFilters(interaction="9.1"))
    assert "decision" in [i["action"] for i in about.items]
    assert (await audit_reads.page(store, AuditFilters(interaction="9.2"))).items == []


async def test_interactions_are_listed_by_their_filters_and_read_whole(store: Store) -> None:
    call, _ = c.start(a_call())
    call, _ = c.step(call, c.AnnouncementFinished())
    call, _ = c.step(call, c.AgentAnswered("9.1-agent-1"))
    await store.save_call(call)
    listed = await interaction_reads.page(store, InteractionFilters())
    (item,) = listed.items
    assert (item["id"], item["agents"], item["recorded"], item["customer"]) == (
        "9.1",
        ["1001"],
        True,
        "15550001",
    )
    for matching in (
        InteractionFilters(agent="1001"),
        InteractionFilters(queue="support", customer="15550001"),
        InteractionFilters(recorded=True),
        InteractionFilters(since=datetime.now(UTC) - timedelta(hours=1)),
    ):
        assert len((await interaction_reads.page(store, matching)).items) == 1, matching
    for other in (
        InteractionFilters(agent="1002"),
        InteractionFilters(recorded=False),
        InteractionFilters(partition="emea"),
        InteractionFilters(delivery=State.DONE),
        InteractionFilters(until=datetime.now(UTC) - timedelta(hours=1)),
    ):
        assert (await interaction_reads.page(store, other)).items == [], other
    whole = await interaction_reads.one(store, "9.1")
    assert whole is not None
    (segment,) = whole["segments"]
    assert (segment["recorded"], segment["reason"]) == (True, "selected by agent 1001")
    assert [r["name"] for r in whole["recordings"]] == ["9.1-seg1-1001"]
    assert await interaction_reads.one(store, "nope") is None


def _cursor(at: str, row: str = "x") -> str:
    return base64.urlsafe_b64encode(json.dumps([at, row]).encode()).decode().rstrip("=")


async def test_times_beyond_the_calendar_in_utc_are_its_ends_and_a_cursor_with_one_is_refused(
    store: Store,
) -> None:
    """`0001-01-01T00:00+05:00` and `9999-12-31T23:59-05:00` parse, but lie beyond the calendar in
    UTC (OverflowError once converted): as a bound, each is the end it lies beyond (the CLI gives
    them to storage as typed); in a cursor, none this server gave."""
    await _append(store, 1, T0)
    call, _ = c.start(a_call())
    await store.save_call(call)
    before_year_1 = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    after_9999 = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
    everything = AuditFilters(action="pause", since=before_year_1, until=after_9999)
    assert [i["detail"] for i in (await audit_reads.page(store, everything)).items] == [{"n": 1}]
    nothing = AuditFilters(since=after_9999)
    assert (await audit_reads.page(store, nothing)).items == []
    assert (await audit_reads.page(store, AuditFilters(until=before_year_1))).items == []
    listed = await interaction_reads.page(store, InteractionFilters(since=before_year_1, until=after_9999))
    assert [i["id"] for i in listed.items] == ["9.1"]
    assert (await interaction_reads.page(store, InteractionFilters(since=after_9999))).items == []
    for forged in (_cursor("0001-01-01T00:00:00+05:00"), _cursor("9999-12-31T23:59:59-05:00")):
        with pytest.raises(InvalidCursor):
            await audit_reads.page(store, AuditFilters(), forged)
        with pytest.raises(InvalidCursor):
            await interaction_reads.page(store, InteractionFilters(), forged)
    assert (await audit_reads.page(store, AuditFilters(), _cursor("9999-12-31T23:59:59+00:00"))).items


def test_nothing_updates_or_deletes_an_audit_row() -> None:
    """The trail is append-only: no statement of the product changes or removes a row of it."""
    changing = re.compile(
        r"(update|delete|merge)\(\s*AuditRow|(?i:delete\s+from|update)\s+\"?audit\b|AuditRow\.__table__\.(update|delete)"
    )
    offenders = [
        f"{path.relative_to(SOURCE)}: {match.group(0)}"
        for path in SOURCE.rglob("*.py")
        for match in changing.finditer(path.read_text())
    ]
    assert offenders == []
    assert changing.search("await session.execute(delete(AuditRow).where(...))")
    assert changing.search("DELETE FROM audit WHERE")
