"""Configuration read from environment variables, with safe defaults.

Every path, size and limit the application uses is named here; the code that
uses them reads ``app.config``. Values are read when ``Config`` is instantiated,
so a test (or a worker) can change the environment and build a fresh one.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

MIB = 1024 * 1024
HISTORY_PAGE_SIZE = 20  # predictions a page, on /history and by default in the API
HISTORY_MAX_PAGE_SIZE = 100
LEARNING_MODES = ("on", "review", "off")


def _int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


def _float(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None


def _bool(name, default):
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "auto"):
        return default
    return raw not in ("0", "false", "no", "off")


def _choice(name, choices, default):
    raw = os.environ.get(name, "").strip().lower() or default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _optional_int(name):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    return _int(name, None)


class Config:
    """The application's settings; attributes in upper case become ``app.config``."""

    def __init__(self):
        self.STORAGE_DIR = Path(os.environ.get("STORAGE_DIR", BASE_DIR / "storage")).resolve()
        self.MODEL_FILENAME = "model.skops"
        # None: SQLite in STORAGE_DIR (see default_database_url).
        self.DATABASE_URL = os.environ.get("DATABASE_URL") or None
        self.DATABASE_CONNECT_TIMEOUT = _float("DATABASE_CONNECT_TIMEOUT", 3.0)
        # After a failure, the schema is looked at again at most this often, and
        # requests leave a network database that failed them alone this long.
        self.DATABASE_RETRY_INTERVAL = _float("DATABASE_RETRY_INTERVAL", 5.0)
        # Bring the schema to the newest migration on start (under a lock).
        self.AUTO_MIGRATE = _bool("AUTO_MIGRATE", True)
        # Write each prediction's row just after its answer leaves (1), from a
        # queue of at most WRITE_QUEUE_SIZE rows per process, or before (0).
        # Unset: after it where the write waits on the network (PostgreSQL),
        # before it on SQLite, whose write costs less than a thread's hand-over.
        self.BACKGROUND_WRITES = _bool("BACKGROUND_WRITES", None)
        self.WRITE_QUEUE_SIZE = _int("WRITE_QUEUE_SIZE", 1000)
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or None

        # A dependency that does not answer costs a request at most about this
        # long: each wait on Redis (the rate limits' counts, the model's
        # version), and on the database in a request (reserving ids, reading
        # the history, /readyz). A database that did not answer is left alone
        # for DATABASE_RETRY_INTERVAL; rate limits are then counted in each
        # process's memory until Redis answers again.
        self.REDIS_TIMEOUT = _float("REDIS_TIMEOUT", 0.5)
        self.DATABASE_TIMEOUT = _float("DATABASE_TIMEOUT", 2.0)
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True

        # Request and image limits.
        self.MAX_UPLOAD_BYTES = _int("MAX_UPLOAD_BYTES", 2 * MIB)
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_BYTES
        self.MAX_IMAGE_PIXELS = _int("MAX_IMAGE_PIXELS", 16_000_000)
        # A prediction's input is kept as a PNG of at most this many pixels a side
        # and bytes: a PNG within both as sent (a canvas drawing, in colour, with
        # its transparency: cheaper than encoding it again), anything else
        # flattened onto white, greyscale, and shrunk to fit. The draw page sends
        # drawings 280 px high, kept as sent under the 512 px default.
        self.STORED_IMAGE_MAX_SIDE = _int("STORED_IMAGE_MAX_SIDE", 512)
        self.STORED_IMAGE_MAX_BYTES = _int("STORED_IMAGE_MAX_BYTES", 256 * 1024)
        self.MAX_BATCH_IMAGES = _int("MAX_BATCH_IMAGES", 64)
        # What one request may cost, so that none pins a worker: a picture's
        # longest side (a decoder holds whole rows), a JPEG's scans (each a pass
        # over the picture), the digits of a number read, and the pixels of all
        # the images of a batch (past them, an image's result is its error).
        self.MAX_IMAGE_SIDE = _int("MAX_IMAGE_SIDE", 16_384)
        self.MAX_JPEG_SCANS = _int("MAX_JPEG_SCANS", 100)
        self.MAX_NUMBER_DIGITS = _int("MAX_NUMBER_DIGITS", 32)
        self.MAX_BATCH_PIXELS = _int("MAX_BATCH_PIXELS", 16_000_000)
        self.HISTORY_PAGE_SIZE = HISTORY_PAGE_SIZE

        # The classifier. None means "choose k (and weighting) by cross-validation".
        self.KNN_NEIGHBORS = _optional_int("KNN_NEIGHBORS")
        self.CV_FOLDS = _int("CV_FOLDS", 10)
        # With no model yet, answer at once from a provisional model (the bundled
        # digits alone) while the full one trains in the background.
        self.BACKGROUND_TRAINING = _bool("BACKGROUND_TRAINING", True)
        # How often a worker looks for a newer model (file stamp, or Redis key).
        self.MODEL_CHECK_INTERVAL = _float("MODEL_CHECK_INTERVAL", 1.0)

        # Learning from the labels people give (corrections and confirmations):
        # "on", each label joins every worker's model within a second; "review",
        # labels wait for an operator (manage.py labels accept); "off", labels
        # are kept and the model never learns from them. See the README's risks.
        self.LEARNING = _choice("LEARNING", LEARNING_MODES, "on")
        # Seconds between two looks at the labels, in each worker.
        self.LEARNING_INTERVAL = _float("LEARNING_INTERVAL", 0.5)
        # The votes one label casts, against one training sample's (see
        # bench/learning_weights.py for the measurement that chose it).
        self.LABEL_WEIGHT = _float("LABEL_WEIGHT", 2.0)
        # Each label sets aside, from the vote, the generated variants of other
        # digits among its this many nearest training samples (0: none; the
        # same measurement chose it).
        self.LABEL_SETS_ASIDE = _int("LABEL_SETS_ASIDE", 10)
        # The most labels learned from, the newest kept: each costs every
        # answer a little (10,000 about doubles the vote's share of a request).
        self.MAX_LEARNED_LABELS = _int("MAX_LEARNED_LABELS", 20_000)

        # Rate limits per client address on the API (Flask-Limiter's syntax);
        # the draw page reads live while drawing, a few requests a second.
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        self.API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "20/second;600/minute")
        # Labels (corrections and confirmations) per client, on the API and the
        # history page together, besides the limit above.
        self.LABEL_RATE_LIMIT = os.environ.get("LABEL_RATE_LIMIT", "30/minute;300/hour")
        # Redis when REDIS_URL is set, memory otherwise (see create_app).
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or None
        self.RATELIMIT_HEADERS_ENABLED = True
        # No limit for clients on this machine (python manage.py runserver);
        # gunicorn.conf.py sets 0, so that production limits every client.
        self.RATELIMIT_EXEMPT_LOOPBACK = _bool("RATELIMIT_EXEMPT_LOOPBACK", True)
        self.RATELIMIT_KEY_PREFIX = "digit-reader"
        # Clients are seen through this many proxies (X-Forwarded-For hops trusted).
        self.PROXY_COUNT = _int("PROXY_COUNT", 0)

        # The OpenAPI document.
        self.OPENAPI_VERSION = "3.0.3"
        self.VALIDATION_ERROR_STATUS_CODE = 400
        self.SYNC_LOCAL_SPEC = False
        self.INFO = {
            "description": "Reads handwritten digits from drawings and photos.",
        }

    def as_mapping(self):
        return {key: getattr(self, key) for key in vars(self) if key.isupper()}


def default_database_url(storage_dir):
    return f"sqlite:///{Path(storage_dir) / 'digits.db'}"
