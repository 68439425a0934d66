"""A photo's ink, found as a person would find it: the light evened out, ruled
and squared lines taken away, and the largest coherent ink kept, before the
chain crops and normalises it. Only opaque pictures take this route; a canvas
drawing (ink in the alpha channel) has no paper to clean."""

import numpy as np
from PIL import Image

from app.imaging.ink import INK_THRESHOLD, ink_box, ink_from_image, remove_background
from app.imaging.segmentation import grow, paper_distances, stroke_width

LIGHT_SIDE = 96  # the light is estimated on a copy about this many pixels a side
LIGHT_WINDOW = 1 / 10  # ink narrower than this share of the picture is closed over
LINE_LENGTH = 0.8  # a ruled line crosses at least this share of the picture
LINE_WINDOW = 12  # pixels either side of a line in which its thickness is measured
LINE_ANGLE = 12  # degrees a line may lean from the picture's edges
MIN_LINES = 2  # a page's ruling repeats: fewer such lines one way are strokes
MAX_LINES = 64  # lines taken away at most, one way: a bound on the work
MIN_PART = 0.05  # ink parts smaller than this share of the largest are specks ...
PART_REACH = 0.3  # ... and so are parts further than this share of its size from it
MAX_PARTS = 20  # of the parts of a digit's ink, the largest this many are weighed


def photo_ink(image, threshold=INK_THRESHOLD, whole=False):
    """The ink of an opaque picture (ink high, paper 0, the darkest stroke 1),
    with its light evened out and its ruled lines taken away; unless
    ``whole``, only the largest coherent ink (one digit) is kept."""
    return clean_photo(ink_from_image(image), threshold, whole)


def clean_photo(ink, threshold=INK_THRESHOLD, whole=False):
    """``photo_ink`` of a picture whose ink (``ink_from_image``) is known."""
    ink = remove_background(even_light(1.0 - ink))
    mask = ink > threshold
    ink, mask = remove_lines(ink, mask)
    if not whole:
        ink = np.where(grow(coherent_ink(mask), 2), ink, 0.0).astype(np.float32)
    return ink


