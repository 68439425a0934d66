"""Shapes of the API's bodies, for validation and for the OpenAPI document."""

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from app.history.tables import LABEL_STATUSES, MAX_FILENAME_LENGTH, SOURCES
from app.imaging.decode import FORMAT_NAMES, MEDIA_TYPES
from settings import HISTORY_MAX_PAGE_SIZE, HISTORY_PAGE_SIZE

IMAGE_DESCRIPTION = (
    f"The image: a data URI (`data:image/png;base64,...`) or bare base64 of a {FORMAT_NAMES}."
)
CLIENT_SOURCES = ("canvas", "upload", "api")  # what a client may say its image is


NEIGHBOUR_SOURCES = ("bundled", "augmented", "imported", "label")


class NeighbourOut(Schema):
    digit = Integer(required=True, metadata={"description": "The sample's digit."})
    distance = Float(required=True, metadata={
        "description": "Euclidean distance between the 8x8 features (0: the same)."})
    source = String(required=True, validate=OneOf(NEIGHBOUR_SOURCES), metadata={
        "description": "scikit-learn's bundled digits, a variant made of one (augmented), "
                       "data an operator imported, or a label a person gave."})
    prediction_id = Integer(allow_none=True, metadata={
        "description": "For a label: the prediction it was given to."})
    image = String(required=True, metadata={
        "description": "The sample's 8x8 features, enlarged to 32x32, as a PNG data URI."})


class PredictionOut(Schema):
    digit = Integer(required=True, metadata={"description": "The digit read, 0-9."})
    confidence = Float(required=True, metadata={"description": "Probability of that digit."})
    probabilities = List(Float(), required=True, validate=Length(equal=10), metadata={
        "description": "Probability of each digit 0-9; they sum to 1."})
    prediction_id = Integer(allow_none=True, metadata={
        "description": "The stored record of this prediction (null when not stored)."})
    model_version = String(required=True)
    neighbours = List(Nested(NeighbourOut), metadata={
        "description": "With `explain`: the k training samples that voted, nearest first."})


class PredictQuery(Schema):
    explain = Boolean(load_default=False, metadata={
        "description": "Also return the k training samples that voted (`neighbours`); "
                       "a JSON body may say `\"explain\": true` instead."})


class DigitInNumberOut(Schema):
    digit = Integer(required=True)
    confidence = Float(required=True)
    box = List(Integer(), required=True, validate=Length(equal=4), metadata={
        "description": "Where the digit is: x, y, width, height in the image's pixels."})


class MarkOut(Schema):
    kind = String(required=True, validate=OneOf(["point", "comma", "minus"]))
    box = List(Integer(), required=True, metadata={"description": "x, y, width, height"})


class NumberOut(Schema):
    number = String(required=True, metadata={"description": "The digits read, left to right."})
    digits = List(Nested(DigitInNumberOut), required=True)
    marks = List(Nested(MarkOut), required=True, metadata={
        "description": "Marks that are no digit, left out of the number: a decimal point, a "
                       "comma or a minus sign."})
    image_size = List(Integer(), required=True, metadata={
        "description": "Width and height of the picture read, whose pixels the boxes are in "
                       "(a large picture is read reduced)."})
    model_version = String(required=True)


class PredictionRecord(Schema):
    id = Integer(required=True)
    created_at = DateTime(required=True)
    source = String(required=True, validate=OneOf(SOURCES))
    filename = String(allow_none=True)
    digit = Integer(required=True)
    confidence = Float(required=True)
    probabilities = List(Float(), required=True)
    model_version = String(required=True)
    label = Integer(allow_none=True, metadata={
        "description": "The digit a person said the image shows: a correction, or the "
                       "digit read, confirmed."})
    labelled_at = DateTime(allow_none=True)
    label_status = String(allow_none=True, validate=OneOf(LABEL_STATUSES), metadata={
        "description": "learned (the model learns from it), pending (an operator reviews "
                       "it first), rejected or reverted (by an operator)."})
    image_url = String(required=True, metadata={"description": "The stored input, as PNG."})


class PredictionPage(Schema):
    predictions = List(Nested(PredictionRecord), required=True)
    next_before = Integer(allow_none=True, required=True, metadata={
        "description": "Pass as `before` for the next (older) page; null on the last."})


class HistoryQuery(Schema):
    limit = Integer(load_default=HISTORY_PAGE_SIZE,
                    validate=Range(min=1, max=HISTORY_MAX_PAGE_SIZE),
                    metadata={"description": f"How many predictions, 1-{HISTORY_MAX_PAGE_SIZE}."})
    before = Integer(load_default=None, validate=Range(min=1), metadata={
        "description": "Only predictions with a smaller id (the cursor of the previous page)."})


