"""POST /api/predict/batch: many images in one request, each its own answer."""

import base64

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
