"""Whatever a client sends, the image chain and the API answer with a digit or
with one of their typed errors: never another exception, never a 500."""

import base64
import io
import struct
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from app import create_app
from app.errors import DigitReaderError, EmptyImage, ImageTooLarge
from app.imaging.chain import ImageChain
from app.imaging.decode import ACCEPTED_FORMATS, open_image
from app.imaging.ink import ink_from_image
from bench.renders import png_bomb
from conftest import canvas_drawing, encode, install_model

# Small limits make "every size up to the limit" and "just over it" cheap.
PIXEL_LIMIT = 96 * 96
UPLOAD_LIMIT = 48 * 1024
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F")
API_STATUSES = {200, 400, 413, 415, 422}
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"GIF89a", b"GIF87a", b"\xff\xd8\xff", b"BM",
              b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"II*\x00", b"%PDF-")

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def small_app(tmp_path_factory, trained_model_file):
    storage = tmp_path_factory.mktemp("properties") / "storage"
    storage.mkdir()
    install_model(trained_model_file, storage)
    app = create_app({"TESTING": True, "STORAGE_DIR": storage, "SECRET_KEY": "test",
                      "CV_FOLDS": 3, "MAX_IMAGE_PIXELS": PIXEL_LIMIT,
                      "MAX_UPLOAD_BYTES": UPLOAD_LIMIT, "MAX_CONTENT_LENGTH": UPLOAD_LIMIT,
                      "RATELIMIT_ENABLED": False})
    yield app
    app.extensions["database"].dispose()


@pytest.fixture(scope="module")
def recognizer(small_app):
    return small_app.extensions["recognizer"]


@pytest.fixture(scope="module")
def api(small_app):
    return small_app.test_client()


# -- what a valid answer is -------------------------------------------------------


def read_or_typed_error(recognizer, item):
    """The prediction for ``item``, or the typed error the chain raised for it.
    Any other exception propagates and fails the property."""
    try:
        features = recognizer.chain.to_feature_vector(item)
    except DigitReaderError as error:
        return error
    assert features.shape == (64,)
    assert features.min() >= 0 and features.max() <= 16
    prediction = recognizer.predict_features(features)
    assert_valid_prediction(prediction.digit, prediction.confidence, prediction.probabilities)
    return prediction


def assert_valid_prediction(digit, confidence, probabilities):
    assert digit in range(10)
    assert len(probabilities) == 10
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-6)
    assert confidence == pytest.approx(max(probabilities))
    assert probabilities[digit] == pytest.approx(max(probabilities))


def assert_api_answer(response):
    assert response.status_code in API_STATUSES, response.get_data(as_text=True)[:500]
    body = response.get_json()
    if response.status_code == 200 and "number" in body:  # /api/read
        assert body["number"] == "".join(str(d["digit"]) for d in body["digits"])
        assert body["digits"] and all(0 <= d["confidence"] <= 1 for d in body["digits"])
    elif response.status_code == 200:
        assert_valid_prediction(body["digit"], body["confidence"], body["probabilities"])
    else:
        assert set(body["error"]) == {"code", "message"}
    return body


# -- images of every mode -----------------------------------------------------------


@cache
def formats_for(mode):
    """The accepted formats Pillow can write an image of ``mode`` in (some by
    converting it, as a client's software would)."""
    found = []
    for fmt in ACCEPTED_FORMATS:
        try:
            encode(make_image(mode, np.full((3, 3), 255, np.uint8), np.zeros((3, 3), np.uint8)),
                   fmt)
        except (OSError, ValueError, KeyError):
            continue
        found.append(fmt)
    return tuple(found)


def make_image(mode, grey, alpha):
    """An image of ``mode`` from 8-bit lightness (and alpha, 255 opaque)."""
    base = Image.fromarray(grey)
    if mode == "LA":
        return Image.merge("LA", [base, Image.fromarray(alpha)])
    if mode == "RGBA":
        rgb = base.convert("RGB")
        return Image.merge("RGBA", [*rgb.split(), Image.fromarray(alpha)])
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 257)
    return base.convert(mode)


