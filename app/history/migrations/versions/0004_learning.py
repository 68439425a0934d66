"""Labels the model learns from while it is used: who gave each, what became of
it, and the revision that tells every process when to look again.

Labels given before this revision were only ever used by an operator's
retraining: they are kept as learned.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("labelled_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("label_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("label_revision", sa.BigInteger(), nullable=True))
        batch.create_index("ix_predictions_label_revision", ["label_revision"])
    op.create_table(
        "label_revision",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
    )
    op.execute("UPDATE predictions SET label_status = 'learned', label_revision = 1 "
               "WHERE label IS NOT NULL")
    op.execute("INSERT INTO label_revision (id, revision) VALUES (1, 1)")


def downgrade():
    op.drop_table("label_revision")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_index("ix_predictions_label_revision")
        batch.drop_column("label_revision")
        batch.drop_column("label_status")
        batch.drop_column("labelled_by")
