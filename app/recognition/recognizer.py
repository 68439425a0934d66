"""The recognizer of one process: it holds the current model, swaps in a newer
one whole when another process saves or publishes it, adds the samples people
labelled to it, and reads features with it. With no usable model it answers
from the bundled digits while the full one trains in another process."""

import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from redis.exceptions import RedisError

from app.imaging.shape import FEATURE_SIZE
from app.recognition.background import start_training, stop_training, training_goes_on
from app.recognition.bundled import provisional_model
from app.recognition.confidence import calibrate
from app.recognition.store import ModelUnavailable
from app.recognition.vote import NeighbourVote, PairJudge

log = logging.getLogger(__name__)

TRAINING_RETRY_INTERVAL = 60  # seconds between attempts when training fails
# After Redis failed, it is left alone this long (the model file decides): a
# Redis that does not answer costs a request its timeout this often at most.
SHARED_RETRY_INTERVAL = 5.0


# The sources of a model's rows, in the order training stacks them; a label
# baked into a model by an older version of ``train`` was a "feedback" row.
ROW_SOURCES = (("bundled", "bundled"), ("augmented", "augmented"), ("imported", "imported"),
               ("feedback", "label"))
LABEL = "label"


@dataclass(frozen=True)
class Neighbour:
    """A training sample that voted for a reading: its digit, its distance, where
    it came from (bundled, augmented, imported, label), its 64 features, and,
    for a label, the id of the prediction it was given to."""

    digit: int
    distance: float
    source: str
    features: np.ndarray
    prediction_id: int | None = None


@dataclass(frozen=True)
class Prediction:
    """One image read: the digit, its calibrated confidence, the probability of each
    digit 0-9, the model's version, the 64 features it was read from, the
    neighbours that voted, when asked for, and the distance to the nearest
    (how much the image looks like any digit the model knows)."""

    digit: int
    confidence: float
    probabilities: list
    model_version: str
    features: np.ndarray
    neighbours: tuple = ()
    distance: float = 0.0
    pair_share: float | None = None  # read as part of a number: how much it looks like two digits
    typical_distance: float | None = None  # the model's scale of distance (vote.typical_distance)


@dataclass(frozen=True)
class LearnedSamples:
    """The labels the model learns from besides its training set: the ids of the
    predictions labelled, their 64 features and their labels."""

    ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray

    @classmethod
    def none(cls):
        return cls(np.empty(0, np.int64), np.empty((0, FEATURE_SIZE)), np.empty(0, np.int64))

    def __len__(self):
        return len(self.ids)


def _typical_distance(metadata):
    """The model's scale of distance (``vote.typical_distance``), None for a
    model stored without one, or with one that is no positive number."""
    typical = metadata.get("typical_distance")
    if isinstance(typical, int | float) and not isinstance(typical, bool) \
            and math.isfinite(typical) and typical > 0:
        return float(typical)
    return None


