"""The JSON API: reading a digit in every form, the model's description, each error code."""

import base64
import io

import pytest
from PIL import Image

from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, on_paper


def data_uri(data, mime="image/png"):
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


# -- reading a digit -------------------------------------------------------------


@pytest.mark.parametrize("strokes, digit", [(ONE, 1), (SEVEN, 7), (ZERO, 0)])
def test_a_canvas_drawing_sent_as_a_data_uri_is_read(client, strokes, digit):
    image = data_uri(encode(canvas_drawing(strokes)))
    response = client.post("/api/predict", json={"image": image})
    assert response.status_code == 200
    body = response.get_json()
    assert body["digit"] == digit
    assert 0 < body["confidence"] <= 1
    assert len(body["probabilities"]) == 10
    assert sum(body["probabilities"]) == pytest.approx(1.0)
    assert body["confidence"] == max(body["probabilities"])
    assert body["model_version"]


def test_real_handwriting_is_read_correctly(client, bundled_digit_images):
    right = 0
    for drawing, label in bundled_digit_images:
        response = client.post("/api/predict", json={"image": data_uri(encode(drawing))})
        right += response.get_json()["digit"] == label
    assert right / len(bundled_digit_images) >= 0.9


def test_bare_base64_is_accepted(client):
    image = base64.b64encode(encode(canvas_drawing(SEVEN))).decode()
    assert client.post("/api/predict", json={"image": image}).get_json()["digit"] == 7


def test_a_multipart_upload_is_accepted(client):
    import io

    data = {"image": (io.BytesIO(encode(on_paper(canvas_drawing(SEVEN)), "JPEG")), "seven.jpg")}
    response = client.post("/api/predict", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    assert response.get_json()["digit"] == 7


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                       ("GIF", "image/gif"), ("WEBP", "image/webp"),
                                       ("BMP", "image/bmp")])
def test_a_raw_body_of_every_accepted_format_is_read(client, fmt, mime):
    image = on_paper(canvas_drawing(ONE))
    response = client.post("/api/predict", data=encode(image, fmt), content_type=mime)
    assert response.status_code == 200
    assert response.get_json()["digit"] == 1


def test_plain_text_answer_is_just_the_digit(client):
    response = client.post("/api/predict", json={"image": data_uri(encode(canvas_drawing(SEVEN)))},
                           headers={"Accept": "text/plain"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).strip() == "7"


# -- errors ----------------------------------------------------------------------


def test_a_blank_drawing_is_422_empty_image_never_a_zero(client):
    response = client.post("/api/predict", json={"image": data_uri(encode(canvas_drawing([])))})
    assert_error(response, 422, "empty_image")


def test_undecodable_image_is_400_invalid_image(client):
    response = client.post("/api/predict", json={"image": data_uri(b"not an image at all")})
    assert_error(response, 400, "invalid_image")


def test_a_bad_base64_string_is_400_invalid_image(client):
    assert_error(client.post("/api/predict", json={"image": "%%%"}), 400, "invalid_image")


@pytest.mark.parametrize("body", ['{"image": ', "[1, 2]", '"text"', '{"picture": "x"}',
                                  '{"image": 42}', '{"image": ""}', "null",
                                  '{"image": "iVBORw0KGgo=", "filename": 3}'])
def test_a_json_body_of_the_wrong_shape_is_400(client, body):
    response = client.post("/api/predict", data=body, content_type="application/json")
    assert_error(response, 400, "invalid_request")


def test_a_multipart_form_without_an_image_is_400(client):
    response = client.post("/api/predict", data={"other": "x"}, content_type="multipart/form-data")
    assert_error(response, 400, "invalid_request")


def test_an_unsupported_content_type_is_415(client):
    response = client.post("/api/predict", data="seven", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_a_body_over_the_upload_limit_is_413(storage_dir):
    from app import create_app

    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "MAX_CONTENT_LENGTH": 1000,
                      "MAX_UPLOAD_BYTES": 1000})
    response = app.test_client().post("/api/predict", data=b"\0" * 5000, content_type="image/png")
    assert_error(response, 413, "payload_too_large")


def test_an_image_over_the_pixel_limit_is_400_image_too_large(storage_dir):
    from app import create_app

    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "MAX_IMAGE_PIXELS": 10_000})
    big = encode(Image.new("L", (200, 200), 255))
    response = app.test_client().post("/api/predict", data=big, content_type="image/png")
    assert_error(response, 400, "image_too_large")


def test_an_unknown_url_is_a_json_404(client):
    assert_error(client.get("/api/nothing-here"), 404, "not_found")


def test_a_wrong_method_is_a_json_405(client):
    assert_error(client.get("/api/predict"), 405, "method_not_allowed")


# -- why it read what it read -------------------------------------------------------


@pytest.mark.parametrize("ask", [{"query": "?explain=1"}, {"body": {"explain": True}}])
def test_the_answer_can_name_the_samples_that_voted(client, ask):
    body = {"image": data_uri(encode(canvas_drawing(SEVEN)))} | ask.get("body", {})
    answer = client.post("/api/predict" + ask.get("query", ""), json=body).get_json()
    neighbours = answer["neighbours"]
    assert len(neighbours) == client.get("/api/model").get_json()["n_neighbors"]
    distances = [n["distance"] for n in neighbours]
    assert distances == sorted(distances) and neighbours[0]["digit"] == 7
    for neighbour in neighbours:
        assert neighbour["source"] in ("bundled", "augmented")
        assert neighbour["prediction_id"] is None
        prefix = "data:image/png;base64,"
        assert neighbour["image"].startswith(prefix)
        picture = Image.open(io.BytesIO(base64.b64decode(neighbour["image"][len(prefix):])))
        assert picture.size == (32, 32)


def test_without_explain_the_answer_names_no_neighbours(client):
    for query in ("", "?explain=0"):
        answer = client.post("/api/predict" + query,
                             json={"image": data_uri(encode(canvas_drawing(SEVEN)))})
        assert "neighbours" not in answer.get_json()


@pytest.mark.parametrize("query, body", [("?explain=maybe", {}), ("", {"explain": "yes"})])
def test_an_explain_that_is_not_a_yes_or_no_is_400(client, query, body):
    response = client.post("/api/predict" + query,
                           json={"image": data_uri(encode(canvas_drawing(SEVEN))), **body})
    assert_error(response, 400, "invalid_request")


# -- the model -----------------------------------------------------------------------


def test_the_model_is_described(client):
    body = client.get("/api/model").get_json()
    assert body["samples"] == {"bundled": 1797, "augmented": 5391, "imported": 0}
    assert body["training_samples"] == 1797 + 5391
    assert body["accuracy"] >= 0.985
    assert 1 <= body["n_neighbors"] <= 12
    assert body["version"] and body["created_at"] and body["sklearn_version"]


def test_the_answer_names_the_model_that_gave_it(client):
    version = client.get("/api/model").get_json()["version"]
    answer = client.post("/api/predict", json={"image": data_uri(encode(canvas_drawing(ONE)))})
    assert answer.get_json()["model_version"] == version
