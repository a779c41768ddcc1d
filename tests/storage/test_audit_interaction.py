"""Migration 0016: the audit rows written before it learn the interaction each is about, as the
reads found it until then (the detail's call or interaction, the recording that is the subject,
the subject itself), so that a search by interaction finds what it found before, and more."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from ari_recorder.storage import audit, audit_reads
from ari_recorder.storage.audit_reads import AuditFilters
from ari_recorder.storage.store import Store, upgrade

BEFORE = "0015"  # the last revision without the column
ROWS = [
    # id, subject, detail, the interaction it is about
    ("decision", "call-1-seg1-1001", '{"call": "call-1", "selected": true}', "call-1"),
    ("read", "call-2", '{"interaction": "call-2"}', "call-2"),
    ("delivered", "call-1-seg1-1001", '{"delivery": "call-1-seg1-1001/audio"}', "call-1"),
    ("hold", "call-3", '{"reason": "dispute"}', "call-3"),
    ("token", "token/0123456789ab", '{"role": "agent"}', None),
    ("gone", "call-9-seg1-1001", '{"delivery": "call-9-seg1-1001/audio"}', None),  # purged before
]


def test_rows_of_before_the_column_are_found_by_their_interaction(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        upgrade(connection, BEFORE)
        for call in ("call-1", "call-2", "call-3"):
            connection.execute(
                text(
                    "INSERT INTO interactions (id, media, direction, customer_channel, phase, started_at) "
                    "VALUES (:id, 'voice', 'inbound', :id, 'ended', '2026-11-30 12:00:00')"
                ),
                {"id": call},
            )
        connection.execute(
            text(
                "INSERT INTO recordings (name, interaction_id, segment, side, channels, state, levels, "
                "started_at, pauses, kept_unencrypted) VALUES ('call-1-seg1-1001', 'call-1', 1, 'agent', "
                "1, 'fetched', '[]', '2026-11-30 12:00:01', '[]', 0)"
            )
        )
        for n, (row_id, subject, detail, _) in enumerate(ROWS):
            connection.execute(
                text(
                    "INSERT INTO audit (id, at, actor, action, subject, detail) "
                    "VALUES (:id, :at, 'controller', :id, :subject, :detail)"
                ),
                {"id": row_id, "at": f"2026-11-30 12:00:0{n}", "subject": subject, "detail": detail},
            )
    engine.dispose()

    async def migrated() -> dict[str, str | None]:
        store = Store(f"sqlite+aiosqlite:///{database}")
        try:
            await store.migrate()
            return {row.id: row.interaction for row in await store.audit()}
        finally:
            await store.aclose()

    assert asyncio.run(migrated()) == {row_id: about for row_id, _, _, about in ROWS}


async def test_a_row_written_now_names_its_interaction_and_a_read_finds_it(store: Store) -> None:
    now = datetime.now(UTC)
    await audit.write_now(store, audit.Entry("a", now, "decision", "x-seg1-1001", {"call": "x"}))
    await audit.write_now(store, audit.Entry("b", now, "note", "agent/1001", {}, interaction="y"))
    await audit.write_now(store, audit.Entry("c", now, "note", "agent/1001", {}))
    for interaction, ids in (("x", ["a"]), ("y", ["b"])):
        found = await audit_reads.page(store, AuditFilters(interaction=interaction), None, 10)
        assert [item["id"] for item in found.items] == ids
        assert all(item["interaction"] == interaction for item in found.items)
