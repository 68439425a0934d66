"""The answer never waits on, or fails because of, the database."""

import base64

import pytest

from app import create_app
from conftest import SEVEN, canvas_drawing, encode

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:9/nothing"  # the discard port: refused


@pytest.fixture
def database_url():
    return UNREACHABLE


def test_with_the_database_down_answers_still_come_back_without_an_id(client, caplog):
    image = "data:image/png;base64," + base64.b64encode(encode(canvas_drawing(SEVEN))).decode()
    response = client.post("/api/predict", json={"image": image})
    assert response.status_code == 200
    assert response.get_json()["digit"] == 7
    assert response.get_json()["prediction_id"] is None
    assert "Could not store 1 prediction(s)" in caplog.text


def test_readiness_shows_the_database_down_and_the_failed_writes(client):
    image = base64.b64encode(encode(canvas_drawing(SEVEN))).decode()
    client.post("/api/predict", json={"image": image})
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"].startswith("unavailable")
    assert checks["failed_writes"] == "1"
    assert checks["model"]  # the model itself is fine


def test_history_routes_answer_503_in_the_error_format(client):
    response = client.get("/api/predictions")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"


def test_the_service_starts_with_the_database_down(storage_dir):
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "DATABASE_URL": UNREACHABLE})
    assert app.test_client().get("/healthz").status_code == 200