class ServingModel:
    """A model ready to answer: its kNN voted in numpy over its training set and
    the samples people labelled (each weighing ``label_weight`` votes), its
    confidence calibrated.

    A label also sets aside, from the vote, the generated variants of other
    digits among its ``set_aside`` nearest training samples: where a person's
    own digit lies, made-up digits of another class mislead (measured in
    bench/learning_weights.py). Bundled and imported samples always vote, and
    what a label sets aside depends on that label alone, so that its revert
    brings back exactly what it took. ``known_aside``: what the labels of an
    earlier ServingModel of the same model set aside, by (id, label), so that
    only new labels are looked up.
    """

    def __init__(self, model, learned=None, label_weight=1.0, set_aside=0, known_aside=None):
        self.model = model
        self.calibration = model.metadata.get("calibration")
        self.typical_distance = _typical_distance(model.metadata)
        self.learned = learned if learned is not None else LearnedSamples.none()
        base = model.vote
        self.base_rows = len(base.samples)
        self.source_names, self.source_starts = _row_sources(model.metadata.get("samples", {}),
                                                             self.base_rows)
        self.aside = {}  # (label id, label) -> the training rows it sets aside
        self.kept = None  # the training rows that vote, when some are set aside
        if len(self.learned):
            self.vote = self._with_labels(base, label_weight, set_aside, known_aside or {})
        else:
            self.vote = base
        self.vote_base_rows = self.base_rows if self.kept is None else len(self.kept)

    def _with_labels(self, base, label_weight, set_aside, known_aside):
        classes = base.classes.astype(int)
        known = np.isin(self.learned.labels, classes)
        if not known.all():  # a model without some digit cannot learn it from one label
            self.learned = LearnedSamples(*(array[known] for array in (
                self.learned.ids, self.learned.features, self.learned.labels)))
        samples, labels = base.samples, base.labels
        aside = self._set_aside(base, set_aside, known_aside)
        if aside.any():
            self.kept = np.flatnonzero(~aside)
            samples, labels = samples[self.kept], labels[self.kept]
        weights = np.ones(len(samples) + len(self.learned))
        weights[len(samples):] = label_weight
        return NeighbourVote(
            np.vstack([samples, np.asarray(self.learned.features, dtype=samples.dtype)]),
            np.concatenate([labels, np.searchsorted(classes, self.learned.labels)]),
            base.classes, base.n_neighbors, base.weights, sample_weights=weights)

    def _set_aside(self, base, set_aside, known_aside):
        """Which training rows the labels set aside (a mask); fills self.aside."""
        aside = np.zeros(self.base_rows, dtype=bool)
        generated = self._rows_from("augmented")
        if set_aside < 1 or not generated.any():
            return aside
        keys = list(zip(self.learned.ids.tolist(), self.learned.labels.tolist(), strict=True))
        new = [row for row, key in enumerate(keys) if key not in known_aside]
        self.aside = {key: known_aside[key] for key in keys if key in known_aside}
        if new:
            _, near = base.neighbours(self.learned.features[new], k=set_aside)
            leave = generated[near] & (base.classes[base.labels[near]]
                                       != self.learned.labels[new][:, None])
            rows = np.split(near[leave], np.cumsum(leave.sum(axis=1))[:-1])
            self.aside.update(zip([keys[row] for row in new], rows, strict=True))
        if self.aside:
            aside[np.concatenate(list(self.aside.values()))] = True
        return aside

    def _rows_from(self, source):
        """A mask of the training rows from ``source`` ("bundled", "augmented"...)."""
        rows = np.zeros(self.base_rows, dtype=bool)
        ends = [*self.source_starts[1:], self.base_rows]
        for name, start, end in zip(self.source_names, self.source_starts, ends, strict=True):
            if name == source:
                rows[start:end] = True
        return rows

    @cached_property
    def judge(self):
        """The PairJudge of the model's samples and touching pairs; None for
        a model without pairs. Made when a number is first read."""
        pairs = self.model.pairs
        return None if pairs is None else PairJudge(self.model.vote.samples, pairs)

    def pair_shares(self, features):
        """For each row of ``features``, how much it looks like two touching
        digits (0-1; ``PairJudge``), or None for a model without pairs."""
        return None if self.judge is None else self.judge.shares(features)

    def predict_many(self, features, explain=False):
        """Predictions for the rows of ``features`` (n, 64), in one vote; with
        ``explain``, each with the neighbours that voted."""
        features = np.asarray(features, dtype=np.float64).reshape(-1, FEATURE_SIZE)
        distances, indices = self.vote.neighbours(features)
        probabilities = self.vote.vote(distances, indices)
        full = np.zeros((len(features), 10))
        full[:, self.vote.classes.astype(int)] = probabilities
        full = calibrate(full, distances[:, 0], self.calibration)
        return [
            Prediction(digit=int(row.argmax()), confidence=float(row.max()),
                       probabilities=row.tolist(), model_version=self.model.version,
                       features=row_features,
                       neighbours=self.neighbours(row_distances, row_indices) if explain else (),
                       distance=float(row_distances[0]), typical_distance=self.typical_distance)
            for row, row_features, row_distances, row_indices
            in zip(full, features, distances, indices, strict=True)
        ]

    def neighbours(self, distances, indices):
        """The Neighbours at ``indices``, nearest first."""
        classes = self.vote.classes
        found = []
        for distance, index in zip(distances, indices, strict=True):
            index = int(index)
            if index >= self.vote_base_rows:
                source = LABEL
                prediction_id = int(self.learned.ids[index - self.vote_base_rows])
            else:
                row = index if self.kept is None else int(self.kept[index])
                run = np.searchsorted(self.source_starts, row, side="right") - 1
                source = self.source_names[run]
                prediction_id = None
            found.append(Neighbour(int(classes[self.vote.labels[index]]), float(distance),
                                   source, self.vote.samples[index], prediction_id))
        return tuple(found)


def _row_sources(samples, rows):
    """Where each run of a model's ``rows`` came from, from its count of samples
    by source (training stacks them in ROW_SOURCES's order): the run's names,
    and the row each starts at."""
    names, starts, start = [], [], 0
    for key, name in ROW_SOURCES:
        if samples.get(key):
            names.append(name)
            starts.append(start)
            start += int(samples[key])
    if start != rows:  # a model made otherwise: say no more than that it was trained on it
        return ["bundled"], np.zeros(1, np.int64)
    return names, np.array(starts)


