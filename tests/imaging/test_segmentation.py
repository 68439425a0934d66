"""Splitting a whole number into digits, step by step, on drawn numbers."""

import math
import time
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import ndimage

from app.errors import InvalidImage
from app.imaging import segmentation as numbers
from app.imaging.decode import open_image
from app.imaging.ink import ink_from_image, remove_background
from bench.renders import ruled_lines_png
from conftest import canvas_drawing

SIZE = 700  # the canvas side in pixels
HEIGHT = 0.2  # a digit's height as a fraction of the canvas
PEN = 12  # pixels

# Digits in their own units: x from 0 to about 0.6, y from 0 (top) to 1 (bottom).
ONE = [[(0.3, 0.0), (0.3, 1.0)]]
TICKED_ONE = [[(0.0, 0.25), (0.3, 0.0), (0.3, 1.0)]]  # a 1 with a tick at its top
SEVEN = [[(0.0, 0.0), (0.6, 0.0), (0.2, 1.0)]]
ZERO = [[(0.35 + 0.35 * np.cos(t), 0.5 + 0.5 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]]
WIDE_ZERO = [[(0.6 + 0.6 * np.cos(t), 0.5 + 0.5 * np.sin(t))
              for t in np.linspace(0, 2 * np.pi, 48)]]
# A 5 whose top bar was drawn with the pen lifted, clear of the body.
BROKEN_FIVE = [[(0.12, 0.0), (0.6, 0.0)],
               [(0.1, 0.18), (0.05, 0.5), (0.35, 0.42), (0.58, 0.6), (0.55, 0.85),
                (0.3, 1.0), (0.02, 0.9)]]
# A 4 in two strokes that do not meet: the bar stops short of the upright.
OPEN_FOUR = [[(0.3, 0.0), (0.0, 0.6), (0.42, 0.6)], [(0.56, 0.05), (0.56, 1.0)]]
# A 4 whose bar crosses the upright: its strokes meet at one junction.
FOUR = [[(0.45, 0.0), (0.0, 0.65), (0.6, 0.65)], [(0.45, 0.0), (0.45, 1.0)]]
WIDE_FOUR = [[(0.9, 0.0), (0.0, 0.65), (1.2, 0.65)], [(0.9, 0.0), (0.9, 1.0)]]


def write(*digits, gap=0.5, drops=None, sizes=None):
    """Strokes (in canvas units) for ``digits`` written left to right, ``gap``
    digit heights apart (a list: one gap per pair), each moved down by its
    ``drops`` (in digit heights) and scaled by its ``sizes``."""
    count = len(digits)
    gaps = gap if isinstance(gap, list) else [gap] * (count - 1)
    drops = drops or [0.0] * count
    sizes = sizes or [1.0] * count
    strokes, left = [], 0.08
    for index, digit in enumerate(digits):
        height = HEIGHT * sizes[index]
        top = 0.4 + drops[index] * HEIGHT
        width = max(x for stroke in digit for x, _ in stroke)
        strokes += [[(left + x * height, top + y * height) for x, y in stroke] for stroke in digit]
        if index < count - 1:
            left += width * height + gaps[index] * HEIGHT
    return strokes


def ink_of(strokes, size=SIZE, pen=PEN):
    """The ink the service would split: decoded from a canvas drawing."""
    return remove_background(ink_from_image(canvas_drawing(strokes, size=size, width=pen)))


def rectangle_segment(x, y, width, height):
    return numbers.Segment(x, y, np.ones((height, width), dtype=bool))


def boxes(segments):
    return [segment.box for segment in segments]


# -- the steps --------------------------------------------------------------------


def test_the_ink_mask_keeps_what_the_chain_would_count_as_ink():
    ink = np.array([[0.0, 0.2, 0.36, 1.0]])
    assert numbers.ink_mask(ink).tolist() == [[False, False, True, True]]


def test_connected_components_are_found_left_to_right_with_their_boxes():
    mask = np.zeros((10, 20), dtype=bool)
    mask[2:8, 12:15] = True
    mask[1:9, 2:5] = True
    segments = numbers.connected_components(mask)
    assert boxes(segments) == [(2, 1, 3, 8), (12, 2, 3, 6)]
    assert segments[0].area == 24


def test_a_diagonal_step_of_the_pen_keeps_a_stroke_in_one_piece():
    assert len(numbers.connected_components(np.eye(6, dtype=bool))) == 1


def test_each_component_holds_only_its_own_pixels_even_where_boxes_overlap():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0, 0:8] = True  # a long bar over ...
    mask[3:10, 5] = True  # ... a stroke of another digit
    bar, stroke = numbers.connected_components(mask)
    assert bar.area == 8 and stroke.area == 7


def test_the_typical_digit_height_leaves_out_bars_and_dots():
    segments = [rectangle_segment(0, 0, 10, 100), rectangle_segment(20, 0, 10, 90),
                rectangle_segment(40, 0, 30, 8), rectangle_segment(80, 0, 4, 4)]
    assert numbers.typical_height(segments) == 95


def test_specks_are_dropped_and_a_short_wide_bar_is_kept():
    digit, bar, speck = (rectangle_segment(0, 0, 60, 100), rectangle_segment(0, -20, 50, 8),
                         rectangle_segment(100, 50, 6, 6))
    assert numbers.drop_specks([digit, bar, speck], 100) == [digit, bar]


def test_a_bar_standing_over_a_digit_is_merged_into_it():
    body, bar = rectangle_segment(0, 20, 60, 80), rectangle_segment(10, 0, 55, 8)
    (merged,) = numbers.merge_broken_parts([body, bar], 100)
    assert merged.box == (0, 0, 65, 100)
    assert merged.area == body.area + bar.area


def test_a_short_part_just_beside_a_tall_one_is_merged_into_it():
    left, right = rectangle_segment(0, 0, 40, 60), rectangle_segment(45, 0, 10, 100)
    assert boxes(numbers.merge_broken_parts([left, right], 100)) == [(0, 0, 55, 100)]


def test_two_full_height_digits_are_never_merged_however_close():
    one, other = rectangle_segment(0, 0, 10, 100), rectangle_segment(12, 0, 60, 95)
    assert len(numbers.merge_broken_parts([one, other], 100)) == 2


def test_a_short_part_far_from_every_digit_is_left_alone():
    digit, far = rectangle_segment(0, 0, 60, 100), rectangle_segment(200, 40, 40, 60)
    assert len(numbers.merge_broken_parts([digit, far], 100)) == 2


def test_parts_are_not_merged_into_something_too_wide_for_one_digit():
    digit, bar = rectangle_segment(0, 0, 100, 100), rectangle_segment(60, -10, 80, 8)
    assert len(numbers.merge_broken_parts([digit, bar], 100)) == 2


def test_the_thinnest_column_nearest_the_expected_place_is_chosen():
    assert numbers.thinnest_column(np.array([1, 5, 1, 5, 1]), expected=3.2) == 4
    assert numbers.thinnest_column(np.array([4, 3, 9, 3, 4]), expected=2) == 1


def test_a_cut_costs_the_ink_it_crosses_times_the_strokes():
    mask = np.zeros((20, 3), dtype=bool)
    mask[2:4, 0] = mask[10:12, 0] = True  # two thin arcs
    mask[5:10, 1] = True  # one thicker stroke
    assert numbers.crossings(mask).tolist() == [2, 1, 0]
    assert numbers.cut_cost(mask).tolist() == [8, 5, 0]


def test_the_stroke_width_is_measured_from_the_ink():
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:35, 10:16] = True
    assert 5 <= numbers.stroke_width(mask) <= 7


def test_a_segment_much_wider_than_a_digit_is_cut_at_its_thinnest_columns():
    mask = np.zeros((100, 150), dtype=bool)
    mask[:, 0:70] = True  # one digit ...
    mask[45:50, 70:80] = True  # ... touching another through a thin stroke
    mask[:, 80:150] = True
    pieces = numbers.split_touching([numbers.Segment(10, 0, mask)], 100)
    left, right = pieces
    assert 10 + 70 <= right.x <= 10 + 80  # cut within the thin stroke
    assert left.x == 10 and left.width == right.x - 10
    assert sum(piece.area for piece in pieces) == mask.sum()


