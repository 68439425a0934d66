"""The image chain: from the bytes a client sends to the 8x8, 0-16 features of
scikit-learn's digits set.

Each step is a small pure function. ``ImageChain`` strings them together as a
scikit-learn transformer, so that training, evaluation and serving run the very
same steps. The 8x8 form is the one the UCI optdigits set was made with: a
32x32 bitmap whose longer side fills the box, ink counted in 4x4 blocks.
"""

import base64
import binascii
import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin

from app.errors import EmptyImage, ImageTooLarge, InvalidImage

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
BOX_SIZE = 32  # the optdigits bitmap
BLOCK_SIZE = 4  # 32 / 4 = 8 blocks a side, each counting 0-16 ink pixels
FEATURE_SIZE = (BOX_SIZE // BLOCK_SIZE) ** 2

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[^;,]*)*;base64,", re.I)


# -- decode -----------------------------------------------------------------


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
    text = re.sub(r"\s+", "", text)
    try:
        # URL-safe alphabets and missing padding are common from browsers and scripts.
        text = text.replace("-", "+").replace("_", "/")
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage("The image is not valid base64.") from None
    if not data:
        raise InvalidImage("The image is empty.")
    return data


def open_image(data, max_pixels):
    """Decode image bytes to a Pillow image: its first frame, upright.

    The pixel count is checked from the header, before any pixel is decoded.
    """
    if not data:
        raise InvalidImage("The image is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise ImageTooLarge(_too_large_message(max_pixels)) from None
    except Image.DecompressionBombWarning:
        raise ImageTooLarge(_too_large_message(max_pixels)) from None
    except Image.UnidentifiedImageError:
        raise InvalidImage(
            "The image could not be decoded: send a PNG, JPEG, GIF, WebP or BMP."
        ) from None
    except Exception as error:  # Pillow's parsers raise many types on hostile headers.
        raise InvalidImage(f"The image could not be decoded ({type(error).__name__}).") from None

    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(_too_large_message(max_pixels, width, height))
    if width < 1 or height < 1:
        raise InvalidImage("The image has no pixels.")
    try:
        image.seek(0)  # an animation is read as its first frame
        image = ImageOps.exif_transpose(image)
        image.load()
    except Exception as error:  # truncated or corrupt pixel data, in any decoder
        raise InvalidImage(f"The image could not be decoded ({type(error).__name__}).") from None
    return image


def _too_large_message(max_pixels, width=None, height=None):
    size = f" ({width}x{height})" if width else ""
    return f"The image{size} has more than the {max_pixels:,} pixels accepted."


# -- from a picture to ink --------------------------------------------------


def flatten_onto_white(image):
    """An opaque RGB (or 16-bit greyscale) image: transparency composited onto white.

    Canvas drawings are black ink in the alpha channel on a transparent ground,
    so the alpha channel must decide what is ink.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return image  # greyscale with no transparency; to_greyscale scales it
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
        ground = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(ground, image).convert("RGB")
    return image.convert("RGB")


def to_greyscale(image):
    """Lightness as floats in [0, 1], 1 being white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        return np.clip(values / top, 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def invert(grey):
    """Ink high: 1 is full ink, 0 is paper."""
    return 1.0 - grey


def remove_background(ink, min_contrast=0.15):
    """Stretch ink so that paper is 0 and the darkest stroke is 1.

    A photo's paper is seldom white: its level is taken from the lightest tenth
    of the picture (not the median: a digit may cover half of a tight crop).
    An image with too little contrast between paper and ink holds no digit.
    """
    ground = float(np.percentile(ink, 10))
    top = float(ink.max())
    if top - ground < min_contrast:
        raise EmptyImage()
    return np.clip((ink - ground) / (top - ground), 0.0, 1.0)


def crop_to_ink(ink, threshold=0.35, min_ink_fraction=2e-4):
    """The smallest rectangle holding all the ink."""
    mask = ink > threshold
    if mask.sum() < max(1, min_ink_fraction * mask.size):
        raise EmptyImage()
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


# -- from ink to the optdigits form ------------------------------------------


def fit_into_box(ink, size=BOX_SIZE):
    """Scale so that the longer side is ``size``, keeping the aspect ratio."""
    height, width = ink.shape
    scale = size / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(
        new_size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def centre(ink, size=BOX_SIZE):
    """Place the ink in the middle of a ``size`` x ``size`` square."""
    height, width = ink.shape
    square = np.zeros((size, size), dtype=np.float32)
    top, left = (size - height) // 2, (size - width) // 2
    square[top:top + height, left:left + width] = ink
    return square


def to_bitmap(ink, threshold=0.35):
    """Ink or no ink, as the optdigits scanner saw it."""
    return ink > threshold


def normalise_stroke(bitmap, width=4.0):
    """Thicken thin strokes to the pen width of the optdigits bitmaps.

    The stroke width is estimated as twice the mean depth of ink, from the
    distance transform; a thinner stroke is dilated until it is about ``width``
    pixels wide. Thick strokes are left as they are.
    """
    if not bitmap.any():
        return bitmap
    depth = ndimage.distance_transform_edt(bitmap)
    estimated = 2.0 * depth[bitmap].mean()
    steps = int(round((width - estimated) / 2.0))
    if steps <= 0:
        return bitmap
    return ndimage.binary_dilation(bitmap, iterations=steps)


def count_blocks(bitmap, block=BLOCK_SIZE):
    """Ink pixels in each ``block`` x ``block`` cell: the 8x8, 0-16 features."""
    rows, cols = bitmap.shape[0] // block, bitmap.shape[1] // block
    return bitmap.reshape(rows, block, cols, block).sum(axis=(1, 3)).astype(np.float64)


# -- the chain ---------------------------------------------------------------


def ink_from_image(image):
    """Ink (high) in [0, 1] from a Pillow image of dark ink on light paper,
    or of ink in the alpha channel."""
    return invert(to_greyscale(flatten_onto_white(image)))


class ImageChain(TransformerMixin, BaseEstimator):
    """Turn images into the 64 features of scikit-learn's digits set.

    ``transform`` accepts a sequence of image bytes (PNG, JPEG, GIF, WebP, BMP),
    Pillow images, or 2-D arrays of ink intensity (ink high, paper 0, such as
    MNIST or optdigits bitmaps), and returns an ``(n, 64)`` array.
    """

    def __init__(self, max_pixels=16_000_000, ink_threshold=0.35, stroke_width=4.0):
        self.max_pixels = max_pixels
        self.ink_threshold = ink_threshold
        self.stroke_width = stroke_width

    def fit(self, X=None, y=None):
        return self

    def transform(self, X):
        return np.stack([self.to_feature_vector(item) for item in X]) if len(X) else (
            np.empty((0, FEATURE_SIZE))
        )

    def to_bitmap(self, item):
        """The 32x32 bitmap the model sees, for one image."""
        if isinstance(item, (bytes, bytearray, memoryview)):
            item = open_image(bytes(item), self.max_pixels)
        if isinstance(item, Image.Image):
            ink = ink_from_image(item)
        else:
            ink = np.asarray(item, dtype=np.float32)
            if ink.ndim != 2:
                raise InvalidImage("An array image must be two-dimensional.")
            ink = ink / max(float(ink.max()), 1e-9)
        ink = remove_background(ink)
        ink = crop_to_ink(ink, self.ink_threshold)
        square = centre(fit_into_box(ink))
        return normalise_stroke(to_bitmap(square, self.ink_threshold), self.stroke_width)

    def to_feature_vector(self, item):
        """The 64 features (8x8 ink counts, 0-16) the classifier reads, for one image."""
        return count_blocks(self.to_bitmap(item)).ravel()
