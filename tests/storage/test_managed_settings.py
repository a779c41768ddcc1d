"""The managed settings in the database (storage/settings_store.py) through their one service
(engine/settings_admin.py), on SQLite and PostgreSQL: seeded from the file at the first start
only, changed as a whole or not at all, versions and conflicts, the audit trail, and a second
holder of the settings (another controller) seeing each change."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from ari_recorder.engine.live_settings import LiveSettings, start
from ari_recorder.engine.managed import InvalidSettings
from ari_recorder.engine.settings_admin import SettingsAdmin, VersionRequired
from ari_recorder.settings import AgentSettings, CompanySettings, QueueSettings, RuleSettings, Settings
from ari_recorder.storage import settings_store
from ari_recorder.storage.audit import trail
from ari_recorder.storage.settings_store import NoSuchSetting, VersionConflict
from ari_recorder.storage.store import Store
from tests.support.waiting import until

FILE = Settings(
    agents={
        "1001": AgentSettings(endpoint="PJSIP/1001", permit_recordings=True, record_percent=100, team="blue"),
        "1002": AgentSettings(endpoint="PJSIP/1002"),
    },
    queues={"support": QueueSettings(agents=["1001", "1002"], record_percent=50)},
    company=CompanySettings(rules=[RuleSettings(name="vip", percent=100, match={"queue": ["support"]})]),
)


async def admin_of(store: Store, file: Settings = FILE) -> SettingsAdmin:
    return SettingsAdmin(store, await start(store, file))


async def test_the_file_seeds_the_database_at_the_first_start_only(store: Store) -> None:
    live = await start(store, FILE)
    assert live.current.agents == FILE.agents and live.current.queues == FILE.queues
    assert live.current.company == FILE.company and live.revision == 1
    changed = msgspec.structs.replace(FILE, agents={**FILE.agents, "1003": AgentSettings()})
    again = await start(store, changed)  # a later start with another file: the database's stand
    assert set(again.current.agents) == {"1001", "1002"} and again.revision == 1
    (seeded,) = await trail(store, action="settings-seeded")
    assert "agent/1001" in seeded.detail["objects"]


async def test_a_change_round_trips_with_its_version_and_audit_row(store: Store) -> None:
    admin = await admin_of(store)
    before = await admin.get("agent", "1001")
    assert before.version == 1 and before.document["permit_recordings"] is True
    document = {**before.document, "permit_recordings": False, "record_percent": 20}
    stored, created = await admin.put(
        "agent", "1001", document, actor="admin", expected=1, require_version=True, reason="withdrawn"
    )
    assert (stored.version, created) == (2, False)
    assert admin.live.current.agents["1001"].permit_recordings is False, "in force here at once"
    assert (await admin.get("agent", "1001")).document == document
    (row,) = await trail(store, subject="settings/agent/1001")
    assert (row.actor, row.action) == ("admin", "settings-changed")
    assert row.detail["before"]["permit_recordings"] is True and row.detail["after"] == document
    assert (row.detail["version_before"], row.detail["version_after"], row.detail["reason"]) == (
        1,
        2,
        "withdrawn",
    )
    assert (await admin.whole()).revision == 2
    same, _ = await admin.put("agent", "1001", document, actor="admin", expected=2)
    assert same.version == 2 and (await admin.whole()).revision == 2, "the same again: no change"
    assert len(await trail(store, subject="settings/agent/1001")) == 1


async def test_a_new_agent_is_created_without_a_version_an_existing_one_is_not_changed_without(
    store: Store,
) -> None:
    admin = await admin_of(store)
    stored, created = await admin.put("agent", "2001", {"name": "Bo"}, actor="admin", require_version=True)
    assert (stored.version, created, stored.document["endpoint"]) == (1, True, "")
    with pytest.raises(VersionRequired):
        await admin.put("agent", "2001", {"name": "Bob"}, actor="admin", require_version=True)
    with pytest.raises(VersionRequired):
        await admin.delete("agent", "2001", actor="admin", require_version=True)
    assert (await admin.get("agent", "2001")).document["name"] == "Bo"


async def test_every_wrong_field_is_named_and_nothing_is_written(store: Store) -> None:
    admin = await admin_of(store)
    queue = (await admin.get("queue", "support")).document
    wrong = {
        **queue,
        "agents": ["1001", "9999"],
        "record_percent": 140,
        "announcement": "bad sound!",
        "nope": 1,
    }
    with pytest.raises(InvalidSettings) as refused:
        await admin.put("queue", "support", wrong, actor="admin", expected=1)
    fields = {p["field"] for p in refused.value.detail["problems"]}
    assert {"queues.support.record_percent", "queues.support.announcement", "queues.support.nope"} <= fields
    # The whole: a queue naming an agent that does not exist (its fields right, the rest not).
    with pytest.raises(InvalidSettings) as refused:
        await admin.put("queue", "support", {**queue, "agents": ["1001", "9999"]}, actor="admin", expected=1)
    assert refused.value.problems == ["queues.support.agents: unknown agent '9999'"]
    with pytest.raises(InvalidSettings, match=r"agents\.1002\.endpoint"):
        await admin.put("agent", "1002", {"endpoint": "no device"}, actor="admin", expected=1)
    assert (await admin.get("queue", "support")).version == 1
    assert (await admin.whole()).revision == 1, "nothing written, not even the revision"
    assert await trail(store, action="settings-changed") == []


async def test_an_agent_a_queue_names_is_not_deleted(store: Store) -> None:
    admin = await admin_of(store)
    with pytest.raises(InvalidSettings) as refused:
        await admin.delete("agent", "1001", actor="admin", expected=1)
    assert "queues.support.agents: unknown agent '1001'" in refused.value.problems
    with pytest.raises(InvalidSettings) as refused:
        await admin.delete("queue", "support", actor="admin", expected=1)
    assert refused.value.problems == ["company.rules[0] (vip).match.queue: unknown queue 'support'"]
    await admin.get("agent", "1001")  # still there
    with pytest.raises(NoSuchSetting):
        await admin.delete("agent", "7777", actor="admin")


async def test_the_second_of_two_concurrent_edits_conflicts_and_changes_nothing(store: Store) -> None:
    first, second = await admin_of(store), SettingsAdmin(store, LiveSettings(FILE))
    read = await first.get("agent", "1002")
    edits = [
        first.put("agent", "1002", {**read.document, "record_percent": 10}, actor="a", expected=read.version),
        second.put(
            "agent", "1002", {**read.document, "record_percent": 90}, actor="b", expected=read.version
        ),
    ]
    results = await asyncio.gather(*edits, return_exceptions=True)
    assert sum(isinstance(r, VersionConflict) for r in results) == 1, results
    winner = next(r for r in results if not isinstance(r, BaseException))
    assert isinstance(winner, tuple)
    now = await first.get("agent", "1002")
    assert now.version == 2 and now.document["record_percent"] == winner[0].document["record_percent"]
    assert len(await trail(store, subject="settings/agent/1002")) == 1


async def test_another_holder_sees_a_change_within_its_poll(store: Store) -> None:
    admin = await admin_of(store)
    other = await start(store, FILE)  # another controller's, polling
    polling = asyncio.create_task(other.run(store, every=0.1))
    try:
        company = (await admin.get("company")).document
        await admin.put("company", None, {**company, "compliance_all": True}, actor="admin", expected=1)
        await until(lambda: other.current.company.compliance_all, what="the change seen by the other holder")
        assert other.current.company.rules == FILE.company.rules, "the rules are an object of their own"
    finally:
        polling.cancel()


async def test_import_replaces_the_managed_settings_with_the_files(store: Store) -> None:
    admin = await admin_of(store)
    file = msgspec.structs.replace(
        FILE,
        agents={"1001": FILE.agents["1001"], "3001": AgentSettings(permit_recordings=True)},
        queues={"support": QueueSettings(agents=["3001"])},
        company=CompanySettings(),
    )
    applied = await admin.import_file(file, actor="cli", reason="back to the file")
    assert set(applied.changed) == {
        ("agent", "1002"),
        ("agent", "3001"),
        ("queue", "support"),
        ("rules", "rules"),
    }
    assert set(admin.live.current.agents) == {"1001", "3001"}
    assert (await settings_store.load(store)) is not None
    actions = {row.action for row in await trail(store)}
    assert {"settings-imported", "settings-deleted"} <= actions
