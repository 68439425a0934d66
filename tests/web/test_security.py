"""Secrets and debug mode: nothing that hands control to a client."""

import errno
import os
import stat

from app import create_app


def test_debug_mode_stays_off_whatever_flask_debug_says(storage_dir, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app({"STORAGE_DIR": storage_dir, "SECRET_KEY": "test"})
    assert app.debug is False


def test_an_error_never_shows_a_traceback(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "secret internals" not in response.get_data(as_text=True)


def test_without_secret_key_one_is_generated_once_and_kept_private(tmp_path, caplog):
    first = create_app({"STORAGE_DIR": tmp_path})
    second = create_app({"STORAGE_DIR": tmp_path})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 64
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    assert "SECRET_KEY is not set" in caplog.text


def test_an_unwritable_storage_dir_without_secret_key_starts_with_a_key_of_its_own(
        storage_dir, monkeypatch, caplog):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(storage_dir))

    # chmod 0555 does not stop root: refuse the write where the key file is made
    monkeypatch.setattr("app.web.security.tempfile.mkstemp", read_only)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "RATELIMIT_ENABLED": False})
    assert len(app.config["SECRET_KEY"]) >= 64
    assert not (storage_dir / "secret_key").exists()
    assert "Read-only file system" in caplog.text and "SECRET_KEY" in caplog.text
    assert app.test_client().get("/healthz").status_code == 200
    app.extensions["database"].dispose()
