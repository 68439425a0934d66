"""How well whole numbers are read: 2 to 5 real MNIST digits laid out on one
canvas, split into digits and read through the real image chain by the
default model (trained on the bundled digits only).

    python -m bench.numbers [--limit N] [--data-dir ../shared/data]

The digits come from MNIST training images 10,000 onward (bench.accuracy reads
the first 10,000). Each number is written with uneven gaps (some pairs
overlapping, so that their ink may touch), uneven baselines and sizes, and
sent as a browser canvas sends it: an RGBA PNG with black ink in the alpha
channel. It is decoded from those bytes as a request would be.

Printed: how often the digit count is right; of the numbers counted right, how
often each digit is read right; how often the same digits are read right when
each is drawn alone on its own canvas (bench.renders); and the difference.
"""

import argparse
import io
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from app.errors import DigitReaderError
from app.imaging.chain import ImageChain
from app.imaging.decode import open_image
from app.imaging.ink import ink_from_image, remove_background
from app.imaging.segmentation import crop_digit, split_digits
from app.training.model import train_model
from app.training.sets import bundled_training_set
from bench.renders import render

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIRST_DIGIT = 10_000  # bench.accuracy reads MNIST 0-9,999
SCALE = 10  # canvas pixels per MNIST pixel, as bench.renders draws a 28 px digit on 280 px
MARGIN = 40  # canvas pixels of paper around the number
NO_DIGIT = -1


@dataclass(frozen=True)
class Layout:
    """How a number is written. Lengths are fractions of the digit height."""

    min_digits: int = 2
    max_digits: int = 5
    gap: tuple = (0.03, 0.5)  # between the boxes of neighbouring digits
    touching: float = 0.1  # the share of neighbours written closer, boxes overlapping:
    overlap: tuple = (0.0, 0.1)  # by this much
    baseline: float = 0.15  # each digit's baseline moves up or down by up to this
    scale: tuple = (0.85, 1.15)  # each digit's size relative to the others


@dataclass(frozen=True)
class Number:
    indices: tuple  # into the MNIST images
    png: bytes
    touching: bool  # some neighbours' ink touches


def ink_box(image):
    rows = np.flatnonzero(image.max(axis=1) > 0)
    cols = np.flatnonzero(image.max(axis=0) > 0)
    return image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def compose(images, rng, layout):
    """One canvas (ink, 0-255, float) with ``images`` written side by side;
    which digit (1, 2, ...; 0: none) inked each pixel; and whether any two
    digits' ink touches."""
    heights = 20 * SCALE  # MNIST digits are scaled so that the longer side is 20 px
    digits = []
    for image in images:
        scale = SCALE * rng.uniform(*layout.scale)
        crop = ink_box(image)
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        digits.append(np.asarray(Image.fromarray(crop, "L").resize(
            size, Image.Resampling.BILINEAR), dtype=np.float32))
    gaps = []
    for _ in digits[1:]:
        if rng.random() < layout.touching:
            gaps.append(-rng.uniform(*layout.overlap) * heights)
        else:
            gaps.append(rng.uniform(*layout.gap) * heights)
    lefts = [MARGIN]
    for digit, gap in zip(digits, gaps, strict=False):
        lefts.append(lefts[-1] + digit.shape[1] + int(round(gap)))
    baselines = [MARGIN + heights * (1.3 + rng.uniform(-layout.baseline, layout.baseline))
                 for _ in digits]
    width = max(left + digit.shape[1] for left, digit in zip(lefts, digits, strict=False)) + MARGIN
    height = int(max(baselines)) + MARGIN
    canvas = np.zeros((height, width), dtype=np.float32)
    owner = np.zeros((height, width), dtype=np.int8)  # which digit inked a pixel, for "touching"
    touching = False
    placed = zip(digits, lefts, baselines, strict=False)
    for number, (digit, left, baseline) in enumerate(placed, start=1):
        top = int(round(baseline)) - digit.shape[0]
        region = (slice(top, top + digit.shape[0]), slice(left, left + digit.shape[1]))
        inked = digit > 0.35 * 255
        touching |= bool((owner[region][inked] > 0).any())
        touching |= _adjacent(owner, region, inked)
        owner[region][inked] = number
        canvas[region] = np.maximum(canvas[region], digit)
    return canvas, owner, touching


def _adjacent(owner, region, inked):
    """Whether ``inked`` (placed at ``region``) touches ink already on the canvas,
    diagonals included."""
    rows, cols = region
    grown = np.zeros(owner.shape, dtype=bool)
    grown[rows, cols] = inked
    grown[1:, :] |= grown[:-1, :].copy()
    grown[:-1, :] |= grown[1:, :].copy()
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    return bool((owner[grown] > 0).any())


def canvas_png(ink):
    """An RGBA PNG with black ink in the alpha channel, as ``canvas.toDataURL()``."""
    alpha = Image.fromarray(np.clip(ink, 0, 255).astype(np.uint8), "L")
    rgba = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
    rgba.putalpha(alpha)
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    return buffer.getvalue()


def make_numbers(images, count, seed, layout):
    rng = np.random.default_rng(seed)
    numbers = []
    for _ in range(count):
        length = int(rng.integers(layout.min_digits, layout.max_digits + 1))
        indices = tuple(int(i) for i in rng.integers(FIRST_DIGIT, len(images), length))
        ink, _, touching = compose([images[i] for i in indices], rng, layout)
        numbers.append(Number(indices, canvas_png(ink), touching))
    return numbers


