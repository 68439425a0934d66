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
import inspect
import io
import re
import threading
import warnings
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageOps

from app.errors import EmptyImage, ImageTooLarge, InvalidImage

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
BOX_SIZE = 32  # the optdigits bitmap
BLOCK_SIZE = 4  # 32 / 4 = 8 blocks a side, each counting 0-16 ink pixels
FEATURE_SIZE = (BOX_SIZE // BLOCK_SIZE) ** 2
BACKGROUND_SAMPLE = 10_000  # pixels read to find the paper's level
PAPER_PERCENTILE = 10  # the lightest tenth of a picture is its paper
MIN_CONTRAST = 0.15  # less between paper and ink is no digit
MIN_INK_FRACTION = 2e-4  # less ink than this share of the picture is a speck, no digit
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
    rgba = _with_alpha(image)
    if rgba is not None:
        ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(ground, rgba).convert("RGB")
    return image.convert("RGB")


def _with_alpha(image):
    """The image as RGBA if any of it may be transparent (an alpha channel or a
    colour key), else None."""
    if "transparency" in image.info and image.mode in ("1", "L", "P", "RGB"):
        return image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return image if image.mode == "RGBA" else image.convert("RGBA")
    return None


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


def remove_background(ink, min_contrast=MIN_CONTRAST):
    """Stretch ink so that paper is 0 and the darkest stroke is 1.

    A photo's paper is seldom white: its level is taken from the lightest tenth
    of the picture (not the median: a digit may cover half of a tight crop).
    An image with too little contrast between paper and ink holds no digit.
    """
    sample = _paper_sample(ink)
    below, above, weight = _percentile_ranks(sample.size)
    ordered = np.partition(sample, (below, above), axis=None)  # cheaper than np.percentile's
    ground = _interpolate(ordered[below], ordered[above], weight)
    return _stretch(ink, ground, float(ink.max()), min_contrast)


def _paper_sample(ink):
    """The regular sample of some BACKGROUND_SAMPLE pixels the paper's level is
    read from: the level is the same, at a twentieth of the cost on a canvas."""
    step = max(1, int(np.sqrt(ink.size / BACKGROUND_SAMPLE)))
    return ink[::step, ::step]


def _percentile_ranks(count, percent=PAPER_PERCENTILE):
    """The ranks (from 0, smallest first) of the two values of a sample of
    ``count`` that its percentile lies between, and the weight of the second:
    np.percentile's default (linear) method, step for step."""
    position = (count - 1) * (percent / 100)
    if position >= count - 1:
        return count - 1, count - 1, 0.0
    below = int(position)
    return below, below + 1, position - below


def _interpolate(low, high, weight):
    """np.percentile's interpolation between two sample values, operation for
    operation in their own float type, so that the level is its very value."""
    difference = high - low
    if weight >= 0.5:
        return float(high - difference * (1 - weight))
    return float(low + difference * weight)


def _stretch(ink, ground, top, min_contrast):
    """Ink (or a table of ink values) stretched so that ``ground`` is 0 and
    ``top`` is 1; EmptyImage when they are too close for a digit."""
    if top - ground < min_contrast:
        raise EmptyImage()
    return np.clip((ink - ground) / (top - ground), 0.0, 1.0)


def crop_to_ink(ink, threshold=0.35, min_ink_fraction=MIN_INK_FRACTION):
    """The smallest rectangle holding all the ink."""
    return ink[_ink_box(ink > threshold, min_ink_fraction)]


def _ink_box(mask, min_ink_fraction):
    """The rows and columns of the smallest rectangle holding all of ``mask``;
    EmptyImage when it holds too little to be a digit."""
    if np.count_nonzero(mask) < max(1, min_ink_fraction * mask.size):
        raise EmptyImage()
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


# -- the same, on 8-bit levels -----------------------------------------------
#
# An 8-bit picture has at most 256 inks. Its paper level, its contrast and the
# rectangle of its ink are found on the uint8 levels, and only that rectangle
# becomes floats, through a table of the ink of each level made by the
# straightforward route itself: the very values, bit for bit, at a small part
# of the cost of compositing and converting the whole picture to floats.


def _ink_of_each_pixel(row):
    """The ink the straightforward route gives each pixel of a one-row picture,
    as a table no caller can change."""
    ink = invert(to_greyscale(flatten_onto_white(row)))[0]
    ink.setflags(write=False)
    return ink


_EVERY_LEVEL = Image.frombytes("L", (256, 1), bytes(range(256)))
# The level of an opaque pixel is 255 - its grey ...
INK_OF_DARKNESS = _ink_of_each_pixel(ImageOps.invert(_EVERY_LEVEL))
# ... and that of black ink on a transparent ground (a canvas drawing) its alpha.
INK_OF_ALPHA = _ink_of_each_pixel(
    Image.merge("RGBA", (*[Image.new("L", _EVERY_LEVEL.size)] * 3, _EVERY_LEVEL)))


def ink_levels(image):
    """An 8-bit picture's ink as levels (uint8, 0 for paper) and the ink of
    each level, such that ``ink_of_level[levels]`` is ``ink_from_image(image)``;
    None for a wide greyscale picture.

    A canvas drawing (black ink in the alpha channel) is read from its alpha
    channel alone and an opaque picture from its grey, without compositing.
    The ink grows with the level, so that the levels sort as the inks do.
    """
    if image.mode in WIDE_GREY_MODES:
        return None
    if max(image.size) > WORKING_SIDE:
        grey = reduce_large(flatten_onto_white(image)).convert("L")
    else:
        rgba = _with_alpha(image)
        if rgba is not None:
            return _alpha_ink_levels(rgba)
        # L and RGB are their own flattening: L to RGB and back is no change
        grey = (image if image.mode in ("L", "RGB") else flatten_onto_white(image)).convert("L")
    return np.invert(np.asarray(grey)), INK_OF_DARKNESS


def _alpha_ink_levels(image):
    """ink_levels of an RGBA picture."""
    box = image.getbbox()  # around the pixels that are not transparent
    if box is None:  # transparent all over: blank paper
        return np.zeros((image.height, image.width), dtype=np.uint8), INK_OF_ALPHA
    if box == (0, 0, *image.size) and image.getchannel("A").getextrema()[0] == 255:
        return np.invert(np.asarray(image.convert("L"))), INK_OF_DARKNESS  # such as a white fill
    drawn = image.crop(box)
    pixels = np.asarray(drawn)
    levels = np.zeros((image.height, image.width), dtype=np.uint8)
    inside = slice(box[1], box[3]), slice(box[0], box[2])
    if (pixels.view("<u4") & 0x00FFFFFF).any():  # not all black: composite it, as the route does
        levels[inside] = np.invert(np.asarray(flatten_onto_white(drawn).convert("L")))
        return levels, INK_OF_DARKNESS
    levels[inside] = pixels[..., 3]  # black ink, all in the alpha channel: a canvas drawing
    return levels, INK_OF_ALPHA


def _ranked_level(levels, rank, lowest=0):
    """The level of rank ``rank`` (from 0, smallest first) among 8-bit
    ``levels``, known to be ``lowest`` or more: found by halving the range of
    levels, in a few counting passes whatever the values (a sort or a partition
    of the sample costs several times more)."""
    low, high = lowest, 255
    while low < high:
        middle = low if low == lowest else (low + high) // 2
        if np.count_nonzero(levels <= middle) > rank:
            high = middle
        else:
            low = middle + 1
    return low


def cropped_ink(image, threshold=0.35):
    """``crop_to_ink(remove_background(ink_from_image(image)), threshold)``,
    bit for bit, found on the picture's 8-bit levels."""
    found = ink_levels(image)
    if found is None:
        return crop_to_ink(remove_background(ink_from_image(image)), threshold)
    levels, ink_of_level = found
    sample = np.ascontiguousarray(_paper_sample(levels))
    below, above, weight = _percentile_ranks(sample.size)
    level_below = _ranked_level(sample, below)
    level_above = _ranked_level(sample, above, level_below)
    ground = _interpolate(ink_of_level[level_below], ink_of_level[level_above], weight)
    top = float(ink_of_level[levels.max()])
    stretched = _stretch(ink_of_level, ground, top, MIN_CONTRAST)
    is_ink = stretched > threshold
    if not is_ink.any():
        raise EmptyImage()
    box = _ink_box(levels >= int(np.argmax(is_ink)), MIN_INK_FRACTION)
    return np.take(stretched, levels[box])


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
    resized = Image.fromarray(ink.astype(np.float32, copy=False), mode="F").resize(
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
    weights = ink.astype(np.float64)  # once, not in every product below
    rows = np.arange(ink.shape[0], dtype=np.float64)[:, None]
    cols = np.arange(ink.shape[1], dtype=np.float64)[None, :]
    row_mean = float((rows * weights).sum()) / total
    col_mean = float((cols * weights).sum()) / total
    spread = float(((rows - row_mean) ** 2 * weights).sum())
    if spread <= 0:
        return 0.0
    covariance = float(((rows - row_mean) * (cols - col_mean) * weights).sum())
    return min(max(covariance / spread, -limit), limit)


def deskew(ink, slant):
    """Shear the ink upright: each row moves sideways by ``slant`` times its
    distance from the middle row. The canvas widens so that nothing is cut off."""
    if slant == 0:
        return ink
    height, width = ink.shape
    pad = int(np.ceil(abs(slant) * height / 2)) + 1
    padded_width = width + 2 * pad
    middle = (height - 1) / 2
    # output (row, col) reads input (row, col + slant * (row - middle)), between
    # two pixels of its row, as ndimage.affine_transform(order=1) reads it (to
    # the last bit) for this shear, at a fifth of its cost; a zero column after
    # each row, and the pad, make any place beyond the edges read nothing
    rows = np.arange(height)[:, None]
    where = (-slant * middle + rows * slant) + np.arange(padded_width)
    start = np.floor(where)
    left_weight = 1.0 - (where - start)
    source = np.zeros((height, padded_width + 1), dtype=ink.dtype)
    source[:, pad:pad + width] = ink
    left = np.clip(start, 0, padded_width - 1).astype(np.intp) + rows * (padded_width + 1)
    sheared = source.take(left) * left_weight + source.take(left + 1) * (1.0 - left_weight)
    return sheared.astype(ink.dtype)


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
    resized = Image.fromarray(ink.astype(np.float32, copy=False), mode="F").resize(
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
    estimated = 2.0 * ink_depth(bitmap)[bitmap].mean()
    steps = int(round((width - estimated) / 2.0))
    if steps <= 0:
        return bitmap
    return dilate(bitmap, steps)


def ink_depth(bitmap):
    """Each ink pixel's distance to the nearest paper pixel (0 on paper):
    ``ndimage.distance_transform_edt(bitmap)`` of a 2-D bitmap, to the last bit.

    Exact, in two passes: the distance to paper up or down each column, then
    the nearest of those along each row, the columns' offsets counted in. The
    second pass takes a step per pixel of the deepest ink's depth: made for
    the chain's small bitmaps, not for a blot the size of a canvas.
    """
    ink = np.asarray(bitmap, dtype=bool)
    height, width = ink.shape
    if ink.all():
        # No paper at all: scipy measures from a paper pixel it takes to be at (-1, 0).
        rows, cols = np.ogrid[1:height + 1, :width]
        return np.sqrt(rows * rows + cols * cols, dtype=np.float64)
    return np.sqrt(_nearest_along_rows(_paper_in_column(ink) ** 2))


def _paper_in_column(ink):
    """Each pixel's distance to the nearest paper pixel of its own column, as a
    float (inf in a column of ink alone)."""
    rows = np.arange(ink.shape[0], dtype=np.float64)[:, None]
    above = np.maximum.accumulate(np.where(ink, -np.inf, rows), axis=0)
    below = np.minimum.accumulate(np.where(ink, np.inf, rows)[::-1], axis=0)[::-1]
    return np.minimum(rows - above, below - rows)


def _nearest_along_rows(squared):
    """The least ``(j - k) ** 2 + squared[i, k]`` over the columns ``k``, for
    every pixel ``(i, j)``: each offset in turn, until no column further
    along can be nearer. Whole numbers in floats, so every sum is exact."""
    height, width = squared.shape
    padded = np.full((height, 3 * width), np.inf)  # nothing beyond either edge
    padded[:, width:2 * width] = squared
    nearest = squared.copy()
    for offset in range(1, width):
        step = offset * offset
        if step >= nearest.max():
            break
        either_side = np.minimum(padded[:, width - offset:2 * width - offset],
                                 padded[:, width + offset:2 * width + offset])
        either_side += step
        np.minimum(nearest, either_side, out=nearest)
    return nearest


def dilate(bitmap, steps):
    """``ndimage.binary_dilation(bitmap, iterations=steps)``: each step inks the
    four neighbours of every ink pixel."""
    grown = bitmap.copy()
    for _ in range(steps):
        previous = grown.copy()
        grown[1:] |= previous[:-1]
        grown[:-1] |= previous[1:]
        grown[:, 1:] |= previous[:, :-1]
        grown[:, :-1] |= previous[:, 1:]
    return grown


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
    found = ink_levels(image)
    if found is None:
        return invert(to_greyscale(reduce_large(flatten_onto_white(image))))
    levels, ink_of_level = found
    return np.take(ink_of_level, levels)


class ImageChain:
    """Turn images into the 64 features of scikit-learn's digits set.

    ``transform`` accepts a sequence of image bytes (PNG, JPEG, GIF, WebP, BMP),
    Pillow images, or 2-D arrays of ink intensity (ink high, paper 0, such as
    MNIST or optdigits bitmaps), and returns an ``(n, 64)`` array.

    ``upright`` corrects the slant; ``min_aspect`` and ``max_aspect`` bound the
    width of the digit as a fraction of its height (``None``: keep the aspect
    ratio and fit the longer side).

    A scikit-learn transformer by its methods, not by inheritance: ``clone``,
    ``Pipeline`` and ``set_params`` take it as one, but it subclasses nothing
    of scikit-learn's, because a serving process, which only reads images,
    must never import scikit-learn (and scipy with it): some 80 MB of memory
    in every worker.
    """

    def __init__(self, max_pixels=16_000_000, ink_threshold=0.35, stroke_width=4.0,
                 upright=True, min_aspect=0.6, max_aspect=0.66):
        self.max_pixels = max_pixels
        self.ink_threshold = ink_threshold
        self.stroke_width = stroke_width
        self.upright = upright
        self.min_aspect = min_aspect
        self.max_aspect = max_aspect

    @classmethod
    def _parameter_names(cls):
        """The parameters' names, read from ``__init__`` as scikit-learn reads them."""
        return sorted(name for name in inspect.signature(cls.__init__).parameters
                      if name != "self")

    def get_params(self, deep=True):
        """The parameters by name (none holds an estimator, so ``deep`` adds nothing)."""
        return {name: getattr(self, name) for name in self._parameter_names()}

    def set_params(self, **params):
        """Change parameters by name; ValueError, and nothing changed, for a name
        that is none of them."""
        names = self._parameter_names()
        for name in params:
            if name not in names:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self}. "
                                 f"Valid parameters are: {names!r}.")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self):
        """As scikit-learn shows an estimator: the parameters not at their default."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if repr(value) != repr(defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        """scikit-learn's tags: a transformer with nothing to learn, so that
        ``check_is_fitted`` passes it. Only scikit-learn asks, and has itself
        imported by then."""
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(), requires_fit=False)

    def fit(self, X, y=None):
        """Nothing to learn: the chain is the same for every set of images."""
        return self

    def transform(self, X):
        return np.stack([self.to_feature_vector(item) for item in X]) if len(X) else (
            np.empty((0, FEATURE_SIZE))
        )

    def fit_transform(self, X, y=None):
        """``fit``, then ``transform``, as scikit-learn's TransformerMixin does."""
        return self.fit(X, y).transform(X)

    def to_bitmap(self, item):
        """The 32x32 bitmap the model sees, for one image."""
        if isinstance(item, (bytes, bytearray, memoryview)):
            item = open_image(bytes(item), self.max_pixels)
        if isinstance(item, Image.Image):
            ink = cropped_ink(item, self.ink_threshold)
        else:
            ink = np.asarray(item, dtype=np.float32)
            if ink.ndim != 2 or ink.size == 0:
                raise InvalidImage("An array image must be two-dimensional and not empty.")
            ink = np.nan_to_num(ink, nan=0.0, posinf=0.0, neginf=0.0)
            ink = ink / max(float(ink.max()), 1e-9)
            ink = crop_to_ink(remove_background(ink), self.ink_threshold)
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
