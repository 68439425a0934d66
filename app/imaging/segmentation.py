"""A whole number split into its digits, left to right: the ink's connected
parts, the parts of a broken digit merged, touching digits cut apart. Sizes are
judged against the image's own typical digit height, so the same rules hold for
a 60 px scan and a 1,000 px canvas."""

from dataclasses import dataclass

import numpy as np

from app.errors import InvalidImage
from app.imaging.ink import INK_THRESHOLD
from app.imaging.shape import width_from_depth

# A number of 32 digits, each in up to two parts (a 5's lifted bar, an open 4).
MAX_PARTS = 64
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # a diagonal step of the pen stays connected


@dataclass(frozen=True, eq=False)
class Segment:
    """The ink of one digit (or of a part of one): where its box lies in the
    image, and which pixels of that box are its own.

    The mask matters because boxes of neighbouring digits overlap (a 7's bar
    reaching over the next digit): the box alone would hand the chain a piece
    of the neighbour too.
    """

    x: int
    y: int
    mask: np.ndarray  # bool, (height, width) of the box

    @property
    def width(self):
        return self.mask.shape[1]

    @property
    def height(self):
        return self.mask.shape[0]

    @property
    def box(self):
        """(x, y, width, height) in pixels of the image."""
        return (self.x, self.y, self.width, self.height)

    @property
    def area(self):
        return int(self.mask.sum())


# -- the steps -------------------------------------------------------------------


def ink_mask(ink, threshold=INK_THRESHOLD):
    """Ink or no ink, at the same threshold the chain uses, so that what is
    split apart here is what the chain would see as separate strokes."""
    return np.asarray(ink) > threshold


def connected_components(mask):
    """The 8-connected blobs of ``mask`` as segments, left to right."""
    from scipy import ndimage  # here, not above: a worker that reads no number never loads scipy

    labels, _ = ndimage.label(mask, structure=EIGHT_NEIGHBOURS)
    segments = [
        Segment(int(cols.start), int(rows.start), labels[rows, cols] == number)
        for number, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1)
    ]
    return sorted(segments, key=lambda segment: segment.x)


def typical_height(segments):
    """The height of a digit in this image: the median height of the parts at
    least half as tall as the tallest.

    Bars, dots and specks are left out, so that a number with a broken digit
    or two is still measured by its whole digits.
    """
    if not segments:
        return 0
    tallest = max(segment.height for segment in segments)
    return float(np.median([s.height for s in segments if s.height >= tallest / 2]))


def drop_specks(segments, digit_height, min_size=0.2):
    """The segments without specks: dust, dots and stray touches of the pen,
    whose larger side is under ``min_size`` of a digit's height.

    A 5's lifted bar is short but about half a digit wide, so it survives to
    be merged.
    """
    return [s for s in segments if max(s.width, s.height) >= min_size * digit_height]


def merge(first, second):
    """One segment holding the ink of both."""
    x, y = min(first.x, second.x), min(first.y, second.y)
    right = max(first.x + first.width, second.x + second.width)
    bottom = max(first.y + first.height, second.y + second.height)
    mask = np.zeros((bottom - y, right - x), dtype=bool)
    for part in (first, second):
        mask[part.y - y:part.y - y + part.height, part.x - x:part.x - x + part.width] |= part.mask
    return Segment(x, y, mask)


def horizontal_overlap(first, second):
    """Columns the two boxes share; negative: the gap between them."""
    return (min(first.x + first.width, second.x + second.width)
            - max(first.x, second.x))


