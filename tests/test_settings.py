"""Settings: a TOML file, environment overrides, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ari_recorder.settings import Settings, SettingsError, load_settings

EXAMPLE = """
[ari]
url = "http://asterisk.example:8088/ari"
password = "from-the-file"

[company]
compliance_all = false
pause_behavior = "skip"

[[company.rules]]
name = "french"
percent = 50
match = { lang = ["fr"], queue = ["support"] }

[queues.support]
agents = ["1001", "2001"]
announcement = "sim/announcement"
record_percent = 100
record_side = "customer"

[agents.1001]
endpoint = "Local/1001@agent-phone"
permit_recordings = true
record_percent = 30

[agents.2001]
endpoint = "Local/2001@agent-phone"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ari-recorder.toml"
    path.write_text(text)
    return path


def test_the_embedded_defaults_are_valid() -> None:
    settings = load_settings(None, {})
    assert settings == Settings()
    assert settings.announcement_for("nowhere") == "sound:recording-notice"


def test_the_readme_example_file_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    settings = load_settings(write(tmp_path, example), {})
    assert settings.queues and settings.agents


def test_file_then_environment(tmp_path: Path) -> None:
    env = {
        "ARI_RECORDER_ARI__PASSWORD": "from-the-environment",
        "ARI_RECORDER_QUEUES__SUPPORT__RECORD_PERCENT": "30",
        "ARI_RECORDER_AGENTS__2001__PERMIT_RECORDINGS": "true",
        "ARI_RECORDER_QUEUES__SUPPORT__AGENTS": "2001, 1001",
        "UNRELATED": "x",
    }
    settings = load_settings(write(tmp_path, EXAMPLE), env)
    assert settings.ari.url == "http://asterisk.example:8088/ari"
    assert settings.ari.password == "from-the-environment"
    assert settings.queues["support"].record_percent == 30
    assert settings.queues["support"].record_side == "customer"
    assert settings.queues["support"].agents == ["2001", "1001"]
    assert settings.agents["2001"].permit_recordings is True
    assert settings.company.rules[0].match == {"lang": ["fr"], "queue": ["support"]}
    assert settings.announcement_for("support") == "sound:sim/announcement"
    assert "from-the-environment" not in repr(settings)


def test_the_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    assert load_settings(None, {"ARI_RECORDER_CONFIG": str(path)}).ari.password == "from-the-file"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"ARI_RECORDER_QUEUES__SUPPORT__RECORD_PERCENT": "150"},
            "queues.support.record_percent: Expected `int` <= 100",
        ),
        ({"ARI_RECORDER_QUEUES__SUPPORT__RECORD_PERCENT": "12.5"}, "queues.support.record_percent"),
        (
            {"ARI_RECORDER_AGENTS__1001__RECORD_PERCENT": "-1"},
            "agents.1001.record_percent: Expected `int` >= 0",
        ),
        (
            {"ARI_RECORDER_QUEUES__SUPPORT__RECORD_SIDE": "both"},
            "queues.support.record_side: Invalid enum value 'both'",
        ),
        (
            {"ARI_RECORDER_QUEUES__SUPPORT__AGENTS": "1001,9999"},
            "queues.support.agents: unknown agent '9999'",
        ),
        ({"ARI_RECORDER_QUEUES__SUPPORT__ANNOUNCEMENT": "../etc/passwd"}, "queues.support.announcement"),
        ({"ARI_RECORDER_QUEUES__SUPPORT__RECORD_PERCNT": "5"}, "unknown field `record_percnt`"),
        ({"ARI_RECORDER_COMPANY__DTMF_RESUME": "*7"}, "company.dtmf_resume: must differ"),
        ({"ARI_RECORDER_ARI__URL": "ftp://asterisk"}, "ari.url: expected http(s)://host:port/ari"),
        ({"ARI_RECORDER_COMPANY__COMPLIANCE_ALL": "perhaps"}, "company.compliance_all"),
        ({"ARI_RECORDER_API__ADMIN_TOKEN": "short"}, "api.admin_token: too short"),
        ({"ARI_RECORDER_API__PORT": "70000"}, "api.port: expected 0..65535"),
        ({"ARI_RECORDER_ARI__PHONE_TRANSFERS": "refer"}, "ari.phone_transfers: expected application or"),
        ({"ARI_RECORDER_DATABASE__SCHEMA": "recorder"}, "database.schema: only PostgreSQL"),
        (
            {"ARI_RECORDER_RECORDING__START_DEADLINE_MS": "50"},
            "recording.start_deadline_ms: Expected `int` >= 100",
        ),
        ({"ARI_RECORDER_RECORDING__START_DEADLINE_MS": "soon"}, "recording.start_deadline_ms"),
        (
            {"ARI_RECORDER_COMPANY__ON_RECORD_FAILURE": "retry"},
            "company.on_record_failure: Invalid enum value 'retry'",
        ),
        (
            {"ARI_RECORDER_QUEUES__SUPPORT__ON_ANNOUNCEMENT_FAILURE": "ignore"},
            "queues.support.on_announcement_failure: Invalid enum value 'ignore'",
        ),
        (
            {"ARI_RECORDER_COMPANY__MAX_PAUSE_SECONDS": "1" + "0" * 400},
            "company.max_pause_seconds: Expected `int` <= 86400",
        ),
        (
            {"ARI_RECORDER_QUEUES__SUPPORT__WAIT_LIMIT": "86401"},
            "queues.support.wait_limit: Expected `int` <= 86400",
        ),
        (
            {"ARI_RECORDER_DELIVERY__SPOOL_RETENTION_DAYS": "-1"},
            "delivery.spool_retention_days: Expected `int` >= 0",
        ),
        (
            {"ARI_RECORDER_AGENTS__1001__TEAM": "blue team"},
            "agents.1001.team: 'blue team' is not a team name",
        ),
    ],
)
def test_a_wrong_value_is_refused_naming_the_key(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=None) as refused:
        load_settings(write(tmp_path, EXAMPLE), change)
    assert message in str(refused.value)


