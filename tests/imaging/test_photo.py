"""Finding the digit in a photo: the light evened out, ruled and squared lines
taken away, the largest coherent ink kept, on small synthetic pictures."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.imaging import photo
from app.imaging.chain import ImageChain

SIDE = 240
SEVEN = [(80, 60), (160, 60), (105, 180)]


def paper(light=None):
    """Greyscale paper with a photo's grain, ``SIDE`` a side, lit by ``light``
    (an array of 0-1, or even)."""
    grain = np.random.default_rng(0).normal(0, 3, (SIDE, SIDE))
    return (230.0 if light is None else 230.0 * light) + grain


def with_seven(level, ink=40.0, width=14):
    """``level`` (paper lightness) with a 7 written over it in ink of ``ink``."""
    stroke = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(stroke).line(SEVEN, fill=255, width=width, joint="curve")
    share = np.asarray(stroke, dtype=np.float64) / 255
    return Image.fromarray(np.clip(level * (1 - share) + ink * share, 0, 255).astype(np.uint8))


def gradient():
    """Light falling off across the page, to 45% at the far side."""
    return 1.0 - 0.55 * np.linspace(0, 1, SIDE)[None, :].repeat(SIDE, axis=0)


def ruled(level, step=24, darkness=0.35, grid=False):
    """Paper with ruled (or squared) lines, 2 px thick, ``step`` apart."""
    level = level.copy()
    for offset in range(8, SIDE, step):
        level[offset:offset + 2, :] *= 1 - darkness
        if grid:
            level[:, offset:offset + 2] *= 1 - darkness
    return level


def shadow():
    """A shadow over the right half of the page, its edge a few pixels soft."""
    edge = np.clip((np.arange(SIDE) - SIDE / 2) / 6, 0, 1)
    return 1.0 - 0.5 * edge[None, :].repeat(SIDE, axis=0)


def features(image, photos=True):
    return ImageChain(photos=photos).to_feature_vector(image)


CLEAN = features(with_seven(paper()))


def difference(image, photos=True):
    """How far the chain's features of ``image`` lie from those of the 7 on clean paper."""
    return float(np.abs(features(image, photos) - CLEAN).mean())


@pytest.mark.parametrize("picture", [
    lambda: with_seven(paper(gradient())),
    lambda: with_seven(paper(shadow())),
    lambda: with_seven(ruled(paper())),
    lambda: with_seven(ruled(paper(), grid=True)),
], ids=["light falling off", "a shadow", "ruled paper", "squared paper"])
def test_a_digit_on_difficult_paper_reads_as_on_clean_paper(picture):
    image = picture()
    assert difference(image) < 0.6
    assert difference(image, photos=False) > 1.0  # without the photo's steps, it does not


def test_a_speck_far_from_the_digit_is_not_part_of_it():
    level = paper()
    level[10:16, 220:226] = 30  # a speck of dirt in a corner
    image = with_seven(level)
    assert difference(image) < 0.3
    assert difference(image, photos=False) > 1.0


def test_a_digit_in_two_strokes_keeps_both():
    image = with_seven(paper())
    ImageDraw.Draw(image).line([(95, 120), (140, 120)], fill=40, width=12)  # a crossed 7's bar
    mask = photo.clean_photo(1.0 - np.asarray(image, dtype=np.float32) / 255) > 0.35
    assert mask[118:123, 100:135].all()


def test_the_light_is_evened_out():
    grey = paper(gradient()) / 255
    assert (1 - grey).max() - (1 - grey).min() > 0.45  # as darkness, half-way to ink
    evened = photo.even_light(grey.astype(np.float32))
    assert np.percentile(evened, 99) < 0.1  # evened out: paper all over, but for its grain


def test_one_long_stroke_is_kept_but_a_ruling_is_taken_away():
    one = np.zeros((SIDE, SIDE), dtype=bool)
    one[10:230, 118:122] = True  # a 1 as tall as the picture, as thin as a pen
    ink = one.astype(np.float32)
    assert photo.remove_lines(ink, one)[1].sum() == one.sum()
    lined = one.copy()
    lined[30::40, :] = True  # six ruled lines, a pixel thick
    kept = photo.remove_lines(lined.astype(np.float32), lined)[1]
    assert not kept[30::40, :2].any() and not kept[30::40, -2:].any()
    assert kept[10:230, 118:122].mean() > 0.95


@pytest.mark.parametrize("mode", ["RGBA", "RGB"], ids=["in the alpha channel", "filled white"])
def test_a_drawing_never_takes_the_photo_route(monkeypatch, mode):
    monkeypatch.setattr(photo, "even_light", lambda grey: pytest.fail("photo route taken"))
    drawing = Image.new(mode, (SIDE, SIDE), (0, 0, 0, 0) if mode == "RGBA" else "white")
    ImageDraw.Draw(drawing).line(SEVEN, fill="black", width=14)
    assert ImageChain().to_feature_vector(drawing).shape == (64,)
