"""Request bodies held within bounds before any view or validator reads them:
a body sent without a length is read to at most MAX_UPLOAD_BYTES, and a JSON
body is parsed once, its nesting and numbers bounded."""

import io

from flask import current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from app.errors import InvalidRequest


def register_body_limits(app):
    """Check every request's body before the views and validators see it."""
    app.before_request(bound_unsized_body)
    app.before_request(parse_json_body)


def bound_unsized_body():
    """Read a body sent without Content-Length (chunked) to at most
    MAX_CONTENT_LENGTH bytes, and hand it on as a body of known length.

    Werkzeug stops reading such a body at the limit without a word, and a
    view would read the first 2 MiB of a larger picture as if it were whole.
    """
    environ = request.environ
    if request.content_length is not None or "wsgi.input_terminated" not in environ:
        return
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    data = environ["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    request.__dict__.pop("stream", None)  # werkzeug caches the stream it wrapped


def parse_json_body():
    """Parse a JSON body once (Flask keeps the result for the view), and refuse
    one nested too deeply or holding integers too long for Python to read:
    either would otherwise escape the validators as a server error."""
    if not request.is_json or not request.content_length:
        return
    try:
        request.get_json()
    except RecursionError:
        raise InvalidRequest("The JSON body is nested too deeply.") from None
    except BadRequest:
        raise InvalidRequest("The body is not valid JSON (or holds a number too long "
                             "to read).") from None