class LabelIn(Schema):
    label = Integer(required=True, strict=True, validate=Range(min=0, max=9), metadata={
        "description": "The digit the image really shows."})


class ShareOut(Schema):
    readings = Integer(required=True, metadata={"description": "Labelled readings counted."})
    accuracy = Float(allow_none=True, required=True, metadata={
        "description": "The share of them read right (null for none)."})


class InUseOut(Schema):
    last_100 = Nested(ShareOut, required=True)
    last_1000 = Nested(ShareOut, required=True)
    window = Integer(required=True, metadata={"description": "Labels per point of `history`."})
    history = List(Float(), required=True, metadata={
        "description": "The share read right in each `window` labelled readings, oldest "
                       "first (the last 10,000 at most)."})


class ModelOut(Schema):
    version = String(required=True)
    provisional = Boolean(required=True, metadata={
        "description": "True for the quick model that answers on a first start while the "
                       "full one trains (a few seconds)."})
    created_at = String(required=True, metadata={"description": "ISO 8601 time of training."})
    samples = Dict(keys=String(), values=Integer(), required=True, metadata={
        "description": "Training samples by source: bundled, augmented, imported."})
    training_samples = Integer(required=True, metadata={"description": "All training samples."})
    learning = String(required=True, validate=OneOf(["on", "review", "off"]), metadata={
        "description": "Whether labels join the model at once (on), once an operator accepts "
                       "them (review), or never (off)."})
    labels_learned = Integer(required=True, metadata={
        "description": "Labels people gave that the model answers with, besides its "
                       "training samples."})
    in_use = Nested(InUseOut, allow_none=True, required=True, metadata={
        "description": "How often the labelled readings were right; null when the "
                       "database is not available."})
    n_neighbors = Integer(required=True, metadata={"description": "k of the kNN classifier."})
    weights = String(required=True, validate=OneOf(["uniform", "distance"]))
    accuracy = Float(required=True, metadata={
        "description": "Cross-validated accuracy on the training data: scikit-learn's "
                       "bundled digits, not anyone's handwriting (see `in_use`)."})
    recall = List(Float(), required=True, metadata={
        "description": "Cross-validated recall of each digit 0-9."})
    confusion = List(List(Integer()), required=True, metadata={
        "description": "Cross-validated confusion matrix: row = true digit, "
                       "column = digit read."})
    sklearn_version = String(required=True)
    numpy_version = String(required=True)


class HealthOut(Schema):
    status = String(required=True)


class ReadyOut(Schema):
    status = String(required=True, validate=OneOf(["ready", "not_ready"]))
    checks = Dict(keys=String(), values=String(), required=True)


class ErrorDetail(Schema):
    code = String(required=True, metadata={"description": "A stable, machine-readable code."})
    message = String(required=True, metadata={"description": "What went wrong, for people."})


class BatchIn(Schema):
    images = List(String(validate=Length(min=1)), required=True, validate=Length(min=1),
                  metadata={"description": "Images as data URIs or bare base64; at most "
                                           "MAX_BATCH_IMAGES (64 by default)."})


class BatchItemOut(Schema):
    digit = Integer()
    confidence = Float()
    probabilities = List(Float())
    prediction_id = Integer(allow_none=True)
    model_version = String()
    error = Nested(ErrorDetail, metadata={"description": "Why this image was not read."})


class BatchOut(Schema):
    results = List(Nested(BatchItemOut), required=True, metadata={
        "description": "One result per image, in order: an answer or an error."})


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

# The image endpoints take the same image in three forms; APIFlask's input
# decorator describes one, so the others are added to the document here.
IMAGE_JSON_SCHEMA = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "minLength": 1, "description": IMAGE_DESCRIPTION},
        "filename": {"type": "string", "maxLength": MAX_FILENAME_LENGTH,
                     "description": "The client's name for the image."},
        "source": {"type": "string", "enum": list(CLIENT_SOURCES),
                   "description": "Where the image comes from (default: api)."},
        "explain": {"type": "boolean", "default": False,
                    "description": "Also return the training samples that voted "
                                   "(`/api/predict` only; or `?explain=1`)."},
    },
}


def image_request_body():
    """The OpenAPI request body of the image endpoints: JSON, a form, or raw bytes."""
    binary = {"type": "string", "format": "binary"}
    content = {
        "application/json": {"schema": IMAGE_JSON_SCHEMA},
        "multipart/form-data": {
            "schema": {"type": "object", "required": ["image"],
                       "properties": {"image": binary, "filename": {"type": "string"},
                                      "source": {"type": "string",
                                                 "enum": list(CLIENT_SOURCES)}}}
        },
    }
    content.update({mime: {"schema": binary} for mime in MEDIA_TYPES})
    return {"required": True, "description": IMAGE_DESCRIPTION, "content": content}
