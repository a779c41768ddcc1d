"""recordings: the time each file should cover (its segment's connected time) and whether the
controller saw that time's end, for the proof of recording

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("connected_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("connected_seen", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("connected_seen")
        batch.drop_column("connected_seconds")
