"""The JSON API under /api: read digits, describe the model."""

from flask import Response, current_app, request

from apiflask import APIBlueprint

from app.errors import InvalidRequest, UnsupportedMediaType
from app.imaging import decode_base64_image
from app.schemas import MAX_FILENAME_LENGTH, ModelOut, PredictionOut

bp = APIBlueprint("api", __name__, url_prefix="/api", tag="Digits")

IMAGE_ERRORS = {
    400: "Malformed request or undecodable image",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "No digit found in the image",
}


def recognizer():
    return current_app.extensions["recognizer"]


def read_image_upload():
    """The image bytes and the client's filename from a request, whichever of the
    three accepted forms it takes: JSON with a data URI or base64, a multipart
    form with an ``image`` file, or a raw image body."""
    mimetype = request.mimetype
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object with an 'image' field.")
        image, filename = body.get("image"), body.get("filename")
        if not isinstance(image, str) or not image:
            raise InvalidRequest("'image' must be a non-empty data URI or base64 string.")
        return decode_base64_image(image), _filename(filename)
    if mimetype == "multipart/form-data":
        upload = request.files.get("image")
        if upload is not None:
            return upload.read(), _filename(request.form.get("filename") or upload.filename)
        if request.form.get("image"):
            return decode_base64_image(request.form["image"]), _filename(request.form.get("filename"))
        raise InvalidRequest("The form has no 'image' file field.")
    if mimetype.startswith("image/") or mimetype == "application/octet-stream":
        return request.get_data(cache=False), None
    raise UnsupportedMediaType()


def _filename(value):
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest("'filename' must be a string.")
    if len(value) > MAX_FILENAME_LENGTH:
        raise InvalidRequest(f"'filename' must be at most {MAX_FILENAME_LENGTH} characters.")
    return value


def _wants_text():
    best = request.accept_mimetypes.best_match(("application/json", "text/plain"))
    return best == "text/plain"


@bp.post("/predict")
@bp.output(PredictionOut, description="The digit read, with its probabilities")
@bp.doc(responses=IMAGE_ERRORS, extensions={"x-image-body": True})
def predict():
    """Read one digit

    Send the image as JSON (`{"image": "<data URI or base64>"}`), as a multipart
    form with an `image` file, or as the raw body with an `image/*` type. With
    `Accept: text/plain` the answer is only the digit.
    """
    data, _filename_ = read_image_upload()
    prediction = recognizer().predict(data)
    if _wants_text():
        return Response(f"{prediction.digit}\n", mimetype="text/plain")
    return {
        "digit": prediction.digit,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
        "prediction_id": None,
        "model_version": prediction.model_version,
    }


@bp.get("/model")
@bp.output(ModelOut, description="The model that answers now")
def model():
    """Describe the model

    Its version, when it was trained, on how many samples from which sources,
    its k and its cross-validated accuracy.
    """
    metadata = recognizer().current_model().metadata
    return {**metadata, "training_samples": sum(metadata["samples"].values())}
