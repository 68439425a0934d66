"""From ink to 8x8 block counts: boxed, centred, upright, stroked, counted; as ndimage does it."""

import numpy as np
import pytest
from scipy import ndimage

from app.imaging.chain import ImageChain
from app.imaging.shape import (
    centre,
    count_blocks,
    deskew,
    dilate,
    fit_into_box,
    ink_depth,
    measure_slant,
    normalise_stroke,
    to_bitmap,
)
from bench.chain_speed import straight_deskew

from .compare import drawn, same


def test_scaling_fits_the_longer_side_and_keeps_the_aspect_ratio():
    tall = np.ones((100, 40), dtype=np.float32)
    assert fit_into_box(tall, 32).shape == (32, 13)
    wide = np.ones((10, 200), dtype=np.float32)
    assert fit_into_box(wide, 32).shape == (2, 32)


def test_centring_puts_the_ink_in_the_middle_of_the_square():
    square = centre(np.ones((32, 12), dtype=np.float32), 32)
    columns = np.flatnonzero(square.any(axis=0))
    assert square.shape == (32, 32)
    assert columns[0] == 10 and columns[-1] == 21


def test_centring_follows_the_centre_of_mass_not_the_bounding_box():
    ink = np.zeros((32, 16), dtype=np.float32)
    ink[:, :4] = 1.0  # a heavy stem on the left
    ink[0, 4:] = 1.0  # and a thin flag to the right
    square = centre(ink, 32)
    stem = np.flatnonzero(square[16])
    assert abs(stem.mean() - 15.5) < 2  # the stem, not the box, sits in the middle


