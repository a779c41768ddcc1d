"""agent_logins: where each agent is logged in (hot-desking), one agent per endpoint

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_logins",
        sa.Column("agent", sa.String(length=64), primary_key=True),
        sa.Column("endpoint", sa.String(length=255), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.UniqueConstraint("endpoint", name="uq_agent_logins_endpoint"),
    )


def downgrade() -> None:
    op.drop_table("agent_logins")
