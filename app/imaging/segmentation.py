"""A whole number split into its digits, left to right: the ink's connected
parts, the parts of a broken digit merged, and of the ways to join and cut
them, the one the model reads most confidently (``read_digits``). Sizes are
judged against the image's own typical digit height, so the same rules hold
for a 60 px scan and a 1,000 px canvas."""

import itertools
from dataclasses import dataclass, replace

import numpy as np

from app.errors import InvalidImage
from app.imaging.ink import INK_THRESHOLD
from app.imaging.shape import measure_slant, width_from_depth

# The digits of a number read at most, for callers outside the service, which
# passes its MAX_NUMBER_DIGITS setting.
MAX_DIGITS = 32
PARTS_PER_DIGIT = 2  # a digit is drawn in up to two parts (a 5's lifted bar, an open 4)
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # a diagonal step of the pen stays connected
FEW_BLOBS = 1000  # blobs measured one by one; more (noise, dots) all at once


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
    labels, count = _label(mask)
    return _segments(labels, _boxes(labels, count), range(1, count + 1))


def digit_marks(mask, max_parts):
    """The marks of ``mask`` of a digit's size (``connected_components``
    without ``drop_specks``), and the height of a digit (``typical_height``).

    A picture of noise or dots has a hundred thousand blobs: they are
    measured and the specks dropped from their boxes alone, and more than
    ``max_parts`` marks is refused, before any becomes a Segment.
    """
    labels, count = _label(mask)
    boxes = _boxes(labels, count)
    heights, widths = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    digit_height = _typical_height(heights)
    numbers = np.flatnonzero(_is_mark(widths, heights, digit_height)) + 1
    if len(numbers) > max_parts:
        raise InvalidImage(f"The image has {len(numbers)} separate marks: more than a number of "
                           f"at most {max_parts // PARTS_PER_DIGIT} digits could have.")
    return _segments(labels, boxes, numbers), digit_height


def _label(mask):
    """The 8-connected blobs of ``mask`` numbered from 1, and their count."""
    from scipy import ndimage  # here, not above: a worker that reads no number never loads scipy

    return ndimage.label(mask, structure=EIGHT_NEIGHBOURS)


def _boxes(labels, count):
    """Top, bottom, left and right (past the end) of the blobs numbered 1 to
    ``count``, a row each.

    scipy's find_objects makes a Python object per blob: a quarter of a
    second for the 65,000 blobs of a picture of dots. Past FEW_BLOBS the
    boxes are found in a few passes of numpy over the ink instead, which cost
    more than find_objects for the few blobs of a number.
    """
    from scipy import ndimage  # here, not above: a worker that reads no number never loads scipy

    if count <= FEW_BLOBS:
        return np.array([(rows.start, rows.stop, cols.start, cols.stop)
                         for rows, cols in ndimage.find_objects(labels)],
                        dtype=np.intp).reshape(count, 4)
    rows, cols = np.nonzero(labels)
    numbers = labels[rows, cols] - 1
    boxes = np.zeros((count, 4), dtype=np.intp)
    boxes[:, 0], boxes[:, 2] = labels.shape
    np.minimum.at(boxes[:, 0], numbers, rows)
    np.maximum.at(boxes[:, 1], numbers, rows + 1)
    np.minimum.at(boxes[:, 2], numbers, cols)
    np.maximum.at(boxes[:, 3], numbers, cols + 1)
    return boxes


def _segments(labels, boxes, numbers):
    """The blobs ``numbers`` (from 1) as segments, left to right."""
    segments = []
    for number in numbers:
        top, bottom, left, right = (int(side) for side in boxes[number - 1])
        segments.append(Segment(left, top, labels[top:bottom, left:right] == number))
    return sorted(segments, key=lambda segment: segment.x)


def typical_height(segments):
    """The height of a digit in this image: the median height of the parts at
    least half as tall as the tallest.

    Bars, dots and specks are left out, so that a number with a broken digit
    or two is still measured by its whole digits.
    """
    return _typical_height(np.array([segment.height for segment in segments], dtype=np.intp))


def _typical_height(heights):
    """typical_height of parts of these heights."""
    if not heights.size:
        return 0
    return float(np.median(heights[heights >= heights.max() / 2]))


def drop_specks(segments, digit_height, min_size=0.2):
    """The segments without specks: dust, dots and stray touches of the pen,
    whose larger side is under ``min_size`` of a digit's height.

    A 5's lifted bar is short but about half a digit wide, so it survives to
    be merged.
    """
    return [s for s in segments if _is_mark(s.width, s.height, digit_height, min_size)]


def _is_mark(width, height, digit_height, min_size=0.2):
    """Whether a part of this size is more than a speck (numbers or arrays)."""
    return np.maximum(width, height) >= min_size * digit_height


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
    digit heights). Of several candidates the closest wins (of equals, the
    first in the order of left edges). Two parts of full height are never
    joined: those are two digits, however close.

    The closeness of every two parts is found at once, in numpy: a loop over
    the pairs for each join would cost the cube of the parts, a quarter of a
    second for 64.
    """
    segments = sorted(segments, key=lambda segment: segment.x)
    while len(segments) > 1:
        closeness = _merge_closeness(segments, digit_height, fragment_height, stacked, max_gap,
                                     max_width, max_height)
        best = np.argmax(closeness)  # the first of the highest, row by row: i, then j
        if closeness.flat[best] == -np.inf:
            break
        i, j = np.unravel_index(best, closeness.shape)
        joined = merge(segments[i], segments[j])
        segments = sorted([s for k, s in enumerate(segments) if k not in (i, j)] + [joined],
                          key=lambda segment: segment.x)
    return segments


def _merge_closeness(segments, digit_height, fragment_height, stacked, max_gap, max_width,
                     max_height):
    """How strongly the i-th and j-th parts belong together, i < j (higher:
    closer), as a matrix; -inf where they do not."""
    x, y, width, height = (np.array(values) for values in zip(
        *((s.x, s.y, s.width, s.height) for s in segments), strict=True))
    right, bottom = x + width, y + height
    joined_width = np.maximum.outer(right, right) - np.minimum.outer(x, x)
    joined_height = np.maximum.outer(bottom, bottom) - np.minimum.outer(y, y)
    overlap = np.minimum.outer(right, right) - np.maximum.outer(x, x)  # negative: a gap
    narrower = np.minimum.outer(width, width)
    closeness = np.where(overlap >= stacked * narrower, overlap / narrower,  # 0.5 .. 1
                         np.where(overlap >= -max_gap * digit_height,
                                  overlap / digit_height,  # -max_gap .. below 0.5
                                  -np.inf))
    apart = ((np.minimum.outer(height, height) >= fragment_height * digit_height)
             | (joined_width > max_width * digit_height)
             | (joined_height > max_height * digit_height))
    closeness[apart | ~np.triu(np.ones_like(apart), k=1)] = -np.inf
    return closeness


def split_touching(segments, digit_height, max_width=1.3, min_width=1.0, thin=0.65,
                   digit_width=0.7, search=0.4, max_digits=None, depth=None):
    """Cut apart digits that touch.

    How many digits a segment holds is ``touching_count``; ``cut_into`` cuts
    it into that many.

    The digits are counted before anything is cut, and more than
    ``max_digits`` of them is refused: a long stroke (a ruled line) would
    otherwise be cut into a thousand pieces, each then read. ``depth``: the
    PictureDepth of the picture the segments are from, if there is one.
    """
    if max_digits is not None and len(segments) > max_digits:
        raise _too_many_digits(len(segments), max_digits)
    counts = [touching_count(segment, digit_height, max_width, min_width, thin, digit_width,
                             search, depth) for segment in segments]
    if max_digits is not None and sum(counts) > max_digits:
        raise _too_many_digits(sum(counts), max_digits)
    pieces = []
    for segment, count in zip(segments, counts, strict=True):
        pieces.extend(cut_into(segment, count, search) if count >= 2 else [segment])
    return pieces


def _too_many_digits(count, max_digits):
    return InvalidImage(f"The image holds {count:,} digits or more: more than the {max_digits} "
                        f"of a number read at once.")


def touching_count(segment, digit_height, max_width=1.3, min_width=1.0, thin=0.65,
                   digit_width=0.7, search=0.4, depth=None):
    """How many digits one segment holds: 1, or more when they touch.

    Width alone is a weak sign: one in ten handwritten digits (wide 0s, 2s and
    5s) is wider than tall. So a segment is taken for touching digits when it
    is wider than ``max_width`` digit heights - then it holds
    ``round(width / (digit_width * height))`` of them, at least two - or when
    it is wider than ``min_width`` and a column near its middle holds less
    ink than ``thin`` of the pen's width, or the path from top to bottom
    near its middle that crosses the least ink (``cheapest_path``) crosses
    less than PATH_THIN of it. A column through the middle of one digit
    crosses at least one of its strokes, which lays down at least the pen's
    width of ink (more when the stroke slants), and so does any path; where
    two digits merely touch, the column or the path through the contact
    crosses less. ``depth``: as for split_touching.
    """
    width = segment.width
    if width > max_width * digit_height:
        return max(2, int(round(width / (digit_width * digit_height))))
    if width > min_width * digit_height:
        low, high = int(width / 2 * (1 - search)), int(width / 2 * (1 + search)) + 1
        middle = ink_columns(segment.mask)[low:high]
        around = None if depth is None else depth.around(segment)
        pen = stroke_width(segment.mask, around)
        if middle.size and middle.min() < thin * pen:
            return 2
        if middle.size and _path_ink(segment.mask[:, low:high]) < PATH_THIN * pen:
            return 2  # digits that lean or cross a little: no column, but a path
    return 1


def _path_ink(mask, most_rows=256):
    """The ink the cheapest path from top to bottom of ``mask`` crosses. A
    mask taller than ``most_rows`` (no digit of a number, but the mark of a
    pattern as tall as the picture) is looked at in bands of rows, each
    inked where any of its rows is, so that the path's work stays bounded."""
    step = -(-mask.shape[0] // most_rows)
    if step > 1:
        mask = np.logical_or.reduceat(mask, np.arange(0, mask.shape[0], step), axis=0)
    path = cheapest_path(mask)
    return int(mask[np.arange(mask.shape[0]), path].sum()) * step


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


def stroke_width(mask, distances=None):
    """The pen's width in pixels of the ink in ``mask`` (``width_from_depth``);
    ``distances``: its ``paper_distances``, if they are known already."""
    if not mask.any():
        return 0.0
    if distances is None:
        distances = paper_distances(mask)
    return width_from_depth(distances[mask].mean())


def paper_distances(mask):
    """How far each pixel of ``mask`` lies from the paper (the nearest pixel
    without ink, or past the edge)."""
    # scipy's transform, not shape.ink_depth, whose cost grows with the depth of
    # a large blot; imported here: a worker that reads no number never loads scipy
    from scipy import ndimage

    return ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]


