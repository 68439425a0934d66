"""How well whole numbers are read through the service's own route
(app.recognition.reader.read_number_image): 2 to 5 real MNIST digits written
in a row, on a canvas and on a photo of paper, read by the default model and by
the model trained with the first 50,000 MNIST digits, side by side.

    python -m bench.numbers [--limit N] [--seed S] [--jobs 2] [--show-errors N]
                            [--no-mnist-model] [--data-dir ../shared/data] [--alone]

The digits are MNIST training images 50,000 onward, which neither model has
seen; every style writes the same digits. Layouts:

* separated: uneven gaps (5-60 % of the digit height between boxes), uneven
  baselines and sizes, a quarter of the digits stretched 1.2-1.6 times as wide;
* touching: the same, but each pair of neighbours, one time in two, written so
  close that their ink touches or crosses a little.

With ``--alone``, the two things a number's reader must tell apart, each on
its own: single digits written alone, and pairs of digits written touching
(every pair so close that its ink touches or crosses a little; the
"touching" column counts those whose ink did connect).

Each is sent as a browser canvas sends it (an RGBA PNG, ink in the alpha
channel) and as a photo of the number written on paper (a JPEG 640-1280
pixels wide, quality 75: uneven light, noise, turned up to 5 degrees; see
bench.renders.paper_photo), and decoded from those bytes as a request would be.

Printed for each style and model: how often the digit count is right (among
all numbers, and among those with touching digits), how often the whole number
is read exactly, and the yardstick of no loss from segmentation: how often
every digit of the number is read right when drawn alone on its own canvas by
the same model (the product of the digits' single-digit accuracies). And the
time read_number_image takes per number, median and max.
"""

import argparse
import io
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image, ImageFilter

from app.errors import DigitReaderError
from app.imaging.chain import ImageChain
from app.imaging.decode import open_image
from app.imaging.segmentation import crop_digit, split_digits
from app.recognition.reader import read_number_image
from app.recognition.recognizer import ServingModel
from bench.models import DEFAULT_CACHE_DIR, MNIST_TRAINING, default_model, mnist_model
from bench.renders import ink_box, paper_photo, pen_edges, render

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIRST_DIGIT = MNIST_TRAINING  # the 50k-MNIST model trained on MNIST 0-49,999
SCALE = 10  # canvas pixels per MNIST pixel, as bench.renders draws a 28 px digit on 280 px
HEIGHT = 20 * SCALE  # MNIST digits are scaled so that the longer side is 20 px
MARGIN = 40  # canvas pixels of paper around the number
MEDIA = ("canvas", "photo")


@dataclass(frozen=True)
class Layout:
    """How a number is written. Lengths are fractions of the digit height."""

    min_digits: int = 2
    max_digits: int = 5
    gap: tuple = (0.05, 0.6)  # between the boxes of neighbouring digits
    touching: float = 0.0  # the share of neighbours written with their ink touching,
    overlap: tuple = (0.0, 0.05)  # crossing by this much
    wide: float = 0.25  # the share of digits written wider,
    stretch: tuple = (1.2, 1.6)  # by this factor
    baseline: float = 0.15  # each digit's baseline moves up or down by up to this
    scale: tuple = (0.85, 1.15)  # each digit's size relative to the others


LAYOUT_OF = {"separated": Layout(), "touching": Layout(touching=0.5)}
# --alone: what a number's reader tells apart, each on its own
ALONE_LAYOUT_OF = {"single": Layout(min_digits=1, max_digits=1),
                   "pair": Layout(min_digits=2, max_digits=2, touching=1.0)}


def styles_of(layouts):
    """The styles ("separated canvas", ...) of ``layouts``, each on each medium."""
    return tuple(f"{layout} {medium}" for layout in layouts for medium in MEDIA)


@dataclass(frozen=True)
class Number:
    indices: tuple  # into the MNIST images
    data: bytes  # the image a client sends
    touching: bool  # some neighbours' ink touches


