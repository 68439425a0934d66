"""The history of predictions: recorded beside the answer, listed, looked up,
and labelled by people."""

import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from app.errors import DatabaseUnavailable
from app.history import labels
from app.history.ids import IN_FLIGHT_SECONDS, PredictionIds
from app.history.tables import (
    LEARNED,
    MAX_FILENAME_LENGTH,
    MAX_ID,
    SOURCES,
    StoredPrediction,
    utcnow,
)
from app.history.writer import WRITE_ERRORS, Journal, PredictionWriter

log = logging.getLogger(__name__)

# A look that finds nothing is made again after a pause that doubles up to the longest.
FIRST_LOOK_PAUSE, LONGEST_LOOK_PAUSE = 0.005, 0.1

# Built once: constructing the statement cost a request more than its rows.
INSERT_PREDICTIONS = insert(StoredPrediction)


def sanitise_filename(name):
    """A client's file name, safe to store and show: no directories, no control
    characters, at most 255 characters; None when nothing is left."""
    if not name:
        return None
    name = unicodedata.normalize("NFC", str(name))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".") or None
    return name[:MAX_FILENAME_LENGTH] if name else None


def as_utc(moment):
    """SQLite hands back naive datetimes; every time stored is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _known_source(source):
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    return source


@dataclass
class WriteStats:
    """Failed writes of this process, for /readyz: how many, and the kind of the
    last failure (its message, the driver's, is in the log)."""

    failures: int = 0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, error, count=1):
        with self.lock:
            self.failures += count
            self.last_error = type(error).__name__


