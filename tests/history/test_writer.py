"""A prediction's row is written behind its answer, with the id the answer gave:
unique across processes, readable at once, and never lost on a stop: on SQLite
and on PostgreSQL."""

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

from app import create_app
from app.history.database import Database
from app.history.ids import ID_BLOCK_LIFETIME, IN_FLIGHT_SECONDS
from app.history.predictions import PredictionHistory
from app.recognition.recognizer import Prediction
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, postgres_test_url
from serving import (
    ROOT,
    gunicorn,
    master_pid,
    predict_at_once,
    request,
    wait_for_workers,
    worker_pids,
)

IMAGES = [base64.b64encode(encode(canvas_drawing(strokes))).decode()
          for strokes in (ONE, SEVEN, ZERO)]
PREDICTION = Prediction(digit=7, confidence=0.93, probabilities=[0.01] * 9 + [0.91],
                        model_version="v1", features=np.arange(64) % 17)


@pytest.fixture(autouse=True)
def background_writes(monkeypatch):
    """On SQLite too, where they are not the default (and for gunicorn)."""
    monkeypatch.setenv("BACKGROUND_WRITES", "1")


@pytest.fixture
def histories(database_url, storage_dir):
    """Makes PredictionHistory objects on the test's database, each with its own
    connections, as separate processes would have; closes them after."""
    made = []

    def make(background_writes=True, write_queue_size=1000):
        database = Database(database_url, lock_dir=storage_dir)
        assert database.ensure_schema()
        history = PredictionHistory(database, background_writes=background_writes,
                                    write_queue_size=write_queue_size,
                                    journal_dir=storage_dir / "journal")
        made.append(history)
        return history

    yield make
    for history in made:
        history.close()
        history.database.dispose()


def stored(database_url):
    """{id: digit} of every row, read on a connection of its own."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(text("SELECT id, digit FROM predictions")).all())
    finally:
        engine.dispose()


def held_back(history):
    """Make ``history``'s writer wait before each write until the returned event is set."""
    release, write = threading.Event(), history.writer.write

    def write_when_released(rows):
        release.wait(30)
        write(rows)

    history.writer.write = write_when_released
    return release


def test_ids_come_back_at_once_increasing_and_the_rows_follow_with_them(histories, database_url):
    history = histories()
    release = held_back(history)
    ids = [history.record(PREDICTION, b"png", "api") for _ in range(50)]
    assert ids == sorted(set(ids)) and None not in ids
    assert stored(database_url) == {}  # answered, not written yet
    release.set()
    assert history.flush()
    assert stored(database_url) == dict.fromkeys(ids, 7)
    row = history.get(ids[0])
    assert row.image_png == b"png" and row.probabilities == PREDICTION.probabilities
    assert bytes(row.features) == bytes(range(17)) * 3 + bytes(range(13))


def test_a_batch_is_recorded_with_one_id_each(histories, database_url):
    history = histories()
    ids = history.record_many([(PREDICTION, b"png", "api", f"{n}.png") for n in range(10)])
    assert len(set(ids)) == 10 and ids == sorted(ids)
    assert [row.filename for row in history.recent(10)] == [f"{n}.png" for n in range(9, -1, -1)]


def test_two_histories_on_one_database_never_share_an_id(histories, database_url):
    first, second = histories(), histories()
    ids = []
    for _ in range(300):  # fast enough for the blocks to grow past one id
        ids.append(first.record(PREDICTION, b"png", "api"))
        ids.append(second.record(PREDICTION, b"png", "api"))
    first.flush(), second.flush()
    assert len(set(ids)) == len(ids) == 600 and None not in ids
    assert sorted(stored(database_url)) == sorted(ids)


