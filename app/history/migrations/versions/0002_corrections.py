"""The label a person gave a prediction, for retraining.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("label", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_predictions_label", ["label"])


def downgrade():
    with op.batch_alter_table("predictions") as batch:
        batch.drop_index("ix_predictions_label")
        batch.drop_column("labelled_at")
        batch.drop_column("label")
