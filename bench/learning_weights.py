"""How much the labels people give should weigh in a model that learns them
at once: a person reads a stream of real handwriting and corrects only the
mistakes, each correction joining the model before the next reading.

    python -m bench.learning_weights [--data-dir ../shared/data] [--stream N]
                                     [--stream-start S] [--earlier]

MNIST training digits S..S+N-1 (0..9,999 unless told) are rendered as canvas
drawings (RGBA PNG) and read through the chain, each answered by the
k-nearest-neighbour vote of the base model (the bundled digits, plain or with
the chain-normalised variants the service trains on) plus every label given
before it. Accuracy on 2,000 other digits of the same writers' population
(MNIST 50,000-51,999, canvas) is measured before, after 2,000 readings and
after N; then the same with Semeion as a second population (stream the first
1,000, hold out the other 593; measured after 500 and 1,000 readings). A digit
the chain finds no digit in is left out of the stream (there is no answer to
correct) and counts as wrong when held out.

Variants: the base; the weight of a label and of the base's generated variants
("aug 0.5": they weigh 0.5, the bundled digits themselves 1); k; variants of
each label added with it (shifted one block in the 8x8 grid, or the drawing
turned a few degrees before the chain); and, with each label, the generated
variants of other digits among its nearest samples of the base set aside
(left out of the vote: where a person's digit lies, made-up digits of another
class mislead). The default run keeps the best of the first table; --earlier
adds the rest of it.
"""

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.errors import DigitReaderError
from app.imaging.chain import ImageChain
from app.imaging.decode import open_image
from app.recognition.bundled import bundled_digits
from app.recognition.vote import DEFAULT_NEIGHBORS, DEFAULT_WEIGHTS, NeighbourVote
from app.training.sets import bundled_training_set
from bench.accuracy import DEFAULT_DATA_DIR
from bench.models import read_all
from bench.renders import canvas_png

MNIST_HELD_OUT = slice(50_000, 52_000)
SEMEION_STREAM = 1_000
CHECKPOINT = 2_000  # readings before the middle held-out measure (half a shorter stream)
WINDOW = 500  # readings per window of stream accuracy (a quarter of a shorter stream)
TURNS = (-10.0, -5.0, 5.0, 10.0)  # degrees a label's drawing is turned, for "turned"
CHUNK = 32  # readings answered at once until the first mistake in them
CLASSES = np.arange(10)


@dataclass(frozen=True)
class Variant:
    name: str
    base: str = "augmented"  # or "plain": the bundled digits without their variants
    weight: float = 1.0  # of each label given (the bundled digits weigh 1)
    augmented_weight: float = 1.0  # of each generated variant in the augmented base
    k: int = DEFAULT_NEIGHBORS
    extra: str | None = None  # "shifted" or "turned": 4 variants added with each label
    extra_weight: float | None = None  # of each of those variants (None: as the label)
    # With each label, the generated variants of other digits among its set_aside
    # nearest base samples leave the vote (0: none).
    set_aside: int = 0
    confirm: bool = False  # every reading labelled, right ones too ("Right" pressed)


VARIANTS = (
    Variant("augmented base, labels weight 1"),
    Variant("augmented, weight 2", weight=2.0),
    Variant("augmented, w2, set aside near 10", weight=2.0, set_aside=10),
    Variant("augmented, w2, set aside near 20", weight=2.0, set_aside=20),
    Variant("plain base, weight 2", base="plain", weight=2.0),
    Variant("augmented, w1, +4 drawings turned 5/10 deg", extra="turned"),
    Variant("aug 0.5, weight 2", weight=2.0, augmented_weight=0.5),
    Variant("aug 0.25, weight 2", weight=2.0, augmented_weight=0.25),
    Variant("aug 0.5, weight 3", weight=3.0, augmented_weight=0.5),
    Variant("aug 0.5, w2, +4 turned (weigh 1)", weight=2.0, augmented_weight=0.5,
            extra="turned", extra_weight=1.0),
    Variant("aug 0.5, w2, k=7", weight=2.0, augmented_weight=0.5, k=7),
    Variant("aug 0.5, w2, k=7, set aside near 10", weight=2.0, augmented_weight=0.5, k=7,
            set_aside=10),
    Variant("aug 0.5, w2, k=9, set aside near 10", weight=2.0, augmented_weight=0.5, k=9,
            set_aside=10),
)
EARLIER = (  # the rest of the first table, with --earlier
    Variant("plain base, labels weight 1", base="plain"),
    Variant("augmented, weight 3", weight=3.0),
    Variant("augmented, w1, +4 shifted 1 block (8x8)", extra="shifted"),
    Variant("augmented, weight 1.5", weight=1.5),
    Variant("augmented, w1, k=3", k=3),
    Variant("augmented, w1, k=7", k=7),
    Variant("augmented, w2, +4 turned", weight=2.0, extra="turned"),
    Variant("augmented, w1, right answers confirmed too", confirm=True),
)


