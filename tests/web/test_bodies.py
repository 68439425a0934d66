"""Request bodies are held within bounds before any view reads them: bodies
without a length, JSON nested too deeply or holding numbers too long, forms of
too many parts, and an image sent as a form's text field."""

import io

import pytest

from conftest import SEVEN, canvas_drawing, encode

PNG = encode(canvas_drawing(SEVEN))
JSON_ROUTES = [("post", "/api/predict"), ("post", "/api/read"), ("post", "/api/predict/batch"),
               ("put", "/api/predictions/1/label")]


def assert_invalid_request(response, words):
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and words in error["message"]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_json_nested_thousands_deep_is_400_on_every_route(client, method, path):
    response = getattr(client, method)(path, data="[" * 3000, content_type="application/json")
    assert_invalid_request(response, "nested too deeply")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("put", "/api/predictions/1/label", '{"label": ' + "9" * 5000 + "}"),
    ("post", "/api/predict/batch", '{"images": [' + "9" * 5000 + "]}"),
    ("post", "/api/predict", '{"image": ' + "9" * 5000 + "}")])
def test_a_json_integer_of_thousands_of_digits_is_400(client, method, path, body):
    response = getattr(client, method)(path, data=body, content_type="application/json")
    assert_invalid_request(response, "not valid JSON")


def post_chunked(client, body, content_type):
    """A body sent without Content-Length, as a server hands a chunked one over."""
    return client.post("/api/predict", input_stream=io.BytesIO(body), content_type=content_type,
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


@pytest.mark.parametrize(("body", "content_type"), [
    (PNG + b"\0" * (3 * 2**20), "image/png"),
    (b'{"image": "' + b"A" * (3 * 2**20) + b'"}', "application/json")])
def test_a_body_without_a_length_over_the_limit_is_413(client, body, content_type):
    response = post_chunked(client, body, content_type)
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large" and "2,097,152 bytes" in error["message"]


def test_a_body_without_a_length_within_the_limit_is_read_whole(client):
    response = post_chunked(client, PNG, "image/png")
    assert response.status_code == 200 and response.get_json()["digit"] == 7


def test_a_form_of_too_many_parts_says_so(client):
    response = client.post("/api/predict", data={f"field{i}": "x" for i in range(1001)},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert "more parts than the 1,000 accepted" in response.get_json()["error"]["message"]


def test_an_image_sent_as_a_form_text_field_is_told_to_send_a_file(client):
    # curl -F 'image=<seven.png' sends the file's bytes as a text field, no filename
    response = client.post("/api/predict", data={"image": PNG.decode("latin1")},
                           content_type="multipart/form-data")
    assert_invalid_request(response, "not a file")
