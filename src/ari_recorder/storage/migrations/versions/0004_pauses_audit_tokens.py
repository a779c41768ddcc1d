"""pausing: each recording's pause timeline, the audit trail, the agents' API tokens

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("pauses", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "audit",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit") as batch:
        batch.create_index(batch.f("ix_audit_at"), ["at"], unique=False)
        batch.create_index(batch.f("ix_audit_subject"), ["subject"], unique=False)
    op.create_table(
        "agent_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agent_tokens") as batch:
        batch.create_index(batch.f("ix_agent_tokens_agent"), ["agent"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agent_tokens") as batch:
        batch.drop_index(batch.f("ix_agent_tokens_agent"))
    op.drop_table("agent_tokens")
    with op.batch_alter_table("audit") as batch:
        batch.drop_index(batch.f("ix_audit_subject"))
        batch.drop_index(batch.f("ix_audit_at"))
    op.drop_table("audit")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("pauses")
