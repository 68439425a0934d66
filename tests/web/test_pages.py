"""The pages as the server sends them: every page and its hooks, the forms that
work without JavaScript (behind CSRF tokens), the pictures drawn on the
server, and the security headers. The browser tests in tests/browser/ drive
the same pages in Chromium."""

import base64
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from app import create_app
from app.web import pages
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, number_png, on_paper

PAGES = ["/", "/upload", "/history", "/model"]
SVG = "{http://www.w3.org/2000/svg}"


def csrf_token(client, path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def read(app, strokes, source="canvas"):
    answer = app.extensions["reader"].read(encode(canvas_drawing(strokes)), source=source)
    return answer.prediction_id


def post_upload(client, data, filename="seven.png", token=True, mode=None):
    form = {"image": (io.BytesIO(data), filename)}
    if mode:
        form["mode"] = mode
    if token:
        form["csrf_token"] = csrf_token(client, "/upload")
    return client.post("/upload", data=form, content_type="multipart/form-data")


# -- every page -------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_with_the_navigation(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for other in PAGES:
        assert f'href="{other}"' in page
    assert 'aria-current="page"' in page


def test_the_draw_page_has_the_stable_hooks(client):
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<canvas id="pad"', page)
    assert re.search(r'id="digit"[^>]*></output>', page), "no digit until something is drawn"
    assert 'id="confidence"' in page
    assert re.search(r'<button[^>]*id="clear"', page)
    assert re.search(r'<button[^>]*id="undo"', page)
    assert len(re.findall(r'data-label="\d"', page)) == 10


def test_the_draw_page_switches_between_a_digit_and_a_number(client):
    page = client.get("/").get_data(as_text=True)
    modes = re.findall(r'<input type="radio" name="mode" value="(\w+)"[^>]*>', page)
    assert modes == ["digit", "number"]
    assert re.search(r'value="digit"[^>]*\bchecked', page), "digit mode unless picked"
    assert 'data-mode="digit"' in page
    assert re.search(r'id="number"[^>]*></output>', page), "no number until something is drawn"


def test_the_upload_page_has_a_file_input_and_the_answer(client):
    page = client.get("/upload").get_data(as_text=True)
    assert re.search(r'<input type="file" id="image" name="image"', page)
    assert 'id="digit"' in page
    assert 'enctype="multipart/form-data"' in page


@pytest.mark.parametrize("path", [*PAGES, "/docs"])
def test_pages_load_nothing_from_elsewhere_and_run_no_inline_script(client, path):
    page = client.get(path).get_data(as_text=True)
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script"
    assert not re.search(r"\son[a-z]+=", page), "inline event handler"
    assert not re.search(r"\sstyle=", page), "inline style"


@pytest.mark.parametrize("path", [*PAGES, "/docs", "/api/model", "/healthz"])
def test_every_answer_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    policy = dict(part.strip().split(" ", 1) for part in
                  headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


# -- upload without JavaScript ----------------------------------------------------


def test_an_upload_form_post_shows_the_answer(client):
    response = post_upload(client, encode(on_paper(canvas_drawing(ZERO)), "JPEG"), "zero.jpg")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'id="digit"[^>]*>0</output>', page)
    match = re.search(r'src="/predictions/(\d+)/input.png"', page)
    assert match, "the page shows what the model saw"
    assert client.get(f"/api/predictions/{match.group(1)}").get_json()["source"] == "upload"
    assert f'action="/history/{match.group(1)}/label"' in page, "correctable without JavaScript"


def test_an_upload_answer_can_be_confirmed_without_javascript(client, app):
    response = post_upload(client, encode(on_paper(canvas_drawing(ZERO)), "JPEG"), "zero.jpg")
    page = response.get_data(as_text=True)
    assert re.search(r'<button type="submit" name="label" id="confirm"[^>]*value="0">Right<', page)
    prediction_id = re.search(r'action="/history/(\d+)/label"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(f"/history/{prediction_id}/label", data={"label": "0", "csrf_token": token})
    assert app.extensions["history"].get(int(prediction_id)).label == 0
    assert "Confirmed as 0" in client.get("/history").get_data(as_text=True)


def test_an_upload_form_post_without_a_csrf_token_is_refused(client, app):
    response = post_upload(client, encode(canvas_drawing(SEVEN)), token=False)
    assert response.status_code == 400
    assert "Please try again" in response.get_data(as_text=True)
    assert app.extensions["history"].recent(10) == []


@pytest.mark.parametrize(("data", "filename", "status", "message"), [
    (b"just some text", "notes.txt", 400, "not an image we can read"),
    (encode(Image.new("RGB", (64, 64), "white")), "blank.png", 422, "No digit found"),
    (b"\0" * (2 * 2**20 + 10), "huge.png", 413, "too large: the limit is 2 MiB"),
])
def test_an_upload_form_post_explains_what_is_wrong(client, data, filename, status, message):
    response = post_upload(client, data, filename)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page
    assert re.search(r'id="digit"[^>]*></output>', page)


def number_photo(size=(560, 280), fmt="PNG"):
    return encode(on_paper(Image.open(io.BytesIO(number_png())).resize(size)), fmt)


def test_the_upload_page_switches_between_a_digit_and_a_number(client):
    page = client.get("/upload").get_data(as_text=True)
    form = page[page.index('<form id="upload-form"'):page.index("</form>")]
    modes = re.findall(r'<input type="radio" name="mode" value="(\w+)"[^>]*>', form)
    assert modes == ["digit", "number"], "the mode is posted with the form"
    assert re.search(r'value="digit"[^>]*\bchecked', form), "digit mode unless picked"
    assert 'data-mode="digit"' in page


def test_an_upload_form_post_in_number_mode_shows_each_digit_boxed_on_the_photo(client):
    data = number_photo()
    response = post_upload(client, data, "number.png", mode="number")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-mode="number"' in page
    assert re.search(r'value="number"[^>]*\bchecked', page)
    assert re.search(r'id="number"[^>]*>101</output>', page)
    assert re.findall(r'<span class="p-digit">(\d)</span>', page) == ["1", "0", "1"]
    src = re.search(r'<img id="preview"[^>]* src="([^"]+)"', page).group(1)
    assert src == "data:image/png;base64," + base64.b64encode(data).decode()
    boxes = ET.fromstring(re.search(r'<svg class="picture-boxes".*?</svg>', page, re.S).group(0))
    marks = boxes.findall("g")  # inline SVG in HTML: no namespace
    assert [mark.find("text").text for mark in marks] == ["1", "0", "1"]
    # Each box holds the middle of its digit, in shares of the photo.
    for mark, (across, down) in zip(marks, [(12, 45), (36, 50), (72, 53)], strict=True):
        rect = {key: float(mark.find("rect").get(key).rstrip("%"))
                for key in ("x", "y", "width", "height")}
        assert rect["x"] < across < rect["x"] + rect["width"]
        assert rect["y"] < down < rect["y"] + rect["height"]
    assert client.get("/api/predictions").get_json()["predictions"] == [], "a number is not stored"


def test_a_number_photo_too_large_to_send_back_is_read_without_its_picture(client):
    data = number_photo(fmt="BMP")  # uncompressed
    assert len(data) > pages.INLINE_PICTURE_BYTES
    response = post_upload(client, data, "number.bmp", mode="number")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'id="number"[^>]*>101</output>', page)
    assert re.search(r'id="previews" hidden', page)
    assert "data:image" not in page


@pytest.mark.parametrize(("data", "mode", "status", "message"), [
    (encode(Image.new("RGB", (64, 64), "white")), "number", 422,
     "No number found: the image looks blank."),
    (b"just some text", "number", 400, "The image could not be decoded"),
    (number_png(), "letters", 400, "Choose Digit or Number."),
])
def test_an_upload_form_post_in_number_mode_explains_what_is_wrong(client, data, mode, status,
                                                                   message):
    response = post_upload(client, data, "number.png", mode=mode)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert message in page
    assert re.search(r'id="number"[^>]*></output>', page)


def test_the_api_takes_no_csrf_token(client):
    response = client.post("/api/predict", data={"image": (
        io.BytesIO(encode(canvas_drawing(ONE))), "one.png")})
    assert response.status_code == 200
    prediction_id = response.get_json()["prediction_id"]
    assert client.put(f"/api/predictions/{prediction_id}/label",
                      json={"label": 4}).status_code == 200


# -- history ----------------------------------------------------------------------


def test_the_history_lists_recent_predictions_with_thumbnails(client, app):
    first, second = read(app, ONE), read(app, SEVEN)
    app.extensions["history"].set_label(first, 4)
    page = client.get("/history").get_data(as_text=True)
    assert page.index(f'id="prediction-{second}"') < page.index(f'id="prediction-{first}"')
    assert f'src="/api/predictions/{first}/image"' in page
    assert "Corrected to 4" in page
    assert "Not corrected" in page
    assert re.search(r"\d+% sure", page)


def test_the_history_is_paginated(client, app):
    app.config["HISTORY_PAGE_SIZE"] = 3
    ids = [read(app, ONE) for _ in range(5)]
    first_page = client.get("/history").get_data(as_text=True)
    assert re.findall(r'id="prediction-(\d+)"', first_page) == [str(i) for i in ids[:1:-1]]
    older = re.search(r'href="(/history\?before=\d+)"', first_page).group(1)
    second_page = client.get(older).get_data(as_text=True)
    assert re.findall(r'id="prediction-(\d+)"', second_page) == [str(i) for i in ids[1::-1]]
    assert "Older" not in second_page and "Newest" in second_page


def test_a_correction_from_the_history_page_is_stored(client, app):
    prediction_id = read(app, ONE)
    response = client.post(f"/history/{prediction_id}/label",
                           data={"label": "7", "csrf_token": csrf_token(client, "/history")})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/history#prediction-{prediction_id}")
    assert app.extensions["history"].get(prediction_id).label == 7
    assert "Corrected to 7" in client.get("/history").get_data(as_text=True)


@pytest.mark.parametrize(("path", "label", "status"), [
    ("/history/{id}/label", "ten", 400), ("/history/{id}/label", "10", 400),
    ("/history/99999/label", "3", 404)])
def test_a_correction_must_be_a_digit_of_a_known_prediction(client, app, path, label, status):
    prediction_id = read(app, ONE)
    response = client.post(path.format(id=prediction_id),
                           data={"label": label, "csrf_token": csrf_token(client, "/history")})
    assert response.status_code == status
    assert app.extensions["history"].get(prediction_id).label is None
    page = response.get_data(as_text=True)  # the history page again, saying what went wrong
    assert response.mimetype == "text/html" and 'role="alert"' in page
    assert ("Choose a digit from 0 to 9" if status == 400 else "no prediction 99999") in page


def test_the_history_page_says_so_when_the_database_is_down(storage_dir):
    down = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                       "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/nothing"})
    response = down.test_client().get("/history")
    assert response.status_code == 503 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "The database is not available" in page and 'href="/history"' in page
    assert "psycopg" not in page


