"""Per-client rate limits on the API, shared across workers through Redis."""

import base64
import os

from redis import Redis
from redis.exceptions import RedisError

from app import create_app
from conftest import SEVEN, canvas_drawing, encode, missing_service

IMAGE = {"image": base64.b64encode(encode(canvas_drawing(SEVEN))).decode()}


def limited_app(storage_dir, **settings):
    return create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                       "RATELIMIT_ENABLED": True, "API_RATE_LIMIT": "3/minute",
                       "RATELIMIT_EXEMPT_LOOPBACK": False, **settings})


def test_a_client_over_its_limit_gets_429_in_the_error_format_with_retry_after(storage_dir):
    client = limited_app(storage_dir).test_client()
    assert [client.post("/api/predict", json=IMAGE).status_code for _ in range(3)] == [200] * 3
    response = client.post("/api/predict", json=IMAGE)
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_the_limit_is_per_client(storage_dir):
    client = limited_app(storage_dir).test_client()
    for _ in range(3):
        client.get("/api/model", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert client.get("/api/model", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 429
    assert client.get("/api/model", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200


def test_a_limit_per_second_says_retry_after_at_least_one_second(storage_dir):
    client = limited_app(storage_dir, API_RATE_LIMIT="2/second").test_client()
    statuses = [client.get("/api/model") for _ in range(3)]
    assert statuses[-1].status_code == 429
    assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_clients_on_this_machine_are_not_limited_by_the_embedded_default(storage_dir):
    client = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                         "API_RATE_LIMIT": "3/minute"}).test_client()
    assert all(client.get("/api/model").status_code == 200 for _ in range(6))
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    assert [client.get("/api/model", environ_base=remote).status_code
            for _ in range(4)] == [200, 200, 200, 429]


def test_the_production_configuration_limits_clients_on_this_machine_too():
    import runpy

    from serving import ROOT

    environment = dict(os.environ)
    os.environ.pop("RATELIMIT_EXEMPT_LOOPBACK", None)
    try:
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        assert os.environ["RATELIMIT_EXEMPT_LOOPBACK"] == "0"
    finally:
        os.environ.clear()
        os.environ.update(environment)


def test_labels_have_a_limit_of_their_own_shared_by_the_api_and_the_history_form(storage_dir):
    app = limited_app(storage_dir, API_RATE_LIMIT="100/minute", LABEL_RATE_LIMIT="3/minute",
                      WTF_CSRF_ENABLED=False)
    client = app.test_client()
    prediction_id = client.post("/api/predict", json=IMAGE).get_json()["prediction_id"]
    label = f"/api/predictions/{prediction_id}/label"
    assert [client.put(label, json={"label": 7}).status_code for _ in range(2)] == [200, 200]
    form = client.post(f"/history/{prediction_id}/label", data={"label": "7"})
    assert form.status_code == 302  # the third label, through the page
    refused = client.put(label, json={"label": 7})
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert client.post(f"/history/{prediction_id}/label", data={"label": "7"}).status_code == 429
    assert client.post("/api/predict", json=IMAGE).status_code == 200  # readings go on


def test_pages_and_health_checks_are_not_limited_like_the_api(storage_dir):
    client = limited_app(storage_dir).test_client()
    assert all(client.get("/healthz").status_code == 200 for _ in range(6))


def test_with_redis_the_count_is_shared_by_every_worker(storage_dir, tmp_path):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        missing_service("TEST_REDIS_URL is not set (CI sets it to the machine's Redis)")
    try:
        Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except RedisError as error:
        missing_service(f"Redis at TEST_REDIS_URL is not reachable: {error}")
    first = limited_app(storage_dir, REDIS_URL=url).test_client()
    for _ in range(3):
        assert first.get("/api/model").status_code == 200
    # Another worker (its own storage, its own process state) sees the same count.
    other_storage = tmp_path / "other"
    other_storage.mkdir()
    (other_storage / "model.skops").write_bytes((storage_dir / "model.skops").read_bytes())
    second = limited_app(other_storage, REDIS_URL=url).test_client()
    assert second.get("/api/model").status_code == 429
    Redis.from_url(url).flushdb()
