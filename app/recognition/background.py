"""The training process a web worker starts when it finds no usable model:
``python -m app.training JOB``, one for all the workers, under a file lock."""

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # where 'python -m app.training' runs


def start_training(repository, chain, n_neighbors, n_folds):
    """Start the process that trains and saves a model for ``repository``; None
    when another process holds the training lock (it trains already). Raises
    OSError when the storage refuses the lock file."""
    lock = repository.try_training_lock()
    if lock is None:
        return None
    with lock:  # the training process holds it from here on
        job = {"path": repository.path, "chain": chain.get_params(),
               "n_neighbors": n_neighbors, "n_folds": n_folds, "lock_fd": lock.fileno()}
        process = subprocess.Popen([sys.executable, "-m", "app.training", json.dumps(job)],
                                   cwd=PROJECT_ROOT, pass_fds=(lock.fileno(),))
    threading.Thread(target=_watch, args=(process,), name="model-training",
                     daemon=True).start()
    return process


def _watch(process):
    # Waited for here, so that it never lingers as a zombie.
    if process.wait() != 0:
        log.error("Training in another process failed (exit status %s): answering "
                  "from the provisional model", process.returncode)


def training_goes_on(process, repository):
    """True while ``process`` (or any other process) trains for ``repository``."""
    if process is not None and process.poll() is None:
        return True
    try:
        lock = repository.try_training_lock()
    except OSError:
        return False
    if lock is None:
        return True  # another process trains
    lock.close()
    return False


def stop_training(process):
    """Stop ``process`` if it still runs: a stopped service leaves nothing behind."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
