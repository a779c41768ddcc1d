"""managed_settings: agents, queues, company settings and rules as versioned documents, with a
revision counter every controller polls; the rows the file used to seed (agents, queues,
company_settings), which nothing read, are dropped

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "managed_settings",
        sa.Column("kind", sa.String(length=16), primary_key=True),  # agent, queue, company, rules
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=False),
    )
    op.create_table(
        "settings_revision",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
    )
    op.drop_table("agents")
    op.drop_table("queues")
    op.drop_table("company_settings")


def downgrade() -> None:
    op.create_table(
        "company_settings",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
    )
    op.create_table(
        "queues",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("settings", sa.JSON(), nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("permit_recordings", sa.Boolean(), nullable=False),
        sa.Column("record_percent", sa.Integer(), nullable=True),
    )
    op.drop_table("settings_revision")
    op.drop_table("managed_settings")
