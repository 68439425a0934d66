"""Whole numbers: POST /api/read (manage.py read is tested in tests/test_cli.py)."""

import base64

from conftest import canvas_drawing, encode, number_png


def test_a_whole_number_is_read_left_to_right_with_boxes(client):
    image = "data:image/png;base64," + base64.b64encode(number_png()).decode()
    response = client.post("/api/read", json={"image": image})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["number"] == "101"
    assert [d["digit"] for d in body["digits"]] == [1, 0, 1]
    lefts = [d["box"][0] for d in body["digits"]]
    assert lefts == sorted(lefts)
    for digit in body["digits"]:
        x, y, width, height = digit["box"]
        assert 0 <= x < 560 and 0 <= y < 280 and width > 0 and height > 40
        assert 0 < digit["confidence"] <= 1


def test_the_plain_text_answer_is_the_number(client):
    response = client.post("/api/read", data=number_png(), content_type="image/png",
                           headers={"Accept": "text/plain"})
    assert response.get_data(as_text=True) == "101\n"


def test_a_blank_image_has_no_number(client):
    response = client.post("/api/read", data=encode(canvas_drawing([])), content_type="image/png")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "empty_image"
