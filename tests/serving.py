"""Run the real service under gunicorn on loopback, for tests across processes."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(url, body=None, method=None, headers=None, timeout=30):
    """(status, parsed JSON body) of one HTTP request."""
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    call = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def predict_at_once(base, images, count, clients=8):
    """``count`` POST /api/predict of ``images`` in turn (base64 strings), from
    ``clients`` clients at once: (status, body) of each, in order."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(
            lambda n: request(f"{base}/api/predict", {"image": images[n % len(images)]}),
            range(count)))


def processes(matching):
    """The pids of the processes with an argument for which ``matching(argument)``."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                arguments = file.read().decode(errors="replace").split("\0")
        except OSError:  # not a process, or gone
            continue
        if any(matching(argument) for argument in arguments):
            pids.append(int(entry))
    return pids


def server_processes(base):
    """The pids of the gunicorn master and workers listening at ``base``: each
    has the bind address in its command line."""
    bind = base.removeprefix("http://")
    return processes(lambda argument: argument == bind)


def training_processes(storage_dir):
    """The pids of the ``python -m app.training`` processes training for ``storage_dir``."""
    return processes(lambda argument: argument.startswith("{") and str(storage_dir) in argument)


def master_pid(base):
    """The gunicorn master serving ``base`` (found by its bind address)."""
    port = urlparse(base).port
    found = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", f"127.0.0.1:{port}"],
                           capture_output=True, text=True).stdout.split()
    assert len(found) == 1, found
    return int(found[0])


def worker_pids(master):
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


def wait_for_workers(master, count, timeout=30):
    deadline = time.monotonic() + timeout
    while len(workers := worker_pids(master)) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) == count, workers
    return workers


def mapped_files(pid):
    """The files a process has mapped into its memory (libraries, modules' .so)."""
    with open(f"/proc/{pid}/maps") as maps:
        return {line.split(maxsplit=5)[5].strip() for line in maps if len(line.split()) > 5}


def wait_until_healthy(base, process, timeout):
    """Whether ``base``/healthz answered 200 within ``timeout`` seconds while
    ``process`` (the server behind it) kept running."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if request(f"{base}/healthz", timeout=2)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


@contextmanager
def gunicorn(storage_dir, database_url, workers=2, extra_env=None, ready_timeout=60):
    """A gunicorn serving ``app:create_app()``; yields its base URL."""
    port = free_port()
    env = {**os.environ, "STORAGE_DIR": str(storage_dir), "DATABASE_URL": database_url,
           "SECRET_KEY": "test", "CV_FOLDS": "3", "RATELIMIT_ENABLED": "0",
           **(extra_env or {})}
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10", "app:create_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_healthy(base, process, ready_timeout):
            log.seek(0)
            raise RuntimeError(f"gunicorn did not start:\n{log.read().decode(errors='replace')}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def stored_ids(database_url):
    """The ids of the rows in the predictions table at ``database_url``."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT id FROM predictions"))}
    finally:
        engine.dispose()
