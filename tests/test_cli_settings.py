"""`ari-recorder settings`: show, set, delete and import through the service the API uses, on SQLite
and PostgreSQL; and a running controller taking a change the CLI made for its next call."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ari_recorder.settings import DatabaseSettings, QueueSettings
from ari_recorder.storage.audit import trail
from ari_recorder.storage.store import Store
from tests.support.stores import postgres_database
from tests.support.waiting import until
from tests.support.world import connected, world
from tests.test_tokens import cli, no_env_settings

__all__ = ["no_env_settings"]  # the fixture, used by name

SETTINGS = """
[agents.1001]
endpoint = "Local/1001@agent-phone"
permit_recordings = true
[agents.1002]
endpoint = "Local/1002@agent-phone"
[queues.support]
agents = ["1001", "1002"]
record_percent = 50
"""


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[DatabaseSettings]:
    if kind == "postgresql":
        async with postgres_database() as found:
            yield found
    else:
        yield DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")


def config(tmp_path: Path, db: DatabaseSettings, body: str = SETTINGS, name: str = "settings.toml") -> str:
    path = tmp_path / name
    schema = f'schema = "{db.schema}"\n' if db.schema else ""
    path.write_text(f'[database]\nurl = "{db.url}"\n{schema}{body}')
    return str(path)


@pytest.mark.usefixtures("no_env_settings")
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_show_set_delete_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    async with database(backend, tmp_path) as db:
        conf = config(tmp_path, db)

        def run(*args: str) -> tuple[int, str, str]:
            return cli(capsys, "settings", *args, "--config", conf)

        code, out, err = await asyncio.to_thread(run, "show")
        assert code == 0, err
        whole = json.loads(out)
        assert whole["revision"] == 1 and whole["queues"]["support"]["settings"]["record_percent"] == 50
        code, out, _ = await asyncio.to_thread(run, "show", "agents/1001")
        shown = json.loads(out)
        assert shown["version"] == 1 and shown["settings"]["permit_recordings"] is True

        changed = tmp_path / "agent.json"
        changed.write_text(json.dumps({**shown, "settings": {**shown["settings"], "record_percent": 25}}))
        code, out, err = await asyncio.to_thread(
            run,
            "set",
            "agents/1001",
            str(changed),
            "--if-version",
            "1",
            "--reason",
            "ticket 7",
            "--by",
            "ops",
        )
        assert code == 0 and json.loads(out)["settings"]["record_percent"] == 25, err
        code, _, err = await asyncio.to_thread(run, "set", "agents/1001", str(changed), "--if-version", "1")
        assert code == 1 and "at version 2, not 1" in err, "a stale version: refused"

        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps({"agents": ["1001", "ghost"], "record_percent": -1, "ring_timeout": 0}))
        code, _, err = await asyncio.to_thread(run, "set", "queues/support", str(wrong))
        assert code == 1
        assert "queues.support.record_percent" in err and "queues.support.ring_timeout" in err, err
        code, _, err = await asyncio.to_thread(run, "delete", "agents/1002", "--reason", "left")
        assert code == 1 and "queues.support.agents: unknown agent '1002'" in err, "a queue names it"

        other = config(tmp_path, db, "[agents.3001]\npermit_recordings = true\n", name="other.toml")
        code, out, err = await asyncio.to_thread(run, "import", other, "--reason", "reset")
        assert code == 0, err
        assert (
            "agent 1001: deleted" in out and "agent 3001: created" in out and "queue support: deleted" in out
        )
        code, out, _ = await asyncio.to_thread(run, "show")
        assert set(json.loads(out)["agents"]) == {"3001"} and json.loads(out)["queues"] == {}

        store = Store(db.url, db.schema or None)
        try:
            rows = await trail(store, subject="settings/agent/1001")
        finally:
            await store.aclose()
        assert [r.action for r in rows] == ["settings-changed", "settings-deleted"]
        assert rows[0].actor == "cli/ops" and rows[0].detail["reason"] == "ticket 7"
        assert (rows[0].detail["before"]["record_percent"], rows[0].detail["after"]["record_percent"]) == (
            None,
            25,
        )
        assert rows[1].detail["reason"] == "reset" and rows[1].detail["after"] is None


@pytest.mark.usefixtures("no_env_settings")
async def test_a_running_controller_takes_the_clis_change_for_its_next_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}) as w:
        db = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        conf = config(tmp_path, db, "")
        controller = w.controller
        assert controller is not None and controller.settings.agents["1001"].permit_recordings
        agent = tmp_path / "agent.json"
        agent.write_text(json.dumps({"endpoint": "Local/1001@agent-phone", "permit_recordings": False}))
        code, _, err = await asyncio.to_thread(
            cli,
            capsys,
            "settings",
            "set",
            "agents/1001",
            str(agent),
            "--config",
            conf,
            "--reason",
            "withdrawn",
        )
        assert code == 0, err
        await until(
            lambda: not controller.settings.agents["1001"].permit_recordings,
            what="the change seen by the controller",
        )
        await w.control("calls", {"queue": "support", "caller": "15550901"})
        await connected(w, "1001")
        await w.control("hangup", {"customer": "15550901"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (segment,) = report.call.segments
        assert segment.recording is None and not segment.decision.record
