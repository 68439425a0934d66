"""From a picture to ink: flattened, greyscale, inverted, paper removed, cropped; bit for bit."""

import numpy as np
import pytest
from PIL import Image

from app.errors import EmptyImage
from app.imaging.decode import open_image
from app.imaging.ink import (
    INK_OF_ALPHA,
    INK_OF_DARKNESS,
    TILE_PIXELS,
    crop_to_ink,
    cropped_ink,
    flatten_onto_white,
    ink_from_image,
    invert,
    reduce_flattened,
    reduce_large,
    reduced_size,
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


# -- a large picture flattened a tile at a time -----------------------------------------


def every_mode(width, height):
    """Random pixels of every mode a decoder gives, transparent where it can be."""
    rgba = Image.fromarray(np.random.default_rng(width).integers(
        0, 256, (height, width, 4), dtype=np.uint8), "RGBA")
    pictures = [rgba.convert(mode) for mode in ("RGBA", "LA", "RGB", "L", "CMYK", "RGBa")]
    for mode, key in (("P", 7), ("1", 255), ("L", 30), ("RGB", (1, 2, 3))):
        keyed = rgba.convert("RGB").convert(mode, dither=Image.Dither.NONE)
        keyed.info["transparency"] = key
        pictures.append(keyed)
    with_alpha = pictures[-4].convert("PA")  # the palette, and an alpha channel
    with_alpha.putalpha(rgba.getchannel("A"))
    return [*pictures, with_alpha]


# Pictures of a few tiles, with blocks cut short at the right and bottom edges.
@pytest.mark.parametrize("size, max_side", [((1501, 1099), 1024), ((2610, 260), 100),
                                            ((100_001, 3), 64), ((3, 100_001), 64)])
def test_a_picture_flattened_a_tile_at_a_time_is_flattened_whole_to_the_last_bit(size,
                                                                                max_side):
    assert size[0] * size[1] > TILE_PIXELS
    for picture in every_mode(*size):
        whole = reduce_large(flatten_onto_white(picture), max_side)
        tiled = reduce_flattened(picture, max_side)
        assert tiled.mode == whole.mode and tiled.size == whole.size == reduced_size(
            size, max_side)
        assert np.array_equal(np.asarray(tiled), np.asarray(whole)), picture.mode