def leaning_pair(height=80, lean=4, gap=8, contact_row=40):
    """Two blocks of ink that lean right by a column every ``lean`` rows, a
    ``gap`` apart but touching in one row: every column between them holds
    ink, so no straight cut parts them. Their mask, and the left one's."""
    width = 40 + height // lean + gap + 45
    mask = np.zeros((height, width), dtype=bool)
    left = np.zeros_like(mask)
    for row in range(height):
        edge = 40 + row // lean
        left[row, :edge] = True
        mask[row, :edge] = mask[row, edge + gap:edge + gap + 45] = True
    mask[contact_row, :] |= mask[contact_row].cumsum() > 0  # the contact, across the gap
    mask[contact_row, 40 + contact_row // lean + gap + 45:] = False
    return mask, left


def test_leaning_digits_that_no_column_parts_are_cut_along_a_path_round_the_contact():
    mask, left = leaning_pair()
    assert numbers.ink_columns(mask)[40:80].min() > 0  # no column free of ink
    segment = numbers.Segment(5, 7, mask)
    first, second = numbers.path_cut_into(segment, 2)
    assert (first.x, first.y) == (5, 7) and first.height == second.height == 80
    own_first = np.zeros_like(mask)
    own_first[:, :first.width] = first.mask
    # the pieces differ from the blocks at most in the contact's row
    differ = own_first ^ left
    assert differ.sum() <= 8 and differ[40].sum() == differ.sum()
    assert first.area + second.area == mask.sum()
    straight, _ = numbers.cut_into(segment, 2)  # a column cuts into one block or the other
    assert abs(straight.area - left.sum()) > 40


def test_the_cheapest_path_steps_aside_rather_than_cross_ink():
    mask = np.zeros((6, 5), dtype=bool)
    mask[:3, 2] = mask[3:, 1] = True  # the paper's gap moves a column left halfway down
    mask[:, 4] = True
    path = numbers.cheapest_path(mask)
    assert not mask[np.arange(6), path].any()
    assert np.abs(np.diff(path)).max() <= 1


def test_leaning_touching_digits_are_read_cut_along_the_path():
    mask, left = leaning_pair()
    ink = np.zeros((200, 300), dtype=np.float32)
    ink[60:140, 50:50 + mask.shape[1]] = 255.0 * mask
    blocks = [int(left.sum()), int(mask.sum() - left.sum())]

    def confidence(segment):  # a piece reads well when it is one block, whole
        return 0.95 if min(abs(segment.area - area) for area in blocks) <= 8 else 0.3

    digits, _ = numbers.read_digits(ink, reader(confidence))
    assert [reading.confidence for _, reading in digits] == [0.95, 0.95]
    assert digits[0][0].x == 50 and digits[1][0].x > 50 + 40


def slanted_strokes(height=100, lean=0.4, pen=10, apart=24, bridge=(43, 57)):
    """Two strokes that lean forward by ``lean`` columns a row, ``apart``
    columns from each other, joined by a bridge of ink across the gap in
    the rows of ``bridge``, thicker than a stroke: every column of the
    middle crosses both strokes, and any path from top to bottom crosses
    the bridge. The mask of both, and of each stroke."""
    width = round(lean * height) + pen + apart
    strokes = np.zeros((2, height, width), dtype=bool)
    for row in range(height):
        left = round(lean * (height - 1 - row))
        strokes[0, row, left:left + pen] = True
        strokes[1, row, left + apart:left + apart + pen] = True
    mask = strokes[0] | strokes[1]
    for row in range(*bridge):
        inked = np.flatnonzero(mask[row])
        mask[row, inked[0]:inked[-1] + 1] = True
    return mask, strokes


def stroke_shares(piece, strokes, x=0, y=0):
    """The share of each of ``strokes`` (masks placed at ``x``, ``y``) that
    ``piece`` holds."""
    height, width = strokes[0].shape
    own = np.zeros((max(y + height, piece.y + piece.height), max(x + width, piece.x + piece.width)),
                   dtype=bool)
    own[piece.y:piece.y + piece.height, piece.x:piece.x + piece.width] = piece.mask
    own = own[y:y + height, x:x + width]
    return [(own & stroke).sum() / stroke.sum() for stroke in strokes]


def test_a_slanted_cut_parts_leaning_strokes_that_share_every_column():
    mask, strokes = slanted_strokes()
    assert numbers.ink_columns(mask)[20:55].min() >= 2 * 10  # no column near free of ink
    segment = numbers.Segment(0, 0, mask)
    slant = numbers.measure_slant(mask)
    assert slant < -0.3  # leaning forward: the top to the right
    pieces = numbers.slant_cut_into(segment, 2, slant)
    assert [stroke_shares(piece, strokes) for piece in pieces] == [[1.0, 0.0], [0.0, 1.0]]
    assert sum(piece.area for piece in pieces) == mask.sum()
    # upright, no cut leaves a stroke whole and alone
    assert all(sorted(stroke_shares(piece, strokes)) != [0.0, 1.0]
               for piece in numbers.cut_into(segment, 2))


def test_leaning_strokes_that_touch_along_their_slant_are_read_cut_along_it():
    # A 1 leaning on a 7's stem: no column parts them, and the cheapest path
    # crosses the bridge between them, more ink than a pen's width
    mask, strokes = slanted_strokes()
    ink = np.zeros((200, 200), dtype=np.float32)
    ink[50:150, 40:40 + mask.shape[1]] = 255.0 * mask

    def confidence(segment):  # a piece reads well where it holds one stroke and no other
        return 0.95 if sorted(stroke_shares(segment, strokes, 40, 50)) == [0.0, 1.0] else 0.05

    digits, _ = numbers.read_digits(ink, reader(confidence))
    assert [reading.confidence for _, reading in digits] == [0.95, 0.95]


def test_strokes_meet_at_a_junction_where_three_or_more_cross():
    mask = np.zeros((41, 61), dtype=bool)
    mask[:, 28:33] = True  # one upright: no junction
    assert len(numbers.stroke_junctions(mask, 10)) == 0
    mask[18:23, :] = True  # crossed by a bar
    assert numbers.stroke_junctions(mask, 10).tolist() == [[20.0, 30.0]]
    mask[:, 5:10] = mask[:, 50:55] = True  # two more uprights: the two nearest the middle
    assert numbers.stroke_junctions(mask, 2).tolist() == [[20.0, 30.0], [20.0, 52.0]]


def reaching_strokes(height=100, pen=10):
    """An upright (a 1, a 7's stem) standing on the foot of the digit beside
    it, an L turned round (a 2), whose foot reaches left under the upright
    and past it: any path from top to bottom between the two crosses the
    foot, and leaves the foot's left end with the upright. The mask of
    both, and of each."""
    strokes = np.zeros((2, height, 7 * pen), dtype=bool)
    foot = height - 2 * pen
    strokes[0, :foot, 2 * pen:3 * pen] = True  # the upright
    strokes[1, :, 6 * pen:7 * pen] = True  # the neighbour's upright ...
    strokes[1, foot:foot + pen, :] = True  # ... and its foot
    return strokes[0] | strokes[1], strokes


def holds_one_stroke(shares):
    """Whether a piece holding these shares of two strokes holds most of one
    (a junction cut leaves the bits of a stroke beyond the junction apart,
    and those go) and next to nothing of the other."""
    return min(shares) <= 0.05 and max(shares) >= 0.8


def test_a_junction_cut_parts_a_stroke_that_stands_on_its_neighbour():
    mask, strokes = reaching_strokes()
    segment = numbers.Segment(0, 0, mask)
    cuts = numbers.junction_cuts(segment, pen=10, digit_height=100, lowest=0.6)
    assert 0 < len(cuts) <= numbers.JUNCTION_CUTS
    parted = [cut for cut in cuts
              if all(holds_one_stroke(stroke_shares(piece, strokes)) for piece in cut)]
    assert parted
    assert stroke_shares(parted[0][0], strokes)[0] >= 0.95  # the upright, whole
    # down the columns or along a path, the foot's left end stays with the upright
    for cut in (numbers.cut_into(segment, 2), numbers.path_cut_into(segment, 2)):
        assert not holds_one_stroke(stroke_shares(cut[0], strokes))


def test_a_stroke_standing_on_its_neighbour_is_read_cut_at_the_junction(monkeypatch):
    mask, strokes = reaching_strokes()
    ink = np.zeros((200, 200), dtype=np.float32)
    ink[50:150, 40:40 + mask.shape[1]] = 255.0 * mask

    def confidence(segment):  # a piece reads well where it holds one stroke and no other
        return 0.95 if holds_one_stroke(stroke_shares(segment, strokes, 40, 50)) else 0.05

    digits, _ = numbers.read_digits(ink, reader(confidence))
    assert [reading.confidence for _, reading in digits] == [0.95, 0.95]
    monkeypatch.setattr(numbers, "MAX_JUNCTION_AREA", 0)  # no junction searched
    digits, _ = numbers.read_digits(ink, reader(confidence))
    assert [reading.confidence for _, reading in digits] != [0.95, 0.95]


def test_a_sliver_lying_apart_from_a_cut_piece_is_left_out_of_it():
    mask = np.zeros((40, 30), dtype=bool)
    mask[:, 10:16] = True  # an upright, 240 pixels
    mask[5:7, 0:4] = True  # the tip of a neighbour's stroke the cut went through
    piece = numbers.without_slivers(numbers.Segment(3, 4, mask))
    assert piece.box == (13, 4, 6, 40) and piece.area == 240
    # a bit holding a fifth of the ink or more (a 5's lifted bar) stays
    mask[0:6, 18:30] = True
    piece = numbers.without_slivers(numbers.Segment(3, 4, mask))
    assert piece.box == (13, 4, 20, 40) and piece.area == 240 + 72
    whole = numbers.Segment(0, 0, mask[:, 10:16])
    assert numbers.without_slivers(whole) is whole and numbers.without_slivers(None) is None


def test_the_pieces_cut_out_of_touching_digits_are_read_without_slivers():
    # A 7 whose bar starts left of the 1 before it: the cut between them
    # leaves the bar's tip beside the 1, which read with it would be a stroke
    # of its own, widening its box.
    ink = ink_of(write(ONE, SEVEN, gap=-0.05))
    read = reader(lambda segment: 0.5)
    numbers.read_digits(ink, read)
    whole = max(read.asked, key=lambda segment: segment.area)
    pieces = [segment for segment in read.asked if segment.area < whole.area]
    assert pieces
    for piece in pieces:
        labels, count = ndimage.label(piece.mask, structure=numbers.EIGHT_NEIGHBOURS)
        sizes = np.bincount(labels.ravel())[1:]
        assert (sizes >= numbers.SLIVER * sizes.sum()).all(), piece.box


def test_a_single_digit_that_is_wide_but_not_thin_anywhere_is_not_cut():
    mask = np.ones((100, 115), dtype=bool)
    assert len(numbers.split_touching([numbers.Segment(0, 0, mask)], 100)) == 1


def test_a_crop_holds_the_digit_and_none_of_a_neighbour_reaching_into_its_box():
    ink = np.zeros((60, 70), dtype=np.float32)
    ink[10:12, 20:41] = 1.0  # a 7: its bar ...
    for row in range(10, 41):  # ... and its stroke down to the left
        column = 40 - (row - 10) * 18 // 30
        ink[row, column - 1:column + 1] = 1.0
    ink[10:41, 50:52] = 0.8  # the next digit, whose foot reaches under the 7's bar
    ink[38:40, 30:52] = 0.8
    seven, neighbour = numbers.split_digits(ink)
    crop = numbers.crop_digit(ink, seven)
    x, y, width, height = seven.box
    assert crop.shape == (height + 4, width + 4)  # a margin of 2 all round
    assert x <= 30 and x + width > 35  # the boxes overlap ...
    assert crop.max() == 1.0 and not np.isclose(crop, 0.8).any()  # ... the crops do not


# -- whole numbers ---------------------------------------------------------------


def test_separate_digits_are_found_left_to_right():
    ink = ink_of(write(ONE, SEVEN, ZERO))
    found = numbers.split_digits(ink)
    assert len(found) == 3
    lefts = [segment.x for segment in found]
    assert lefts == sorted(lefts)
    assert found[0].width < found[2].width / 2  # the 1 is first


def test_a_five_with_its_top_bar_lifted_is_one_digit():
    ink = ink_of(write(ONE, BROKEN_FIVE, ZERO))
    assert len(numbers.connected_components(numbers.ink_mask(ink))) == 4
    assert len(numbers.split_digits(ink)) == 3


def test_an_open_four_in_two_strokes_is_one_digit():
    ink = ink_of(write(SEVEN, OPEN_FOUR, ONE))
    assert len(numbers.connected_components(numbers.ink_mask(ink))) == 4
    assert len(numbers.split_digits(ink)) == 3


def test_two_touching_digits_are_cut_apart():
    ink = ink_of(write(ONE, ZERO, ZERO, gap=[0.5, 0.05]))  # the pens overlap
    assert len(numbers.connected_components(numbers.ink_mask(ink))) == 2
    found = numbers.split_digits(ink)
    assert len(found) == 3
    assert abs(found[1].width - found[2].width) < 0.25 * found[2].width


def test_a_wide_round_zero_is_one_digit():
    assert len(numbers.split_digits(ink_of(write(ONE, WIDE_ZERO, gap=0.4)))) == 2


@pytest.mark.parametrize("drops, sizes", [([0.0, 0.25, -0.2, 0.1], None),
                                          ([0.1, -0.15, 0.2, 0.0], [1.0, 0.85, 1.15, 0.9])])
def test_uneven_baselines_and_sizes_and_gaps_do_not_change_the_count(drops, sizes):
    strokes = write(SEVEN, ZERO, ONE, BROKEN_FIVE, gap=[0.15, 0.6, 0.3], drops=drops, sizes=sizes)
    found = numbers.split_digits(ink_of(strokes))
    assert len(found) == 4


def test_dots_and_specks_are_not_digits():
    strokes = write(ONE, ZERO) + [[(0.9, 0.1), (0.9, 0.1)], [(0.5, 0.8), (0.502, 0.8)]]
    assert len(numbers.split_digits(ink_of(strokes))) == 2


def test_boxes_are_in_pixels_of_the_original_image():
    ink = ink_of(write(ONE, ZERO))
    one = numbers.split_digits(ink)[0]
    x, y, width, height = one.box
    rows, cols = np.nonzero(ink[:, : x + width + 5] > numbers.INK_THRESHOLD)
    assert (x, y) == (cols.min(), rows.min())
    assert height == rows.max() - rows.min() + 1


def test_a_blank_image_has_no_digits():
    assert numbers.split_digits(np.zeros((50, 80), dtype=np.float32)) == []


def test_a_five_digit_number_is_split_in_a_few_milliseconds():
    ink = ink_of(write(ONE, SEVEN, BROKEN_FIVE, OPEN_FOUR, ZERO, gap=0.3), size=1000)
    numbers.split_digits(ink)
    started = time.perf_counter()
    for _ in range(10):
        assert len(numbers.split_digits(ink)) == 5
    assert (time.perf_counter() - started) / 10 < 0.05


# -- bounded by the digits read, whatever the picture ----------------------------------


def seconds(function, *args, **kwargs):
    """How long ``function(*args, **kwargs)`` takes, whether it returns or raises."""
    started = time.perf_counter()
    try:
        function(*args, **kwargs)
    except InvalidImage:
        pass
    return time.perf_counter() - started


def ink_of_png(data):
    return remove_background(ink_from_image(open_image(data, 16_000_000)))


def test_a_long_stroke_is_refused_before_it_is_cut_into_a_thousand_pieces():
    line = numbers.Segment(0, 10, np.ones((1, 1024), dtype=bool))  # as wide as 1,463 digits
    with pytest.raises(InvalidImage, match="1,463 digits"):
        numbers.split_touching([line], 1, max_digits=32)
    assert seconds(numbers.split_touching, [line], 1, max_digits=32) < 0.05


@pytest.mark.parametrize("lines", [1, 8, 64])
def test_ruled_lines_are_no_number_and_are_refused_at_once(lines):
    ink = ink_of_png(ruled_lines_png(lines))
    with pytest.raises(InvalidImage, match="more than the 32 of a number"):
        numbers.split_digits(ink)
    assert seconds(numbers.split_digits, ink) < 0.1


def test_no_more_digits_than_the_limit_are_found_counting_the_touching_ones():
    apart = ink_of(write(ONE, SEVEN, ZERO))
    assert len(numbers.split_digits(apart, max_digits=3)) == 3
    with pytest.raises(InvalidImage, match="3 digits"):
        numbers.split_digits(apart, max_digits=2)
    touching = ink_of(write(ONE, ZERO, ZERO, gap=[0.5, 0.05]))  # two marks, three digits
    with pytest.raises(InvalidImage, match="3 digits"):
        numbers.split_digits(touching, max_digits=2)


def test_a_picture_of_dots_is_refused_before_a_segment_is_made_for_each():
    mask = np.zeros((1024, 1024), dtype=bool)
    mask[::4, ::4] = True  # 65,536 dots, each a digit's height as all are alike
    with pytest.raises(InvalidImage, match="65536 separate marks"):
        numbers.digit_marks(mask, 64)
    assert seconds(numbers.digit_marks, mask, 64) < 0.2


@pytest.mark.parametrize("density", [0.003, 0.3])  # few blobs, and many
def test_marks_are_the_components_without_the_specks_however_many_the_blobs(density):
    mask = np.random.default_rng(0).random((300, 400)) < density
    mask[100:200, 50:60] = True  # a digit-sized mark among them
    labels, count = ndimage.label(mask, structure=numbers.EIGHT_NEIGHBOURS)
    assert (count > numbers.FEW_BLOBS) == (density > 0.1)
    components = sorted((numbers.Segment(cols.start, rows.start, labels[rows, cols] == number)
                         for number, (rows, cols) in enumerate(ndimage.find_objects(labels), 1)),
                        key=lambda segment: segment.x)
    height = numbers.typical_height(components)
    found, found_height = numbers.digit_marks(mask, 10**6)
    assert found_height == height
    expected = numbers.drop_specks(components, height)
    assert boxes(found) == boxes(expected)
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(found, expected, strict=True))
    assert boxes(numbers.connected_components(mask)) == boxes(components)


