"""The pages people use in a browser: draw, upload, history and the model.
Each works from the server's HTML alone (forms included); app/static/js adds
live reading and drag and drop on top."""

import base64
from datetime import datetime

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
from werkzeug.exceptions import RequestEntityTooLarge

from app.errors import DigitReaderError
from app.extensions import get_history, get_reader, label_limit
from app.history.predictions import as_utc
from app.imaging.decode import (
    FORMAT_NAMES,
    IMAGE_TYPES,
    JPEG_FORMATS,
    MEDIA_TYPES,
    open_header,
)
from app.imaging.pictures import features_png
from app.reports import confusion_cells
from app.web.answers import answer_body, give_label
from app.web.reports import accuracy_plot, model_report

bp = Blueprint("web", __name__)

DIGITS = range(10)
SOURCE_NAMES = {"canvas": "Drawn", "upload": "Uploaded", "api": "API", "cli": "Command line"}
# What the history says after a label, by its status: a learned one, nothing.
STATUS_NOTES = {"pending": " · awaiting review", "rejected": " · not learned (rejected)",
                "reverted": " · no longer learned (reverted)"}
# What the upload page reads: one digit, or a number digit by digit.
UPLOAD_MODES = ("digit", "number")
# A number read without JavaScript is shown over its picture, sent back in the
# page as a data URI, when the file is at most this large.
INLINE_PICTURE_BYTES = 256 * 1024
# The margin between a digit's ink and the box the upload page draws around
# it, as a share of the picture's longer side.
BOX_MARGIN = 0.015


def upload_messages(mode="digit"):
    """What the upload page says for each error code in ``mode``, with or
    without JavaScript; for a code not listed, the error's own message."""
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    formats = FORMAT_NAMES
    messages = {
        "unsupported_media_type": f"That file type is not supported: use {formats}.",
        "invalid_image": f"That file is not an image we can read: use {formats}.",
        "payload_too_large": f"That file is too large: the limit is {limit / 2**20:g} MiB.",
        "image_too_large": "That image has too many pixels: use a smaller one.",
        "empty_image": "No digit found: the image looks blank.",
        "invalid_request": "Choose an image file first.",
        "network": "The service could not be reached. Try again.",
    }
    if mode == "number":
        # A number refused as an invalid image may have too many marks: its own message says so.
        del messages["invalid_image"]
        messages["empty_image"] = "No number found: the image looks blank."
    return messages


