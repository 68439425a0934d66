"""The database tables: every prediction, with its input and any label, the
revision of the labels the model learns from, and the id counter of databases
without sequences."""

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SOURCES = ("canvas", "upload", "api", "cli")
# What became of a label: the model learns from it, it waits for an operator,
# or an operator turned it down before or after it was learned.
LEARNED, PENDING, REJECTED, REVERTED = "learned", "pending", "rejected", "reverted"
LABEL_STATUSES = (LEARNED, PENDING, REJECTED, REVERTED)
MAX_CLIENT_LENGTH = 64  # an IPv6 address with a zone fits
MAX_FILENAME_LENGTH = 255
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer in every database


def utcnow():
    """Now, in UTC: every time stored is UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class StoredPrediction(Base):
    """One image read, as answered, and the label a person gave it, if any."""

    __tablename__ = "predictions"

    # Handed out before the row is written (see app/history/ids.py).
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    source: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(String(MAX_FILENAME_LENGTH))
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    features: Mapped[bytes] = mapped_column(LargeBinary)  # 64 bytes: the 8x8 counts, 0-16
    digit: Mapped[int] = mapped_column(SmallInteger)
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[list] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    label: Mapped[int | None] = mapped_column(SmallInteger, index=True)
    labelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The client address the label came from, what became of it, and the
    # revision of the labels at its last change (see LabelRevision).
    labelled_by: Mapped[str | None] = mapped_column(String(MAX_CLIENT_LENGTH))
    label_status: Mapped[str | None] = mapped_column(String(16))
    label_revision: Mapped[int | None] = mapped_column(BigInteger, index=True)


class LabelRevision(Base):
    """How many times a label was given, accepted, rejected or reverted: one
    row, moved on in the transaction of every change, which stamps the rows it
    changed with it. A process that learns from labels reads this one number
    to know whether anything changed, and then only the rows stamped later."""

    __tablename__ = "label_revision"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # always 1
    revision: Mapped[int] = mapped_column(BigInteger)


class PredictionIdCounter(Base):
    """The next prediction id that no process has taken yet, in databases
    without sequences (SQLite): one row, which each process moves on by a
    block of ids at a time. PostgreSQL hands out the ids from the predictions
    table's own sequence instead."""

    __tablename__ = "prediction_ids"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # always 1
    next_id: Mapped[int] = mapped_column(BigInteger)  # may pass the 32-bit ids by one
