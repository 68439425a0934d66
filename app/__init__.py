"""Digit Reader: a web service that reads handwritten digits.

``create_app`` reads as the table of contents of the application.
"""

import atexit
import logging
import os
from pathlib import Path

# One BLAS/OpenMP thread per process, set before numpy loads them: several
# workers on a few cores would otherwise oversubscribe them, and a 6 ms answer
# becomes a 200 ms one. (limit_thread_pools catches libraries loaded earlier.)
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from apiflask import APIFlask
from threadpoolctl import threadpool_limits
from werkzeug.middleware.proxy_fix import ProxyFix

from settings import Config, default_database_url

__version__ = "0.1.0"


def create_app(test_config=None):
    """The application factory: ``flask --app app``, gunicorn ``'app:create_app()'``."""
    app = APIFlask(__name__, title="Digit Reader", version=__version__,
                   spec_path="/openapi.json", docs_path=None)
    app.config.from_mapping(Config().as_mapping())
    if test_config:
        app.config.from_mapping(test_config)
    app.config["STORAGE_DIR"] = Path(app.config["STORAGE_DIR"]).resolve()
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = default_database_url(app.config["STORAGE_DIR"])
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"
    # Never the debugger outside 'manage.py runserver --debug', whatever FLASK_DEBUG
    # says: under gunicorn it would hand a shell to anyone who can cause an error.
    app.debug = False
    if app.config["PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"],
                                x_proto=app.config["PROXY_COUNT"])

    configure_logger(app)
    prepare_storage(app)
    register_extensions(app)
    limit_thread_pools()
    register_blueprints(app)
    register_errorhandlers(app)
    register_openapi(app)
    register_commands(app)
    register_security_headers(app)
    return app


def configure_logger(app):
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def limit_thread_pools():
    # After the extensions, so that numpy's, scipy's and scikit-learn's pools
    # are loaded and limited too.
    threadpool_limits(limits=1)


def prepare_storage(app):
    from app.security import load_or_create_secret_key

    app.config["STORAGE_DIR"].mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(app.config["STORAGE_DIR"])


def register_extensions(app):
    from redis import Redis

    from app import api
    from app.database import Database
    from app.history import PredictionHistory
    from app.imaging import ImageChain
    from app.repository import ClassifierRepository, SharedModelStore
    from app.security import csrf, limiter
    from app.service import DigitReader, Recognizer

    repository = ClassifierRepository(app.config["STORAGE_DIR"] / app.config["MODEL_FILENAME"])
    redis_client = None
    if app.config["REDIS_URL"]:
        # Short timeouts: a Redis that does not answer must not hold up answers.
        redis_client = Redis.from_url(app.config["REDIS_URL"], socket_timeout=0.5,
                                      socket_connect_timeout=0.5)
    recognizer = Recognizer(
        repository,
        ImageChain(max_pixels=app.config["MAX_IMAGE_PIXELS"]),
        n_neighbors=app.config["KNN_NEIGHBORS"],
        n_folds=app.config["CV_FOLDS"],
        check_interval=app.config["MODEL_CHECK_INTERVAL"],
        shared=SharedModelStore(redis_client) if redis_client else None,
        background_training=app.config["BACKGROUND_TRAINING"],
    )
    database = Database(app.config["DATABASE_URL"],
                        connect_timeout=app.config["DATABASE_CONNECT_TIMEOUT"],
                        retry_interval=app.config["DATABASE_RETRY_INTERVAL"],
                        lock_dir=app.config["STORAGE_DIR"],
                        auto_migrate=app.config["AUTO_MIGRATE"])
    database.ensure_schema()
    history = PredictionHistory(database, background_writes=app.config["BACKGROUND_WRITES"],
                                write_queue_size=app.config["WRITE_QUEUE_SIZE"],
                                journal_dir=app.config["STORAGE_DIR"] / "journal")
    # No row is lost on a clean stop: what the writer still holds is written
    # when the process exits (gunicorn's worker_exit hook does it first).
    atexit.register(history.close)
    atexit.register(recognizer.close)
    app.extensions.update(
        redis=redis_client,
        recognizer=recognizer,
        database=database,
        history=history,
        reader=DigitReader(recognizer, history, app.config["STORED_IMAGE_MAX_SIDE"],
                           app.config["STORED_IMAGE_MAX_BYTES"]),
    )
    # The pages' forms carry a CSRF token; the JSON API is for programs and
    # takes none (its JSON writes need a CORS preflight that no other site gets).
    csrf.init_app(app)
    csrf.exempt(api.bp)
    limiter.init_app(app)


def register_blueprints(app):
    from app import api, docs, health, web

    for module in (api, health, web, docs):
        app.register_blueprint(module.bp)


def register_errorhandlers(app):
    from app.errors import register_error_handlers

    register_error_handlers(app)


def register_openapi(app):
    from app.schemas import ERROR_SCHEMA, image_request_body

    app.config["HTTP_ERROR_SCHEMA"] = ERROR_SCHEMA
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SCHEMA

    rate_limited = {
        "description": "Too many requests from this client: wait as Retry-After says",
        "headers": {"Retry-After": {"schema": {"type": "integer"},
                                    "description": "Seconds until a request is accepted"}},
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }

    @app.spec_processor
    def describe_image_bodies_and_limits(spec):
        for path, operations in spec["paths"].items():
            for operation in operations.values():
                if not isinstance(operation, dict):
                    continue
                if path.startswith("/api/"):
                    operation["responses"]["429"] = rate_limited
                if operation.pop("x-image-body", False):
                    operation["requestBody"] = image_request_body()
                    answer = operation["responses"]["200"]["content"]
                    answer["text/plain"] = {"schema": {"type": "string", "pattern": "^[0-9]+\n$"}}
        return spec


def register_security_headers(app):
    from app.security import add_security_headers

    app.after_request(add_security_headers)


def register_commands(app):
    from app.cli import register_commands as register

    register(app)