def merge_broken_parts(segments, digit_height, fragment_height=0.7, stacked=0.5,
                       max_gap=0.12, max_width=1.3, max_height=1.35):
    """Join the parts of broken digits, left to right.

    A part shorter than ``fragment_height`` of a digit cannot be a whole digit
    by itself (digits of a number are written about as tall as each other). It
    is joined to another part when the two stand one over the other (they
    share at least ``stacked`` of the narrower one's columns: a 5's bar over
    its body, an i-like dot) or side by side with a gap under ``max_gap`` of a
    digit height (the two strokes of an open 4) - as long as the result is
    still shaped like one digit (at most ``max_width`` and ``max_height``
    digit heights). Of several candidates the closest wins. Two parts of full
    height are never joined: those are two digits, however close.
    """
    segments = sorted(segments, key=lambda segment: segment.x)
    while True:
        best = None
        for i, first in enumerate(segments):
            for j in range(i + 1, len(segments)):
                second = segments[j]
                closeness = _merge_closeness(first, second, digit_height, fragment_height,
                                             stacked, max_gap, max_width, max_height)
                if closeness is not None and (best is None or closeness > best[0]):
                    best = (closeness, i, j)
        if best is None:
            return segments
        _, i, j = best
        joined = merge(segments[i], segments[j])
        segments = sorted([s for k, s in enumerate(segments) if k not in (i, j)] + [joined],
                          key=lambda segment: segment.x)


def _merge_closeness(first, second, digit_height, fragment_height, stacked, max_gap,
                     max_width, max_height):
    """How strongly two parts belong together (higher: closer), or None when
    they do not."""
    if min(first.height, second.height) >= fragment_height * digit_height:
        return None
    joined_width = max(first.x + first.width, second.x + second.width) - min(first.x, second.x)
    joined_height = (max(first.y + first.height, second.y + second.height)
                     - min(first.y, second.y))
    if joined_width > max_width * digit_height or joined_height > max_height * digit_height:
        return None
    overlap = horizontal_overlap(first, second)
    if overlap >= stacked * min(first.width, second.width):
        return overlap / min(first.width, second.width)  # 0.5 .. 1
    if overlap >= -max_gap * digit_height:
        return overlap / digit_height  # -max_gap .. below 0.5
    return None


def split_touching(segments, digit_height, max_width=1.3, min_width=1.0, thin=0.65,
                   digit_width=0.7, search=0.4):
    """Cut apart digits that touch.

    How many digits a segment holds is ``touching_count``. Each cut goes
    through the cheapest column (``cut_cost``) within ``search`` of a digit's
    width of where an even division would put it. The pieces are trimmed to
    their ink.
    """
    pieces = []
    for segment in segments:
        count = touching_count(segment, digit_height, max_width, min_width, thin, digit_width,
                               search)
        if count < 2:
            pieces.append(segment)
            continue
        columns = cut_cost(segment.mask)
        step = segment.width / count
        cuts, start = [], 0
        for k in range(1, count):
            expected = k * step
            low = max(start + 1, int(expected - search * step))
            high = min(segment.width - 1, int(expected + search * step) + 1)
            if low >= high:
                continue
            # a little dearer away from the expected place: of two equal contacts,
            # the one that leaves pieces of even width
            window = columns[low:high] * (1 + np.abs(np.arange(low, high) - expected)
                                          / segment.width)
            cut = thinnest_column(window, expected - low) + low
            cuts.append(cut)
            start = cut
        pieces.extend(_cut(segment, cuts))
    return pieces


def touching_count(segment, digit_height, max_width=1.3, min_width=1.0, thin=0.65,
                   digit_width=0.7, search=0.4):
    """How many digits one segment holds: 1, or more when they touch.

    Width alone is a weak sign: one in ten handwritten digits (wide 0s, 2s and
    5s) is wider than tall. So a segment is taken for touching digits when it
    is wider than ``max_width`` digit heights - then it holds
    ``round(width / (digit_width * height))`` of them, at least two - or when
    it is wider than ``min_width`` and a column near its middle holds less
    ink than ``thin`` of the pen's width. A column through the middle of one
    digit crosses at least one of its strokes, which lays down at least the
    pen's width of ink (more when the stroke slants); where two digits merely
    touch, the column through the contact holds less.
    """
    width = segment.width
    if width > max_width * digit_height:
        return max(2, int(round(width / (digit_width * digit_height))))
    if width > min_width * digit_height:
        middle = ink_columns(segment.mask)[int(width / 2 * (1 - search)):
                                           int(width / 2 * (1 + search)) + 1]
        if middle.size and middle.min() < thin * stroke_width(segment.mask):
            return 2
    return 1