def merge_pair_by_pair(segments, digit_height, fragment_height=0.7, stacked=0.5, max_gap=0.12,
                       max_width=1.3, max_height=1.35):
    """merge_broken_parts as first written: the closeness of each pair in turn."""
    segments = sorted(segments, key=lambda segment: segment.x)
    while True:
        best = None
        for i, first in enumerate(segments):
            for j in range(i + 1, len(segments)):
                second = segments[j]
                if min(first.height, second.height) >= fragment_height * digit_height:
                    continue
                joined = numbers.merge(first, second)
                if (joined.width > max_width * digit_height
                        or joined.height > max_height * digit_height):
                    continue
                overlap = numbers.horizontal_overlap(first, second)
                narrower = min(first.width, second.width)
                if overlap >= stacked * narrower:
                    closeness = overlap / narrower
                elif overlap >= -max_gap * digit_height:
                    closeness = overlap / digit_height
                else:
                    continue
                if best is None or closeness > best[0]:
                    best = (closeness, i, j)
        if best is None:
            return segments
        _, i, j = best
        segments = sorted([s for k, s in enumerate(segments) if k not in (i, j)]
                          + [numbers.merge(segments[i], segments[j])],
                          key=lambda segment: segment.x)


def test_parts_are_merged_as_pair_by_pair_whichever_pairs_tie():
    rng = np.random.default_rng(0)
    for _ in range(300):
        parts = [numbers.Segment(int(rng.integers(0, 200)), int(rng.integers(0, 60)),
                                 np.ones(tuple(rng.integers(1, 60, 2)), dtype=bool))
                 for _ in range(rng.integers(0, 24))]
        height = float(rng.integers(10, 60))
        assert (boxes(numbers.merge_broken_parts(parts, height))
                == boxes(merge_pair_by_pair(parts, height)))


