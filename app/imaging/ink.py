"""A picture to its ink: transparency flattened onto white, greyscale, inverted
so that ink is high, the paper's level removed, cropped to the ink."""

import math

import numpy as np
from PIL import Image, ImageOps

from app.errors import EmptyImage

INK_THRESHOLD = 0.35  # ink above this (0 paper, 1 the darkest stroke) is a stroke
BACKGROUND_SAMPLE = 10_000  # pixels read to find the paper's level
PAPER_PERCENTILE = 10  # the lightest tenth of a picture is its paper
MIN_CONTRAST = 0.15  # less between paper and ink is no digit
MIN_INK_FRACTION = 2e-4  # less ink than this share of the picture is a speck, no digit
WORKING_SIDE = 1024  # larger pictures are reduced to about this before the chain
TILE_PIXELS = 1 << 18  # a large picture is flattened this many pixels at a time (1 MB)

# Greyscale modes kept at their own depth (not squeezed to 8 bits) until
# to_greyscale scales them.
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


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


def drawn_in_alpha(image):
    """Whether the picture's ink may lie in its alpha channel (a drawing on a
    transparent ground) rather than on paper: some of it is transparent."""
    rgba = _with_alpha(image)
    return rgba is not None and not _opaque(rgba, rgba.getbbox())


def _opaque(rgba, box):
    """Whether no pixel of an RGBA picture is transparent, given the box of
    those that are not (``getbbox``): only when that box is the whole picture
    is its alpha channel copied to be read."""
    return box == (0, 0, *rgba.size) and rgba.getchannel("A").getextrema()[0] == 255


CLEAN_PAPER = 0.5  # paper is clean when at least this share of a picture is at its one level


def on_clean_paper(image):
    """Whether at least CLEAN_PAPER of the picture is at one level of grey:
    paper no light, shadow, grain or noise has touched, as a canvas filled
    white or a clean scan has (a photo's paper varies from pixel to pixel)."""
    if image.mode in WIDE_GREY_MODES:
        return False
    # no pixel is transparent by now (drawn_in_alpha): a colour key needs flattening
    # only to keep Pillow from warning
    keyed = "transparency" in image.info
    grey = (flatten_onto_white(image) if keyed else image).convert("L")
    histogram = grey.histogram()
    return max(histogram) >= CLEAN_PAPER * grey.width * grey.height


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
    read from: the level is the same, at a small part of the cost on a canvas."""
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


def crop_to_ink(ink, threshold=INK_THRESHOLD, min_ink_fraction=MIN_INK_FRACTION):
    """The smallest rectangle holding all the ink."""
    return ink[ink_box(ink > threshold, min_ink_fraction)]


def ink_box(mask, min_ink_fraction):
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
        grey = reduce_flattened(image).convert("L")
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
    if _opaque(image, box):
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


def cropped_ink(image, threshold=INK_THRESHOLD):
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
    box = ink_box(levels >= int(np.argmax(is_ink)), MIN_INK_FRACTION)
    return np.take(stretched, levels[box])



def reduce_large(image, max_side=WORKING_SIDE):
    """At most about ``max_side`` pixels a side, by averaging whole blocks.

    A digit needs no more: the chain ends at 32x32. A 4000 px photo would
    otherwise cost float arithmetic and memory in proportion to its pixels,
    for nothing but a slower answer.
    """
    factor = reduction_factor(image.size, max_side)
    if factor <= 1:
        return image
    try:
        return image.reduce(factor)
    except ValueError:  # a mode Image.reduce does not take (16-bit greyscale)
        width, height = image.size
        return image.resize((max(1, width // factor), max(1, height // factor)),
                            Image.Resampling.BOX)


def reduction_factor(size, max_side=WORKING_SIDE):
    """The side of the blocks reduce_large averages a picture of ``size`` by."""
    return -(-max(size) // max_side)  # ceiling division


def reduced_size(size, max_side=WORKING_SIDE):
    """The size of a picture of ``size`` once reduce_large has averaged it."""
    factor = reduction_factor(size, max_side)
    return tuple(-(-side // factor) for side in size)


def reduce_flattened(image, max_side=WORKING_SIDE):
    """``reduce_large(flatten_onto_white(image), max_side)``, bit for bit, a
    tile at a time.

    Flattening a whole picture makes an RGBA copy, a white ground and their
    composite, each four bytes a pixel: 250 MB at 16 million pixels, for a
    result of a million. Both steps act on each block of pixels alone, so
    tiles of whole blocks give the same pixels for a few MB.
    """
    factor = reduction_factor(image.size, max_side)
    if factor <= 1 or image.mode in WIDE_GREY_MODES:
        return reduce_large(flatten_onto_white(image), max_side)
    reduced = Image.new("RGB", reduced_size(image.size, max_side))
    tile_width, tile_height = _tile_size(image.size, factor)
    for top in range(0, image.height, tile_height):
        for left in range(0, image.width, tile_width):
            tile = image.crop((left, top, min(left + tile_width, image.width),
                               min(top + tile_height, image.height)))
            reduced.paste(flatten_onto_white(tile).reduce(factor),
                          (left // factor, top // factor))
    return reduced


def _tile_size(size, factor, pixels=TILE_PIXELS):
    """Tiles of about ``pixels`` whole blocks of ``factor`` a side (a picture's
    narrow side taken whole), so that a tile's blocks are the picture's own."""
    across = min(min(size), factor * max(1, math.isqrt(pixels) // factor))
    along = factor * max(1, pixels // (across * factor))
    return (along, across) if size[0] >= size[1] else (across, along)


def ink_from_image(image):
    """Ink (high) in [0, 1] from a Pillow image of dark ink on light paper,
    or of ink in the alpha channel."""
    found = ink_levels(image)
    if found is None:
        return invert(to_greyscale(reduce_large(flatten_onto_white(image))))
    levels, ink_of_level = found
    return np.take(ink_of_level, levels)

