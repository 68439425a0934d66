"""Rows written behind the answer: a bounded queue per process and one thread
that commits whatever waits in one transaction (group commit, no timer); a full
queue makes the caller write its own. Every queued row goes first to a journal
of the process's own, which the next start on the machine writes if the
process was killed."""

import fcntl
import json
import logging
import os
import struct
import tempfile
import threading
import time
import weakref
from collections import deque
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# A thread with nothing to write for this long ends; the next row starts another.
IDLE_SECONDS = 30.0
# A batch the database refuses is tried again, waiting longer each time up to
# the longest pause, for this long before it is given up: logged and counted,
# and kept in the journal, whose rows the next start writes.
RETRY_SECONDS = 10.0
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 0.25
# On stop, what is left is written for at most this long.
CLOSE_SECONDS = 10.0

WRITE_ERRORS = (SQLAlchemyError, DatabaseUnavailable)

_writers = weakref.WeakSet()


def _start_afresh_after_fork():
    for writer in list(_writers):
        writer._start_afresh()


os.register_at_fork(after_in_child=_start_afresh_after_fork)


class PredictionWriter:
    """Writes batches of rows with ``write(rows)`` (one transaction) in a thread
    of its own, holding at most ``queue_size`` rows that are not written yet;
    ``failed(error, count)`` hears of rows given up. With a ``journal``, the
    rows that processes now gone left in it are written first, with
    ``write_missing(rows)``, which skips the rows already there."""

    def __init__(self, write, failed, queue_size=1000, journal=None, write_missing=None):
        self.write = write
        self.failed = failed
        self.queue_size = queue_size
        self.journal = journal
        self.write_missing = write_missing
        self._start_afresh()
        _writers.add(self)

    def _start_afresh(self):
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._written = threading.Condition(self._lock)
        self._waiting = deque()  # lists of rows, as submitted
        self._submitted = 0  # rows ever accepted, and ever settled (written or given up)
        self._settled = 0
        self._retrying = False
        self._journal_failing = False
        self._closing = False
        self._give_up_at = None  # when closing: the end of the last batch's retries
        self._thread = None
        if self.journal is not None:
            self.journal.leave_to_parent()

    def submit(self, rows):
        """Queue ``rows`` to be written; False when they were not queued (the
        queue is full, the database is failing, or the writer is closed) and
        the caller should write them itself."""
        with self._lock:
            if (self._closing or self._retrying
                    or self._submitted - self._settled + len(rows) > self.queue_size):
                return False
            if not self._kept_in_journal(rows):
                return False
            self._waiting.append(rows)
            self._submitted += len(rows)
            if self._thread is None:
                # Started on the first row, never before: gunicorn imports the
                # application in its master and forks the workers, and a thread
                # does not survive a fork (a forked copy starts afresh, empty).
                self._thread = threading.Thread(target=self._run, name="prediction-writer",
                                                daemon=True)
                self._thread.start()
            self._work.notify()
            return True

    def _kept_in_journal(self, rows):
        """Whether ``rows`` are in the journal, or there is none; a journal that
        cannot be written (a full disk) makes the callers write their rows."""
        if self.journal is None:
            return True
        try:
            self.journal.append(rows)
        except OSError as error:
            if not self._journal_failing:
                log.error("Cannot write the journal in %s (%s): predictions are written "
                          "before their answers until it can", self.journal.directory, error)
            self._journal_failing = True
            return False
        if self._journal_failing:
            log.warning("The journal in %s works again", self.journal.directory)
        self._journal_failing = False
        return True

    def flush(self, timeout):
        """Wait up to ``timeout`` seconds for every row submitted so far to be
        written (or given up), but not while the database fails; True when
        they were."""
        with self._lock:
            target = self._submitted
            self._written.wait_for(lambda: self._settled >= target or self._retrying, timeout)
            return self._settled >= target

    def close(self, timeout=CLOSE_SECONDS):
        """Write what is waiting, trying for at most ``timeout`` seconds, and
        accept no more rows (callers then write their own). True when nothing
        was left unwritten."""
        with self._lock:
            self._closing = True
            self._give_up_at = time.monotonic() + timeout
            thread = self._thread
            self._work.notify()
        if thread is not None:
            thread.join(timeout + 1.0)
        with self._lock:
            if self.journal is not None and (thread is None or not thread.is_alive()):
                self.journal.close()
            return self._settled >= self._submitted

    @property
    def pending(self):
        """Rows accepted and not yet settled."""
        with self._lock:
            return self._submitted - self._settled

    def _run(self):
        if self.journal is not None:
            self._write_orphans()
        while True:
            with self._lock:
                if not self._waiting and not self._closing:
                    self._work.wait(IDLE_SECONDS)
                if not self._waiting:
                    self._thread = None
                    return
                rows = [row for batch in self._waiting for row in batch]
                self._waiting.clear()
                segment = self.journal.seal() if self.journal is not None else None
            try:
                written = self._write_with_retries(rows)
            except Exception as error:  # a bug must not stop the thread, and every wait
                log.exception("Writing %d prediction(s) failed", len(rows))
                self.failed(error, len(rows))
                written = False
            with self._lock:
                if segment is not None:
                    self._settle_journal(segment, rows, written)
                self._settled += len(rows)
                self._written.notify_all()

    def _settle_journal(self, segment, rows, written):
        try:
            self.journal.settle(segment, rows, written)
        except OSError as error:
            log.error("Cannot empty the journal in %s: %s", self.journal.directory, error)
        if not written:
            log.warning("The %d prediction(s) not written are kept in the journal in %s "
                        "for the next start", len(rows), self.journal.directory)

    def _write_with_retries(self, rows):
        """True when ``rows`` were written, False when they were given up."""
        pause = FIRST_PAUSE
        give_up_at = time.monotonic() + RETRY_SECONDS
        written = False
        while not written:
            try:
                self.write(rows)
                written = True
            except WRITE_ERRORS as error:
                with self._lock:
                    if not self._retrying:
                        log.warning("Writing %d prediction(s) failed, trying again for up "
                                    "to %g s: %s", len(rows), RETRY_SECONDS,
                                    str(error).splitlines()[0])
                    self._retrying = True
                    self._written.notify_all()  # nobody waits for a failing database
                    deadline = min(give_up_at, self._give_up_at or give_up_at)
                if time.monotonic() + pause > deadline:
                    self.failed(error, len(rows))
                    break
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE)
        with self._lock:
            self._retrying = False
        return written

    def _write_orphans(self):
        try:
            for path, rows in self.journal.orphans():
                try:
                    written = self.write_missing(rows)
                except WRITE_ERRORS as error:
                    log.error("Could not write the %d prediction(s) left in %s: %s; "
                              "trying again on the next start", len(rows), path.name, error)
                    continue
                path.unlink(missing_ok=True)
                log.warning("Wrote %d prediction(s) of %d left by a stopped process in %s",
                            written, len(rows), path.name)
        except OSError as error:
            log.error("Cannot read the journals in %s: %s", self.journal.directory, error)


