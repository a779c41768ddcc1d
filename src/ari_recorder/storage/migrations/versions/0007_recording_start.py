"""recordings: where the file starts against the agent's answer (Asterisk's RecordingStarted), and
why a selected recording could not be made; interactions: whether the recording notice was played

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("start_offset_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("failure", sa.String(length=1024), nullable=True))
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("announcement", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("announcement")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("failure")
        batch.drop_column("start_offset_seconds")
