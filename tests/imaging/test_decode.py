"""From what a client sends to a picture: base64 and image bytes decoded, or refused."""

import base64
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from app.errors import ImageTooLarge, InvalidImage
from app.imaging.chain import ImageChain
from app.imaging.decode import decode_base64_image, is_canvas_png, open_image
from app.imaging.ink import WORKING_SIDE, reduced_size
from bench.renders import blank_png, jpeg_scan_bomb, seven_png
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, on_paper

ROOT = Path(__file__).resolve().parents[2]

PNG = encode(canvas_drawing(ONE))


def test_a_data_uri_decodes_to_the_image_bytes():
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert decode_base64_image(uri) == PNG


def test_bare_base64_decodes_to_the_image_bytes():
    assert decode_base64_image(base64.b64encode(PNG).decode()) == PNG


def test_url_safe_unpadded_base64_with_line_breaks_decodes_too():
    text = base64.urlsafe_b64encode(PNG).decode().rstrip("=")
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    assert decode_base64_image(wrapped) == PNG


@pytest.mark.parametrize("text", ["", "   ", "not base64!", "data:image/png,rawtext", "====",
                                  "data:image/png;base64,"])
def test_text_that_is_not_base64_is_an_invalid_image(text):
    with pytest.raises(InvalidImage):
        decode_base64_image(text)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_every_accepted_format_opens(fmt):
    image = on_paper(canvas_drawing(ONE))
    opened = open_image(encode(image, fmt), max_pixels=10**6)
    assert opened.size == image.size


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_bytes_that_are_no_image_are_an_invalid_image(data):
    with pytest.raises(InvalidImage):
        open_image(data, max_pixels=10**6)


def test_a_format_outside_the_accepted_ones_is_an_invalid_image():
    with pytest.raises(InvalidImage):
        open_image(encode(Image.new("RGB", (8, 8)), "TIFF"), max_pixels=10**6)


