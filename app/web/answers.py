"""What the API and the pages share of a request and an answer: the image a
client sent, in any of its forms, and the bodies built from what was read."""

import base64

from flask import request, url_for

from app.errors import DigitReaderError, InvalidImage, InvalidRequest, UnsupportedMediaType
from app.extensions import catch_up_with_labels, get_history, label_status
from app.history.predictions import as_utc
from app.history.tables import LEARNED, MAX_FILENAME_LENGTH
from app.imaging.decode import decode_base64_image
from app.imaging.pictures import features_png
from app.web.schemas import CLIENT_SOURCES


def read_image_upload():
    """The image bytes, the client's filename and the source from a request,
    whichever of the three accepted forms it takes: JSON with a data URI or
    base64, a multipart form with an ``image`` file, or a raw image body."""
    mimetype = request.mimetype
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object with an 'image' field.")
        image = body.get("image")
        if not isinstance(image, str) or not image:
            raise InvalidRequest("'image' must be a non-empty data URI or base64 string.")
        return (decode_base64_image(image), _filename(body.get("filename")),
                _source(body.get("source")))
    if mimetype == "multipart/form-data":
        filename = _filename(request.form.get("filename"))
        source = _source(request.form.get("source"))
        upload = request.files.get("image")
        if upload is not None:
            return upload.read(), filename or _filename(upload.filename), source
        if request.form.get("image"):
            return _form_field_image(request.form["image"]), filename, source
        raise InvalidRequest("The form has no 'image' file field.")
    if mimetype.startswith("image/") or mimetype == "application/octet-stream":
        return request.get_data(cache=False), None, "api"
    raise UnsupportedMediaType()


def _form_field_image(text):
    """An image sent as a plain form field: base64 or a data URI. A file sent
    without a filename arrives this way too (curl -F 'image=<file')."""
    try:
        return decode_base64_image(text)
    except InvalidImage:
        raise InvalidRequest("The form's 'image' field is text, not a file: send the file "
                             "as a file part (curl -F image=@digit.png), or its base64 "
                             "as the field.") from None


def _filename(value):
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest("'filename' must be a string.")
    if len(value) > MAX_FILENAME_LENGTH:
        raise InvalidRequest(f"'filename' must be at most {MAX_FILENAME_LENGTH} characters.")
    return value


def _source(value):
    if value is None or value == "":
        return "api"
    if value not in CLIENT_SOURCES:
        raise InvalidRequest(f"'source' must be one of {', '.join(CLIENT_SOURCES)}.")
    return value


NEIGHBOUR_SCALE = 4  # pixels a side per feature in a neighbour's picture: 32x32


def wants_neighbours(query_explain):
    """Whether the client asked for the neighbours that voted: ``?explain=1``
    (``query_explain``, validated with the query), or ``"explain": true`` in a
    JSON body."""
    if query_explain:
        return True
    body = request.get_json(silent=True) if request.is_json else None
    explain = body.get("explain", False) if isinstance(body, dict) else False
    if not isinstance(explain, bool):
        raise InvalidRequest("'explain' must be true or false.")
    return explain


def give_label(prediction_id, label):
    """Store a person's label from this request's client, in the status the
    learning mode gives it; when it is learned at once, this process answers
    with it from now on. The row, or None for an unknown id."""
    status = label_status()
    row = get_history().set_label(prediction_id, label, status, request.remote_addr)
    if row is not None and status == LEARNED:
        catch_up_with_labels()
    return row


def wants_text():
    """Whether the client asked for the bare digits (``Accept: text/plain``)."""
    best = request.accept_mimetypes.best_match(("application/json", "text/plain"))
    return best == "text/plain"


def answer_body(answer):
    """An Answer as the API sends it and the pages show it."""
    prediction = answer.prediction
    body = {
        "digit": prediction.digit,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
        "prediction_id": answer.prediction_id,
        "model_version": prediction.model_version,
    }
    if prediction.neighbours:
        body["neighbours"] = [neighbour_body(n) for n in prediction.neighbours]
    return body


def neighbour_body(neighbour):
    """A training sample that voted, as the API sends it: its picture is its
    8x8 features, enlarged, as a PNG data URI."""
    png = features_png(neighbour.features, scale=NEIGHBOUR_SCALE)
    return {
        "digit": neighbour.digit,
        "distance": round(neighbour.distance, 3),
        "source": neighbour.source,
        "prediction_id": neighbour.prediction_id,
        "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
    }


def batch_item(result):
    """One result of a batch: its answer, or its error."""
    if isinstance(result, DigitReaderError):
        return {"error": {"code": result.code, "message": result.message}}
    return answer_body(result)


def record(row):
    """A stored prediction as the API sends it."""
    return {
        "id": row.id,
        "created_at": as_utc(row.created_at),
        "source": row.source,
        "filename": row.filename,
        "digit": row.digit,
        "confidence": row.confidence,
        "probabilities": row.probabilities,
        "model_version": row.model_version,
        "label": row.label,
        "labelled_at": as_utc(row.labelled_at),
        "label_status": row.label_status,
        "image_url": url_for("api.prediction_image", prediction_id=row.id),
    }
