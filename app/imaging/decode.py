"""Image bytes to a Pillow image: data URIs and base64, the accepted formats,
the limits (pixels, side, a JPEG's scans) checked from the header before any
pixel is decoded, and a large picture reduced as soon as it is."""

import base64
import binascii
import io
import re
import threading
import warnings
from contextlib import contextmanager

import pyspng
from PIL import Image, ImageOps

from app.errors import ImageTooLarge, InvalidImage
from app.imaging.ink import WIDE_GREY_MODES, WORKING_SIDE, reduce_flattened, reduced_size

# The one list of accepted formats: Pillow's name and the media type of each.
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
               "WEBP": "image/webp", "BMP": "image/bmp"}
ACCEPTED_FORMATS = tuple(IMAGE_TYPES)
MEDIA_TYPES = tuple(IMAGE_TYPES.values())
FORMAT_NAMES = "PNG, JPEG, GIF, WebP or BMP"  # as people read the list

JPEG_SIGNATURE = b"\xff\xd8"
JPEG_FORMATS = ("JPEG", "MPO")  # Pillow opens a JPEG with a multi-picture index as MPO
START_OF_SCAN = b"\xff\xda"  # a JPEG marker, one before each scan
# Defaults for callers outside the service, which passes its settings of the
# same names (MAX_IMAGE_SIDE, MAX_JPEG_SCANS). A baseline JPEG has a scan per
# colour channel, a progressive one about ten.
MAX_SIDE = 16_384
MAX_JPEG_SCANS = 100

# Pillow only warns for an image between its limit and twice that; any image
# over its limit is a decompression bomb here (open_header also says so while it
# holds the limit, in case something reset the warning filters).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[^;,]*)*;base64,", re.I)


