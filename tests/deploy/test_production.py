"""The production configuration on loopback: gunicorn as gunicorn.conf.py sets
it up, and nginx (deploy/nginx.conf) in front of it, against slow clients,
bodies without a length and requests gunicorn answers itself."""

import base64
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from conftest import SEVEN, canvas_drawing, encode, missing_service
from serving import ROOT, free_port, gunicorn, request, wait_until_healthy

PNG = encode(canvas_drawing(SEVEN))


def slow_client(base, declared=1_000_000):
    """A connection that promises a large body and sends four bytes of it."""
    host, port = base.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    connection.sendall(f"POST /api/predict HTTP/1.1\r\nHost: {host}\r\n"
                       f"Content-Type: image/png\r\nContent-Length: {declared}\r\n\r\nabcd"
                       .encode())
    return connection


def timed(call):
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def raw_exchange(base, payload, timeout=10):
    """Send ``payload`` as it is; the status line, headers and body that come back."""
    host, port = base.removeprefix("http://").split(":")
    with closing(socket.create_connection((host, int(port)), timeout=timeout)) as connection:
        connection.sendall(payload)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def post_chunked(base, body, content_type="image/png"):
    """POST ``body`` to /api/predict with Transfer-Encoding: chunked."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    connection.request("POST", "/api/predict", body=chunks, encode_chunked=True,
                       headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"})
    response = connection.getresponse()
    return response.status, response.read()


def test_two_slow_clients_do_not_hold_up_the_service(storage_dir, database_url):
    with gunicorn(storage_dir, database_url) as base:
        slow = [slow_client(base) for _ in range(2)]
        try:
            (status, _), took = timed(lambda: request(f"{base}/healthz", timeout=10))
            assert status == 200 and took < 2
            image = {"image": base64.b64encode(PNG).decode()}
            (status, answer), took = timed(lambda: request(f"{base}/api/predict", image))
            assert status == 200 and answer["digit"] == 7 and took < 5
        finally:
            for connection in slow:
                connection.close()


def test_a_chunked_body_over_the_limit_is_413_and_one_within_it_is_read(storage_dir,
                                                                        database_url):
    with gunicorn(storage_dir, database_url) as base:
        status, body = post_chunked(base, PNG + b"\0" * (3 * 2**20))
        assert status == 413 and b'"payload_too_large"' in body
        status, body = post_chunked(base, b'{"image": "' + b"A" * (3 * 2**20) + b'"}',
                                    "application/json")
        assert status == 413 and b'"payload_too_large"' in body
        status, body = post_chunked(base, PNG)
        assert status == 200 and b'"digit":7' in body


def test_what_gunicorn_answers_itself_is_in_the_json_error_format(storage_dir, database_url):
    with gunicorn(storage_dir, database_url) as base:
        status, headers, body = raw_exchange(base, b"NOT A REQUEST LINE\r\n\r\n")
        assert status == 400
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert b'"code": "bad_request"' in body


# -- nginx in front ----------------------------------------------------------------


@contextmanager
def nginx_in_front_of(base):
    """nginx with deploy/nginx.conf, on a free port, proxying to ``base``."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        missing_service("nginx is not installed (apt-get install nginx-light)")
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o777)  # nginx's workers write request bodies there as another user
        config = (ROOT / "deploy" / "nginx.conf").read_text()
        config = (config.replace("server web:8000;", f"server {base.removeprefix('http://')};")
                  .replace("listen 80;", f"listen 127.0.0.1:{port};")
                  .replace("http {", f"http {{\n    client_body_temp_path {scratch}/body;\n"
                                    f"    proxy_temp_path {scratch}/proxy;\n"
                                    f"    access_log off;\n", 1))
        path = Path(scratch) / "nginx.conf"
        path.write_text(config)
        process = subprocess.Popen(
            [binary, "-c", str(path), "-g",
             f"daemon off; pid {scratch}/nginx.pid; error_log {scratch}/error.log;"])
        proxy = f"http://127.0.0.1:{port}"
        try:
            assert wait_until_healthy(proxy, process, 10), \
                (Path(scratch) / "error.log").read_text()
            yield proxy
        finally:
            process.terminate()
            process.wait(10)


def test_behind_nginx_many_slow_clients_hold_up_nothing(storage_dir, database_url):
    with gunicorn(storage_dir, database_url, workers=1,
                  extra_env={"GUNICORN_THREADS": "2", "PROXY_COUNT": "1"}) as base:
        with nginx_in_front_of(base) as proxy:
            slow = [slow_client(proxy) for _ in range(20)]  # ten times the threads
            try:
                (status, _), took = timed(lambda: request(f"{proxy}/healthz", timeout=10))
                assert status == 200 and took < 2
                image = {"image": base64.b64encode(PNG).decode()}
                status, answer = request(f"{proxy}/api/predict", image)
                assert status == 200 and answer["digit"] == 7
            finally:
                for connection in slow:
                    connection.close()


def test_nginx_answers_a_body_over_the_limit_in_the_json_error_format(storage_dir,
                                                                      database_url):
    with gunicorn(storage_dir, database_url, workers=1) as base:
        with nginx_in_front_of(base) as proxy:
            status, body = post_chunked(proxy, PNG + b"\0" * (3 * 2**20))
    assert status == 413 and b'"payload_too_large"' in body


@pytest.fixture
def database_url(storage_dir):
    from settings import default_database_url

    return default_database_url(storage_dir)
