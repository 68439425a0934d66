"""Ink to the optdigits form: shrunk, stood upright, fitted to the 32 px box,
centred, thresholded to a bitmap, strokes brought to the optdigits pen width,
ink counted in 4x4 blocks."""

import numpy as np
from PIL import Image

from app.imaging.ink import INK_THRESHOLD

BOX_SIZE = 32  # the optdigits bitmap
BLOCK_SIZE = 4  # 32 / 4 = 8 blocks a side, each counting 0-16 ink pixels
FEATURE_SIZE = (BOX_SIZE // BLOCK_SIZE) ** 2


def shrink(ink, max_side):
    """At most ``max_side`` pixels a side, by area averaging.

    The slant is measured and corrected on this small copy: a 280 px canvas
    holds no more shape than a 64 px one, and costs many times as much.
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
    # the last bit) for this shear, at a fraction of its cost; a zero column after
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


def to_bitmap(ink, threshold=INK_THRESHOLD):
    """Ink or no ink, as the optdigits scanner saw it."""
    return ink > threshold


def width_from_depth(mean_depth):
    """The pen's width in pixels from the mean depth of its ink (each ink pixel's
    distance to the paper): across a stroke ``w`` pixels wide the depths run 1,
    2, ... up to ``w / 2`` and back, a mean of about ``(w + 2) / 4``."""
    return max(1.0, 4.0 * float(mean_depth) - 2.0)


def normalise_stroke(bitmap, width=4.0):
    """Thicken thin strokes to the pen width of the optdigits bitmaps.

    A stroke is dilated by one step (two pixels wider) for every 4 px its
    estimated width falls short of ``width + 2``, rounded: so 1-3 px strokes
    grow by one step and 4 px ones are kept. A step for every 2 px short of
    ``width`` reads 1-2 points fewer of MNIST and Semeion (docs/accuracy.md).
    Thick strokes are left as they are.
    """
    if not bitmap.any():
        return bitmap
    estimated = width_from_depth(ink_depth(bitmap)[bitmap].mean())
    steps = int(round((width + 2.0 - estimated) / 4.0))
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

