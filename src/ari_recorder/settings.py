"""The controller's settings: one TOML file, every key overridable by an environment variable.

The file is `--config` or ARI_RECORDER_CONFIG; without one, the embedded defaults. An
environment variable names a key by its path, sections joined by double underscores:
ARI_RECORDER_ARI__PASSWORD, ARI_RECORDER_QUEUES__SUPPORT__RECORD_PERCENT=30. Everything is
checked before anything is used: a wrong value is refused with one message per problem, each
naming the key, and nothing is half-applied.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from ari_recorder.delivery.settings import DeliverySettings
from ari_recorder.domain import partitions
from ari_recorder.domain.devices import endpoint_problem
from ari_recorder.domain.pausing import PauseBehavior
from ari_recorder.domain.policy import RecordSide
from ari_recorder.domain.state import OnAnnouncementFailure, OnRecordFailure

ENV_PREFIX = "ARI_RECORDER_"
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
# A timer's length: up to a day. Unbounded, a pause's timer of 10**400 s (TOML's integers have no
# end) failed the call when counted from (OverflowError: int too large to convert to float).
Seconds = Annotated[int, msgspec.Meta(ge=1, le=86_400)]
SoundName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_/.-]*$")]
DTMF = Annotated[str, msgspec.Meta(pattern=r"^[0-9*#A-D]{1,8}$")]
# A channel's language as Asterisk names its sounds' folders: en, fr, pt_BR, en_GB.
LANGUAGE = r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8})?$"
Language = Annotated[str, msgspec.Meta(pattern=LANGUAGE)]


class SettingsError(ValueError):
    """Settings that cannot be used; the message names every key that is wrong."""


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class AriSettings(Section, frozen=True, kw_only=True):
    url: str = "http://127.0.0.1:8088/ari"
    username: str = "asterisk"
    password: str = "asterisk"
    app: str = "ari-recorder"
    # Agents' phone transfers (SIP REFER): "application" sets PJSIP_TRANSFER_HANDLING()=ari-only on
    # the agent channels and carries them out itself; "asterisk" leaves Asterisk's default handling.
    phone_transfers: str = "application"

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return (
            f"AriSettings(url={self.url!r}, username={self.username!r}, password='***', app={self.app!r}, "
            f"phone_transfers={self.phone_transfers!r})"
        )


class DatabaseSettings(Section, frozen=True, kw_only=True):
    url: str = "sqlite+aiosqlite:///var/ari-recorder.db"
    # PostgreSQL only: the tables live in this schema (created when missing), not in `public`.
    schema: str = ""
    # SQLite: how long a write waits for another process's (the CLI's) to end; this process's
    # own writes take turns. A write that still cannot begin is answered 503 with Retry-After.
    busy_timeout_ms: Annotated[int, msgspec.Meta(ge=0, le=600_000)] = 5000


class ApiSettings(Section, frozen=True, kw_only=True):
    """The HTTP API (/api/v1/...): on loopback unless told otherwise."""

    listen: str = "127.0.0.1"
    port: int = 8089  # 0: any free port (tests)
    admin_token: str = ""  # the bearer token administrators use; empty: no one is administrator
    # At most this many connections at once: the next one takes the place of the oldest that
    # has no request under way (idle, or its head unfinished), else it is refused at once (503).
    # Well under the descriptor limit, so that Asterisk and the database always get theirs.
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 256
    # A connection's request head, and its body, must arrive within this; an idle keep-alive
    # connection is closed after it too.
    request_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 5.0
    # HTTPS: a PEM certificate (its chain after it) and its private key (mode 600); both or neither.
    tls_certificate: str = ""
    tls_key: str = ""
    # The pages (/agent, /supervisor) may be framed by these CSP sources only (an agent desktop's origin).
    page_frame_ancestors: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9'*.:/\[\] -]{1,1000}$")] = "'self'"

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return (
            f"ApiSettings(listen={self.listen!r}, port={self.port!r}, admin_token='***', "
            f"max_connections={self.max_connections!r}, "
            f"request_timeout_seconds={self.request_timeout_seconds!r}, "
            f"tls_certificate={self.tls_certificate!r}, tls_key={self.tls_key!r})"
        )


class RecordingSettings(Section, frozen=True, kw_only=True):
    # From the agent's answer: the time a segment's recording has to be confirmed started by
    # Asterisk (RecordingStarted); refused or failed starts are retried within it.
    start_deadline_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 2000


class ServiceSettings(Section, frozen=True, kw_only=True):
    """`ari-recorder run` as a service: its shutdown, and its leadership on PostgreSQL."""

    # SIGTERM/SIGINT: the event socket is closed at once (no new call is taken); the calls'
    # actions in hand, their states and the uploads under way get this long to finish.
    shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 10.0
    # A standby asks for the leadership this often; a leader checks it still holds it as often.
    leader_poll_seconds: Annotated[float, msgspec.Meta(ge=0.1, le=10)] = 0.5


class RuleSettings(Section, frozen=True, kw_only=True):
    name: str
    percent: Percent
    match: dict[str, list[str]]  # metadata key (bu, ctype, lang, queue, agent...) -> values


class CompanySettings(Section, frozen=True, kw_only=True):
    rules: list[RuleSettings] = msgspec.field(default_factory=list)
    compliance_all: bool = False
    outbound_recording: bool = True
    # How calls agents place reach the customer; {to} is the number (checked: digits, +, *, #).
    outbound_endpoint: str = "PJSIP/{to}@trunk"
    outbound_ring_timeout: Seconds = 45
    pause_behavior: PauseBehavior = PauseBehavior.SILENCE
    max_pause_seconds: Seconds = 300
    # Pauses one segment may have; the next is refused (409, the keys ignored), logged and audited.
    max_pauses_per_segment: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    dtmf_pause: DTMF = "*7"
    dtmf_resume: DTMF = "*8"
    dtmf_key_gap_ms: Annotated[int, msgspec.Meta(ge=100, le=10_000)] = 2000  # between keys of one sequence
    # 2: the customer and the agent each recorded on their own (two one-way snoops), merged into
    # one stereo file on delivery (customer left, agent right). Queues may say otherwise.
    channels: Literal[1, 2] = 1
    announcement: SoundName = "recording-notice"  # for queues that name none
    # Another sound for calls in a language (the Stasis argument lang=, else the channel's):
    # {fr = "avis-enregistrement"}. Asterisk plays each from its sounds/<language>/ folder.
    announcements: dict[Language, SoundName] = msgspec.field(default_factory=dict)
    unknown_queue: Literal["hangup", "continue"] = "hangup"
    # A selected segment whose recording could not be started by recording.start_deadline_ms:
    # the call goes on unrecorded ("continue"), or is hung up ("hangup"). Queues may say otherwise.
    on_record_failure: OnRecordFailure = OnRecordFailure.CONTINUE
    # The announcement not played (the sound missing, the playback failed or cut): the call is
    # not recorded ("no-record"), hung up ("hangup"), or recorded all the same ("record"), the
    # failure in its metadata. Queues may say otherwise.
    on_announcement_failure: OnAnnouncementFailure = OnAnnouncementFailure.NO_RECORD


class QueueSettings(Section, frozen=True, kw_only=True):
    agents: list[str] = msgspec.field(default_factory=list)
    announcement: SoundName | None = None  # the company's when not given
    announcements: dict[Language, SoundName] = msgspec.field(default_factory=dict)  # by language
    music_on_hold: str | None = "default"
    record_percent: Percent | None = None
    record_side: RecordSide = RecordSide.AGENT
    channels: Literal[1, 2] | None = None  # the company's when not given
    pause_allowed: bool = True
    ring_timeout: Seconds = 15
    strategy: Literal["in-order", "round-robin"] = "in-order"
    wait_limit: Seconds = 120
    fallback: str = "hangup"  # or "continue", or "continue:<context>,<exten>,<priority>"
    on_record_failure: OnRecordFailure | None = None  # the company's when not given
    on_announcement_failure: OnAnnouncementFailure | None = None  # the company's when not given
    # Its interactions' partitions when the call or chat names none (domain/partitions.py).
    partitions: list[str] = msgspec.field(default_factory=list)


class AgentSettings(Section, frozen=True, kw_only=True):
    # The default device, logged in there at first start ("": none, the agent always logs in).
    endpoint: str = ""  # PJSIP/1001, or Local/1001@agent-phone in tests
    permit_recordings: bool = False
    record_percent: Percent | None = None
    name: str | None = None  # the agent's name, for people
    team: str | None = None  # a supervisor's scope is made of teams (and partitions)


class Settings(Section, frozen=True, kw_only=True):
    ari: AriSettings = msgspec.field(default_factory=AriSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    delivery: DeliverySettings = msgspec.field(default_factory=DeliverySettings)
    recording: RecordingSettings = msgspec.field(default_factory=RecordingSettings)
    service: ServiceSettings = msgspec.field(default_factory=ServiceSettings)
    company: CompanySettings = msgspec.field(default_factory=CompanySettings)
    queues: dict[str, QueueSettings] = msgspec.field(default_factory=dict)
    agents: dict[str, AgentSettings] = msgspec.field(default_factory=dict)

    def validate(self) -> None:
        """The checks that span several keys; SettingsError lists every problem."""
        problems = _cross_checks(self)
        if problems:
            raise SettingsError("; ".join(problems))

    def require_encryption(self) -> None:
        """What `run` (and `check`) refuse: no age recipient, and no explicit opt-out."""
        if not self.delivery.age_recipients and not self.delivery.keep_unencrypted:
            raise SettingsError(
                "delivery.age_recipients: none, and recordings are not kept unencrypted unless told: "
                "make a key pair with `ari-recorder keys generate --out platform.key` and put the public "
                "key it prints in delivery.age_recipients, or set delivery.keep_unencrypted = true "
                "(ARI_RECORDER_DELIVERY__KEEP_UNENCRYPTED=true) where recordings are encrypted at rest "
                "by other means"
            )

    def announcement_for(self, queue: str | None, language: str | None = None) -> str:
        return f"sound:{self.sound_for(queue, language)}"

    def sound_for(self, queue: str | None, language: str | None = None) -> str:
        """The announcement's sound id (as GET /sounds/{id} takes it) for calls to `queue` in
        `language`: the queue's for that language, the queue's, the company's for that language,
        the company's; the most particular first."""
        configured = self.queues.get(queue or "")
        company = self.company
        if configured is not None and language in configured.announcements:
            return configured.announcements[language]
        if configured is not None and configured.announcement:
            return configured.announcement
        return company.announcements.get(language or "") or company.announcement

    def on_record_failure(self, queue: str | None) -> OnRecordFailure:
        configured = self.queues[queue].on_record_failure if queue in self.queues else None
        return configured or self.company.on_record_failure

    def on_announcement_failure(self, queue: str | None) -> OnAnnouncementFailure:
        configured = self.queues[queue].on_announcement_failure if queue in self.queues else None
        return configured or self.company.on_announcement_failure