@st.composite
def pictures(draw, max_pixels=PIXEL_LIMIT):
    """A random picture: flat, noise, or strokes of ink on paper, of any size up
    to ``max_pixels``, with random paper and ink levels and transparency."""
    width = draw(st.integers(1, max_pixels))
    height = draw(st.integers(1, max_pixels // width))
    if draw(st.booleans()):  # square-ish sizes are more interesting than 1 x N
        width, height = height, width
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    paper = draw(st.integers(0, 255))
    ink = draw(st.integers(0, 255))
    kind = draw(st.sampled_from(["strokes", "noise", "flat"]))
    if kind == "noise":
        grey = rng.integers(0, 256, (height, width), dtype=np.uint8)
    else:
        canvas = Image.new("L", (width, height), paper)
        if kind == "strokes":
            pen = ImageDraw.Draw(canvas)
            for _ in range(int(rng.integers(1, 4))):
                points = [(float(x), float(y)) for x, y in
                          rng.random((int(rng.integers(2, 6)), 2)) * (width, height)]
                widest = max(2, min(width, height) // 4 + 1)
                pen.line(points, fill=ink, width=int(rng.integers(1, widest)))
        grey = np.asarray(canvas)
    alpha = draw(st.sampled_from(["opaque", "ink", "random"]))
    alpha = {"opaque": np.full_like(grey, 255),
             "ink": (255 - grey).astype(np.uint8),  # as a browser canvas draws it
             "random": rng.integers(0, 256, grey.shape, dtype=np.uint8)}[alpha]
    return grey, alpha


@given(data=st.binary(max_size=4096))
@PROPERTY
def test_random_bytes_are_a_typed_error_or_an_answer(recognizer, data):
    read_or_typed_error(recognizer, data)


@given(signature=st.sampled_from(SIGNATURES), rest=st.binary(max_size=2048))
@PROPERTY
def test_random_bytes_behind_a_real_signature_are_a_typed_error_or_an_answer(
        recognizer, signature, rest):
    read_or_typed_error(recognizer, signature + rest)


@given(picture=pictures(), mode=st.sampled_from(MODES), choice=st.integers(0, 4),
       flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), min_size=1, max_size=8))
@PROPERTY
def test_a_corrupted_image_is_a_typed_error_or_an_answer(recognizer, picture, mode, choice,
                                                         flips):
    formats = formats_for(mode)
    data = bytearray(encode(make_image(mode, *picture), formats[choice % len(formats)]))
    for position, value in flips:
        data[position % len(data)] = value
    read_or_typed_error(recognizer, bytes(data))


@given(picture=pictures(), mode=st.sampled_from(MODES), choice=st.integers(0, 4))
@PROPERTY
def test_a_valid_image_of_any_mode_size_and_format_is_a_typed_error_or_an_answer(
        recognizer, picture, mode, choice):
    image = make_image(mode, *picture)
    formats = formats_for(mode)
    result = read_or_typed_error(recognizer, encode(image, formats[choice % len(formats)]))
    assert not isinstance(result, ImageTooLarge)  # within the limit
    read_or_typed_error(recognizer, image)  # the Pillow image itself, as the CLI passes it


@given(mode=st.sampled_from(MODES), width=st.integers(1, PIXEL_LIMIT + 1), choice=st.integers(0, 4))
@PROPERTY
@example(mode="L", width=97, choice=0)
@example(mode="1", width=1, choice=0)
def test_one_pixel_over_the_limit_is_too_large_whatever_the_mode_and_format(
        recognizer, mode, width, choice):
    height = PIXEL_LIMIT // width + 1
    grey = np.full((height, width), 255, np.uint8)
    formats = formats_for(mode)
    data = encode(make_image(mode, grey, grey), formats[choice % len(formats)])
    with pytest.raises(ImageTooLarge):
        recognizer.chain.to_feature_vector(data)


@given(strokes=st.lists(st.lists(st.tuples(st.floats(-0.2, 1.2), st.floats(-0.2, 1.2)),
                                 min_size=1, max_size=8), min_size=1, max_size=4),
       size=st.integers(8, 96), width=st.integers(1, 30))
@PROPERTY
def test_random_strokes_on_a_canvas_are_a_digit_or_an_empty_image(recognizer, strokes, size,
                                                                   width):
    drawing = canvas_drawing(strokes, size=size, width=width)
    result = read_or_typed_error(recognizer, encode(drawing))
    assert not isinstance(result, DigitReaderError) or isinstance(result, EmptyImage)


@given(array=st.integers(0, 3).flatmap(lambda ndim: st.lists(
    st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=64)
    .map(lambda values: np.array(values, dtype=np.float32).reshape(
        (-1,) if ndim != 2 else (-1, 1) if len(values) % 2 else (-1, 2)))))
@PROPERTY
def test_any_ink_array_is_a_typed_error_or_an_answer(recognizer, array):
    read_or_typed_error(recognizer, array)


# -- ink where it should be, in every mode and format -------------------------------

BAR = np.full((48, 40), 255, np.uint8)
BAR[8:40, 17:23] = 0  # a dark vertical bar on white paper: a 1


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_reads_its_ink_where_it_was_drawn(mode):
    for fmt in (None, *formats_for(mode)):
        image = make_image(mode, BAR, np.full_like(BAR, 255))
        if fmt is not None:
            image = open_image(encode(image, fmt, **({"quality": 95} if fmt == "JPEG" else {})),
                               PIXEL_LIMIT)
        ink = ink_from_image(image)
        assert ink.shape == BAR.shape, (mode, fmt)
        assert ink[20:30, 18:22].mean() > 0.8, (mode, fmt, image.mode)
        assert ink[:, :12].mean() < 0.1 and ink[:4].mean() < 0.1, (mode, fmt, image.mode)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "I;16"])
