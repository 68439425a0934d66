"""The pages people use in a browser: draw, upload, history and the model.

Every page works from the server's own HTML; the scripts in app/static/js add
live reading and drag and drop on top. The upload page and the corrections on
the history page are plain forms too, so they work without JavaScript.
"""

import io
from datetime import datetime

import numpy as np
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from PIL import Image
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import DigitReaderError
from app.history import as_utc

bp = Blueprint("web", __name__)

ACCEPTED_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
DIGITS = range(10)
INPUT_SIDE = 8  # the model's input: 8x8 counts of ink, 0-16
INPUT_MAX = 16
INPUT_SCALE = 16  # pixels per input cell in the enlarged picture
SOURCE_NAMES = {"canvas": "Drawn", "upload": "Uploaded", "api": "API", "cli": "Command line"}


def extension(name):
    return current_app.extensions[name]


def upload_messages():
    """What the upload page says for each error code, with or without JavaScript."""
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    formats = "PNG, JPEG, GIF, WebP or BMP"
    return {
        "unsupported_media_type": f"That file type is not supported: use {formats}.",
        "invalid_image": f"That file is not an image we can read: use {formats}.",
        "payload_too_large": f"That file is too large: the limit is {limit / 2**20:g} MiB.",
        "image_too_large": "That image has too many pixels: use a smaller one.",
        "empty_image": "No digit found: the image looks blank.",
        "invalid_request": "Choose an image file first.",
        "network": "The service could not be reached. Try again.",
    }


@bp.app_template_filter("when")
def format_moment(moment):
    """A stored moment (datetime or ISO text), in UTC, as people read it."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{as_utc(moment):%d %b %Y, %H:%M} UTC"


def answer_view(prediction, prediction_id):
    """A prediction as the templates show it."""
    return {
        "digit": prediction.digit,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
        "prediction_id": prediction_id,
    }


# -- draw ---------------------------------------------------------------------


@bp.get("/")
def draw():
    return render_template("draw.html")


@bp.get("/favicon.ico")
def favicon():
    """For pages without an icon link (/docs) and browsers that ask anyway."""
    return current_app.send_static_file("favicon.svg")


# -- upload -------------------------------------------------------------------


def render_upload(answer=None, message=None, status=200):
    return render_template("upload.html", answer=answer, message=message,
                           messages=upload_messages(), accepted=ACCEPTED_IMAGE_TYPES,
                           max_bytes=current_app.config["MAX_UPLOAD_BYTES"]), status


@bp.get("/upload")
def upload():
    return render_upload()


@bp.post("/upload")
def upload_form():
    """The upload page without JavaScript: a plain form post."""
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return render_upload(message=upload_messages()["invalid_request"], status=400)
    try:
        answer = extension("reader").read(upload.read(), source="upload",
                                          filename=upload.filename)
    except DigitReaderError as error:
        message = upload_messages().get(error.code, error.message)
        return render_upload(message=message, status=error.status_code)
    return render_upload(answer=answer_view(answer.prediction, answer.prediction_id))


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(error):
    return render_upload(message=upload_messages()["payload_too_large"], status=413)


@bp.errorhandler(CSRFError)
def form_expired(error):
    return render_template("expired.html"), 400


# -- history ------------------------------------------------------------------


@bp.get("/history")
def history():
    page_size = current_app.config["HISTORY_PAGE_SIZE"]
    before = request.args.get("before", type=int)
    rows = extension("history").recent(page_size, before)
    older = rows[-1].id if len(rows) == page_size else None
    return render_template("history.html", rows=rows, before=before, older=older,
                           digits=DIGITS, source_names=SOURCE_NAMES)


@bp.post("/history/<int:prediction_id>/label")
def label(prediction_id):
    """A correction from the history page's form; back to the same page."""
    label = request.form.get("label", type=int)
    if label not in DIGITS:
        abort(400)
    if extension("history").set_label(prediction_id, label) is None:
        abort(404)
    before = request.form.get("before", type=int)
    return redirect(url_for("web.history", before=before, _anchor=f"prediction-{prediction_id}"))


@bp.get("/predictions/<int:prediction_id>/input.png")
def model_input(prediction_id):
    """What the model saw of a prediction: its 8x8 input, enlarged, ink dark."""
    row = extension("history").get(prediction_id)
    if row is None:
        abort(404)
    response = Response(input_png(row.features), mimetype="image/png")
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response


def input_png(features):
    counts = np.frombuffer(features, dtype=np.uint8).reshape(INPUT_SIDE, INPUT_SIDE)
    paper = 255 - np.round(counts.astype(float) * 255 / INPUT_MAX).astype(np.uint8)
    side = INPUT_SIDE * INPUT_SCALE
    image = Image.fromarray(paper, "L").resize((side, side), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- the model ----------------------------------------------------------------


@bp.get("/model")
def model():
    metadata = extension("recognizer").current_model().metadata
    return render_template("model.html", model=metadata,
                           total_samples=sum(metadata["samples"].values()))


@bp.get("/model/confusion.svg")
def confusion_svg():
    metadata = extension("recognizer").current_model().metadata
    svg = render_template("confusion.svg", cells=confusion_cells(metadata["confusion"]),
                          digits=DIGITS)
    return Response(svg, mimetype="image/svg+xml")


def confusion_cells(confusion):
    """Each cell of a confusion matrix (rows: true digit, columns: digit read)
    with its shade: its share of the row, blue on the diagonal and red off it,
    where even a few mistakes should show."""
    confusion = np.asarray(confusion, dtype=np.int64)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    cells = []
    for (row, column), count in np.ndenumerate(confusion):
        share = float(shares[row, column])
        if row == column:
            fill, strength = (29, 78, 216), share
        else:
            fill, strength = (220, 38, 38), min(1.0, 0.12 + share * 5) if count else 0.0
        shade = tuple(round(255 + (channel - 255) * strength) for channel in fill)
        cells.append({
            "row": row, "column": column, "count": int(count),
            "fill": "#{:02x}{:02x}{:02x}".format(*shade),
            "ink": "#ffffff" if strength > 0.55 else "#1f2937",
        })
    return cells
