"""Hot-desking's store on SQLite and PostgreSQL (log in, out, move, one agent per endpoint, the
audit trail, the seed from the settings' default devices) and the `agents` command."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ari_recorder.domain.devices import endpoint_problem, on_endpoint
from ari_recorder.settings import AgentSettings, Settings, SettingsError
from ari_recorder.storage import logins
from ari_recorder.storage.store import Store
from tests.test_tokens import cli

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def where(found: dict[str, logins.Login]) -> dict[str, str | None]:
    return {agent: login.endpoint for agent, login in found.items()}


async def trail(store: Store, agent: str) -> list[tuple[str, str, object, object]]:
    rows = await store.audit(f"agent/{agent}")
    return [(r.action, r.actor, r.detail["before"], r.detail["after"]) for r in rows]


async def test_an_agent_logs_in_moves_and_logs_out_each_audited(store: Store) -> None:
    moved = await logins.login(store, "1001", "PJSIP/2041", by="1001", now=T0)
    assert moved == logins.Moved("1001", None, "PJSIP/2041")
    moved = await logins.login(store, "1001", "PJSIP/2042", by="admin", now=T0 + timedelta(minutes=1))
    assert moved == logins.Moved("1001", "PJSIP/2041", "PJSIP/2042")
    assert where(await logins.logins(store)) == {"1001": "PJSIP/2042"}
    moved = await logins.logout(store, "1001", by="cli", now=T0 + timedelta(minutes=2))
    assert moved == logins.Moved("1001", "PJSIP/2042", None)
    again = await logins.logout(store, "1001", by="cli", now=T0 + timedelta(minutes=3))
    assert again == logins.Moved("1001", None, None)  # nothing changed: nothing audited
    assert where(await logins.logins(store)) == {"1001": None}
    assert await trail(store, "1001") == [
        ("agent-login", "1001", None, "PJSIP/2041"),
        ("agent-login", "admin", "PJSIP/2041", "PJSIP/2042"),
        ("agent-logout", "cli", "PJSIP/2042", None),
    ]


async def test_an_endpoint_holds_one_agent_the_newcomer_displaces(store: Store) -> None:
    await logins.login(store, "1001", "Local/1001@agent-phone", by="1001", now=T0)
    await logins.login(store, "1003", "PJSIP/2050", by="1003", now=T0)
    await logins.logout(store, "1003", by="1003", now=T0)  # two agents nowhere: no clash of NULLs
    moved = await logins.login(
        store, "1002", "Local/1001@agent-phone", by="1002", now=T0 + timedelta(seconds=5)
    )
    assert moved == logins.Moved("1002", None, "Local/1001@agent-phone", displaced="1001")
    assert where(await logins.logins(store)) == {"1001": None, "1002": "Local/1001@agent-phone", "1003": None}
    assert await trail(store, "1001") == [
        ("agent-login", "1001", None, "Local/1001@agent-phone"),
        ("agent-logout", "1002", "Local/1001@agent-phone", None),  # who displaced it
    ]
    # Logging in again where one is: nothing changes, nobody displaced.
    same = await logins.login(store, "1002", "Local/1001@agent-phone", by="1002")
    assert same == logins.Moved("1002", "Local/1001@agent-phone", "Local/1001@agent-phone")
    assert len(await trail(store, "1002")) == 1


async def test_the_first_start_logs_agents_in_on_their_default_devices_once(store: Store) -> None:
    settings = Settings(
        agents={
            "1001": AgentSettings(endpoint="Local/1001@agent-phone"),
            "1002": AgentSettings(endpoint="Local/1002@agent-phone"),
            "1003": AgentSettings(),  # always logs in
        }
    )
    await store.seed(settings)
    assert where(await logins.logins(store)) == {
        "1001": "Local/1001@agent-phone",
        "1002": "Local/1002@agent-phone",
    }
    await logins.logout(store, "1002", by="1002")
    await logins.login(store, "1003", "Local/1001@agent-phone", by="1003")
    await store.seed(settings)  # a restart: what agents did since stays
    assert where(await logins.logins(store)) == {"1001": None, "1002": None, "1003": "Local/1001@agent-phone"}
    assert [r.actor for r in await store.audit("agent/1001")] == ["seed", "1003"]


@pytest.mark.parametrize(
    "endpoint",
    ["PJSIP/2041", "SIP/desk-7", "IAX2/branch", "PJSIP/2041@desk-phones", "Local/1001@agent-phone"],
)
def test_endpoints_devices_can_be(endpoint: str) -> None:
    assert endpoint_problem(endpoint) is None


@pytest.mark.parametrize(
    "endpoint", ["", "2041", "PJSIP/", "Local/1001", "Zap/1", "PJSIP/20 41", "PJSIP/2041\n", "pjsip/2041"]
)
def test_endpoints_no_device_can_be(endpoint: str) -> None:
    problem = endpoint_problem(endpoint)
    assert problem is not None and "PJSIP/<name>" in problem


def test_a_channel_is_on_the_endpoint_its_name_begins_with() -> None:
    assert on_endpoint("PJSIP/2041-00000005", "PJSIP/2041")
    assert on_endpoint("Local/1001@agent-phone-00000002;1", "Local/1001@agent-phone")
    assert not on_endpoint("PJSIP/20410-00000005", "PJSIP/2041")
    assert not on_endpoint("PJSIP/2041-00000005", "")


def test_the_settings_refuse_a_default_device_no_device_can_be() -> None:
    settings = Settings(agents={"1001": AgentSettings(endpoint="2041")})
    with pytest.raises(SettingsError, match=r"agents\.1001\.endpoint: '2041' is not an endpoint"):
        settings.validate()


# ----- the CLI -----


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in os.environ:
        if name.startswith("ARI_RECORDER_"):
            monkeypatch.delenv(name)
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "db.sqlite"}"\n\n'
        '[agents.1001]\nendpoint = "Local/1001@agent-phone"\n\n'
        "[agents.1002]\n"
    )
    return str(path)


def test_the_agents_command_logs_in_out_and_tells_where(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "agents", "where", "--config", config)
    assert code == 0, err
    assert out.splitlines() == [
        "1001  nowhere  (default Local/1001@agent-phone, logged in at the next start)",
        "1002  nowhere",
    ]
    code, out, err = cli(
        capsys, "agents", "login", "1002", "--endpoint", "Local/1001@agent-phone", "--config", config
    )
    assert (code, out) == (0, "agent 1002 logged in on Local/1001@agent-phone\n"), err
    code, out, _ = cli(
        capsys, "agents", "login", "1001", "--endpoint", "Local/1001@agent-phone", "--config", config
    )
    assert out.splitlines() == [
        "agent 1002 logged out of Local/1001@agent-phone (displaced by 1001)",
        "agent 1001 logged in on Local/1001@agent-phone",
    ]
    code, out, _ = cli(capsys, "agents", "logout", "1001", "--config", config)
    assert out == "agent 1001 logged out of Local/1001@agent-phone\n"
    code, out, _ = cli(capsys, "agents", "where", "--config", config)
    assert [line.split("  ")[:2] for line in out.splitlines()] == [["1001", "nowhere"], ["1002", "nowhere"]]


def test_the_agents_command_refuses_unknown_agents_and_endpoints(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "agents", "login", "1009", "--endpoint", "PJSIP/2041", "--config", config)
    assert code == 2 and "no agent '1009'" in err
    code, _, err = cli(capsys, "agents", "login", "1001", "--endpoint", "2041", "--config", config)
    assert code == 2 and "--endpoint: '2041' is not an endpoint" in err
