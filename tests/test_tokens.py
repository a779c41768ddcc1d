"""Agents' bearer tokens: issued once, checked by hash, revoked for good, audited; and the CLI.
(The other roles' tokens: tests/test_token_roles.py.)"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ari_recorder.cli import main
from ari_recorder.storage.store import Store
from ari_recorder.storage.tables import AgentTokenRow, AuditRow
from ari_recorder.storage.tokens import (
    TokenRefused,
    issue_token,
    list_tokens,
    revoke_token,
    verify_token,
)
from ari_simulator.server import free_port

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def refusal(store: Store, presented: str, now: datetime | None = None) -> TokenRefused:
    with pytest.raises(TokenRefused) as refused:
        await verify_token(store, presented, now)
    return refused.value


async def test_an_issued_token_verifies_as_its_agent(store: Store) -> None:
    issued = await issue_token(store, "1001", days=30)
    assert re.fullmatch(r"[0-9a-f]{12}", issued.id)
    assert issued.token.startswith(f"ari_{issued.id}.") and len(issued.token) > len("ari_.") + 12 + 40
    assert issued.agent == "1001"
    assert issued.expires_at.tzinfo is not None
    assert timedelta(days=29, hours=23) < issued.expires_at - datetime.now(UTC) <= timedelta(days=30)
    assert await verify_token(store, issued.token) == "1001"


async def test_a_wrong_secret_is_unknown_as_a_missing_id_is(store: Store) -> None:
    issued = await issue_token(store, "1001")
    secret = issued.token.split(".", 1)[1]
    wrong = f"ari_{issued.id}.{'A' if secret[0] != 'A' else 'B'}{secret[1:]}"
    refused = await refusal(store, wrong)
    assert refused.reason == "unknown"
    assert secret[1:] not in str(refused)
    assert (await refusal(store, f"ari_{'0' * 12}.{secret}")).reason == "unknown"


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "ari_",
        "Bearer ari_0123456789ab.secret",
        "ari_0123456789ab",
        "ari_0123456789ab.",
        "ari_0123456789AB.secret",
        "ari_0123456789a.secret",
        "ari_0123456789abc.secret",
        "xri_0123456789ab.secret",
        "ari_0123456789ab.sec ret",
        "ari_0123456789ab.secret\n",
        " ari_0123456789ab.secret",
        "ari_0123456789ab.secret.more",
    ],
)
async def test_anything_but_ari_id_dot_secret_is_malformed(store: Store, presented: str) -> None:
    refused = await refusal(store, presented)
    assert refused.reason == "malformed"
    assert str(refused) == "not a token of ours (expected ari_<id>.<secret>)"  # never what was presented


async def test_a_token_past_its_expiry_is_expired(store: Store) -> None:
    issued = await issue_token(store, "1001", days=1, now=T0)
    assert await verify_token(store, issued.token, T0 + timedelta(hours=23)) == "1001"
    refused = await refusal(store, issued.token, T0 + timedelta(days=1))
    assert refused.reason == "expired"
    secret = issued.token.split(".", 1)[1]
    assert secret not in str(refused)
    # A naive moment is UTC, as SQLite hands them back.
    assert (await refusal(store, issued.token, datetime(2030, 1, 3))).reason == "expired"
    # Issued a year ago for 90 days: refused today.
    old = await issue_token(store, "1001", now=datetime.now(UTC) - timedelta(days=365))
    assert (await refusal(store, old.token)).reason == "expired"


async def test_a_revoked_token_is_refused_and_revoking_twice_keeps_the_first_time(store: Store) -> None:
    issued = await issue_token(store, "1002", now=T0)
    other = await issue_token(store, "1002", now=T0)
    assert await revoke_token(store, issued.id, actor="admin", now=T0 + timedelta(hours=1)) is True
    refused = await refusal(store, issued.token, T0 + timedelta(hours=2))
    assert refused.reason == "revoked"
    assert issued.token.split(".", 1)[1] not in str(refused)
    assert await revoke_token(store, issued.id, now=T0 + timedelta(hours=3)) is True
    [row] = [r for r in await list_tokens(store) if r.id == issued.id]
    assert row.revoked_at is not None
    assert row.revoked_at.replace(tzinfo=row.revoked_at.tzinfo or UTC) == T0 + timedelta(hours=1)
    assert await verify_token(store, other.token, T0 + timedelta(hours=2)) == "1002"  # the other one
    # Revoked beats expired: the most telling reason.
    assert (await refusal(store, issued.token, T0 + timedelta(days=400))).reason == "revoked"


async def test_revoking_an_unknown_token_says_false(store: Store) -> None:
    assert await revoke_token(store, "0123456789ab") is False
    assert await revoke_token(store, "not even an id") is False
    async with store.sessions() as session:
        assert (await session.scalars(select(AuditRow))).all() == []


@pytest.mark.parametrize("days", [0, -1, 3651])
async def test_days_out_of_range_are_refused(store: Store, days: int) -> None:
    with pytest.raises(ValueError, match="1 to 3650 days"):
        await issue_token(store, "1001", days)
    assert await list_tokens(store) == []


async def test_the_database_never_holds_the_secret(store: Store) -> None:
    issued = await issue_token(store, "1001")
    await revoke_token(store, issued.id)
    secret = issued.token.split(".", 1)[1]
    async with store.engine.connect() as connection:
        tokens = repr((await connection.execute(select(AgentTokenRow.__table__))).all())
        audit = repr((await connection.execute(select(AuditRow.__table__))).all())
    assert issued.id in tokens and issued.id in audit
    for text in (tokens, audit):
        assert secret not in text and issued.token not in text
    [row] = await list_tokens(store)
    assert re.fullmatch(r"[0-9a-f]{64}", row.secret_sha256)
    assert row.secret_sha256 not in audit, "the hash stays out of the audit trail"


async def test_issuing_and_revoking_are_audited(store: Store) -> None:
    issued = await issue_token(store, "1001", days=10, actor="admin", now=T0)
    await revoke_token(store, issued.id, actor="supervisor", now=T0 + timedelta(days=1))
    await revoke_token(store, issued.id, actor="someone-else", now=T0 + timedelta(days=2))
    async with store.sessions() as session:
        audit = {row.id: row for row in (await session.scalars(select(AuditRow))).all()}
    assert set(audit) == {f"token/{issued.id}/issued", f"token/{issued.id}/revoked"}
    expires = (T0 + timedelta(days=10)).isoformat()
    issued_row, revoked_row = audit[f"token/{issued.id}/issued"], audit[f"token/{issued.id}/revoked"]
    facts = (issued_row.actor, issued_row.action, issued_row.subject)
    assert facts == ("admin", "token-issued", "agent/1001")
    assert issued_row.detail == {"token": issued.id, "expires_at": expires, "role": "agent"}
    assert issued_row.at.replace(tzinfo=issued_row.at.tzinfo or UTC) == T0
    facts = (revoked_row.actor, revoked_row.action, revoked_row.subject)
    assert facts == ("supervisor", "token-revoked", "agent/1001")
    assert revoked_row.detail == {"token": issued.id, "expires_at": expires, "role": "agent"}
    assert revoked_row.at.replace(tzinfo=revoked_row.at.tzinfo or UTC) == T0 + timedelta(days=1)


async def test_tokens_are_listed_newest_first(store: Store) -> None:
    first = await issue_token(store, "1001", now=T0)
    second = await issue_token(store, "1002", now=T0 + timedelta(minutes=1))
    third = await issue_token(store, "1001", now=T0 + timedelta(minutes=2))
    assert [row.id for row in await list_tokens(store)] == [third.id, second.id, first.id]
    assert [row.id for row in await list_tokens(store, "1001")] == [third.id, first.id]
    assert await list_tokens(store, "1003") == []


# ----- the CLI -----


def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "db.sqlite"}"\n\n'
        '[agents.1001]\nendpoint = "Local/1001@agent-phone"\n\n'
        '[agents.1002]\nendpoint = "Local/1002@agent-phone"\n'
    )
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the settings the test gives: none inherited from whoever runs the tests."""
    for name in os.environ:
        if name.startswith("ARI_RECORDER_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_env_settings")