def test_sixty_fragments_of_one_digit_are_merged_in_milliseconds():
    bars = [rectangle_segment(20 + 60 * i, 40, 4, 100) for i in range(4)]
    dashes = [rectangle_segment(400, 40 + 2 * i, 40, 1) for i in range(60)]
    started = time.perf_counter()
    merged = numbers.merge_broken_parts(bars + dashes, 100)
    assert time.perf_counter() - started < 0.05
    assert len(merged) == 5


def test_the_pen_width_read_from_the_whole_picture_is_each_segment_s_own():
    lines = canvas_drawing([[(x, 0.0), (x + 1.0, 1.0)] for x in np.arange(-1.0, 1.0, 0.06)],
                           size=400, width=5)
    mask = numbers.ink_mask(remove_background(ink_from_image(lines)))
    segments = numbers.connected_components(mask)
    depth = numbers.PictureDepth(mask)
    for segment in segments:
        assert (numbers.stroke_width(segment.mask)
                == numbers.stroke_width(segment.mask, depth.around(segment)))
    assert depth.distances is not None  # the boxes overlap: the picture was measured whole


def test_growing_a_mask_is_scipy_s_dilation():
    rng = np.random.default_rng(0)
    for _ in range(300):
        mask = rng.random(tuple(rng.integers(1, 30, 2))) < rng.random() * 0.3
        reach = int(rng.integers(1, 4))
        assert np.array_equal(numbers.grow(mask, reach), ndimage.binary_dilation(
            mask, structure=numbers.EIGHT_NEIGHBOURS, iterations=reach))


# -- reading by recognition ------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    confidence: float
    digit: int = 7
    distance: float = 0.0
    pair_share: float | None = None
    typical_distance: float | None = None
    probabilities: list | None = None


def reader(confidence_of, distance_of=lambda segment: 0.0, pair_share_of=lambda segment: None,
           digit_of=lambda segment: 7, typical_distance=None,
           probabilities_of=lambda segment: None):
    """A ``read`` for read_digits: each segment's confidence by ``confidence_of``
    (its distance to the nearest known digit by ``distance_of``, how much it
    looks like two digits by ``pair_share_of``, the digit read by
    ``digit_of``, the probability of each digit by ``probabilities_of``; the
    model's ``typical_distance``), and the segments it was asked for, in
    ``asked``."""
    asked = []

    def read(segments):
        asked.extend(segments)
        return [Reading(confidence_of(segment), digit_of(segment), distance_of(segment),
                        pair_share_of(segment), typical_distance, probabilities_of(segment))
                for segment in segments]

    read.asked = asked
    return read


def without_junctions(monkeypatch):
    """Runs read whole weighed without the places their strokes meet
    (JUNCTIONS_OF), as the tests of the other rules weigh them: what they
    test is how those rules turn the readings."""
    monkeypatch.setattr(numbers, "FEW_JUNCTIONS_BONUS", 0.0)
    monkeypatch.setattr(numbers, "JUNCTION_COST", 0.0)


def test_a_wide_digit_read_confidently_as_one_is_never_cut():
    ink = ink_of(write(WIDE_ZERO))
    digits, marks = numbers.read_digits(ink, reader(lambda segment: 0.95))
    assert len(digits) == 1 and marks == []


# A 4 written wide, its bar and its stem apart (as a photo breaks thin strokes)
WIDE_BROKEN_FOUR = [[(0.6, 0.0), (0.0, 0.6), (1.3, 0.6)], [(1.4, 0.05), (1.4, 1.0)]]


def test_a_wide_digit_broken_in_two_is_read_joined_where_it_reads_best_so():
    ink = ink_of(write(ZERO, WIDE_BROKEN_FOUR))
    parts, height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    bar, stem = numbers.merge_broken_parts(parts, height)[1:]  # too wide to join on sight
    four = numbers.merge(bar, stem)
    assert 1.3 < four.width / height < numbers.JOINED_WIDTH  # wider than one joined before
    read = reader(lambda segment: 0.3 if segment.x >= bar.x and segment.width < four.width
                  else 0.95)
    digits, _ = numbers.read_digits(ink, read)
    assert [segment.box for segment, _ in digits][1] == four.box
    assert len(digits) == 2


def test_touching_digits_are_cut_where_the_pieces_read_better_than_the_whole():
    ink = ink_of(write(ZERO, ZERO, gap=-0.05))
    whole = numbers.digit_marks(numbers.ink_mask(ink), 64)[0][0]
    read = reader(lambda segment: 0.3 if segment.width >= whole.width else 0.9)
    digits, _ = numbers.read_digits(ink, read)
    assert len(digits) == 2
    assert any(segment.width >= whole.width for segment in read.asked)  # the whole was read too
    assert [reading.confidence for _, reading in digits] == [0.9, 0.9]


def touching_sevens():
    """Two 7s whose ink touches: a run that could be one wide digit by the
    strokes its rows cross (never three, as two 0s' do), so that how it is
    read decides."""
    return write(SEVEN, SEVEN, gap=-0.05)


