"""Retention: the spool's copies of delivered files and delivered interactions' metadata purged
after their days, audited; nothing undelivered touched. Real deliveries (the simulator as
Asterisk, the outbox), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
from sqlalchemy import func, select, update

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery
from ari_recorder.delivery.retention import Tally, purge_metadata, purge_spool
from ari_recorder.storage import audit_reads
from ari_recorder.storage.audit_reads import AuditFilters
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import (
    AttachedDataRow,
    DeliveryRow,
    InteractionRow,
    RecordingRow,
    SegmentRow,
)
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import Clock, Identity, local_settings
from tests.delivery.support import ready_recording
from tests.support.waiting import until

ENDED = datetime.fromisoformat("2024-05-17T09:31:00+00:00")


async def delivered_calls(
    store: Store, sim: RunningSimulator, ari: AriClient, tmp_path: Path, identity: Identity, clock: Clock
) -> Delivery:
    """call-1 and call-2 delivered (call-2's metadata failing once more: still pending), call-3
    still in Asterisk (its recording never fetched)."""
    for n in (1, 2):
        await ready_recording(store, sim, f"call-{n}", seed=n)
    async with store.sessions.begin() as session:
        await session.execute(update(InteractionRow).values(ended_at=ENDED))
    delivery = Delivery(store, ari, local_settings(tmp_path, identity), clock=clock)
    await delivery.drain()
    async with store.sessions.begin() as session:  # as if its upload had failed and waits to retry
        await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == "call-2-seg1-1001/metadata")
            .values(state=State.PENDING, next_attempt_at=clock.now + timedelta(days=365))
        )
    await ready_recording(store, sim, "call-3", seed=3)
    async with store.sessions.begin() as session:
        await session.execute(
            update(InteractionRow).where(InteractionRow.id == "call-3").values(ended_at=ENDED)
        )
    return delivery


async def count(store: Store, table: type[object], interaction: str) -> int:
    async with store.sessions() as session:
        column = table.interaction_id  # type: ignore[attr-defined]
        return int(
            await session.scalar(select(func.count()).select_from(table).where(column == interaction)) or 0
        )


async def test_delivered_spool_copies_go_after_their_days_and_nothing_else(
    store: Store, sim: RunningSimulator, ari: AriClient, tmp_path: Path, identity: Identity, clock: Clock
) -> None:
    delivery = await delivered_calls(store, sim, ari, tmp_path, identity, clock)
    spool = delivery.settings.spool
    await delivery.aclose()
    before = sorted(p.name for p in (spool / "out").iterdir())
    assert len(before) == 4

    assert await purge_spool(store, spool, clock.now + timedelta(days=6, hours=23), days=7) == Tally(0)
    for longer_than_the_calendar in (800_000, 10**12):  # before year 1: nothing is that old
        assert await purge_spool(store, spool, clock.now, days=longer_than_the_calendar) == Tally(0)
    purged = await purge_spool(store, spool, clock.now + timedelta(days=7), days=7)
    again = await purge_spool(store, spool, clock.now + timedelta(days=8), days=7)

    assert (purged, again) == (Tally(3), Tally(0))
    assert sorted(p.name for p in (spool / "out").iterdir()) == ["call-2-seg1-1001.json.age"], "pending: kept"
    rows = {row.id: row for row in await delivery.queue.rows()}
    assert rows["call-1-seg1-1001/audio"].spool_path is None
    assert rows["call-2-seg1-1001/metadata"].spool_path == "out/call-2-seg1-1001.json.age"
    audit = [a for a in await store.audit() if a.action == "purge-spool-copy"]
    assert sorted(a.detail["delivery"] for a in audit) == [
        "call-1-seg1-1001/audio",
        "call-1-seg1-1001/metadata",
        "call-2-seg1-1001/audio",
    ]
    assert all(a.actor == "controller" and "spool_retention_days = 7" in a.detail["why"] for a in audit)


async def test_metadata_goes_once_every_file_is_delivered_and_the_trail_stays(
    store: Store, sim: RunningSimulator, ari: AriClient, tmp_path: Path, identity: Identity, clock: Clock
) -> None:
    delivery = await delivered_calls(store, sim, ari, tmp_path, identity, clock)
    await delivery.aclose()
    later = ENDED + timedelta(days=90)

    assert await purge_metadata(store, later - timedelta(seconds=1), days=90) == Tally(0)
    for longer_than_the_calendar in (800_000, 10**12):  # before year 1: nothing is that old
        assert await purge_metadata(store, later, days=longer_than_the_calendar) == Tally(0)
    assert await purge_metadata(store, later, days=90) == Tally(1)
    assert await purge_metadata(store, later, days=90) == Tally(0)

    for table in (AttachedDataRow, SegmentRow, RecordingRow):
        assert await count(store, table, "call-1") == 0, table
        for kept in ("call-2", "call-3"):  # a file still pending; a recording never fetched
            assert await count(store, table, kept) == 1, (table, kept)
    async with store.sessions() as session:
        assert await session.get(InteractionRow, "call-1") is None
    assert {row.recording for row in await delivery.queue.rows()} >= {"call-1-seg1-1001"}, "rows stay"
    (purge,) = [a for a in await store.audit("call-1") if a.action == "purge-metadata"]
    assert purge.detail["recordings"] == ["call-1-seg1-1001"]
    assert purge.detail["rows"] == {"attached_data": 1, "segments": 1, "recordings": 1}
    assert [a.action for a in await store.audit("call-1-seg1-1001")].count("delivered") == 2, (
        "the trail stays"
    )
    # ...and is found by its interaction still: the decision, the deliveries, the purge itself.
    found = await audit_reads.page(store, AuditFilters(interaction="call-1"), None, 500)
    actions = [item["action"] for item in found.items]
    assert actions.count("delivered") == 2 and "purge-metadata" in actions, actions
    assert {item["interaction"] for item in found.items} == {"call-1"}
    others = await audit_reads.page(store, AuditFilters(interaction="call-2"), None, 500)
    assert "purge-metadata" not in [item["action"] for item in others.items]
    assert all(item["subject"] != "call-1-seg1-1001" for item in others.items)


async def test_the_running_delivery_purges_what_is_due_from_its_start(
    store: Store, sim: RunningSimulator, ari: AriClient, tmp_path: Path, identity: Identity, clock: Clock
) -> None:
    first = await delivered_calls(store, sim, ari, tmp_path, identity, clock)
    await first.aclose()
    clock.advance(8 * 86400)
    settings = msgspec.structs.replace(first.settings, metadata_retention_days=0)
    delivery = Delivery(store, ari, settings, clock=clock)
    running = asyncio.create_task(delivery.run())
    try:
        await audited(store, "call-1", "purge-metadata")
    finally:
        await delivery.aclose()
        await running
    assert sorted(p.name for p in (settings.spool / "out").iterdir()) == [
        "call-2-seg1-1001.json.age",  # not delivered
        "call-3-seg1-1001.json.age",  # delivered just now, by this run
        "call-3-seg1-1001.wav.age",
    ]


async def audited(store: Store, subject: str, action: str) -> None:
    async def found() -> bool:
        return any(a.action == action for a in await store.audit(subject))

    await until(found, what=f"{action} of {subject} in the audit trail", timeout=15)