class PictureDepth:
    """The ``paper_distances`` of segments of one picture's ink, each box
    measured alone until the boxes measured come to the picture's size, then
    the whole picture, once.

    Around a segment's own ink the picture's distances are the segment's
    own: no other mark touches it (8-connected, it would be the same mark),
    so paper lies nearer than any other ink. Boxes may overlap (a grid of
    diagonals has 30 as large as the picture), so that measuring each alone
    could cost 30 passes over the picture; an ordinary number's few small
    boxes cost less than one.
    """

    def __init__(self, mask):
        self.mask = mask
        self.measured = 0  # pixels of the boxes measured alone so far
        self.alone = {}  # id of a segment's mask -> (the mask, its distances)
        self.distances = None  # the whole picture's, once measured

    def around(self, segment):
        """The distances over the segment's box (right on its own ink only).
        A segment asked for again (counted, then cut) is not measured again."""
        if id(segment.mask) in self.alone:
            return self.alone[id(segment.mask)][1]
        if self.distances is None and self.measured + segment.mask.size <= self.mask.size:
            self.measured += segment.mask.size
            distances = paper_distances(segment.mask)
            self.alone[id(segment.mask)] = (segment.mask, distances)  # the mask kept: ids unique
            return distances
        if self.distances is None:
            self.distances = paper_distances(self.mask)
        return self.distances[segment.y:segment.y + segment.height,
                              segment.x:segment.x + segment.width]


class PixelBudget:
    """The pixels one kind of work may still cover in one picture, taken
    before each piece of the work is done."""

    def __init__(self, pixels):
        self.left = pixels

    def take(self, pixels):
        """Whether ``pixels`` more fit in the budget; where they do, they are taken."""
        if pixels > self.left:
            return False
        self.left -= pixels
        return True


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


def split_digits(ink, threshold=INK_THRESHOLD, max_digits=MAX_DIGITS):
    """The digits of a number written in ``ink`` (a 2-D array, ink high, paper
    0, such as ``remove_background(ink_from_image(image))``), as segments left
    to right, at most ``max_digits`` of them; an empty list when there is no
    ink.

    More is no number but a pattern (ruled lines, a grid, noise), refused
    with InvalidImage before the work grows with it: too many marks of a
    digit's size before they are merged (which costs the cube of their
    count), too many digits in them before any is cut apart.

    The split by shape alone, without reading: the service reads numbers by
    ``read_digits``; this is the yardstick it is measured against
    (``python -m bench.numbers --by-columns``).
    """
    mask = ink_mask(ink, threshold)
    segments, height = digit_marks(mask, PARTS_PER_DIGIT * max_digits)
    segments = merge_broken_parts(segments, height)
    segments = split_touching(segments, height, max_digits=max_digits, depth=PictureDepth(mask))
    return sorted(segments, key=lambda segment: segment.x + segment.width / 2)


def crop_digit(ink, segment, margin=2):
    """The ink of one digit, for the image chain: the segment's box (with a
    ``margin``), keeping only the ink within ``margin`` pixels of the digit's
    own strokes, so that no part of a neighbour comes with it.

    The margin keeps the soft edge of the strokes, which the chain's scaling
    averages in.
    """
    ink = np.asarray(ink)
    top, left = max(segment.y - margin, 0), max(segment.x - margin, 0)
    bottom = min(segment.y + segment.height + margin, ink.shape[0])
    right = min(segment.x + segment.width + margin, ink.shape[1])
    own = np.zeros((bottom - top, right - left), dtype=bool)
    own[segment.y - top:segment.y - top + segment.height,
        segment.x - left:segment.x - left + segment.width] = segment.mask
    return np.where(grow(own, margin), ink[top:bottom, left:right], 0).astype(np.float32)


def grow(mask, reach):
    """``mask`` grown by ``reach`` pixels in the eight directions: scipy's
    ``binary_dilation`` by EIGHT_NEIGHBOURS ``reach`` times, as a square of
    ``2 * reach + 1`` a side, row by row then column by column: a third of
    the cost, which counts where the boxes of a grid's lines are each as
    large as the picture."""
    for axis in (0, 1):
        padded = np.moveaxis(np.pad(mask, [(reach, reach) if side == axis else (0, 0)
                                           for side in (0, 1)]), axis, 0)
        grown = padded[:mask.shape[axis]].copy()
        for shift in range(1, 2 * reach + 1):
            grown |= padded[shift:shift + mask.shape[axis]]
        mask = np.moveaxis(grown, 0, axis)
    return mask


# -- reading by recognition ----------------------------------------------------------
#
# Cuts and merges are only hypotheses. The parts of broken digits are joined
# as above; then each run of neighbouring parts that could still be one digit,
# and each way of cutting one that may hold touching digits, is read, and the
# segmentation kept is the one whose digits read with the highest joint
# confidence (the product of the confidences and of the plausibility of their
# shapes), found by dynamic programming over the parts. On development data
# (docs/accuracy.md) this took the separated numbers miscounted from one in
# five to one in twenty-five, most of them wide digits cut in two.