def test_touching_digits_whose_rows_cross_three_strokes_are_cut_though_the_whole_reads_well():
    # Two 0s side by side: most rows cross four strokes, and no digit's do.
    ink = ink_of(write(ZERO, ZERO, gap=-0.05))
    whole = numbers.digit_marks(numbers.ink_mask(ink), 64)[0][0]
    assert numbers.rows_crossing(whole.mask, 3) > 0.5

    def read():
        return reader(lambda segment: 0.85 if segment.width >= whole.width else 0.5)

    assert len(numbers.read_digits(ink, read())[0]) == 2
    # the same confidences leave one wide 0 whole (its rows cross two strokes)
    wide = ink_of(write(WIDE_ZERO))
    (zero,), _ = numbers.digit_marks(numbers.ink_mask(wide), 64)
    assert numbers.rows_crossing(zero.mask, 3) < numbers.THREE_STROKES
    assert len(numbers.read_digits(wide, reader(
        lambda segment: 0.85 if segment.width >= zero.width else 0.5))[0]) == 1


def test_touching_digits_stay_whole_when_the_whole_reads_best():
    ink = ink_of(touching_sevens())
    whole = numbers.digit_marks(numbers.ink_mask(ink), 64)[0][0]
    digits, _ = numbers.read_digits(
        ink, reader(lambda segment: 0.85 if segment.width >= whole.width else 0.5))
    assert len(digits) == 1


def test_touching_digits_read_as_a_one_wider_than_it_is_tall_are_cut():
    # Squeezed to a digit's shape, a run of touching digits often reads as a
    # slanted 1 with confidence; but a 1 is one stroke, never wider than tall.
    ink = ink_of(touching_sevens())
    whole = numbers.digit_marks(numbers.ink_mask(ink), 64)[0][0]
    assert whole.width > numbers.WIDEST_ONE * whole.height

    def read_whole_as(digit):
        return reader(lambda segment: 0.9 if segment.width >= whole.width else 0.4,
                      digit_of=lambda segment: digit if segment.width >= whole.width else 0)

    assert len(numbers.read_digits(ink, read_whole_as(7))[0]) == 1
    assert [reading.digit for _, reading in numbers.read_digits(ink, read_whole_as(1))[0]] \
        == [0, 0]


def test_a_one_crosses_one_stroke_in_each_row_and_touching_digits_two():
    def share(*digits, gap=0.5):
        (part,), _ = numbers.digit_marks(numbers.ink_mask(ink_of(write(*digits, gap=gap))), 64)
        return numbers.rows_crossing(part.mask, 2)

    assert share(ONE) == 0.0
    # its tick crosses the stroke's rows near the top only
    assert share(TICKED_ONE) < numbers.ONE_STROKE
    assert share(SEVEN) < 0.1
    assert share(ZERO) > 0.8
    assert share(SEVEN, ZERO, gap=-0.05) > 0.5
    assert numbers.rows_crossing(np.zeros((5, 5), dtype=bool), 2) == 0.0


def test_strokes_meet_at_one_junction_where_they_cross_however_ragged_the_ink():
    pen = 9
    plus = np.zeros((61, 61), dtype=bool)
    plus[26:35, :] = plus[:, 26:35] = True  # a bar crossing an upright
    assert numbers.junction_count(plus, pen) == 1
    ragged = plus.copy()
    ragged[10:13, 35:38] = True  # a bump on the upright's edge: a branch shorter than the pen
    ragged[5, 30] = ragged[50, 28] = False  # pinholes
    assert numbers.junction_count(ragged, pen) == 1
    assert numbers.junction_count(np.hstack([plus, np.zeros((61, 20), dtype=bool), plus]), pen) == 2
    # two strokes crossing at 60 degrees: two hubs of the skeleton, a pen's width apart
    cross = np.zeros((81, 121), dtype=bool)
    columns = np.arange(121)
    for slope in (np.tan(np.radians(30)), -np.tan(np.radians(30))):
        cross[np.round(40 + slope * (columns - 60)).astype(int), columns] = True
    assert numbers.junction_count(ndimage.binary_dilation(cross, iterations=4), pen) == 1
    assert numbers.junction_count(np.zeros((9, 9), dtype=bool), pen) == 0


def test_a_digit_has_few_junctions_and_touching_digits_more():
    def junctions(*digits, gap=0.5):
        (part,), _ = numbers.digit_marks(numbers.ink_mask(ink_of(write(*digits, gap=gap))), 64)
        return numbers.junction_count(part.mask)

    assert junctions(ONE) == junctions(SEVEN) == junctions(ZERO) == 0  # a drawn 0 has pinholes
    assert junctions(FOUR) == junctions(WIDE_FOUR) == 1
    assert junctions(FOUR, FOUR, gap=-0.05) > numbers.JUNCTIONS_OF[4]


def test_touching_digits_whose_strokes_meet_at_many_junctions_are_cut_though_the_whole_reads_well(
        monkeypatch):
    monkeypatch.setattr(numbers, "THREE_STROKES", 1.0)  # weighed by their junctions alone

    def pieces(strokes):
        ink = ink_of(strokes)
        (whole,), _ = numbers.digit_marks(numbers.ink_mask(ink), 64)
        return len(numbers.read_digits(ink, reader(
            lambda segment: 0.85 if segment.width >= whole.width else 0.6))[0])

    assert pieces(write(FOUR, FOUR, gap=-0.05)) == 2
    assert pieces(write(WIDE_FOUR)) == 1  # one wide 4 read the same stays whole
    monkeypatch.setattr(numbers, "JUNCTION_COST", 0.0)
    assert pieces(write(FOUR, FOUR, gap=-0.05)) == 1


def test_a_digit_whose_strokes_meet_at_few_places_is_cut_only_if_that_reads_much_better(
        monkeypatch):
    ink = ink_of(write(WIDE_ZERO))  # its strokes meet nowhere
    (zero,), _ = numbers.digit_marks(numbers.ink_mask(ink), 64)

    def pieces():
        return len(numbers.read_digits(ink, reader(
            lambda segment: 0.08 if segment.width >= zero.width else 1.0))[0])

    assert pieces() == 1
    monkeypatch.setattr(numbers, "FEW_JUNCTIONS_BONUS", 0.0)
    assert pieces() == 2


def narrow(digit, by=0.6):
    """``digit`` written ``by`` times as wide."""
    return [[(x * by, y) for x, y in stroke] for stroke in digit]


def test_touching_digits_read_as_a_one_narrower_than_they_are_tall_are_cut(monkeypatch):
    # Squeezed into one digit's shape, two narrow 0s touching read as a 1
    # with confidence; no wider than tall, the run is no 1 by its width, but
    # most of its rows cross two strokes or more, and a 1's cross one.
    without_junctions(monkeypatch)
    ink = ink_of(write(narrow(ZERO), narrow(ZERO), gap=-0.05))
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.WIDE_ONE < whole.width / whole.height < numbers.WIDEST_ONE

    def read_whole_as(digit):
        return reader(lambda segment: 0.95 if segment.width >= whole.width else 0.5,
                      digit_of=lambda segment: digit if segment.width >= whole.width else 0,
                      pair_share_of=lambda segment: 0.05)  # the judge fooled as the model

    assert len(numbers.read_digits(ink, read_whole_as(7))[0]) == 1
    assert [reading.digit for _, reading in numbers.read_digits(ink, read_whole_as(1))[0]] \
        == [0, 0]


def test_a_digit_read_as_a_one_it_cannot_be_is_read_as_the_next_most_probable_digit():
    probabilities = [0.3, 0.6, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0]

    def read_as_one(segment):
        return reader(lambda piece: 0.6 if piece.width >= segment.width else 0.05,
                      digit_of=lambda piece: 1, probabilities_of=lambda piece: probabilities)

    for digit, expected in ((ZERO, (0, 0.3)), (ONE, (1, 0.6))):
        ink = ink_of(write(digit))
        (segment,), _ = numbers.digit_marks(numbers.ink_mask(ink), 64)
        (read,), _ = numbers.read_digits(ink, read_as_one(segment))
        assert read[0].box == segment.box
        assert (read[1].digit, read[1].confidence) == expected


def test_pieces_that_look_like_no_digit_the_model_knows_are_doubtful(monkeypatch):
    # The pieces read with more confidence than the whole, but lie far from
    # every known digit (half a digit often does): the whole stays one digit.
    # Two 0s whose contact shows, weighed by their distances, not by the
    # strokes their rows cross.
    monkeypatch.setattr(numbers, "THREE_STROKES", 1.0)
    ink = ink_of(write(ZERO, ZERO, gap=-0.05))
    whole = numbers.digit_marks(numbers.ink_mask(ink), 64)[0][0]

    def confidence(segment):
        return 0.85 if segment.width >= whole.width else 0.95

    near = numbers.read_digits(ink, reader(confidence))[0]
    far = numbers.read_digits(ink, reader(
        confidence, lambda segment: 0.0 if segment.width >= whole.width
        else numbers.FAR * numbers.TYPICAL_DISTANCE + 5))[0]
    assert (len(near), len(far)) == (2, 1)


