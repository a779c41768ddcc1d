"""Capture the stored snapshot of an open call, as the code of this checkout writes it: a call
recorded, its recording paused, resumed and paused again, read mid-call from the database.

    PYTHONPATH=src:. python tests/storage/snapshots/capture.py tests/storage/snapshots/vN-<what>.json

Run it before changing the snapshot's version, so that the release's documents stay tested.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.support.world import ADMIN_TOKEN, World, world

from ari_recorder.settings import AgentSettings, QueueSettings
from ari_recorder.storage.tables import InteractionRow

AGENTS = {
    "1001": AgentSettings(endpoint="Local/1001@agent-phone", permit_recordings=True, record_percent=100)
}


async def api(w: World, path: str) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with w.http.post(f"{w.api_url}/api/v1/{path}", headers=headers) as r:
        return r.status, await r.json()


async def capture() -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        async with world(Path(tmp), {"support": QueueSettings(agents=["1001"])}, AGENTS) as w:
            await w.control("calls", {"queue": "support", "caller": "15550900"})
            await asyncio.sleep(2.5)  # the announcement, the agent answers, recorded
            for verb in ("pause", "resume", "pause"):
                print(await api(w, f"agents/1001/recording/{verb}"))
                await asyncio.sleep(0.5)
            async with w.store.sessions() as session:
                (row,) = (await session.scalars(select(InteractionRow))).all()
            await w.control("hangup", {"customer": "15550900"})
            await asyncio.wait_for(w.reports.get(), 15)
    return row.state


if __name__ == "__main__":
    state = asyncio.run(capture())
    Path(sys.argv[1]).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