def decode_base64_image(text):
    """The bytes of an image given as a data URI or as bare base64."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidImage("The image must be a non-empty data URI or base64 string.")
    text = text.strip()
    match = _DATA_URI.match(text)
    if match:
        text = text[match.end():]
    elif text.startswith("data:"):
        raise InvalidImage("A data URI image must be base64-encoded (';base64,').")
    try:
        data = _strict_b64decode(text)
    except (binascii.Error, ValueError):
        try:  # line breaks and spaces, as some encoders wrap base64: read past them
            data = _strict_b64decode(re.sub(r"\s+", "", text))
        except (binascii.Error, ValueError):
            raise InvalidImage("The image is not valid base64.") from None
    if not data:
        raise InvalidImage("The image is empty.")
    return data


def _strict_b64decode(text):
    # URL-safe alphabets and missing padding are common from browsers and scripts.
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def open_image(data, max_pixels, max_side=MAX_SIDE, max_jpeg_scans=MAX_JPEG_SCANS,
               working_side=WORKING_SIDE):
    """Decode image bytes to a Pillow image: its first frame, upright, at most
    about ``working_side`` a side (``open_header``, then ``load_pixels``)."""
    return load_pixels(open_header(data, max_pixels, max_side, max_jpeg_scans), working_side,
                       data)


def open_header(data, max_pixels, max_side=MAX_SIDE, max_jpeg_scans=MAX_JPEG_SCANS):
    """Image bytes opened as far as their header, every limit checked before
    any pixel is decoded.

    ``Image.open`` reads only the header, so a small file that claims a huge
    picture (a decompression bomb) is refused without allocating it. A
    decoder holds whole rows (a PNG's two, at up to 8 bytes a pixel), so a
    side is bounded as well as the pixels. A JPEG is decoded a scan at a
    time, each a pass over the whole picture, so its scans are counted first:
    a few bytes make a scan, and ten thousand pin a worker.
    """
    if not data:
        raise InvalidImage("The image is empty.")
    if data[:2] == JPEG_SIGNATURE:
        _check_jpeg_scans(data, max_jpeg_scans)
    try:
        with _pillow_pixel_limit(max_pixels):
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        raise ImageTooLarge(_too_large_message(
            max_pixels, pixels=int(claimed.group(1)) if claimed else None)) from None
    except Image.UnidentifiedImageError:
        raise InvalidImage(
            f"The image could not be decoded: send a {FORMAT_NAMES}."
        ) from None
    except Exception as error:  # Pillow's parsers raise many types on hostile headers.
        raise InvalidImage(f"The image could not be decoded ({type(error).__name__}).") from None

    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage("The image has no pixels.")
    if width * height > max_pixels:
        raise ImageTooLarge(_too_large_message(max_pixels, width, height))
    if max(width, height) > max_side:
        raise ImageTooLarge(f"The image ({width}x{height}) has a side longer than the "
                            f"{max_side:,} pixels accepted.")
    return image


def load_pixels(image, working_side=WORKING_SIDE, data=None):
    """The pixels of an image opened by ``open_header``: its first frame,
    upright, at most about ``working_side`` a side.

    A larger picture is reduced as soon as it is decoded, as the chain would
    reduce it (``reduce_flattened``), so that no later step holds it whole
    and the features are the same to the last bit; a JPEG is even decoded at
    a fraction of its size (libjpeg's scaled decoding). Wide greyscale is
    left whole: the chain reads it at its own depth. Given its bytes
    (``data``), a canvas drawing's PNG is decoded by libspng
    (``decode_canvas_png``).
    """
    if data is not None and is_canvas_png(image, data, working_side):
        return decode_canvas_png(data)
    try:
        image.seek(0)  # an animation is read as its first frame
        if image.format in JPEG_FORMATS and max(image.size) > working_side:
            image.draft(None, reduced_size(image.size, working_side))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # no copy of the whole picture
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge() from None
    except Exception as error:  # truncated or corrupt pixel data, in any decoder
        raise InvalidImage(f"The image could not be decoded ({type(error).__name__}).") from None
    if max(image.size) > working_side and image.mode not in WIDE_GREY_MODES:
        return reduce_flattened(image, working_side)
    return image


def is_canvas_png(image, data, working_side=WORKING_SIDE):
    """Whether ``data`` is a PNG as a browser's canvas makes it: 8-bit RGBA
    (colour type 6), not interlaced, one frame, no EXIF orientation, within
    ``working_side``. Read from its header chunk, so that nothing Pillow would
    have turned or reduced takes the other decoder."""
    return (image.format == "PNG" and data[12:16] == b"IHDR" and data[24:26] == b"\x08\x06"
            and data[28] == 0 and max(image.size) <= working_side
            and not getattr(image, "is_animated", False) and b"eXIf" not in data)


def decode_canvas_png(data):
    """A canvas PNG decoded by libspng (pyspng), the same pixels as Pillow's
    decoder gives in two thirds of its time (bench.request_profile): of a
    canvas drawing's whole reading, decoding was the dearest step after the
    chain."""
    try:
        pixels = pyspng.load(data)
    except Exception as error:  # truncated or corrupt pixel data
        raise InvalidImage(f"The image could not be decoded ({type(error).__name__}).") from None
    return Image.fromarray(pixels)  # (height, width, 4) bytes: RGBA


def _check_jpeg_scans(data, max_scans):
    """InvalidImage when a JPEG has more than ``max_scans`` scans.

    Every scan starts with a start-of-scan marker, and the coded data of a
    scan never holds those two bytes (an 0xFF there is followed by 0x00 or a
    restart marker), so their count bounds the scans; metadata (an EXIF
    thumbnail) may add a few, far below any bound worth setting.
    """
    scans = data.count(START_OF_SCAN)
    if scans > max_scans:
        raise InvalidImage(f"The JPEG has {scans:,} scans: more than the {max_scans} accepted.")


_PIXEL_LIMIT_LOCK = threading.Lock()


@contextmanager
def _pillow_pixel_limit(max_pixels):
    """Pillow's own decompression-bomb limit lowered to ours while a header is
    read (its warning is an error, see above). The limit is process-wide and
    chains with other limits share the process, so it is set under a lock and
    put back; the explicit check in open_header holds either way."""
    with _PIXEL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _too_large_message(max_pixels, width=None, height=None, pixels=None):
    if width:
        size = f" ({width}x{height})"
    elif pixels:
        size = f" ({pixels:,} pixels)"
    else:
        size = ""
    return f"The image{size} has more than the {max_pixels:,} pixels accepted."