MAX_RUN = 3  # parts joined into one digit at most (a 4 or a 5 in several strokes)
# ... and as wide as this many digit heights at most: a wide 4 or 3 whose
# strokes a photo broke apart is as wide as the widest digits are written
# (1.3 missed them; 2.0 also joined two touching 5s; docs/accuracy.md)
JOINED_WIDTH = 1.6
# The boxes of all the pieces read cover at most this many times the picture:
# reading costs by their pixels, and the ways of reading a number cover its
# picture at most about four times (bench.numbers, touching digits filling a
# canvas); marks whose boxes overlap like a pattern's (parallel diagonals,
# nested squares) cover it 12 to 20 times.
MAX_READ_AREA = 10
# The searches for the cheapest paths through runs (``path_cut_into``, whose
# work grows with the rows of a run and its width) cover at most this many
# times the picture: a number of touching digits filling a canvas, about 2
# (bench.numbers); the runs of nested squares, about 10. Past it, runs are cut
# straight down their cheapest columns only.
MAX_PATH_AREA = 4
# Digits cut out of one run of touching ink at most: a run of five (a number
# written without lifting the pen) and one more. With four, such a run was
# always read short (docs/accuracy.md).
MAX_PIECES = 6
SURE = 0.9  # a run read as one digit this confidently is never cut
PUNCTUATION_HEIGHT = 0.4  # marks lower than this share of a digit are never a digit alone
SKIP_COST = np.log(0.5)  # what leaving such a mark out costs, as a confidence would
CUT_COST = np.log(0.7)  # what each cut costs: a digit cut in two must read much better
JOIN_COST = np.log(0.7)  # what each join costs: two parts joined must read much better
MIN_PIECE_HEIGHT = 0.7  # a piece cut out lower than this share of a digit is no digit ...
MIN_TOUCHING_PIECE_HEIGHT = 0.6  # ... or than this, where the run's shape shows a contact
# A run narrower than MAY_TOUCH (but wider than CONTACT_WIDTH) whose shape shows
# no contact is read cut in two on a guess too, each piece at least this share
# of a digit's height: two narrow digits written side by side (a 1 leaning on
# a 4, a 6 on a 7) are each about as tall as the others, while the halves of
# one narrow digit cut down its middle (the bar of a 4 and its stem, a 6's
# loop and its neck) are mostly lower (docs/accuracy.md). Not 0.85: a
# number's digit height is the median of its parts', and the runs of touching
# digits among them are taller than one digit where baselines differ (by a
# tenth, on bench.numbers' touching numbers), so that the pieces of a narrow
# pair measure lower than they are; 0.8 reads more numbers right and no number
# read right at 0.85 wrong, though a few the default model already read wrong
# (a wide 4) are now miscounted as well; 0.75 loses some (docs/accuracy.md).
MIN_NARROW_PIECE_HEIGHT = 0.8
# A run at least this share of a digit's height wide is looked at for a contact
# (touching_count): two digits as narrow together (a 1 touching a 7) show one
# as plainly as wider ones, and one digit as narrow seldom shows any.
CONTACT_WIDTH = 0.6
# A run whose shape counts its digits (by a contact, or by its width) is
# also read cut into one more piece than that: a run of three touching
# digits is often counted two. But where it is no wider than
# MORE_PIECES_WIDTH digit heights, too narrow for three digits but where one
# is a 1, that costs MORE_PIECES_COST (as a log) more: the halves of one of
# its two digits often read better than the whole, each near a sample and
# with confidence ("90" read "510", the 9 cut into a 5 and a 1). Touching
# pairs alone: count right +0 to +1.2, none read right before lost; of the
# numbers, 3 more read right and 1 fewer. Without the width bound, pairs
# gained up to +3.2, but the 50k-MNIST model lost touching numbers (−1.75 to
# −2.25 of count right), runs of three digits counted two (docs/accuracy.md).
MORE_PIECES_WIDTH = 1.4
MORE_PIECES_COST = -2.0
MAY_TOUCH = 1.0  # a run wider than this share of a digit's height is also read cut in two ...
GUESSED_CUT_COST = -2.0  # ... at this cost (as a log), where its shape shows no contact
WIDE_ONE = 0.55  # a "1" wider than this share of its height is doubtful ...
WIDE_ONE_COST = np.log(0.3)  # ... by this much
# A 1 is one stroke: each of its rows crosses one run of ink, but where a
# flag or a foot leaves it. Squeezed into one digit's shape, touching digits
# (a 7 crossing an 8, a 5 leaning on a 3) often read as a 1 with confidence,
# as do the 4s and 2s a model misreads; their rows mostly cross two strokes
# or more. So a piece read as a 1 of which more than ONE_STROKE of the inked
# rows cross two strokes (``rows_crossing``) is no 1: it is read as the
# digit the model found next most probable, which costs NOT_ONE_COST (the
# model's first choice was wrong), and the judge, fooled by the same squeezed
# shape, is not asked about it. Of MNIST digits alone read as a 1, the 1s'
# share was 0.02 at most in 99 of 100 (at most 0.24); of touching pairs read
# as a 1, nine in ten were above 0.5 (docs/accuracy.md).
ONE_STROKE = 0.35
NOT_ONE_COST = np.log(0.05)
# Nor do many rows of one digit cross three strokes or more, and the rows of
# two digits side by side often do (a 0's two and a 1's one, an 8's two and
# a 3's one): a run read whole as one digit costs THREE_STROKES_COST (as a
# log) for each share of its inked rows that cross three strokes past
# THREE_STROKES. Of MNIST digits alone, 95 in 100 had 0.11 of their rows or
# fewer crossing three strokes (99 in 100: 0.25, at most 0.43); of the runs
# of touching pairs, half had 0.34 or more (docs/accuracy.md).
THREE_STROKES = 0.15
THREE_STROKES_COST = -10.0
# A digit's strokes meet at few places (``junction_count``): a 0, 6 or 9
# where its loop closes, a 3 at its middle, a 5 where its bar leaves the
# stem, a 7 where a bar crosses its stem; a 1 at its flag and its foot, a 4
# where its bar crosses the stem and meets the slant, a 2 where its loop
# closes and its tail crosses; an 8 where it crosses itself and its loops
# close. Two digits touching keep the junctions of each, and add one or two
# where a stroke of one ends on the other or crosses it. So a run that may
# be cut, one part read whole as digit d, gains FEW_JUNCTIONS_BONUS (as a
# log) where its strokes meet at JUNCTIONS_OF[d] places or fewer, and costs
# JUNCTION_COST for each place more. Of MNIST digits alone, 988 in 1,000 met
# at their digit's places or fewer; of touching pairs, squeezed into one
# digit's shape and read as one, four in ten at more (docs/accuracy.md).
JUNCTIONS_OF = (1, 2, 2, 1, 2, 1, 1, 1, 3, 1)
FEW_JUNCTIONS_BONUS = 1.0
JUNCTION_COST = -2.5
WIDE_DIGIT = 1.2  # a digit wider than this share of the digits' height is doubtful ...
WIDE_COST = -3.0  # ... by this much (as a log) for each digit height wider
# A "1" wider than this share of its own height is no 1 at all, but touching
# digits (a run of three read as one slanted stroke) or a 2's long foot: it
# costs WIDE_COST more for each of its heights of width. Wide 1s are slanted
# ones, rarely even as wide as tall (docs/accuracy.md).
WIDEST_ONE = 1.0
# A piece farther than FAR of its model's typical distances
# (``vote.typical_distance``: how far the digits a model has not seen lie from
# its nearest sample) from every sample the model knows is doubtful. Half of
# real handwritten digits lie nearer than 20 to a sample of the default model
# (the distance between the chain's 64 features, 0-16 each; MNIST
# 50,000-50,999 drawn on a canvas: median 20, nine in ten within 27), whose
# typical distance is 15.9. Half a digit, or two squeezed into one, often
# reads with confidence but looks like no digit at all. A model of more
# samples lies nearer to everything, such pieces included, and its distances
# are measured on its own scale: the model of 50,000 MNIST digits, typical
# distance 13.5, reads real digits at a median of 13.6 (docs/accuracy.md).
FAR = 1.25
FAR_COST = -4.8  # ... by this much (as a log) for each typical distance farther
TYPICAL_DISTANCE = 16.0  # the scale of a model stored without its own: the default model's
# Where the reader judges how much a run looks like two touching digits
# (``pair_share``: the share of touching pairs among its nearest samples), a
# cut gains, and the run read whole loses, this many times the log of that
# share (of one less it), the share kept within PAIR_SHARES: a judge of nine
# neighbours is never quite sure.
PAIR_WEIGHT = 1.5
PAIR_SHARES = (0.05, 0.95)
# The judge sees a run as the chain gives it, squeezed to the shape of one
# digit: a run of three touching digits looks to it like a 1 or an 8 as often
# as like a pair. So it is not asked about a run wider than this many digit
# heights, wider than one digit is written (the widest of bench.numbers'
# stretched digits: 1.9), which is read by its pieces alone.
WIDEST_DIGIT = 2.0
# A run that may be cut is also read cut at every choice of its candidate cuts
# (_cut_at_candidates), widest run first, as long as the boxes of all such
# pieces cover at most MAX_CANDIDATE_AREA times the picture (a number of
# touching digits filling a canvas: about 6; past it, a run is read with its
# even cuts only):
MAX_CANDIDATE_AREA = 10
# Not only the runs wider than 1.3 digit heights whose shape shows a contact,
# as before: an even cut of a narrower run, or of one cut only on a guess,
# misses where its digits differ in width, above all a 1 beside a wider digit
# (of touching pairs, those with a 1 were read with the right count half as
# often as the rest; docs/accuracy.md). Where the cut is only guessed, the
# run is cut there in two only (in three as well, a number read the same took
# up to a sixth longer), each piece at least this share of a digit tall: an
# open 4's stem beside its bar reads as a 1 beside a digit too, and the bar is
# mostly lower.
MIN_GUESSED_CANDIDATE_HEIGHT = 0.8
CUT_CANDIDATES = 8  # the cheapest columns of a run tried as cuts, at most, ...
CUT_SPACING = 0.2  # ... this many digit heights apart, ...
CUT_MARGIN = 0.15  # ... and this far from the run's ends, each with the path beside it
PIECE_WIDTHS = (0.15, 1.3)  # a piece cut out there is this many digit heights wide
# A bit of a cut piece lying apart from the rest of its ink and holding less
# than this share of it is a sliver of the neighbour the cut went through, and
# is left out of the piece (``without_slivers``): touching numbers +0.75 to +1.75
# of count right in three styles of four (docs/accuracy.md). A 5's lifted bar
# mostly holds more: a quarter of the ink, in the median MNIST 5 written in
# two strokes (one in four holds less, and is lost where its 5 is cut out).
SLIVER = 0.2
# A run whose ink leans by at least this many columns a row (``measure_slant``:
# MNIST writers lean forward by 0.08 on average) is also read cut along its
# slant (``slant_cut_into``), into as many pieces as it is cut upright: a 1
# or a 7's stem leaning on its neighbour shares every column with it. Touching
# numbers +0.5 to +1.5 of count right (the 50k-MNIST model's photos 0), pairs
# alone +0.4 to +1.4; the default model's separated numbers −0.25 to −0.5, all
# of them read wrong before (docs/accuracy.md).
CUT_SLANT = 0.1


