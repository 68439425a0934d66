"""The objects the factory builds and binds to the application: CSRF, the rate
limiter, and the recognizer, history and reader of this process."""

import atexit
import ipaddress
from urllib.parse import urlparse

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.history.database import Database
from app.history.learning import LabelFollower
from app.history.predictions import PredictionHistory
from app.history.tables import LEARNED, PENDING
from app.imaging.chain import ImageChain
from app.recognition.reader import DigitReader
from app.recognition.recognizer import LearnedSamples, Recognizer
from app.recognition.store import ClassifierRepository, SharedModelStore

# The pages' forms carry a CSRF token; the JSON API is for programs and takes
# none (its JSON writes need a CORS preflight that no other site gets).
csrf = CSRFProtect()

# Per-client limits, counted in Redis when REDIS_URL is set (so that they hold
# across workers and machines), in each process's memory otherwise, and while
# Redis does not answer (settings: RATELIMIT_IN_MEMORY_FALLBACK_ENABLED).
limiter = Limiter(key_func=get_remote_address)


# Labels teach the model: each client's are counted in a scope of their own,
# the same for the API and the history page's form, besides the API's limit.
label_limit = limiter.shared_limit(lambda: current_app.config["LABEL_RATE_LIMIT"],
                                   scope="labels", override_defaults=False)


@limiter.request_filter
def exempt_this_machine():
    """No limit for clients on this machine where RATELIMIT_EXEMPT_LOOPBACK says
    so (the embedded default: a script reading a folder runs at full speed);
    gunicorn.conf.py turns it off, since behind a proxy every client is local."""
    if not current_app.config["RATELIMIT_EXEMPT_LOOPBACK"]:
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def retry_after_at_least_a_second(response):
    """A limit counted per second can be due again in under one: Retry-After 0
    would have a client retry at once. Registered before the limiter's own
    hook, so that it runs after it."""
    if response.status_code == 429 and response.headers.get("Retry-After", "1") in ("0", "-1"):
        response.headers["Retry-After"] = "1"
    return response


def init_app(app):
    """Build this process's recognizer, database, history and reader from the
    configuration, and bind the extensions."""
    config = app.config
    redis_client = None
    if config["REDIS_URL"]:
        # Short timeouts: a Redis that does not answer must not hold up answers.
        redis_client = Redis.from_url(config["REDIS_URL"], **redis_options(config))
    recognizer = Recognizer(
        ClassifierRepository(config["STORAGE_DIR"] / config["MODEL_FILENAME"]),
        ImageChain(max_pixels=config["MAX_IMAGE_PIXELS"]),
        n_neighbors=config["KNN_NEIGHBORS"],
        n_folds=config["CV_FOLDS"],
        check_interval=config["MODEL_CHECK_INTERVAL"],
        shared=SharedModelStore(redis_client) if redis_client else None,
        background_training=config["BACKGROUND_TRAINING"],
        trainer=train_bundled,
        label_weight=config["LABEL_WEIGHT"], set_aside=config["LABEL_SETS_ASIDE"],
    )
    database = Database(config["DATABASE_URL"], connect_timeout=config["DATABASE_CONNECT_TIMEOUT"],
                        retry_interval=config["DATABASE_RETRY_INTERVAL"],
                        lock_dir=config["STORAGE_DIR"], auto_migrate=config["AUTO_MIGRATE"],
                        timeout=config["DATABASE_TIMEOUT"])
    database.ensure_schema()
    history = PredictionHistory(database, background_writes=config["BACKGROUND_WRITES"],
                                write_queue_size=config["WRITE_QUEUE_SIZE"],
                                journal_dir=config["STORAGE_DIR"] / "journal")
    # No row is lost on a clean stop: what the writer still holds is written
    # when the process exits (gunicorn's worker_exit hook does it first).
    atexit.register(history.close)
    atexit.register(recognizer.close)
    follower = None
    if config["LEARNING"] != "off":
        follower = LabelFollower(history, learner(recognizer, config["MAX_LEARNED_LABELS"]),
                                 config["LEARNING_INTERVAL"])
        app.before_request(follower.ensure_running)
    app.extensions.update(
        redis=redis_client, recognizer=recognizer, database=database, history=history,
        follower=follower,
        reader=DigitReader(recognizer, history, config["STORED_IMAGE_MAX_SIDE"],
                           config["STORED_IMAGE_MAX_BYTES"],
                           max_image_side=config["MAX_IMAGE_SIDE"],
                           max_jpeg_scans=config["MAX_JPEG_SCANS"],
                           max_number_digits=config["MAX_NUMBER_DIGITS"],
                           max_batch_pixels=config["MAX_BATCH_PIXELS"]),
    )
    csrf.init_app(app)
    app.after_request(retry_after_at_least_a_second)
    if urlparse(config["RATELIMIT_STORAGE_URI"]).scheme.startswith(("redis", "valkey")):
        config.setdefault("RATELIMIT_STORAGE_OPTIONS", redis_options(config))
    limiter.init_app(app)


def learner(recognizer, most):
    """What the label follower hands the learned labels to: the recognizer,
    given the ``most`` newest."""

    def learn(ids, features, labels):
        newest = slice(max(len(ids) - most, 0), None)  # ids[-0:] would be all of them
        recognizer.learn(LearnedSamples(ids[newest], features[newest], labels[newest]))

    return learn


def label_status():
    """The status a label given now starts in: learned at once, or pending an
    operator's review (also with learning off, so that turning it on later
    asks the operator first)."""
    return LEARNED if current_app.config["LEARNING"] == "on" else PENDING


def catch_up_with_labels():
    """Learn the labels changed since the last look, now: after a label is
    given, so that this process answers with it at once, and in the commands
    that read. Nothing when learning is off."""
    follower = current_app.extensions["follower"]
    if follower is not None:
        follower.catch_up()


def redis_options(config):
    """The options of every Redis client: REDIS_TIMEOUT to connect and to read,
    and one attempt (redis-py's retries would multiply the wait)."""
    return {"socket_timeout": config["REDIS_TIMEOUT"],
            "socket_connect_timeout": config["REDIS_TIMEOUT"], "retry": Retry(NoBackoff(), 0)}


def train_bundled(chain, n_neighbors, n_folds):
    """Train the default model in this process: for commands and tests, which
    run with BACKGROUND_TRAINING=0 (scikit-learn is imported here, on first use)."""
    from app.training.model import train_bundled

    return train_bundled(chain, n_neighbors, n_folds)


def get_reader():
    """This process's DigitReader: every request that reads an image goes through it."""
    return current_app.extensions["reader"]


def get_history():
    """This process's PredictionHistory."""
    return current_app.extensions["history"]


def get_recognizer():
    """This process's Recognizer, for the commands that train and evaluate."""
    return current_app.extensions["recognizer"]


def get_database():
    """This process's Database."""
    return current_app.extensions["database"]


def get_redis():
    """This process's Redis client, or None without REDIS_URL."""
    return current_app.extensions["redis"]
