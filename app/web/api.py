"""The JSON API under /api: read digits and numbers, browse and label the
history, describe the model."""

from apiflask import APIBlueprint
from flask import Response, current_app, jsonify

from app.errors import DigitReaderError, InvalidRequest, PredictionNotFound
from app.extensions import get_history, get_reader, label_limit, limiter
from app.imaging.decode import decode_base64_image
from app.web.answers import (
    answer_body,
    batch_item,
    give_label,
    read_image_upload,
    record,
    wants_neighbours,
    wants_text,
)
from app.web.reports import model_report
from app.web.schemas import (
    BatchIn,
    BatchOut,
    HistoryQuery,
    LabelIn,
    ModelOut,
    NumberOut,
    PredictionOut,
    PredictionPage,
    PredictionRecord,
    PredictQuery,
)

bp = APIBlueprint("api", __name__, url_prefix="/api", tag="Digits")
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"])(bp)

IMAGE_ERRORS = {
    400: "Malformed request or undecodable image",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "No digit found in the image",
}


# -- reading ------------------------------------------------------------------


@bp.post("/predict")
@bp.input(PredictQuery, location="query")
@bp.output(PredictionOut, description="The digit read, with its probabilities")
@bp.doc(responses=IMAGE_ERRORS, extensions={"x-image-body": True})
def predict(query_data):
    """Read one digit

    Send the image as JSON (`{"image": "<data URI or base64>"}`), as a multipart
    form with an `image` file, or as the raw body with an `image/*` type. With
    `Accept: text/plain` the answer is only the digit. The prediction is
    stored; `prediction_id` is null when it could not be. With `?explain=1`
    (or `"explain": true` in JSON) the answer also holds the k training
    samples that voted, nearest first: their digit, distance, source and
    picture. A label a person gave, once learned, is one of them when the
    same drawing is read again.
    """
    data, filename, source = read_image_upload()
    explain = wants_neighbours(query_data["explain"])
    answer = get_reader().read(data, source=source, filename=filename, explain=explain)
    prediction = answer.prediction
    if wants_text():
        return Response(f"{prediction.digit}\n", mimetype="text/plain")
    # Built here rather than dumped through PredictionOut: the schema documents
    # the body (and the API tests check the body against it), but running it on
    # every answer would cost more than the vote.
    return jsonify(answer_body(answer))


@bp.post("/predict/batch")
@bp.input(BatchIn, location="json")
@bp.output(BatchOut, description="One result per image: its answer, or its error")
@bp.doc(responses={400: "Malformed request, or more images than allowed",
                   413: "Request body too large"})
def predict_batch(json_data):
    """Read many digits

    Up to `MAX_BATCH_IMAGES` images (64 by default) read in one vote and stored
    in one transaction. A bad image does not fail the batch: its result is
    `{"error": {"code", "message"}}`.
    """
    images = json_data["images"]
    limit = current_app.config["MAX_BATCH_IMAGES"]
    if len(images) > limit:
        raise InvalidRequest(f"At most {limit} images in one batch; this one has {len(images)}.")
    datas = []
    for text in images:
        try:
            datas.append(decode_base64_image(text))
        except DigitReaderError as error:
            datas.append(error)
    results = get_reader().read_many(datas, source="api")
    return jsonify({"results": [batch_item(result) for result in results]})


@bp.post("/read")
@bp.output(NumberOut, description="The number read, digit by digit")
@bp.doc(responses=IMAGE_ERRORS, extensions={"x-image-body": True})
def read():
    """Read a whole number

    The image is split into its digits, left to right, by reading the ways
    of splitting it (a digit drawn in two strokes stays one digit; touching
    digits are cut apart; a wide digit is not) and keeping the one read most
    confidently. Points, commas and minus signs are no digits: they are left
    out of the number and listed as `marks`. A photo's light is evened out
    and the lines of ruled or squared paper taken away.
    Same bodies as `/api/predict`; with `Accept: text/plain` the answer is only
    the number.
    """
    data, _, _ = read_image_upload()
    reading = get_reader().read_number(data)
    if wants_text():
        return Response(f"{reading.number}\n", mimetype="text/plain")
    return {
        "number": reading.number,
        "digits": [{"digit": d.prediction.digit, "confidence": d.prediction.confidence,
                    "box": list(d.box)} for d in reading.digits],
        "marks": [{"kind": mark.kind, "box": list(mark.box)} for mark in reading.marks],
        "image_size": list(reading.image_size),
        "model_version": reading.model_version,
    }


# -- history ------------------------------------------------------------------


def found(row):
    """``row``, or PredictionNotFound when there is none."""
    if row is None:
        raise PredictionNotFound()
    return row


HISTORY_ERRORS = {503: "The database is not available"}


@bp.get("/predictions")
@bp.input(HistoryQuery, location="query")
@bp.output(PredictionPage, description="A page of predictions, newest first")
@bp.doc(responses=HISTORY_ERRORS)
def predictions(query_data):
    """List recent predictions

    Newest first. Follow `next_before` for older pages.
    """
    rows = get_history().recent(query_data["limit"], query_data["before"])
    next_before = rows[-1].id if len(rows) == query_data["limit"] else None
    return {"predictions": [record(row) for row in rows], "next_before": next_before}


@bp.get("/predictions/<int:prediction_id>")
@bp.output(PredictionRecord, description="One stored prediction")
@bp.doc(responses={404: "No such prediction", **HISTORY_ERRORS})
def prediction(prediction_id):
    """Get one prediction"""
    return record(found(get_history().get(prediction_id)))


@bp.get("/predictions/<int:prediction_id>/image")
@bp.output({}, content_type="image/png", description="The stored input, as PNG")
@bp.doc(responses={404: "No such prediction", **HISTORY_ERRORS})
def prediction_image(prediction_id):
    """Get a prediction's stored input"""
    row = found(get_history().get(prediction_id))
    response = Response(row.image_png, mimetype="image/png")
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response


@bp.put("/predictions/<int:prediction_id>/label")
@label_limit
@bp.input(LabelIn, location="json")
@bp.output(PredictionRecord, description="The prediction with its correction")
@bp.doc(responses={404: "No such prediction", **HISTORY_ERRORS})
def label_prediction(prediction_id, json_data):
    """Label a prediction

    Store the digit the image really shows: a correction, or the digit read,
    to confirm it. With `LEARNING=on` (the default) every worker answers with
    it within a second or two (`label_status` "learned"); with `review` it
    waits for an operator (`pending`). Labels from one client are limited by
    `LABEL_RATE_LIMIT`.
    """
    return record(found(give_label(prediction_id, json_data["label"])))


# -- the model ----------------------------------------------------------------


@bp.get("/model")
@bp.output(ModelOut, description="The model that answers now")
def model():
    """Describe the model

    Its version, when it was trained, on how many samples from which sources,
    its k, its cross-validated accuracy on the bundled digits, the labels it
    learned from, and its accuracy in use: the share of labelled readings it
    read right.
    """
    return model_report()
