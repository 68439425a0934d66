"""Fixtures for the end-to-end tests: the service on a loopback port, in a
thread, and Playwright driving the machine's own Chromium (never a browser
downloaded by Playwright: CI installs Debian's chromium)."""

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from conftest import missing_service

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/shots"))
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        missing_service(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) "
                        "to run the browser tests; .ci/run does")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM),
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture
def live_app(storage_dir, database_url):
    app = create_app({"STORAGE_DIR": storage_dir, "SECRET_KEY": "browser-tests",
                      "CV_FOLDS": 3, "DATABASE_URL": database_url})
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def live_server(live_app):
    """The service's address, served from a thread for the length of one test."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def browser_context_args(browser_context_args, live_server):
    return {**browser_context_args, "base_url": live_server, "viewport": DESKTOP}


@pytest.fixture
def problems(page, live_server):
    """Everything that went wrong in the page: script errors, console errors
    (a Content-Security-Policy violation is one) and requests that left the
    service (the pages must work offline)."""
    found = []
    page.on("pageerror", lambda error: found.append(f"script error: {error}"))
    page.on("console", lambda message: message.type == "error"
            and found.append(f"console: {message.text}"))
    page.on("response", lambda response: response.status >= 400
            and found.append(f"{response.status}: {response.url}"))
    page.on("request", lambda request: request.url.startswith((live_server, "data:", "blob:"))
            or found.append(f"external request: {request.url}"))
    return found


@pytest.fixture(scope="session")
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