@dataclass(frozen=True)
class Mark:
    """A mark of a number that is no digit: a decimal point, a comma or a minus
    sign, by its shape and place, and where it is."""

    kind: str  # "point", "comma" or "minus"
    box: tuple


def read_digits(ink, read, threshold=INK_THRESHOLD, max_digits=MAX_DIGITS, sure=SURE):
    """The digits of the number written in ``ink``, left to right, as
    (segment, reading) pairs, and the marks left out (Mark), chosen by how
    confidently ``read`` reads them.

    ``read`` takes a list of segments and returns, for each, None when it
    holds nothing readable, or an object with a ``confidence`` (0-1) and,
    where known, the ``digit`` read, the ``distance`` to the nearest sample
    of the model and the ``probabilities`` of each digit (a dataclass:
    one read as a 1 whose shape is no 1's is read as the next). Every
    segment is read once, in one call; the work is bounded by the parts of
    a digit's size (refused past ``PARTS_PER_DIGIT * max_digits``), the
    few hypotheses each run of them makes (refused past MAX_READ_AREA
    times the picture, first by the runs alone), the paths searched for
    their cuts (within MAX_PATH_AREA times the picture), the runs searched
    for junctions (within MAX_JUNCTION_AREA times), and the pieces of the
    candidate and junction cuts of the runs that may be cut (read within
    MAX_CANDIDATE_AREA times the picture).
    """
    mask = ink_mask(ink, threshold)
    parts, height = digit_marks(mask, PARTS_PER_DIGIT * max_digits)
    if not parts:
        return [], []
    parts = merge_broken_parts(parts, height)
    parts = sorted(parts, key=lambda part: part.x + part.width / 2)
    joined = _runs(parts, height)
    # Every run is read whole: where those alone cover more than MAX_READ_AREA
    # times the picture (the boxes of parallel diagonals, of nested squares),
    # it is refused before any contact is measured or cut made.
    _check_read_area(joined.values(), mask)
    depth, paths = PictureDepth(mask), PixelBudget(MAX_PATH_AREA * mask.size)
    counts = [touching_count(part, height, min_width=CONTACT_WIDTH, depth=depth)
              for part in parts]
    if sum(counts) > max_digits:  # a long stroke (a ruled line) is no thousand digits
        raise _too_many_digits(sum(counts), max_digits)
    runs = {}  # (first, end) -> the run's hypotheses, each a list of pieces
    # (first, end) -> a run that may be cut: its most pieces, its cuts' prior, their
    # least height, the digits its shape counts
    cut = {}
    for (first, end), run in joined.items():
        count = counts[first] if end == first + 1 else touching_count(
            run, height, min_width=CONTACT_WIDTH, depth=depth)
        runs[first, end] = _hypotheses(run, count, height, depth, paths)
        if count >= 2:
            cut[first, end] = (_most_pieces(run, count, height), 0.0, MIN_TOUCHING_PIECE_HEIGHT,
                               count)
        elif len(runs[first, end]) > 1:  # cut on a guess: in two
            _, prior, lowest = runs[first, end][1]
            cut[first, end] = 2, prior, max(lowest, MIN_GUESSED_CANDIDATE_HEIGHT), 2
    pieces = _each_once(hypothesis for hypotheses in runs.values()
                        for hypothesis, _, _ in hypotheses)
    if len(pieces) > 4 * MAX_PIECES * PARTS_PER_DIGIT * max_digits:
        raise _too_many_digits(len(pieces), max_digits)
    _check_read_area(pieces, mask)
    candidates = PixelBudget(MAX_CANDIDATE_AREA * mask.size)
    junctions = PixelBudget(MAX_JUNCTION_AREA * mask.size)
    # the widest runs first: they hold the most digits, and need the candidates most
    for key in sorted(cut, key=lambda key: -joined[key].width):
        (most, prior, lowest, count), run = cut[key], joined[key]
        pen = stroke_width(run.mask, depth.around(run))
        cuts, area = _cut_at_candidates(run, most, height, pen, candidates.left)
        candidates.take(area)  # within what was left: _cut_at_candidates keeps to it
        runs[key] += [(pieces_of_cut, prior + _more_pieces_cost(run, len(pieces_of_cut), count,
                                                                height), lowest)
                      for pieces_of_cut in cuts]
        pieces += _each_once(cuts)
        if count > JUNCTION_COUNT or not junctions.take(run.mask.size):
            continue
        # in two, as many pieces as the shape counts: no cost for more pieces
        crossed = [pieces_of_cut
                   for pieces_of_cut in _unseen(junction_cuts(run, pen, height, lowest), runs[key])
                   if candidates.take(sum(piece.mask.size for piece in pieces_of_cut))]
        runs[key] += [(pieces_of_cut, prior, lowest) for pieces_of_cut in crossed]
        pieces += _each_once(crossed)
    readings = dict(zip(map(id, pieces), read(pieces), strict=True))
    not_ones = {id(piece) for piece in pieces
                if getattr(readings[id(piece)], "digit", None) == 1
                and rows_crossing(piece.mask, 2) > ONE_STROKE}
    readings.update((key, _next_digit(readings[key])) for key in not_ones)
    chosen, marks = _best_segmentation(parts, runs, readings, height, sure, not_ones)
    if len(chosen) > max_digits:
        raise _too_many_digits(len(chosen), max_digits)
    return [(piece, readings[id(piece)]) for piece in chosen], marks


