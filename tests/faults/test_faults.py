"""No fault of the disk, the database or a worker fails an answer or loses a
stored row: each test is one such fault, made real."""

import base64
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app import create_app
from app.recognition.store import ClassifierRepository, ModelUnavailable
from conftest import MODEL_FILENAME, ONE, SEVEN, ZERO, canvas_drawing, encode
from serving import ROOT, gunicorn, master_pid, request, stored_ids, wait_for_workers, worker_pids
from settings import default_database_url

IMAGES = [base64.b64encode(encode(canvas_drawing(strokes))).decode()
          for strokes in (ONE, SEVEN, ZERO)]


def predict(client, n=0):
    return client.post("/api/predict", json={"image": IMAGES[n % len(IMAGES)]})


# -- the model file ------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_model_file_damaged_while_serving_is_retrained_without_a_failed_request(
        app, client, storage_dir, damage):
    model_path = storage_dir / MODEL_FILENAME
    first = predict(client)
    assert first.status_code == 200
    old_version = first.get_json()["model_version"]

    payload = model_path.read_bytes()
    with open(model_path, "r+b") as file:  # in place: same inode, as a failing disk would
        if damage == "garbage":
            file.write(os.urandom(len(payload)))
        else:
            file.truncate(len(payload) // 3)
    time.sleep(app.extensions["recognizer"].check_interval + 0.1)

    answers = [predict(client, n) for n in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 6
    retrained = wait_for_valid_model(model_path)  # trained again, maybe in the background
    assert retrained.version != old_version
    time.sleep(app.extensions["recognizer"].check_interval + 0.1)
    latest = predict(client)
    assert latest.status_code == 200
    assert latest.get_json()["model_version"] == retrained.version


def wait_for_valid_model(model_path, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ClassifierRepository(model_path).load()
        except ModelUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def test_a_read_only_storage_dir_makes_train_fail_clearly_and_keeps_the_old_model(
        runner, storage_dir, monkeypatch):
    model_path = storage_dir / MODEL_FILENAME
    before = model_path.read_bytes()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(storage_dir))

    # chmod does not stop root: refuse the write where the repository makes its file
    monkeypatch.setattr("app.recognition.store.tempfile.mkstemp", read_only)
    result = runner.invoke(args=["train"])
    assert result.exit_code != 0
    assert "could not save the model" in result.output
    assert "Read-only file system" in result.output
    assert model_path.read_bytes() == before
    assert not [p for p in storage_dir.iterdir() if p.name.startswith(".model-")]


def test_a_full_disk_while_saving_keeps_the_old_model_and_leaves_no_temporary_file(
        runner, storage_dir, monkeypatch):
    model_path = storage_dir / MODEL_FILENAME
    before = model_path.read_bytes()

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("app.recognition.store.os.fsync", disk_full)
    result = runner.invoke(args=["train"])
    assert result.exit_code != 0 and "No space left on device" in result.output
    assert model_path.read_bytes() == before
    assert not [p for p in storage_dir.iterdir() if p.name.startswith(".model-")]


# -- the database --------------------------------------------------------------------


@pytest.fixture
def movable_database(tmp_path):
    """SQLite in a directory of its own, which a test renames away and back."""
    directory = tmp_path / "db"
    directory.mkdir()
    return directory, f"sqlite:///{directory / 'digits.db'}"


def take_away(directory, app):
    directory.rename(directory.with_name("db-away"))
    # A real outage breaks the open connections too; a renamed SQLite file would
    # otherwise stay reachable through them.
    app.extensions["database"].engine.dispose()


def bring_back(directory):
    directory.with_name("db-away").rename(directory)


def test_the_database_lost_mid_run_answers_without_ids_and_recovers_when_it_returns(
        storage_dir, movable_database):
    directory, url = movable_database
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                      "DATABASE_URL": url, "RATELIMIT_ENABLED": False,
                      "DATABASE_RETRY_INTERVAL": 0.2})
    client = app.test_client()
    stored_before = predict(client).get_json()["prediction_id"]
    assert stored_before is not None

    take_away(directory, app)
    during = [predict(client, n) for n in range(3)]
    assert [answer.status_code for answer in during] == [200] * 3
    assert [answer.get_json()["prediction_id"] for answer in during] == [None] * 3
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"].startswith("unavailable")
    assert client.get("/api/predictions").status_code == 503

    bring_back(directory)
    time.sleep(0.3)
    after = [predict(client, n).get_json()["prediction_id"] for n in range(3)]
    assert None not in after
    assert client.get("/readyz").status_code == 200
    app.extensions["history"].flush()  # the rows are written behind the answers
    assert stored_ids(url) == {stored_before, *after}
    app.extensions["database"].dispose()


