"""The PNGs the service keeps and shows: a prediction's input as stored, and
the 8x8 features the model read, enlarged."""

import io
import struct

import numpy as np
from PIL import Image

from app.imaging.ink import WIDE_GREY_MODES, reduce_flattened, to_greyscale
from app.imaging.shape import BLOCK_SIZE, BOX_SIZE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID = BOX_SIZE // BLOCK_SIZE  # the features: 8x8 counts of ink
MAX_COUNT = BLOCK_SIZE * BLOCK_SIZE  # 0-16 ink pixels a block
FEATURE_SCALE = 16  # pixels a side per feature in the enlarged picture


def archive_png(image, data, max_side, max_bytes):
    """The input as kept with its prediction: a PNG of at most ``max_side``
    pixels a side and ``max_bytes`` bytes that reads through the chain as the
    input did.

    A PNG within bounds (a canvas drawing) is kept as sent: encoding it again
    would cost more than reading it. Anything else is flattened onto white,
    made greyscale and shrunk (reduced before it is flattened whole, which
    would cost 250 MB for a picture of 16 million pixels).
    """
    if _fits_as_sent(image, data, max_side, max_bytes):
        return data
    kept = _eight_bit_grey(reduce_flattened(image, max_side))
    kept.thumbnail((max_side, max_side), Image.Resampling.BOX)
    return _png(kept, compress_level=1)


def _fits_as_sent(image, data, max_side, max_bytes):
    """Whether ``data`` is a still PNG within the bounds, its size read from
    its first chunk (``image`` may have been reduced since it was decoded)."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) > max_bytes:
        return False
    return (max(struct.unpack(">II", data[16:24])) <= max_side
            and not getattr(image, "is_animated", False))


def _eight_bit_grey(image):
    """A flattened picture as 8-bit greyscale; wide greyscale scaled as the
    chain reads it (Pillow's own conversion clips it at 255: white)."""
    if image.mode in WIDE_GREY_MODES:
        return Image.fromarray(np.round(to_greyscale(image) * 255).astype(np.uint8))
    return image.convert("L")


def features_png(features, scale=FEATURE_SCALE):
    """The 64 features (bytes or an array of counts 0-16) as a greyscale PNG,
    ink dark, each feature ``scale`` pixels a side."""
    if isinstance(features, (bytes, bytearray, memoryview)):
        features = np.frombuffer(features, dtype=np.uint8)
    counts = np.asarray(features, dtype=float).reshape(GRID, GRID)
    paper = 255 - np.round(counts * 255 / MAX_COUNT).astype(np.uint8)
    side = GRID * scale
    return _png(Image.fromarray(paper, "L").resize((side, side), Image.Resampling.NEAREST))


def _png(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()
