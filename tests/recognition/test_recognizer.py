"""The recognizer: its model read, retrained, or provisional while another process trains."""

import time
from pathlib import Path

import numpy as np
import pytest

from app.recognition import store as repo_module
from app.recognition.recognizer import Recognizer, ServingModel
from app.recognition.store import ClassifierRepository
from app.training.model import train_model
from app.training.sets import bundled_training_set

from .conftest import CHAIN, recognizer


def test_with_no_model_file_the_first_use_trains_and_saves_one(tmp_path, caplog):
    path = tmp_path / "model.skops"
    reader = recognizer(path)
    assert not reader.is_loaded
    model = reader.current_model()
    assert path.exists() and ClassifierRepository(path).load().version == model.version
    assert "training a new one" in caplog.text


def test_a_corrupt_model_file_is_retrained_with_a_warning_not_a_failure(tmp_path, caplog):
    path = tmp_path / "model.skops"
    path.write_bytes(b"corrupt")
    model = recognizer(path).current_model()
    assert "corrupt" in caplog.text
    assert ClassifierRepository(path).load().version == model.version


def test_a_version_mismatched_file_is_retrained(tmp_path, model, monkeypatch):
    path = tmp_path / "model.skops"
    ClassifierRepository(path).save(model)
    monkeypatch.setattr(repo_module, "SKLEARN_VERSION", "0.1")
    assert recognizer(path).current_model().version != model.version


def test_an_unwritable_storage_still_answers_from_memory(tmp_path, caplog, monkeypatch):
    path = tmp_path / "model.skops"
    reader = recognizer(path)

    def refuse(self, files):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ClassifierRepository, "save_files", refuse)
    first = reader.current_model()
    assert "Could not save model" in caplog.text
    assert reader.current_model() is first  # not retrained on every check


def test_a_model_saved_by_another_process_is_picked_up(tmp_path, model):
    path = tmp_path / "model.skops"
    ClassifierRepository(path).save(model)
    reader = recognizer(path)
    assert reader.current_model().version == model.version
    newer = train_model(bundled_training_set(CHAIN), CHAIN, n_neighbors=1)
    ClassifierRepository(path).save(newer)
    assert reader.current_model().version == newer.version


# -- training in another process ------------------------------------------------------


def test_a_first_start_answers_at_once_from_a_provisional_model_then_the_full_one(tmp_path):
    path = tmp_path / "model.skops"
    reader = Recognizer(ClassifierRepository(path), CHAIN, n_folds=3, check_interval=0,
                        background_training=True)
    first = reader.current_model()
    assert first.metadata["provisional"] is True
    assert first.metadata["samples"]["augmented"] == 0
    final = reader.wait_for_training(timeout=120)
    assert final.metadata["provisional"] is False
    assert final.metadata["samples"]["augmented"] == 5391
    assert ClassifierRepository(path).load().version == final.version  # only the full one is kept
    assert reader.current_model().version == final.version


def test_only_one_process_trains_and_the_others_take_its_model(tmp_path):
    path = tmp_path / "model.skops"
    readers = [Recognizer(ClassifierRepository(path), CHAIN, n_folds=3, check_interval=0,
                          background_training=True) for _ in range(2)]
    for reader in readers:
        reader.current_model()
    assert sum(reader._training is not None for reader in readers) == 1  # one process trains
    finals = [reader.wait_for_training(timeout=120) for reader in readers]
    assert finals[0].version == finals[1].version == ClassifierRepository(path).load().version


def test_a_worker_remakes_a_stale_snapshot_in_another_process(tmp_path, model):
    """A worker reads only the snapshot; after an upgrade (a model file with no
    snapshot) it answers from the bundled digits until the training process has
    made the snapshot from the model file, without retraining it."""
    path = tmp_path / "model.skops"
    repository = ClassifierRepository(path)
    repository.save(model)
    Path(repository.snapshot_path).unlink()
    reader = Recognizer(repository, CHAIN, n_folds=3, check_interval=0, background_training=True)
    assert reader.current_model().metadata["provisional"] is True
    assert reader.wait_for_training(timeout=120).version == model.version


def test_a_failed_training_process_leaves_the_provisional_model_answering(tmp_path, caplog):
    path = tmp_path / "model.skops"
    path.mkdir()  # the model cannot be written where a directory stands
    reader = Recognizer(ClassifierRepository(path), CHAIN, n_folds=3, check_interval=0,
                        background_training=True)
    first = reader.current_model()
    assert reader.wait_for_training(timeout=120).version == first.version  # gave up, did not hang
    assert reader.predict(np.zeros((28, 28)) + np.eye(28)).digit in range(10)
    deadline = time.monotonic() + 5
    while "Training in another process failed" not in caplog.text:
        assert time.monotonic() < deadline
        time.sleep(0.05)


# -- the served answer ------------------------------------------------------------------


def test_the_served_answer_carries_the_calibrated_confidence(training):
    serving = ServingModel(train_model(training, CHAIN).snapshot())
    answer = serving.predict_many(training.features[:1])[0]
    assert answer.digit == training.labels[0]
    assert answer.confidence == max(answer.probabilities)
    assert sum(answer.probabilities) == pytest.approx(1.0)
