"""gunicorn settings for production: ``gunicorn 'app:create_app()'`` reads this
file from the working directory. Every value can be changed from the environment."""

import gc
import os

# Reading a digit is CPU work: one worker per core the process may use, each
# with a single thread (the application limits numpy's thread pools to one).
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0))))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
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

# Import the application once, in the master, before forking the workers: the
# imports (scikit-learn, scipy, SQLAlchemy...) are most of a cold start, and the
# workers then share those pages of memory.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").lower() not in ("0", "false", "no")


def pre_fork(server, worker):
    """The objects the master imported live as long as the workers: frozen, a
    worker's full garbage collections never walk them. Unfrozen, each one
    walked some 300,000 of them, a 60 ms pause in the middle of answers, and
    wrote to their pages, which then stopped being shared."""
    gc.freeze()


def post_fork(server, worker):
    """A forked worker opens its own database connections, never the master's."""
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