def test_the_database_missing_at_start_is_reported_and_used_once_it_appears(
        storage_dir, movable_database):
    directory, url = movable_database
    directory.rename(directory.with_name("db-away"))
    directory.write_text("not a directory")  # SQLite cannot open, nor create, the file
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                      "DATABASE_URL": url, "RATELIMIT_ENABLED": False,
                      "DATABASE_RETRY_INTERVAL": 0.2})
    client = app.test_client()
    answer = predict(client)
    assert answer.status_code == 200 and answer.get_json()["prediction_id"] is None
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "unavailable" in ready.get_json()["checks"]["database"]

    directory.unlink()
    bring_back(directory)
    time.sleep(0.3)
    stored = predict(client).get_json()["prediction_id"]
    app.extensions["history"].flush()  # the row is written behind the answer
    assert stored is not None and stored in stored_ids(url)
    assert client.get("/readyz").status_code == 200
    app.extensions["database"].dispose()


# -- workers under load ------------------------------------------------------------


def load(base, stop, answers, pace=0.0):
    """Send predictions until ``stop`` is set; every answer (or error) into ``answers``."""
    n = 0
    while not stop.is_set():
        try:
            answers.append(request(f"{base}/api/predict", {"image": IMAGES[n % 3]}, timeout=30))
        except OSError as error:  # a connection cut by the killed worker
            answers.append((None, repr(error)))
        n += 1
        time.sleep(pace)


def test_a_worker_killed_under_load_is_replaced_and_every_completed_answer_is_stored(
        storage_dir, database_url):
    with gunicorn(storage_dir, database_url, workers=2) as base:
        master = master_pid(base)
        workers = wait_for_workers(master, 2)
        stop, answers = threading.Event(), []
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in range(4):
                pool.submit(load, base, stop, answers)
            time.sleep(2)
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                now = worker_pids(master)
                if len(now) == 2 and victim not in now:
                    break
                time.sleep(0.2)
            time.sleep(2)  # the replacement serves too
            stop.set()
        replaced = worker_pids(master)
        assert victim not in replaced and len(replaced) == 2
        assert request(f"{base}/healthz")[0] == 200

    completed = [body for status, body in answers if status == 200]
    failed = [(status, body) for status, body in answers if status != 200]
    assert len(completed) > 20
    assert len(failed) <= 4, failed  # only requests in flight on the killed worker
    assert all(status is None for status, _ in failed), failed  # cut, never a 5xx
    ids = [body["prediction_id"] for body in completed]
    assert None not in ids
    assert set(ids) <= stored_ids(database_url)


def test_a_retrain_during_load_fails_no_request_and_switches_the_model(
        storage_dir, database_url):
    with gunicorn(storage_dir, database_url, workers=2) as base:
        old_version = request(f"{base}/api/model")[1]["version"]
        stop, answers = threading.Event(), []
        with ThreadPoolExecutor(max_workers=3) as pool:
            for _ in range(3):
                pool.submit(load, base, stop, answers)
            env = {**os.environ, "STORAGE_DIR": str(storage_dir), "DATABASE_URL": database_url,
                   "SECRET_KEY": "test", "CV_FOLDS": "3"}
            trained = subprocess.run([sys.executable, "manage.py", "train", "--neighbors", "3"],
                                     cwd=ROOT, env=env, capture_output=True, text=True,
                                     timeout=180)
            assert trained.returncode == 0, trained.stderr
            new_version = ClassifierRepository(Path(storage_dir) / MODEL_FILENAME).load().version
            time.sleep(2.5)  # every worker checks the file at least once a second
            stop.set()
    assert new_version != old_version
    assert answers and all(status == 200 for status, _ in answers), [
        a for a in answers if a[0] != 200][:5]
    versions = [body["model_version"] for _, body in answers]
    assert versions[0] == old_version
    assert versions[-6:] == [new_version] * 6


# -- the storage ---------------------------------------------------------------------


def test_a_storage_dir_that_cannot_be_written_and_no_secret_key_still_serve(tmp_path):
    # Root writes through chmod 0555: a directory under a regular file can
    # be neither created nor written, whoever asks.
    (tmp_path / "a-file").write_text("not a directory")
    storage = tmp_path / "a-file" / "storage"
    with gunicorn(storage, default_database_url(storage), workers=2,
                  extra_env={"SECRET_KEY": ""}) as base:
        status, answer = request(f"{base}/api/predict", {"image": IMAGES[1]}, timeout=30)
        ready = request(f"{base}/readyz", timeout=30)
    assert status == 200, answer  # from the provisional model: no model file can be there
    assert answer["prediction_id"] is None  # nor a database
    assert ready[0] == 503 and ready[1]["checks"]["database"] == "unavailable"
