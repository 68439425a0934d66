"""Drawn digits in every kind of picture, and comparing the fast route with bench's straight one."""

import io

import numpy as np
from PIL import Image

from app.errors import DigitReaderError
from bench.canvas_body import canvas_png
from bench.renders import photo_jpeg
from conftest import encode


def drawn(index):
    """The ``index``-th canvas drawing: a digit, each a little different."""
    image = Image.open(io.BytesIO(canvas_png(index % 10, jitter=0.08, seed=index)))
    image.load()
    return image


def on_white(image):
    return Image.alpha_composite(Image.new("RGBA", image.size, (255,) * 4), image)


def translucent(image, index):
    """The drawing in a colour, fainter and fainter."""
    colour = Image.new("RGBA", image.size, (40 * (index % 5), 90, 160 - 30 * (index % 4), 0))
    colour.putalpha(image.getchannel("A").point(lambda alpha: alpha * (index % 4 + 1) // 4))
    return colour


def keyed(image):
    """Dark red ink on a black ground that is marked transparent (a colour key)."""
    picture = Image.new("RGB", image.size)
    picture.paste((90, 20, 20), mask=image.getchannel("A"))
    return encode(picture, transparency=(0, 0, 0))


PICTURES = {
    "canvas PNG": lambda i: canvas_png(i % 10, jitter=0.08, seed=i),
    "white-fill canvas PNG": lambda i: encode(on_white(drawn(i))),
    "white RGB PNG": lambda i: encode(on_white(drawn(i)).convert("RGB")),
    "greyscale PNG": lambda i: encode(on_white(drawn(i)).convert("L")),
    "photo JPEG": lambda i: photo_jpeg(np.asarray(drawn(i).getchannel("A")), seed=i),
    "greyscale photo JPEG": lambda i: encode(
        Image.open(io.BytesIO(photo_jpeg(np.asarray(drawn(i).getchannel("A")), seed=i)))
        .convert("L"), "JPEG", quality=60 + i),
    "LA PNG": lambda i: encode(drawn(i).convert("LA")),
    "palette PNG": lambda i: encode(on_white(drawn(i)).convert("P")),
    "GIF with a transparent index": lambda i: encode(drawn(i), "GIF"),
    "1-bit PNG": lambda i: encode(on_white(drawn(i)).convert("1")),
    "16-bit PNG": lambda i: encode(Image.fromarray(
        np.asarray(on_white(drawn(i)).convert("L")).astype(np.uint16) * 257)),
    "translucent coloured ink": lambda i: encode(translucent(drawn(i), i)),
    "colour-keyed RGB PNG": lambda i: keyed(drawn(i)),
    "WebP": lambda i: encode(on_white(drawn(i)), "WEBP"),
    "CMYK JPEG": lambda i: encode(on_white(drawn(i)).convert("CMYK"), "JPEG"),
}


def outcome(function, *args):
    """What ``function(*args)`` gives: its result, or the type of error it raises."""
    try:
        return function(*args)
    except DigitReaderError as error:
        return type(error)


def same(expected, found):
    if isinstance(expected, type) or isinstance(found, type):
        return expected is found
    return expected.dtype == found.dtype and np.array_equal(expected, found)
