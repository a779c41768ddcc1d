"""Delivery metrics and dead rows retried by hand (`ari-recorder deliveries`), against the same real
components as test_delivery.py: the simulator, OpenSSH's sshd, SQLite and PostgreSQL.

The metrics registry is the process's: every test compares values before and after.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from ari_recorder import metrics
from ari_recorder.ari.rest import AriClient
from ari_recorder.cli import main
from ari_recorder.delivery import Delivery
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.redelivery import retry_dead_rows
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import AuditRow
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import Clock, Identity, local_settings, sftp_settings
from tests.delivery.support import Sshd, age_decrypt, ready_recording, tone_wav
from tests.support.waiting import until

AUDIO_ID, META_ID = "call-1-seg1-1001/audio", "call-1-seg1-1001/metadata"
RESULTS = ("delivered", "already_there", "retry", "dead")


def counters() -> dict[str, float]:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    seen = {result: value("ari_recorder_deliveries_total", result=result) for result in RESULTS}
    seen["bytes"] = value("ari_recorder_delivered_bytes_total")
    seen["latency_count"] = value("ari_recorder_delivery_latency_seconds_count")
    seen["latency_sum"] = value("ari_recorder_delivery_latency_seconds_sum")
    return seen


def moved(before: dict[str, float]) -> dict[str, float]:
    """What moved since `before`, and by how much."""
    return {key: value - before[key] for key, value in counters().items() if value != before[key]}


def queue_gauge() -> dict[str, float]:
    """Rows by state as the gauge says, the states at 0 left out."""
    states = ("fetching", "pending", "uploading", "done", "dead")
    values = {s: REGISTRY.get_sample_value("ari_recorder_delivery_queue", {"state": s}) for s in states}
    return {state: value for state, value in values.items() if value}


def oldest_pending() -> float | None:
    return REGISTRY.get_sample_value("ari_recorder_delivery_oldest_pending_seconds")


def settings_file(tmp_path: Path, store: Store) -> str:
    """Settings naming the test's database (and its PostgreSQL schema)."""
    url = store.engine.url.render_as_string(hide_password=False)
    schema = f'schema = "{store.schema}"\n' if store.schema else ""
    path = tmp_path / "settings.toml"
    path.write_text(f'[database]\nurl = "{url}"\n{schema}')
    return str(path)


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command as `ari-recorder` runs it (its own event loop: in a thread, off the test's)."""
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def retry_audit(store: Store) -> list[AuditRow]:
    async with store.sessions() as session:
        query = select(AuditRow).where(AuditRow.action == "delivery-retry").order_by(AuditRow.id)
        return list((await session.scalars(query)).all())


@pytest.fixture(autouse=True)
def no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the settings the test gives: none inherited from whoever runs the tests."""
    for name in os.environ:
        if name.startswith("ARI_RECORDER_"):
            monkeypatch.delenv(name)


async def test_drains_move_the_counters_by_the_files_and_the_gauges_follow_the_queue(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    for n in (1, 2):
        await ready_recording(store, sim, f"call-{n}", seed=n)  # finished at 09:30; the clock: 10:00
    await sshd.stop()
    delivery = Delivery(store, ari, sftp_settings(tmp_path, identity, sshd), clock=clock)
    before = counters()
    await delivery.drain()
    assert moved(before) == {"retry": 4}
    assert queue_gauge() == {"pending": 4}
    assert oldest_pending() == 1800.0

    await sshd.start()
    clock.advance(3600)
    before = counters()
    await delivery.drain()
    await delivery.aclose()
    rows = await delivery.queue.rows()
    assert {(row.state, row.attempts) for row in rows} == {(State.DONE, 2)}
    sizes = [row.size or 0 for row in rows]
    assert all(sizes)
    assert moved(before) == {
        "delivered": 4,
        "bytes": sum(sizes),
        "latency_count": 4,
        "latency_sum": 4 * 5400.0,  # finished -> delivered: 09:30 -> 11:00
    }
    assert queue_gauge() == {"done": 4}
    assert oldest_pending() == 0.0


async def test_rows_dead_after_authentication_failures_are_retried_by_the_cli_and_delivered_once(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sshd.authorized.write_text("")  # the platform no longer knows our key
    await ready_recording(store, sim, "call-1")
    settings = sftp_settings(tmp_path, identity, sshd, max_attempts=2)
    delivery = Delivery(store, ari, settings, clock=clock)
    before = counters()
    await delivery.drain()
    clock.advance()
    await delivery.drain()
    assert moved(before) == {"retry": 2, "dead": 2}
    assert queue_gauge() == {"dead": 2}
    assert oldest_pending() == 0.0, "dead rows wait for no one"

    config = settings_file(tmp_path, store)
    code, out, err = await cli(capsys, "deliveries", "list", "--state", "dead", "--config", config)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[:4] for line in lines] == [  # newest first: queued together, by id
        [META_ID, "dead", "attempts", "2"],
        [AUDIO_ID, "dead", "attempts", "2"],
    ]
    assert all("authentication refused" in line for line in lines)
    assert "2024-05-17/support/call-1-1-1001.wav.age" in out
    code, out, _ = await cli(capsys, "deliveries", "list", "--state", "done", "--config", config)
    assert (code, out) == (0, "no done deliveries\n")
    code, out, _ = await cli(capsys, "deliveries", "list", "--limit", "1", "--config", config)
    assert code == 0 and len(out.splitlines()) == 2 and "(the newest 1; --limit for more)" in out

    sshd.authorized.write_text(sshd.client_public + "\n")  # fixed on the platform
    code, out, err = await cli(capsys, "deliveries", "retry", "--all-dead", "--config", config)
    assert (code, err) == (0, "")
    for row_id in (AUDIO_ID, META_ID):
        assert f"{row_id}: dead -> pending (attempts 2 -> 0); it was: sftp" in out
    assert "2 deliveries queued again" in out and "next pass" in out
    assert {(row.state, row.attempts) for row in await delivery.queue.rows()} == {(State.PENDING, 0)}
    audit = await retry_audit(store)
    assert [(a.actor, a.subject, a.detail["delivery"]) for a in audit] == [
        ("cli", "call-1-seg1-1001", AUDIO_ID),
        ("cli", "call-1-seg1-1001", META_ID),
    ]
    assert all(a.id.startswith(f"delivery/{a.detail['delivery']}/retry/") for a in audit)
    assert all("authentication refused" in a.detail["previous_error"] for a in audit)
    assert all((a.detail["attempts"], a.detail["state"]) == (2, "pending") for a in audit)
    await delivery.refresh_gauges()
    assert queue_gauge() == {"pending": 2}

    before = counters()
    await delivery.drain()  # the rows are due at once: no clock moved
    await delivery.drain()
    await delivery.aclose()
    change = moved(before)
    assert {key: change.get(key) for key in (*RESULTS, "latency_count")} == {
        "delivered": 2,
        "already_there": None,
        "retry": None,
        "dead": None,
        "latency_count": 2,
    }
    assert sshd.files() == sorted(
        f"incoming/2024-05-17/support/call-1-1-1001.{ext}.age" for ext in ("json", "wav")
    )
    assert {(row.state, row.attempts) for row in await delivery.queue.rows()} == {(State.DONE, 1)}
    assert queue_gauge() == {"done": 2}

    code, out, err = await cli(capsys, "deliveries", "retry", "--all-dead", "--config", config)
    assert (code, out, err) == (0, "no dead deliveries\n", "")


async def test_a_corrupt_recording_dead_while_fetching_is_fetched_again_once_mended(
    sqlite_store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    name, _ = await ready_recording(sqlite_store, sim, "call-1", content=b"RIFF\x10\x00\x00\x00not a wave")
    settings = local_settings(tmp_path, identity)
    delivery = Delivery(sqlite_store, ari, settings, clock=clock)
    before = counters()
    await delivery.drain()
    assert moved(before) == {"dead": 1}
    assert queue_gauge() == {"dead": 1}

    audio = tone_wav(sim.asterisk.media.stored[name].path)  # still in Asterisk: mended there
    revived, refused = await retry_dead_rows(sqlite_store, [AUDIO_ID], actor="admin", now=clock())
    assert [(r.id, r.state, r.attempts) for r in revived] == [(AUDIO_ID, State.FETCHING, 1)]
    assert "not a readable WAV" in (revived[0].previous_error or "")
    assert refused == []
    await delivery.refresh_gauges()
    assert queue_gauge() == {"fetching": 1}

    before = counters()
    await delivery.drain()
    await delivery.drain()
    await delivery.aclose()
    assert {(row.kind, row.state, row.attempts) for row in await delivery.queue.rows()} == {
        ("audio", State.DONE, 1),
        ("metadata", State.DONE, 1),
    }
    assert moved(before)["delivered"] == 2 and "dead" not in moved(before)
    outbox = sorted(p.name for p in settings.outbox.rglob("*") if p.is_file())
    assert outbox == ["call-1-1-1001.json.age", "call-1-1-1001.wav.age"]
    delivered = settings.outbox / "2024-05-17/support/call-1-1-1001.wav.age"
    assert age_decrypt(identity.path, delivered) == audio
    assert [(a.actor, a.subject, a.detail["state"]) for a in await retry_audit(sqlite_store)] == [
        ("admin", name, "fetching")
    ]


async def test_retrying_a_row_not_dead_or_unknown_exits_1_and_changes_nothing(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    identity: Identity,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await ready_recording(store, sim, "call-1")
    delivery = Delivery(store, ari, local_settings(tmp_path, identity))
    await delivery.drain()
    await delivery.aclose()
    rows = {(row.id, row.state, row.attempts) for row in await delivery.queue.rows()}
    config = settings_file(tmp_path, store)

    code, out, err = await cli(capsys, "deliveries", "retry", AUDIO_ID, "call-9/audio", "--config", config)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"ari-recorder: {AUDIO_ID}: not dead (done): only dead deliveries are retried",
        "ari-recorder: call-9/audio: no such delivery: only dead deliveries are retried",
    ]
    assert {(row.id, row.state, row.attempts) for row in await delivery.queue.rows()} == rows
    assert await retry_audit(store) == []

    code, _, err = await cli(capsys, "deliveries", "retry", "--config", config)
    assert code == 2 and "name the rows to retry (their ids), or --all-dead" in err
    code, _, err = await cli(capsys, "deliveries", "retry", AUDIO_ID, "--all-dead", "--config", config)
    assert code == 2 and "not both" in err


async def test_a_running_service_keeps_the_gauges_fresh_from_the_database(
    sqlite_store: Store, sim: RunningSimulator, ari: AriClient, identity: Identity, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(local_settings(tmp_path, identity), poll_seconds=60.0)
    metrics.delivery_queue({}, None)  # whatever earlier tests left: read again from this database
    delivery = Delivery(sqlite_store, ari, settings)
    running = asyncio.create_task(delivery.run())
    await ready_recording(sqlite_store, sim, "call-1")
    delivery.wake()
    # Polled: nothing tells when a gauge changes, as nothing tells a scraper.
    await until(lambda: queue_gauge() == {"done": 2}, what="the queue gauge at done: 2", timeout=30)
    await delivery.aclose()
    await running
    assert oldest_pending() == 0.0
