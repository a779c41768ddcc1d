"""interactions: what medium (voice, or webchat: its transcripts delivered as recordings are);
a chat's report digest (a resend tells itself from a different report)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("media", sa.String(length=16), nullable=False, server_default="voice"))
        batch.add_column(sa.Column("report_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("report_sha256")
        batch.drop_column("media")
