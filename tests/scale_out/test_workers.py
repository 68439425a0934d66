"""Several gunicorn workers share one database without losing or doubling rows."""

import base64
import time

import pytest
from sqlalchemy import create_engine, text

from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode
from serving import (
    gunicorn,
    mapped_files,
    predict_at_once,
    request,
    server_processes,
    training_processes,
)


@pytest.fixture
def database_url(any_database_url):
    return any_database_url


def test_concurrent_predictions_through_two_workers_all_land_once(storage_dir, database_url):
    images = [base64.b64encode(encode(canvas_drawing(strokes))).decode()
              for strokes in (ONE, SEVEN, ZERO)]
    count = 60
    with gunicorn(storage_dir, database_url, workers=2) as base:
        answers = predict_at_once(base, images, count)
    assert all(status == 200 for status, _ in answers), answers
    ids = [body["prediction_id"] for _, body in answers]
    assert None not in ids and len(set(ids)) == count

    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored = [row[0] for row in connection.execute(text("SELECT id FROM predictions"))]
    engine.dispose()
    assert sorted(stored) == sorted(ids)


def test_workers_answer_without_loading_scikit_learn_or_scipy(tmp_path, database_url):
    """A worker answers from the model's numpy snapshot: scikit-learn, scipy and
    skops (about 80 MB a worker) stay in the process that trains. From an empty
    storage: the provisional model first, then the full one trained elsewhere."""
    image = base64.b64encode(encode(canvas_drawing(SEVEN))).decode()
    with gunicorn(tmp_path, database_url, workers=2) as base:
        status, first = request(f"{base}/api/predict", {"image": image})
        assert status == 200 and first["digit"] in range(10)
        deadline = time.monotonic() + 120
        while request(f"{base}/api/model")[1]["provisional"]:
            assert time.monotonic() < deadline, "the full model was not served within 120 s"
            time.sleep(0.5)
        time.sleep(1.5)  # every worker looks at the model file once a second
        answers = predict_at_once(base, [image], 20)
        assert {(status, body["digit"]) for status, body in answers} == {(200, 7)}
        assert {body["model_version"] for _, body in answers} == {
            request(f"{base}/api/model")[1]["version"]}
        processes = server_processes(base)
        assert len(processes) == 3  # the master and two workers
        for pid in processes:
            loaded = [path for path in mapped_files(pid)
                      if any(f"/{package}/" in path for package in ("sklearn", "scipy", "skops"))]
            assert loaded == [], f"process {pid} loaded {loaded[:3]}"


def test_a_stopped_service_leaves_no_training_process_behind(tmp_path, database_url):
    with gunicorn(tmp_path, database_url, workers=2) as base:
        assert request(f"{base}/api/model")[1]["provisional"]  # a first start: training
        assert len(training_processes(tmp_path)) == 1
    assert training_processes(tmp_path) == []
    assert list(tmp_path.glob(".model-*.tmp")) == []