@dataclass
class Population:
    """A stream of readable digits and a held-out set, both read once."""

    name: str
    stream_ink: np.ndarray  # the images of the readable stream digits
    stream: np.ndarray  # their features (n, 64)
    stream_labels: np.ndarray
    unreadable: int  # stream digits the chain found no digit in, left out
    held_out: np.ndarray  # features, NaN rows where the chain found no digit
    held_out_labels: np.ndarray
    turned: dict  # stream index -> features of its turned drawings (made when needed)


def load_population(name, images, labels, stream, held_out, chain, jobs):
    features = read_all(chain, images[stream], "canvas", jobs)
    readable = ~np.isnan(features).any(axis=1)
    return Population(name, images[stream][readable], features[readable],
                      labels[stream][readable].astype(np.int64), int((~readable).sum()),
                      read_all(chain, images[held_out], "canvas", jobs),
                      labels[held_out].astype(np.int64), {})


def shifted(features):
    """The 8x8 grid moved one block up, down, left and right, zero-filled."""
    grid = features.reshape(8, 8)
    moved = [np.zeros_like(grid) for _ in range(4)]
    moved[0][:-1], moved[1][1:] = grid[1:], grid[:-1]
    moved[2][:, :-1], moved[3][:, 1:] = grid[:, 1:], grid[:, :-1]
    return np.array([grid.ravel() for grid in moved])


def turned(ink, chain):
    """Features of the canvas drawing of ``ink`` decoded as the service decodes
    it, then turned by each of TURNS (on a transparent ground) before the chain."""
    image = open_image(canvas_png(ink), chain.max_pixels)
    rows = []
    for degrees in TURNS:
        try:
            rows.append(chain.to_feature_vector(image.rotate(
                degrees, resample=Image.Resampling.BILINEAR, expand=True)))
        except DigitReaderError:
            continue
    return np.array(rows).reshape(-1, 64)