def test_the_tokens_command_issues_lists_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(settings_file(tmp_path))
    code, out, err = cli(capsys, "tokens", "issue", "--agent", "1001", "--days", "7", "--config", config)
    assert code == 0, err
    [token] = re.findall(r"ari_[0-9a-f]{12}\.[A-Za-z0-9_-]+", out.split("Authorization")[0])
    token_id = token[4:16]
    assert "only once" in out
    assert f"Authorization: Bearer {token}" in out
    assert f"ari-recorder tokens revoke {token_id}" in out
    assert f"id {token_id}" in out and "expires " in out

    async def verify() -> str:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        try:
            return await verify_token(store, token)
        finally:
            await store.aclose()

    assert asyncio.run(verify()) == "1001"

    secret = token.split(".", 1)[1]
    code, out, err = cli(capsys, "tokens", "list", "--config", config)
    assert code == 0, err
    [line] = out.splitlines()
    assert line.startswith(f"{token_id}  agent 1001  created ") and line.endswith("  active")
    assert secret not in out and secret not in err

    code, out, err = cli(capsys, "tokens", "revoke", token_id, "--config", config)
    assert (code, err) == (0, "") and f"token {token_id} revoked" in out
    code, out, _ = cli(capsys, "tokens", "list", "--agent", "1001", "--config", config)
    assert code == 0 and out.splitlines()[0].endswith("  revoked")
    code, out, _ = cli(capsys, "tokens", "list", "--agent", "1002", "--config", config)
    assert code == 0 and out.strip() == "no tokens for agent 1002"

    code, out, err = cli(capsys, "tokens", "revoke", "0123456789ab", "--config", config)
    assert (code, out) == (1, "") and err.strip() == "ari-recorder: no token '0123456789ab'"


@pytest.mark.usefixtures("no_env_settings")
def test_issuing_to_an_agent_not_in_the_settings_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(settings_file(tmp_path))
    code, out, err = cli(capsys, "tokens", "issue", "--agent", "1009", "--config", config)
    assert (code, out) == (2, "")
    assert err.strip() == "ari-recorder: no agent '1009' in the settings (agents: 1001, 1002)"
    assert not (tmp_path / "db.sqlite").exists(), "refused before the database is touched"


@pytest.mark.usefixtures("no_env_settings")
def test_issuing_for_too_many_days_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(settings_file(tmp_path))
    code, out, err = cli(capsys, "tokens", "issue", "--agent", "1001", "--days", "5000", "--config", config)
    assert (code, out) == (2, "")
    assert err.strip() == "ari-recorder: a token lasts 1 to 3650 days, not 5000"


@pytest.mark.usefixtures("no_env_settings")
@pytest.mark.parametrize("command", [("tokens", "list"), ("deliveries", "list")])
def test_a_database_that_does_not_answer_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, str]
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(
        f'[database]\nurl = "postgresql+asyncpg://nobody:s3cret@127.0.0.1:{free_port()}/none"\n'
    )
    code, out, err = cli(capsys, *command, "--config", str(config))
    assert (code, out) == (1, "")
    (line,) = err.strip().splitlines()
    assert line.startswith("ari-recorder: the database at postgresql+asyncpg://nobody:***@127.0.0.1:"), line
    assert "s3cret" not in err and "Traceback" not in err