class PredictionHistory:
    """The predictions table, read and written for the routes and commands.

    With ``background_writes`` a prediction's row is written by a
    PredictionWriter after its answer has left; every read here first waits
    for this process's writer to catch up, so an answer just given is found.
    None chooses: a thread pays where the write waits on a network round trip
    (PostgreSQL); SQLite's local write costs less than handing it over."""

    def __init__(self, database, background_writes=None, write_queue_size=1000,
                 journal_dir=None):
        self.database = database
        self.write_stats = WriteStats()
        self.ids = PredictionIds(database)
        self.writer = None
        if background_writes is None:
            background_writes = database.url.get_backend_name() != "sqlite"
        if background_writes:
            self.writer = PredictionWriter(
                self._insert, self._failed, write_queue_size,
                journal=Journal(journal_dir) if journal_dir else None,
                write_missing=self._insert_missing)

    def record(self, prediction, image_png, source, filename=None):
        """Store a prediction; its id, or None when the database failed (logged
        and counted: the answer does not depend on it)."""
        return self.record_many([(prediction, image_png, source, filename)])[0]

    def record_many(self, entries):
        """Store (prediction, image PNG, source, filename) entries, in one
        transaction; their ids, or Nones when the database failed. With a
        writer, the ids come back at once and the rows are written behind."""
        now = utcnow()
        rows = [
            {
                "created_at": now,
                "source": _known_source(source),
                "filename": sanitise_filename(filename),
                "image_png": image_png,
                "features": np.asarray(prediction.features, dtype=np.uint8).tobytes(),
                "digit": prediction.digit,
                "confidence": prediction.confidence,
                "probabilities": prediction.probabilities,
                "model_version": prediction.model_version,
            }
            for prediction, image_png, source, filename in entries
        ]
        try:
            if not self.database.ensure_schema():
                raise DatabaseUnavailable()
            ids = self.ids.take(len(rows))
            for row, prediction_id in zip(rows, ids, strict=True):
                row["id"] = prediction_id
            if self.writer is None or not self.writer.submit(rows):
                self.database.call(lambda: self._insert(rows))
            return ids
        except WRITE_ERRORS as error:
            self._failed(error, len(rows))
            return [None] * len(rows)

    def _insert(self, rows):
        # A Core insert of rows whose ids are known: the ORM's unit of work
        # costs more than the rows themselves.
        with self.database.engine.begin() as connection:
            connection.execute(INSERT_PREDICTIONS, rows)

    def _insert_missing(self, rows):
        """Insert those of ``rows`` whose ids are not in the table yet; how many."""
        with self.database.engine.begin() as connection:
            ids = [row["id"] for row in rows]
            there = set(connection.scalars(
                select(StoredPrediction.id).where(StoredPrediction.id.in_(ids))))
            missing = [row for row in rows if row["id"] not in there]
            if missing:
                connection.execute(INSERT_PREDICTIONS, missing)
        return len(missing)

    def _failed(self, error, count):
        self.write_stats.failed(error, count)
        log.error("Could not store %d prediction(s): %s", count, error)

    def flush(self, timeout=IN_FLIGHT_SECONDS):
        """Wait up to ``timeout`` seconds for the rows this process recorded to
        be written; True when they are."""
        return self.writer is None or self.writer.flush(timeout)

    def queued_writes(self):
        """Rows of this process's predictions not written yet."""
        return self.writer.pending if self.writer is not None else 0

    def close(self):
        """Write what is still waiting; at process exit."""
        if self.writer is not None:
            self.writer.close()

    def _query(self, work, bounded=True):
        """``work(session)`` in one transaction; within the request's wait on the
        database unless not ``bounded`` (the commands' long reads). Raises
        DatabaseUnavailable, the driver's message logged and not shown."""
        self.flush()
        if not self.database.ensure_schema():
            raise DatabaseUnavailable()

        def run():
            with self.database.session() as session:
                return work(session)

        try:
            return self.database.call(run) if bounded else run()
        except SQLAlchemyError as error:
            log.error("Database query failed: %s", error)
            raise DatabaseUnavailable() from None

    def _look_up(self, prediction_id, work):
        """``work(session)`` for one prediction; when it finds nothing and the
        id may still be on its way from another process, look again for a
        moment."""
        row = self._query(work)
        if row is not None or not self._query(
                lambda session: self.ids.in_flight(prediction_id, session)):
            return row
        deadline = time.monotonic() + IN_FLIGHT_SECONDS
        pause = FIRST_LOOK_PAUSE
        while row is None and time.monotonic() + pause < deadline:
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_LOOK_PAUSE)
            row = self._query(work)
        return row

    def get(self, prediction_id):
        """The stored prediction with this id, or None."""
        if not 0 < prediction_id <= MAX_ID:
            return None
        return self._look_up(prediction_id,
                             lambda session: session.get(StoredPrediction, prediction_id))

    def recent(self, limit, before=None):
        """Up to ``limit`` predictions, newest first, older than id ``before``."""
        statement = select(StoredPrediction).order_by(StoredPrediction.id.desc()).limit(limit)
        if before is not None:
            before = min(before, MAX_ID + 1)
            statement = statement.where(StoredPrediction.id < before)
        return self._query(lambda session: list(session.scalars(statement)))

    def set_label(self, prediction_id, label, status=LEARNED, client=None):
        """Store the digit a person says the image shows (a correction, or the
        digit read, confirmed), given from address ``client``, in ``status``:
        learned at once, or pending an operator's review. The updated row, or
        None for an unknown id."""
        if not 0 < prediction_id <= MAX_ID:
            return None
        return self._look_up(prediction_id, lambda session: labels.give_label(
            session, prediction_id, label, status, client))

    def labels(self, selection, limit=None):
        """The labelled predictions ``selection`` picks, oldest label first:
        for the operator's commands."""
        statement = selection.where(select(StoredPrediction)).order_by(
            StoredPrediction.labelled_at, StoredPrediction.id).limit(limit)
        return self._query(lambda session: list(session.scalars(statement)), bounded=False)

    def change_labels(self, selection, from_statuses, to_status):
        """Move the labels ``selection`` picks that are in ``from_statuses`` to
        ``to_status`` (accepted, rejected, reverted); how many moved."""
        return self._query(lambda session: labels.change_status(
            session, selection, from_statuses, to_status), bounded=False)

    def label_changes(self, revision):
        """The labels changed after ``revision`` (LabelChanges): for the
        processes that learn from them, off the requests' path."""
        return self._query(lambda session: labels.changes_since(session, revision))

    def labelled_readings(self, limit):
        """The last ``limit`` labelled readings that count (Readings), oldest first."""
        return self._query(lambda session: labels.labelled_readings(session, limit))

    def after(self, prediction_id, limit):
        """Up to ``limit`` predictions with ids above ``prediction_id``, oldest
        first: for the export, which waits on the database as long as it takes."""
        statement = (select(StoredPrediction).where(StoredPrediction.id > prediction_id)
                     .order_by(StoredPrediction.id).limit(limit))
        return self._query(lambda session: list(session.scalars(statement)), bounded=False)