class Recognizer:
    """Reads digits with the current model of this process.

    Parameters
    ----------
    repository : ClassifierRepository
        Where the model file and its snapshot are.
    chain : ImageChain
        The chain the model's features come from.
    n_neighbors, n_folds : int or None, int
        k and the cross-validation folds of the models it trains.
    check_interval : float
        Seconds between looks for a newer model (the files' stamp, or Redis).
    shared : SharedModelStore or None
        The model every machine serves, when machines share Redis, not a disk.
    background_training : bool
        With no usable model, answer at once from the provisional model while
        another process trains the full one (web workers).
    trainer : callable or None
        ``trainer(chain, n_neighbors, n_folds) -> StoredModel``, training in this
        process before answering; needed without ``background_training``. The
        caller gives it, so that serving never imports the training side.
    label_weight : float
        The votes a sample people labelled casts, against one of the training set's.
    set_aside : int
        Each label sets aside the generated variants of other digits among its
        this many nearest training samples (ServingModel); 0, none.
    """

    def __init__(self, repository, chain, n_neighbors=None, n_folds=10,
                 check_interval=1.0, shared=None, background_training=False, trainer=None,
                 label_weight=1.0, set_aside=0):
        if not background_training and trainer is None:
            raise ValueError("a Recognizer that does not train in the background needs a trainer")
        self.repository, self.chain = repository, chain
        self.n_neighbors, self.n_folds = n_neighbors, n_folds
        self.check_interval, self.shared = check_interval, shared
        self.background_training, self.trainer = background_training, trainer
        self.label_weight = float(label_weight)
        self.set_aside = int(set_aside)
        self._learned = LearnedSamples.none()
        self._training = None  # the training process, once started
        self._training_started = 0.0
        self._serving = None
        self._stamp = None
        self._next_check = 0.0
        self._next_shared_warning = 0.0
        self._shared_retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def is_loaded(self):
        return self._model is not None

    def current_model(self):
        """The model to answer with (a ModelSnapshot), loading or retraining it
        when needed."""
        model = self._model
        if model is not None and time.monotonic() < self._next_check:
            return model
        with self._lock:
            if self._model is None or time.monotonic() >= self._next_check:
                if not self._refresh_from_shared():
                    self._refresh_from_file()
                self._next_check = time.monotonic() + self.check_interval
            return self._model

    def _refresh_from_file(self):
        stamp = self.repository.stamp()
        if self._model is None or stamp != self._stamp:
            self._serve(self._load_or_train(stamp))
        elif self._model.metadata.get("provisional"):
            self._start_background_training()  # again, if the last training failed

    def _refresh_from_shared(self):
        """Serve the model published in Redis, if there is one: True when it
        decided the model. Redis being down is logged (once a minute) and the
        model file decides instead."""
        if not self._shared_answers():
            return False
        try:
            version = self.shared.version()
            if version is None:
                return False
            if self._model is not None and version == self._model.version:
                return True
            model, files = self.shared.fetch()
            self._check_chain(model, "the model in Redis")
        except RedisError as error:
            self._shared_failed(error)
            return False
        except ModelUnavailable as reason:
            self._warn_shared(f"{reason}: using the model file")
            return False
        log.info("Serving model %s published in Redis", model.version)
        self._serve(model)
        self._save(model, files)  # this machine's copy, for its next start
        return True

    def _shared_answers(self):
        """Whether to ask Redis now: there is one, and it did not just fail."""
        return self.shared is not None and time.monotonic() >= self._shared_retry_at

    def _shared_failed(self, error):
        self._shared_retry_at = time.monotonic() + SHARED_RETRY_INTERVAL
        self._warn_shared(f"Redis is not available ({error}): using the model file, "
                          f"and trying Redis again in {SHARED_RETRY_INTERVAL:g} s")

    def _warn_shared(self, message):
        if time.monotonic() >= self._next_shared_warning:
            log.warning(message)
            self._next_shared_warning = time.monotonic() + 60

    def _check_chain(self, model, origin):
        """Raise ModelUnavailable when ``model`` reads features of other steps."""
        if model.metadata.get("chain") != self.chain.signature():
            raise ModelUnavailable(f"{origin} was made for another image chain")

    def _load_file(self):
        """The snapshot of the model file, if it is usable with this chain, and
        the files it was read from. A worker reads the snapshot alone; a
        process that trains in place also remakes a missing or stale one."""
        if self.background_training:
            model, files = self.repository.load_snapshot()
        else:
            model, files = self.repository.load_remaking_snapshot(self.chain.signature())
        self._check_chain(model, self.repository.path)
        return model, files

    def _load_or_train(self, stamp):
        try:
            model, files = self._load_file()
            self._stamp = stamp
            log.info("Loaded model %s from %s", model.version, self.repository.path)
            self._publish(model, files)
            return model
        except ModelUnavailable as reason:
            log.warning("No usable model (%s): %s", reason,
                        "answering from the bundled digits while another process trains one"
                        if self.background_training else "training a new one")
        # Remember the stamp that failed, so that an unwritable disk does not make
        # every check retrain; a new file on disk is tried again.
        self._stamp = stamp
        if self.background_training:
            self._start_background_training()
            return provisional_model(self.chain, self.n_neighbors)
        return self._train_and_keep()

    def _train_and_keep(self):
        model = self.trainer(self.chain, self.n_neighbors, self.n_folds)
        files = self.repository.files_of(model)
        self._save(model, files)
        self._publish(model, files)
        return model.snapshot()

    def _start_background_training(self):
        """Train in another process, which saves the model file that this one
        picks up at its next check: a web worker never holds scikit-learn or
        the training set. One process trains for all the workers."""
        if self._training is not None and (
                self._training.poll() is None
                or time.monotonic() < self._training_started + TRAINING_RETRY_INTERVAL):
            return
        try:
            process = start_training(self.repository, self.chain, self.n_neighbors,
                                     self.n_folds)
        except OSError as error:
            log.error("Cannot train a model: %s (answering from the provisional model)", error)
            self._training_started = time.monotonic()
            return
        if process is not None:
            self._training, self._training_started = process, time.monotonic()

    def wait_for_training(self, timeout=None):
        """The model, once no provisional one is in use (or ``timeout`` seconds
        have passed, or no process trains any more): for commands that must
        answer with the real model."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # before the look, so that the look sees what the training saved
            going_on = training_goes_on(self._training, self.repository)
            with self._lock:
                self._next_check = 0.0  # look at the files now
            model = self.current_model()
            if (not model.metadata.get("provisional") or not going_on
                    or (deadline is not None and time.monotonic() >= deadline)):
                return model
            time.sleep(0.1)

    def close(self):
        """Stop the training process this one started, if it still runs: at exit."""
        stop_training(self._training)

    def _save(self, model, files):
        """Keep ``model``'s files on disk: logged, not raised, when the disk refuses."""
        try:
            self.repository.save_files(files)
        except OSError as error:
            log.error("Could not save model %s to %s: %s (serving it from memory)",
                      model.version, self.repository.path, error)
            return
        self._stamp = self.repository.stamp()

    def _publish(self, model, files):
        """Make ``model`` the other machines' model too; True when it is (or
        there are no other machines)."""
        if self.shared is None:
            return True
        if not self._shared_answers():
            log.error("Could not publish model %s: Redis failed just now", model.version)
            return False
        try:
            if not self.shared.holds(model.version):
                self.shared.publish(model.version, files)
            return True
        except RedisError as error:
            self._shared_retry_at = time.monotonic() + SHARED_RETRY_INTERVAL
            log.error("Could not publish model %s to Redis: %s", model.version, error)
            return False

    def replace(self, model):
        """Save ``model`` (a StoredModel just trained), serve it, and publish it
        to the other machines. Raises OSError, keeping the old model, when it
        cannot be saved."""
        files = self.repository.save(model)
        with self._lock:
            self._serve(model.snapshot())
            self._stamp = self.repository.stamp()
            self._publish(model, files)
        return model

    def describe(self):
        """The current model's metadata (version, samples, k, accuracy...), and
        how many labels it learned from besides."""
        self.current_model()
        serving = self._serving
        return {**serving.model.metadata, "labels_learned": len(serving.learned)}

    def learn(self, learned):
        """Answer from now on with the model and ``learned`` (LearnedSamples,
        all the labels to learn from: they replace the last ones)."""
        with self._lock:
            self._learned = learned
            if self._serving is not None:
                self._serving = ServingModel(self._serving.model, learned, self.label_weight,
                                             self.set_aside, self._serving.aside)

    def _serve(self, model):
        # One attribute holds the model, the labels and their vote, so that a
        # request never reads one model's version with another's answers.
        self._serving = ServingModel(model, self._learned, self.label_weight, self.set_aside)

    @property
    def _model(self):
        return self._serving.model if self._serving else None

    def predict(self, image, explain=False):
        """Read one image (bytes, Pillow image or ink array); with ``explain``,
        the prediction names the neighbours that voted."""
        return self.predict_features(self.chain.to_feature_vector(image), explain)

    def predict_features(self, features, explain=False):
        """The prediction for one image's 64 features."""
        return self.predict_many(np.asarray(features).reshape(1, -1), explain)[0]

    def predict_many(self, features, explain=False):
        """Predictions for the rows of ``features`` (n, 64), in one vote."""
        self.current_model()
        return self._serving.predict_many(features, explain)

    def pair_shares(self, features):
        """How much each row of ``features`` looks like two touching digits
        (ServingModel.pair_shares); None for a model without pairs."""
        self.current_model()
        return self._serving.pair_shares(features)
