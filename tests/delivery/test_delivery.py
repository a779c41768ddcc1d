"""The delivery pipeline against real components: the simulator as Asterisk, OpenSSH's sshd, the
age CLI, SQLite and PostgreSQL. Each fault: nothing lost, nothing delivered twice, the row says
what happened."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import stat
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery, DeliverySettings, Outcome
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import DeliveryRow
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import Clock, Identity, local_settings, sftp_settings
from tests.delivery.support import Sshd, age_decrypt, noise_wav, ready_recording, require
from tests.support.waiting import until

AUDIO = "2024-05-17/support/call-{n}-1-1001.wav.age"
META = "2024-05-17/support/call-{n}-1-1001.json.age"


def expected_files(*numbers: int) -> list[str]:
    return sorted(f"incoming/{name.format(n=n)}" for n in numbers for name in (AUDIO, META))


async def states(delivery: Delivery) -> dict[str, tuple[str, int]]:
    return {row.id: (row.state, row.attempts) for row in await delivery.queue.rows()}


def assert_no_plaintext(settings: DeliverySettings) -> None:
    plain = [p for p in (settings.spool / "plain").rglob("*") if p.is_file()]
    assert plain == [], f"plaintext left in the spool: {plain}"
    for path in (settings.spool / "out").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_delivered_files_decrypt_to_the_recording_and_its_metadata(
    store: Store, sim: RunningSimulator, ari: AriClient, sshd: Sshd, identity: Identity, tmp_path: Path
) -> None:
    recorded = {n: await ready_recording(store, sim, f"call-{n}", seed=n) for n in (1, 2)}
    settings = sftp_settings(tmp_path, identity, sshd)
    delivery = Delivery(store, ari, settings)
    try:
        counters = await delivery.drain()
    finally:
        await delivery.aclose()

    assert sshd.files() == expected_files(1, 2)
    for n, (name, audio) in recorded.items():
        assert age_decrypt(identity.path, sshd.remote / "incoming" / AUDIO.format(n=n)) == audio
        meta = json.loads(age_decrypt(identity.path, sshd.remote / "incoming" / META.format(n=n)))
        assert (meta["recording"], meta["interaction"], meta["segment"]) == (name, f"call-{n}", 1)
        assert (meta["agent"], meta["queue"], meta["side"], meta["customer"]) == (
            "1001",
            "support",
            "agent",
            "15550001",
        )
        assert meta["levels"] == [{"level": "queue", "by": "support"}]
        assert meta["duration_seconds"] == 0.5
        assert meta["audio"]["sha256"] == hashlib.sha256(audio).hexdigest()
    assert set((await states(delivery)).values()) == {(State.DONE, 1)}
    assert (counters.spooled, counters.delivered) == (2, 4)
    assert sim.asterisk.media.stored == {}, "deleted in Asterisk once safe in the spool"
    assert [r.state for r in await store.recordings()] == ["fetched", "fetched"]
    assert_no_plaintext(settings)


async def test_without_an_sftp_host_files_go_to_the_local_outbox(
    sqlite_store: Store, sim: RunningSimulator, ari: AriClient, identity: Identity, tmp_path: Path
) -> None:
    _, audio = await ready_recording(sqlite_store, sim, "call-1")
    settings = local_settings(tmp_path, identity)
    delivery = Delivery(sqlite_store, ari, settings)
    await delivery.drain()
    await delivery.aclose()

    outbox = settings.outbox
    assert sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file()) == [
        META.format(n=1),
        AUDIO.format(n=1),
    ]
    assert age_decrypt(identity.path, outbox / AUDIO.format(n=1)) == audio
    assert set((await states(delivery)).values()) == {(State.DONE, 1)}


async def test_the_database_the_spool_and_the_outbox_are_the_owners_only(
    sim: RunningSimulator, ari: AriClient, identity: Identity, tmp_path: Path
) -> None:
    """Everything under var/: directories 0700, files 0600 (the database's -wal and -shm too)."""
    var = tmp_path / "var"
    settings = local_settings(var, identity)
    store = Store(f"sqlite+aiosqlite:///{var / 'ari-recorder.db'}")
    try:
        await store.migrate()
        await ready_recording(store, sim, "call-1")
        delivery = Delivery(store, ari, settings)
        await delivery.drain()
        await delivery.aclose()
        modes = {str(p.relative_to(var)): stat.S_IMODE(p.stat().st_mode) for p in [var, *var.rglob("*")]}
    finally:
        await store.aclose()
    assert {"ari-recorder.db", "ari-recorder.db-wal", "ari-recorder.db-shm", "outbox", "spool"} <= set(modes)
    assert len([name for name in modes if name.startswith("outbox/") and name.endswith(".age")]) == 2
    assert {
        name: mode for name, mode in modes.items() if mode != (0o700 if (var / name).is_dir() else 0o600)
    } == {}


async def test_another_format_is_converted_by_ffmpeg_before_encryption(
    sqlite_store: Store, sim: RunningSimulator, ari: AriClient, identity: Identity, tmp_path: Path
) -> None:
    require("ffmpeg")
    await ready_recording(sqlite_store, sim, "call-1", seconds=1.0)
    settings = local_settings(tmp_path, identity, format="mp3")
    delivery = Delivery(sqlite_store, ari, settings)
    await delivery.drain()
    await delivery.aclose()

    mp3 = age_decrypt(identity.path, settings.outbox / "2024-05-17/support/call-1-1-1001.mp3.age")
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF, "an MP3 stream"
    meta = json.loads(age_decrypt(identity.path, settings.outbox / META.format(n=1)))
    assert meta["audio"]["format"] == "mp3"
    assert meta["audio"]["sha256"] == hashlib.sha256(mp3).hexdigest()
    assert_no_plaintext(settings)


async def test_an_sftp_outage_mid_queue_delays_but_delivers_each_file_once(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    delivery = Delivery(store, ari, sftp_settings(tmp_path, identity, sshd), clock=clock)
    await ready_recording(store, sim, "call-1")
    await delivery.drain()  # the connection is open when the server goes
    await sshd.stop()
    for n in (2, 3):
        await ready_recording(store, sim, f"call-{n}", seed=n)
    await delivery.drain()

    waiting = [row for row in await delivery.queue.rows() if row.state != State.DONE]
    assert {(row.recording, row.state, row.attempts) for row in waiting} == {
        (f"call-{n}-seg1-1001", State.PENDING, 1) for n in (2, 3)
    }
    assert all("sftp" in (row.last_error or "") for row in waiting)
    assert sim.asterisk.media.stored == {}, "safe in the spool: the outage loses nothing"

    await sshd.start()
    clock.advance()
    await delivery.drain()
    await delivery.aclose()
    assert sshd.files() == expected_files(1, 2, 3)
    assert {state for state, _ in (await states(delivery)).values()} == {State.DONE}


async def test_sshd_killed_mid_upload_then_back_delivers_the_file_once_and_whole(
    sqlite_store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    """The server dies while a large file is half written under its temporary name: the platform
    never sees it under its final name; once the server is back, the next attempt writes it whole."""
    _, audio = await ready_recording(sqlite_store, sim, "call-1", content=noise_wav(64 * 1024 * 1024))
    delivery = Delivery(sqlite_store, ari, sftp_settings(tmp_path, identity, sshd), clock=clock)
    running = asyncio.create_task(delivery.run())
    incoming = sshd.remote / "incoming"
    part = incoming / AUDIO.format(n=1).replace("call-1-1-1001.wav.age", ".call-1-1-1001.wav.age.part")
    try:

        async def partly_written() -> int:
            return part.stat().st_size if part.exists() else 0

        written = await until(partly_written, what="a partial upload", timeout=180)
        await sshd.freeze()  # mid-file: nothing more arrives
        partial = part.stat().st_size
        await sshd.stop()
        row = await until(
            row_in(delivery, "call-1-seg1-1001/audio", State.PENDING), what="the upload failed", timeout=180
        )
        assert "connection lost" in (row.last_error or ""), row.last_error
        assert not (incoming / AUDIO.format(n=1)).exists(), "never under its final name while partial"

        await sshd.start()
        clock.advance()
        delivery.wake()
        await until(
            row_in(delivery, "call-1-seg1-1001/audio", State.DONE), what="the upload done", timeout=180
        )
    finally:
        await delivery.aclose()
        await running
    assert 0 < written <= partial < (incoming / AUDIO.format(n=1)).stat().st_size
    assert sorted(sshd.files()) == expected_files(1), "one copy, no partial left"
    assert age_decrypt(identity.path, incoming / AUDIO.format(n=1)) == audio


def row_in(delivery: Delivery, row_id: str, state: State) -> Callable[[], Awaitable[DeliveryRow | None]]:
    async def check() -> DeliveryRow | None:
        found = [r for r in await delivery.queue.rows() if r.id == row_id and r.state == state]
        return found[0] if found else None

    return check


async def test_a_wrong_host_key_is_refused_and_not_retried_blindly(
    sqlite_store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    from tests.delivery.support import keygen

    sshd.write_known_hosts(keygen(tmp_path / "impostor", "impostor"))
    await ready_recording(sqlite_store, sim, "call-1")
    delivery = Delivery(sqlite_store, ari, sftp_settings(tmp_path, identity, sshd), clock=clock)
    await delivery.drain()
    clock.advance()
    await delivery.drain()
    await delivery.aclose()

    rows = await delivery.queue.rows()
    assert {(row.kind, row.state, row.attempts) for row in rows} == {
        ("audio", "dead", 1),
        ("metadata", "dead", 1),
    }
    assert all("host key" in (row.last_error or "") for row in rows)
    assert sshd.files() == []
    assert delivery.counters.dead == 2
    audit = await sqlite_store.audit("call-1-seg1-1001")
    assert sorted((a.action, a.actor, a.detail["kind"], a.detail["stage"]) for a in audit) == [
        ("delivery-dead", "controller", "audio", "upload"),
        ("delivery-dead", "controller", "metadata", "upload"),
    ]
    assert all("host key" in a.detail["error"] for a in audit)


async def test_an_authentication_failure_is_retried_then_dead_and_keeps_the_key_secret(
    sqlite_store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sshd.authorized.write_text("")  # the platform no longer knows our key
    await ready_recording(sqlite_store, sim, "call-1")
    delivery = Delivery(
        sqlite_store, ari, sftp_settings(tmp_path, identity, sshd, max_attempts=2), clock=clock
    )
    with caplog.at_level(logging.DEBUG):
        await delivery.drain()
        first = {(row.kind, row.state, row.attempts) for row in await delivery.queue.rows()}
        clock.advance()
        await delivery.drain()
    rows = await delivery.queue.rows()

    assert first == {("audio", "pending", 1), ("metadata", "pending", 1)}
    assert {(row.kind, row.state, row.attempts) for row in rows} == {
        ("audio", "dead", 2),
        ("metadata", "dead", 2),
    }
    assert all("authentication refused" in (row.last_error or "") for row in rows)
    secret = sshd.client_key.read_text().splitlines()[1]
    assert secret not in caplog.text and all(secret not in (row.last_error or "") for row in rows)

    assert await delivery.queue.retry_dead() == 2  # retried by hand before the platform is fixed
    await delivery.drain()
    sshd.authorized.write_text(sshd.client_public + "\n")  # fixed on the platform
    clock.advance()
    await delivery.drain()
    await delivery.aclose()
    assert sshd.files() == expected_files(1)
    # The audit trail tells the audio's story, attempt by attempt: who, what, why. The first
    # attempt after the retry fails as the very first did: both are kept.
    audit = [
        a for a in await sqlite_store.audit("call-1-seg1-1001") if a.detail["delivery"].endswith("/audio")
    ]
    assert sorted((a.action, a.actor, a.detail.get("attempt") or 0) for a in audit) == [
        ("delivered", "controller", 2),
        ("delivery-dead", "controller", 2),
        ("delivery-failed", "controller", 1),
        ("delivery-failed", "controller", 1),
        ("delivery-retry", "cli", 0),
    ]
    assert all(
        "authentication refused" in a.detail["error"]
        for a in audit
        if a.action != "delivered" and a.actor != "cli"
    )
    (delivered,) = [a for a in audit if a.action == "delivered"]
    assert delivered.detail["remote_path"] == AUDIO.format(n=1)


async def test_a_restart_resumes_pending_and_abandoned_rows(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    settings = sftp_settings(tmp_path, identity, sshd)
    for n in (1, 2):
        await ready_recording(store, sim, f"call-{n}", seed=n)
    await sshd.stop()
    first = Delivery(store, ari, settings, clock=clock)
    await first.drain()
    await first.aclose()
    # One row as a crashed worker left it: claimed, lease still running.
    async with store.sessions.begin() as session:
        row = await session.get(DeliveryRow, "call-2-seg1-1001/audio")
        assert row is not None
        row.state, row.worker = State.UPLOADING, "crashed"
        row.next_attempt_at = clock() + timedelta(seconds=settings.lease_seconds)

    await sshd.start()
    clock.advance(settings.lease_seconds + 1)  # PostgreSQL waits for the lease; SQLite frees it at start
    second = Delivery(store, ari, settings, clock=clock)
    await second.drain()
    await second.aclose()
    assert sshd.files() == expected_files(1, 2)
    assert {state for state, _ in (await states(second)).values()} == {State.DONE}


async def test_a_crash_between_the_rename_and_the_commit_makes_no_second_copy(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    settings = sftp_settings(tmp_path, identity, sshd, parallel_uploads=1)
    await ready_recording(store, sim, "call-1")
    crashing = Delivery(store, ari, settings, clock=clock)

    class Killed(Exception):
        pass

    async def killed(row: DeliveryRow) -> bool:
        raise Killed("after the rename, before the commit")  # the process dies here

    crashing.queue.done = killed  # type: ignore[method-assign]
    with pytest.RaisesGroup(Killed):
        await crashing.drain()
    await crashing.aclose()
    first_copy = sshd.remote / "incoming" / AUDIO.format(n=1)
    assert first_copy.exists()
    inode = first_copy.stat().st_ino

    clock.advance(settings.lease_seconds + 1)
    restarted = Delivery(store, ari, settings, clock=clock)
    counters = await restarted.drain()
    await restarted.aclose()
    assert sshd.files() == expected_files(1)
    assert first_copy.stat().st_ino == inode, "found in place, not uploaded again"
    assert counters.already_there >= 1
    assert {state for state, _ in (await states(restarted)).values()} == {State.DONE}


@pytest.mark.parametrize(
    ("content", "error"),
    [(b"", "empty (0 bytes)"), (b"RIFF\x10\x00\x00\x00garbage, not a wave", "not a readable WAV")],
)
async def test_an_empty_or_corrupt_recording_is_dead_and_kept_in_asterisk(
    sqlite_store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    identity: Identity,
    tmp_path: Path,
    content: bytes,
    error: str,
) -> None:
    name, _ = await ready_recording(sqlite_store, sim, "call-1", content=content)
    settings = local_settings(tmp_path, identity)
    delivery = Delivery(sqlite_store, ari, settings)
    await delivery.drain()
    await delivery.drain()
    await delivery.aclose()

    (row,) = await delivery.queue.rows()
    assert (row.kind, row.state, row.attempts) == ("audio", State.DEAD, 1)
    assert error in (row.last_error or "")
    assert name in sim.asterisk.media.stored, "nothing lost: the recording stays in Asterisk"
    assert not settings.outbox.exists() or list(settings.outbox.rglob("*")) == []
    assert_no_plaintext(settings)


async def test_run_delivers_what_wake_announces_until_closed(
    sqlite_store: Store, sim: RunningSimulator, ari: AriClient, identity: Identity, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(local_settings(tmp_path, identity), poll_seconds=60.0)
    outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
    delivery = Delivery(sqlite_store, ari, settings, listener=outcomes.put_nowait)
    running = asyncio.create_task(delivery.run())
    await ready_recording(sqlite_store, sim, "call-1")
    delivery.wake()  # long before the next poll
    async with asyncio.timeout(30):
        seen = [await outcomes.get() for _ in range(3)]
    await delivery.aclose()
    await running
    assert sorted((o.what, o.delivery) for o in seen) == [
        ("delivered", "call-1-seg1-1001/audio"),
        ("delivered", "call-1-seg1-1001/metadata"),
        ("spooled", None),
    ]
    assert (settings.outbox / AUDIO.format(n=1)).exists()


async def test_asterisk_unreachable_when_fetching_is_retried_and_loses_nothing(
    sqlite_store: Store, sim: RunningSimulator, identity: Identity, tmp_path: Path, clock: Clock
) -> None:
    from ari_simulator.server import free_port

    _, audio = await ready_recording(sqlite_store, sim, "call-1")
    settings = local_settings(tmp_path, identity)
    async with AriClient(f"http://127.0.0.1:{free_port()}/ari", "asterisk", "asterisk") as nowhere:
        away = Delivery(sqlite_store, nowhere, settings, clock=clock)
        await away.drain()
        await away.aclose()
    (row,) = await away.queue.rows()
    assert (row.state, row.attempts) == (State.FETCHING, 1)
    assert "cannot reach Asterisk" in (row.last_error or "")

    clock.advance()
    async with AriClient(sim.ari_url, "asterisk", "asterisk") as ari:
        back = Delivery(sqlite_store, ari, settings, clock=clock)
        await back.drain()
        await back.aclose()
    assert {(r.state, r.attempts) for r in await back.queue.rows()} == {(State.DONE, 1)}
    assert age_decrypt(identity.path, settings.outbox / AUDIO.format(n=1)) == audio


async def test_a_remote_error_is_retried_until_the_platform_is_fixed(
    sqlite_store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
) -> None:
    blocker = sshd.remote / "incoming"
    blocker.write_text("a file where the platform's directory should be")
    await ready_recording(sqlite_store, sim, "call-1")
    delivery = Delivery(sqlite_store, ari, sftp_settings(tmp_path, identity, sshd), clock=clock)
    await delivery.drain()
    rows = await delivery.queue.rows()
    assert {(r.state, r.attempts) for r in rows} == {(State.PENDING, 1)}
    assert all("incoming/2024-05-17" in (r.last_error or "") for r in rows)

    blocker.unlink()
    clock.advance()
    await delivery.drain()
    await delivery.aclose()
    assert sshd.files() == expected_files(1)
    # Each attempt in the audit trail, with what went wrong.
    audit = [a for a in await sqlite_store.audit("call-1-seg1-1001") if a.detail["kind"] == "audio"]
    assert [(a.action, a.detail["attempt"], a.detail.get("stage")) for a in audit] == [
        ("delivery-failed", 1, "upload"),
        ("delivered", 2, None),
    ]
    assert "incoming/2024-05-17" in audit[0].detail["error"] and audit[0].detail["retry_at"] is not None