def test_a_correction_without_a_csrf_token_is_refused(client, app):
    prediction_id = read(app, ONE)
    assert client.post(f"/history/{prediction_id}/label", data={"label": "7"}).status_code == 400
    assert app.extensions["history"].get(prediction_id).label is None


def test_what_the_model_saw_is_its_8x8_input_enlarged(client, app):
    prediction_id = read(app, ONE)
    features = np.frombuffer(app.extensions["history"].get(prediction_id).features, np.uint8)
    response = client.get(f"/predictions/{prediction_id}/input.png")
    assert response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.size == (128, 128)
    cells = np.asarray(image)[8::16, 8::16]  # the centre of each of the 8x8 cells
    ink = (255 - cells.astype(int)) * 16 / 255
    assert np.allclose(ink.ravel(), features, atol=0.5)
    assert client.get("/predictions/99999/input.png").status_code == 404


# -- the model --------------------------------------------------------------------


def test_the_model_page_tells_what_it_was_trained_on_and_how_well_it_reads(client, app):
    metadata = app.extensions["recognizer"].current_model().metadata
    page = client.get("/model").get_data(as_text=True)
    assert f"{metadata['accuracy'] * 100:.1f}%" in page
    assert metadata["version"] in page
    assert f"{sum(metadata['samples'].values()):,}" in page
    for source, count in metadata["samples"].items():
        assert re.search(rf">{source.capitalize()}</th><td[^>]*>{count:,}<", page)
    assert page.count("<meter") == 10  # recall per digit
    assert 'src="/model/confusion.svg"' in page


def test_the_confusion_matrix_is_an_svg_with_every_count(client, app):
    confusion = app.extensions["recognizer"].current_model().metadata["confusion"]
    response = client.get("/model/confusion.svg")
    assert response.mimetype == "image/svg+xml"
    svg = ET.fromstring(response.data)
    cells = svg.findall(f"{SVG}rect")[1:]  # after the background
    assert len(cells) == 100
    counts = [int(text.text) for text in svg.findall(f"{SVG}text")
              if text.get("font-size") == "13"]
    assert counts == [count for row in confusion for count in row if count]
    right, wrong = cells[0].get("fill"), cells[1].get("fill")
    assert right != wrong
