"""The image chain: from the bytes a client sends to the 8x8, 0-16 features of
scikit-learn's digits set.

Each step is a small pure function. ``ImageChain`` strings them together as a
scikit-learn transformer, so that training, evaluation and serving run the very
same steps. The 8x8 form is the one the UCI optdigits set was made with: a
32x32 bitmap of an upright digit that fills the box height and is about 0.6 as
wide as tall, with strokes about 4 px wide, ink counted in 4x4 blocks.
"""

import base64
import binascii
import io
import re
import threading
import warnings
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin

from app.errors import EmptyImage, ImageTooLarge, InvalidImage

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
BOX_SIZE = 32  # the optdigits bitmap
BLOCK_SIZE = 4  # 32 / 4 = 8 blocks a side, each counting 0-16 ink pixels
FEATURE_SIZE = (BOX_SIZE // BLOCK_SIZE) ** 2
BACKGROUND_SAMPLE = 10_000  # pixels read to find the paper's level
WORKING_SIDE = 1024  # larger pictures are reduced to about this before the chain

# Greyscale modes kept at their own depth (not squeezed to 8 bits) until
# to_greyscale scales them.
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")

# Pillow only warns for an image between its limit and twice that; any image
# over its limit is a decompression bomb here (open_image also says so while it
# holds the limit, in case something reset the warning filters).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

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
            "The image could not be decoded: send a PNG, JPEG, GIF, WebP or BMP."
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
        image = ImageOps.exif_transpose(image)
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


# -- from a picture to ink --------------------------------------------------


def flatten_onto_white(image):
    """An opaque RGB (or wide greyscale) image: transparency composited onto white.

    Canvas drawings are black ink in the alpha channel on a transparent ground,
    so the alpha channel must decide what is ink. A colour key (PNG's tRNS on a
    greyscale, RGB or 1-bit image, a GIF's transparent index) is transparency
    too: a black ground marked transparent is paper, not ink.
    """
    if image.mode in WIDE_GREY_MODES:
        return _key_out_wide_grey(image)  # to_greyscale scales it
    if "transparency" in image.info and image.mode in ("1", "L", "P", "RGB"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
        ground = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(ground, image).convert("RGB")
    return image.convert("RGB")


def _key_out_wide_grey(image):
    """A wide greyscale image with its transparent value (if any) made white."""
    key = image.info.get("transparency")
    if not isinstance(key, int):
        return image
    values = _wide_grey_values(image)
    transparent = values == key
    if not transparent.any():
        return image
    if image.mode.startswith("I;16"):
        return Image.fromarray(np.where(transparent, 65535, values).astype(np.uint16))
    white = max(float(values.max()), 1.0)  # "I" and "F" are scaled by their brightest
    return Image.fromarray(np.where(transparent, white, values).astype(np.float32))


def _wide_grey_values(image):
    """The pixel values of a wide greyscale image as finite floats."""
    values = np.asarray(image, dtype=np.float32)
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def to_greyscale(image):
    """Lightness as floats in [0, 1], 1 being white."""
    if image.mode in WIDE_GREY_MODES:
        values = _wide_grey_values(image)
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
    The level is read from a regular sample of some 10,000 pixels: the paper's
    level is the same, at a twentieth of the cost on a canvas.
    """
    step = max(1, int(np.sqrt(ink.size / BACKGROUND_SAMPLE)))
    ground = float(np.percentile(ink[::step, ::step], 10))
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


def shrink(ink, max_side):
    """At most ``max_side`` pixels a side, by area averaging.

    The slant is measured and corrected on this small copy: a 280 px canvas
    holds no more shape than a 64 px one, and costs twenty times as much.
    """
    height, width = ink.shape
    scale = max_side / max(height, width)
    if scale >= 1:
        return ink
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(
        new_size, Image.Resampling.BOX
    )
    return np.asarray(resized, dtype=np.float32)


def measure_slant(ink, limit=1.0):
    """How far the ink leans: horizontal shift per row down, from its second moments.

    Positive leans like a backslash. The optdigits writers wrote nearly upright
    (mean slant 0.04) while MNIST and Semeion writers lean forward (-0.08, with
    twice the spread); correcting it is worth 8-10 points of accuracy. The
    limit keeps a lying stroke (a dash) from being sheared without bound.
    """
    total = float(ink.sum())
    if total <= 0:
        return 0.0
    rows = np.arange(ink.shape[0], dtype=np.float64)[:, None]
    cols = np.arange(ink.shape[1], dtype=np.float64)[None, :]
    row_mean = float((rows * ink).sum()) / total
    col_mean = float((cols * ink).sum()) / total
    spread = float(((rows - row_mean) ** 2 * ink).sum())
    if spread <= 0:
        return 0.0
    covariance = float(((rows - row_mean) * (cols - col_mean) * ink).sum())
    return float(np.clip(covariance / spread, -limit, limit))


def deskew(ink, slant):
    """Shear the ink upright: each row moves sideways by ``slant`` times its
    distance from the middle row. The canvas widens so that nothing is cut off."""
    if slant == 0:
        return ink
    height = ink.shape[0]
    pad = int(np.ceil(abs(slant) * height / 2)) + 1
    padded = np.pad(ink, ((0, 0), (pad, pad)))
    middle = (height - 1) / 2
    # output (row, col) reads input (row, col + slant * (row - middle))
    return ndimage.affine_transform(
        padded, np.array([[1.0, 0.0], [slant, 1.0]]), offset=(0.0, -slant * middle), order=1
    )


def fit_into_box(ink, size=BOX_SIZE, min_aspect=None, max_aspect=None):
    """Scale so that the height fills ``size``; bring the width within
    ``min_aspect``..``max_aspect`` times the height; never wider than ``size``.

    The optdigits bitmaps all fill the 32 px height and are almost all 0.53 to
    0.75 as wide as tall (median 0.62, for every digit, even 1), so a drawing
    is brought to that shape: a thin 1 is widened, a wide 2 narrowed. Without
    aspect limits the longer side fits and the aspect ratio is kept.
    """
    height, width = ink.shape
    new_height = size
    new_width = width * size / height
    if min_aspect is not None:
        new_width = max(new_width, min_aspect * size)
    if max_aspect is not None:
        new_width = min(new_width, max_aspect * size)
    if new_width > size:
        new_height, new_width = height * size / width, size
    new_size = (max(1, round(new_width)), max(1, round(new_height)))
    shrinking = new_size[0] * new_size[1] < width * height
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(
        new_size, Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def centre(ink, size=BOX_SIZE):
    """Place the ink in a ``size`` x ``size`` square with its centre of mass in
    the middle (as far as the square allows).

    The centre of mass rather than the middle of the bounding box: a stray
    tail or a long bar then does not push the body of the digit off centre
    (worth about a point on MNIST drawings).
    """
    height, width = ink.shape
    square = np.zeros((size, size), dtype=ink.dtype)
    weights = ink.astype(np.float64)
    total = weights.sum()
    if total > 0:
        row_mass = float((weights.sum(axis=1) * np.arange(height)).sum()) / total
        col_mass = float((weights.sum(axis=0) * np.arange(width)).sum()) / total
    else:
        row_mass, col_mass = (height - 1) / 2, (width - 1) / 2
    top = min(max(int(round((size - 1) / 2 - row_mass)), 0), size - height)
    left = min(max(int(round((size - 1) / 2 - col_mass)), 0), size - width)
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


def reduce_large(image, max_side=WORKING_SIDE):
    """At most about ``max_side`` pixels a side, by averaging whole blocks.

    A digit needs no more: the chain ends at 32x32. A 4000 px photo would
    otherwise cost a second of float arithmetic and a quarter of a gigabyte,
    for nothing but a slower answer.
    """
    factor = -(-max(image.size) // max_side)  # ceiling division
    if factor <= 1:
        return image
    try:
        return image.reduce(factor)
    except ValueError:  # a mode Image.reduce does not take (16-bit greyscale)
        width, height = image.size
        return image.resize((max(1, width // factor), max(1, height // factor)),
                            Image.Resampling.BOX)


def ink_from_image(image):
    """Ink (high) in [0, 1] from a Pillow image of dark ink on light paper,
    or of ink in the alpha channel."""
    return invert(to_greyscale(reduce_large(flatten_onto_white(image))))


class ImageChain(TransformerMixin, BaseEstimator):
    """Turn images into the 64 features of scikit-learn's digits set.

    ``transform`` accepts a sequence of image bytes (PNG, JPEG, GIF, WebP, BMP),
    Pillow images, or 2-D arrays of ink intensity (ink high, paper 0, such as
    MNIST or optdigits bitmaps), and returns an ``(n, 64)`` array.

    ``upright`` corrects the slant; ``min_aspect`` and ``max_aspect`` bound the
    width of the digit as a fraction of its height (``None``: keep the aspect
    ratio and fit the longer side).
    """

    def __init__(self, max_pixels=16_000_000, ink_threshold=0.35, stroke_width=4.0,
                 upright=True, min_aspect=0.6, max_aspect=0.66):
        self.max_pixels = max_pixels
        self.ink_threshold = ink_threshold
        self.stroke_width = stroke_width
        self.upright = upright
        self.min_aspect = min_aspect
        self.max_aspect = max_aspect

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
            if ink.ndim != 2 or ink.size == 0:
                raise InvalidImage("An array image must be two-dimensional and not empty.")
            ink = np.nan_to_num(ink, nan=0.0, posinf=0.0, neginf=0.0)
            ink = ink / max(float(ink.max()), 1e-9)
        ink = remove_background(ink)
        ink = crop_to_ink(ink, self.ink_threshold)
        if self.upright:
            ink = shrink(ink, 2 * BOX_SIZE)
            ink = deskew(ink, measure_slant(ink))
            # the shear blurs the edges a little: crop at half the threshold
            ink = crop_to_ink(ink, self.ink_threshold / 2, min_ink_fraction=0)
        ink = fit_into_box(ink, BOX_SIZE, self.min_aspect, self.max_aspect)
        bitmap = normalise_stroke(to_bitmap(ink, self.ink_threshold), self.stroke_width)
        return centre(bitmap, BOX_SIZE)

    def to_feature_vector(self, item):
        """The 64 features (8x8 ink counts, 0-16) the classifier reads, for one image."""
        return count_blocks(self.to_bitmap(item)).ravel()
