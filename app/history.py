"""The history of predictions: recording them beside the answer, listing them,
and the corrections people give, which feed retraining."""

import csv
import io
import json
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC

import numpy as np
from PIL import Image
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from app.errors import DatabaseUnavailable
from app.imaging import flatten_onto_white
from app.models import SOURCES, Prediction, utcnow

log = logging.getLogger(__name__)

MAX_FILENAME_LENGTH = 255
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer in every database
EXPORT_COLUMNS = ("id", "created_at", "source", "filename", "digit", "confidence",
                  "model_version", "label", "labelled_at", "probabilities")


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


def archive_png(image, data, max_side, max_bytes):
    """The input as kept with its prediction, as a PNG of at most ``max_side``
    pixels a side and ``max_bytes`` bytes, that reads through the chain as the
    input did. A PNG that is within bounds (a canvas drawing) is kept as sent:
    encoding it again would cost more than reading it. Anything else is
    flattened onto white, made greyscale and shrunk."""
    if (data[:8] == PNG_SIGNATURE and len(data) <= max_bytes and max(image.size) <= max_side
            and not getattr(image, "is_animated", False)):
        return data
    kept = flatten_onto_white(image).convert("L")
    kept.thumbnail((max_side, max_side), Image.Resampling.BOX)
    buffer = io.BytesIO()
    kept.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


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
    """Failed writes of this process, for /readyz."""

    failures: int = 0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, error):
        with self.lock:
            self.failures += 1
            self.last_error = f"{type(error).__name__}: {error}".splitlines()[0][:200]


class PredictionHistory:
    def __init__(self, database):
        self.database = database
        self.write_stats = WriteStats()

    def record(self, prediction, image_png, source, filename=None):
        """Store a prediction; its id, or None when the database failed (logged
        and counted: the answer does not depend on it)."""
        return self.record_many([(prediction, image_png, source, filename)])[0]

    def record_many(self, entries):
        """Store (prediction, image PNG, source, filename) entries in one
        transaction; their ids, or Nones when the database failed."""
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
        # A Core insert: the ORM's unit of work costs more than the row itself.
        statement = insert(Prediction).returning(Prediction.id, sort_by_parameter_order=True)
        try:
            if not self.database.ensure_schema():
                raise DatabaseUnavailable()
            with self.database.engine.begin() as connection:
                return list(connection.scalars(statement, rows))
        except (SQLAlchemyError, DatabaseUnavailable) as error:
            self.write_stats.failed(error)
            log.error("Could not store %d prediction(s): %s", len(rows), error)
            return [None] * len(rows)

    def _query(self, work):
        try:
            if not self.database.ensure_schema():
                raise DatabaseUnavailable()
            with self.database.session() as session:
                return work(session)
        except SQLAlchemyError as error:
            log.error("Database query failed: %s", error)
            raise DatabaseUnavailable(str(error).splitlines()[0]) from None

    def get(self, prediction_id):
        if not 0 < prediction_id <= MAX_ID:
            return None
        return self._query(lambda session: session.get(Prediction, prediction_id))

    def recent(self, limit, before=None):
        """Up to ``limit`` predictions, newest first, older than id ``before``."""
        statement = select(Prediction).order_by(Prediction.id.desc()).limit(limit)
        if before is not None:
            before = min(before, MAX_ID + 1)
            statement = statement.where(Prediction.id < before)
        return self._query(lambda session: list(session.scalars(statement)))

    def set_label(self, prediction_id, label):
        """Store a person's correction; the updated row, or None for an unknown id."""

        if not 0 < prediction_id <= MAX_ID:
            return None

        def label_it(session):
            row = session.get(Prediction, prediction_id)
            if row is not None:
                row.label = label
                row.labelled_at = utcnow()
            return row

        return self._query(label_it)

    def corrections(self):
        """(stored image PNG, label) of every corrected prediction, oldest first."""
        statement = (select(Prediction.image_png, Prediction.label)
                     .where(Prediction.label.is_not(None)).order_by(Prediction.id))
        return self._query(lambda session: [tuple(row) for row in session.execute(statement)])

    def export_csv(self, stream, batch_size=500):
        """Write every prediction as CSV, oldest first, without holding them all."""
        writer = csv.writer(stream)
        writer.writerow(EXPORT_COLUMNS)
        count, after = 0, 0
        while True:
            statement = (select(Prediction).where(Prediction.id > after)
                         .order_by(Prediction.id).limit(batch_size))
            rows = self._query(lambda session, query=statement: list(session.scalars(query)))
            if not rows:
                return count
            for row in rows:
                writer.writerow(export_row(row))
            count += len(rows)
            after = rows[-1].id


def export_row(row):
    return (row.id, as_utc(row.created_at).isoformat(), row.source, row.filename or "",
            row.digit, f"{row.confidence:.4f}", row.model_version,
            "" if row.label is None else row.label,
            as_utc(row.labelled_at).isoformat() if row.labelled_at else "",
            json.dumps([round(p, 4) for p in row.probabilities]))
