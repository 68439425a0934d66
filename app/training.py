"""Training sets and the training of new models, with scikit-learn.

Serving never imports this module at start: a process that trains or reads a
skops file brings in scikit-learn, scipy and skops (some 80 MB). A web worker
that finds no model starts ``python -m app.training`` instead, and picks up
the model it saves like any other new model file.
"""

import json
import logging
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from app import classifier as knn
from app.augment import augment_digits
from app.datasets import bundled_digits
from app.errors import DigitReaderError
from app.imaging import ImageChain
from app.repository import (
    ClassifierRepository,
    ModelUnavailable,
    StoredModel,
    describe_model,
    fitted_content_hash,
    model_from_bytes,
    snapshot_files,
)
from app.service import chain_signature

log = logging.getLogger("app.training")  # the same name when run as __main__


@dataclass(frozen=True)
class TrainingSet:
    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray  # a sample and the variants made from it share a group
    scored: np.ndarray  # True for real samples, False for generated variants
    samples: dict  # count by source: bundled, augmented, feedback, imported


@lru_cache(maxsize=4)
def _augmented_bundled_digits(chain):
    features, labels = bundled_digits()
    augmented, augmented_labels, sources = augment_digits(
        features, labels, random_state=0, chain=chain, return_sources=True)
    return augmented, augmented_labels, sources, len(labels)


def bundled_training_set(chain):
    """scikit-learn's bundled digits, and variants of them as the chain gives
    them to drawings (see app/augment.py). Made once per process and chain."""
    features, labels, sources, originals = _augmented_bundled_digits(
        ImageChain(**{**chain.get_params(), "max_pixels": 1}))
    scored = np.arange(len(labels)) < originals
    return TrainingSet(features, labels, sources, scored, {
        "bundled": originals, "augmented": len(labels) - originals, "feedback": 0,
        "imported": 0})


def extend_training_set(training_set, images, labels, source, chain, progress=None):
    """The training set plus ``images`` read through the chain, counted under
    ``source``. An image the chain cannot read (blank, corrupt) is left out and
    counted in the second value returned."""
    features, kept, skipped = [], [], 0
    for image, label in zip(images, labels, strict=True):
        try:
            features.append(chain.to_feature_vector(image))
            kept.append(label)
        except DigitReaderError:
            skipped += 1
        if progress is not None:
            progress(1)
    if not kept:
        return training_set, skipped
    samples = {**training_set.samples,
               source: training_set.samples.get(source, 0) + len(kept)}
    first_group = int(training_set.groups.max()) + 1
    return TrainingSet(
        np.vstack([training_set.features, np.array(features)]),
        np.concatenate([training_set.labels, np.array(kept, dtype=np.int64)]),
        np.concatenate([training_set.groups, np.arange(first_group, first_group + len(kept))]),
        np.concatenate([training_set.scored, np.ones(len(kept), dtype=bool)]),
        samples), skipped


def plain_training_set():
    """The bundled digits alone, without their variants."""
    features, labels = bundled_digits()
    return TrainingSet(features, labels, np.arange(len(labels)), np.ones(len(labels), bool),
                       {"bundled": len(labels), "augmented": 0, "feedback": 0, "imported": 0})


def train_model(training_set, chain, n_neighbors=None, n_folds=10, search=False):
    """A new StoredModel fitted on ``training_set`` for ``chain``'s features."""
    result = knn.train(training_set.features, training_set.labels, training_set.samples,
                       groups=training_set.groups, scored=training_set.scored,
                       n_neighbors=n_neighbors, n_folds=n_folds, search=search)
    metadata = describe_model(fitted_content_hash(result.classifier), accuracy=result.accuracy,
                              samples=result.samples, n_neighbors=result.n_neighbors,
                              weights=result.weights, recall=result.evaluation.recall,
                              confusion=result.evaluation.confusion,
                              chain=chain_signature(chain), calibration=result.calibration)
    return StoredModel(result.classifier, {**metadata, "provisional": False})


def load_with_snapshot(repository, chain):
    """The snapshot to answer with and the files it was read from, made again
    from the model file when missing or stale (after an upgrade, or a crash
    between the two writes); raises ModelUnavailable when the model file itself
    cannot be used."""
    try:
        return repository.load_snapshot()
    except ModelUnavailable as reason:
        log.info("Reading the model file itself (%s)", reason)
    model_bytes = repository.read_model_bytes()
    model = model_from_bytes(model_bytes, repository.path)
    if model.metadata.get("chain") != chain_signature(chain):
        raise ModelUnavailable(f"{repository.path} was made for another image chain")
    files = snapshot_files(model, model_bytes)
    try:
        repository.write_snapshot(files)
    except OSError as error:
        log.error("Could not save the snapshot of model %s: %s", model.version, error)
    return model.snapshot(), files


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
            load_with_snapshot(repository, chain)
            log.info("The model file at %s is usable: nothing to train", repository.path)
            return 0
        except ModelUnavailable as reason:
            log.warning("No usable model (%s): training a new one", reason)
        model = train_model(bundled_training_set(chain), chain, job["n_neighbors"],
                            job["n_folds"])
        repository.save(model)
    log.info("Saved model %s to %s", model.version, repository.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
