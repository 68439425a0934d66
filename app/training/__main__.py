"""``python -m app.training JOB``: the process a web worker starts to make the
model file it found missing or unusable."""

import json
import logging
import os
import signal
import sys
from contextlib import contextmanager

from app.imaging.chain import ImageChain
from app.recognition.store import ClassifierRepository, ModelUnavailable
from app.training.model import train_bundled

log = logging.getLogger("app.training")  # one name, run as __main__ or imported


@contextmanager
def training_lock(repository, held=None):
    """Held while one process trains for ``repository``: the others wait, then
    find its model. ``held``: the descriptor of the lock, already taken by the
    process that started this one."""
    lock = os.fdopen(held, "w") if held is not None else repository.try_training_lock(wait=True)
    with lock:
        yield


def main(argv=None):
    """``python -m app.training JOB``: make the model file a web worker found
    missing or unusable, then exit. JOB is JSON: the model file's path, the
    chain's parameters, k (or null), the cross-validation folds, and the
    descriptor of the training lock the worker took for it (or null)."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Stopped with its worker: as an exception, so that no half-written file stays.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    job = json.loads((argv or sys.argv)[1])
    repository = ClassifierRepository(job["path"])
    chain = ImageChain(**job["chain"])
    with training_lock(repository, job.get("lock_fd")):
        try:
            repository.load_remaking_snapshot(chain.signature())
            log.info("The model file at %s is usable: nothing to train", repository.path)
            return 0
        except ModelUnavailable as reason:
            log.warning("No usable model (%s): training a new one", reason)
        model = train_bundled(chain, job["n_neighbors"], job["n_folds"])
        repository.save(model)
    log.info("Saved model %s to %s", model.version, repository.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