def test_how_far_is_doubtful_follows_the_model_s_own_scale_of_distance(monkeypatch):
    # The same readings from two models: the whole lies 16 from the nearest
    # sample, the pieces near. For a model whose unseen digits typically lie
    # 16 from its samples that is an ordinary digit, and the run stays whole;
    # for one of many more samples, where they lie 10 away, it is far, and
    # the run is read cut. (By the distances, not by the strokes the rows
    # of two 0s cross.)
    without_junctions(monkeypatch)
    monkeypatch.setattr(numbers, "THREE_STROKES", 1.0)
    ink = ink_of(write(ZERO, ZERO, gap=-0.05))
    whole = numbers.digit_marks(numbers.ink_mask(ink), 64)[0][0]

    def read_by(typical_distance):
        return reader(lambda segment: 0.85 if segment.width >= whole.width else 0.7,
                      lambda segment: 16.0 if segment.width >= whole.width else 0.0,
                      typical_distance=typical_distance)

    assert len(numbers.read_digits(ink, read_by(None))[0]) == 1  # a model stored without a scale
    assert len(numbers.read_digits(ink, read_by(16.0))[0]) == 1
    assert len(numbers.read_digits(ink, read_by(10.0))[0]) == 2


def test_a_decimal_point_is_left_out_of_the_number():
    strokes = write(ONE, SEVEN, gap=0.6)
    point_x = 0.08 + 0.3 * HEIGHT + 0.3 * HEIGHT  # between the two digits
    strokes.append([(point_x, 0.4 + 0.95 * HEIGHT), (point_x + 0.01, 0.4 + 0.95 * HEIGHT)])
    digits, marks = numbers.read_digits(ink_of(strokes), reader(lambda segment: 0.9))
    assert len(digits) == 2
    assert [mark.kind for mark in marks] in ([], ["point"])  # a dot this small is a speck
    comma = [[(point_x, 0.4 + 0.92 * HEIGHT), (point_x - 0.01, 0.4 + 1.15 * HEIGHT)]]
    digits, marks = numbers.read_digits(ink_of(strokes + comma), reader(lambda segment: 0.9))
    assert len(digits) == 2
    assert [mark.kind for mark in marks] == ["comma"]


def test_a_minus_sign_is_a_mark_not_a_digit():
    strokes = write(ONE, SEVEN, gap=0.5)
    shifted = [[(x + 0.3 * HEIGHT, y) for x, y in stroke] for stroke in strokes]
    minus = [[(0.08, 0.4 + 0.5 * HEIGHT), (0.08 + 0.2 * HEIGHT, 0.4 + 0.5 * HEIGHT)]]
    digits, marks = numbers.read_digits(ink_of(minus + shifted), reader(lambda segment: 0.9))
    assert len(digits) == 2
    assert [mark.kind for mark in marks] == ["minus"]


def test_every_hypothesis_is_read_in_one_call():
    calls = []

    def read(segments):
        calls.append(len(segments))
        return [Reading(0.5) for _ in segments]

    numbers.read_digits(ink_of(write(ZERO, ZERO, SEVEN, gap=[-0.05, 0.5])), read)
    assert len(calls) == 1


def test_reading_a_long_stroke_is_refused_before_anything_is_read():
    ink = np.zeros((40, 4000), dtype=np.float32)
    ink[18:22, 10:3990] = 1.0
    read = reader(lambda segment: 0.9)
    with pytest.raises(InvalidImage):
        numbers.read_digits(ink, read, max_digits=32)
    assert read.asked == []


def test_no_path_is_tried_where_it_would_cross_a_stroke_rather_than_a_contact():
    # A digit's own stroke across the middle (a 7's bar, a 2's base) is at
    # least a pen wide: a path through it finds no contact to cut at.
    mask = np.zeros((100, 130), dtype=bool)
    mask[:, 10:22] = mask[:, 108:120] = True  # two uprights a pen wide ...
    mask[40:52, 10:120] = True  # ... and a bar as wide joining them
    pen = numbers.stroke_width(mask)
    segment = numbers.Segment(0, 0, mask)
    assert numbers.path_cut_into(segment, 2, most_ink=numbers.PATH_MOST_INK * pen) == []
    assert len(numbers.path_cut_into(segment, 2)) == 2


def diagonals(size, spacing):
    """Ink of parallel diagonal strokes 3 px wide, ``spacing`` apart."""
    ink = np.zeros((size, size), dtype=np.float32)
    rows = np.arange(size)
    for start in range(-size, size, spacing):
        for width in range(3):
            columns = start + rows + width
            inside = (columns >= 0) & (columns < size)
            ink[rows[inside], columns[inside]] = 255.0
    return ink


def test_marks_whose_boxes_overlap_like_a_pattern_are_refused_before_any_is_read():
    # Parallel diagonals: each mark's box is about the whole picture, so that
    # reading each way of cutting them would read the picture many times over.
    read = reader(lambda segment: 0.9)
    with pytest.raises(InvalidImage, match="pattern"):
        numbers.read_digits(diagonals(512, 32), read)
    assert read.asked == []


def test_marks_whose_boxes_alone_cover_the_picture_many_times_are_refused_at_once(monkeypatch):
    # Their boxes alone say so (ten times the picture and more): no contact
    # is measured, no cut made, no path searched.
    monkeypatch.setattr(numbers, "touching_count",
                        lambda *args, **kwargs: pytest.fail("a contact was measured"))
    read = reader(lambda segment: 0.9)
    with pytest.raises(InvalidImage, match="pattern"):
        numbers.read_digits(diagonals(512, 16), read)
    assert read.asked == []


