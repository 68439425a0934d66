"""Prediction ids handed out in blocks before their rows are written, unique
across every process and machine that share the database."""

import math
import os
import threading
import time
from collections import deque

from sqlalchemy import func, select, text, update

from app.errors import DatabaseUnavailable
from app.history.tables import MAX_ID, PredictionIdCounter

# A process takes ids a block at a time, sized to what it used in about the
# last block's lifetime, and drops what is left of a block older than that:
# ids from different processes stay in time order to within about a second.
ID_BLOCK_LIFETIME = 1.0
MAX_ID_BLOCK = 1000
# A row is written within this long of its id being handed out, normally; a
# read of an id that was handed out but is not there yet waits up to this long
# for the process that holds the row (another worker, another machine).
IN_FLIGHT_SECONDS = 1.0


class PredictionIds:
    """Prediction ids handed out before their rows are written, so that an
    answer carries its id while the row is still on its way.

    A process reserves a block of ids in one short transaction: from the
    predictions table's own sequence on PostgreSQL, from the prediction_ids
    counter elsewhere (SQLite). Ids are unique across every process and
    machine that share the database, and increase within a process.
    """

    def __init__(self, database):
        self.database = database
        self.has_sequence = database.url.get_backend_name() == "postgresql"
        self._lock = threading.Lock()
        self._pid = None
        self._block = deque()
        self._block_size = 0
        self._reserved_at = -math.inf
        # (when, an id handed out by then), oldest first, back to the newest
        # that is older than the settling time: for in_flight.
        self._seen = deque()

    def take(self, count):
        """``count`` ids, in increasing order."""
        with self._lock:
            now = time.monotonic()
            if self._pid != os.getpid():  # a forked copy: the block is the parent's
                self._pid, self._block, self._block_size = os.getpid(), deque(), 0
            expired = now - self._reserved_at > ID_BLOCK_LIFETIME
            if expired or len(self._block) < count:
                # How fast the last block went says how many ids a lifetime takes.
                used = self._block_size - len(self._block)
                rate = used / max(now - self._reserved_at, 1e-3)
                if expired:
                    self._block.clear()
                wanted = max(count - len(self._block),
                             min(math.ceil(rate * ID_BLOCK_LIFETIME), MAX_ID_BLOCK))
                # Within the request's wait on the database: a reservation that
                # does not answer in time is left to itself, its ids unused.
                fresh = self.database.call(lambda: self._reserve(wanted))
                self._block.extend(fresh)
                self._block_size, self._reserved_at = len(self._block), now
                self._saw(now, fresh[-1])
            return [self._block.popleft() for _ in range(count)]

    def in_flight(self, prediction_id, session):
        """Whether a row with this id may still be on its way from some process:
        the id was handed out, and not so long ago that the row must be there."""
        with self._lock:
            if prediction_id <= self._settled(time.monotonic()):
                return False
        if self.has_sequence:
            latest = session.execute(text(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence('predictions', 'id'))"))
        else:
            latest = session.execute(select(PredictionIdCounter.next_id - 1))
        latest = latest.scalar() or 0
        with self._lock:
            self._saw(time.monotonic(), latest)
        return prediction_id <= latest

    def _reserve(self, count):
        with self.database.engine.begin() as connection:
            if self.has_sequence:
                sequence = func.pg_get_serial_sequence("predictions", "id")
                ids = sorted(connection.scalars(
                    select(func.nextval(sequence)).select_from(func.generate_series(1, count))))
            else:
                stop = connection.execute(
                    update(PredictionIdCounter)
                    .values(next_id=PredictionIdCounter.next_id + count)
                    .returning(PredictionIdCounter.next_id)).scalar_one()
                ids = list(range(stop - count, min(stop, MAX_ID + 1)))
        if not ids:
            raise DatabaseUnavailable("Every prediction id has been used.")
        return ids

    def _saw(self, when, handed_out):
        """By ``when``, every id up to ``handed_out`` had been handed out."""
        if not self._seen or self._seen[-1][1] < handed_out:
            self._seen.append((when, handed_out))
        self._settled(when)

    def _settled(self, now):
        """The highest id whose row is written by ``now`` if it ever will be:
        handed out longer ago than a block lives and a row takes to come."""
        horizon = now - ID_BLOCK_LIFETIME - IN_FLIGHT_SECONDS
        while len(self._seen) > 1 and self._seen[1][0] <= horizon:
            self._seen.popleft()
        if self._seen and self._seen[0][0] <= horizon:
            return self._seen[0][1]
        return 0