class LearningModel:
    """The base samples and the labels given so far, in buffers grown in place,
    so that a vote over all of them costs no copy (unless base samples were set
    aside)."""

    def __init__(self, base, variant, capacity):
        features, labels, generated = base
        self.variant = variant
        self.size = self.base_size = len(labels)
        self.samples = np.zeros((self.size + capacity, 64), dtype=np.float32)
        self.labels = np.zeros(self.size + capacity, dtype=np.int64)
        self.weights = np.ones(self.size + capacity)
        self.samples[:self.size], self.labels[:self.size] = features, labels
        self.weights[:self.size][generated] = variant.augmented_weight
        self.generated = generated
        self.aside = np.zeros(self.base_size, dtype=bool)
        self.base_vote = (NeighbourVote(features, labels, CLASSES, variant.set_aside,
                                        DEFAULT_WEIGHTS) if variant.set_aside else None)
        self._vote = None

    def add(self, rows, label, extra_rows=0):
        """Learn ``rows`` as ``label``: the label's own reading, then
        ``extra_rows`` variants of it, which weigh ``variant.extra_weight``."""
        if self.base_vote is not None:  # depends on the label alone, not on those before
            near = self.base_vote.neighbours(rows[:1])[1][0]
            self.aside[near[self.generated[near] & (self.labels[near] != label)]] = True
        end = self.size + len(rows)
        if end > len(self.labels):  # grow by half again
            extra = max(len(rows), len(self.labels) // 2)
            self.samples = np.vstack([self.samples, np.zeros((extra, 64), np.float32)])
            self.labels = np.concatenate([self.labels, np.zeros(extra, np.int64)])
            self.weights = np.concatenate([self.weights, np.ones(extra)])
        self.samples[self.size:end] = rows
        self.labels[self.size:end] = label
        self.weights[self.size:end] = self.variant.weight
        if extra_rows and self.variant.extra_weight is not None:
            self.weights[end - extra_rows:end] = self.variant.extra_weight
        self.size = end
        self._vote = None

    def vote(self):
        if self._vote is None:
            rows = slice(0, self.size)
            if self.aside.any():
                rows = np.concatenate([np.flatnonzero(~self.aside),
                                       np.arange(self.base_size, self.size)])
            self._vote = NeighbourVote(self.samples[rows], self.labels[rows], CLASSES,
                                       self.variant.k, DEFAULT_WEIGHTS,
                                       sample_weights=self.weights[rows])
        return self._vote

    def read(self, features):
        return self.vote().predict_proba(features)[0].argmax(axis=1)

    def held_out_accuracy(self, population):
        found = ~np.isnan(population.held_out).any(axis=1)
        predictions = np.full(len(found), -1)
        predictions[found] = self.read(population.held_out[found])
        return float((predictions == population.held_out_labels).mean())


def simulate(variant, base, population, chain, checkpoint):
    """Read the stream in order, learning each mistake (or, with ``confirm``,
    every reading) before the next reading. Returns the held-out accuracies
    (before, after ``checkpoint`` readings, at the end), the labels learned
    and whether each reading was right."""
    model = LearningModel(base, variant, capacity=len(population.stream) // 2)
    X, y = population.stream, population.stream_labels
    right = np.zeros(len(y), dtype=bool)
    accuracies = [model.held_out_accuracy(population)]
    corrections = 0
    step = 1 if variant.confirm else CHUNK
    i = 0
    while i < len(y):
        stop = min(i + step, len(y), checkpoint if i < checkpoint else len(y))
        wrong = model.read(X[i:stop]) != y[i:stop]
        first = int(wrong.argmax()) if wrong.any() else len(wrong)
        right[i:i + first] = True
        if first < len(wrong):  # a mistake, corrected at once
            learned = i + first
            corrections += 1
        else:  # all right: confirmed, one reading at a time, or not labelled
            learned = stop - 1 if variant.confirm else None
        if learned is None:
            i = stop
        else:
            extra = np.empty((0, 64))
            if variant.extra == "shifted":
                extra = shifted(X[learned])
            elif variant.extra == "turned":
                if learned not in population.turned:
                    population.turned[learned] = turned(population.stream_ink[learned], chain)
                extra = population.turned[learned]
            model.add(np.vstack([X[learned:learned + 1], extra]), y[learned], len(extra))
            i = learned + 1
        if i == checkpoint:
            accuracies.append(model.held_out_accuracy(population))
    accuracies.append(model.held_out_accuracy(population))
    return accuracies, corrections, right


def report(population, variants, results, checkpoint, window):
    n = len(population.stream)
    held = len(population.held_out_labels)
    no_digit = int(np.isnan(population.held_out).any(axis=1).sum())
    print(f"\n== {population.name}: stream of {n:,} readings ({population.unreadable} "
          f"unreadable digits left out), held out {held:,} ({no_digit} unreadable)")
    after_checkpoint, after_all = f"after {checkpoint:,}", f"after {n:,}"
    print(f"{'#':>2} {'variant':<44} {'before':>7} {after_checkpoint:>12} {after_all:>12} "
          f"{'corrections':>11} {'stream':>7}")
    for number, (variant, (accuracies, corrections, right)) in enumerate(
            zip(variants, results, strict=True), 1):
        before, middle, end = accuracies
        print(f"{number:>2} {variant.name:<44} {before:7.2%} {middle:12.2%} {end:12.2%} "
              f"{corrections:>11,} {right.mean():7.2%}")
    print(f"\nstream accuracy by window of {window} readings, variant by number:")
    print(f"{'readings':>13} " + " ".join(f"{n:>6}" for n in range(1, len(variants) + 1)))
    for start in range(0, n, window):
        end = min(start + window, n)
        print(f"{start + 1:>6}-{end:<6} " + " ".join(
            f"{right[start:end].mean():6.1%}" for _, _, right in results))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.learning_weights",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--stream", type=int, default=10_000,
                        help="MNIST training digits read in turn (default 10,000)")
    parser.add_argument("--stream-start", type=int, default=0,
                        help="the first of them (default 0)")
    parser.add_argument("--earlier", action="store_true",
                        help="also the variants of the first table this run leaves out")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.stream < 1 or args.stream_start < 0 or (
            args.stream_start + args.stream > MNIST_HELD_OUT.start):
        parser.error(f"the stream must lie within MNIST training digits "
                     f"0..{MNIST_HELD_OUT.start - 1:,}")
    variants = VARIANTS + EARLIER if args.earlier else VARIANTS

    started = time.perf_counter()
    chain = ImageChain()
    plain = bundled_digits()
    augmented = bundled_training_set(ImageChain(max_pixels=1))
    bases = {  # features, labels, and which rows are generated variants
        "plain": (*plain, np.zeros(len(plain[1]), dtype=bool)),
        "augmented": (augmented.features, augmented.labels, ~augmented.scored)}
    populations = []
    data_dir = args.data_dir.resolve()
    with np.load(data_dir / "mnist-train.npz") as data:
        populations.append(load_population(
            f"MNIST canvas {args.stream_start:,}..{args.stream_start + args.stream - 1:,}",
            data["images"], data["labels"],
            slice(args.stream_start, args.stream_start + args.stream),
            MNIST_HELD_OUT, chain, args.jobs))
    with np.load(data_dir / "semeion.npz") as data:
        populations.append(load_population(
            "Semeion canvas", data["images"], data["labels"], slice(0, SEMEION_STREAM),
            slice(SEMEION_STREAM, None), chain, args.jobs))
    print(f"bases: plain {len(plain[1]):,} samples, augmented {len(augmented.labels):,} "
          f"({augmented.samples['augmented']:,} of them generated variants); "
          f"k={DEFAULT_NEIGHBORS} {DEFAULT_WEIGHTS} unless told; "
          f"read in {time.perf_counter() - started:.1f} s")

    for population in populations:
        begun = time.perf_counter()
        n = len(population.stream)
        checkpoint = CHECKPOINT if n >= 2 * CHECKPOINT else n // 2
        window = WINDOW if n >= 4 * WINDOW else max(1, n // 4)
        results = [simulate(variant, bases[variant.base], population, chain, checkpoint)
                   for variant in variants]
        report(population, variants, results, checkpoint, window)
        print(f"({time.perf_counter() - begun:.1f} s)")
    print(f"\nwall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