def compose(images, rng, layout):
    """One canvas (ink, 0-255, float) with ``images`` written side by side, and
    whether any two digits' ink touches."""
    digits = []
    for image in images:
        # a pixel of paper around the ink, that its edges fade as the rest of its strokes
        crop = np.pad(ink_box(np.asarray(image)), 1)
        scale = SCALE * rng.uniform(*layout.scale)
        stretch = rng.uniform(*layout.stretch) if rng.random() < layout.wide else 1.0
        size = (max(1, round(crop.shape[1] * scale * stretch)),
                max(1, round(crop.shape[0] * scale)))
        digits.append(ink_box(np.asarray(Image.fromarray(crop, "L").resize(
            size, Image.Resampling.BILINEAR), dtype=np.float32)))
    lowest = MARGIN + max(digit.shape[0] for digit in digits)  # the highest baseline
    baselines = [lowest + round(HEIGHT * rng.uniform(0, 2 * layout.baseline)) for _ in digits]
    height = max(baselines) + MARGIN
    width = sum(digit.shape[1] for digit in digits) + round(HEIGHT * len(digits)) + 2 * MARGIN
    canvas = np.zeros((height, width), dtype=np.float32)
    owner = np.zeros((height, width), dtype=np.int8)  # which digit inked a pixel, for "touching"
    right_ink = np.full(height, -1)  # the rightmost inked column of each row so far
    touching, box_right = False, MARGIN
    for number, (digit, baseline) in enumerate(zip(digits, baselines, strict=True), start=1):
        top = baseline - digit.shape[0]
        inked = digit > 0.35 * 255
        if number > 1 and rng.random() < layout.touching:
            # no further left than the canvas: a wide digit whose ink in the rows it
            # shares with the one before lies at its right would start before it
            left = max(0, _touching_left(right_ink[top:baseline], inked,
                                         round(rng.uniform(*layout.overlap) * HEIGHT), box_right))
        else:
            left = box_right + (round(rng.uniform(*layout.gap) * HEIGHT) if number > 1 else 0)
        region = (slice(top, baseline), slice(left, left + digit.shape[1]))
        touching |= bool((owner[region][inked] > 0).any())
        touching |= _adjacent(owner, region, inked)
        owner[region][inked] = number
        canvas[region] = np.maximum(canvas[region], digit)
        rows = inked.any(axis=1)
        rightmost = left + digit.shape[1] - 1 - np.argmax(inked[:, ::-1], axis=1)
        right_ink[top:baseline][rows] = np.maximum(right_ink[top:baseline][rows], rightmost[rows])
        box_right = max(box_right, left + digit.shape[1])
    return canvas[:, :box_right + MARGIN], touching


def _touching_left(right_ink, inked, overlap, box_right):
    """The left edge at which ``inked`` (the digit's ink, rows matching
    ``right_ink``, the rightmost ink so far in each row) crosses the ink before
    it by ``overlap`` pixels in the row where they come closest."""
    rows = inked.any(axis=1) & (right_ink >= 0)
    if not rows.any():  # no row in common: boxes overlapping instead
        return box_right - overlap
    leftmost = np.argmax(inked, axis=1)
    return int((right_ink[rows] - leftmost[rows]).max()) + 1 - overlap


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


def photo_jpeg(ink, rng):
    """The number ``ink`` written on paper and photographed: a JPEG 640-1280
    pixels wide (4:3), the digits 15-35 % of its height (less if the number
    would not fit), turned up to 5 degrees."""
    width = int(rng.integers(640, 1281))
    height = width * 3 // 4
    # softened first, so that the steps of the blown-up 28 px digits become a pen's stroke
    layer = pen_edges(Image.fromarray(np.clip(ink_box(ink), 0, 255).astype(np.uint8), "L")
                      .filter(ImageFilter.GaussianBlur(SCALE / 2)))
    scale = min(height * rng.uniform(0.15, 0.35) / HEIGHT, 0.85 * width / layer.width,
                0.6 * height / layer.height)
    layer = layer.resize((max(1, round(layer.width * scale)), max(1, round(layer.height * scale))),
                         Image.Resampling.BILINEAR)
    return paper_photo(layer, "photo", rng, frame=(width, height), max_rotation=5.0)


