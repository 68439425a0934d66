"""The recognizer as the rest of the application sees it: one per process,
holding the current model, reading images with it.

The model is loaded on first use, once per process, from its serving snapshot
(app/repository.py): numpy arrays, so that a web worker never imports
scikit-learn. Every ``check_interval`` seconds a request looks at the model
files' stamp, and when another process has saved a new model the new one is
swapped in whole. With no usable model, a worker answers at once from the
bundled digits and has the full model trained in another process
(``python -m app.training``); commands and tests train in their own process.
"""

import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from redis.exceptions import RedisError

from app.confidence import calibrate
from app.datasets import bundled_digits
from app.errors import DigitReaderError, EmptyImage
from app.history import archive_png
from app.imaging import FEATURE_SIZE, crop_to_ink, ink_from_image, open_image, remove_background
from app.neighbours import DEFAULT_NEIGHBORS, DEFAULT_WEIGHTS, NeighbourVote, out_of_fold_votes
from app.numbers import crop_digit, split_digits
from app.repository import (
    ModelSnapshot,
    ModelUnavailable,
    content_hash,
    describe_model,
)

log = logging.getLogger(__name__)

PROVISIONAL_FOLDS = 3
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # where 'python -m app.training' runs
TRAINING_RETRY_INTERVAL = 60  # seconds between attempts when training fails


@dataclass(frozen=True)
class Prediction:
    digit: int
    confidence: float
    probabilities: list
    model_version: str
    features: np.ndarray


def chain_signature(chain):
    """What a model depends on in the chain: a model made for other steps is stale."""
    params = chain.get_params()
    params.pop("max_pixels", None)  # a limit on input, not part of the features
    return ",".join(f"{name}={params[name]}" for name in sorted(params))


def provisional_model(chain, n_neighbors=None):
    """A model to answer with on a first start, while the full one trains in
    another process: the bundled digits alone, voted on in numpy as a fitted
    brute-force kNN votes, with a quick cross-validation for its metadata. Its
    confidence is the vote share: the calibration comes with the full model."""
    features, labels = bundled_digits()
    k, weights = n_neighbors or DEFAULT_NEIGHBORS, DEFAULT_WEIGHTS
    classes = np.arange(10)
    # Stratified folds: each digit's samples dealt out in turn.
    fold_of = np.empty(len(labels), dtype=np.int64)
    for digit in classes:
        rows = np.flatnonzero(labels == digit)
        fold_of[rows] = np.arange(len(rows)) % PROVISIONAL_FOLDS
    _, probabilities, _ = out_of_fold_votes(features, labels, fold_of, k, weights)
    confusion = np.bincount(labels * 10 + probabilities.argmax(axis=1),
                            minlength=100).reshape(10, 10)
    vote = NeighbourVote(features, labels, classes, k, weights)
    metadata = describe_model(
        content_hash({"n_neighbors": k, "weights": weights}, (vote.samples, labels)),
        accuracy=np.trace(confusion) / len(labels),
        samples={"bundled": len(labels), "augmented": 0, "feedback": 0, "imported": 0},
        n_neighbors=k, weights=weights, recall=np.diag(confusion) / confusion.sum(axis=1),
        confusion=confusion, chain=chain_signature(chain), calibration=None)
    return ModelSnapshot(vote, {**metadata, "provisional": True})


class ServingModel:
    """A model ready to answer: its kNN voted in numpy, its confidence calibrated."""

    def __init__(self, model):
        self.model = model
        self.vote = model.vote
        self.calibration = model.metadata.get("calibration")

    def predict_many(self, features):
        features = np.asarray(features, dtype=np.float64).reshape(-1, FEATURE_SIZE)
        probabilities, nearest = self.vote.predict_proba(features)
        full = np.zeros((len(features), 10))
        full[:, self.vote.classes.astype(int)] = probabilities
        full = calibrate(full, nearest, self.calibration)
        return [
            Prediction(digit=int(row.argmax()), confidence=float(row.max()),
                       probabilities=row.tolist(), model_version=self.model.version,
                       features=row_features)
            for row, row_features in zip(full, features, strict=True)
        ]


