"""The one family of typed errors a client can cause, and the handler that
turns them and Flask's own HTTP errors into ``{"error": {"code", "message"}}``."""

from apiflask import HTTPError
from flask import current_app, render_template, request
from werkzeug.exceptions import HTTPException


class DigitReaderError(Exception):
    """Base of every error a client can cause; ``code`` and ``status_code`` say how
    it reaches the client."""

    code, status_code = "bad_request", 400
    message = "The request could not be understood."

    def __init__(self, message=None):
        super().__init__(message or self.message)
        self.message = message or self.message


class InvalidImage(DigitReaderError):
    code, message = "invalid_image", "The image could not be decoded."


class ImageTooLarge(DigitReaderError):
    code, message = "image_too_large", "The image has too many pixels."


class EmptyImage(DigitReaderError):
    code, status_code = "empty_image", 422
    message = "The image is blank: there is no digit to read."


class InvalidRequest(DigitReaderError):
    code, message = "invalid_request", "The request body is not of the expected shape."


class UnsupportedMediaType(DigitReaderError):
    code, status_code = "unsupported_media_type", 415
    message = "Send JSON, a multipart form with an 'image' file, or a raw image body."


class PredictionNotFound(DigitReaderError):
    code, status_code = "not_found", 404
    message = "There is no prediction with that id."


class DatabaseUnavailable(DigitReaderError):
    code, status_code = "database_unavailable", 503
    message = "The database is not available; try again shortly."


# Codes for Flask's and Werkzeug's own HTTP errors, by status.
HTTP_ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "not_ready",
}


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


def error_response(code, message, status, headers=None):
    """The error as the JSON error format, or as a page with the message for a
    request from the pages (the ``web`` blueprint): people get a page."""
    if request.blueprint == "web":
        page = render_template("error.html", title=PAGE_TITLES.get(status, "Something went wrong"),
                               message=message)
        return page, status, headers
    return error_body(code, message), status, headers


PAGE_TITLES = {400: "That did not work", 404: "Not found", 413: "Too large",
               503: "Not available just now"}


def register_error_handlers(app):
    """Route every error, ours and the framework's, through one JSON format."""

    @app.errorhandler(DigitReaderError)
    def handle_digit_reader_error(error):
        return error_response(error.code, error.message, error.status_code)

    @app.error_processor
    def handle_http_error(error: HTTPError):
        # APIFlask hands over validation errors (as 400, see settings) and every
        # werkzeug HTTPException here, already wrapped in an HTTPError.
        code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
        message = _payload_too_large_message() if error.status_code == 413 else error.message
        if error.detail:
            code = "invalid_request" if error.status_code == 400 else code
            message = f"{error.message}: {_describe_detail(error.detail)}"
        return error_response(code, message, error.status_code, error.headers)

    @app.errorhandler(Exception)
    def handle_unexpected_error(error):
        if isinstance(error, HTTPException):  # e.g. raised inside a view unwrapped
            return handle_http_error(HTTPError(error.code or 500, message=error.name))
        app.logger.exception("Unhandled error while serving a request")
        return error_response("internal_error", "Something went wrong on our side.", 500)


def _payload_too_large_message():
    """Which limit a 413 met: the body's size, or (a body within it) the form's parts."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None and length <= limit:
        return (f"The form has more parts than the {request.max_form_parts:,} accepted, "
                "or a field larger than accepted.")
    return f"The request body is larger than the {limit:,} bytes accepted."


def _describe_detail(detail):
    """Flatten webargs' nested validation detail into one readable sentence."""
    parts = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, str(key)])
        elif isinstance(node, list) and all(isinstance(item, str) for item in node):
            parts.append(f"{'.'.join(path[1:]) or path[0]}: {' '.join(node)}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*path, str(index)])
        else:
            parts.append(f"{'.'.join(path)}: {node}")

    walk(detail, [])
    return "; ".join(parts) or "invalid input"
