"""The secret key every worker shares, and the headers every answer carries."""

import logging
import os
import secrets
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_KEY_FILENAME = "secret_key"

def load_or_create_secret_key(storage_dir):
    """The key in ``storage_dir``, written there once (mode 0600) when absent, so
    that every worker on this machine signs with the same key; a key of this
    process's own when the storage refuses."""
    path = Path(storage_dir) / SECRET_KEY_FILENAME
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    except OSError as error:
        return _key_of_this_process(path, error)
    log.warning("SECRET_KEY is not set: using a key generated into %s. Set SECRET_KEY "
                "in production, the same on every machine.", path)
    try:
        return _create_key(path)
    except OSError as error:
        return _key_of_this_process(path, error)


def _key_of_this_process(path, error):
    """A key for this process alone, the storage having refused ``path``: logged."""
    log.error("SECRET_KEY is not set and no key can be kept in %s (%s): signing with a key "
              "of this process's own. Sessions and the pages' CSRF tokens will not outlive "
              "it, nor hold across machines, nor across workers unless gunicorn preloads "
              "the application. Set SECRET_KEY.", path, error)
    return secrets.token_hex(32)


def _create_key(path):
    """A new key written to ``path``, or the one another worker wrote first."""
    key = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under another name, then linked into place: a worker racing
    # this one finds either no file or the complete key, and the first link wins.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key)
        os.link(temporary, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        os.unlink(temporary)
    return key


# Scripts and styles only from this origin, for every page: no inline script
# and no inline style (Swagger UI on /docs sets its styles from script, which
# the policy allows). Images also as data: and blob: URLs (the upload preview,
# Swagger UI's icons).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; "
                           "form-action 'self'; frame-ancestors 'none'")
# Headers that keep every page and answer from being framed, sniffed or made to
# run code from elsewhere.
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "same-origin"}


def add_security_headers(response):
    """SECURITY_HEADERS on every answer that has not set its own."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
