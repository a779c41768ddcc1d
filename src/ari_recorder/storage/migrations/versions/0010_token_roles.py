"""agent_tokens: a role for each token (the agents' become role agent), a supervisor's teams and
partitions; the agent only for an agent's token

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(length=32), nullable=False, server_default="agent"))
        batch.add_column(sa.Column("teams", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("partitions", sa.Text(), nullable=False, server_default=""))
        batch.alter_column("agent", existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # Tokens of other roles than agent cannot be kept where every token is an agent's.
    op.execute(sa.text("DELETE FROM agent_tokens WHERE role <> 'agent' OR agent IS NULL"))
    with op.batch_alter_table("agent_tokens") as batch:
        batch.alter_column("agent", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("partitions")
        batch.drop_column("teams")
        batch.drop_column("role")
