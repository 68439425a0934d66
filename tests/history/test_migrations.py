"""The schema is managed by Alembic migrations, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import inspect, text

from app import create_app
from conftest import stop


@pytest.fixture
def bare_app(storage_dir, database_url):
    """An application that leaves the schema alone until told."""
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "DATABASE_URL": database_url,
                      "AUTO_MIGRATE": False})
    yield app
    stop(app)


def columns(database):
    return {column["name"] for column in inspect(database.engine).get_columns("predictions")}


def test_the_default_sqlite_database_is_created_on_first_start(tmp_path):
    app = create_app({"TESTING": True, "STORAGE_DIR": tmp_path / "fresh"})
    assert (tmp_path / "fresh" / "digits.db").exists()
    database = app.extensions["database"]
    assert database.current_revision() == database.head_revision()
    database.dispose()


def test_init_db_creates_the_schema_in_an_empty_database(bare_app):
    database = bare_app.extensions["database"]
    assert database.current_revision() is None
    result = bare_app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert database.current_revision() == database.head_revision()
    assert {"id", "image_png", "features", "label", "labelled_at"} <= columns(database)


def test_upgrade_from_the_previous_revision_keeps_the_stored_predictions(bare_app):
    database = bare_app.extensions["database"]
    runner = bare_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0001"]).exit_code == 0
    assert "label" not in columns(database)
    with database.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO predictions (created_at, source, image_png, features, digit, "
            "confidence, probabilities, model_version) VALUES (CURRENT_TIMESTAMP, 'api', "
            ":png, :features, 7, 0.9, '[0,0,0,0,0,0,0,0.9,0.1,0]', 'v1')"),
            {"png": b"png", "features": bytes(64)})

    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert database.current_revision() == database.head_revision()
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT digit, model_version, label FROM predictions"))
        assert [tuple(row) for row in rows] == [(7, "v1", None)]


def test_db_current_and_downgrade(bare_app):
    runner = bare_app.test_cli_runner()
    runner.invoke(args=["init-db"])
    assert "current: 0004" in runner.invoke(args=["db", "current"]).output
    assert runner.invoke(args=["db", "downgrade", "0001"]).exit_code == 0
    assert "current: 0001" in runner.invoke(args=["db", "current"]).output
    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    assert "current: base" in runner.invoke(args=["db", "current"]).output


def test_without_auto_migration_an_old_schema_is_reported_not_used(bare_app):
    client = bare_app.test_client()
    readiness = client.get("/readyz")
    assert readiness.status_code == 503
    assert readiness.get_json()["checks"]["database"] == "unavailable: schema not ready"