def test_slant_is_measured_from_the_moments_with_its_sign():
    forward = np.zeros((40, 40), dtype=np.float32)
    for row in range(40):
        forward[row, 30 - row // 2] = 1.0  # leans like "/": moves left going down
    assert measure_slant(forward) == pytest.approx(-0.5, abs=0.05)
    assert measure_slant(forward[:, ::-1]) == pytest.approx(0.5, abs=0.05)
    upright = np.zeros((40, 40), dtype=np.float32)
    upright[:, 20] = 1.0
    assert measure_slant(upright) == 0.0


def test_deskew_stands_a_slanted_stroke_upright():
    leaning = np.zeros((40, 40), dtype=np.float32)
    for row in range(40):
        leaning[row, 30 - row // 2] = 1.0
    upright = deskew(leaning, measure_slant(leaning))
    assert abs(measure_slant(upright)) < 0.05
    assert upright.sum() == pytest.approx(leaning.sum(), rel=0.05)  # nothing is cut off


def test_the_box_is_filled_in_height_with_the_width_clamped():
    thin = np.ones((100, 10), dtype=np.float32)
    wide = np.ones((100, 100), dtype=np.float32)
    assert fit_into_box(thin, 32, 0.6, 0.66).shape == (32, 19)
    assert fit_into_box(wide, 32, 0.6, 0.66).shape == (32, 21)


def test_bitmap_is_ink_above_the_threshold():
    assert to_bitmap(np.array([[0.2, 0.8]]), 0.5).tolist() == [[False, True]]


def test_thin_strokes_are_thickened_and_thick_ones_kept():
    thin = np.zeros((32, 32), dtype=bool)
    thin[4:28, 15] = True
    thick = np.zeros((32, 32), dtype=bool)
    thick[4:28, 13:19] = True
    assert normalise_stroke(thin, 4.0).sum() > 2 * thin.sum()
    assert np.array_equal(normalise_stroke(thick, 4.0), thick)


def test_blocks_count_ink_four_by_four_into_eight_by_eight():
    bitmap = np.zeros((32, 32), dtype=bool)
    bitmap[:4, :4] = True  # a full block
    bitmap[4, 4] = True  # one pixel of the next diagonal block
    counts = count_blocks(bitmap)
    assert counts.shape == (8, 8)
    assert counts[0, 0] == 16 and counts[1, 1] == 1 and counts.sum() == 17


# -- the fast route reads as the straightforward one -----------------------------


def test_the_shear_is_ndimage_s_to_the_last_bit():
    rng = np.random.default_rng(0)
    for index in range(3000):
        ink = rng.random(tuple(rng.integers(1, 70, 2))).astype(np.float32)
        ink[rng.random(ink.shape) < 0.4] = 0.0
        slant = float(rng.uniform(-1, 1)) if index % 4 else float(rng.choice([-1, -0.5, 1]))
        assert same(straight_deskew(ink, slant), deskew(ink, slant)), index


def test_dilation_is_ndimage_s():
    rng = np.random.default_rng(0)
    for index in range(500):
        bitmap = rng.random(tuple(rng.integers(1, 40, 2))) < rng.random() / 4
        steps = index % 3 + 1
        assert np.array_equal(ndimage.binary_dilation(bitmap, iterations=steps),
                              dilate(bitmap, steps))


def bit_for_bit(expected, found):
    return (expected.shape == found.shape and expected.dtype == found.dtype
            and expected.tobytes() == found.tobytes())


def inked(shape, *where):
    """A bitmap of ``shape``, paper but at ``where`` (index expressions)."""
    bitmap = np.zeros(shape, dtype=bool)
    for index in where:
        bitmap[index] = True
    return bitmap


EDGE_BITMAPS = {
    "one ink pixel": np.ones((1, 1), dtype=bool),
    "one paper pixel": np.zeros((1, 1), dtype=bool),
    "ink all over, square": np.ones((6, 6), dtype=bool),
    "ink all over, wide": np.ones((3, 8), dtype=bool),
    "ink all over, tall": np.ones((8, 3), dtype=bool),
    "ink all over, one row": np.ones((1, 7), dtype=bool),
    "ink all over, one column": np.ones((7, 1), dtype=bool),
    "paper all over": np.zeros((4, 6), dtype=bool),
    "a column of ink alone": inked((6, 5), np.s_[:, 2]),
    "a row of ink alone": inked((5, 6), np.s_[2, :]),
    "a cross of ink": inked((7, 9), np.s_[3, :], np.s_[:, 4]),
    "one paper pixel in a corner": ~inked((9, 4), np.s_[0, 0]),
    "one paper pixel at the far end": ~inked((4, 9), np.s_[3, 8]),
    "one row of paper and ink": np.array([[True, False, True, True, True]]),
    "no rows": np.zeros((0, 3), dtype=bool),
    "no columns": np.zeros((3, 0), dtype=bool),
}


@pytest.mark.parametrize("name", EDGE_BITMAPS)
def test_the_ink_depth_is_ndimage_s_to_the_last_bit_at_the_edges(name):
    bitmap = EDGE_BITMAPS[name]
    assert bit_for_bit(ndimage.distance_transform_edt(bitmap), ink_depth(bitmap))


def test_the_ink_depth_is_ndimage_s_to_the_last_bit():
    rng = np.random.default_rng(0)
    for index in range(5000):
        shape = tuple(rng.integers(1, 120 if index % 20 == 0 else 40, 2))
        # from no ink to ink all over, often so much that whole columns hold no paper
        density = 1 - rng.random() ** 4 if index % 3 == 0 else rng.random()
        bitmap = rng.random(shape) < density
        if index % 7 == 0:
            bitmap = bitmap.T  # not C-contiguous
        expected = ndimage.distance_transform_edt(bitmap)
        assert bit_for_bit(expected, ink_depth(bitmap)), (index, shape, density)


def test_the_stroke_of_every_drawn_digit_is_measured_as_by_ndimage():
    chain = ImageChain(stroke_width=0.0)  # the bitmap before any thickening
    for index in range(30):
        bitmap = chain.to_bitmap(drawn(index))
        assert bit_for_bit(ndimage.distance_transform_edt(bitmap), ink_depth(bitmap))
