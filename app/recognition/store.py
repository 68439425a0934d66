"""Where the model lives between processes and machines: the skops file (the
fitted scikit-learn pipeline), the numpy snapshot beside it that workers answer
from, and the same two files in Redis. Writes are atomic; a file that cannot be
used reads as ModelUnavailable, with the reason."""

import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as installed_version

import numpy as np

from app.imaging.shape import FEATURE_SIZE
from app.recognition.vote import NeighbourVote

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
# Read from the installed package, so that a serving process need not import it.
SKLEARN_VERSION = installed_version("scikit-learn")
SNAPSHOT_SUFFIX = ".serving.npz"


@dataclass(frozen=True)
class StoredModel:
    """A fitted classifier with what is known of how it was made."""

    classifier: object
    metadata: dict
    # features of touching pairs, for the judge of numbers (an array: never compared)
    pairs: np.ndarray | None = field(default=None, compare=False)

    @property
    def version(self):
        return self.metadata["version"]

    def snapshot(self):
        return ModelSnapshot(NeighbourVote.from_estimator(self.classifier.named_steps["knn"]),
                             self.metadata, self.pairs)


@dataclass(frozen=True)
class ModelSnapshot:
    """What answering needs of a model: its neighbour vote and its metadata,
    and the features of touching pairs that tell two digits from one (none in
    a model made before there were any)."""

    vote: NeighbourVote
    metadata: dict
    pairs: np.ndarray | None = field(default=None, compare=False)

    @property
    def version(self):
        return self.metadata["version"]


@dataclass(frozen=True)
class ModelFiles:
    """The bytes of a saved model: the skops file and its serving snapshot."""

    model: bytes
    snapshot: bytes

class ModelUnavailable(Exception):
    """The file holds no model this process can use; the reason is the message."""


def runtime_versions():
    """The library versions a stored model must match to be used here."""
    return {"sklearn_version": SKLEARN_VERSION, "numpy_version": np.__version__}


def describe_model(digest, *, accuracy, samples, n_neighbors, weights, recall, confusion,
                   chain, calibration, typical_distance, created_at=None):
    """The metadata stored beside a model whose content hash is ``digest``. The
    version names the moment and the content, so that two trainings never
    share one. ``typical_distance``: the scale of the model's distances
    (``vote.typical_distance``); models stored before it was kept have none."""
    created_at = created_at or datetime.now(UTC)
    return {
        "format_version": FORMAT_VERSION,
        "version": f"{created_at:%Y%m%dT%H%M%S}-{digest[:10]}",
        "created_at": created_at.isoformat(timespec="seconds"),
        "content_hash": digest,
        "accuracy": float(accuracy),
        "samples": {str(source): int(count) for source, count in samples.items()},
        "n_neighbors": int(n_neighbors),
        "weights": str(weights),
        "recall": [float(value) for value in recall],
        "confusion": [[int(count) for count in row] for row in confusion],
        "chain": str(chain),
        "calibration": calibration,
        "typical_distance": float(typical_distance),
        **runtime_versions(),
    }


def fitted_content_hash(classifier):
    """A digest of what a fitted kNN pipeline answers with: its parameters and
    the arrays it learnt."""
    knn = classifier.named_steps["knn"]
    return content_hash(knn.get_params(), (knn._fit_X, knn._y, knn.classes_))