class Journal:
    """Files of queued rows, one or a few per process, in ``directory``: rows
    are appended before they are queued, and a file is emptied once its rows
    are written. A process holds an exclusive lock on its files while it
    lives, so a file that can be locked is one whose process is gone."""

    SUFFIX = ".rows"

    def __init__(self, directory):
        self.directory = Path(directory)
        self._files = {}  # descriptor: path, of the files this process holds
        self._current = None  # where rows are appended now
        self._spare = []  # emptied files, kept for reuse
        self._kept = None  # where rows given up wait for the next start

    def append(self, rows):
        """Raises OSError when the rows could not be kept (nothing is then kept)."""
        if self._current is None:
            self._current = self._spare.pop() if self._spare else self._create()
        self._append(self._current, rows)

    @staticmethod
    def _append(descriptor, rows):
        end = os.lseek(descriptor, 0, os.SEEK_CUR)
        data = memoryview(encode_rows(rows))
        try:
            while data:
                data = data[os.write(descriptor, data):]
        except OSError:
            os.ftruncate(descriptor, end)  # no row cut short before the next ones
            os.lseek(descriptor, end, os.SEEK_SET)
            raise

    def seal(self):
        """The file that holds every row appended so far; later rows go to
        another one, until ``settle``."""
        sealed, self._current = self._current, None
        return sealed

    def settle(self, sealed, rows, written):
        """``rows``, all that ``sealed`` holds, were written, or given up: then
        they are kept, in one file for all that this process gives up, which
        the next start writes. ``sealed`` is emptied for reuse."""
        if not written and self._kept is None:
            self._kept = sealed
            return
        if not written:
            self._append(self._kept, rows)
        os.ftruncate(sealed, 0)
        os.lseek(sealed, 0, os.SEEK_SET)
        self._spare.append(sealed)

    def close(self):
        """Remove this process's emptied files; one that still holds rows is
        left for the next start."""
        if self._current is not None and os.lseek(self._current, 0, os.SEEK_CUR) == 0:
            self._spare.append(self._current)
            self._current = None
        for descriptor in self._spare:
            Path(self._files.pop(descriptor)).unlink(missing_ok=True)
            os.close(descriptor)
        self._spare = []

    def leave_to_parent(self):
        """In a forked child: the files (and their locks) are the parent's."""
        for descriptor in self._files:
            os.close(descriptor)
        self._files, self._current, self._spare, self._kept = {}, None, [], None

    def orphans(self):
        """(path, rows) of each file whose process is gone; each stays locked
        while its rows are handed out, and should be removed once written."""
        for path in sorted(self.directory.glob(f"*{self.SUFFIX}")):
            try:
                descriptor = os.open(path, os.O_RDWR)
            except FileNotFoundError:  # another process wrote it meanwhile
                continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process lives
                os.close(descriptor)
                continue
            try:
                with open(descriptor, "rb", closefd=False) as file:
                    rows = decode_rows(file.read())
            except (ValueError, KeyError, TypeError) as error:
                log.error("Cannot read the journal %s (%s); it is left as %s.unreadable",
                          path.name, error, path.name)
                path.rename(path.with_name(f"{path.name}.unreadable"))
                os.close(descriptor)
                continue
            try:
                if rows:
                    yield path, rows
                else:
                    path.unlink(missing_ok=True)
            finally:
                os.close(descriptor)

    def _create(self):
        """A new file of this process's, locked before it is named as a journal."""
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor, path = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".new",
                                            dir=self.directory)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            named = Path(path).with_suffix(self.SUFFIX)
            os.rename(path, named)
        except OSError:
            os.close(descriptor)
            Path(path).unlink(missing_ok=True)
            raise
        self._files[descriptor] = named
        return descriptor


