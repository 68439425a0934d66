"""Redis down, hung or killed mid-run: answers keep coming, in time, under
gunicorn; rate limits are counted in each process meanwhile, the model comes
from its file, and /readyz says Redis is degraded."""

import base64
import time
from contextlib import nullcontext
from urllib.parse import urlparse

import pytest

from conftest import SEVEN, canvas_drawing, encode
from faults.loopback import SilentServer, TcpProxy, closed_port
from serving import gunicorn, request

IMAGE = {"image": base64.b64encode(encode(canvas_drawing(SEVEN))).decode()}
# REDIS_TIMEOUT's default is 0.5 s: a request waits on it three times at most
# (the rate limit's count, the limiter's look at whether Redis is back, the
# model's version), and answers in a few milliseconds more. Before: 5 s, then 500.
LONGEST_ANSWER = 2.5


def timed(call):
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def limited(redis_url, **env):
    return {"REDIS_URL": redis_url, "RATELIMIT_ENABLED": "1", **env}


@pytest.mark.parametrize("fault", ["refused", "hung"])
def test_with_redis_down_or_hung_every_answer_comes_back_in_time(
        storage_dir, database_url, fault):
    with SilentServer() if fault == "hung" else nullcontext() as silent:
        port = silent.port if silent else closed_port()
        env = limited(f"redis://127.0.0.1:{port}/0")
        with gunicorn(storage_dir, database_url, workers=2, extra_env=env) as base:
            answers = [timed(lambda: request(f"{base}/api/predict", IMAGE, timeout=10))
                       for _ in range(8)]
            model = timed(lambda: request(f"{base}/api/model", timeout=10))
            ready = timed(lambda: request(f"{base}/readyz", timeout=10))
    assert [status for _, (status, _) in answers] == [200] * 8, answers[0]
    assert all(body["digit"] == 7 for _, (_, body) in answers)
    assert max(seconds for seconds, _ in answers) < LONGEST_ANSWER, answers
    assert model[1][0] == 200 and model[0] < LONGEST_ANSWER
    assert answers[-1][1][1]["model_version"] == model[1][1]["version"]  # from the file
    seconds, (status, body) = ready
    assert status == 200 and body["status"] == "ready", body
    assert body["checks"]["redis"].startswith("degraded"), body
    assert seconds < LONGEST_ANSWER


def test_with_redis_down_rate_limits_still_hold_in_each_process(storage_dir, database_url):
    env = limited(f"redis://127.0.0.1:{closed_port()}/0", API_RATE_LIMIT="3/minute")
    with gunicorn(storage_dir, database_url, workers=2, extra_env=env) as base:
        statuses = [request(f"{base}/api/predict", IMAGE, timeout=10)[0] for _ in range(10)]
    # Counted in each of the 2 workers' memory: at most 3 each get through.
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(429) >= 4, statuses


def test_redis_killed_mid_run_degrades_readiness_and_fails_no_answer(
        storage_dir, database_url, redis_url):
    parts = urlparse(redis_url)
    with TcpProxy(parts.hostname, parts.port or 6379) as proxy:
        env = limited(f"redis://127.0.0.1:{proxy.port}{parts.path}", MODEL_CHECK_INTERVAL="0.2")
        with gunicorn(storage_dir, database_url, workers=2, extra_env=env) as base:
            before = [request(f"{base}/api/predict", IMAGE, timeout=10) for _ in range(4)]
            ready_before = request(f"{base}/readyz", timeout=10)
            proxy.cut()
            after = [timed(lambda: request(f"{base}/api/predict", IMAGE, timeout=10))
                     for _ in range(8)]
            ready_after = request(f"{base}/readyz", timeout=10)
    assert [status for status, _ in before] == [200] * 4
    assert ready_before[1]["checks"]["redis"] == "ok", ready_before
    assert [status for _, (status, _) in after] == [200] * 8, after[0]
    assert max(seconds for seconds, _ in after) < LONGEST_ANSWER, after
    assert ready_after[0] == 200, ready_after
    assert ready_after[1]["checks"]["redis"].startswith("degraded"), ready_after
