"""Many workers on many machines: one model, one history.

Machines here are processes with separate STORAGE_DIRs (no shared disk) that
share one Redis (TEST_REDIS_URL) and, for the history, one PostgreSQL
(TEST_DATABASE_URL)."""

import base64
import os
import subprocess
import sys
import time

import pytest
from redis import Redis

from app.imaging.chain import ImageChain
from app.recognition.store import ClassifierRepository, SharedModelStore
from app.training.model import train_bundled
from conftest import (
    MODEL_FILENAME,
    canvas_drawing,
    encode,
    install_model,
    postgres_test_url,
)
from serving import ROOT, gunicorn, request


def recognizer(storage, redis_url):
    from app.recognition.recognizer import Recognizer

    return Recognizer(ClassifierRepository(storage / MODEL_FILENAME), ImageChain(), n_folds=3,
                      check_interval=0, shared=SharedModelStore(Redis.from_url(redis_url)),
                      trainer=train_bundled)


def test_a_machine_with_no_model_takes_the_published_one_instead_of_training(
        tmp_path, redis_url, trained_model_file):
    first_storage, second_storage = tmp_path / "first", tmp_path / "second"
    first_storage.mkdir()
    install_model(trained_model_file, first_storage)
    first = recognizer(first_storage, redis_url).current_model()  # loads and publishes
    second = recognizer(second_storage, redis_url)
    assert second.current_model().version == first.version
    assert ClassifierRepository(second_storage / MODEL_FILENAME).load().version == first.version


def test_a_model_published_before_snapshots_is_published_again_whole(
        tmp_path, redis_url, trained_model_file):
    storage = tmp_path / "storage"
    storage.mkdir()
    install_model(trained_model_file, storage)
    version = ClassifierRepository(storage / MODEL_FILENAME).load().version
    client = Redis.from_url(redis_url)
    store = SharedModelStore(client)
    client.set(store.version_key, version)  # as an older release left it: no snapshot
    client.set(store.model_key, (storage / MODEL_FILENAME).read_bytes())
    assert recognizer(storage, redis_url).current_model().version == version  # from the file
    assert store.holds(version)
    assert recognizer(tmp_path / "elsewhere", redis_url).current_model().version == version


def test_a_retrain_on_one_machine_is_served_by_another(tmp_path, redis_url, trained_model_file):
    from app.training.model import train_model
    from app.training.sets import bundled_training_set

    first_storage, second_storage = tmp_path / "first", tmp_path / "second"
    for storage in (first_storage, second_storage):
        storage.mkdir()
        install_model(trained_model_file, storage)
    first, second = recognizer(first_storage, redis_url), recognizer(second_storage, redis_url)
    before = second.current_model().version
    newer = first.replace(train_model(bundled_training_set(first.chain), first.chain,
                                      n_neighbors=3))
    assert newer.version != before
    assert second.current_model().version == newer.version
    assert second.current_model().metadata["n_neighbors"] == 3


def test_with_redis_down_the_model_file_still_serves(tmp_path, trained_model_file):
    from app.recognition.recognizer import Recognizer

    storage = tmp_path / "storage"
    storage.mkdir()
    install_model(trained_model_file, storage)
    unreachable = Redis(host="127.0.0.1", port=9, socket_timeout=0.2, socket_connect_timeout=0.2)
    reader = Recognizer(ClassifierRepository(storage / MODEL_FILENAME), ImageChain(),
                        check_interval=0, shared=SharedModelStore(unreachable),
                        trainer=train_bundled)
    expected = ClassifierRepository(storage / MODEL_FILENAME).load().version
    assert reader.current_model().version == expected


def drawing(strokes):
    return {"image": base64.b64encode(encode(canvas_drawing(strokes))).decode()}


