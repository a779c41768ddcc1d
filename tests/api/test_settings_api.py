"""/api/v1/settings over a real socket against a controller on the simulator (SQLite, and
PostgreSQL): round trips with ETag and If-Match, 428 without it, 409 on a concurrent edit, 422
naming every wrong field with the database unchanged, the audit trail's before and after, the
privileges; and a change in force for the next call, never for a call already decided."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ari_recorder.domain.access import Role
from ari_recorder.settings import DatabaseSettings, QueueSettings
from ari_recorder.storage import settings_store
from ari_recorder.storage.audit import trail
from ari_recorder.storage.tokens import issue_token
from tests.support.stores import postgres_database
from tests.support.world import ADMIN_TOKEN, World, connected, world

QUEUES = {"support": QueueSettings(agents=["1001"]), "sales": QueueSettings(agents=["1002", "1003"])}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[DatabaseSettings | None]:
    if kind == "postgresql":
        async with postgres_database() as found:
            yield found
    else:
        yield None  # the world's SQLite


async def ask(
    w: World, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    kwargs: dict[str, Any] = {"headers": {**ADMIN, **(headers or {})}}
    if body is not None:
        kwargs["json"] = body
    async with w.http.request(method, f"{w.api_url}/api/v1/settings{path}", **kwargs) as r:
        got = await r.json() if r.content_type == "application/json" else None
        return r.status, got, {k.lower(): v for k, v in r.headers.items()}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_settings_round_trip_with_etags(tmp_path: Path, backend: str) -> None:
    async with database(backend, tmp_path) as db, world(tmp_path, QUEUES, database=db) as w:
        status, whole, _ = await ask(w, "GET", "")
        assert status == 200 and whole["revision"] == 1 and set(whole["agents"]) == {"1001", "1002", "1003"}
        assert whole["queues"]["support"]["settings"]["agents"] == ["1001"]
        status, agent, headers = await ask(w, "GET", "/agents/1002")
        assert (status, headers["etag"], agent["version"]) == (200, '"1"', 1)
        document = {**agent["settings"], "record_percent": 30, "name": "Bea"}

        status, body, _ = await ask(w, "PUT", "/agents/1002", {"settings": document})
        assert (status, body["id"]) == (428, "if-match-required"), "an existing object: If-Match required"
        status, body, headers = await ask(
            w, "PUT", "/agents/1002", {"settings": document}, {"If-Match": '"1"', "X-Reason": "new name"}
        )
        assert (status, headers["etag"], body["settings"]["name"], body["changed_by"]) == (
            200,
            '"2"',
            "Bea",
            "admin",
        )
        status, body, _ = await ask(
            w, "PUT", "/agents/1002", {"settings": {**document, "name": "X"}}, {"If-Match": '"1"'}
        )
        assert (status, body["id"], body["detail"]["version"]) == (409, "version-conflict", 2), (
            "a stale version"
        )
        assert w.controller is not None and w.controller.settings.agents["1002"].name == "Bea"
        status, body, _ = await ask(w, "DELETE", "/agents/1002", headers={"If-Match": 'W/"²"'})
        assert (status, body["id"]) == (409, "version-conflict"), "an If-Match that is no version of ours"

        status, body, _ = await ask(w, "PUT", "/agents/2001", {"settings": {"permit_recordings": True}})
        assert (status, body["version"]) == (201, 1), "a new agent: no If-Match needed"
        status, body, _ = await ask(w, "DELETE", "/agents/2001", headers={"If-Match": '"1"'})
        assert (status, body) == (204, None)
        status, body, _ = await ask(w, "GET", "/agents/2001")
        assert (status, body["id"]) == (404, "no-such-setting")

        status, _, headers = await ask(w, "GET", "/rules")
        new_rules = {"rules": [{"name": "vip", "percent": 100, "match": {"queue": ["sales"]}}]}
        status, body, _ = await ask(
            w, "PUT", "/rules", {"settings": new_rules}, {"If-Match": headers["etag"]}
        )
        assert status == 200 and w.controller.settings.company.rules[0].match == {"queue": ["sales"]}
        status, company, headers = await ask(w, "GET", "/company")
        changed = {**company["settings"], "max_pause_seconds": 60}
        status, body, _ = await ask(
            w, "PUT", "/company", {"settings": changed, "reason": "short"}, {"If-Match": "*"}
        )
        assert status == 200 and w.controller.settings.company.max_pause_seconds == 60

        rows = {row.subject: row for row in await trail(w.store) if row.action.startswith("settings-")}
        row = rows["settings/agent/1002"]
        assert row.actor == "admin" and row.detail["reason"] == "new name"
        assert (row.detail["before"]["name"], row.detail["after"]["name"]) == (None, "Bea")
        assert rows["settings/company/company"].detail["reason"] == "short"
        assert rows["settings/agent/2001"].action == "settings-deleted"


async def test_a_wrong_change_names_every_field_and_changes_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        before = await settings_store.load(w.store)
        wrong = {
            "agents": ["1001", "nobody"],
            "record_percent": 101,
            "announcement": "no such/../sound name!",
            "strategy": "random",
            "colour": "blue",
        }
        status, body, _ = await ask(w, "PUT", "/queues/support", {"settings": wrong}, {"If-Match": '"1"'})
        assert (status, body["id"]) == (422, "invalid-settings")
        fields = {p["field"] for p in body["detail"]["problems"]}
        assert fields == {
            "queues.support.record_percent",
            "queues.support.announcement",
            "queues.support.strategy",
            "queues.support.colour",
        }, body
        status, body, _ = await ask(
            w, "PUT", "/queues/support", {"settings": {"agents": ["1001", "nobody"]}}, {"If-Match": '"1"'}
        )
        assert (status, body["detail"]["problems"]) == (
            422,
            [{"field": "queues.support.agents", "problem": "unknown agent 'nobody'"}],
        )
        status, body, _ = await ask(w, "DELETE", "/agents/1001", headers={"If-Match": '"1"'})
        assert (status, body["detail"]["problems"][0]["field"]) == (422, "queues.support.agents"), (
            "a queue names it"
        )
        status, body, _ = await ask(
            w, "PUT", "/agents/1001", {"settings": {"endpoint": "phone 7"}}, {"If-Match": '"1"'}
        )
        assert (status, body["detail"]["problems"][0]["field"]) == (422, "agents.1001.endpoint")
        assert await settings_store.load(w.store) == before, "nothing written"


async def test_a_notice_asterisk_does_not_have_is_refused_as_a_wrong_value(tmp_path: Path) -> None:
    """Asked of Asterisk (GET /sounds/{id}) before anything is written: a sound it lacks, or has
    in another language than the one it is named for, is a 422 naming the field."""
    async with world(tmp_path, QUEUES) as w:
        before = await settings_store.load(w.store)
        for settings, problem in (
            (
                {"agents": ["1001"], "announcement": "sim/no-such-notice"},
                "Asterisk has no sound 'sim/no-such-notice' (GET /sounds/sim/no-such-notice: 404)",
            ),
            (
                {"agents": ["1001"], "announcements": {"fr": "sim/announcement"}},
                "Asterisk has the sound 'sim/announcement' in en, not in 'fr'",
            ),
        ):
            status, body, _ = await ask(
                w, "PUT", "/queues/support", {"settings": settings}, {"If-Match": '"1"'}
            )
            assert (status, body["id"]) == (422, "invalid-settings"), body
            [found] = body["detail"]["problems"]
            assert found["field"].startswith("queues.support.announcement") and found["problem"] == problem
        assert await settings_store.load(w.store) == before, "nothing written"
        french = {"agents": ["1001"], "announcements": {"fr": "sim/annonce"}}  # in fr: taken
        status, body, _ = await ask(w, "PUT", "/queues/support", {"settings": french}, {"If-Match": '"1"'})
        assert status == 200, body


async def test_compliance_reads_the_settings_and_changes_none(tmp_path: Path) -> None:
    async with world(tmp_path, QUEUES) as w:
        token = (await issue_token(w.store, None, role=Role.COMPLIANCE)).token
        status, _, _ = await ask(w, "GET", "/agents/1001", headers={"Authorization": f"Bearer {token}"})
        assert status == 200
        status, body, _ = await ask(
            w,
            "PUT",
            "/agents/1001",
            {"settings": {}},
            {"Authorization": f"Bearer {token}", "If-Match": '"1"'},
        )
        assert (status, body["id"]) == (403, "forbidden-role")


async def test_consent_withdrawn_holds_for_the_next_call_not_the_one_decided(tmp_path: Path) -> None:
    async with world(tmp_path, {"support": QueueSettings(agents=["1001"])}) as w:
        await w.control("calls", {"queue": "support", "caller": "15550801"})
        first = await connected(w, "1001")
        assert first.segment is not None and first.segment.recording is not None
        status, agent, headers = await ask(w, "GET", "/agents/1001")
        withdrawn = {**agent["settings"], "permit_recordings": False}
        status, _, _ = await ask(
            w, "PUT", "/agents/1001", {"settings": withdrawn}, {"If-Match": headers["etag"]}
        )
        assert status == 200
        await asyncio.sleep(0.5)  # the scenario: the call goes on after the change
        await w.control("hangup", {"customer": "15550801"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (segment,) = report.call.segments
        assert segment.recording is not None and segment.decision.record, "decided before: kept"

        await w.control("calls", {"queue": "support", "caller": "15550802"})
        second = await connected(w, "1001")
        await w.control("hangup", {"customer": "15550802"})
        report = await asyncio.wait_for(w.reports.get(), 15)
        (segment,) = report.call.segments
        assert second.id != first.id
        assert segment.recording is None and not segment.decision.record, "the next call: no consent"