def test_two_processes_on_one_database_never_share_an_id(database_url, storage_dir, histories):
    histories()  # the schema
    script = """
import json, sys
import numpy as np
from app import create_app
from app.history.database import Database
from app.history.predictions import PredictionHistory
from app.recognition.recognizer import Prediction
prediction = Prediction(7, 0.9, [0.1] * 10, "v1", np.zeros(64))
history = PredictionHistory(Database(sys.argv[1]), background_writes=True)
print(json.dumps([history.record(prediction, b"png", "cli") for _ in range(400)]))
history.close()
"""
    processes = [subprocess.Popen([sys.executable, "-c", script, database_url], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
    ids = [json.loads(process.communicate(timeout=120)[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    every = ids[0] + ids[1]
    assert len(set(every)) == 800 and None not in every
    assert sorted(stored(database_url)) == sorted(every)  # each wrote its rows on exit


def test_ids_from_a_process_stay_in_time_order_with_the_others(histories):
    """A block is dropped once it is older than its lifetime, so an id handed
    out now is above any handed out a lifetime ago by another process."""
    first, second = histories(), histories()
    for _ in range(100):
        first.record(PREDICTION, b"png", "api")  # a block of many ids
    before = first.record(PREDICTION, b"png", "api")
    time.sleep(ID_BLOCK_LIFETIME + 0.1)
    later = second.record(PREDICTION, b"png", "api")
    assert first.record(PREDICTION, b"png", "api") > later > before


def test_a_clean_close_writes_every_queued_row(histories, database_url):
    history = histories()
    release = held_back(history)
    ids = history.record_many([(PREDICTION, b"png", "api", None)] * 20)
    ids += [history.record(PREDICTION, b"png", "api") for _ in range(30)]
    assert history.writer.pending == 50
    threading.Timer(0.3, release.set).start()
    history.close()
    assert sorted(stored(database_url)) == sorted(ids)
    assert not list((history.writer.journal.directory).glob("*.rows"))  # nothing left behind


def test_a_full_queue_makes_the_request_write_its_rows_itself(histories, database_url):
    history = histories(write_queue_size=5)
    release = held_back(history)
    ids = [history.record(PREDICTION, b"png", "api") for _ in range(20)]
    assert history.writer.pending == 5
    assert sorted(stored(database_url)) == ids[5:]  # written before their answers
    release.set()
    assert history.flush()
    assert sorted(stored(database_url)) == ids


def test_without_background_writes_the_row_is_there_before_the_answer(histories, database_url):
    history = histories(background_writes=False)
    assert history.writer is None
    prediction_id = history.record(PREDICTION, b"png", "api")
    assert stored(database_url) == {prediction_id: 7}


@pytest.mark.parametrize("setting", ["", "auto", "0", "1"])
def test_by_default_rows_are_written_behind_the_answer_where_the_database_is_remote(
        monkeypatch, storage_dir, database_url, setting):
    monkeypatch.setenv("BACKGROUND_WRITES", setting)
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "DATABASE_URL": database_url})
    background = {"0": False, "1": True}.get(setting, database_url.startswith("postgresql"))
    assert (app.extensions["history"].writer is not None) == background
    app.extensions["history"].close()
    app.extensions["database"].dispose()


def test_a_prediction_is_read_and_corrected_right_after_its_answer(app, client):
    assert app.extensions["history"].writer is not None
    for n in range(5):
        answer = client.post("/api/predict", json={"image": IMAGES[n % 3]}).get_json()
        prediction_id = answer["prediction_id"]
        assert client.get(f"/api/predictions/{prediction_id}").status_code == 200
        response = client.put(f"/api/predictions/{prediction_id}/label", json={"label": 3})
        assert response.status_code == 200 and response.get_json()["label"] == 3


def test_another_process_finds_a_row_still_on_its_way(histories):
    answering, correcting = histories(), histories()
    release = held_back(answering)
    prediction_id = answering.record(PREDICTION, b"png", "api")
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    row = correcting.set_label(prediction_id, 4)
    assert row is not None and row.label == 4
    assert 0.15 < time.monotonic() - started < IN_FLIGHT_SECONDS
    assert answering.get(prediction_id).label == 4


def test_an_id_handed_out_but_never_written_is_not_found_and_soon_not_waited_for(histories):
    holder, reader = histories(), histories()
    unused = holder.ids.take(1)[0]
    started = time.monotonic()
    assert reader.get(unused) is None
    waited = time.monotonic() - started
    assert IN_FLIGHT_SECONDS - 0.2 < waited < IN_FLIGHT_SECONDS + 1.0
    # Long enough after the id was seen handed out for any row to have come.
    time.sleep(max(0.0, started + ID_BLOCK_LIFETIME + IN_FLIGHT_SECONDS + 0.5 - time.monotonic()))
    started = time.monotonic()
    assert reader.set_label(unused, 3) is None
    assert reader.get(unused + 1000) is None  # never handed out: no wait either
    assert time.monotonic() - started < IN_FLIGHT_SECONDS / 2


def test_rows_of_a_process_killed_outright_are_written_by_the_next_one(
        histories, database_url, storage_dir):
    histories()  # the schema
    script = """
import json, os, signal, sys, threading
import numpy as np
from app import create_app
from app.history.database import Database
from app.history.predictions import PredictionHistory
from app.recognition.recognizer import Prediction
prediction = Prediction(7, 0.9, [0.1] * 10, "v1", np.zeros(64))
history = PredictionHistory(Database(sys.argv[1]), background_writes=True,
                            journal_dir=sys.argv[2])
history.writer.write = lambda rows: threading.Event().wait()  # a write that never ends
print(json.dumps([history.record(prediction, b"png", "api") for _ in range(25)]), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    killed = subprocess.run([sys.executable, "-c", script, database_url,
                             str(storage_dir / "journal")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    answered = json.loads(killed.stdout)
    assert stored(database_url) == {}

    survivor = histories()
    answered.append(survivor.record(PREDICTION, b"png", "api"))  # starts its writer
    survivor.close()
    assert sorted(stored(database_url)) == sorted(answered)
    assert not list((storage_dir / "journal").glob("*.rows"))


def test_rows_the_database_refused_past_the_retries_are_counted_and_written_by_the_next_start(
        histories, database_url, storage_dir):
    histories()  # the schema
    script = """
import json, sys
import numpy as np
from sqlalchemy.exc import OperationalError
from app.history import writer
from app.history.database import Database
from app.history.predictions import PredictionHistory
from app.recognition.recognizer import Prediction
writer.RETRY_SECONDS = 0.3
prediction = Prediction(7, 0.9, [0.1] * 10, "v1", np.zeros(64))
history = PredictionHistory(Database(sys.argv[1]), background_writes=True,
                            journal_dir=sys.argv[2])

def refuse(rows):
    raise OperationalError("INSERT INTO predictions", {}, Exception("the database is away"))

history.writer.write = refuse
ids = history.record_many([(prediction, b"png", "api", None)] * 5)
history.close()
print(json.dumps({"ids": ids, "failed": history.write_stats.failures}))
"""
    refused = subprocess.run([sys.executable, "-c", script, database_url,
                              str(storage_dir / "journal")],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 0, refused.stderr
    outcome = json.loads(refused.stdout)
    assert outcome["failed"] == 5 and stored(database_url) == {}
    assert "kept in the journal" in refused.stderr

    survivor = histories()
    survivor.record(PREDICTION, b"png", "api")
    survivor.close()
    assert set(outcome["ids"]) < set(stored(database_url))


def test_a_forked_process_takes_ids_and_writes_rows_of_its_own(histories, database_url):
    history = histories()
    parent_ids = [history.record(PREDICTION, b"png", "api") for _ in range(50)]
    # As in gunicorn's master, no write is under way at the fork: SQLite's locks
    # do not survive one.
    assert history.flush()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no writer thread, no block of ids from the parent
        try:
            history.database.engine.dispose(close=False)  # as gunicorn.conf.py's post_fork
            ids = [history.record(PREDICTION, b"png", "api") for _ in range(50)]
            history.close()
            os.write(writer, json.dumps(ids).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child_ids = json.loads(pipe.read())
    os.waitpid(pid, 0)
    parent_ids += [history.record(PREDICTION, b"png", "api") for _ in range(50)]
    assert history.flush()
    every = parent_ids + child_ids
    assert len(set(every)) == 150 and None not in every
    assert sorted(stored(database_url)) == sorted(every)


# -- the migration ------------------------------------------------------------------


def insert_as_before_0003(database, count):
    """Rows inserted as the code before revision 0003 did: the table numbers them."""
    with database.engine.begin() as connection:
        for _ in range(count):
            connection.execute(text(
                "INSERT INTO predictions (created_at, source, image_png, features, digit, "
                "confidence, probabilities, model_version) VALUES (CURRENT_TIMESTAMP, 'api', "
                ":png, :features, 1, 0.9, '[0,0.9,0,0,0,0,0,0,0,0.1]', 'v1')"),
                {"png": b"png", "features": bytes(64)})
        return connection.execute(text("SELECT MAX(id) FROM predictions")).scalar()


def test_ids_start_above_the_stored_rows_after_an_upgrade_and_after_a_downgrade(
        storage_dir, database_url):
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir,
                      "DATABASE_URL": database_url, "AUTO_MIGRATE": False})
    database, history = app.extensions["database"], app.extensions["history"]
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0002"]).exit_code == 0
    highest = insert_as_before_0003(database, 3)

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    first = history.record(PREDICTION, b"png", "api")
    assert first == highest + 1
    assert history.flush()

    assert runner.invoke(args=["db", "downgrade", "0002"]).exit_code == 0
    # (PostgreSQL never has the table: the predictions table's sequence serves.)
    assert "prediction_ids" not in inspect(database.engine).get_table_names()
    highest = insert_as_before_0003(database, 2)
    assert highest > first

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert history.record(PREDICTION, b"png", "api") > highest
    history.close()
    assert len(stored(database_url)) == 3 + 1 + 2 + 1
    database.dispose()


# -- under gunicorn ------------------------------------------------------------------


def test_stopping_gunicorn_writes_every_answered_row(storage_dir, database_url):
    count = 120
    with gunicorn(storage_dir, database_url, workers=2) as base:
        answers = predict_at_once(base, IMAGES, count)
    # Leaving the block sent the master SIGTERM, as soon as the last answer came.
    assert all(status == 200 for status, _ in answers), answers
    ids = [body["prediction_id"] for _, body in answers]
    assert sorted(stored(database_url)) == sorted(ids)


def lock_predictions(database_url):
    """A connection holding PostgreSQL's lock on the predictions table: no row
    can be written until it is closed, but ids can still be handed out."""
    engine = create_engine(database_url)
    connection = engine.connect()
    connection.execute(text("LOCK TABLE predictions IN EXCLUSIVE MODE"))
    return engine, connection


def test_rows_waiting_when_gunicorn_is_stopped_are_written_before_it_exits(
        storage_dir):
    database_url = postgres_test_url()  # PostgreSQL only: the table is held with LOCK TABLE
    with gunicorn(storage_dir, database_url, workers=2) as base:
        request(f"{base}/api/predict", {"image": IMAGES[0]})  # the schema is there
        engine, connection = lock_predictions(database_url)
        answers = [request(f"{base}/api/predict", {"image": IMAGES[n % 3]})
                   for n in range(20)]
        threading.Timer(1.0, connection.close).start()  # after gunicorn got SIGTERM
    engine.dispose()
    ids = [body["prediction_id"] for _, body in answers]
    assert None not in ids
    assert set(ids) <= set(stored(database_url))


def test_rows_of_gunicorn_workers_killed_outright_are_written_by_their_replacements(
        storage_dir):
    database_url = postgres_test_url()  # PostgreSQL only: the table is held with LOCK TABLE
    with gunicorn(storage_dir, database_url, workers=2) as base:
        request(f"{base}/api/predict", {"image": IMAGES[0]})
        master = master_pid(base)
        workers = wait_for_workers(master, 2)
        engine, connection = lock_predictions(database_url)
        answers = [request(f"{base}/api/predict", {"image": IMAGES[n % 3]})
                   for n in range(20)]
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        connection.close()
        engine.dispose()
        wait_for_workers(master, 2)
        while set(worker_pids(master)) & workers:
            time.sleep(0.1)
        for n in range(10):  # each replacement's first row starts its writer
            request(f"{base}/api/predict", {"image": IMAGES[n % 3]})
    ids = [body["prediction_id"] for _, body in answers]
    assert None not in ids
    assert set(ids) <= set(stored(database_url))