def rows_crossing(mask, strokes):
    """The share of the inked rows of ``mask`` that cross ``strokes``
    strokes or more (runs of ink from left to right)."""
    crossed = crossings(mask.T)
    inked = crossed > 0
    return float((crossed[inked] >= strokes).mean()) if inked.any() else 0.0


def _next_digit(reading):
    """``reading``, a 1 whose shape is no 1's, as the digit other than 1 its
    ``probabilities`` hold most probable, with that probability as its
    confidence (its ``probabilities`` as the model gave them); as it is
    where it holds none."""
    probabilities = getattr(reading, "probabilities", None)
    if probabilities is None:
        return reading
    probabilities = np.array(probabilities, dtype=float)
    probabilities[1] = -np.inf
    digit = int(probabilities.argmax())
    return replace(reading, digit=digit, confidence=float(probabilities[digit]))


def _runs(parts, digit_height):
    """The runs of up to MAX_RUN neighbouring parts that could be one digit
    (``_joined``), by (first, end) index of their parts."""
    runs = {}
    for first in range(len(parts)):
        for end in range(first + 1, min(first + MAX_RUN, len(parts)) + 1):
            run = _joined(parts[first:end], digit_height)
            if run is None:
                break
            runs[first, end] = run
    return runs


def _check_read_area(segments, mask):
    """InvalidImage where the boxes of ``segments`` (to be read) cover more
    than MAX_READ_AREA times the picture ``mask``."""
    if sum(segment.mask.size for segment in segments) > MAX_READ_AREA * mask.size:
        raise InvalidImage("The image's marks overlap like a pattern (lines, a grid, nested "
                           "shapes), not like the digits of a number: it was not read.")


def _each_once(hypotheses):
    """The pieces of ``hypotheses`` (lists of pieces), each once however
    many hypotheses share it."""
    return list({id(piece): piece for pieces in hypotheses for piece in pieces}.values())


def _joined(parts, digit_height, max_width=JOINED_WIDTH, max_height=1.35, fragment_height=0.7,
            max_gap=0.12):
    """The parts joined into one segment, or None when they cannot be one
    digit: too wide or too tall for one, two of them of full height (two
    digits, however close), or a gap between neighbours."""
    if len(parts) == 1:
        return parts[0]
    tall = sum(part.height >= fragment_height * digit_height for part in parts)
    if tall > 1:
        return None
    joined = parts[0]
    for part in parts[1:]:
        if horizontal_overlap(joined, part) < -max_gap * digit_height:
            return None
        joined = merge(joined, part)
    if joined.width > max_width * digit_height or joined.height > max_height * digit_height:
        return None
    return joined


def _hypotheses(run, count, digit_height, depth, paths):
    """The ways of reading one run of ink, each with what its shape makes it
    cost before it is read (a log): as one digit, and, when its shape says
    it may hold ``count`` digits (``touching_count``), cut into 2 up to one
    more than that (at most MAX_PIECES), each both straight down the
    cheapest columns (``cut_into``) and along the cheapest paths
    (``path_cut_into``) where those differ, as long as ``paths`` (a
    PixelBudget of the picture) holds the run's pixels for each search.
    ``depth``: the PictureDepth of the picture the run is from, which
    measures the pen.

    A run whose shape shows no contact, but which is wider than MAY_TOUCH
    digit heights, is also read cut in two, at the cost GUESSED_CUT_COST:
    the shape alone misses two in five touching pairs, which lean into each
    other or cross with a stroke as thick as a digit's own, and only reading
    can tell those from one wide digit (docs/accuracy.md). So is a narrower
    one, from CONTACT_WIDTH digit heights: two narrow digits side by side
    (a 1 and a 4) are often no wider than one digit.

    Each hypothesis also says how low (a share of ``digit_height``) each of
    its pieces may be: MIN_TOUCHING_PIECE_HEIGHT where the shape shows the
    contact (a small digit touching a tall one), MIN_PIECE_HEIGHT where the
    cut is only guessed (the half of one wide digit is often that low), and
    MIN_NARROW_PIECE_HEIGHT where the guessed cut is of a narrow run.

    A run that leans by CUT_SLANT or more is also cut into each number of
    pieces along its slant (``slant_cut_into``).
    """
    hypotheses = [([run], 0.0, 1.0)]
    prior, lowest = 0.0, MIN_TOUCHING_PIECE_HEIGHT
    if count < 2:  # no contact in its shape: cut in two on a guess, if wide enough
        if run.width <= CONTACT_WIDTH * digit_height:
            return hypotheses
        narrow = run.width <= MAY_TOUCH * digit_height
        count, prior = 2, GUESSED_CUT_COST
        lowest = MIN_NARROW_PIECE_HEIGHT if narrow else MIN_PIECE_HEIGHT
    most = _most_pieces(run, count, digit_height)
    pen = stroke_width(run.mask, depth.around(run))
    slant = measure_slant(run.mask)
    slanted = []
    for pieces in range(2, most + 1):
        cost = prior + _more_pieces_cost(run, pieces, count, digit_height)
        straight = [without_slivers(piece) for piece in cut_into(run, pieces)]
        if len(straight) == pieces:
            hypotheses.append((straight, cost, lowest))
        if abs(slant) >= CUT_SLANT:
            leaning = [without_slivers(piece) for piece in slant_cut_into(run, pieces, slant)]
            if len(leaning) == pieces:
                slanted.append((leaning, cost, lowest))
        if not paths.take(run.mask.size):
            continue
        along = [without_slivers(piece)
                 for piece in path_cut_into(run, pieces, most_ink=PATH_MOST_INK * pen)]
        if len(along) == pieces and not _same_pieces(along, straight):
            hypotheses.append((along, cost, lowest))
    # after the others, and only those that differ from them: of equal
    # readings, an upright cut is kept
    return hypotheses + [(leaning, cost, lowest) for leaning, cost, lowest in slanted
                         if _unseen([leaning], hypotheses)]


def _more_pieces_cost(run, pieces, count, digit_height):
    """What cutting ``run``, whose shape counts ``count`` digits, into
    ``pieces`` costs for the pieces past that count: MORE_PIECES_COST where
    the run is no wider than MORE_PIECES_WIDTH digit heights."""
    if pieces > count and run.width <= MORE_PIECES_WIDTH * digit_height:
        return MORE_PIECES_COST
    return 0.0


def _most_pieces(run, count, digit_height):
    """The most pieces ``run``, whose shape says it holds ``count`` digits,
    is cut into: one more than that, at most MAX_PIECES, and two where the
    run is narrower than MAY_TOUCH digit heights (a 1 and another digit)."""
    if run.width <= MAY_TOUCH * digit_height:
        return 2
    return min(MAX_PIECES, count + 1)


def _cut_at_candidates(run, most, digit_height, pen, budget):
    """Every way of cutting ``run`` into 2 up to ``most`` pieces, each
    PIECE_WIDTHS digit heights wide, at places chosen among its candidate
    cuts (``candidate_sides``), left to right, and the pixels of the boxes
    of the pieces, at most. Where those could come to more than ``budget``,
    the dearest places are left out, one by one, before any piece is made:
    the widest runs, which need the candidates most, have the most places
    (none, and 0, where even the two cheapest cost too much). Hypotheses
    share their pieces: the piece between two places is one object, read
    once.

    A cut into even widths (``cut_into``) misses where the digits of a run
    differ in width: a 1 touching a wide 0 and a 4, three digits of which
    the middle one is cut in two. Reading every choice of the run's few
    cheapest places finds them (docs/accuracy.md).
    """
    places = candidate_sides(run, digit_height, pen)
    for kept in range(1 + max((rank for rank, _ in places), default=0), 0, -1):
        sides = [side for rank, side in places if rank < kept]
        ends = [np.zeros(run.height, dtype=np.intp), *sides, np.full(run.height, run.width)]
        pairs, area = _piece_places(run, ends, digit_height)
        if area <= budget:
            break
    else:
        return [], 0
    allowed, pieces = set(pairs), {}

    def piece(pair):  # made once, and only where a cut uses it (a cut in two: few)
        if pair not in pieces:
            pieces[pair] = (without_slivers(_between(run, *(ends[end] for end in pair)))
                            if pair in allowed else None)
        return pieces[pair]

    hypotheses = []
    for count in range(2, most + 1):
        for cuts in itertools.combinations(range(1, len(ends) - 1), count - 1):
            bounds = (0, *cuts, len(ends) - 1)
            cut = [piece(pair) for pair in itertools.pairwise(bounds)]
            if None not in cut:
                hypotheses.append(cut)
    return hypotheses, area


