"""Labels people give predictions: given, accepted, rejected and reverted under
one revision number, followed by the processes that learn from them, and
counted for the accuracy the model has in use."""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select, update

from app.history.tables import (
    LEARNED,
    MAX_CLIENT_LENGTH,
    PENDING,
    REJECTED,
    LabelRevision,
    StoredPrediction,
    utcnow,
)

# What an operator may do to a label, from the statuses it may be in.
ACCEPTABLE = (PENDING, REJECTED)
REJECTABLE = (PENDING,)
REVERTIBLE = (LEARNED,)
# Labels an operator turned down are no evidence of how well the model reads.
COUNTED = (LEARNED, PENDING)


@dataclass(frozen=True)
class LabelSelection:
    """Which labels an operator means: by prediction id, by when they were
    given (from ``since``, before ``until``), by client address, by status.
    Empty fields select everything."""

    ids: tuple = ()
    since: datetime | None = None
    until: datetime | None = None
    client: str | None = None
    statuses: tuple = ()

    @property
    def is_empty(self):
        return not (self.ids or self.since or self.until or self.client)

    def where(self, statement):
        """``statement`` restricted to the labels selected."""
        statement = statement.where(StoredPrediction.label.is_not(None))
        if self.ids:
            statement = statement.where(StoredPrediction.id.in_(self.ids))
        if self.since is not None:
            statement = statement.where(StoredPrediction.labelled_at >= self.since)
        if self.until is not None:
            statement = statement.where(StoredPrediction.labelled_at < self.until)
        if self.client is not None:
            statement = statement.where(StoredPrediction.labelled_by == self.client)
        if self.statuses:
            statement = statement.where(StoredPrediction.label_status.in_(self.statuses))
        return statement


@dataclass(frozen=True)
class LabelChanges:
    """The labels changed after a revision, up to ``revision``: for each row
    changed, its id, its features, its label and whether it is now learned."""

    revision: int
    ids: np.ndarray
    features: np.ndarray  # (n, 64) uint8
    labels: np.ndarray
    learned: np.ndarray  # bool


@dataclass(frozen=True)
class Readings:
    """Labelled readings, oldest first: the digit read and the label given."""

    digits: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.digits)

    def accuracy(self, last=None):
        """The share of the ``last`` readings (all by default) read right, and
        how many there were; None for no reading."""
        right = (self.digits == self.labels)[-last:] if last else self.digits == self.labels
        return (float(right.mean()) if len(right) else None), int(len(right))

    def per_window(self, size):
        """The share read right in each ``size`` readings, oldest first: the
        windows complete so far."""
        complete = len(self) // size * size
        if not complete:
            return []
        right = (self.digits[:complete] == self.labels[:complete]).reshape(-1, size)
        return [float(share) for share in right.mean(axis=1)]


def next_revision(session):
    """Move the label revision on, in ``session``'s transaction; the new one.
    The row's lock orders the changes: one committed later has a later revision."""
    return session.execute(
        update(LabelRevision).where(LabelRevision.id == 1)
        .values(revision=LabelRevision.revision + 1)
        .returning(LabelRevision.revision)).scalar_one()


def give_label(session, prediction_id, label, status, client):
    """Set the label of prediction ``prediction_id``; the row, or None."""
    row = session.get(StoredPrediction, prediction_id)
    if row is not None:
        row.label, row.labelled_at, row.label_status = label, utcnow(), status
        row.labelled_by = client[:MAX_CLIENT_LENGTH] if client else None
        row.label_revision = next_revision(session)
    return row


def change_status(session, selection, from_statuses, to_status):
    """Move the labels ``selection`` picks among those in ``from_statuses`` to
    ``to_status``, under one new revision; how many moved."""
    ids = list(session.scalars(
        selection.where(select(StoredPrediction.id))
        .where(StoredPrediction.label_status.in_(from_statuses))))
    if not ids:
        return 0
    revision = next_revision(session)
    for start in range(0, len(ids), 500):  # parameters per statement stay few
        session.execute(update(StoredPrediction)
                        .where(StoredPrediction.id.in_(ids[start:start + 500]))
                        .values(label_status=to_status, label_revision=revision))
    return len(ids)


def current_revision(session):
    return session.scalar(select(LabelRevision.revision).where(LabelRevision.id == 1)) or 0


def changes_since(session, revision):
    """The LabelChanges after ``revision``."""
    latest = current_revision(session)
    if latest <= revision:
        return LabelChanges(revision, *_no_changes())
    rows = session.execute(
        select(StoredPrediction.id, StoredPrediction.features, StoredPrediction.label,
               StoredPrediction.label_status, StoredPrediction.label_revision)
        .where(StoredPrediction.label_revision > revision)
        .order_by(StoredPrediction.label_revision, StoredPrediction.id)).all()
    if not rows:
        return LabelChanges(latest, *_no_changes())
    # Rows stamped after the number read were committed after it, and every
    # change before them with them: they are as complete as the number.
    latest = max(latest, max(row.label_revision for row in rows))
    return LabelChanges(
        latest,
        np.array([row.id for row in rows], dtype=np.int64),
        np.frombuffer(b"".join(bytes(row.features) for row in rows), dtype=np.uint8)
        .reshape(len(rows), -1),
        np.array([row.label for row in rows], dtype=np.int64),
        np.array([row.label_status == LEARNED for row in rows], dtype=bool))


def _no_changes():
    return (np.empty(0, np.int64), np.empty((0, 64), np.uint8), np.empty(0, np.int64),
            np.empty(0, bool))


def labelled_readings(session, limit):
    """The Readings of the last ``limit`` labels that count, oldest first."""
    rows = session.execute(
        select(StoredPrediction.digit, StoredPrediction.label)
        .where(StoredPrediction.label.is_not(None),
               StoredPrediction.label_status.in_(COUNTED))
        .order_by(StoredPrediction.labelled_at.desc(), StoredPrediction.id.desc())
        .limit(limit)).all()[::-1]
    return Readings(np.array([row.digit for row in rows], dtype=np.int64),
                    np.array([row.label for row in rows], dtype=np.int64))