# A row in a journal: the lengths of its JSON and of its bytes, then the JSON
# (plain values, which of them are times, the name and length of each bytes
# value), then the bytes values one after the other.
ROW_HEADER = struct.Struct("<II")


def encode_rows(rows):
    parts = []
    for row in rows:
        plain = {key: value for key, value in row.items() if not isinstance(value, bytes)}
        times = [key for key, value in plain.items() if isinstance(value, datetime)]
        for key in times:
            plain[key] = plain[key].isoformat()
        blobs = [(key, len(value)) for key, value in row.items() if isinstance(value, bytes)]
        described = json.dumps({"plain": plain, "times": times, "blobs": blobs}).encode()
        parts += [ROW_HEADER.pack(len(described), sum(length for _, length in blobs)),
                  described, *(row[key] for key, _ in blobs)]
    return b"".join(parts)


def decode_rows(data):
    """The rows in ``data``; a row cut short (the machine stopped mid-write)
    ends them."""
    rows, offset = [], 0
    while offset + ROW_HEADER.size <= len(data):
        described_length, blobs_length = ROW_HEADER.unpack_from(data, offset)
        offset += ROW_HEADER.size
        if offset + described_length + blobs_length > len(data):
            log.warning("A journal ends with a row cut short; it is skipped")
            break
        described = json.loads(data[offset:offset + described_length])
        offset += described_length
        row = described["plain"]
        for key in described["times"]:
            row[key] = datetime.fromisoformat(row[key])
        for key, length in described["blobs"]:
            row[key] = data[offset:offset + length]
            offset += length
        rows.append(row)
    return rows