@bp.app_template_filter("when")
def format_moment(moment):
    """A stored moment (datetime or ISO text), in UTC, as people read it."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{as_utc(moment):%d %b %Y, %H:%M} UTC"


# -- draw ---------------------------------------------------------------------


@bp.get("/")
def draw():
    """The drawing page."""
    return render_template("draw.html")


@bp.get("/favicon.ico")
def favicon():
    """For pages without an icon link (/docs) and browsers that ask anyway."""
    return current_app.send_static_file("favicon.svg")


# -- upload -------------------------------------------------------------------


def render_upload(mode="digit", answer=None, number=None, picture=None, message=None,
                  status=200):
    """The upload page in ``mode``, with a digit's answer, a number read (and
    its picture, if small enough to send back), or a message."""
    return render_template("upload.html", mode=mode, answer=answer, number=number,
                           picture=picture, message=message, accepted=MEDIA_TYPES,
                           messages={each: upload_messages(each) for each in UPLOAD_MODES},
                           box_margin=BOX_MARGIN,
                           max_bytes=current_app.config["MAX_UPLOAD_BYTES"]), status


@bp.get("/upload")
def upload():
    """The upload page."""
    return render_upload()


@bp.post("/upload")
def upload_form():
    """The upload page without JavaScript: a plain form post, read in the mode
    it names."""
    mode = request.form.get("mode", "digit")
    if mode not in UPLOAD_MODES:
        return render_upload(message="Choose Digit or Number.", status=400)
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return render_upload(mode, message=upload_messages(mode)["invalid_request"], status=400)
    data = upload.read()
    try:
        if mode == "number":
            number = get_reader().read_number(data)
            return render_upload(mode, number=number, picture=inline_picture(data, number))
        answer = get_reader().read(data, source="upload", filename=upload.filename,
                                   explain=True)
    except DigitReaderError as error:
        message = upload_messages(mode).get(error.code, error.message)
        return render_upload(mode, message=message, status=error.status_code)
    return render_upload(mode, answer=answer_body(answer))


def inline_picture(data, number):
    """An uploaded picture to show in the page with the ``number`` read from
    it: a data URI, and the size of the picture read, whose pixels the boxes
    are in. None for a file over INLINE_PICTURE_BYTES."""
    if len(data) > INLINE_PICTURE_BYTES:
        return None
    try:
        header = open_header(data, current_app.config["MAX_IMAGE_PIXELS"])
    except DigitReaderError:  # within the reader's limits, not within the defaults here
        return None
    image_format = "JPEG" if header.format in JPEG_FORMATS else header.format
    encoded = base64.b64encode(data).decode("ascii")
    width, height = number.image_size
    return {"src": f"data:{IMAGE_TYPES[image_format]};base64,{encoded}",
            "width": width, "height": height}


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(error):
    """A file over MAX_UPLOAD_BYTES: the upload page says so."""
    return render_upload(message=upload_messages()["payload_too_large"], status=413)


@bp.errorhandler(CSRFError)
def form_expired(error):
    """A form whose CSRF token expired: a page that says to reload."""
    return render_template("expired.html"), 400


# -- history ------------------------------------------------------------------


@bp.get("/history")
def history():
    """Recent predictions, newest first, a page at a time."""
    return render_history(request.args.get("before", type=int))


def render_history(before, message=None, status=200):
    """The history page from id ``before`` on, with a message when a form failed."""
    page_size = current_app.config["HISTORY_PAGE_SIZE"]
    rows = get_history().recent(page_size, before)
    older = rows[-1].id if len(rows) == page_size else None
    return render_template("history.html", rows=rows, before=before, older=older,
                           digits=DIGITS, source_names=SOURCE_NAMES, message=message,
                           status_notes=STATUS_NOTES,
                           learning=current_app.config["LEARNING"]), status


@bp.post("/history/<int:prediction_id>/label")
@label_limit
def label(prediction_id):
    """A correction from the history page's form; back to the same page."""
    label = request.form.get("label", type=int)
    before = request.form.get("before", type=int)
    if label not in DIGITS:
        return render_history(before, "Choose a digit from 0 to 9.", 400)
    if give_label(prediction_id, label) is None:
        return render_history(before, f"There is no prediction {prediction_id}.", 404)
    return redirect(url_for("web.history", before=before, _anchor=f"prediction-{prediction_id}"))


@bp.get("/predictions/<int:prediction_id>/input.png")
def model_input(prediction_id):
    """What the model saw of a prediction: its 8x8 input, enlarged, ink dark."""
    row = get_history().get(prediction_id)
    if row is None:
        abort(404)
    response = Response(features_png(row.features), mimetype="image/png")
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response


# -- the model ----------------------------------------------------------------


@bp.get("/model")
def model():
    """What the model was trained on, what it learned, and how well it reads."""
    report = model_report()
    in_use = report["in_use"]
    return render_template("model.html", model=report, total_samples=report["training_samples"],
                           plot=accuracy_plot(in_use["history"]) if in_use else None)


@bp.get("/model/confusion.svg")
def confusion_svg():
    """The model's cross-validated confusion matrix, as SVG."""
    metadata = get_reader().model()
    svg = render_template("confusion.svg", cells=confusion_cells(metadata["confusion"]),
                          digits=DIGITS)
    return Response(svg, mimetype="image/svg+xml")
