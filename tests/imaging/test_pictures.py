"""The PNG kept with a prediction: a canvas drawing as sent, anything else
flattened onto white, greyscale, within the settings' bounds."""

import io

import numpy as np
from PIL import Image

from app.imaging.chain import ImageChain
from app.imaging.decode import open_image
from app.imaging.pictures import archive_png
from bench.renders import seven_png
from conftest import SEVEN, canvas_drawing, encode, on_paper
from settings import Config


def kept(data, config=None):
    """The PNG kept for ``data`` with the default settings, opened."""
    config = config or Config()
    png = archive_png(open_image(data, config.MAX_IMAGE_PIXELS), data,
                      config.STORED_IMAGE_MAX_SIDE, config.STORED_IMAGE_MAX_BYTES)
    return png, Image.open(io.BytesIO(png))


def test_a_drawing_as_the_draw_page_sends_it_is_kept_byte_for_byte():
    data = encode(canvas_drawing(SEVEN, size=280))  # EXPORT_HEIGHT in draw.js, square pad
    png, image = kept(data)
    assert png == data and image.mode == "RGBA"  # in colour, with its transparency


def test_a_large_picture_is_kept_greyscale_and_small_and_reads_the_same():
    data = seven_png(4000, "LA")
    png, image = kept(data)
    assert image.format == "PNG" and image.mode == "L"
    assert max(image.size) <= Config().STORED_IMAGE_MAX_SIDE
    chain = ImageChain()
    assert np.abs(chain.to_feature_vector(png) - chain.to_feature_vector(data)).mean() < 1.0


def test_a_large_sixteen_bit_picture_is_kept_with_its_ink_not_clipped_to_white():
    grey = np.asarray(on_paper(canvas_drawing(SEVEN, size=700, width=60)).convert("L"))
    grey = 30 + grey.astype(np.uint16) * 200 // 255  # dark grey ink, as a pencil's
    sixteen = Image.fromarray(grey * 257)  # ink near 7,700, paper near 60,000: above 255
    png, image = kept(encode(sixteen))
    assert image.mode == "L" and image.getextrema()[0] < 80 and image.getextrema()[1] > 200


def test_a_png_over_the_bounds_is_never_kept_as_sent_though_it_was_reduced_when_decoded():
    config = Config()
    config.STORED_IMAGE_MAX_SIDE = 2048  # over the working side: the decoded picture is smaller
    data = seven_png(3000, "LA")
    png, image = kept(data, config)
    assert png != data and image.mode == "L" and max(image.size) <= 2048
