"""The answer never waits on, or fails because of, the database."""

import base64
import sqlite3

import pytest
from sqlalchemy import event

from app import create_app
from app.errors import DatabaseUnavailable
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


DRIVER_WORDS = ("psycopg", "sqlite3", "127.0.0.1", "connection", "disk")


def assert_plain(response):
    """The body says the database is unavailable, and nothing of the driver's words."""
    body = response.get_data(as_text=True)
    assert not [word for word in DRIVER_WORDS if word in body], body


def test_history_routes_and_readiness_show_no_driver_message(client):
    answers = [client.get("/api/predictions"), client.get("/api/predictions/1"),
               client.get("/api/predictions/1/image"),
               client.put("/api/predictions/1/label", json={"label": 3})]
    for response in answers:
        assert response.status_code == 503
        assert response.get_json()["error"] == {"code": "database_unavailable",
                                                "message": DatabaseUnavailable.message}
        assert_plain(response)
    client.post("/api/predict", json={"image": base64.b64encode(
        encode(canvas_drawing(SEVEN))).decode()})  # a failed write, for last_write_error
    ready = client.get("/readyz")
    assert ready.get_json()["checks"]["database"] == "unavailable"
    assert_plain(ready)


def test_a_full_disk_is_logged_and_not_shown_to_clients(storage_dir, caplog):
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                      "RATELIMIT_ENABLED": False})
    client = app.test_client()
    image = base64.b64encode(encode(canvas_drawing(SEVEN))).decode()
    prediction_id = client.post("/api/predict", json={"image": image}).get_json()["prediction_id"]

    @event.listens_for(app.extensions["database"].engine, "before_cursor_execute")
    def disk_full(*_):
        raise sqlite3.OperationalError("database or disk is full")

    response = client.put(f"/api/predictions/{prediction_id}/label", json={"label": 3})
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == DatabaseUnavailable.message
    assert_plain(response)
    assert "database or disk is full" in caplog.text  # the detail is for the operator
    app.extensions["database"].dispose()