def test_a_transparent_colour_key_is_paper_even_when_it_is_black(mode):
    # black paper marked transparent (PNG tRNS), a grey stroke: the stroke is the ink
    grey = np.zeros_like(BAR)
    grey[8:40, 17:23] = 128 if mode != "1" else 255
    image = make_image(mode, grey, grey)
    key = {"1": 0, "L": 0, "P": image.getpixel((0, 0)), "RGB": (0, 0, 0), "I;16": 0}[mode]
    opened = open_image(encode(image, "PNG", transparency=key), PIXEL_LIMIT)
    ink = ink_from_image(opened)
    assert ink[:, :12].mean() < 0.1, opened.mode
    if mode != "1":  # a 1-bit image's only other colour is white: no ink at all
        assert ink[20:30, 18:22].mean() > 0.3, opened.mode


def test_a_canvas_drawing_kept_in_the_alpha_channel_of_any_alpha_mode_is_ink():
    for mode in ("LA", "RGBA"):
        for fmt in ("PNG", "WEBP"):
            image = make_image(mode, np.zeros_like(BAR), (255 - BAR).astype(np.uint8))
            ink = ink_from_image(open_image(encode(image, fmt, lossless=True), PIXEL_LIMIT))
            assert ink[20:30, 18:22].mean() > 0.8 and ink[:, :12].mean() < 0.1, (mode, fmt)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_an_animation_is_read_as_its_first_frame_in_every_animated_format(fmt):
    first = Image.fromarray(BAR).convert("RGB")
    blank = Image.new("RGB", BAR.shape[::-1], "white")
    options = {"lossless": True} if fmt == "WEBP" else {}
    for frames, inked in (([first, blank], True), ([blank, first], False)):
        data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)
        ink = ink_from_image(open_image(data, PIXEL_LIMIT))
        assert (ink[20:30, 18:22].mean() > 0.8) == inked


def test_an_adobe_cmyk_jpeg_has_its_ink_where_it_was_drawn():
    image = Image.fromarray(BAR).convert("CMYK")
    ink = ink_from_image(open_image(encode(image, "JPEG", quality=95), PIXEL_LIMIT))
    assert ink[20:30, 18:22].mean() > 0.8 and ink[:, :12].mean() < 0.1


def test_float_images_with_nan_or_infinity_are_read_without_error(recognizer):
    values = (255 - BAR).astype(np.float32)
    values[0, 0], values[0, 1], values[1, 0] = np.nan, np.inf, -np.inf
    read_or_typed_error(recognizer, Image.fromarray(255 - values))
    read_or_typed_error(recognizer, values)


# -- decompression bombs --------------------------------------------------------------


def header_only_bomb(fmt, width, height):
    """A header claiming ``width`` x ``height``, with next to no pixel data."""
    if fmt == "GIF":
        return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
                + b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02D\x01\x00;")
    if fmt == "BMP":
        return (b"BM" + struct.pack("<IHHI", 70, 0, 0, 54)
                + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 16, 0, 0, 0, 0)
                + b"\0" * 16)
    if fmt == "JPEG":
        return (b"\xff\xd8" + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1)
                + b"\x01\x11\x00" + b"\xff\xd9")
    raise ValueError(fmt)


def test_a_decompression_bomb_png_is_refused_fast_without_decoding_it():
    data = png_bomb(20000, 20000)  # 400 megapixels in about 50 KB
    assert len(data) < 100_000
    chain = ImageChain(max_pixels=16_000_000)
    with pytest.raises(ImageTooLarge):
        chain.to_feature_vector(data)
    over_ours_only = png_bomb(5000, 4000)  # over our limit: Pillow, held to it, refuses it
    with pytest.raises(ImageTooLarge, match="20,000,000 pixels"):
        chain.to_feature_vector(over_ours_only)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "JPEG"])
@pytest.mark.parametrize("side", [5000, 30000])
def test_a_header_claiming_too_many_pixels_is_too_large_in_every_format(fmt, side):
    with pytest.raises(ImageTooLarge):
        open_image(header_only_bomb(fmt, side, side), 16_000_000)


def test_the_bomb_is_refused_within_a_fraction_of_a_second_through_the_api(client):
    import time

    started = time.perf_counter()
    response = client.post("/api/predict", data=png_bomb(20000, 20000),
                        content_type="image/png")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "image_too_large"
    assert time.perf_counter() - started < 2.0


