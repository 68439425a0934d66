"""Digit Reader: a web service that reads handwritten digits.

``create_app`` is the table of contents: configuration, storage, extensions,
blueprints, error handlers, the OpenAPI document, commands, headers.
"""

import logging
import os
from pathlib import Path

# One BLAS/OpenMP thread per process, set before numpy loads them: several
# workers on a few cores would otherwise oversubscribe them, and every answer
# would wait on the others' threads. (limit_thread_pools catches libraries
# loaded earlier.)
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
    configure(app, test_config)
    configure_logger(app)
    prepare_storage(app)
    register_extensions(app)
    limit_thread_pools()
    register_body_limits(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_openapi(app)
    register_commands(app)
    register_security_headers(app)
    return app


def configure(app, test_config):
    """Settings from settings.Config and ``test_config``, with the derived ones."""
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


def configure_logger(app):
    """Log lines with time, level and logger, unless the host set up logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def limit_thread_pools():
    # After the extensions, so that numpy's, scipy's and scikit-learn's pools
    # are loaded and limited too.
    """One thread for every numerical library's pool in this process."""
    threadpool_limits(limits=1)


def prepare_storage(app):
    """STORAGE_DIR, and the secret key kept in it when none is configured. A
    storage that refuses is logged, and the service starts without it."""
    from app.web.security import load_or_create_secret_key

    try:
        app.config["STORAGE_DIR"].mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # Answers go on: from the provisional model, without the history.
        app.logger.error("Cannot create STORAGE_DIR %s (%s): no model, history or key "
                         "can be kept there", app.config["STORAGE_DIR"], error)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(app.config["STORAGE_DIR"])


def register_extensions(app):
    from app import extensions

    extensions.init_app(app)


def register_body_limits(app):
    from app.web.bodies import register_body_limits

    register_body_limits(app)


def register_blueprints(app):
    from app.extensions import csrf
    from app.web import api, docs, health, pages

    for module in (api, health, pages, docs):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)


def register_errorhandlers(app):
    from app.errors import register_error_handlers

    register_error_handlers(app)


def register_openapi(app):
    from app.web.docs import describe_api

    describe_api(app)


def register_security_headers(app):
    from app.web.security import add_security_headers

    app.after_request(add_security_headers)


def register_commands(app):
    from app.cli import register_commands

    register_commands(app)
