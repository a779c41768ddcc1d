"""Faults the issue names, made for real: the controller SIGKILLed between the rename and the commit,
and the spool's disk full. Each: nothing lost, nothing delivered twice, the row says what happened.

Waits are for something to happen, each bounded only so that a broken run fails instead of
hanging (support.until), never an assertion about speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select, text

from ari_recorder.ari.rest import AriClient
from ari_recorder.delivery import Delivery, DeliverySettings
from ari_recorder.storage.deliveries import State
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import DeliveryRow
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import ROOM, Clock, Identity, SpoolDisk, sftp_settings
from tests.delivery.support import Sshd, age_decrypt, noise_wav, ready_recording
from tests.support.stores import postgres_store
from tests.support.waiting import until

REPO = Path(__file__).resolve().parents[2]
AUDIO = "incoming/2024-05-17/support/call-1-1-1001.wav.age"
META = "incoming/2024-05-17/support/call-1-1-1001.json.age"
RECORDING = "call-1-seg1-1001"
AUDIO_ID = f"{RECORDING}/audio"
META_ID = f"{RECORDING}/metadata"


async def rows_of(store: Store) -> dict[str, DeliveryRow]:
    async with store.sessions() as session:
        return {row.id: row for row in (await session.scalars(select(DeliveryRow))).all()}


# ----- the controller SIGKILLed between the rename and the commit (PostgreSQL, real processes) -----
@dataclass
class Worker:
    """`python -m tests.delivery.worker` (one Delivery draining the shared queue), its stderr in a file."""

    process: asyncio.subprocess.Process
    log: Path

    @classmethod
    async def start(cls, config: str, log: Path) -> Worker:
        stderr = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.delivery.worker",
                config,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        finally:
            os.close(stderr)
        worker = cls(process, log)
        assert process.stdout is not None and process.stdin is not None
        assert await process.stdout.readline() == b"ready\n", worker.tail()
        process.stdin.write(b"go\n")
        await process.stdin.drain()
        return worker

    def tail(self) -> str:
        stderr = self.log.read_text(errors="replace")[-4000:]
        return f"worker pid {self.process.pid} (exit {self.process.returncode}), its stderr:\n{stderr}"

    def alive(self) -> None:
        if self.process.returncode is not None:
            pytest.fail(f"the worker exited early\n{self.tail()}", pytrace=False)

    async def report(self) -> dict[str, Any]:
        stdout, _ = await self.process.communicate()
        assert self.process.returncode == 0, self.tail()
        report: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
        return report

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()  # SIGKILL: no finally, no shield, no atexit
        await self.process.wait()


async def blocked_by(store: Store, pid: int) -> dict[int, set[str]]:
    """The backends waiting for a lock `pid` holds: for each, the columns its UPDATE sets.

    Each look in a transaction of its own: within one, PostgreSQL answers from the snapshot of
    pg_stat_activity its first look took (the statements then, not now)."""
    async with store.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT pid, query FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
            {"pid": pid},
        )
        backends = found.all()
    waiting: dict[int, set[str]] = {}
    for backend, query in backends:
        assignments = re.search(r"\bSET\b(.*?)\bWHERE\b", query or "", re.S)
        waiting[backend] = set(re.findall(r"(\w+)\s*=", assignments.group(1))) if assignments else set()
    return waiting


def is_renewal(columns: set[str]) -> bool:
    return columns == {"next_attempt_at"}


def is_done(columns: set[str]) -> bool:
    return "delivered_at" in columns and "state" in columns


async def test_a_controller_killed_between_the_rename_and_the_commit_makes_no_second_copy(
    sim: RunningSimulator, sshd: Sshd, identity: Identity, tmp_path: Path
) -> None:
    """One worker process uploads a large recording; the test holds the row locked, so that the
    worker's lease renewal and then its "done" blocks; once the file is renamed into place the
    worker is SIGKILLed. A second worker, after the lease, finds the file there: one copy, the
    same inode, the row done."""
    # One upload loop: the metadata waits behind the audio. A short lease: renewed every 1/3 s,
    # and the second worker may take the row soon after the kill.
    settings = sftp_settings(tmp_path, identity, sshd, parallel_uploads=1, lease_seconds=1)
    async with postgres_store() as store:
        _, audio = await ready_recording(store, sim, "call-1", content=noise_wav(32 * 1024 * 1024))
        config = json.dumps(
            {
                "url": store.engine.url.render_as_string(hide_password=False),
                "schema": store.schema,
                "ari_url": sim.ari_url,
                "settings": msgspec.json.encode(settings).decode(),
            }
        )
        assert sshd.process is not None
        daemon = sshd.process.pid
        final = sshd.remote / AUDIO
        lock = await store.engine.connect()
        first: Worker | None = None
        try:
            # sshd stopped: the worker fetches, spools and claims the upload, then its SSH
            # handshake waits. Nothing can reach the platform before the test holds the row.
            os.kill(daemon, signal.SIGSTOP)
            first = await Worker.start(config, tmp_path / "worker-1.log")
            worker = first

            async def uploading() -> DeliveryRow | None:
                worker.alive()
                row = (await rows_of(store)).get(AUDIO_ID)
                return row if row is not None and row.state == State.UPLOADING else None

            claimed: DeliveryRow = await until(
                uploading, what="the worker's upload claim", timeout=180, explain=worker.tail
            )
            await lock.begin()
            me = await lock.scalar(select(func.pg_backend_pid()))
            held = (
                await lock.execute(
                    select(DeliveryRow.state, DeliveryRow.worker, DeliveryRow.size)
                    .where(DeliveryRow.id == AUDIO_ID)
                    .with_for_update()
                )
            ).one()
            if held.state != State.UPLOADING:  # the row got past the point under test: say so
                pytest.fail(
                    f"the row was already {held.state!r} when the test locked it: the upload was not "
                    f"held back by the stopped sshd, this run proves nothing\n{worker.tail()}",
                    pytrace=False,
                )
            assert held.worker == claimed.worker and held.size is not None

            # The lease renewal (its own task) blocks on the lock; the upload must go on without it.
            async def renewal_blocked() -> bool:
                worker.alive()
                return any(is_renewal(cols) for cols in (await blocked_by(store, me)).values())

            await until(
                renewal_blocked,
                what="the lease renewal to block on the row lock",
                timeout=180,
                explain=worker.tail,
            )
            os.kill(daemon, signal.SIGCONT)

            async def renamed_and_committing() -> dict[int, set[str]] | None:
                worker.alive()
                if not (final.is_file() and final.stat().st_size == held.size):
                    return None
                waiting = await blocked_by(store, me)
                return waiting if any(is_done(cols) for cols in waiting.values()) else None

            waiting: dict[int, set[str]] = await until(
                renamed_and_committing,
                what="the file renamed into place and the worker's 'done' waiting on the row lock",
                timeout=180,
                explain=lambda: f"{worker.tail()}\nremote: {sshd.files()}",
            )
            # The renewal was cancelled when the upload ended (the worker reached "done" after
            # it): no statement of the worker's but "done" still waits.
            assert [is_done(cols) for cols in waiting.values()] == [True], waiting
            assert sshd.files() == sorted([AUDIO]), "the audio complete, no partial, no metadata yet"
            inode = final.stat().st_ino

            await worker.kill()  # between the rename and the commit
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon, signal.SIGCONT)
            if first is not None:
                await first.kill()
            await lock.rollback()
            await lock.close()

        # The killed worker's backend ends once its UPDATE may run and finds the client gone;
        # its transaction, never committed, rolls back and releases the row.
        async def gone() -> bool:
            async with store.engine.connect() as connection:
                left = await connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": list(waiting)},
                )
            return left == 0

        await until(gone, what="the killed worker's database sessions to end", timeout=180)
        rows = await rows_of(store)
        crashed = rows[AUDIO_ID]
        assert (crashed.state, crashed.worker, crashed.attempts, crashed.delivered_at) == (
            State.UPLOADING,
            claimed.worker,
            1,
            None,
        ), "still claimed by the dead worker: the 'done' was never committed"
        assert (rows[META_ID].state, rows[META_ID].attempts) == (State.PENDING, 0)

        async def lease_over() -> bool:  # the second worker may take the row only after it
            return datetime.now(UTC) > crashed.next_attempt_at

        await until(lease_over, what="the dead worker's lease to run out", timeout=180)

        second = await Worker.start(config, tmp_path / "worker-2.log")
        report = await second.report()
        rows = await rows_of(store)

    assert sshd.files() == sorted([AUDIO, META]), "one copy of each, nothing partial"
    assert final.stat().st_ino == inode, "found in place, not uploaded again"
    assert age_decrypt(identity.path, final) == audio
    assert (report["spooled"], report["already_there"], report["delivered"]) == (0, 1, 1), report
    done = rows[AUDIO_ID]
    assert (done.state, done.attempts, done.worker, done.last_error) == (
        State.DONE,
        2,
        report["worker"],
        None,
    ), "claimed again after the lease, marked done by the second worker"
    assert (rows[META_ID].state, rows[META_ID].attempts) == (State.DONE, 1)
    assert sim.asterisk.media.stored == {}, "deleted in Asterisk once safe in the spool, not before"


# ----- the spool's disk full (conftest's spool_disk) -----
@pytest.mark.parametrize(
    ("where", "size"),
    [
        # More than the room left: the fetch from Asterisk itself fails.
        pytest.param("download", ROOM + 512 * 1024, id="download"),
        # Fetched, but the encrypted copy does not fit beside the plaintext.
        pytest.param("encryption", ROOM * 2 // 3, id="encryption"),
    ],
)
async def test_a_full_spool_disk_keeps_the_recording_in_asterisk_and_retries(
    store: Store,
    sim: RunningSimulator,
    ari: AriClient,
    sshd: Sshd,
    identity: Identity,
    tmp_path: Path,
    clock: Clock,
    spool_disk: SpoolDisk,
    where: str,
    size: int,
) -> None:
    settings: DeliverySettings = sftp_settings(tmp_path, identity, sshd)
    assert settings.spool == spool_disk.path
    spool_disk.fill()
    _, audio = await ready_recording(store, sim, "call-1", content=noise_wav(size))
    delivery = Delivery(store, ari, settings, clock=clock)

    for attempt in (1, 2):  # failed, and failed again when due: retried, neither dead nor dropped
        counters = await delivery.drain()
        (row,) = (await rows_of(store)).values()
        assert (row.id, row.state, row.attempts) == (AUDIO_ID, State.FETCHING, attempt), where
        error = row.last_error or ""
        assert "No space left on device (ENOSPC)" in error and str(spool_disk.path) in error, error
        assert "the spool's disk is full" in error, error
        assert (counters.spooled, counters.retried, counters.dead) == (0, attempt, 0)
        assert spool_disk.files() == ["filler"], "nothing partial, no plaintext left in the spool"
        assert RECORDING in sim.asterisk.media.stored, "nothing lost: the recording stays in Asterisk"
        assert [r.state for r in await store.recordings()] == ["ready"]
        assert sshd.files() == []
        clock.advance()

    spool_disk.filler.unlink()  # room again
    counters = await delivery.drain()
    await delivery.aclose()
    assert (counters.spooled, counters.delivered, counters.already_there) == (1, 2, 0)
    assert sshd.files() == sorted([AUDIO, META]), "delivered once"
    assert age_decrypt(identity.path, sshd.remote / AUDIO) == audio
    rows = await rows_of(store)
    assert {(r.id, r.state, r.attempts, r.last_error) for r in rows.values()} == {
        (AUDIO_ID, State.DONE, 1, None),
        (META_ID, State.DONE, 1, None),
    }
    assert sim.asterisk.media.stored == {}, "deleted in Asterisk once safe in the spool"
    assert not [f for f in spool_disk.files() if "/plain/" in f or f.startswith("plain/")], "no plaintext"