def _piece_places(run, ends, digit_height):
    """The pairs of ``ends`` (sides, left to right) a piece may lie between,
    PIECE_WIDTHS digit heights apart, and the pixels of those pieces' boxes
    at most."""
    middles = [float(side.mean()) for side in ends]
    narrowest, widest = (share * digit_height for share in PIECE_WIDTHS)
    pairs = [(left, right) for left, right in itertools.combinations(range(len(ends)), 2)
             if narrowest <= middles[right] - middles[left] <= widest]
    area = sum(run.height * (int(ends[right].max()) - int(ends[left].min()))
               for left, right in pairs)
    return pairs, area


def candidate_sides(run, digit_height, pen):
    """The places ``run`` may be cut, left to right, each as its rank (0:
    the cheapest column) and the column of the cut in each row: its
    CUT_CANDIDATES cheapest columns (``cut_cost``), each at least
    CUT_SPACING digit heights from the others and CUT_MARGIN from the run's
    ends, and beside each the cheapest path (``cheapest_path``) within
    CUT_MARGIN of it, where the path crosses less than a pen's width of ink
    (of the same rank as its column)."""
    costs = cut_cost(run.mask)
    most, spacing = CUT_CANDIDATES, CUT_SPACING
    # a pixel at least: the path beside a column is searched within it (a run
    # of a picture a few pixels tall is cut at candidate places too)
    margin = max(1, int(CUT_MARGIN * digit_height))
    if run.width <= 2 * margin:
        return []
    chosen = []
    for column in np.argsort(costs[margin:run.width - margin], kind="stable") + margin:
        if all(abs(column - other) >= spacing * digit_height for other in chosen):
            chosen.append(int(column))
            if len(chosen) == most:
                break
    sides, rows = [], np.arange(run.height)
    for rank, column in sorted(enumerate(chosen), key=lambda place: place[1]):
        straight = np.full(run.height, column)
        sides.append((rank, straight))
        low, high = max(1, column - margin), min(run.width - 1, column + margin + 1)
        path = cheapest_path(run.mask[:, low:high]) + low
        if (run.mask[rows, path].sum() <= PATH_MOST_INK * pen
                and not np.array_equal(path, straight)):
            sides.append((rank, path))
    return sides


def _between(run, left, right):
    """The piece of ``run`` between two sides (the first column right of
    each, by row), trimmed to its ink; None when it holds none."""
    columns = np.arange(run.width)[None, :]
    return trim(Segment(run.x, run.y,
                        run.mask & (columns >= left[:, None]) & (columns < right[:, None])))


def without_slivers(piece, most=SLIVER):
    """``piece``, cut out of a run of ink, without the bits of ink that lie
    apart from the rest and hold less than ``most`` of its ink (None stays
    None).

    A cut through the place where two digits touch or cross leaves the tips
    of one digit's strokes on the other's side: a few pixels apart from the
    digit they were cut off, which the chain would scale and centre with it
    as if they were a stroke of its own, and which stretch its box.
    """
    if piece is None:
        return None
    labels, count = _label(piece.mask)
    if count < 2:
        return piece
    sizes = np.bincount(labels.ravel())[1:]
    kept = np.concatenate([[False], sizes >= most * sizes.sum()])
    kept[sizes.argmax() + 1] = True  # the largest bit stays, however many share the ink
    if kept[1:].all():
        return piece
    return trim(Segment(piece.x, piece.y, kept[labels]))


def _unseen(cuts, hypotheses):
    """The ``cuts`` (lists of pieces) that cut their run otherwise than every
    one of ``hypotheses`` (pieces, prior, lowest) does."""
    return [cut for cut in cuts
            if not any(_same_pieces(cut, other) for other, _, _ in hypotheses)]


def _same_pieces(first, second):
    return len(first) == len(second) and all(
        a.box == b.box and np.array_equal(a.mask, b.mask)
        for a, b in zip(first, second, strict=True))


def cut_into(segment, count, search=0.4):
    """``segment`` cut into ``count`` pieces through the cheapest columns
    (``cut_cost``) within ``search`` of a piece's width of where an even
    division would put each cut, trimmed to their ink."""
    return _cut(segment, _cut_columns(segment.mask, count, search))


def _cut_columns(mask, count, search):
    """The columns ``cut_into`` cuts ``mask`` at, left to right."""
    columns = cut_cost(mask)
    width = mask.shape[1]
    step = width / count
    cuts, start = [], 0
    for k in range(1, count):
        expected = k * step
        low, high = _search_window(expected, step, start, width, search)
        if low >= high:
            continue
        # a little dearer away from the expected place: of two equal contacts,
        # the one that leaves pieces of even width
        window = columns[low:high] * (1 + np.abs(np.arange(low, high) - expected) / width)
        cut = thinnest_column(window, expected - low) + low
        cuts.append(cut)
        start = cut
    return cuts


def _search_window(expected, step, start, width, search):
    """The columns [low, high) searched for a cut expected at column
    ``expected`` of a run ``width`` wide cut into pieces ``step`` wide:
    within ``search`` of a piece's width of it, right of the last cut
    (``start``) and left of the run's last column."""
    return (max(start + 1, int(expected - search * step)),
            min(width - 1, int(expected + search * step) + 1))


def slant_cut_into(segment, count, slant, search=0.4):
    """``segment`` cut into ``count`` pieces along parallel lines that lean
    by ``slant`` columns a row (``shape.measure_slant``), each where
    ``cut_into`` would cut the segment sheared upright, trimmed to their ink.

    Digits that lean touch along their slant: a 7's stem and the 1 beside
    it, or an 8 leaning on a 7, share every column from top to bottom, and
    the gap between them crosses the columns at a slant. The segment is
    sheared by whole pixels, row by row, so that each pixel of a piece is a
    pixel of the segment.
    """
    rows = np.arange(segment.height)
    shift = np.rint(slant * (rows - (segment.height - 1) / 2)).astype(np.intp)
    pad = int(np.abs(shift).max())
    upright = np.zeros((segment.height, segment.width + 2 * pad), dtype=bool)
    inked_rows, inked_columns = np.nonzero(segment.mask)
    upright[inked_rows, inked_columns + pad - shift[inked_rows]] = True
    inked = np.flatnonzero(upright.any(axis=0))
    if not inked.size:
        return []
    first = int(inked[0])
    cuts = _cut_columns(upright[:, first:inked[-1] + 1], count, search)
    sides = [np.clip(cut + first - pad + shift, 0, segment.width) for cut in cuts]
    return _cut_along(segment, sides)


# Digits that touch where a stroke of one ends on the other (a 7's stem on a
# 2's foot, a 3's tip on a 1) or crosses it (a 5's bar across a 1, a 7's stem
# across a 0) share no gap that a line or a path from top to bottom can
# follow: one digit reaches under or over the other. Their strokes meet at a
# junction of the ink's skeleton, and a run is also cut there
# (``junction_cuts``): the ink within a pen's width of each of its JUNCTIONS
# junctions nearest its middle is taken out, and each way of putting the
# JUNCTION_PARTS largest parts the rest falls into (each at least
# JUNCTION_PART_SHARE of it) into a left and a right piece is a cut, each
# pixel taken out going with the part nearest it. The cuts at the junctions
# that take out the least ink are read, JUNCTION_CUTS at most, of the runs
# that may be cut whose shape counts JUNCTION_COUNT digits at most (a run
# of three counted three, cut in two, was read short more often than
# right). Touching numbers +1.25 to +2.0 of number right, pairs alone +0.8
# to +3.2 of exactly right; a cut there costing more than another cut (a
# log of −0.5 or −1.0) won fewer (docs/accuracy.md).
JUNCTIONS = 10
JUNCTION_PARTS = 5
JUNCTION_PART_SHARE = 0.03  # smaller parts (a speck of a stroke) are left out
JUNCTION_SHIFT = 0.15  # digit heights at least between the middles of a cut's two pieces
JUNCTION_CUTS = 6
JUNCTION_COUNT = 2
# The runs searched for junctions cover at most this many times the picture
# (the search labels a run's ink once for each junction): a number of
# touching digits filling a canvas, about 2.
MAX_JUNCTION_AREA = 4


