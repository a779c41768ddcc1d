"""The tables. Changes to them go through a migration in migrations/versions/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ManagedSettingRow(Base):
    """One managed object of the settings (storage/settings_store.py): an agent, a queue, the
    company's settings, the rules; its document as the settings' Struct gives it, its version."""

    __tablename__ = "managed_settings"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # agent, queue, company, rules
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str] = mapped_column(String(128))


class SettingsRevisionRow(Base):
    """One row (id 1): the managed settings' revision, one more on every change."""

    __tablename__ = "settings_revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)


class InteractionRow(Base):
    __tablename__ = "interactions"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the customer channel's id, a chat's id
    media: Mapped[str] = mapped_column(String(16), default="voice", server_default="voice")  # | webchat
    direction: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer_channel: Mapped[str] = mapped_column(String(128))
    phase: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A call's snapshot, to resume it: {"snapshot": <version>, "call": ...} (storage/snapshots.py).
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A chat: the SHA-256 of its report as received, to tell a resend from a different report.
    report_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A call: "played", or why the recording notice was not (None: none to play, or not yet).
    announcement: Mapped[str | None] = mapped_column(String(512), nullable=True)


class AttachedDataRow(Base):
    __tablename__ = "attached_data"
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024))


class SegmentRow(Base):
    __tablename__ = "segments"
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(128))
    recorded: Mapped[bool] = mapped_column(Boolean)
    levels: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{"level": "queue", "by": "support"}]
    reason: Mapped[str] = mapped_column(String(512))
    recording: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The queue whose settings decided it (a transfer to a queue changes it); null before 0012.
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RecordingRow(Base):
    __tablename__ = "recordings"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # as stored in Asterisk
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id"), index=True)
    segment: Mapped[int] = mapped_column(Integer)  # the segment that started it
    side: Mapped[str] = mapped_column(String(16))  # agent | customer
    # 2: Asterisk holds it as two one-way recordings, <name>-customer and <name>-agent.
    channels: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # recording | ready, then the delivery's spooled | fetched; a chat's transcript: written;
    # unrecorded: selected, never started in Asterisk (`failure` says why), then reported once
    # its metadata sidecar is queued
    state: Mapped[str] = mapped_column(String(16), index=True)
    levels: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The pause timeline: [{"offset", "seconds", "by", "source", "behavior", "ended_by", ...}]
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    # Seconds from the agent's answer (outbound: the customer's) to Asterisk's RecordingStarted.
    start_offset_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    failure: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # Finished with no age recipient configured, by delivery.keep_unencrypted: left in Asterisk
    # as it is, unencrypted.
    kept_unencrypted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The time the file should cover: from the answer of the segment that started it to when the
    # call stopped wanting it (the segment's end; customer side: the call's end, or an agent
    # without consent). `connected_seen` False: that end was learned by reconciliation (the event
    # stream was down), so the true time is shorter and unknown. Both null: not ended yet.
    connected_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    connected_seen: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class AuditRow(Base):
    """One thing someone did or something that happened to a recording: who, what, when, why.

    The id is chosen by the writer so that writing the same fact twice (a retried batch, a
    restarted controller) keeps one row: "pause/<call>/<n>/start", "token/<id>/issued"...
    """

    __tablename__ = "audit"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # an agent's id, "admin", "controller", "cli"
    action: Mapped[str] = mapped_column(String(64))  # pause, resume, token-issued...
    subject: Mapped[str] = mapped_column(String(300), index=True)  # a recording, an agent, a token
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)  # why, and the rest of the facts
    # The interaction the row is about, if one (storage/audit.py finds it when written): no
    # foreign key, the row outlives the interaction's metadata (retention), and stays findable.
    interaction: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)


class AgentTokenRow(Base):
    """A bearer token for the API: its role (domain/access.py), the agent of an agent's token, a
    supervisor's teams and partitions (`;`-separated). Only the secret's SHA-256 is kept (the
    secret is 256 random bits: a slow hash adds nothing); the id is public, for revoking."""

    __tablename__ = "agent_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), default="agent", server_default="agent")
    agent: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    teams: Mapped[str] = mapped_column(Text, default="", server_default="")
    partitions: Mapped[str] = mapped_column(Text, default="", server_default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeliveryRow(Base):
    """One file on its way to the recording platform (storage/deliveries.py owns the transitions).

    fetching -> pending -> uploading -> done, or dead after too many attempts or a failure that
    retrying cannot mend; never deleted. While fetching or uploading, `next_attempt_at` is the
    claim's lease: past it, another worker takes the row again.
    """

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)  # "<recording>/audio", "/metadata"
    recording: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # audio | transcript | metadata
    state: Mapped[str] = mapped_column(String(16), index=True)  # fetching|pending|uploading|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_error: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    remote_path: Mapped[str] = mapped_column(String(1024))  # relative to the remote directory
    spool_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)  # relative to the spool
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # of the encrypted file
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # of the encrypted file
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the last claim's holder
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When Asterisk finished the recording, and when the platform held the file: the latency.
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LegalHoldRow(Base):
    """A legal hold on an interaction (storage/holds.py): while it is active (not released),
    retention purges nothing of the interaction. Never deleted; at most one active per
    interaction. No foreign key: the hold outlives the interaction's metadata it protected."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        Index(
            "ix_legal_holds_active",
            "interaction",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    interaction: Mapped[str] = mapped_column(String(128), index=True)
    reason: Mapped[str] = mapped_column(String(1024))
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    release_reason: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class AgentLoginRow(Base):
    """Where an agent is logged in (hot-desking): one row per agent who ever logged in; endpoint
    None once logged out. An endpoint holds one agent at most (unique; NULLs do not collide)."""

    __tablename__ = "agent_logins"
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(String(64))  # the agent itself, "admin", "cli", "seed"


class PageSessionRow(Base):
    """A session of a page for people (/agent, /supervisor), shared by every controller on the
    database and kept over restarts. Nothing in it lets anyone in: `id` is the SHA-256 of the
    session's cookie (only the browser holds the cookie); the bearer token it was opened with is
    named by its id (`token`; its row says whether it is still good), or, for api.admin_token, by
    that token's SHA-256 (`admin_sha256`: checked against the settings on every request)."""

    __tablename__ = "page_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    page: Mapped[str] = mapped_column(String(16))  # agent | supervisor
    token: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    admin_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