def even_light(grey):
    """Lightness (1 white) divided by the paper's own, so that paper under
    uneven light, a shadow or a vignette is as light all over, and ink as
    dark against it: ink 1 - grey / paper, clipped at 0.

    The paper's lightness is the picture's on a small copy, closed (a
    dilation, then an erosion) over a window wider than any stroke: the ink
    is closed over, while the edge of a shadow, wider than the window, stays
    where it is.
    """
    from skimage.morphology import closing, footprint_rectangle
    from skimage.transform import downscale_local_mean

    height, width = grey.shape
    factor = max(1, max(height, width) // LIGHT_SIDE)
    small = downscale_local_mean(grey, (factor, factor)) if factor > 1 else grey
    side = max(3, int(max(small.shape) * LIGHT_WINDOW) | 1)
    paper = closing(small, footprint_rectangle((side, side)))
    paper = np.asarray(Image.fromarray(paper.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR))
    return np.clip(1.0 - grey / np.maximum(paper, 1e-3), 0.0, 1.0).astype(np.float32)


def remove_lines(ink, mask):
    """``ink`` and ``mask`` without the ruled or squared lines of the paper.

    A line is found as a straight run of ink across most of the picture
    (scikit-image's Hough transform), near the horizontal or the vertical,
    one of at least MIN_LINES such, and thinner than half the pen that wrote
    the rest of the ink (a 1 is as thick as the pen). Its pixels are taken
    away except where a stroke crosses it, so that the digits keep their shape.
    """
    from skimage.transform import hough_line, hough_line_peaks

    candidates = []
    for angles, extent in ((_angles(90.0), mask.shape[1]), (_angles(0.0), mask.shape[0])):
        votes, thetas, distances = hough_line(mask, theta=angles)
        found = hough_line_peaks(votes, thetas, distances, threshold=LINE_LENGTH * extent,
                                 min_distance=1, min_angle=1, num_peaks=MAX_LINES)
        if len(found[0]) >= MIN_LINES:  # one long stroke alone is a 1 or a 7's bar
            candidates.extend(zip(*found[1:], strict=True))
    bands = [band for band in (_line_band(mask, theta, distance)
                               for theta, distance in candidates) if band is not None]
    if not bands:
        return ink, mask
    on_lines = np.zeros_like(mask)
    for rows, cols, _ in bands:
        on_lines[rows, cols] = True
    pen = _pen_width(mask, mask & ~on_lines)
    keep = np.ones_like(mask)
    for rows, cols, thickness in bands:
        if thickness <= pen / 2:
            keep[rows, cols] = False
    return np.where(keep, ink, 0.0).astype(np.float32), mask & keep


def _angles(centre):
    """The angles (radians) Hough tries for lines whose normal is near ``centre`` degrees."""
    return np.deg2rad(np.arange(centre - LINE_ANGLE, centre + LINE_ANGLE + 0.5, 0.5))


def _pen_width(mask, written):
    """The width of the pen that wrote the ``written`` part of ``mask``
    (segmentation's stroke_width, its depth measured in the whole of
    ``mask``); infinite when nothing but the lines was written."""
    if not written.any():
        return np.inf
    return stroke_width(written, paper_distances(mask))


def _line_band(mask, theta, distance, window=LINE_WINDOW):
    """The pixels of the line (theta, distance) that belong to the line alone
    (no stroke crosses them there), as their rows and columns, and the line's
    thickness in pixels; None where the line has no ink."""
    height, width = mask.shape
    horizontal = abs(np.sin(theta)) > abs(np.cos(theta))
    along = np.arange(width if horizontal else height)
    if horizontal:  # x cos + y sin = d
        across = (distance - along * np.cos(theta)) / np.sin(theta)
    else:
        across = (distance - along * np.sin(theta)) / np.cos(theta)
    across = np.rint(across).astype(np.intp)
    limit = height if horizontal else width
    view = mask.T if horizontal else mask  # view[along, across]
    offsets = np.arange(-window, window + 1)
    places = across[:, None] + offsets[None, :]
    cells = _ink_at(view, along[:, None], places, limit)
    centre = len(offsets) // 2
    on_line = cells[:, centre - 1:centre + 2].any(axis=1)
    if not on_line.any():
        return None
    # the run of ink through the line, across it: a neighbouring line is no part of it
    start = np.where(cells[:, centre], centre, np.where(cells[:, centre - 1], centre - 1,
                                                        centre + 1))[on_line]
    rows = cells[on_line]
    steps = np.arange(len(offsets))
    after = rows[np.arange(len(rows))[:, None], np.clip(start[:, None] + steps, 0, 2 * window)]
    before = rows[np.arange(len(rows))[:, None], np.clip(start[:, None] - steps, 0, 2 * window)]
    thickness = float(np.median(np.cumprod(after, axis=1).sum(axis=1)
                                + np.cumprod(before, axis=1).sum(axis=1) - 1))
    reach = int(np.ceil(thickness / 2)) + 1
    # where the ink runs on past either side of the band, a stroke crosses it
    crossed = (_ink_at(view, along, across - reach - 1, limit)
               | _ink_at(view, along, across + reach + 1, limit))
    found = []
    for offset in range(-reach, reach + 1):
        places = across + offset
        inside = ~crossed & (places >= 0) & (places < limit)
        inked = view[along[inside], places[inside]]
        found.append((along[inside][inked], places[inside][inked]))
    along_band = np.concatenate([first for first, _ in found])
    across_band = np.concatenate([second for _, second in found])
    if horizontal:  # view is mask.T: along runs over columns
        return across_band, along_band, thickness
    return along_band, across_band, thickness


def _ink_at(view, along, places, limit):
    """Whether ``view`` has ink at (along, places), False off its edges."""
    inside = (places >= 0) & (places < limit)
    return np.where(inside, view[along, np.clip(places, 0, limit - 1)], False)


def coherent_ink(mask):
    """The largest 8-connected part of ``mask`` and the parts near it that are
    more than specks (a 5's lifted bar, the second stroke of a 4): a digit,
    without the dust, dots and stray marks elsewhere on the page."""
    from skimage.measure import label

    labels, count = label(mask, connectivity=2, return_num=True)
    if count <= 1:
        return mask
    areas = np.bincount(labels.ravel())
    areas[0] = 0  # the paper
    # only the largest parts can be kept, at most MAX_PARTS of them, so that a
    # picture of noise, of a hundred thousand specks, costs no more
    largest_first = np.argsort(areas)[::-1][:MAX_PARTS]
    sizable = largest_first[areas[largest_first] >= MIN_PART * areas.max()]
    boxes = {number: _box(labels == number) for number in sizable}
    largest = boxes[int(np.argmax(areas))]
    reach = PART_REACH * max(largest[2] - largest[0], largest[3] - largest[1])
    kept = [number for number, box in boxes.items() if _near(box, largest, reach)]
    return np.isin(labels, kept)


def _box(mask):
    """The box (top, left, bottom, right) of the ink of ``mask``."""
    rows, cols = ink_box(mask, min_ink_fraction=0)
    return rows.start, cols.start, rows.stop, cols.stop


def _near(box, other, reach):
    """Whether two boxes (top, left, bottom, right) lie within ``reach`` pixels."""
    gap_rows = max(box[0] - other[2], other[0] - box[2], 0)
    gap_cols = max(box[1] - other[3], other[1] - box[3], 0)
    return max(gap_rows, gap_cols) <= reach
