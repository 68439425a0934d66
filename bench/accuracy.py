"""How well the whole recognizer reads real handwriting: dataset digits rendered
the way clients send them, through the full image chain, into a default model
trained on the bundled digits only.

    python -m bench.accuracy [--limit N] [--data-dir ../shared/data]

MNIST (the first 10,000 training digits) and Semeion are rendered as canvas
drawings (RGBA PNG) and as photos (JPEG) and decoded from those bytes, as a
request would be; the original optdigits bitmaps go through the chain as
arrays, as a sanity check (the bundled digits were made from the same kind of
bitmap, by other writers).
"""

import argparse
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from app.errors import DigitReaderError
from app.imaging.chain import ImageChain
from app.recognition.bundled import bundled_digits
from app.recognition.recognizer import ServingModel
from app.recognition.store import StoredModel
from app.training.classifier import DIGITS, evaluate_predictions, train
from app.training.model import train_model
from app.training.sets import bundled_training_set
from bench.renders import STYLES, render

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_COUNT = 10_000  # the first 10,000 MNIST training digits
NO_DIGIT = -1  # the prediction recorded when the chain finds no digit

# Set in each worker process: the chain and the images being read.
_chain = None
_images = None


def _start_worker(chain, images):
    global _chain, _images
    _chain, _images = chain, images


def _features(job):
    """Features of image ``index`` of the current set, rendered in ``style``
    (None: the array itself); None when the chain rejects it."""
    index, style = job
    ink = _images[index]
    item = ink if style is None else render(ink, style, seed=index)
    try:
        return _chain.to_feature_vector(item)
    except DigitReaderError:
        return None


def load_sets(data_dir, limit):
    """(name, images, labels, styles) for each dataset; styles None means the
    arrays go through the chain as they are."""
    files = {name: data_dir / f"{name}.npz"
             for name in ("mnist-train", "semeion", "optdigits-orig-tra")}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        sys.exit(f"bench.accuracy: dataset files not found: {', '.join(missing)}\n"
                 f"Pass --data-dir pointing at the folder with the .npz files "
                 f"(default {DEFAULT_DATA_DIR}).")
    sets = []
    for name, path, count, styles in (
        ("MNIST", files["mnist-train"], MNIST_COUNT, STYLES),
        ("Semeion", files["semeion"], None, STYLES),
        ("optdigits-orig", files["optdigits-orig-tra"], None, (None,)),
    ):
        with np.load(path) as data:
            images, labels = data["images"], data["labels"].astype(np.int64)
        count = min(x for x in (count, limit, len(labels)) if x is not None)
        sets.append((name, images[:count], labels[:count], styles))
    return sets


def read_all(chain, images, style, jobs):
    """Feature rows for every image (NaN rows where the chain found no digit)."""
    work = [(index, style) for index in range(len(images))]
    if jobs > 1:
        with Pool(jobs, initializer=_start_worker, initargs=(chain, images)) as pool:
            rows = pool.map(_features, work, chunksize=64)
    else:
        _start_worker(chain, images)
        rows = [_features(job) for job in work]
    return np.array([np.full(64, np.nan) if row is None else row for row in rows])


def predict(serving, features):
    """Digits (NO_DIGIT where the chain found none) and calibrated confidences,
    as the service answers them."""
    found = ~np.isnan(features).any(axis=1)
    predictions = np.full(len(features), NO_DIGIT)
    confidences = np.zeros(len(features))
    if found.any():
        answers = serving.predict_many(features[found])
        predictions[found] = [answer.digit for answer in answers]
        confidences[found] = [answer.confidence for answer in answers]
    return predictions, confidences


CONFIDENCE_BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)


def format_calibration(predictions, confidences, labels):
    """How often answers of each confidence were right."""
    right = predictions == labels
    lines = ["confidence    answers  mean conf  right"]
    for low, high in zip(CONFIDENCE_BINS, CONFIDENCE_BINS[1:], strict=False):
        inside = (confidences >= low) & ((confidences < high) | (high == 1.0))
        if inside.any():
            lines.append(f"[{low:.2f}, {high:.2f}{']' if high == 1.0 else ')'}  {inside.sum():>7}"
                         f"  {confidences[inside].mean():>9.3f}  {right[inside].mean():6.1%}")
    sure = confidences >= 0.9
    lines.append(f"confidence >= 0.9: {sure.sum()} answers, {right[sure].mean():.1%} right"
                 if sure.any() else "confidence >= 0.9: no answers")
    return "\n".join(lines)


def format_confusion(confusion):
    header = "true\\pred " + " ".join(f"{d:>5}" for d in DIGITS)
    rows = [f"{d:>9} " + " ".join(f"{n:>5}" for n in confusion[d]) for d in DIGITS]
    return "\n".join([header, *rows])


def time_one_image(chain, image, repeats=200):
    """Milliseconds for one rendered 280x280 image through the chain, in this process."""
    chain.to_feature_vector(image)  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        chain.to_feature_vector(image)
    return (time.perf_counter() - start) * 1000 / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--limit", type=int, default=None, help="at most N digits per dataset")
    parser.add_argument("--neighbors", type=int, default=None,
                        help="k (default: the service's; 0: search k and weighting by "
                             "cross-validation on the bundled digits)")
    parser.add_argument("--no-augment", action="store_true",
                        help="train on the bundled digits alone, without chain-normalised variants")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sets = load_sets(args.data_dir.resolve(), args.limit)
    chain = ImageChain()

    if args.no_augment:
        X, y = bundled_digits()
        result = train(X, y, samples={"bundled": len(y)}, n_neighbors=args.neighbors or None,
                       search=args.neighbors == 0)
        trained = StoredModel(result.classifier, {**vars(result), "version": "no-augment"})
    else:  # exactly the service's default model
        trained = train_model(bundled_training_set(chain), chain,
                              n_neighbors=args.neighbors or None, search=args.neighbors == 0)
    meta = trained.metadata
    serving = ServingModel(trained.snapshot())
    print(f"model: k={meta['n_neighbors']} weights={meta['weights']} samples={meta['samples']} "
          f"(trained in {time.perf_counter() - started:.1f} s)")
    print(f"bundled digits, 10-fold cross-validation: {meta['accuracy']:.2%}")

    summary = []
    for name, images, labels, styles in sets:
        for style in styles:
            label = f"{name} {style or 'bitmap'}"
            begun = time.perf_counter()
            features = read_all(chain, images, style, args.jobs)
            predictions, confidences = predict(serving, features)
            seconds = time.perf_counter() - begun
            result = evaluate_predictions(labels, predictions)
            no_digit = int((predictions == NO_DIGIT).sum())
            summary.append((label, result.accuracy, result.count, no_digit, seconds))
            print(f"\n== {label}: {result.accuracy:.2%} of {result.count} "
                  f"({no_digit} read as no digit; {seconds:.1f} s)")
            print(format_confusion(result.confusion))
            print(format_calibration(predictions, confidences, labels))

    mnist_images = sets[0][1]
    print("\nchain time for one 280x280 image, single process:")
    for style in STYLES:
        print(f"  {style}: {time_one_image(chain, render(mnist_images[0], style)):.2f} ms")

    print("\nsummary")
    for label, accuracy, count, no_digit, seconds in summary:
        print(f"  {label:<24} {accuracy:7.2%}  n={count:<6} no digit={no_digit:<4} "
              f"{seconds:6.1f} s")
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