def test_an_agent_has_a_name_and_a_team(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        "record_percent = 30\n", 'record_percent = 30\nname = "Ann Smith"\nteam = "blue"\n'
    )
    agents = load_settings(write(tmp_path, text), {}).agents
    assert (agents["1001"].name, agents["1001"].team) == ("Ann Smith", "blue")
    assert (agents["2001"].name, agents["2001"].team) == (None, None)


def test_a_rule_naming_an_unknown_queue_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.replace('queue = ["support"]', 'queue = ["suport"]')
    with pytest.raises(
        SettingsError, match=r"company.rules\[0\] \(french\).match.queue: unknown queue 'suport'"
    ):
        load_settings(write(tmp_path, text), {})


def test_a_file_that_is_not_toml_or_not_there(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "[ari\nurl = 1"), {})
    with pytest.raises(SettingsError, match="cannot read the settings file"):
        load_settings(tmp_path / "missing.toml", {})


def test_an_environment_variable_that_is_no_setting_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ARI_RECORDER_ARI_PASSWORD: not a setting"):
        load_settings(None, {"ARI_RECORDER_ARI_PASSWORD": "x"})


def test_secrets_stay_out_of_the_settings_repr(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, EXAMPLE), {"ARI_RECORDER_API__ADMIN_TOKEN": "a-long-admin-secret-token"}
    )
    assert "a-long-admin-secret-token" not in repr(settings)
    assert settings.ari.password not in repr(settings)


def test_failure_settings_come_from_the_queue_else_the_company(tmp_path: Path) -> None:
    change = {
        "ARI_RECORDER_RECORDING__START_DEADLINE_MS": "1500",
        "ARI_RECORDER_COMPANY__ON_RECORD_FAILURE": "hangup",
        "ARI_RECORDER_QUEUES__SUPPORT__ON_ANNOUNCEMENT_FAILURE": "record",
    }
    settings = load_settings(write(tmp_path, EXAMPLE), change)
    assert settings.recording.start_deadline_ms == 1500
    assert settings.on_record_failure("support") == "hangup"
    assert settings.on_announcement_failure("support") == "record"
    assert settings.on_announcement_failure("nowhere") == "no-record"
    defaults = load_settings(None, {})
    assert defaults.recording.start_deadline_ms == 2000
    assert defaults.on_record_failure(None) == "continue"


def test_the_notice_is_the_queues_in_the_calls_language_first(tmp_path: Path) -> None:
    """The most particular first: the queue's in that language, the queue's, the company's in
    that language, the company's."""
    toml = """
[company]
announcement = "notice"
announcements = {fr = "avis", de = "hinweis"}

[queues.support]
announcements = {fr = "avis-support"}

[queues.sales]
announcement = "notice-sales"
"""
    settings = load_settings(write(tmp_path, toml), {})
    assert settings.sound_for("support", "fr") == "avis-support"
    assert settings.sound_for("support", "de") == "hinweis"
    assert settings.sound_for("support", "en") == settings.sound_for("support") == "notice"
    assert settings.sound_for("sales", "fr") == "notice-sales"  # the queue's own, in any language
    assert settings.announcement_for("support", "fr") == "sound:avis-support"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[company]\nannouncements = {"../fr" = "avis"}', "company.announcements"),
        ('[queues.support]\nannouncements = {fr = "../avis"}', "queues.support.announcements"),
    ],
)
def test_a_notice_language_or_sound_that_is_no_name_is_refused(
    tmp_path: Path, toml: str, message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(write(tmp_path, toml), {})
    assert message in str(refused.value)
