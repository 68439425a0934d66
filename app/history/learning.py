"""Following the labels the model learns from: a thread of each process looks
at the label revision a few times a second, reads only the labels changed
since, and hands the whole learned set to whoever answers with it. The
database is the one record: every process and machine that shares it learns
the same labels, and an operator's revert reaches them all the same way."""

import logging
import os
import threading
import time
import weakref

import numpy as np

from app.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

WARNING_INTERVAL = 60.0  # seconds between two warnings that the database failed


class LabelFollower:
    """Keeps ``learn(ids, features, labels)`` up to date with the learned labels
    in ``history``, looking every ``interval`` seconds from a thread of its own
    (started by ``ensure_running``, in each process: a thread does not survive
    a fork)."""

    def __init__(self, history, learn, interval=0.5):
        self.history, self.learn, self.interval = history, learn, interval
        self.revision = 0
        self._learned = {}  # prediction id -> (features, label), oldest change first
        self._look_lock = threading.Lock()  # one look at a time: the thread's or a request's
        self._thread = None
        self._pid = None
        self._start_lock = threading.Lock()
        self._stopped = threading.Event()
        self._next_warning = 0.0

    def ensure_running(self):
        """Start following in this process, unless it already does: cheap
        enough for every request."""
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._start_lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            self._pid, self._stopped = os.getpid(), threading.Event()
            # The thread holds the follower weakly: an application dropped
            # (in tests, many) stops its follower with it.
            self._thread = threading.Thread(
                target=_follow, args=(weakref.ref(self), self._stopped, self.interval),
                name="label-follower", daemon=True)
            self._thread.start()

    def stop(self, timeout=5.0):
        """Stop following and wait up to ``timeout`` seconds for a look under
        way to end, so that nothing of this follower still reads the database
        after it returns (a look is bounded by the statement timeout)."""
        self._stopped.set()
        thread = self._thread
        if (thread is not None and self._pid == os.getpid()
                and thread is not threading.current_thread()):
            thread.join(timeout)

    def catch_up(self):
        """Read the labels changed since the last look and hand the learned set
        on if it changed; True when the look succeeded. A database that fails
        leaves the labels learned so far in use."""
        with self._look_lock:
            return self._catch_up()

    def _catch_up(self):
        try:
            changes = self.history.label_changes(self.revision)
        except DatabaseUnavailable as error:
            if time.monotonic() >= self._next_warning:
                log.warning("Cannot read the labels to learn (%s): answering with the %d "
                            "learned so far", error.message, len(self._learned))
                self._next_warning = time.monotonic() + WARNING_INTERVAL
            return False
        if changes.revision == self.revision:
            return True
        for prediction_id, features, label, learned in zip(
                changes.ids, changes.features, changes.labels, changes.learned, strict=True):
            self._learned.pop(int(prediction_id), None)  # a change moves it to the end
            if learned:
                self._learned[int(prediction_id)] = (features, int(label))
        self.revision = changes.revision
        self._hand_on()
        return True

    def _hand_on(self):
        ids = np.fromiter(self._learned, dtype=np.int64, count=len(self._learned))
        if len(ids):
            features = np.stack([self._learned[i][0] for i in ids.tolist()])
        else:
            features = np.empty((0, 64), np.uint8)
        labels = np.array([self._learned[i][1] for i in ids.tolist()], dtype=np.int64)
        self.learn(ids, features, labels)


def _follow(follower, stopped, interval):
    """Look now and then, while the LabelFollower ``follower`` (a weak
    reference) is there and not stopped."""
    while not stopped.is_set():
        current = follower()
        if current is None:
            return
        current.catch_up()
        del current
        stopped.wait(interval)