def make_numbers(images, count, seed, layouts=LAYOUT_OF):
    """The digits of ``count`` numbers (indices into ``images``), the same for
    every style of the same lengths, and the Numbers written in each style of
    ``layouts``, by style."""
    rng = np.random.default_rng(seed)
    digits_of = {}  # (fewest, most digits) -> the digits of each number
    for fewest, most in sorted({(layout.min_digits, layout.max_digits)
                                for layout in layouts.values()}):
        lengths = rng.integers(fewest, most + 1, count)
        digits_of[fewest, most] = [
            tuple(int(i) for i in rng.integers(FIRST_DIGIT, len(images), length))
            for length in lengths]
    numbers = {}
    for style_number, style in enumerate(styles_of(layouts)):
        name, medium = style.split()
        layout = layouts[name]
        rng = np.random.default_rng([seed, style_number])
        numbers[style] = []
        for indices in digits_of[layout.min_digits, layout.max_digits]:
            ink, touching = compose([images[i] for i in indices], rng, layout)
            data = canvas_png(ink) if medium == "canvas" else photo_jpeg(ink, rng)
            numbers[style].append(Number(indices, data, touching))
    return numbers


# -- reading (in worker processes) -----------------------------------------------

_chain = None
_readers = None  # the ServingModel of each model, by name
_read = read_number_image  # or read_by_columns
_images = None


def _start_worker(chain, readers, images, by_columns=False):
    global _chain, _readers, _images, _read
    _chain, _readers, _images = chain, readers, images
    _read = read_by_columns if by_columns else read_number_image


def read_by_columns(image, chain, predict_many, pair_shares=None):
    """The number read as before reading by recognition: the parts cut where
    their columns say (``segmentation.split_digits``), each read once; the
    yardstick of ``--by-columns``."""
    ink = chain.page_ink(image)
    features = []
    for segment in split_digits(ink):
        try:
            features.append(chain.to_feature_vector(crop_digit(ink, segment)))
        except DigitReaderError:
            continue
    if not features:
        return SimpleNamespace(number="")
    return SimpleNamespace(number="".join(str(p.digit) for p in predict_many(np.array(features))))


def _read_number(number):
    """For each model: the digits read (a string; "" when none) and the
    seconds read_number_image took."""
    read = {}
    for name, model in _readers.items():
        image = open_image(number.data, _chain.max_pixels)
        started = time.perf_counter()
        try:
            digits = _read(image, _chain, model.predict_many, pair_shares=model.pair_shares).number
        except DigitReaderError:
            digits = ""
        read[name] = (digits, time.perf_counter() - started)
    return read


def _read_alone(index):
    """For each model: the digit read from MNIST image ``index`` drawn alone on
    its own canvas (-1: none)."""
    try:
        features = _chain.to_feature_vector(render(_images[index], "canvas"))
    except DigitReaderError:
        return dict.fromkeys(_readers, -1)
    return {name: model.predict_many(features[None, :])[0].digit
            for name, model in _readers.items()}


@dataclass(frozen=True)
class Score:
    """How one model read the numbers of one style."""

    count_right: float
    touching_count_right: tuple  # (right, of)
    exactly_right: float
    alone_right: float  # every digit right when read alone
    median_ms: float
    max_ms: float


def score(numbers, read, alone, labels, name):
    """The Score of model ``name``: ``read`` holds what _read_number returned for
    each number, ``alone`` the digit it read from each MNIST image alone."""
    truths = ["".join(str(labels[i]) for i in number.indices) for number in numbers]
    answers = [reading[name][0] for reading in read]
    counted = np.array([len(a) == len(t) for a, t in zip(answers, truths, strict=True)])
    touching = np.array([number.touching for number in numbers])
    milliseconds = 1000 * np.array([reading[name][1] for reading in read])
    return Score(
        counted.mean(), (int(counted[touching].sum()), int(touching.sum())),
        np.mean([a == t for a, t in zip(answers, truths, strict=True)]),
        np.mean([all(alone[i][name] == labels[i] for i in number.indices)
                 for number in numbers]),
        float(np.median(milliseconds)), float(milliseconds.max()))


def format_table(scores):
    """The scores, a row per style and model."""
    header = (f"{'style':<17} {'model':<10} {'count right':>11} {'touching: count right':>22}"
              f" {'number right':>12} {'alone: all right':>16} {'read ms median':>14}"
              f" {'max':>7}")
    lines = [header, "-" * len(header)]
    for (style, name), s in scores.items():
        right, of = s.touching_count_right
        touching = f"{right}/{of} ({right / of:.1%})" if of else "-"
        lines.append(f"{style:<17} {name:<10} {s.count_right:>11.2%} {touching:>22}"
                     f" {s.exactly_right:>12.2%} {s.alone_right:>16.2%}"
                     f" {s.median_ms:>14.1f} {s.max_ms:>7.1f}")
    return "\n".join(lines)