def crossings(mask):
    """How many strokes cross each column (runs of ink from top to bottom)."""
    starts = np.diff(mask.astype(np.int8), axis=0) == 1
    return starts.sum(axis=0) + mask[0]


def cut_cost(mask):
    """What cutting through each column costs: its ink times the strokes it
    crosses.

    Ink alone would cut round digits that touch (00, 60) through the middle
    of one of them, where the column crosses two thin arcs, rather than at
    the contact, where it crosses one thicker lens (docs/accuracy.md).
    """
    return ink_columns(mask) * np.maximum(crossings(mask), 1)


def stroke_width(mask):
    """The pen's width in pixels of the ink in ``mask`` (``width_from_depth``)."""
    # scipy's transform, not shape.ink_depth, whose cost grows with the depth of
    # a large blot; imported here: a worker that reads no number never loads scipy
    from scipy import ndimage

    if not mask.any():
        return 0.0
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1][mask].mean()
    return width_from_depth(depth)


def ink_columns(mask):
    """Ink in each column (the vertical projection)."""
    return mask.sum(axis=0)


def thinnest_column(columns, expected):
    """The index of the column with the least ink; of equals, the one nearest
    ``expected``."""
    distance = np.abs(np.arange(len(columns)) - expected)
    return int(np.lexsort((distance, columns))[0])


def _cut(segment, cuts):
    """The pieces of ``segment`` between the cut columns, trimmed to their ink."""
    pieces = []
    for left, right in zip([0, *cuts], [*cuts, segment.width], strict=False):
        piece = trim(Segment(segment.x + left, segment.y, segment.mask[:, left:right]))
        if piece is not None:
            pieces.append(piece)
    return pieces


def trim(segment):
    """The segment shrunk to the box of its ink; None when it holds none."""
    rows = np.flatnonzero(segment.mask.any(axis=1))
    cols = np.flatnonzero(segment.mask.any(axis=0))
    if not len(rows):
        return None
    return Segment(segment.x + int(cols[0]), segment.y + int(rows[0]),
                   segment.mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


# -- the whole split ---------------------------------------------------------------


def split_digits(ink, threshold=INK_THRESHOLD, max_parts=MAX_PARTS):
    """The digits of a number written in ``ink`` (a 2-D array, ink high, paper
    0, such as ``remove_background(ink_from_image(image))``), as segments left
    to right; an empty list when there is no ink.

    More than ``max_parts`` marks of a digit's size is no number but a pattern
    (and merging them would cost the cube of their count): InvalidImage.
    """
    segments = connected_components(ink_mask(ink, threshold))
    height = typical_height(segments)
    segments = drop_specks(segments, height)
    if len(segments) > max_parts:
        raise InvalidImage(f"The image has {len(segments)} separate marks: more than a number "
                           f"of at most {max_parts // 2} digits could have.")
    segments = merge_broken_parts(segments, height)
    segments = split_touching(segments, height)
    return sorted(segments, key=lambda segment: segment.x + segment.width / 2)


def crop_digit(ink, segment, margin=2):
    """The ink of one digit, for the image chain: the segment's box (with a
    ``margin``), keeping only the ink within ``margin`` pixels of the digit's
    own strokes, so that no part of a neighbour comes with it.

    The margin keeps the soft edge of the strokes, which the chain's scaling
    averages in.
    """
    from scipy import ndimage  # here, not above: a worker that reads no number never loads scipy

    ink = np.asarray(ink)
    top, left = max(segment.y - margin, 0), max(segment.x - margin, 0)
    bottom = min(segment.y + segment.height + margin, ink.shape[0])
    right = min(segment.x + segment.width + margin, ink.shape[1])
    own = np.zeros((bottom - top, right - left), dtype=bool)
    own[segment.y - top:segment.y - top + segment.height,
        segment.x - left:segment.x - left + segment.width] = segment.mask
    if margin:
        own = ndimage.binary_dilation(own, structure=EIGHT_NEIGHBOURS, iterations=margin)
    return np.where(own, ink[top:bottom, left:right], 0).astype(np.float32)