def test_two_instances_share_history_and_model(tmp_path, redis_url, trained_model_file):
    database_url = postgres_test_url()
    storages = [tmp_path / "a", tmp_path / "b"]
    for storage in storages:
        storage.mkdir()
        install_model(trained_model_file, storage)
    env = {"REDIS_URL": redis_url, "MODEL_CHECK_INTERVAL": "1"}
    # A "1" with a flag and a foot, which the bundled digits alone read otherwise.
    strokes = [[(0.35, 0.3), (0.55, 0.15), (0.55, 0.85)], [(0.35, 0.85), (0.75, 0.85)]]
    with gunicorn(storages[0], database_url, workers=1, extra_env=env) as first, \
            gunicorn(storages[1], database_url, workers=1, extra_env=env) as second:
        status, answer = request(f"{first}/api/predict", drawing(strokes))
        assert status == 200 and answer["prediction_id"]
        # The first instance writes the row just after its answer has left
        # (a background writer on PostgreSQL): the other's history shows it
        # a moment later.
        listed_at = time.monotonic()
        while True:
            status, page = request(f"{second}/api/predictions?limit=5")
            assert status == 200
            if answer["prediction_id"] in [p["id"] for p in page["predictions"]]:
                break
            assert time.monotonic() - listed_at < 2, "the other instance never listed it"
            time.sleep(0.05)

        wanted = 4 if answer["digit"] != 4 else 9
        status, _ = request(f"{second}/api/predictions/{answer['prediction_id']}/label",
                            {"label": wanted}, method="PUT")
        assert status == 200
        labelled_at = time.monotonic()
        while request(f"{first}/api/predict", drawing(strokes))[1]["digit"] != wanted:
            assert time.monotonic() - labelled_at < 2, "the other instance did not learn"
            time.sleep(0.1)

        train = subprocess.run(
            [sys.executable, "manage.py", "train"], cwd=ROOT,
            env={**os.environ, "STORAGE_DIR": str(storages[0]), "DATABASE_URL": database_url,
                 "SECRET_KEY": "test", "CV_FOLDS": "3", **env},
            capture_output=True, text=True, timeout=300)
        assert train.returncode == 0, train.stderr
        version = train.stdout.split("Model version: ")[1].split()[0]

        trained_at = time.monotonic()
        while True:
            status, after = request(f"{second}/api/predict", drawing(strokes))
            if after["model_version"] == version:
                break
            assert time.monotonic() - trained_at < 5, "the other instance kept its old model"
            time.sleep(0.2)
        assert after["digit"] == wanted  # the new model keeps the label


GARBAGE = b"\xff\xfe"  # not UTF-8, not a model


@pytest.mark.parametrize("key", ["version_key", "model_key", "snapshot_key"])
def test_garbage_in_any_redis_key_falls_back_to_the_model_file(
        tmp_path, redis_url, trained_model_file, key):
    storage = tmp_path / "storage"
    storage.mkdir()
    install_model(trained_model_file, storage)
    expected = recognizer(storage, redis_url).current_model().version  # published whole...
    client = Redis.from_url(redis_url)
    store = SharedModelStore(client)
    client.set(getattr(store, key), GARBAGE)  # ...then one of its keys damaged
    assert store.holds(expected) == (key != "version_key")  # read without an error
    assert recognizer(storage, redis_url).current_model().version == expected


def test_a_version_in_redis_that_is_not_text_fails_no_request(storage_dir, redis_url):
    from app import create_app

    Redis.from_url(redis_url).set(SharedModelStore(None).version_key, GARBAGE)
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                      "REDIS_URL": redis_url, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    expected = ClassifierRepository(storage_dir / MODEL_FILENAME).load().version
    model = client.get("/api/model")
    assert model.status_code == 200 and model.get_json()["version"] == expected
    answer = client.post("/api/predict", json=drawing([[(0.5, 0.15), (0.5, 0.85)]]))
    assert answer.status_code == 200 and answer.get_json()["model_version"] == expected
    app.extensions["database"].dispose()
