"""A PostgreSQL that stops answering (behind a loopback proxy the test pauses)
costs an answer at most DATABASE_TIMEOUT, kills no worker, and loses no row
that an answer named."""

import base64
import time

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.history.database import Database
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, postgres_test_url
from faults.loopback import TcpProxy
from serving import gunicorn, master_pid, request, stored_ids, wait_for_workers, worker_pids

IMAGES = [base64.b64encode(encode(canvas_drawing(strokes))).decode()
          for strokes in (ONE, SEVEN, ZERO)]
TIMEOUT = 1.0  # DATABASE_TIMEOUT in these tests
SLACK = 1.0  # reading the image, and a loaded machine


def timed(call):
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def through(proxy, database_url):
    return make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False)


def test_a_hung_database_costs_an_answer_at_most_the_timeout_and_loses_no_row(storage_dir):
    database_url = postgres_test_url()
    direct = make_url(database_url)
    env = {"DATABASE_TIMEOUT": str(TIMEOUT), "DATABASE_RETRY_INTERVAL": "1"}
    with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy, \
            gunicorn(storage_dir, through(proxy, database_url), workers=2,
                     extra_env=env) as base:
        master = master_pid(base)
        workers = wait_for_workers(master, 2)

        def predict(n):
            return request(f"{base}/api/predict", {"image": IMAGES[n % 3]}, timeout=10)

        before = [predict(n) for n in range(4)]

        proxy.pause()
        paused_at = time.monotonic()
        during = []
        while time.monotonic() - paused_at < 4:
            during.append(timed(lambda: predict(len(during))))
        listed = timed(lambda: request(f"{base}/api/predictions", timeout=10))
        ready = timed(lambda: request(f"{base}/readyz", timeout=10))
        assert worker_pids(master) == workers  # none killed by gunicorn's timeout

        proxy.resume()
        deadline = time.monotonic() + 10
        while (after := predict(0))[1]["prediction_id"] is None:
            assert time.monotonic() < deadline, "ids never came back"
            time.sleep(0.2)
        answered = [body["prediction_id"] for _, body in before + [after]]
        answered += [body["prediction_id"] for _, (_, body) in during]
        answered = {prediction_id for prediction_id in answered if prediction_id is not None}
        deadline = time.monotonic() + 15
        while not answered <= stored_ids(database_url) and time.monotonic() < deadline:
            time.sleep(0.2)

    assert [status for status, _ in before] == [200] * 4
    assert None not in [body["prediction_id"] for _, body in before]
    assert [status for _, (status, _) in during] == [200] * len(during)
    assert max(seconds for seconds, _ in during) < TIMEOUT + SLACK, during
    assert None in [body["prediction_id"] for _, (_, body) in during]
    seconds, (status, body) = listed
    assert status == 503 and body["error"]["code"] == "database_unavailable"
    assert seconds < TIMEOUT + SLACK + 1.0  # it first waits up to 1 s for this worker's writes
    seconds, (status, body) = ready
    assert status == 503 and body["checks"]["database"] == "unavailable"
    assert seconds < TIMEOUT + SLACK
    assert answered <= stored_ids(database_url)  # every row an answer named is there


def test_postgresql_connections_bound_statements_and_notice_a_dead_peer():
    database = Database(postgres_test_url(), timeout=TIMEOUT)  # no schema yet
    try:
        assert database.ensure_schema()  # migrated without the statement timeout...
        with database.engine.connect() as connection:  # ...which the pool's connection has again
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "30s"
            parameters = connection.connection.dbapi_connection.info.get_parameters()
        assert parameters["connect_timeout"] == "3"
        assert parameters["keepalives"] == "1" and parameters["tcp_user_timeout"] == "30000"
    finally:
        database.dispose()


def test_a_statement_timeout_in_the_url_is_kept():
    url = make_url(postgres_test_url()).update_query_dict(
        {"options": "-c statement_timeout=5000"}).render_as_string(hide_password=False)
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "5s"
    finally:
        database.dispose()