def save_errors(numbers, read, labels, style, count, folder):
    """Save the first ``count`` numbers of ``style`` some model read wrong."""
    saved = 0
    for k, (number, reading) in enumerate(zip(numbers, read, strict=True)):
        truth = "".join(str(labels[i]) for i in number.indices)
        if saved == count:
            break
        if any(digits != truth for digits, _ in reading.values()):
            answers = "-".join(f"{name}-{digits or 'none'}"
                               for name, (digits, _) in reading.items())
            name = f"{style.replace(' ', '-')}-{k}-{truth}-as-{answers}"
            suffix = ".png" if style.endswith("canvas") else ".jpg"
            (folder / (name + suffix)).write_bytes(number.data)
            saved += 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.numbers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--limit", type=int, default=500,
                        help="numbers to write in each style (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mnist-model", action="store_true",
                        help="read with the default model only")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                        help="where the 50k MNIST digits' features are kept (default %(default)s)")
    parser.add_argument("--by-columns", action="store_true",
                        help="split numbers by their columns alone, as before reading by "
                             "recognition (the yardstick)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--show-errors", type=int, default=0, metavar="N",
                        help="save the first N numbers of each style some model read wrong")
    parser.add_argument("--alone", action="store_true",
                        help="single digits alone and touching pairs alone, instead of numbers")
    parser.add_argument("--errors-dir", type=Path, default=DEFAULT_CACHE_DIR / "number-errors",
                        help="where --show-errors saves them (default %(default)s: renders of "
                             "the dataset, kept out of the checkout)")
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
    models = {"default": default_model(chain)}
    if not args.no_mnist_model:
        models["50k-MNIST"] = mnist_model(chain, path, args.jobs, args.cache_dir)
    readers = {name: ServingModel(model.snapshot()) for name, model in models.items()}
    print(f"models ready in {time.perf_counter() - started:.1f} s")

    begun = time.perf_counter()
    layouts = ALONE_LAYOUT_OF if args.alone else LAYOUT_OF
    styles = styles_of(layouts)
    numbers = make_numbers(images, args.limit, args.seed, layouts)
    print(f"{args.limit} numbers written in each of {len(styles)} styles "
          f"in {time.perf_counter() - begun:.1f} s")
    alone_indices = sorted({i for style in styles for number in numbers[style]
                            for i in number.indices})
    begun = time.perf_counter()
    if args.jobs > 1:
        with Pool(args.jobs, initializer=_start_worker,
                  initargs=(chain, readers, images, args.by_columns)) as pool:
            read = {style: pool.map(_read_number, numbers[style], chunksize=8)
                    for style in styles}
            alone_read = pool.map(_read_alone, alone_indices, chunksize=64)
    else:
        _start_worker(chain, readers, images, args.by_columns)
        read = {style: [_read_number(number) for number in numbers[style]] for style in styles}
        alone_read = [_read_alone(index) for index in alone_indices]
    alone = dict(zip(alone_indices, alone_read, strict=True))
    print(f"read in {time.perf_counter() - begun:.1f} s")

    for name in readers:
        right = np.mean([alone[i][name] == labels[i] for i in alone_indices])
        print(f"{name}: the {len(alone_indices)} digits used, each read alone on a canvas: "
              f"{right:.2%} right")
    scores = {(style, name): score(numbers[style], read[style], alone, labels, name)
              for style in styles for name in readers}
    if args.show_errors:
        print(f"numbers read wrong are saved in {args.errors_dir}")
    for style in styles:
        touching = sum(number.touching for number in numbers[style])
        print(f"{style}: {touching} of {args.limit} numbers with touching digits (ink connected)")
        if args.show_errors:
            args.errors_dir.mkdir(parents=True, exist_ok=True)
            save_errors(numbers[style], read[style], labels, style, args.show_errors,
                        args.errors_dir)
    lengths = "; ".join(f"{name}: {layout.min_digits}-{layout.max_digits} digits"
                        for name, layout in layouts.items())
    print(f"\n{args.limit} numbers per style ({lengths}) of MNIST digits "
          f"(training images {FIRST_DIGIT:,}+); 'alone: all right': every digit read "
          f"right alone on its own canvas (no loss from segmentation)")
    print(format_table(scores))
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
