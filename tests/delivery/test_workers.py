"""Two controller processes sharing one queue on PostgreSQL: every file delivered exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import msgspec
from sqlalchemy import select

from ari_recorder.storage.tables import DeliveryRow
from ari_simulator.server import RunningSimulator
from tests.delivery.conftest import Identity, sftp_settings
from tests.delivery.support import Sshd, ready_recording
from tests.support.stores import postgres_store

RECORDINGS = 200
REPO = Path(__file__).resolve().parents[2]


async def test_two_processes_deliver_every_file_exactly_once(
    sim: RunningSimulator, sshd: Sshd, identity: Identity, tmp_path: Path
) -> None:
    settings = sftp_settings(tmp_path, identity, sshd, parallel_uploads=4)
    async with postgres_store() as store:
        for n in range(RECORDINGS):
            await ready_recording(store, sim, f"call-{n}", seconds=0.05, seed=n)
        url = store.engine.url.render_as_string(hide_password=False)
        config = json.dumps(
            {
                "url": url,
                "schema": store.schema,
                "ari_url": sim.ari_url,
                "settings": msgspec.json.encode(settings).decode(),
            }
        )
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.delivery.worker",
                config,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        for worker in workers:
            assert worker.stdout is not None and worker.stdin is not None
            assert await worker.stdout.readline() == b"ready\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = [await worker.communicate() for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0]
        reports = [json.loads(stdout.decode().strip().splitlines()[-1]) for stdout, _ in outputs]

        async with store.sessions() as session:
            rows = (await session.scalars(select(DeliveryRow))).all()

    files = sshd.files()
    assert len(files) == 2 * RECORDINGS and not any(f.endswith(".part") for f in files)
    assert len(rows) == 2 * RECORDINGS
    assert {(row.state, row.attempts) for row in rows} == {("done", 1)}, "each claimed once"
    assert sum(r["spooled"] for r in reports) == RECORDINGS
    assert sum(r["delivered"] for r in reports) == 2 * RECORDINGS, reports
    assert sum(r["already_there"] for r in reports) == 0
    assert sim.asterisk.media.stored == {}
    print("per worker:", [(r["spooled"], r["delivered"]) for r in reports])
