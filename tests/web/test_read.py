"""Whole numbers: POST /api/read and manage.py read."""

import base64

from conftest import canvas_drawing, circle, encode

# A "1", a "0" and another "1", side by side with uneven gaps and baselines.
ONE_ZERO_ONE = [
    [(0.12, 0.25), (0.12, 0.65)],
    *circle(cx=0.36, cy=0.5, rx=0.09, ry=0.2),
    [(0.72, 0.32), (0.72, 0.75)],
]


def number_png():
    return encode(canvas_drawing(ONE_ZERO_ONE, size=560, width=26).resize((560, 280)))


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


def test_manage_py_read_prints_the_number_and_each_digit(runner, tmp_path):
    path = tmp_path / "number.png"
    path.write_bytes(number_png())
    result = runner.invoke(args=["read", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "101"
    assert [line.split("\t")[0].strip() for line in lines[1:]] == ["1", "0", "1"]


def test_manage_py_read_reports_an_unreadable_file(runner, tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"junk")
    result = runner.invoke(args=["read", str(path)])
    assert result.exit_code == 1 and "could not be decoded" in result.output
