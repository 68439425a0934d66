"""From what a client sends to a picture: base64 and image bytes decoded, or refused."""

import base64

import numpy as np
import pytest
from PIL import Image

from app.errors import ImageTooLarge, InvalidImage
from app.imaging.decode import decode_base64_image, open_image
from conftest import ONE, ZERO, canvas_drawing, encode, on_paper

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