def content_hash(params, arrays):
    """SHA-256 of ``params`` (a dict) and ``arrays``, their dtypes and shapes included."""
    digest = hashlib.sha256(repr(sorted(params.items())).encode())
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class ClassifierRepository:
    """Saves and loads the classifier at ``path`` and its serving snapshot beside it."""

    def __init__(self, path):
        self.path = os.fspath(path)
        root, _ = os.path.splitext(self.path)
        self.snapshot_path = root + SNAPSHOT_SUFFIX
        self.training_lock_path = f"{self.path}.training.lock"

    def try_training_lock(self, wait=False):
        """The training lock, taken, as an open file (closing every copy of it
        releases it); None when another process holds it, unless ``wait``.
        Raises OSError when the storage refuses the lock file."""
        lock = open(self.training_lock_path, "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
        return lock

    def stamp(self):
        """A cheap fingerprint of the files on disk: it changes whenever a new
        model or snapshot is renamed into place."""
        return _stamp(self.path), _stamp(self.snapshot_path)

    def load(self):
        """The stored model, fitted classifier and all (this imports skops and
        scikit-learn); raises ModelUnavailable saying why it cannot be used."""
        return model_from_bytes(self.read_model_bytes(), self.path)

    def read_model_bytes(self):
        """The skops file's bytes; raises ModelUnavailable saying why not."""
        return self._read(self.path, "model")

    def load_remaking_snapshot(self, chain_signature):
        """``load_snapshot``, with a missing or stale snapshot made again from the
        model file (after an upgrade, or a crash between the two writes): for
        processes that may import skops. Raises ModelUnavailable when the model
        file itself cannot be used."""
        try:
            return self.load_snapshot()
        except ModelUnavailable as reason:
            log.info("Reading the model file itself (%s)", reason)
        model_bytes = self.read_model_bytes()
        model = model_from_bytes(model_bytes, self.path)
        if model.metadata.get("chain") != chain_signature:
            raise ModelUnavailable(f"{self.path} was made for another image chain")
        files = snapshot_files(model, model_bytes)
        try:
            self.write_snapshot(files)
        except OSError as error:
            log.error("Could not save the snapshot of model %s: %s", model.version, error)
        return model.snapshot(), files

    def load_snapshot(self):
        """The snapshot to answer with, and the files it was read from; raises
        ModelUnavailable saying why it cannot be used."""
        files = ModelFiles(self.read_model_bytes(),
                           self._read(self.snapshot_path, "serving snapshot"))
        return snapshot_from_files(files, self.snapshot_path), files

    def _read(self, path, what):
        try:
            with open(path, "rb") as file:
                return file.read()
        except FileNotFoundError:
            raise ModelUnavailable(f"no {what} file at {path}") from None
        except OSError as error:
            raise ModelUnavailable(f"cannot read {path}: {error}") from None

    def save(self, model):
        """Write ``model`` and its snapshot atomically; raises OSError when the
        disk refuses. Returns the files written."""
        files = self.files_of(model)
        self.save_files(files)
        return files

    @staticmethod
    def files_of(model):
        """The files ``model`` (a StoredModel) is saved as."""
        return snapshot_files(model, model_to_bytes(model))

    def save_files(self, files):
        """Write a model's files as they are (copied from another machine, or
        just made). The model first: a snapshot is never newer than it."""
        _write_atomically(self.path, files.model)
        self.write_snapshot(files)

    def write_snapshot(self, files):
        """Write the serving snapshot in ``files`` atomically."""
        _write_atomically(self.snapshot_path, files.snapshot)


def _stamp(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _write_atomically(path, payload):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".model-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def snapshot_files(model, model_bytes):
    """``model``'s files, its skops file being ``model_bytes``."""
    return ModelFiles(model_bytes, snapshot_to_bytes(model.snapshot(), model_bytes))


def model_to_bytes(model):
    # Imported here, not with this module: skops's import walks every
    # scikit-learn estimator, and serving processes never need it.
    """``model`` (a StoredModel) as the bytes of a skops file."""
    import skops.io as sio

    content = {"classifier": model.classifier, "metadata": model.metadata}
    if model.pairs is not None:
        content["pairs"] = model.pairs
    return sio.dumps(content)


def model_from_bytes(payload, origin):
    """A StoredModel from skops bytes, trusting no type that skops does not
    trust by default; raises ModelUnavailable saying why it cannot be used."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=payload)
        if untrusted:
            raise ModelUnavailable(f"{origin} holds untrusted types: {untrusted}")
        content = sio.loads(payload, trusted=[])
    except ModelUnavailable:
        raise
    except Exception as error:  # skops raises many types on a corrupt archive
        raise ModelUnavailable(f"{origin} is corrupt ({type(error).__name__}: {error})") from None
    if not isinstance(content, dict) or not {"classifier", "metadata"} <= content.keys():
        raise ModelUnavailable(f"{origin} does not hold a classifier and its metadata")
    _check_metadata(content["metadata"], origin)
    return StoredModel(content["classifier"], content["metadata"],
                       _checked_pairs(content.get("pairs"), origin))


def _checked_pairs(pairs, origin):
    """The touching pairs' features of a model file, None where it has none;
    raises ModelUnavailable where they are not features."""
    if pairs is None:
        return None
    if not (isinstance(pairs, np.ndarray) and pairs.ndim == 2 and pairs.shape[1] == FEATURE_SIZE
            and pairs.dtype.kind == "f" and np.isfinite(pairs).all()):
        raise ModelUnavailable(f"{origin} holds touching pairs that are not features")
    return pairs


def _check_metadata(metadata, origin):
    if not isinstance(metadata, dict) or metadata.get("format_version") != FORMAT_VERSION:
        raise ModelUnavailable(f"{origin} is of another format version")
    expected = runtime_versions()
    found = {key: metadata.get(key) for key in expected}
    if found != expected:
        raise ModelUnavailable(f"{origin} was made with {found}, this process runs {expected}")


def snapshot_to_bytes(snapshot, model_bytes):
    """The snapshot as .npz bytes, naming the model file it was made from."""
    vote = snapshot.vote
    metadata = {**snapshot.metadata, "model_sha256": hashlib.sha256(model_bytes).hexdigest()}
    buffer = io.BytesIO()
    pairs = {} if snapshot.pairs is None else {"pairs": snapshot.pairs}
    np.savez(buffer, samples=vote.samples, labels=vote.labels, classes=vote.classes,
             metadata=np.array(json.dumps(metadata)), **pairs)
    return buffer.getvalue()


def snapshot_from_files(files, origin):
    """The ModelSnapshot in ``files.snapshot``, if it was made from
    ``files.model``; raises ModelUnavailable saying why it cannot be used.
    Only plain arrays are read: numpy refuses pickled objects."""
    try:
        with np.load(io.BytesIO(files.snapshot), allow_pickle=False) as archive:
            samples, labels, classes = archive["samples"], archive["labels"], archive["classes"]
            metadata = json.loads(str(archive["metadata"]))
            pairs = archive["pairs"] if "pairs" in archive.files else None
    except Exception as error:  # numpy and zipfile raise many types on a corrupt archive
        raise ModelUnavailable(f"{origin} is corrupt ({type(error).__name__}: {error})") from None
    _check_metadata(metadata, origin)
    if metadata.get("model_sha256") != hashlib.sha256(files.model).hexdigest():
        raise ModelUnavailable(f"{origin} was not made from the model file beside it")
    if not (samples.ndim == 2 and labels.shape == (len(samples),) and classes.ndim == 1
            and labels.dtype.kind in "iu" and classes.dtype.kind in "iu"
            and samples.dtype.kind == "f" and len(samples) and np.isfinite(samples).all()
            and 0 <= labels.min() and labels.max() < len(classes)
            and isinstance(metadata.get("version"), str)
            and metadata.get("weights") in ("uniform", "distance")
            and isinstance(metadata.get("n_neighbors"), int) and metadata["n_neighbors"] > 0):
        raise ModelUnavailable(f"{origin} does not hold a fitted kNN")
    metadata.pop("model_sha256")
    vote = NeighbourVote(samples, labels, classes, metadata["n_neighbors"], metadata["weights"])
    return ModelSnapshot(vote, metadata, _checked_pairs(pairs, origin))


class SharedModelStore:
    """The current model in Redis, for machines that share no disk: its version
    under one key (read by every worker about once a second), its files under
    two others (read only when the version changes)."""

    def __init__(self, client, prefix="digit-reader:model:"):
        self.client = client
        self.version_key = f"{prefix}version"
        self.model_key = f"{prefix}payload"
        self.snapshot_key = f"{prefix}snapshot"

    def version(self):
        """The published version, or None; raises redis.RedisError, or
        ModelUnavailable when the key holds no text."""
        value = self.client.get(self.version_key)
        if not value:
            return None
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise ModelUnavailable("the model version in Redis is not text") from None

    def holds(self, version):
        """True when ``version`` is the published one, its files complete (a
        store written before snapshots existed holds no snapshot)."""
        with self.client.pipeline(transaction=False) as pipe:
            published, has_snapshot = pipe.get(self.version_key).exists(self.snapshot_key).execute()
        # Compared as bytes: the key may hold anything.
        return published == version.encode() and bool(has_snapshot)

    def fetch(self):
        """The published snapshot and the files it came in; raises
        ModelUnavailable or redis.RedisError."""
        model, snapshot = self.client.mget([self.model_key, self.snapshot_key])
        if not model or not snapshot:
            raise ModelUnavailable("no model is published in Redis")
        files = ModelFiles(model, snapshot)
        return snapshot_from_files(files, "the model in Redis"), files

    def publish(self, version, files):
        """Make the model in ``files`` every machine's model: its files and the
        version that points readers at them, in one transaction."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.model_key, files.model)
            pipe.set(self.snapshot_key, files.snapshot)
            pipe.set(self.version_key, version)
            pipe.execute()
