"""Image bytes to a Pillow image: data URIs and base64, the accepted formats,
and the pixel limit checked from the header before any pixel is decoded."""

import base64
import binascii
import io
import re
import threading
import warnings
from contextlib import contextmanager

from PIL import Image, ImageOps

from app.errors import ImageTooLarge, InvalidImage

# The one list of accepted formats: Pillow's name and the media type of each.
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
               "WEBP": "image/webp", "BMP": "image/bmp"}
ACCEPTED_FORMATS = tuple(IMAGE_TYPES)
MEDIA_TYPES = tuple(IMAGE_TYPES.values())
FORMAT_NAMES = "PNG, JPEG, GIF, WebP or BMP"  # as people read the list

# Pillow only warns for an image between its limit and twice that; any image
# over its limit is a decompression bomb here (open_image also says so while it
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


def open_image(data, max_pixels):
    """Decode image bytes to a Pillow image: its first frame, upright.

    The pixel count is checked from the header, before any pixel is decoded:
    ``Image.open`` reads only the header, so a small file that claims a huge
    picture (a decompression bomb) is refused without allocating it.
    """
    if not data:
        raise InvalidImage("The image is empty.")
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
    try:
        image.seek(0)  # an animation is read as its first frame
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # no copy of the whole picture
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(_too_large_message(max_pixels)) from None
    except Exception as error:  # truncated or corrupt pixel data, in any decoder
        raise InvalidImage(f"The image could not be decoded ({type(error).__name__}).") from None
    return image


_PIXEL_LIMIT_LOCK = threading.Lock()


@contextmanager
def _pillow_pixel_limit(max_pixels):
    """Pillow's own decompression-bomb limit lowered to ours while a header is
    read (its warning is an error, see above). The limit is process-wide and
    chains with other limits share the process, so it is set under a lock and
    put back; the explicit check in open_image holds either way."""
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