def _cross_checks(settings: Settings) -> list[str]:
    problems = []
    url = re.fullmatch(r"(https?)://([^/@:]+)(:\d+)?(/.*)?", settings.ari.url)
    if url is None:
        problems.append(f"ari.url: expected http(s)://host:port/ari, got {settings.ari.url!r}")
    if not 0 <= settings.api.port <= 65535:
        problems.append(f"api.port: expected 0..65535, got {settings.api.port}")
    if settings.api.admin_token and len(settings.api.admin_token) < 16:
        problems.append("api.admin_token: too short to be a secret (at least 16 characters)")
    if bool(settings.api.tls_certificate) != bool(settings.api.tls_key):
        problems.append("api.tls_certificate, api.tls_key: give both (HTTPS) or neither (HTTP)")
    if settings.ari.phone_transfers not in ("application", "asterisk"):
        problems.append(
            f"ari.phone_transfers: expected application or asterisk, got {settings.ari.phone_transfers!r}"
        )
    if not settings.ari.app or "," in settings.ari.app:
        problems.append(f"ari.app: expected one application name, got {settings.ari.app!r}")
    for name, agent_set_up in settings.agents.items():
        wrong_endpoint = endpoint_problem(agent_set_up.endpoint) if agent_set_up.endpoint else None
        if wrong_endpoint is not None:
            problems.append(f"agents.{name}.endpoint: {wrong_endpoint}")
    for name, queue in settings.queues.items():
        for agent in queue.agents:
            if agent not in settings.agents:
                problems.append(f"queues.{name}.agents: unknown agent {agent!r}")
        for wrong in partitions.invalid(queue.partitions):
            problems.append(
                f"queues.{name}.partitions: {wrong!r} is not a partition name (letters, digits, and "
                "_ . - after the first, at most 64)"
            )
        if not re.fullmatch(r"hangup|continue(:[^,]+,[^,]+,\d+)?", queue.fallback):
            problems.append(
                f"queues.{name}.fallback: expected hangup, continue or "
                f"continue:<context>,<exten>,<priority>, got {queue.fallback!r}"
            )
    for number, agent_settings in settings.agents.items():
        team = agent_settings.team
        if team is not None and partitions.invalid([team]):
            problems.append(
                f"agents.{number}.team: {team!r} is not a team name (letters, digits, and "
                "_ . - after the first, at most 64)"
            )
    for i, rule in enumerate(settings.company.rules):
        known: dict[str, set[str]] = {"queue": set(settings.queues), "agent": set(settings.agents)}
        for key, values in rule.match.items():
            for value in values if key in known else ():
                if value not in known[key]:
                    problems.append(f"company.rules[{i}] ({rule.name}).match.{key}: unknown {key} {value!r}")
    if settings.database.schema:
        if not settings.database.url.startswith("postgresql"):
            problems.append("database.schema: only PostgreSQL has schemas; leave it empty for this url")
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", settings.database.schema):
            problems.append(
                "database.schema: expected lower-case letters, digits and _, "
                f"got {settings.database.schema!r}"
            )
    if "{to}" not in settings.company.outbound_endpoint:
        problems.append(
            "company.outbound_endpoint: must contain {to}, the number dialled "
            f"(e.g. PJSIP/{{to}}@trunk), got {settings.company.outbound_endpoint!r}"
        )
    if settings.company.dtmf_pause == settings.company.dtmf_resume:
        problems.append("company.dtmf_resume: must differ from company.dtmf_pause")
    return problems


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """ARI_RECORDER_A__B__C=v as {"a": {"b": {"c": "v"}}} (values as text, converted later)."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if path[0] not in Settings.__struct_fields__ or len(path) < 2:
            raise SettingsError(
                f"{name}: not a setting (settings are {ENV_PREFIX}<SECTION>__<KEY>, sections: "
                f"{', '.join(Settings.__struct_fields__)})"
            )
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SettingsError(f"{name}: {'.'.join(path)} is not a section")
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        elif isinstance(value, str) and isinstance(merged.get(key), list):
            merged[key] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            merged[key] = value
    return merged


def _where(error: msgspec.ValidationError, within: str = "") -> str:
    """msgspec's "... - at `$.company.max_pause_seconds`" as "company.max_pause_seconds: ..."."""
    text = str(error)
    found = re.search(r" - at `\$\.?(.*)`$", text)
    path = [p for p in (within, found.group(1) if found else "") if p]
    message = text[: found.start()] if found else text
    return f"{'.'.join(path) or 'settings'}: {message}"


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The file (or the embedded defaults), then the environment; checked as a whole."""
    env = os.environ if environ is None else environ
    path = path or (Path(env["ARI_RECORDER_CONFIG"]) if env.get("ARI_RECORDER_CONFIG") else None)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except OSError as error:
            raise SettingsError(f"{path}: cannot read the settings file: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"{path}: not valid TOML: {error}") from None
    overrides = _env_overrides(env)
    # Lists given in the environment are comma-separated ("1001,1002"); they need a list to merge
    # into, which the file may not have.
    for queue in overrides.get("queues", {}).values():
        if isinstance(queue, dict) and isinstance(queue.get("agents"), str):
            queue["agents"] = [a.strip() for a in queue["agents"].split(",") if a.strip()]
    merged = _merge(data, overrides)
    problems: list[str] = []
    # Queues and agents are read one by one, so that a problem names the queue or agent.
    named: dict[str, dict[str, Any]] = {"queues": {}, "agents": {}}
    for section, cls in (("queues", QueueSettings), ("agents", AgentSettings)):
        entries = merged.pop(section, {})
        if not isinstance(entries, dict):
            problems.append(f"{section}: expected a table of {section}")
            continue
        for name, entry in entries.items():
            try:
                named[section][str(name)] = msgspec.convert(entry, cls, strict=False)
            except msgspec.ValidationError as error:
                problems.append(_where(error, f"{section}.{name}"))
    try:
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as error:
        problems.insert(0, _where(error))
    if problems:
        raise SettingsError("; ".join(problems))
    settings = msgspec.structs.replace(settings, queues=named["queues"], agents=named["agents"])
    settings.validate()
    return settings