def test_a_truncated_png_is_an_invalid_image():
    with pytest.raises(InvalidImage):
        open_image(PNG[: len(PNG) // 2], max_pixels=10**6)


def pillow_pixels(data):
    """The pixels Pillow's own decoder gives, as an array."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image)


@pytest.mark.parametrize("strokes", [ONE, SEVEN, ZERO], ids=["1", "7", "0"])
def test_a_canvas_png_is_decoded_by_libspng_to_pillow_s_very_pixels(strokes, monkeypatch):
    data = encode(canvas_drawing(strokes))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("Pillow decoded it"))
    opened = open_image(data, max_pixels=10**6)
    monkeypatch.undo()
    assert opened.mode == "RGBA" and np.array_equal(np.asarray(opened), pillow_pixels(data))


@pytest.mark.parametrize("picture", [
    lambda: encode(canvas_drawing(SEVEN).convert("LA")),  # grey and alpha: colour type 4
    lambda: encode(on_paper(canvas_drawing(SEVEN))),  # RGB, no alpha
    lambda: encode(canvas_drawing(SEVEN).resize((2000, 2000))),  # larger than the working side
], ids=["LA", "RGB", "large"])
def test_other_pngs_are_left_to_pillow(picture):
    data = picture()
    opened = open_image(data, max_pixels=10**7)
    header = Image.open(io.BytesIO(data))
    assert not is_canvas_png(header, data)
    assert opened.size == reduced_size(header.size)


def test_a_truncated_canvas_png_is_an_invalid_image():
    data = encode(canvas_drawing(SEVEN))
    with pytest.raises(InvalidImage):
        open_image(data[: len(data) * 3 // 4], max_pixels=10**6)


def test_too_many_pixels_is_refused_from_the_header():
    data = encode(Image.new("L", (2000, 1000), 255))
    with pytest.raises(ImageTooLarge, match="2,000,000 pixels"):
        open_image(data, max_pixels=1_999_999)


def test_the_first_frame_of_an_animation_is_read():
    first = on_paper(canvas_drawing(ONE)).convert("P")
    second = on_paper(canvas_drawing(ZERO)).convert("P")
    data = encode(first, "GIF", save_all=True, append_images=[second])
    opened = open_image(data, max_pixels=10**6)
    assert np.array_equal(np.asarray(opened.convert("L")), np.asarray(first.convert("L")))


def test_exif_orientation_is_applied():
    wide = Image.new("L", (40, 20), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the upright picture is 20 wide, 40 high
    opened = open_image(encode(wide, "JPEG", exif=exif), max_pixels=10**6)
    assert opened.size == (20, 40)


# -- what a picture may cost ------------------------------------------------------------


def test_a_jpeg_of_thousands_of_scans_is_refused_before_it_is_decoded():
    bomb = jpeg_scan_bomb(2000, 1000)  # 30 KB, 1.5 s of decoding
    started = time.perf_counter()
    with pytest.raises(InvalidImage, match="1,000 scans: more than the 100 accepted"):
        open_image(bomb, max_pixels=16_000_000)
    assert time.perf_counter() - started < 0.5


def test_a_progressive_jpeg_of_its_usual_scans_is_read():
    photo = on_paper(canvas_drawing(SEVEN))
    opened = open_image(encode(photo, "JPEG", progressive=True), max_pixels=10**6)
    assert opened.size == photo.size
    with pytest.raises(InvalidImage):
        open_image(encode(photo, "JPEG", progressive=True), max_pixels=10**6, max_jpeg_scans=3)


def test_a_side_longer_than_the_limit_is_refused_from_the_header():
    row = blank_png(16_000_000, 1)  # 31 KB, a 64 MB row
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="16000000x1"):
        open_image(row, max_pixels=16_000_000)
    assert time.perf_counter() - started < 1.0  # decoding the row would take several
    with pytest.raises(ImageTooLarge, match="longer than the 99 pixels"):
        open_image(blank_png(100, 1), max_pixels=16_000_000, max_side=99)


def large_picture(mode):
    """A 7 on a 1500x1100 picture in ``mode``, with a transparent ground where
    the mode can have one."""
    drawing = canvas_drawing(SEVEN, size=1100, width=80).crop((-200, 0, 1300, 1100))
    if mode in ("L", "RGB"):
        return Image.alpha_composite(Image.new("RGBA", drawing.size, (255,) * 4),
                                     drawing).convert(mode)
    if mode == "1":
        keyed = Image.new("1", drawing.size, 1)
        keyed.paste(0, mask=drawing.getchannel("A"))
        keyed.info["transparency"] = 1
        return keyed
    if mode == "P":
        return drawing.convert("P")  # with a transparent index
    return drawing.convert(mode)


@pytest.mark.parametrize("mode", ["LA", "RGBA", "P", "1", "L", "RGB"])
def test_a_large_picture_is_reduced_once_decoded_and_reads_the_same_to_the_last_bit(mode):
    data = encode(large_picture(mode))
    opened = open_image(data, max_pixels=16_000_000)
    assert max(opened.size) <= WORKING_SIDE
    whole = Image.open(io.BytesIO(data))
    whole.load()
    chain = ImageChain()
    assert np.array_equal(chain.to_feature_vector(opened), chain.to_feature_vector(whole))


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size():
    photo = on_paper(canvas_drawing(SEVEN, size=1000, width=80)).resize((4000, 3000))
    opened = open_image(encode(photo, "JPEG", quality=90), max_pixels=16_000_000)
    assert opened.size == (1000, 750)
    whole = ImageChain().to_feature_vector(photo)
    assert np.abs(ImageChain().to_feature_vector(opened) - whole).mean() < 0.5


# Run in a process of its own: the peak of resident memory (VmHWM) is this
# reading's alone, started again from where the imports left it.
MEASURE = """
import json, sys, time
from app.errors import EmptyImage
from app.imaging.chain import ImageChain
from app.imaging.decode import open_image
from app.imaging.pictures import archive_png

def megabytes(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key)) / 1024

data = open(sys.argv[1], "rb").read()
chain = ImageChain()
try:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak starts again from here
except OSError:
    pass  # the peak of the imports, well under that of a large picture
before, started = megabytes("VmRSS"), time.perf_counter()
image = open_image(data, 16_000_000)
try:
    chain.to_feature_vector(image)
    archive_png(image, data, 512, 256 * 1024)
except EmptyImage:  # a blank picture: every step but the last
    pass
print(json.dumps({"seconds": time.perf_counter() - started, "mb": megabytes("VmHWM") - before}))
"""


@pytest.mark.parametrize("picture", [
    lambda: seven_png(4000, "LA"), lambda: seven_png(4000, "RGBA"), lambda: seven_png(4000, "1"),
    lambda: blank_png(16_384, 976)], ids=["LA", "RGBA", "keyed 1-bit", "blank, 16,384 wide"])
def test_a_large_picture_is_read_and_kept_in_under_100_mb(tmp_path, picture):
    if not Path("/proc/self/status").exists():
        pytest.skip("resident memory is read from /proc (Linux)")
    path = tmp_path / "picture.png"
    path.write_bytes(picture())
    ran = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=60, check=True)
    cost = json.loads(ran.stdout)
    assert cost["mb"] < 100, cost  # 64 MB of it the decoded picture itself
    assert cost["seconds"] < 2, cost
