"""From a picture to ink: flattened, greyscale, inverted, paper removed, cropped; bit for bit."""

import numpy as np
import pytest
from PIL import Image

from app.errors import EmptyImage
from app.imaging.decode import open_image
from app.imaging.ink import (
    INK_OF_ALPHA,
    INK_OF_DARKNESS,
    crop_to_ink,
    cropped_ink,
    flatten_onto_white,
    ink_from_image,
    invert,
    remove_background,
    to_greyscale,
)
from bench.chain_speed import straight_ink, straight_remove_background

from .compare import PICTURES, outcome, same


def test_transparency_is_flattened_onto_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    image.putpixel((1, 1), (0, 0, 0, 255))
    flat = np.asarray(flatten_onto_white(image))
    assert flat.shape == (4, 4, 3)
    assert (flat[0, 0] == 255).all() and (flat[1, 1] == 0).all()


def test_greyscale_is_lightness_from_zero_to_one():
    image = Image.new("RGB", (2, 1))
    image.putpixel((0, 0), (255, 255, 255))
    grey = to_greyscale(image)
    assert grey.dtype == np.float32
    assert grey[0, 0] == pytest.approx(1.0) and grey[0, 1] == pytest.approx(0.0)


def test_sixteen_bit_greyscale_is_scaled_to_zero_to_one():
    image = Image.fromarray(np.array([[0, 65535]], dtype=np.uint16))
    assert to_greyscale(flatten_onto_white(image)).tolist() == [[0.0, 1.0]]


def test_invert_makes_ink_high():
    assert invert(np.array([[1.0, 0.25]])).tolist() == [[0.0, 0.75]]


def test_background_removal_stretches_paper_to_zero_and_ink_to_one():
    ink = np.full((10, 10), 0.1, dtype=np.float32)
    ink[4:6, 2:8] = 0.7
    cleaned = remove_background(ink)
    assert cleaned.min() == 0.0 and cleaned.max() == 1.0
    assert cleaned[0, 0] == 0.0


def test_an_image_with_no_contrast_is_empty():
    with pytest.raises(EmptyImage):
        remove_background(np.full((10, 10), 0.3, dtype=np.float32))


def test_crop_keeps_only_the_rectangle_around_the_ink():
    ink = np.zeros((20, 30), dtype=np.float32)
    ink[5:9, 10:25] = 1.0
    assert crop_to_ink(ink).shape == (4, 15)


def test_a_speck_of_ink_is_an_empty_image():
    ink = np.zeros((280, 280), dtype=np.float32)
    ink[100, 100] = 1.0
    with pytest.raises(EmptyImage):
        crop_to_ink(ink)


# -- the fast route reads as the straightforward one -----------------------------


def crop_straight(ink):
    return crop_to_ink(straight_remove_background(ink))


@pytest.mark.parametrize("kind", PICTURES)
def test_the_cropped_ink_is_the_straightforward_route_s_to_the_last_bit(kind):
    for index in range(0, 24, 3):
        image = open_image(PICTURES[kind](index), 10**7)
        ink = straight_ink(image)
        assert same(ink, ink_from_image(image))
        assert same(outcome(crop_straight, ink), outcome(cropped_ink, image)), index


def test_ink_grows_with_the_level_from_nothing():
    for ink_of_level in (INK_OF_ALPHA, INK_OF_DARKNESS):
        assert ink_of_level[0] == 0.0 and ink_of_level[255] == 1.0
        assert (np.diff(ink_of_level) > 0).all()


def test_the_paper_level_is_np_percentile_s_to_the_last_bit():
    rng = np.random.default_rng(0)
    for index in range(4000):
        shape = tuple(rng.integers(1, 400 if index % 10 == 0 else 40, 2))
        ink = rng.random(shape).astype(np.float32 if index % 3 else np.float64)
        if index % 2:
            ink[rng.random(shape) < rng.random()] = rng.choice([0.0, 0.2])  # ties
        expected = outcome(straight_remove_background, ink)
        assert same(expected, outcome(remove_background, ink)), index
