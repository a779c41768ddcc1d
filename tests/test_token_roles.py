"""Tokens of every role: issued with their scope, verified as their grant, listed, revoked, audited;
`tokens issue --role`; agents' tokens of before migration 0010 are agents' still; and a
supervisor's scope, as a table."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from ari_recorder.domain.access import Role, Scope
from ari_recorder.storage.store import Store, upgrade
from ari_recorder.storage.tables import AuditRow
from ari_recorder.storage.tokens import (
    TokenRefused,
    issue_token,
    list_tokens,
    revoke_token,
    verify_grant,
    verify_token,
)
from tests.test_tokens import cli


async def test_a_supervisors_token_carries_its_teams_and_partitions(store: Store) -> None:
    issued = await issue_token(
        store, None, 30, role=Role.SUPERVISOR, teams=["blue", "green", "blue"], partitions=["emea"]
    )
    assert (issued.role, issued.agent, issued.teams, issued.partitions) == (
        Role.SUPERVISOR,
        None,
        ("blue", "green"),
        ("emea",),
    )
    grant = await verify_grant(store, issued.token)
    assert (grant.id, grant.role, grant.agent, grant.teams, grant.partitions) == (
        issued.id,
        Role.SUPERVISOR,
        None,
        ("blue", "green"),
        ("emea",),
    )
    with pytest.raises(TokenRefused) as refused:
        await verify_token(store, issued.token)  # the agent page's: agents' tokens only
    assert refused.value.reason == "not-agent"


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.COMPLIANCE, Role.CHAT_PLATFORM])
async def test_the_other_roles_tokens_have_no_agent_and_no_scope(store: Store, role: Role) -> None:
    issued = await issue_token(store, None, role=role)
    grant = await verify_grant(store, issued.token)
    assert (grant.role, grant.agent, grant.teams, grant.partitions) == (role, None, (), ())
    assert [row.id for row in await list_tokens(store, role=role)] == [issued.id]
    assert await list_tokens(store, role=Role.AGENT) == []


@pytest.mark.parametrize(
    ("agent", "role", "scope", "problem"),
    [
        (None, Role.AGENT, {}, "a token needs an agent"),
        ("1001", Role.SUPERVISOR, {"teams": ["blue"]}, "only an agent's"),
        (None, Role.SUPERVISOR, {}, "needs teams or partitions"),
        (None, Role.COMPLIANCE, {"partitions": ["emea"]}, "only a supervisor's"),
        (None, Role.SUPERVISOR, {"teams": ["bl ue"]}, "not team or partition names"),
    ],
)
async def test_a_token_whose_role_and_scope_do_not_fit_is_not_issued(
    store: Store, agent: str | None, role: Role, scope: dict[str, list[str]], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        await issue_token(store, agent, role=role, **scope)  # type: ignore[arg-type]
    assert await list_tokens(store) == []


async def test_a_supervisors_token_is_audited_with_its_scope(store: Store) -> None:
    issued = await issue_token(store, None, role=Role.SUPERVISOR, teams=["blue"], actor="admin")
    assert await revoke_token(store, issued.id, actor="admin")
    async with store.sessions() as session:
        rows = {row.action: row for row in (await session.scalars(select(AuditRow))).all()}
    issued_row, revoked_row = rows["token-issued"], rows["token-revoked"]
    assert issued_row.subject == revoked_row.subject == f"token/{issued.id}"
    assert issued_row.detail["role"] == "supervisor"
    assert (issued_row.detail["teams"], issued_row.detail["partitions"]) == (["blue"], [])
    assert revoked_row.detail["role"] == "supervisor"


def test_an_agents_token_of_before_the_roles_is_an_agents_still(tmp_path: Path) -> None:
    """Migration 0010: the tokens there were become role agent, and verify as before."""
    database = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        upgrade(connection, "0009")
        connection.execute(
            text(
                "INSERT INTO agent_tokens (id, agent, secret_sha256, created_at, expires_at) VALUES "
                "('0123456789ab', '1001', :digest, '2030-01-01 00:00:00', '2999-01-01 00:00:00')"
            ),
            {"digest": "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"},  # "secret"
        )
    engine.dispose()

    async def migrated() -> tuple[Role, str | None, str]:
        store = Store(f"sqlite+aiosqlite:///{database}")
        try:
            await store.migrate()
            grant = await verify_grant(store, "ari_0123456789ab.secret")
            return grant.role, grant.agent, await verify_token(store, "ari_0123456789ab.secret")
        finally:
            await store.aclose()

    assert asyncio.run(migrated()) == (Role.AGENT, "1001", "1001")


@pytest.mark.parametrize(
    ("scope", "team", "attached", "covered"),
    [
        (Scope.of(["blue"], []), "blue", None, True),
        (Scope.of(["blue"], []), "green", None, False),
        (Scope.of(["blue"], []), None, {"partitions": "blue"}, False),  # a team is no partition
        (Scope.of([], ["emea"]), "green", {"partitions": "apac;emea"}, True),
        (Scope.of([], ["emea"]), "green", {"partitions": "apac"}, False),
        (Scope.of([], ["emea"]), None, {}, False),
        (Scope(everything=True), None, None, True),
    ],
)
def test_a_scope_covers_its_teams_and_partitions(
    scope: Scope, team: str | None, attached: dict[str, str] | None, covered: bool
) -> None:
    assert scope.covers(team, attached) is covered


# ----- the CLI -----


def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "db.sqlite"}"\n\n'
        '[agents.1001]\nendpoint = "Local/1001@agent-phone"\nteam = "blue"\nname = "Ann"\n\n'
        '[agents.1002]\nendpoint = "Local/1002@agent-phone"\nteam = "green"\n'
    )
    return path


def issued_id(out: str) -> str:
    (found,) = set(re.findall(r"ari_([0-9a-f]{12})\.", out))
    return str(found)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in os.environ:
        if name.startswith("ARI_RECORDER_"):
            monkeypatch.delenv(name)
    return str(settings_file(tmp_path))


def test_the_tokens_command_issues_each_role_and_lists_role_and_scope(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    issue = ("tokens", "issue", "--config", config)
    code, out, err = cli(
        capsys, *issue, "--role", "supervisor", "--teams", "blue,green", "--partitions", "emea"
    )
    assert code == 0, err
    assert "role supervisor" in out and "scope: teams blue,green, partitions emea" in out
    supervisor = issued_id(out)
    ids = {"supervisor": supervisor}
    for role in ("compliance", "chat-platform", "administrator"):
        code, out, err = cli(capsys, *issue, "--role", role, "--days", "30")
        assert code == 0, err
        assert f"token for role {role}" in out
        ids[role] = issued_id(out)
    code, out, err = cli(capsys, *issue, "--agent", "1001")
    assert code == 0 and "token for agent 1001" in out, err
    ids["agent"] = issued_id(out)

    code, out, err = cli(capsys, "tokens", "list", "--config", config)
    assert code == 0, err
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert set(lines) == set(ids.values())
    assert lines[ids["supervisor"]].startswith(
        f"{supervisor}  supervisor  teams blue,green  partitions emea  "
    )
    assert lines[ids["compliance"]].startswith(f"{ids['compliance']}  compliance  created ")
    assert lines[ids["chat-platform"]].startswith(f"{ids['chat-platform']}  chat-platform  created ")
    assert lines[ids["agent"]].startswith(f"{ids['agent']}  agent 1001  created ")
    assert all(line.endswith("  active") for line in lines.values())
    code, out, _ = cli(capsys, "tokens", "list", "--role", "compliance", "--config", config)
    assert code == 0 and [line.split("  ")[0] for line in out.splitlines()] == [ids["compliance"]]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--role", "supervisor"), "a supervisor's token needs its scope: --teams and/or --partitions"),
        (("--role", "supervisor", "--teams", "purple"), "no agent is in team(s) purple (teams: blue, green)"),
        (("--role", "supervisor", "--partitions", "em ea"), "not team or partition names: 'em ea'"),
        (
            ("--role", "compliance", "--teams", "blue"),
            "--teams and --partitions are for a supervisor's token",
        ),
        (
            ("--role", "chat-platform", "--agent", "1001"),
            "--agent is for an agent's token, not a chat-platform's",
        ),
        (
            (
                "--role",
                "agent",
            ),
            "an agent's token names its agent: --agent <id> (or give another --role)",
        ),
        ((), "an agent's token names its agent: --agent <id> (or give another --role)"),
    ],
)
def test_issuing_a_role_with_what_does_not_fit_exits_2(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], problem: str
) -> None:
    code, out, err = cli(capsys, "tokens", "issue", *args, "--config", config)
    assert (code, out, err.strip()) == (2, "", f"ari-recorder: {problem}")
    assert not (tmp_path / "db.sqlite").exists(), "refused before the database is touched"
