"""page_sessions: the pages' sessions in the database (kept over restarts, shared with a standby)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("page", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("admin_sha256", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_page_sessions_token", "page_sessions", ["token"])
    op.create_index("ix_page_sessions_ends_at", "page_sessions", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_page_sessions_ends_at", "page_sessions")
    op.drop_index("ix_page_sessions_token", "page_sessions")
    op.drop_table("page_sessions")