# -- reading (in worker processes) -----------------------------------------------

_chain = None
_images = None


def _start_worker(chain, images):
    global _chain, _images
    _chain, _images = chain, images


def _features_or_none(item):
    try:
        return _chain.to_feature_vector(item)
    except DigitReaderError:
        return None


def _read_number(number):
    """(features of each digit found, seconds spent splitting) for one number."""
    ink = remove_background(ink_from_image(open_image(number.png, _chain.max_pixels)))
    started = time.perf_counter()
    segments = split_digits(ink)
    seconds = time.perf_counter() - started
    return [_features_or_none(crop_digit(ink, s)) for s in segments], seconds


def _read_alone(index):
    return _features_or_none(render(_images[index], "canvas"))


def predict(classifier, rows):
    found = [row is not None for row in rows]
    predictions = np.full(len(rows), NO_DIGIT)
    if any(found):
        predictions[np.array(found)] = classifier.predict(
            np.stack([row for row in rows if row is not None]))
    return predictions


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.numbers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--limit", type=int, default=1000,
                        help="numbers to write (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--touching", type=float, default=Layout.touching,
                        help="share of neighbouring digits written with overlapping boxes "
                             "(default %(default)s)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--show-errors", type=int, default=0, metavar="N",
                        help="save the first N miscounted numbers as PNGs in the current folder")
    args = parser.parse_args(argv)

    path = args.data_dir.resolve() / "mnist-train.npz"
    if not path.is_file():
        sys.exit(f"bench.numbers: dataset file not found: {path}\n"
                 f"Pass --data-dir pointing at the folder with mnist-train.npz "
                 f"(default {DEFAULT_DATA_DIR}).")
    started = time.perf_counter()
    with np.load(path) as data:
        images, labels = data["images"], data["labels"].astype(np.int64)

    chain = ImageChain()
    model = train_model(bundled_training_set(chain), chain).classifier
    print(f"model: the default (bundled digits and their variants), trained in "
          f"{time.perf_counter() - started:.1f} s")

    layout = Layout(touching=args.touching)
    numbers = make_numbers(images, args.limit, args.seed, layout)
    if args.jobs > 1:
        with Pool(args.jobs, initializer=_start_worker, initargs=(chain, images)) as pool:
            read = pool.map(_read_number, numbers, chunksize=16)
            alone_indices = sorted({i for number in numbers for i in number.indices})
            alone_rows = pool.map(_read_alone, alone_indices, chunksize=64)
    else:
        _start_worker(chain, images)
        read = [_read_number(number) for number in numbers]
        alone_indices = sorted({i for number in numbers for i in number.indices})
        alone_rows = [_read_alone(i) for i in alone_indices]
    alone = dict(zip(alone_indices, predict(model, alone_rows), strict=False))

    counted = digits_right = alone_right = digit_total = 0
    touching_total = touching_counted = 0
    count_errors = {"too few": 0, "too many": 0}
    shown = 0
    for number, (rows, _) in zip(numbers, read, strict=False):
        truth = labels[list(number.indices)]
        touching_total += number.touching
        if len(rows) != len(truth):
            count_errors["too few" if len(rows) < len(truth) else "too many"] += 1
            if shown < args.show_errors:
                name = f"miscounted-{shown}-{''.join(map(str, truth))}-as-{len(rows)}.png"
                Path(name).write_bytes(number.png)
                shown += 1
            continue
        counted += 1
        touching_counted += number.touching
        digits_right += int((predict(model, rows) == truth).sum())
        alone_right += sum(int(alone[i] == label)
                           for i, label in zip(number.indices, truth, strict=True))
        digit_total += len(truth)

    all_alone = np.mean([alone[i] == labels[i] for i in alone_indices])
    split_ms = 1000 * np.array([seconds for _, seconds in read])
    lengths = np.array([len(number.indices) for number in numbers])
    in_number = digits_right / max(digit_total, 1)
    by_itself = alone_right / max(digit_total, 1)

    print(f"\n{len(numbers)} numbers of {layout.min_digits}-{layout.max_digits} MNIST digits "
          f"(training images {FIRST_DIGIT:,}+), canvas PNG; {touching_total} with touching "
          f"digits (ink connected)")
    print(f"digit count right:            {counted / len(numbers):7.2%}  "
          f"({counted}/{len(numbers)}; too few {count_errors['too few']}, "
          f"too many {count_errors['too many']}; with touching digits "
          f"{touching_counted}/{touching_total})")
    print(f"digits right, in the number:  {in_number:7.2%}  "
          f"(of {digit_total} digits in the numbers counted right)")
    print(f"same digits read alone:       {by_itself:7.2%}  "
          f"(all {len(alone_indices)} digits used, alone: {all_alone:.2%})")
    print(f"difference:                   {100 * (in_number - by_itself):+7.2f} points")
    for length in range(layout.min_digits, layout.max_digits + 1):
        picked = lengths == length
        right = sum(len(rows) == length for (rows, _), p in zip(read, picked, strict=False) if p)
        print(f"  {length} digits: count right {right}/{picked.sum()}")
    longest = split_ms[lengths == layout.max_digits]
    print(f"split time: median {np.median(split_ms):.2f} ms, {layout.max_digits}-digit numbers "
          f"median {np.median(longest) if longest.size else 0:.2f} ms, "
          f"max {longest.max() if longest.size else 0:.2f} ms")
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
