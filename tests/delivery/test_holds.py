"""Legal holds against retention: a held interaction's spool copies and metadata are kept past
their days, the skip audited once per hold and thing kept; released, they go at the next purge.
Real deliveries (the simulator as Asterisk, the outbox), on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import os
from datetime import timedelta
from pathlib import Path

import pytest

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery.retention import Purged, Tally, purge, purge_metadata, purge_spool
from ari_recorder.errors import Conflict, NotFound, Unprocessable
from ari_recorder.storage import holds
from ari_recorder.storage.holds import AlreadyHeld, NoReason, NotHeld, UnknownInteraction
from ari_recorder.storage.retention import spool_copies_due, spool_copies_purging
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import InteractionRow, RecordingRow
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import Clock, Identity
from tests.delivery.test_metrics_and_retry import cli, settings_file
from tests.delivery.test_retention import count, delivered_calls


def spooled(spool: Path) -> list[str]:
    return sorted(p.name for p in (spool / "out").iterdir())


async def test_a_held_interaction_keeps_its_spool_copies_and_metadata_until_released(
    store: Store, sim: RunningSimulator, ari: AriClient, tmp_path: Path, identity: Identity, clock: Clock
) -> None:
    delivery = await delivered_calls(store, sim, ari, tmp_path, identity, clock)
    spool = delivery.settings.spool
    await delivery.aclose()
    hold = await holds.put(store, "call-1", "litigation 2024-117", "legal", clock.now, "cli")
    assert await holds.is_held(store, "call-1") and not await holds.is_held(store, "call-2")

    later = clock.now + timedelta(days=100)  # past both retentions
    assert await purge_spool(store, spool, later, days=7) == Tally(purged=1, held=2)
    assert await purge_metadata(store, later, days=90) == Tally(purged=0, held=1)
    assert spooled(spool) == [
        "call-1-seg1-1001.json.age",
        "call-1-seg1-1001.wav.age",
        "call-2-seg1-1001.json.age",
    ]
    assert await count(store, RecordingRow, "call-1") == 1
    again = await purge(store, delivery.settings, later + timedelta(hours=1))  # the hourly pass, again
    assert again == Purged(0, 0, 2, 0), "no metadata retention configured: only the spool's"
    assert "skipped=2 spool copies, 0 interactions: on legal hold" in str(again)

    trail = await store.audit("call-1")
    skips = [a for a in trail if a.action == "purge-skipped-held"]
    assert len(skips) == 3, "once per hold and thing kept, however many passes"
    assert {a.detail.get("spool-copy") for a in skips} == {
        "out/call-1-seg1-1001.wav.age",
        "out/call-1-seg1-1001.json.age",
        None,  # the metadata
    }
    assert all(a.detail["hold"] == hold.id and "litigation 2024-117" in a.detail["why"] for a in skips)
    (put,) = [a for a in trail if a.action == "hold-put"]
    assert (put.actor, put.detail["by"], put.detail["reason"]) == ("cli", "legal", "litigation 2024-117")

    released = await holds.release(store, "call-1", "case closed", "legal", later, "admin")
    assert (released.active, released.release_reason, released.released_by) == (False, "case closed", "legal")
    assert await purge_spool(store, spool, later, days=7) == Tally(purged=2, held=0)
    assert await purge_metadata(store, later, days=90) == Tally(purged=1, held=0)
    assert spooled(spool) == ["call-2-seg1-1001.json.age"]
    async with store.sessions() as session:
        assert await session.get(InteractionRow, "call-1") is None
    actions = [a.action for a in await store.audit("call-1")]
    assert actions.index("hold-put") < actions.index("hold-released") < actions.index("purge-metadata")
    (release,) = [a for a in await store.audit("call-1") if a.action == "hold-released"]
    assert release.actor == "admin" and release.detail["placed_reason"] == "litigation 2024-117"
    assert [h.id for h in await holds.listed(store)] == []
    assert [(h.id, h.active) for h in await holds.listed(store, released_too=True)] == [(hold.id, False)]


async def test_holds_are_refused_on_unknown_interactions_twice_and_without_a_reason(
    store: Store, sim: RunningSimulator, ari: AriClient, tmp_path: Path, identity: Identity, clock: Clock
) -> None:
    delivery = await delivered_calls(store, sim, ari, tmp_path, identity, clock)
    await delivery.aclose()
    with pytest.raises(UnknownInteraction, match="'nope'") as unknown:
        await holds.put(store, "nope", "why", "legal", clock.now, "cli")
    assert isinstance(unknown.value, NotFound)
    with pytest.raises(NoReason) as blank:
        await holds.put(store, "call-2", "  ", "legal", clock.now, "cli")
    assert isinstance(blank.value, Unprocessable)
    with pytest.raises(NotHeld, match="'call-2' is not on legal hold") as not_held:
        await holds.release(store, "call-2", "why", "legal", clock.now, "cli")
    assert isinstance(not_held.value, Conflict)
    with pytest.raises(UnknownInteraction):
        await holds.release(store, "nope", "why", "legal", clock.now, "cli")

    first = await holds.put(store, "call-2", "audit", "legal", clock.now, "cli")
    with pytest.raises(AlreadyHeld) as twice:
        await holds.put(store, "call-2", "again", "legal", clock.now, "cli")
    assert twice.value.detail["id"] == first.id
    await holds.release(store, "call-2", "done", "legal", clock.now, "cli")
    second = await holds.put(store, "call-2", "reopened", "legal", clock.now + timedelta(days=1), "cli")
    assert [(h.id, h.active) for h in await holds.listed(store, released_too=True)] == [
        (first.id, False),
        (second.id, True),
    ]
    assert [a.action for a in await store.audit("call-2")].count("hold-put") == 2


async def test_the_holds_command_puts_lists_and_releases_audited(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    tmp_path: Path,
    identity: Identity,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in os.environ:
        if name.startswith("ARI_RECORDER_"):
            monkeypatch.delenv(name)
    delivery = await delivered_calls(store, sim, ari, tmp_path, identity, clock)
    await delivery.aclose()
    config = settings_file(tmp_path, store)

    code, out, err = await cli(
        capsys, "holds", "put", "call-1", "--reason", "case 9", "--by", "dpo", "--config", config
    )
    assert (code, err) == (0, "")
    assert out.startswith("call-1 on legal hold (hold ") and "by dpo" in out
    code, out, err = await cli(capsys, "holds", "put", "call-1", "--reason", "again", "--config", config)
    assert (code, out, err) == (1, "", "ari-recorder: interaction 'call-1' is already on legal hold\n")
    code, out, err = await cli(capsys, "holds", "put", "call-2", "--reason", "  ", "--config", config)
    assert (code, out, err) == (1, "", "ari-recorder: a reason is required\n")
    code, out, err = await cli(capsys, "holds", "put", "nope", "--reason", "x", "--config", config)
    assert (code, out, err) == (1, "", "ari-recorder: no interaction 'nope'\n")
    code, out, _ = await cli(capsys, "holds", "list", "--config", config)
    (line,) = out.splitlines()
    assert code == 0 and line.startswith("call-1  held since ") and line.endswith(" by dpo: case 9")

    code, out, err = await cli(
        capsys, "holds", "release", "call-1", "--reason", "settled", "--config", config
    )
    assert (code, err) == (0, "") and "released" in out
    code, out, err = await cli(capsys, "holds", "release", "call-1", "--reason", "twice", "--config", config)
    assert (code, err) == (1, "ari-recorder: interaction 'call-1' is not on legal hold\n")
    code, out, _ = await cli(capsys, "holds", "list", "--config", config)
    assert (code, out) == (0, "no holds in force\n")
    code, out, _ = await cli(capsys, "holds", "list", "--all", "--config", config)
    assert code == 0 and "(released " in out and ": settled)" in out
    trail = [(a.action, a.actor, a.detail["by"]) for a in await store.audit("call-1")]
    assert trail[-2:] == [("hold-put", "cli", "dpo"), ("hold-released", "cli", getpass.getuser())]


async def test_a_hold_put_after_the_copies_were_found_due_keeps_them(
    store: Store, sim: RunningSimulator, ari: AriClient, tmp_path: Path, identity: Identity, clock: Clock
) -> None:
    """The purge asks again, in the transaction that forgets the copies, whether they are held."""
    delivery = await delivered_calls(store, sim, ari, tmp_path, identity, clock)
    await delivery.aclose()
    later = clock.now + timedelta(days=8)
    due = await spool_copies_due(store, later - timedelta(days=7))
    assert {c.interaction for c in due} == {"call-1", "call-2"}
    await holds.put(store, "call-1", "found late", "legal", later, "cli")
    async with spool_copies_purging(store, due, later, 7, "controller") as claimed:
        assert [c.delivery for c in claimed] == ["call-2-seg1-1001/audio"]
    assert await purge_spool(store, delivery.settings.spool, later, days=7) == Tally(purged=0, held=2)