# -- the API ----------------------------------------------------------------------------

CONTENT_TYPES = ("application/json", "image/png", "image/jpeg", "application/octet-stream",
                 "multipart/form-data", "multipart/form-data; boundary=x", "text/plain",
                 "application/x-www-form-urlencoded", "", "image/svg+xml",
                 "application/json; charset=latin-1")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10),
                                                                      children, max_size=4),
    max_leaves=12)


@given(path=st.sampled_from(["/api/predict", "/api/read"]),
       content_type=st.sampled_from(CONTENT_TYPES), body=st.binary(max_size=2048))
@PROPERTY
def test_any_body_of_any_type_is_answered_without_a_server_error(api, path, content_type, body):
    assert_api_answer(api.post(path, data=body, content_type=content_type or None))


@given(path=st.sampled_from(["/api/predict", "/api/read"]), body=json_values,
       image=st.one_of(st.none(), st.text(max_size=200), json_values,
                       st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())),
       extra=st.dictionaries(st.sampled_from(["filename", "source"]), json_values))
@PROPERTY
def test_any_json_is_answered_without_a_server_error(api, path, body, image, extra):
    if isinstance(body, dict) and image is not None:
        body = {**body, "image": image, **extra}
    assert_api_answer(api.post(path, json=body))


@given(data=st.data(), mode=st.sampled_from(MODES), choice=st.integers(0, 4),
       form=st.sampled_from(["json", "multipart", "raw"]),
       path=st.sampled_from(["/api/predict", "/api/read"]))
@PROPERTY
def test_any_valid_image_in_any_form_is_a_digit_or_a_client_error(api, data, mode, choice,
                                                                   form, path):
    picture = data.draw(pictures())
    formats = formats_for(mode)
    image = encode(make_image(mode, *picture), formats[choice % len(formats)])
    if form == "json":
        response = api.post(path, json={"image": base64.b64encode(image).decode()})
    elif form == "multipart":
        response = api.post(path, data={"image": (io.BytesIO(image), "x.img")},
                            content_type="multipart/form-data")
    else:
        response = api.post(path, data=image, content_type="application/octet-stream")
    body = assert_api_answer(response)
    if response.status_code != 200:
        assert body["error"]["code"] in {"empty_image", "payload_too_large", "invalid_image"}


def dot_grid(side, step=3):
    grid = np.full((side, side), 255, np.uint8)
    grid[::step, ::step] = 0
    return encode(Image.fromarray(grid))


def test_a_picture_of_many_specks_is_not_read_as_a_number(api):
    response = api.post("/api/read", data=dot_grid(90), content_type="image/png")  # 900 dots
    assert response.status_code in {400, 422}, response.get_json().get("number", "")[:20]


def test_a_lone_speck_is_blank_for_reading_a_number_as_for_one_digit(api):
    grey = np.full((96, 96), 128, np.uint8)
    grey[0, 0] = 0
    data = encode(Image.fromarray(grey))
    assert api.post("/api/predict", data=data, content_type="image/png").status_code == 422
    assert api.post("/api/read", data=data, content_type="image/png").status_code == 422


@given(size=st.integers(UPLOAD_LIMIT - 64, UPLOAD_LIMIT + 4096),
       form=st.sampled_from(["raw", "json", "multipart"]))
@settings(PROPERTY, max_examples=20)
def test_a_body_over_the_upload_limit_is_413_and_never_a_server_error(api, size, form):
    filler = b"\0" * size
    if form == "raw":
        response = api.post("/api/predict", data=filler, content_type="image/png")
    elif form == "json":
        response = api.post("/api/predict", json={"image": base64.b64encode(filler).decode()})
    else:
        response = api.post("/api/predict", data={"image": (io.BytesIO(filler), "big.png")},
                            content_type="multipart/form-data")
    assert_api_answer(response)
    if size > UPLOAD_LIMIT:  # every form is at least as long as the bytes it carries
        assert response.status_code == 413


@given(query=st.dictionaries(st.sampled_from(["limit", "before", "other"]),
                             st.one_of(st.text(max_size=12), st.integers().map(str)), max_size=3),
       ident=st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=12)))
@PROPERTY
def test_history_queries_and_ids_are_never_a_server_error(api, query, ident):
    from urllib.parse import quote

    assert api.get("/api/predictions", query_string=query).status_code in {200, 400}
    for path in (f"/api/predictions/{quote(ident, safe='')}",
                 f"/api/predictions/{quote(ident, safe='')}/image"):
        assert api.get(path).status_code in {200, 400, 404}
    response = api.put(f"/api/predictions/{quote(ident, safe='')}/label",
                       json={"label": 3})
    assert response.status_code in {200, 400, 404}
