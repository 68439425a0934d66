"""The classifier repository: atomic writes, the serving snapshot, recovery from a bad file."""

import io
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from app.imaging.chain import ImageChain
from app.recognition import store as repo_module
from app.recognition.recognizer import ServingModel
from app.recognition.store import ClassifierRepository, ModelUnavailable
from app.training.model import train_model
from app.training.sets import bundled_training_set, plain_training_set

from .conftest import CHAIN, recognizer


def test_a_saved_model_loads_with_its_metadata(tmp_path, model):
    repository = ClassifierRepository(tmp_path / "model.skops")
    repository.save(model)
    loaded = repository.load()
    assert loaded.metadata == model.metadata
    features = bundled_training_set(CHAIN).features[:50]
    assert np.array_equal(loaded.classifier.predict(features), model.classifier.predict(features))


def test_metadata_records_versions_counts_accuracy_and_a_content_hash(model):
    meta = model.metadata
    assert meta["samples"] == {"bundled": 1797, "augmented": 5391, "imported": 0}
    assert meta["accuracy"] >= 0.985
    assert meta["sklearn_version"] and meta["numpy_version"] and meta["created_at"]
    assert len(meta["content_hash"]) == 64 and meta["content_hash"][:10] in meta["version"]


def test_the_file_holds_no_type_skops_does_not_trust(tmp_path, model):
    path = tmp_path / "model.skops"
    ClassifierRepository(path).save(model)
    assert sio.get_untrusted_types(file=path) == []


def test_a_failed_write_leaves_the_old_model_and_no_temporary_file(tmp_path, model, monkeypatch):
    path = tmp_path / "model.skops"
    repository = ClassifierRepository(path)
    repository.save(model)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(repo_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        repository.save(model)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.serving.npz", "model.skops"]


def test_a_write_is_a_rename_over_the_old_file(tmp_path, model, monkeypatch):
    path = tmp_path / "model.skops"
    repository = ClassifierRepository(path)
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(repo_module.os, "replace",
                        lambda src, dst: replaced.append((src, dst)) or real_replace(src, dst))
    repository.save(model)
    # the model first, then its snapshot: a snapshot is never newer than its model
    assert [target for _, target in replaced] == [os.fspath(path), repository.snapshot_path]
    assert all(os.path.dirname(source) == os.fspath(tmp_path) for source, _ in replaced)


def test_a_missing_file_is_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable, match="no model file"):
        ClassifierRepository(tmp_path / "model.skops").load()


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"garbage" * 10,
                                    lambda b: b""])
def test_a_corrupt_or_truncated_file_is_unavailable(tmp_path, model, damage):
    path = tmp_path / "model.skops"
    ClassifierRepository(path).save(model)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ModelUnavailable):
        ClassifierRepository(path).load()


def test_a_file_from_other_library_versions_is_unavailable(tmp_path, model, monkeypatch):
    path = tmp_path / "model.skops"
    ClassifierRepository(path).save(model)
    monkeypatch.setattr(repo_module, "SKLEARN_VERSION", "0.1")
    with pytest.raises(ModelUnavailable, match="this process runs"):
        ClassifierRepository(path).load()
    with pytest.raises(ModelUnavailable, match="this process runs"):
        ClassifierRepository(path).load_snapshot()


def test_a_file_with_untrusted_types_is_refused_without_running_them(tmp_path):
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps({"classifier": ImageChain(), "metadata": {}}))
    with pytest.raises(ModelUnavailable, match="untrusted"):
        ClassifierRepository(path).load()


# -- the serving snapshot ---------------------------------------------------------


def test_the_snapshot_answers_as_the_fitted_classifier(tmp_path, model):
    repository = ClassifierRepository(tmp_path / "model.skops")
    repository.save(model)
    snapshot, _ = repository.load_snapshot()
    assert snapshot.metadata == model.metadata
    features = np.random.default_rng(0).integers(0, 17, size=(500, 64)).astype(float)
    probabilities, _ = snapshot.vote.predict_proba(features)
    assert np.array_equal(snapshot.vote.classes[probabilities.argmax(axis=1)],
                          model.classifier.predict(features))