def junction_cuts(segment, pen, digit_height, lowest):
    """The cuts of ``segment`` in two at the junctions of its strokes (each
    a list of the two pieces, left to right), those that take out the
    least ink first, at most JUNCTION_CUTS; each piece at least ``lowest``
    digit heights tall."""
    mask = segment.mask
    rows, columns = np.indices(mask.shape)
    reach = max(1.5, pen)
    discs = [mask & ((rows - row) ** 2 + (columns - column) ** 2 <= reach ** 2)
             for row, column in stroke_junctions(mask, JUNCTIONS)]
    ink = int(mask.sum())
    cuts, seen = [], set()
    # the junctions whose discs take out the least ink first, until enough cuts are found
    for disc in sorted(discs, key=np.count_nonzero):
        parts, count = _label(mask & ~disc)
        sizes = np.bincount(parts.ravel(), minlength=count + 1)[1:]
        largest = np.argsort(-sizes, kind="stable")[:JUNCTION_PARTS]
        largest = largest[sizes[largest] >= JUNCTION_PART_SHARE * ink] + 1
        if len(largest) < 2:
            continue
        owner = np.where(np.isin(parts, largest), parts, 0)
        _give_to_nearest(owner, disc)
        inked = np.bincount(owner.ravel(), minlength=count + 1)
        across = np.bincount(owner.ravel(), weights=columns.ravel(), minlength=count + 1)
        for choice in range(1, 2 ** (len(largest) - 1)):
            group = largest[[bool(choice >> k & 1) for k in range(len(largest))]]
            other = np.setdiff1d(largest, group)
            middles = (across[group].sum() / inked[group].sum(),
                       across[other].sum() / inked[other].sum())
            if abs(middles[0] - middles[1]) < JUNCTION_SHIFT * digit_height:
                continue
            chosen = np.zeros(count + 1, dtype=bool)
            chosen[group if middles[0] < middles[1] else other] = True
            first = chosen[owner]
            second = (owner > 0) & ~first
            key = first.tobytes()
            if key in seen:
                continue
            seen.add(key)
            pieces = [without_slivers(trim(Segment(segment.x, segment.y, side)))
                      for side in (first, second)]
            if all(piece.height >= lowest * digit_height for piece in pieces):
                cuts.append(pieces)
                if len(cuts) == JUNCTION_CUTS:
                    return cuts
    return cuts


def stroke_junctions(mask, most):
    """The places (row, column) where three strokes or more of ``mask`` meet:
    the middles of the pixels of its skeleton with three neighbours or
    more, at most ``most``, those nearest its middle column first."""
    from scipy import ndimage  # here, not above: see _label
    from skimage.morphology import skeletonize

    skeleton = skeletonize(mask)
    around = ndimage.convolve(skeleton.astype(np.uint8), np.ones((3, 3), np.uint8),
                              mode="constant")  # each pixel and its eight neighbours
    hubs, count = _label(skeleton & (around >= 4))
    rows, columns = np.nonzero(hubs)
    hub_of = hubs[rows, columns]  # the number of each hub pixel
    pixels = np.bincount(hub_of, minlength=count + 1)[1:]
    centres = np.column_stack([np.bincount(hub_of, weights=place, minlength=count + 1)[1:]
                               / pixels for place in (rows, columns)])
    middle = (mask.shape[1] - 1) / 2
    return centres[np.argsort(np.abs(centres[:, 1] - middle), kind="stable")[:most]]


def junction_count(mask, pen=None):
    """How many places three strokes or more of ``mask`` meet: the pixels of
    its skeleton from which three branches leave or more (``_branches``),
    once the holes smaller than a pen's width squared are filled and the
    branches shorter than the pen's width (``pen``; measured where None)
    are pruned, which a thick stroke's ragged edge leaves; those within a
    pen's width of each other count as one (the two of a crossing)."""
    from scipy.sparse import coo_matrix  # here, not above: see _label
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    from skimage.morphology import remove_small_holes, skeletonize

    pen = stroke_width(mask) if pen is None else pen
    # a pinhole in a stroke would be a loop of the skeleton, with two junctions
    skeleton = np.pad(skeletonize(remove_small_holes(mask, max_size=max(1.0, pen ** 2))), 1)
    rows, columns = np.nonzero(skeleton)
    # a branch loses its end a round: one shorter than the pen's width is gone
    for _ in range(max(1, round(pen))):
        ends = _branches(skeleton, rows, columns) <= 1
        if not ends.any():
            break
        skeleton[rows[ends], columns[ends]] = False
        rows, columns = rows[~ends], columns[~ends]
    hubs = np.column_stack([rows, columns])[_branches(skeleton, rows, columns) >= 3]
    if not len(hubs):
        return 0
    pairs = cKDTree(hubs).query_pairs(max(pen, 1.5), output_type="ndarray")
    near = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                      shape=(len(hubs), len(hubs)))
    return int(connected_components(near, directed=False)[0])


# the eight neighbours of a pixel, in order round it
AROUND = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _branches(skeleton, rows, columns):
    """How many branches of ``skeleton`` leave each of its pixels at
    ``rows``, ``columns`` (none on its border): the times its neighbours,
    taken round it, turn from paper to ink. Counting the neighbours would
    take the corner of a diagonal step, two of whose neighbours touch, for
    a junction."""
    around = [skeleton[rows + row, columns + column] for row, column in AROUND]
    return sum(~before & after for before, after in zip(around[-1:] + around[:-1], around,
                                                        strict=True))


def _give_to_nearest(owner, disc):
    """Give each pixel of ``disc`` (a mask) the number ``owner`` holds at the
    nearest pixel that holds one (0: none), in place. Only the disc's box
    and a pixel round it are searched: the parts it was cut from touch it."""
    from scipy import ndimage  # here, not above: see _label

    rows, columns = np.nonzero(disc)
    if not rows.size:
        return
    top, left = max(0, rows.min() - 1), max(0, columns.min() - 1)
    box = (slice(top, rows.max() + 2), slice(left, columns.max() + 2))
    near = owner[box]
    if not near.any():
        return
    nearest = ndimage.distance_transform_edt(near == 0, return_distances=False,
                                             return_indices=True)
    near[disc[box]] = near[tuple(nearest)][disc[box]]


def path_cut_into(segment, count, search=0.4, step_cost=1.0, most_ink=np.inf):
    """``segment`` cut into ``count`` pieces along the paths from its top to
    its bottom that cross the least ink, each within ``search`` of a piece's
    width of where an even division would put it.

    Digits that touch often cross a little, or lean: no column parts them,
    but a path that steps aside by a pixel a row (each step costs
    ``step_cost``, an inked pixel ``PATH_INK``) goes round the crossing.
    No pieces (an empty list) where a path crosses more than ``most_ink``
    pixels of ink: it found no contact there, only a digit's own stroke.
    """
    width = segment.width
    step = width / count
    sides, start = [], 0
    for k in range(1, count):
        low, high = _search_window(k * step, step, start, width, search)
        if low >= high:
            continue
        path = cheapest_path(segment.mask[:, low:high], step_cost) + low
        if segment.mask[np.arange(segment.height), path].sum() > most_ink:
            return []  # no contact: what the path crosses is a stroke of one digit
        sides.append(path)
        start = int(path.max())
    return _cut_along(segment, sides)


PATH_INK = 10.0  # what crossing one inked pixel costs a path, in steps aside
PATH_MOST_INK = 1.0  # a path is tried only where it crosses less ink than this many pens' width
PATH_THIN = 0.6  # a run where a path crosses less than this many pens' width may be two digits


