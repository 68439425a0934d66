"""gunicorn settings for production: ``gunicorn 'app:create_app()'`` reads this
file from the working directory. Every value can be changed from the environment."""

import ctypes
import ctypes.util
import gc
import json
import os

from gunicorn import util

# Reading a digit is CPU work: one worker per core the process may use. Each
# has a few threads, so that a client sending its request slowly holds one
# thread and not the worker (a sync worker would serve nobody else meanwhile);
# many slow clients are a buffering proxy's job (deploy/nginx.conf). The
# application limits numpy's thread pools to one thread per process.
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0))))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:"
                                       f"{os.environ.get('PORT', '8000')}")

# A request is a few milliseconds; one that takes 30 s is stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, finish the requests under way (and flush what they wrote).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Renew workers now and then, staggered, so no slow growth lasts.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "2000"))

# Logs to standard output and error, for the process supervisor to collect.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# In production every client is rate-limited, those on this machine too: behind
# a proxy on the same machine every client looks local.
os.environ.setdefault("RATELIMIT_EXEMPT_LOOPBACK", "0")

# Import the application once, in the master, before forking the workers: the
# imports (scikit-learn, scipy, SQLAlchemy...) are most of a cold start, and the
# workers then share those pages of memory.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").lower() not in ("0", "false", "no")


def json_error(sock, status_int, reason, mesg):
    """gunicorn's own answers to requests it cannot hand to the application (a
    malformed request line, headers too large...) in the JSON error format and
    with the security headers, as the application answers."""
    from app.errors import HTTP_ERROR_CODES, error_body
    from app.web.security import SECURITY_HEADERS

    body = json.dumps(error_body(HTTP_ERROR_CODES.get(status_int, "http_error"),
                                 mesg or reason)).encode()
    headers = {"Connection": "close", "Content-Type": "application/json",
               "Content-Length": str(len(body)), **SECURITY_HEADERS}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    util.write_nonblock(sock, f"HTTP/1.1 {status_int} {reason}\r\n{head}\r\n".encode("latin1")
                        + body)


# gunicorn writes its own errors through this one function.
util.write_error = json_error


def pre_fork(server, worker):
    """The objects the master imported live as long as the workers: frozen, a
    worker's full garbage collections never walk them. Unfrozen, each one
    walked some 300,000 of them, a 60 ms pause in the middle of answers, and
    wrote to their pages, which then stopped being shared."""
    gc.freeze()


def return_large_blocks_to_the_system():
    """glibc keeps the memory of a freed large picture for later, in an arena
    per thread, and a worker grows by it for good. Allocated with mmap, a large
    block goes back when freed; sizes under the threshold (a canvas drawing's
    arrays) stay on the heap, in at most two arenas for the worker's threads."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(M_ARENA_MAX, 2)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc's mallopt parameters
MMAP_THRESHOLD_BYTES = int(os.environ.get("MALLOC_MMAP_THRESHOLD_BYTES", 1024 * 1024))


def post_fork(server, worker):
    """A forked worker opens its own database connections, never the master's."""
    return_large_blocks_to_the_system()
    app = getattr(worker.app, "callable", None)  # the preloaded application, if any
    database = getattr(app, "extensions", {}).get("database")
    if database is not None:
        database.engine.dispose(close=False)


def worker_exit(server, worker):
    """A worker that stops (SIGTERM, SIGQUIT, max_requests) writes the rows its
    background writer still holds, and stops the training process it started,
    before it goes. The application's atexit hooks do so too; this one runs
    first, whatever else is registered."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    for name in ("history", "recognizer"):
        if name in extensions:
            extensions[name].close()
