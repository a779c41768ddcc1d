"""A call's saved snapshot: versioned, previous releases' documents resumed by today's code, and
the document's shape held to a committed schema so that it cannot drift unnoticed."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ari_recorder.domain.call import Phase
from ari_recorder.settings import AgentSettings, DatabaseSettings, QueueSettings
from ari_recorder.storage import snapshots
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import InteractionRow
from tests.support.waiting import until
from tests.support.world import world

HERE = Path(__file__).parent / "snapshots"
PREVIOUS = sorted(HERE.glob("v[0-9]*-*.json"))
SCHEMA = HERE / f"schema-v{snapshots.VERSION}.json"


def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def test_every_previous_release_is_kept_as_a_fixture() -> None:
    versions = {int(path.name[1 : path.name.index("-")]) for path in PREVIOUS}
    assert versions >= set(range(snapshots.VERSION)), "a fixture of every earlier version"


@pytest.mark.parametrize("path", PREVIOUS, ids=lambda p: p.name)
def test_a_previous_releases_snapshot_loads_as_todays_call(path: Path) -> None:
    """Each fixture is what tests/storage/snapshots/capture.py leaves: a call connected to agent
    1001, its segment recorded, one pause ended and one open."""
    call = snapshots.load(_document(path))
    assert call.phase is Phase.CONNECTED and call.interaction.metadata == {"customer": "15550900"}
    (segment,) = call.segments
    assert (segment.agent, segment.recording) == ("1001", f"{call.id}-seg1-1001")
    assert call.recordings_open == frozenset({segment.recording})
    assert [(p.number, p.ending is not None) for p in call.pauses] == [(1, True), (2, False)]
    again = snapshots.dump(call)
    assert again["snapshot"] == snapshots.VERSION
    assert snapshots.load(again) == call, "today's document of it reads back the same"


def test_a_snapshot_from_a_later_release_is_refused() -> None:
    document = snapshots.dump(snapshots.load(_document(PREVIOUS[0])))
    document["snapshot"] = snapshots.VERSION + 1
    with pytest.raises(snapshots.SnapshotTooNew, match="later release"):
        snapshots.load(document)


def test_the_snapshot_schema_is_the_committed_one() -> None:
    """Drift guard: the stored `call` is the domain's Call as msgspec writes it."""
    committed = json.loads(SCHEMA.read_text())
    if snapshots.schema() != committed:
        pytest.fail(
            f"the shape of a stored call changed (the domain's Call, or what it holds) and no longer "
            f"matches {SCHEMA.relative_to(Path.cwd()) if SCHEMA.is_relative_to(Path.cwd()) else SCHEMA}: "
            "bump the snapshot version and add a migration (storage/snapshots.py: VERSION, MIGRATIONS), "
            "keep a snapshot of the previous version as a fixture (tests/storage/snapshots/capture.py, "
            "run before the change), then write the new schema-v<N>.json"
        )


async def _store_holding(path: Path, document: dict[str, Any]) -> None:
    store = Store(f"sqlite+aiosqlite:///{path}")
    try:
        await store.migrate()
        call = snapshots.load(document)
        async with store.sessions.begin() as session:
            session.add(
                InteractionRow(
                    id=call.id,
                    direction=call.interaction.direction.value,
                    queue=call.interaction.queue,
                    customer_channel=call.customer,
                    phase=call.phase.value,
                    started_at=datetime.now(UTC),
                    state=document,  # as the previous release wrote it
                )
            )
        assert await store.open_calls() == [call]
    finally:
        await store.aclose()


@pytest.mark.parametrize("path", PREVIOUS, ids=lambda p: p.name)
async def test_the_controller_resumes_a_call_a_previous_release_left_open(
    tmp_path: Path, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Started on a database a previous release left a call in, the controller resumes it and
    reconciles it with Asterisk (which no longer has its channels: the call ends, its recording
    is taken as finished), leaving nothing open and the call's snapshot of today's version."""
    database = tmp_path / "db.sqlite"
    document = _document(path)
    await _store_holding(database, document)
    call = snapshots.load(document)
    agents = {
        "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100)
    }
    caplog.set_level(logging.INFO)
    settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{database}")
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}, agents, database=settings) as w:

        async def nothing_open() -> bool:
            return not await w.store.open_calls()

        await until(nothing_open, what="the resumed call reconciled and ended", timeout=30)
        async with w.store.sessions() as session:
            row = await session.get(InteractionRow, call.id)
        assert row is not None and row.state is not None
        assert row.phase == "ended" and row.state["snapshot"] == snapshots.VERSION
        assert snapshots.load(row.state).phase is Phase.ENDED
    assert f"call={call.id} action=resume phase=connected" in caplog.text
