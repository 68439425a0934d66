"""POST /api/predict/batch: many images in one request, each its own answer."""

import base64
import time

import app.recognition.reader as reader_module
from app.errors import DigitReaderError, ImageTooLarge
from app.recognition.reader import DigitReader
from bench.renders import seven_png
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode


def b64(strokes):
    return base64.b64encode(encode(canvas_drawing(strokes))).decode()


def test_a_batch_answers_each_image_in_order_and_stores_each(client):
    response = client.post("/api/predict/batch", json={"images": [b64(ONE), b64(ZERO), b64(ONE)]})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["digit"] for r in results] == [1, 0, 1]
    ids = [r["prediction_id"] for r in results]
    assert None not in ids and len(set(ids)) == 3
    assert client.get(f"/api/predictions/{ids[1]}").get_json()["digit"] == 0


def test_a_bad_image_gets_its_own_error_and_the_others_are_read(client):
    blank = base64.b64encode(encode(canvas_drawing([]))).decode()
    response = client.post("/api/predict/batch",
                           json={"images": [b64(SEVEN), "%%%", blank, "aGVsbG8="]})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results[0]["digit"] == 7
    assert [r.get("error", {}).get("code") for r in results[1:]] == [
        "invalid_image", "empty_image", "invalid_image"]


def test_a_batch_over_the_limit_is_refused(client, app):
    limit = app.config["MAX_BATCH_IMAGES"]
    response = client.post("/api/predict/batch", json={"images": [b64(ONE)] * (limit + 1)})
    assert response.status_code == 400
    assert f"At most {limit} images" in response.get_json()["error"]["message"]


def test_a_batch_of_the_wrong_shape_is_400(client):
    for body in ({"images": []}, {"images": "x"}, {"images": [1, 2]}, {}, [1]):
        response = client.post("/api/predict/batch", json=body)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["code"] == "invalid_request"


def test_cheap_large_pictures_share_one_picture_s_pixels_and_the_rest_are_not_decoded(
        client, monkeypatch):
    decoded = []
    decode = reader_module.load_pixels
    monkeypatch.setattr(reader_module, "load_pixels", lambda header, **options: (
        decoded.append(header.size) or decode(header, **options)))
    keyed = base64.b64encode(seven_png(4000, "1")).decode()  # 17 KB, 16 million pixels
    started = time.perf_counter()
    response = client.post("/api/predict/batch", json={"images": [keyed] * 16})
    assert time.perf_counter() - started < 3.0
    assert response.status_code == 200
    first, *others = response.get_json()["results"]
    assert first["digit"] == 7
    assert {result["error"]["code"] for result in others} == {"image_too_large"}
    assert "16,000,000 pixels one batch may hold" in others[0]["error"]["message"]
    assert decoded == [(4000, 4000)]


def test_the_batch_s_pixels_go_to_its_images_in_order_while_they_last(app):
    recognizer, history = app.extensions["recognizer"], app.extensions["history"]
    reader = DigitReader(recognizer, history, 512, 256 * 1024, max_batch_pixels=200_000)
    datas = [encode(canvas_drawing(strokes, size=size))  # 78,400 pixels each, then 40,000
             for strokes, size in ((ONE, 280), (SEVEN, 280), (ZERO, 280), (ONE, 200))]
    with app.app_context():
        results = reader.read_many(datas, source="api")
    assert [isinstance(result, DigitReaderError) for result in results] == [
        False, False, True, False]
    assert isinstance(results[2], ImageTooLarge)
    assert [results[i].prediction.digit for i in (0, 1, 3)] == [1, 7, 1]