def cheapest_path(mask, step_cost=1.0):
    """The column, in each row, of the path from the top of ``mask`` to its
    bottom that crosses the least ink, moving at most one column a row (of
    equal paths, the straighter)."""
    height, width = mask.shape
    cost = mask * PATH_INK
    total = cost[0].astype(float)
    moves = np.zeros((height, width), dtype=np.int8)  # -1, 0, 1: from which column above
    # a row at a time over preallocated arrays: the loop is over the rows of
    # a picture, which may be as tall as the picture, so each step counts
    from_left, from_right = np.full(width, np.inf), np.full(width, np.inf)
    for row in range(1, height):
        np.add(total[:-1], step_cost, out=from_left[1:])
        np.add(total[1:], step_cost, out=from_right[:-1])
        best = np.minimum(np.minimum(from_left, from_right), total)
        moves[row] = (best < total) * np.where(from_left <= from_right, -1, 1)
        total = best + cost[row]
    path = np.empty(height, dtype=np.intp)
    column = int(total.argmin())
    for row in range(height - 1, -1, -1):
        path[row] = column
        column += int(moves[row, column])
    return path


def _cut_along(segment, sides):
    """The pieces of ``segment`` between paths (the first column right of
    each path, by row), trimmed to their ink."""
    ends = [np.zeros(segment.height, dtype=np.intp), *sides,
            np.full(segment.height, segment.width)]
    pieces = (_between(segment, left, right) for left, right in itertools.pairwise(ends))
    return [piece for piece in pieces if piece is not None]


def _best_segmentation(parts, runs, readings, digit_height, sure, not_ones):
    """The pieces (left to right) and marks of the segmentation with the
    highest joint confidence: best[i] is the best reading of parts[:i].
    ``not_ones``: the ids of the pieces read as a 1 whose shape is no 1's."""
    best = [(0.0, [], [])] + [None] * len(parts)
    for end in range(1, len(parts) + 1):
        options = []
        part = parts[end - 1]
        if best[end - 1] is not None and part.height < PUNCTUATION_HEIGHT * digit_height:
            score, pieces, marks = best[end - 1]
            options.append((score + SKIP_COST, pieces, [*marks, part]))
        for first in range(max(0, end - MAX_RUN), end):
            if (first, end) not in runs or best[first] is None:
                continue
            if end == first + 1 and part.height < PUNCTUATION_HEIGHT * digit_height:
                continue  # so low a mark is part of a digit, or no digit at all
            score, pieces, marks = best[first]
            hypothesis, value = _best_hypothesis(runs[first, end], readings, digit_height, sure,
                                                 not_ones, one_part=end == first + 1)
            if hypothesis is not None:
                joins = JOIN_COST * (end - first - 1)
                options.append((score + value + joins, [*pieces, *hypothesis], marks))
        best[end] = max(options, key=lambda option: option[0]) if options else None
    if best[-1] is None:
        return [], []
    _, pieces, marks = best[-1]
    return pieces, [Mark(_mark_kind(mark, parts, digit_height), mark.box) for mark in marks]


def _best_hypothesis(hypotheses, readings, digit_height, sure, not_ones, one_part):
    """The hypothesis of a run (pieces, and what their shape costs) with the
    highest joint confidence, and its log; the run as one digit when that
    reads at least ``sure``.

    Confidences are not all: the chain gives every piece a digit's shape, so
    that half a digit often reads as a 1, or two touching digits as one, with
    confidence. So each cut costs CUT_COST, a piece much lower than a digit
    cannot be one, and a digit much wider than the digits are tall, a 1 as
    wide as other digits (and much more one wider than it is tall), or a
    piece far from every sample the model knows (FAR), is doubtful, and so
    is a piece the model read as a 1 whose shape is no 1's (its id in
    ``not_ones``; ONE_STROKE), or a run read whole whose rows cross three
    strokes as two digits' do (THREE_STROKES). A run of ``one_part`` read
    whole is more or less likely one digit by the places its strokes meet
    (JUNCTIONS_OF): where it is joined from several, they meet where the
    pen went over a stroke again.
    """
    judged = _judged(hypotheses, readings, digit_height, not_ones)
    scored = []
    for hypothesis, prior, lowest in hypotheses:
        value = _hypothesis_value(hypothesis, readings, digit_height, lowest, not_ones)
        if value is None:
            continue
        value += prior
        if one_part and len(hypothesis) == 1 and len(hypotheses) > 1:
            value += _junctions_value(hypothesis[0], readings[id(hypothesis[0])])
        if judged is not None:
            value += PAIR_WEIGHT * np.log(judged if len(hypothesis) > 1 else 1 - judged)
        scored.append((value, hypothesis))
        if judged is None and len(hypothesis) == 1 and value >= np.log(sure):
            return hypothesis, value
    if not scored:
        return None, 0.0
    value, hypothesis = max(scored, key=lambda item: item[0])
    return hypothesis, value


def _junctions_value(run, reading):
    """What the places where the strokes of ``run`` meet add to the log of
    its reading whole as one digit (JUNCTIONS_OF)."""
    extra = junction_count(run.mask) - JUNCTIONS_OF[getattr(reading, "digit", 0)]
    return FEW_JUNCTIONS_BONUS if extra <= 0 else JUNCTION_COST * extra


def _judged(hypotheses, readings, digit_height, not_ones):
    """How much the whole run of ``hypotheses`` looks like more than one
    digit (its reading's ``pair_share``, kept within PAIR_SHARES), where
    the run may be cut, is no wider than WIDEST_DIGIT digit heights, the
    model did not read it as a 1 its shape rules out (its id in
    ``not_ones``) and the reader judged it; else None."""
    run = hypotheses[0][0][0]
    share = getattr(readings[id(run)], "pair_share", None)
    if (len(hypotheses) < 2 or share is None or run.width > WIDEST_DIGIT * digit_height
            or id(run) in not_ones):
        return None
    return float(np.clip(share, *PAIR_SHARES))


def _hypothesis_value(pieces, readings, digit_height, lowest, not_ones):
    """The log of a hypothesis' joint confidence and plausibility; None when
    a piece cannot be a digit (of several, one lower than ``lowest`` digit
    heights). ``not_ones``: as for _best_segmentation."""
    value = CUT_COST * (len(pieces) - 1)
    for piece in pieces:
        reading = readings[id(piece)]
        if reading is None:
            return None
        if len(pieces) > 1 and piece.height < lowest * digit_height:
            return None
        value += np.log(max(reading.confidence, 1e-6))
        value += WIDE_COST * max(0.0, piece.width / digit_height - WIDE_DIGIT)
        value += FAR_COST * max(0.0, _distance(reading) - FAR)
        if id(piece) in not_ones:
            value += NOT_ONE_COST
        if len(pieces) == 1:
            value += THREE_STROKES_COST * max(0.0, rows_crossing(piece.mask, 3) - THREE_STROKES)
        if getattr(reading, "digit", None) == 1 and piece.width > WIDE_ONE * piece.height:
            value += WIDE_ONE_COST
            if piece.width > WIDEST_ONE * piece.height:
                value += WIDE_COST * piece.width / piece.height
    return float(value)


def _distance(reading):
    """How far ``reading`` lies from its model's nearest sample, in typical
    distances of that model (TYPICAL_DISTANCE where it has none)."""
    typical = getattr(reading, "typical_distance", None) or TYPICAL_DISTANCE
    return getattr(reading, "distance", 0.0) / typical


def _mark_kind(mark, parts, digit_height):
    """What a small mark left out of a number is: a minus sign (flat, at
    mid-height), a comma (reaching below the digits' baseline) or a point."""
    tall = [part for part in parts if part.height >= PUNCTUATION_HEIGHT * digit_height]
    baseline = np.median([part.y + part.height for part in tall]) if tall else mark.y + mark.height
    if mark.width >= 2 * mark.height and mark.y + mark.height < baseline - 0.2 * digit_height:
        return "minus"
    if mark.y + mark.height > baseline + 0.1 * digit_height:
        return "comma"
    return "point"