def test_the_paths_searched_in_one_picture_cover_it_a_few_times_at_most(monkeypatch):
    # Nested squares, each a mark as wide as it is tall, read cut in two: paths
    # through all of them would cover the picture 6.6 times over; with the budget
    # spent, the rest are cut straight down their columns only.
    size, spacing = 512, 16
    ink = np.zeros((size, size), dtype=np.float32)
    for inset in range(0, size // 2, spacing):
        ink[inset:size - inset, inset:size - inset] = 255.0
        ink[inset + 3:size - inset - 3, inset + 3:size - inset - 3] = 0.0
    searched = []
    path_cut_into = numbers.path_cut_into

    def counted(segment, *args, **kwargs):
        searched.append(segment.mask.size)
        return path_cut_into(segment, *args, **kwargs)

    monkeypatch.setattr(numbers, "path_cut_into", counted)
    read = reader(lambda segment: 0.5)
    with pytest.raises(InvalidImage):  # too many pieces to read, past the paths' budget
        numbers.read_digits(ink, read)
    assert searched and sum(searched) <= numbers.MAX_PATH_AREA * ink.size
    assert read.asked == []


def leaning_strokes(height=80, bar=False):
    """Two strokes a pen (12 px) wide leaning right by a column every two
    rows, touching in one row; with ``bar``, a bar a pen high across their
    tops, as one digit (a wide, leaning 7 or 4) would have."""
    mask = np.zeros((height, 82), dtype=bool)
    for row in range(height):
        mask[row, row // 2:row // 2 + 12] = mask[row, row // 2 + 30:row // 2 + 42] = True
    mask[40, 32:50] = True  # the contact
    if bar:
        mask[:12, :] = True
    return mask


def test_leaning_strokes_touching_are_counted_as_two_digits_by_a_path_round_the_contact():
    mask = leaning_strokes()
    columns = numbers.ink_columns(mask)
    assert columns[24:58].min() > numbers.stroke_width(mask)  # every column crosses a stroke
    assert numbers.touching_count(numbers.Segment(0, 0, mask), 80) == 2
    assert numbers.touching_count(numbers.Segment(0, 0, leaning_strokes(bar=True)), 80) == 1


def uprights_and_bar(width):
    """Ink of two uprights a pen (12 px) wide, 100 px tall and ``width`` px
    apart at their outer edges, joined by a bar as thick across the middle:
    a wide digit (an H-like 4) or two digits crossing with a thick stroke;
    no column and no path shows a contact."""
    ink = np.zeros((100, width + 20), dtype=np.float32)
    ink[:, 10:22] = ink[:, width - 2:width + 10] = 255.0
    ink[44:56, 10:width + 10] = 255.0
    return ink


def test_a_wide_run_with_no_contact_is_cut_only_where_its_pieces_read_far_better(monkeypatch):
    without_junctions(monkeypatch)
    ink = uprights_and_bar(130)  # 1.3 digit heights wide
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.touching_count(whole, height) == 1  # its shape shows no contact

    def pieces_read(confidence_of_whole):
        return reader(lambda segment: confidence_of_whole if segment.width >= whole.width
                      else 0.95)

    assert len(numbers.read_digits(ink, pieces_read(0.05))[0]) == 2
    # Read as well, pieces of a run whose shape showed a contact would win;
    # here the cut is only a guess, and the whole stays one digit.
    assert len(numbers.read_digits(ink, pieces_read(0.4))[0]) == 1


def test_a_run_narrower_than_two_digits_can_be_is_never_cut():
    ink = uprights_and_bar(55)  # narrower than CONTACT_WIDTH digit heights
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert whole.width < numbers.CONTACT_WIDTH * height
    read = reader(lambda segment: 0.05 if segment.width >= whole.width else 0.95)
    digits, _ = numbers.read_digits(ink, read)
    assert len(digits) == 1
    assert all(segment.width == whole.width for segment in read.asked)


def test_a_narrow_run_with_no_contact_is_cut_only_into_pieces_nearly_a_digit_tall():
    # 0.9 of a digit height wide, as wide as many a single digit and as two
    # narrow digits side by side (a 1 leaning on a 4); no contact in its
    # shape. Its halves read far better than the whole: cut, where both are
    # about as tall as the digits ...
    ink = uprights_and_bar(90)
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert whole.width < numbers.MAY_TOUCH * height
    assert numbers.touching_count(whole, height, min_width=numbers.CONTACT_WIDTH) == 1

    def read():
        return reader(lambda segment: 0.05 if segment.width >= whole.width else 0.95)

    assert len(numbers.read_digits(ink, read())[0]) == 2
    # ... or nearly so: one 0.82 of a digit, as the smaller of two digits
    # whose run, taller than either where their baselines differ, makes the
    # digits' height look greater than it is ...
    ink[:18, 70:] = 0.0
    assert len(numbers.read_digits(ink, read())[0]) == 2
    # ... and not where one is 0.75 of a digit (a 4 cut into its bar and its
    # stem), which a wider run's guessed cut may leave
    ink[:25, 70:] = 0.0
    assert numbers.MIN_PIECE_HEIGHT < 0.75 < numbers.MIN_NARROW_PIECE_HEIGHT
    assert len(numbers.read_digits(ink, read())[0]) == 1


def test_a_run_judged_to_look_like_two_digits_is_cut_and_one_judged_single_is_not(monkeypatch):
    # The pieces read about as well as the whole (0.8 against 0.85), not
    # well enough to pay for the cut: without a judge the whole stays one
    # digit; the judge's view of the whole decides.
    without_junctions(monkeypatch)
    ink = ink_of(touching_sevens())
    whole = numbers.digit_marks(numbers.ink_mask(ink), 64)[0][0]

    def confidence(segment):
        return 0.85 if segment.width >= whole.width else 0.8

    def judged(share):
        return reader(confidence, pair_share_of=lambda segment: share)

    assert len(numbers.read_digits(ink, judged(None))[0]) == 1
    assert len(numbers.read_digits(ink, judged(0.9))[0]) == 2
    assert len(numbers.read_digits(ink, judged(0.1))[0]) == 1
    # a wide single digit the judge takes for one stays whole however its halves read
    assert len(numbers.read_digits(ink, reader(
        lambda segment: 0.5 if segment.width >= whole.width else 0.95,
        pair_share_of=lambda segment: 0.0))[0]) == 1


def test_a_low_digit_touching_a_tall_one_is_cut_off_where_their_shape_shows_the_contact():
    # A small wide 0 (0.65 of the other's height, on the same baseline)
    # touching a full one: lower than a digit cut out of one wide digit may
    # be, but the run's shape says two digits touch.
    ink = ink_of(write(ZERO, WIDE_ZERO, gap=-0.05, sizes=[1.0, 0.65], drops=[0.0, 0.35]))
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.touching_count(whole, height) == 2  # wider than one digit can be
    read = reader(lambda segment: 0.3 if segment.width >= whole.width else 0.9)
    digits, _ = numbers.read_digits(ink, read)
    assert len(digits) == 2
    low = digits[1][0]
    assert numbers.MIN_TOUCHING_PIECE_HEIGHT <= low.height / height < numbers.MIN_PIECE_HEIGHT



def test_two_digits_narrower_together_than_a_digit_is_tall_are_cut_where_they_touch(monkeypatch):
    # A 7 whose foot touches a 1's tick: 0.9 of a digit height wide, too
    # narrow to be guessed two digits by width, but the path between them
    # crosses less ink than a stroke.
    without_junctions(monkeypatch)
    ink = ink_of(write(SEVEN, TICKED_ONE, gap=0.0))
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.CONTACT_WIDTH < whole.width / height < numbers.MAY_TOUCH
    weighed = []  # the hypotheses of each run, as the dynamic programming weighs them
    best_segmentation = numbers._best_segmentation

    def weighing(parts, runs, *rest):
        weighed.extend(hypothesis for hypotheses in runs.values()
                       for hypothesis, _, _ in hypotheses)
        return best_segmentation(parts, runs, *rest)

    monkeypatch.setattr(numbers, "_best_segmentation", weighing)
    read = reader(lambda segment: 0.3 if segment.width >= whole.width else 0.9)
    digits, _ = numbers.read_digits(ink, read)
    assert len(digits) == 2
    assert digits[0][0].x + digits[0][0].width <= digits[1][0].x + 2  # the 7, then the 1
    # cut in two only (straight down, along a path, at its candidate places,
    # at its junctions), never in three
    assert len(weighed) > 2 and {len(pieces) for pieces in weighed} == {1, 2}


def one_touching_a_ring(ring_width, one_height=150):
    """The ink of a 1 (an upright a fifth of a digit wide, ``one_height`` of
    the 150 px digit tall, standing on the baseline) touching a 0 (a ring
    ``ring_width`` wide) by a stroke as thick as the pen, which shows no
    contact, and a ``read`` that reads a piece confidently only where it is
    the 1 or the 0."""
    mask = np.zeros((150, 40 + ring_width), dtype=bool)
    mask[150 - one_height:, 0:30] = True
    mask[:, 40:52] = mask[:, -12:] = True
    mask[:12, 40:] = mask[-12:, 40:] = True
    mask[70:82, 30:40] = True
    ink = np.zeros((300, 100 + mask.shape[1]), dtype=np.float32)
    ink[75:225, 50:50 + mask.shape[1]] = 255.0 * mask
    digits = [(50, 80), (90, 50 + mask.shape[1])]

    def confidence(segment):
        right = segment.x + segment.width
        return 0.95 if any(abs(segment.x - left) <= 10 and abs(right - end) <= 10
                           for left, end in digits) else 0.05

    return ink, reader(confidence)


def test_a_one_beside_a_wider_digit_is_cut_where_it_ends_not_at_even_widths(monkeypatch):
    # No contact in its shape, and narrower than a digit is tall: cut on a
    # guess, where an even division cuts the 0, not the 1, off
    without_junctions(monkeypatch)
    ink, read = one_touching_a_ring(106)
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.touching_count(whole, height, min_width=numbers.CONTACT_WIDTH) == 1
    assert whole.width < numbers.MAY_TOUCH * height
    digits, _ = numbers.read_digits(ink, read)
    assert [(segment.x, reading.confidence) for segment, reading in digits] == [
        (50, 0.95), (80, 0.95)]
    # as wide as a digit is tall, too; but not where the 1 is lower than a
    # piece cut there on a guess may be, as an open 4's bar beside its stem
    ink, read = one_touching_a_ring(130)
    assert len(numbers.read_digits(ink, read)[0]) == 2
    ink, read = one_touching_a_ring(130, one_height=112)
    assert numbers.MIN_PIECE_HEIGHT < 112 / 150 < numbers.MIN_GUESSED_CANDIDATE_HEIGHT
    assert len(numbers.read_digits(ink, read)[0]) == 1


def test_a_run_of_a_picture_a_few_pixels_tall_is_cut_at_its_candidate_places_too():
    # 5 px tall: a tenth of a digit's height is no pixel, yet the path beside
    # each candidate column is searched within a pixel of it
    rows = ["0100100101111111110", "1001101010011101110", "1101101011111011110",
            "0111100111111001101", "1001101111111011110"]
    ink = 255.0 * np.array([[int(pixel) for pixel in row] for row in rows])
    digits, _ = numbers.read_digits(ink, reader(lambda segment: 0.5))
    assert digits


def test_a_single_narrow_digit_stays_whole_unless_its_halves_read_far_better():
    # A 0 as wide: no contact in its shape, so its halves (each as tall as
    # the 0) are read on a guess, and reading them far better than the
    # whole (0.9 against 0.3) does not pay for a guessed cut.
    ink = ink_of(write(ZERO))
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.CONTACT_WIDTH < whole.width / height
    read = reader(lambda segment: 0.3 if segment.width >= whole.width else 0.9)
    digits, _ = numbers.read_digits(ink, read)
    assert len(digits) == 1 and digits[0][0].box == whole.box
    assert len(read.asked) > 1


def test_a_piece_as_low_is_no_digit_where_the_cut_is_only_guessed():
    # The same low piece cut from a wide run whose shape shows no contact (an
    # H-like 4, its right upright 0.65 of its height) is no digit.
    ink = uprights_and_bar(130)
    ink[:35, 110:140] = 0.0
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.touching_count(whole, height) == 1
    digits, _ = numbers.read_digits(
        ink, reader(lambda segment: 0.05 if segment.width >= whole.width else 0.95))
    assert len(digits) == 1


def wide_zero_touching_a_zero():
    """The ink of a wide 0 touching a narrow one, and a ``read`` that reads
    a piece confidently only where it holds one whole digit."""
    ink, confidence = touching_digits(WIDE_ZERO, ZERO)
    return ink, reader(confidence)


def touching_digits(*digits, gap=-0.04):
    """The ink of ``digits`` (a stroke each) written touching (``gap``: as
    for ``write``), and the confidence of a reader that reads a piece
    confidently only where it holds one whole digit."""
    strokes = write(*digits, gap=gap)
    ink = ink_of(strokes)
    height = numbers.digit_marks(numbers.ink_mask(ink), 64)[1]
    digit_boxes = [(min(x for x, _ in stroke) * SIZE - PEN / 2, max(x for x, _ in stroke) * SIZE
                    + PEN / 2) for stroke in strokes]  # one stroke a digit, left to right

    def confidence(segment):
        middle = segment.x + segment.width / 2
        whole_digit = any(abs(middle - (left + right) / 2) < 0.1 * height
                          and abs(segment.width - (right - left)) < 0.2 * height
                          for left, right in digit_boxes)
        return 0.95 if whole_digit else 0.3

    return ink, confidence


def test_a_wide_digit_touching_a_narrow_one_is_cut_where_they_touch_not_at_even_widths():
    # An even division cuts the wide 0 in two; of the run's candidate cuts,
    # the one at the contact leaves two whole digits, which read best.
    ink, read = wide_zero_touching_a_zero()
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.touching_count(whole, height, min_width=numbers.CONTACT_WIDTH) >= 2
    digits, _ = numbers.read_digits(ink, read)
    assert [reading.confidence for _, reading in digits] == [0.95, 0.95]
    assert numbers.cut_into(whole, 2)[0].width < digits[0][0].width  # even widths cut the 0


def test_a_run_of_two_touching_digits_is_cut_into_three_only_if_that_reads_much_better():
    # Its shape counts two digits, and it is too narrow for three; the first
    # 0's halves read better than the whole 0s (as a 9 cut into a 5 and a 1
    # may, each with confidence)
    ink, _ = touching_digits(ZERO, ZERO)
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.touching_count(whole, height, min_width=numbers.CONTACT_WIDTH) == 2
    assert whole.width <= numbers.MORE_PIECES_WIDTH * height
    zero = 0.7 * HEIGHT * SIZE + PEN  # a 0's width in pixels
    first, second = (whole.x, whole.x + zero), (whole.x + whole.width - zero,
                                                 whole.x + whole.width)
    middle = sum(first) / 2

    def read(whole_digits, halves):
        def confidence(segment):
            left, right = segment.x, segment.x + segment.width
            if any(abs(left - a) <= 20 and abs(right - b) <= 20 for a, b in (first, second)):
                return whole_digits
            if ((abs(left - first[0]) <= 10 and abs(right - middle) <= 10)
                    or (abs(left - middle) <= 10 and abs(right - first[1]) <= 10)):
                return halves
            return 0.001
        return reader(confidence)

    digits, _ = numbers.read_digits(ink, read(0.6, 0.99))
    assert [reading.confidence for _, reading in digits] == [0.6, 0.6]
    # much better (the whole digits read poorly): in three
    digits, _ = numbers.read_digits(ink, read(0.05, 0.99))
    assert [reading.confidence for _, reading in digits] == [0.99, 0.99, 0.05]


def test_a_run_of_five_touching_digits_is_cut_into_five():
    # A number written without lifting the pen, each 7's foot touching the
    # next one's bar: narrow digits, so that the run's width counts four of
    # them, and is read cut into up to one more.
    ink, confidence = touching_digits(SEVEN, SEVEN, SEVEN, SEVEN, SEVEN, gap=-0.02)
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert numbers.touching_count(whole, height) == 4
    digits, _ = numbers.read_digits(ink, reader(confidence))
    assert [reading.confidence for _, reading in digits] == [0.95] * 5


def test_a_run_wider_than_any_digit_is_cut_whatever_the_judge_says():
    # Three touching digits, 2.5 digit heights wide: squeezed to one digit's
    # shape, they may look single to the judge, and the whole may read as a
    # confident digit, but no digit is written so wide.
    ink, confidence = touching_digits(WIDE_ZERO, ZERO, ZERO)
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    assert whole.width > numbers.WIDEST_DIGIT * height
    read = reader(lambda segment: 0.9 if segment.width >= whole.width else confidence(segment),
                  pair_share_of=lambda segment: 0.0)
    digits, _ = numbers.read_digits(ink, read)
    assert len(digits) == 3


def test_past_their_budget_the_dearest_candidate_places_are_left_out():
    # Half the pixels all of the run's places would cost: still cut at
    # candidates, within the budget, at some of the same places.
    ink, _ = wide_zero_touching_a_zero()
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    pen = numbers.stroke_width(whole.mask)
    everywhere, area = numbers._cut_at_candidates(whole, 3, height, pen, np.inf)
    fewer, fewer_area = numbers._cut_at_candidates(whole, 3, height, pen, area / 2)
    assert fewer and 0 < fewer_area <= area / 2
    boxes = {piece.box for pieces in everywhere for piece in pieces}
    fewer_boxes = {piece.box for pieces in fewer for piece in pieces}
    assert fewer_boxes < boxes


def test_past_the_budget_of_its_two_cheapest_places_a_run_keeps_its_even_cuts(monkeypatch):
    # Still read, not refused, and none of the candidate pieces is made.
    monkeypatch.setattr(numbers, "MAX_CANDIDATE_AREA", 0.01)
    ink, read = wide_zero_touching_a_zero()
    digits, _ = numbers.read_digits(ink, read)
    assert len(digits) == 2 and 0.3 in [reading.confidence for _, reading in digits]
    monkeypatch.setattr(numbers, "_between", lambda *args: pytest.fail("a piece was made"))
    numbers.read_digits(ink, read)


def test_a_run_of_touching_digits_is_cut_at_few_places_in_few_ways():
    ink = ink_of(write(ZERO, ZERO, ZERO, ZERO, gap=-0.04))
    (whole,), height = numbers.digit_marks(numbers.ink_mask(ink), 64)
    pen = numbers.stroke_width(whole.mask)
    sides = [side for _, side in numbers.candidate_sides(whole, height, pen)]
    assert len(sides) <= 2 * numbers.CUT_CANDIDATES
    middles = sorted(side.mean() for side in sides)
    assert middles[0] >= numbers.CUT_MARGIN * height - 1
    assert middles[-1] <= whole.width - numbers.CUT_MARGIN * height + 1
    read = reader(lambda segment: 0.5)
    numbers.read_digits(ink, read)
    assert len(read.asked) == len({id(segment) for segment in read.asked})  # each piece read once
    # the whole, the pieces of even cuts (into 2 up to one more than the 4
    # digits), and one piece between any two places
    assert len(read.asked) <= 1 + 2 * (2 + 3 + 4 + 5) + math.comb(len(sides) + 2, 2)
