"""`ari-recorder audit`: the trail as JSON lines or CSV, filtered, a page at a time, the read audited."""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ari_recorder.storage import audit
from ari_recorder.storage.store import Store
from tests.test_tokens import cli, no_env_settings, settings_file

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
__all__ = ["no_env_settings"]  # the fixture, used by name


def _seed(tmp_path: Path, n: int) -> None:
    async def seed() -> None:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        await store.migrate()
        async with store.sessions.begin() as session:
            for i in range(n):
                actor = "1001" if i % 2 else "admin"
                entry = audit.Entry(f"t/{i}", T0 + timedelta(minutes=i), "pause", f"rec-{i}", {"i": i}, actor)
                await audit.write(session, entry)
        await store.aclose()

    asyncio.run(seed())


def _trail(tmp_path: Path) -> list[audit.Entry]:
    async def read() -> list[audit.Entry]:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        rows = await store.audit("audit")
        await store.aclose()
        return [audit.Entry(r.id, r.at, r.action, r.subject, r.detail, r.actor) for r in rows]

    return asyncio.run(read())


@pytest.mark.usefixtures("no_env_settings")
def test_json_lines_filtered_newest_first_and_the_read_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(settings_file(tmp_path))
    _seed(tmp_path, 6)
    code, out, err = cli(
        capsys, "audit", "--actor", "1001", "--since", "2026-11-30T12:02:00", "--config", config
    )
    assert (code, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(x["subject"], x["detail"]) for x in lines] == [("rec-5", {"i": 5}), ("rec-3", {"i": 3})]
    assert set(lines[0]) == {"id", "at", "actor", "action", "subject", "interaction", "detail"}
    (read,) = _trail(tmp_path)
    assert (read.actor, read.action) == (f"cli:{getpass.getuser()}", "audit-read")
    assert read.detail["filters"]["actor"] == "1001"
    assert read.detail["filters"]["since"] == "2026-11-30T12:02:00+00:00", "no offset: UTC"


@pytest.mark.usefixtures("no_env_settings")
def test_csv_streams_pages_and_a_limit_gives_the_cursor_to_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ari_recorder.storage.audit_reads.EXPORT_PAGE", 2)  # several pages
    config = str(settings_file(tmp_path))
    _seed(tmp_path, 5)
    code, out, err = cli(capsys, "audit", "--action", "pause", "--csv", "--config", config)
    rows = list(csv.reader(io.StringIO(out)))
    assert (code, err) == (0, "")
    assert rows[0] == ["at", "actor", "action", "subject", "interaction", "id", "detail"]
    assert [(r[3], json.loads(r[6])) for r in rows[1:]] == [(f"rec-{i}", {"i": i}) for i in (4, 3, 2, 1, 0)]
    code, out, err = cli(capsys, "audit", "--action", "pause", "--limit", "3", "--config", config)
    assert [json.loads(line)["subject"] for line in out.splitlines()] == ["rec-4", "rec-3", "rec-2"]
    cursor = err.strip().rpartition(" ")[2]
    assert code == 0 and "--cursor" in err
    code, out, _ = cli(capsys, "audit", "--action", "pause", "--cursor", cursor, "--config", config)
    assert [json.loads(line)["subject"] for line in out.splitlines()] == ["rec-1", "rec-0"]
    code, _, err = cli(capsys, "audit", "--cursor", "nope", "--config", config)
    assert code == 2 and "--cursor" in err
    assert len(_trail(tmp_path)) == 3, "each read audited; the refused one read nothing"
