"""The history of predictions as CSV, for the ``export`` command."""

import csv
import json

from app.history.predictions import as_utc

EXPORT_COLUMNS = ("id", "created_at", "source", "filename", "digit", "confidence",
                  "model_version", "label", "labelled_at", "probabilities")


def export_csv(history, stream, batch_size=500):
    """Write every prediction in ``history`` as CSV to ``stream``, oldest first,
    a batch at a time; how many were written."""
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    count, after = 0, 0
    while True:
        rows = history.after(after, batch_size)
        if not rows:
            return count
        for row in rows:
            writer.writerow(export_row(row))
        count += len(rows)
        after = rows[-1].id


def export_row(row):
    """One stored prediction as a CSV row, in EXPORT_COLUMNS order."""
    return (row.id, as_utc(row.created_at).isoformat(), row.source, row.filename or "",
            row.digit, f"{row.confidence:.4f}", row.model_version,
            "" if row.label is None else row.label,
            as_utc(row.labelled_at).isoformat() if row.labelled_at else "",
            json.dumps([round(p, 4) for p in row.probabilities]))