def test_a_snapshot_not_made_from_the_model_file_beside_it_is_made_again(tmp_path, model):
    path = tmp_path / "model.skops"
    repository = ClassifierRepository(path)
    repository.save(model)
    other = train_model(plain_training_set(), CHAIN, n_neighbors=1, n_folds=3)
    path.write_bytes(repo_module.model_to_bytes(other))  # a model file put there by hand
    with pytest.raises(ModelUnavailable, match="not made from the model file"):
        repository.load_snapshot()
    assert recognizer(path).current_model().version == other.version  # read, not retrained
    assert repository.load_snapshot()[0].version == other.version


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"garbage", None])
def test_a_missing_or_corrupt_snapshot_is_made_again_from_the_model_file(tmp_path, model, damage):
    path = tmp_path / "model.skops"
    repository = ClassifierRepository(path)
    repository.save(model)
    snapshot = Path(repository.snapshot_path)
    if damage is None:
        snapshot.unlink()
    else:
        snapshot.write_bytes(damage(snapshot.read_bytes()))
    with pytest.raises(ModelUnavailable):
        repository.load_snapshot()
    assert recognizer(path).current_model().version == model.version
    assert repository.load_snapshot()[0].version == model.version


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch exploited",))


def test_a_snapshot_holding_pickled_objects_is_refused_without_running_them(
        tmp_path, model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repository = ClassifierRepository(tmp_path / "model.skops")
    files = repository.save(model)
    with np.load(io.BytesIO(files.snapshot)) as archive:
        arrays = dict(archive)
    arrays["samples"] = np.array([Exploit()], dtype=object)
    hostile = io.BytesIO()
    np.savez(hostile, **arrays)
    Path(repository.snapshot_path).write_bytes(hostile.getvalue())
    with pytest.raises(ModelUnavailable, match="corrupt"):
        repository.load_snapshot()
    assert not (tmp_path / "exploited").exists()


def test_a_model_s_touching_pairs_survive_its_file_and_its_snapshot(tmp_path, model):
    assert model.pairs is not None and model.pairs.shape[1] == 64
    repository = ClassifierRepository(tmp_path / "model.skops")
    repository.save(model)
    assert np.array_equal(repository.load().pairs, model.pairs)
    assert np.array_equal(repository.load_snapshot()[0].pairs, model.pairs)


def test_a_model_file_from_before_touching_pairs_loads_without_them(tmp_path, model):
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps({"classifier": model.classifier, "metadata": model.metadata}))
    loaded = ClassifierRepository(path).load()
    assert loaded.pairs is None
    assert np.array_equal(loaded.classifier.predict(model.pairs[:20]),
                          model.classifier.predict(model.pairs[:20]))


@pytest.mark.parametrize("pairs", [np.zeros((5, 63)), np.full((5, 64), np.nan),
                                   np.zeros((5, 64), dtype=np.int64)])
def test_touching_pairs_that_are_not_features_make_the_file_unavailable(tmp_path, model, pairs):
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps({"classifier": model.classifier, "metadata": model.metadata,
                                "pairs": pairs}))
    with pytest.raises(ModelUnavailable, match="touching pairs"):
        ClassifierRepository(path).load()


def test_the_serving_model_judges_pairs_only_where_its_model_has_them(model):
    snapshot = model.snapshot()
    serving = ServingModel(snapshot)
    samples = bundled_training_set(CHAIN).features[:100]
    assert serving.pair_shares(model.pairs[:100]).mean() > 0.9  # its own pairs
    assert serving.pair_shares(samples).mean() < 0.1
    assert ServingModel(replace(snapshot, pairs=None)).pair_shares(samples) is None
