"""Prediction ids known before the row is written: a counter that every process
takes blocks of ids from, in databases without sequences (SQLite).

PostgreSQL needs no table: the ids come from the predictions table's own
sequence (nextval), so this revision only records that it is there.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def has_sequences():
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if has_sequences():
        return
    op.create_table(
        "prediction_ids",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("next_id", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO prediction_ids (id, next_id) "
               "SELECT 1, COALESCE(MAX(id), 0) + 1 FROM predictions")


def downgrade():
    if has_sequences():
        return
    op.drop_table("prediction_ids")
