"""The two models the accuracy benches compare: the service's default (the
bundled digits and their variants) and the one ``manage.py train --data``
makes with the first 50,000 MNIST training digits added.

The benches read MNIST digits from 50,000 on, which that model has not seen.
Its 50,000 digits' features take a while to read (about a millisecond each)
and the model a minute to cross-validate: both are cached, the features in a
.npy named by a hash of the chain's signature, the code of app/imaging and the
digits themselves, the model (a skops file, as the service stores it) by that
hash, the code of app/training and app/recognition and the training options.
A changed chain or trainer reads and trains again.
"""

import hashlib
import io
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from app.errors import DigitReaderError, EmptyImage
from app.recognition.store import ModelUnavailable, model_from_bytes, model_to_bytes
from app.training.datasets import LabelledImages
from app.training.model import train_model
from app.training.sets import assemble_training_set
from bench.renders import render

MNIST_TRAINING = 50_000  # MNIST training digits 0-49,999 train the second model
DEFAULT_CACHE_DIR = Path(tempfile.gettempdir()) / "digit-reader-bench"
APP = Path(__file__).resolve().parents[1] / "app"


def default_model(chain, n_neighbors=None, search=False, augment=True):
    """The service's default model: ``manage.py train`` with no --data."""
    training_set, _ = assemble_training_set(chain, augment=augment)
    return train_model(training_set, chain, n_neighbors, search=search)


def mnist_model(chain, mnist_path, jobs=1, cache_dir=DEFAULT_CACHE_DIR, n_neighbors=None,
                search=False, augment=True, log=print):
    """The model ``manage.py train --data`` trains with the first 50,000 digits
    of ``mnist_path`` (an .npz of ink arrays and labels): the same training
    set, read by the same chain, fitted by the same call."""
    with np.load(mnist_path) as data:
        images = data["images"][:MNIST_TRAINING]
        labels = data["labels"][:MNIST_TRAINING].astype(np.int64)
    data_key = _digest(chain.signature(), _code(APP / "imaging"), images, labels)
    model_path = Path(cache_dir) / (
        "mnist-model-" + _digest(data_key, _code(APP / "training"), _code(APP / "recognition"),
                                 repr((n_neighbors, search, augment))) + ".skops")
    if model_path.is_file():
        try:
            model = model_from_bytes(model_path.read_bytes(), str(model_path))
            log(f"50k-MNIST: model from {model_path}")
            return model
        except ModelUnavailable as error:
            log(f"50k-MNIST: cached model unusable ({error}), training again")
    started = time.perf_counter()
    features, cached = mnist_features(chain, images, data_key, jobs, cache_dir)
    log(f"50k-MNIST: features of {len(labels):,} digits "
        f"{'from ' + str(cached) if cached else 'read'} in {time.perf_counter() - started:.1f} s")
    # What the command does with an .npz of these digits (app/cli.py, train):
    # each image is read through the chain, in order, one left out where the
    # chain raises; here its features were read beforehand.
    dataset = LabelledImages(f"{Path(mnist_path).name}[:{MNIST_TRAINING}]",
                             list(range(len(labels))), labels)
    training_set, skipped = assemble_training_set(_ReadBefore(chain, features),
                                                  datasets=[dataset], augment=augment)
    started = time.perf_counter()
    model = train_model(training_set, chain, n_neighbors, search=search)
    log(f"50k-MNIST: {skipped} digits left out as unreadable; trained on "
        f"{len(training_set.labels):,} samples in {time.perf_counter() - started:.1f} s")
    _write(model_path, model_to_bytes(model))
    return model


class _ReadBefore:
    """Stands in for the chain in assemble_training_set: the features of image
    ``i`` are row ``i`` of ``features`` (NaN where the chain found no digit)."""

    def __init__(self, chain, features):
        self.chain, self.features = chain, features

    def get_params(self, deep=True):
        return self.chain.get_params(deep)

    def to_feature_vector(self, index):
        row = self.features[index]
        if np.isnan(row).any():
            raise EmptyImage()
        return row


def mnist_features(chain, images, key, jobs=1, cache_dir=DEFAULT_CACHE_DIR):
    """The features (n, 64; NaN rows where the chain raised) of ``images``
    through ``chain``, cached under ``key``; and the cache file they came
    from (None: read now)."""
    path = Path(cache_dir) / f"mnist-features-{key}.npy"
    if path.is_file():
        return np.load(path), path
    features = read_all(chain, images, jobs=jobs)
    buffer = io.BytesIO()
    np.save(buffer, features)
    _write(path, buffer.getvalue())
    return features, None


def _digest(*parts):
    """A short hash of strings, bytes and arrays."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            part = np.ascontiguousarray(part).tobytes()
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.hexdigest()[:16]


def _code(folder):
    """The Python source of ``folder``, as one string of bytes."""
    return b"".join(path.name.encode() + path.read_bytes()
                    for path in sorted(Path(folder).glob("*.py")))


def _write(path, payload, keep=3):
    """Write ``payload`` to ``path`` whole or not at all, and remove all but the
    ``keep`` newest files of its kind (its name up to the hash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(payload)
    partial.replace(path)
    kind = path.name.rsplit("-", 1)[0]
    older = sorted(path.parent.glob(f"{kind}-*{path.suffix}"), key=lambda old: old.stat().st_mtime)
    for old in older[:-keep]:
        old.unlink(missing_ok=True)


# Set in each worker process: the chain and the images being read.
_chain = None
_images = None


def _start_worker(chain, images):
    global _chain, _images
    _chain, _images = chain, images


def _features(job):
    """Features of image ``index`` of the current set, rendered in ``style``
    (None: the array itself); None when the chain rejects it."""
    index, style = job
    ink = _images[index]
    item = ink if style is None else render(ink, style, seed=index)
    try:
        return _chain.to_feature_vector(item)
    except DigitReaderError:
        return None


def read_all(chain, images, style=None, jobs=1):
    """Feature rows (n, 64) for every image of ``images`` (ink arrays) rendered
    in ``style`` (None: the arrays themselves) through ``chain``, in ``jobs``
    processes; NaN rows where the chain found no digit."""
    work = [(index, style) for index in range(len(images))]
    if jobs > 1:
        with Pool(jobs, initializer=_start_worker, initargs=(chain, images)) as pool:
            rows = pool.map(_features, work, chunksize=64)
    else:
        _start_worker(chain, images)
        rows = [_features(job) for job in work]
    return np.array([np.full(64, np.nan) if row is None else row for row in rows])
