"""Touching pairs: two bundled digits written so close that their ink touches,
as the chain gives them, for the judge that tells two touching digits from one
wide digit when a number is read (segmentation.read_digits).

The model's readings of the pieces of a cut cannot tell those apart well
enough: half a wide digit often reads as a confident digit too. What a
touching pair looks like as a whole can: among the nearest of the model's
own samples and these pairs, the share of pairs (docs/accuracy.md).
"""

import numpy as np
from PIL import Image

from app.errors import DigitReaderError
from app.imaging.ink import ink_box
from app.recognition.bundled import bundled_digits
from app.training.augment import reconstruct_bitmap

PAIRS = 3000  # pairs made for a model
SCALE = 4  # canvas pixels per bitmap pixel: strokes about as thick as a drawing's
SIZES = (0.85, 1.15)  # each digit's size against the other's
WIDE = 0.25  # the share of digits written wider, ...
STRETCH = (1.2, 1.6)  # ... by this factor
BASELINE = 0.3  # the second digit's baseline up or down by up to this share of a digit
OVERLAP = (0.0, 0.05)  # the two cross by up to this share of a digit's height
INKED = 0.35 * 255  # what counts as ink when the two are placed


_made = {}  # (chain signature, count, random_state) -> the pairs' features


def touching_pairs(chain, count=PAIRS, random_state=0):
    """Features (n, 64), as ``chain`` gives them, of ``count`` pairs of
    bundled digits (fewer where the chain finds one blank), each pair drawn
    at random and written so that the second digit's ink touches or crosses
    the first's in the row where they come closest. Made once per process
    and chain (3 s): the same for every model of that chain."""
    key = (chain.signature(), count, random_state)
    if key not in _made:
        _made[key] = _touching_pairs(chain, count, random_state)
    return _made[key]


def _touching_pairs(chain, count, random_state):
    samples, _ = bundled_digits()
    rng = np.random.default_rng(random_state)
    features = []
    for first, second in rng.integers(0, len(samples), (count, 2)):
        try:
            features.append(chain.to_feature_vector(
                _touching(_written(samples[first], rng), _written(samples[second], rng), rng)))
        except DigitReaderError:
            continue
    pairs = np.array(features, dtype=np.float32).reshape(-1, samples.shape[1])  # counts 0-16
    pairs.flags.writeable = False  # shared by every model made in this process
    return pairs


def _written(counts, rng):
    """A bundled digit (8x8 counts) as ink (0-255, float) cropped to its box,
    at a random size and, one time in four, stretched wider; EmptyImage for
    a digit with no ink."""
    bitmap = reconstruct_bitmap(counts)
    ink = bitmap[ink_box(bitmap, min_ink_fraction=0)].astype(np.float32) * 255
    scale = SCALE * rng.uniform(*SIZES)
    stretch = rng.uniform(*STRETCH) if rng.random() < WIDE else 1.0
    size = (max(1, round(ink.shape[1] * scale * stretch)), max(1, round(ink.shape[0] * scale)))
    return np.asarray(Image.fromarray(ink, "F").resize(size, Image.Resampling.BILINEAR))


def _touching(left, right, rng):
    """``left`` and ``right`` on one canvas, baselines apart by up to BASELINE,
    ``right`` crossing ``left``'s rightmost ink by OVERLAP where the rows
    they share come closest."""
    height = max(left.shape[0], right.shape[0])
    shift = round(rng.uniform(-BASELINE, BASELINE) * height)
    top = height + abs(shift)
    canvas_height = top + height + abs(shift)
    left_top = top - left.shape[0]
    right_top = top + shift - right.shape[0]
    left_rows = np.zeros((canvas_height, left.shape[1]), dtype=bool)
    left_rows[left_top:left_top + left.shape[0]] = left > INKED
    right_rows = np.zeros((canvas_height, right.shape[1]), dtype=bool)
    right_rows[right_top:right_top + right.shape[0]] = right > INKED
    shared = left_rows.any(axis=1) & right_rows.any(axis=1)
    overlap = round(rng.uniform(*OVERLAP) * height)
    if shared.any():
        rightmost = left.shape[1] - 1 - np.argmax(left_rows[:, ::-1], axis=1)
        leftmost = np.argmax(right_rows, axis=1)
        x = int((rightmost[shared] - leftmost[shared]).max()) + 1 - overlap
    else:
        x = left.shape[1] - overlap
    x = max(x, 0)
    canvas = np.zeros((canvas_height, max(left.shape[1], x + right.shape[1])), dtype=np.float32)
    canvas[left_top:left_top + left.shape[0], :left.shape[1]] = left
    region = canvas[right_top:right_top + right.shape[0], x:x + right.shape[1]]
    np.maximum(region, right, out=region)
    return canvas