class Recognizer:
    """Reads digits with the current model of this process."""

    def __init__(self, repository, chain, n_neighbors=None, n_folds=10,
                 check_interval=1.0, shared=None, background_training=False):
        self.repository = repository
        self.chain = chain
        self.n_neighbors = n_neighbors
        self.n_folds = n_folds
        self.check_interval = check_interval
        self.shared = shared  # a SharedModelStore when machines share Redis, not a disk
        # With no usable model: answer at once from a provisional model while the
        # full one trains in another process (one process at a time).
        self.background_training = background_training
        self._training = None  # the training process, once started
        self._training_started = 0.0
        self._serving = None
        self._stamp = None
        self._next_check = 0.0
        self._next_shared_warning = 0.0
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
        if self.shared is None:
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
            self._warn_shared(f"Redis is not available ({error}): using the model file")
            return False
        except ModelUnavailable as reason:
            self._warn_shared(f"{reason}: using the model file")
            return False
        log.info("Serving model %s published in Redis", model.version)
        self._serve(model)
        self._save(model, files)  # this machine's copy, for its next start
        return True

    def _warn_shared(self, message):
        if time.monotonic() >= self._next_shared_warning:
            log.warning(message)
            self._next_shared_warning = time.monotonic() + 60

    def _check_chain(self, model, origin):
        """Raise ModelUnavailable when ``model`` reads features of other steps."""
        if model.metadata.get("chain") != chain_signature(self.chain):
            raise ModelUnavailable(f"{origin} was made for another image chain")

    def _load_file(self):
        """The snapshot of the model file, if it is usable with this chain, and
        the files it was read from. A worker reads the snapshot alone; a
        process that trains in place also remakes a missing or stale one."""
        if self.background_training:
            model, files = self.repository.load_snapshot()
        else:
            from app.training import load_with_snapshot

            model, files = load_with_snapshot(self.repository, self.chain)
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
        from app.repository import model_files
        from app.training import bundled_training_set, train_model

        model = train_model(bundled_training_set(self.chain), self.chain, self.n_neighbors,
                            self.n_folds)
        files = model_files(model)
        self._save(model, files)
        self._publish(model, files)
        return model.snapshot()

    def _start_background_training(self):
        """Train in another process: it saves the model file, and this process
        picks it up at its next check. Training imports scikit-learn and holds
        the training set; a web worker keeps neither."""
        if self._training is not None and (
                self._training.poll() is None
                or time.monotonic() < self._training_started + TRAINING_RETRY_INTERVAL):
            return
        # One training process for all the workers: the first to take the lock
        # hands it to the process it starts; the others wait for its model file.
        try:
            lock = self.repository.try_training_lock()
        except OSError as error:
            log.error("Cannot train a model: %s (answering from the provisional model)", error)
            self._training_started = time.monotonic()
            return
        if lock is None:
            return
        with lock:  # the training process holds it from here on
            job = {"path": self.repository.path, "chain": self.chain.get_params(),
                   "n_neighbors": self.n_neighbors, "n_folds": self.n_folds,
                   "lock_fd": lock.fileno()}
            self._training = subprocess.Popen(
                [sys.executable, "-m", "app.training", json.dumps(job)], cwd=PROJECT_ROOT,
                pass_fds=(lock.fileno(),))
        self._training_started = time.monotonic()
        threading.Thread(target=self._watch_training, args=(self._training,),
                         name="model-training", daemon=True).start()

    @staticmethod
    def _watch_training(process):
        # Waited for here, so that it never lingers as a zombie.
        if process.wait() != 0:
            log.error("Training in another process failed (exit status %s): answering "
                      "from the provisional model", process.returncode)

    def wait_for_training(self, timeout=None):
        """The model, once no provisional one is in use (or ``timeout`` seconds
        have passed, or no process trains any more): for commands that must
        answer with the real model."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            going_on = self._training_goes_on()  # before the look: it sees what was saved
            with self._lock:
                self._next_check = 0.0  # look at the files now
            model = self.current_model()
            if (not model.metadata.get("provisional") or not going_on
                    or (deadline is not None and time.monotonic() >= deadline)):
                return model
            time.sleep(0.1)

    def close(self):
        """Stop the training process this one started, if it still runs: at exit,
        so that a stopped service leaves nothing behind (a new start trains again)."""
        training = self._training
        if training is not None and training.poll() is None:
            training.terminate()
            try:
                training.wait(5)
            except subprocess.TimeoutExpired:
                training.kill()

    def _training_goes_on(self):
        if self._training is not None and self._training.poll() is None:
            return True
        try:
            lock = self.repository.try_training_lock()
        except OSError:
            return False
        if lock is None:
            return True  # another process trains
        lock.close()
        return False

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
        try:
            if not self.shared.holds(model.version):
                self.shared.publish(model.version, files)
            return True
        except RedisError as error:
            log.error("Could not publish model %s to Redis: %s", model.version, error)
            return False

    def retrain(self, training_set=None, n_neighbors=None, search=False):
        """Train on ``training_set`` (the bundled digits by default), save, and
        serve the new model. Raises OSError, keeping the old model, when it
        cannot be saved."""
        from app.training import bundled_training_set, train_model

        model = train_model(training_set or bundled_training_set(self.chain), self.chain,
                            n_neighbors or self.n_neighbors, self.n_folds, search)
        files = self.repository.save(model)
        with self._lock:
            self._serve(model.snapshot())
            self._stamp = self.repository.stamp()
            self._publish(model, files)
        return model

    def _serve(self, model):
        # One attribute holds the model and its vote, so that a request never
        # reads one model's version with another's answers.
        self._serving = ServingModel(model)

    @property
    def _model(self):
        return self._serving.model if self._serving else None

    def predict(self, image):
        """Read one image (bytes, Pillow image or ink array)."""
        return self.predict_features(self.chain.to_feature_vector(image))

    def predict_features(self, features):
        return self.predict_many(np.asarray(features).reshape(1, -1))[0]

    def predict_many(self, features):
        """Predictions for the rows of ``features`` (n, 64), in one vote."""
        self.current_model()
        return self._serving.predict_many(features)


@dataclass(frozen=True)
class Answer:
    prediction: Prediction
    prediction_id: int | None


class DigitReader:
    """Reads a digit from the bytes of an image and records it beside the answer."""

    def __init__(self, recognizer, history, max_stored_side, max_stored_bytes):
        self.recognizer = recognizer
        self.history = history
        self.max_stored_side = max_stored_side
        self.max_stored_bytes = max_stored_bytes

    def archive(self, image, data):
        return archive_png(image, data, self.max_stored_side, self.max_stored_bytes)

    def read(self, data, source, filename=None):
        image = open_image(data, self.recognizer.chain.max_pixels)
        prediction = self.recognizer.predict(image)
        prediction_id = self.history.record(prediction, self.archive(image, data), source,
                                            filename)
        return Answer(prediction, prediction_id)

    def read_many(self, datas, source):
        """Read a batch of images in one vote and store them in one transaction.
        Each item is an Answer, or the DigitReaderError that image raised (an
        item that is already an error, one met while decoding it, is kept)."""
        results, archived, features = [], [], []
        for data in datas:
            if isinstance(data, DigitReaderError):
                results.append(data)
                continue
            try:
                image = open_image(data, self.recognizer.chain.max_pixels)
                features.append(self.recognizer.chain.to_feature_vector(image))
            except DigitReaderError as error:
                results.append(error)
                continue
            results.append(None)
            archived.append(self.archive(image, data))
        if not features:
            return results
        predictions = self.recognizer.predict_many(np.array(features))
        ids = self.history.record_many([
            (prediction, png, source, None)
            for prediction, png in zip(predictions, archived, strict=True)])
        answers = iter(Answer(p, i) for p, i in zip(predictions, ids, strict=True))
        return [result if result is not None else next(answers) for result in results]

    def training_set(self, include_corrections=False, datasets=(), progress=None, augment=True):
        """The bundled digits (with their variants, unless not ``augment``), plus
        every correction people gave and every dataset an operator brought: each
        image read again through the chain."""
        from app.training import bundled_training_set, extend_training_set, plain_training_set

        training_set = (bundled_training_set(self.recognizer.chain) if augment
                        else plain_training_set())
        skipped = 0
        sources = [(dataset.images, dataset.labels, "imported") for dataset in datasets]
        if include_corrections:
            corrections = self.history.corrections()
            sources.append(([image for image, _ in corrections],
                            [label for _, label in corrections], "feedback"))
        for images, labels, source in sources:
            training_set, missed = extend_training_set(
                training_set, images, labels, source, self.recognizer.chain, progress)
            skipped += missed
        return training_set, skipped


@dataclass(frozen=True)
class DigitInNumber:
    prediction: Prediction
    box: tuple  # x, y, width, height in the image's pixels


@dataclass(frozen=True)
class NumberReading:
    digits: list  # DigitInNumber, left to right

    @property
    def number(self):
        return "".join(str(digit.prediction.digit) for digit in self.digits)


def read_number(recognizer, data):
    """Split the image into its digits, left to right, and read each."""
    image = open_image(data, recognizer.chain.max_pixels)
    ink = remove_background(ink_from_image(image))
    crop_to_ink(ink, recognizer.chain.ink_threshold)  # a speck is as blank as for one digit
    features, boxes = [], []
    for segment in split_digits(ink):
        try:
            features.append(recognizer.chain.to_feature_vector(crop_digit(ink, segment)))
        except EmptyImage:  # a part too faint to read once cut out: not a digit
            continue
        boxes.append(tuple(int(value) for value in segment.box))
    if not features:
        raise EmptyImage()
    predictions = recognizer.predict_many(np.array(features))
    return NumberReading([DigitInNumber(p, box) for p, box in zip(predictions, boxes, strict=True)])
