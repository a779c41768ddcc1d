"""audit: the interaction each row is about, so that it is found after the interaction is purged

Revision ID: 0016
Revises: 0015

Rows written before: their interaction is found as the reads found it until now (the detail's
"call" or "interaction", the interaction of the recording that is their subject, or the subject
itself when it is an interaction). Rows of recordings already purged keep none: nothing is left
to find it by.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

audit = sa.table(
    "audit",
    sa.column("subject", sa.String),
    sa.column("detail", sa.JSON),
    sa.column("interaction", sa.String),
)
recordings = sa.table("recordings", sa.column("name", sa.String), sa.column("interaction_id", sa.String))
interactions = sa.table("interactions", sa.column("id", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("interaction", sa.String(128), nullable=True))
        batch.create_index(batch.f("ix_audit_interaction"), ["interaction"], unique=False)
    unset = audit.c.interaction.is_(None)
    for key in ("call", "interaction"):
        named = audit.c.detail[key].as_string()
        op.execute(audit.update().where(unset, named.is_not(None), named != "").values(interaction=named))
    of_recording = (
        sa.select(recordings.c.interaction_id).where(recordings.c.name == audit.c.subject).scalar_subquery()
    )
    op.execute(
        audit.update()
        .where(unset, audit.c.subject.in_(sa.select(recordings.c.name)))
        .values(interaction=of_recording)
    )
    op.execute(
        audit.update()
        .where(unset, audit.c.subject.in_(sa.select(interactions.c.id)))
        .values(interaction=audit.c.subject)
    )


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_index(batch.f("ix_audit_interaction"))
        batch.drop_column("interaction")
