"""Live learning across processes: a label given through one gunicorn worker
changes the answers of every other worker and server on the same database
within two seconds, and an operator's revert takes it back everywhere."""

import base64
import os
import subprocess
import sys
import time

from conftest import canvas_drawing, encode
from serving import ROOT, gunicorn, request

# A "1" with a flag and a foot, which the bundled digits alone read otherwise.
HOOKED_ONE = [[(0.35, 0.3), (0.55, 0.15), (0.55, 0.85)], [(0.35, 0.85), (0.75, 0.85)]]
IMAGE = {"image": base64.b64encode(encode(canvas_drawing(HOOKED_ONE))).decode()}
IN_A_ROW = 20  # answers in a row, each on a new connection, that must agree


def seconds_until_every_answer_is(bases, digit, timeout=10.0):
    """Seconds until IN_A_ROW answers in a row from each of ``bases`` (each on a
    new connection, which a server's workers take in turn) are ``digit``."""
    started = time.monotonic()
    first_right, in_a_row = None, 0
    while time.monotonic() - started < timeout:
        status, answer = request(f"{bases[in_a_row % len(bases)]}/api/predict", IMAGE)
        assert status == 200, answer
        if answer["digit"] == digit:
            first_right = first_right or time.monotonic()
            in_a_row += 1
            if in_a_row == IN_A_ROW * len(bases):
                return first_right - started
        else:
            first_right, in_a_row = None, 0
    raise AssertionError(f"the answers were not all {digit} within {timeout} s")


def label(base, prediction_id, digit):
    status, record = request(f"{base}/api/predictions/{prediction_id}/label", {"label": digit},
                             method="PUT")
    assert status == 200, record
    return record


def test_a_label_through_one_worker_changes_the_other_workers_answer(storage_dir,
                                                                     database_url):
    with gunicorn(storage_dir, database_url, workers=2) as base:
        status, answer = request(f"{base}/api/predict", IMAGE)
        assert status == 200
        wanted = (answer["digit"] + 3) % 10
        label(base, answer["prediction_id"], wanted)
        assert seconds_until_every_answer_is([base], wanted) < 2.0


def test_servers_on_one_database_learn_and_unlearn_together(storage_dir, database_url):
    with gunicorn(storage_dir, database_url, workers=1) as first, \
            gunicorn(storage_dir, database_url, workers=1) as second:
        status, answer = request(f"{second}/api/predict", IMAGE)
        read = answer["digit"]
        wanted = (read + 3) % 10
        label(first, answer["prediction_id"], wanted)
        assert seconds_until_every_answer_is([first, second], wanted) < 2.0

        revert = subprocess.run(
            [sys.executable, "manage.py", "labels", "revert", "--id",
             str(answer["prediction_id"])], cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, "STORAGE_DIR": str(storage_dir), "DATABASE_URL": database_url,
                 "SECRET_KEY": "test"}, timeout=60)
        assert revert.returncode == 0 and "1 label(s) reverted" in revert.stdout, revert.stderr
        assert seconds_until_every_answer_is([first, second], read) < 2.0
