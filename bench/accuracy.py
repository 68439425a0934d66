"""How well the whole recognizer reads real handwriting: dataset digits rendered
the way clients send them, through the full image chain, into the service's
default model and into the model ``manage.py train --data`` makes with the
first 50,000 MNIST training digits, side by side.

    python -m bench.accuracy [--limit N] [--styles canvas,photo] [--jobs 2]
                             [--no-mnist-model] [--data-dir ../shared/data]

MNIST (training digits 50,000-59,999, which neither model has seen) and
Semeion are rendered as canvas drawings (RGBA PNG) and as photos in each style
of bench.renders (JPEG), and decoded from those bytes, as a request would be;
the original optdigits bitmaps go through the chain as arrays, as a sanity
check (the bundled digits were made from the same kind of bitmap, by other
writers).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from app.imaging.chain import ImageChain
from app.recognition.recognizer import ServingModel
from app.training.classifier import DIGITS, evaluate_predictions
from bench.models import (
    DEFAULT_CACHE_DIR,
    MNIST_TRAINING,
    default_model,
    mnist_model,
    read_all,
)
from bench.renders import DRAWN_AS, PHOTO_STYLES, STYLES, render

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT_STYLES = ("canvas", "thin-canvas", *PHOTO_STYLES)
MNIST_READ = (MNIST_TRAINING, 60_000)  # the MNIST digits read: none trained the 50k model
NO_DIGIT = -1  # the prediction recorded when the chain finds no digit

def load_sets(data_dir, limit, styles):
    """(name, images, labels, styles) for each dataset; styles (None,) means the
    arrays go through the chain as they are."""
    files = {name: data_dir / f"{name}.npz"
             for name in ("mnist-train", "semeion", "optdigits-orig-tra")}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        sys.exit(f"bench.accuracy: dataset files not found: {', '.join(missing)}\n"
                 f"Pass --data-dir pointing at the folder with the .npz files "
                 f"(default {DEFAULT_DATA_DIR}).")
    sets = []
    for name, path, first, styles_read in (
        ("MNIST", files["mnist-train"], MNIST_READ[0], styles),
        ("Semeion", files["semeion"], 0, styles),
        ("optdigits-orig", files["optdigits-orig-tra"], 0, (None,)),
    ):
        with np.load(path) as data:
            images, labels = data["images"][first:], data["labels"][first:].astype(np.int64)
        count = min(x for x in (limit, len(labels)) if x is not None)
        sets.append((name, images[:count], labels[:count], styles_read))
    return sets


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
    lines.append(sure_line(predictions, confidences, labels))
    return "\n".join(lines)


def sure_line(predictions, confidences, labels):
    """How many answers had confidence 0.9 or more, and how many of them were right."""
    sure = confidences >= 0.9
    if not sure.any():
        return "confidence >= 0.9: no answers"
    return (f"confidence >= 0.9: {sure.sum()} answers, "
            f"{(predictions[sure] == labels[sure]).mean():.1%} right")


def format_confusion(confusion):
    header = "true\\pred " + " ".join(f"{d:>5}" for d in DIGITS)
    rows = [f"{d:>9} " + " ".join(f"{n:>5}" for n in confusion[d]) for d in DIGITS]
    return "\n".join([header, *rows])


def time_one_image(chain, image, repeats=50):
    """Milliseconds for one rendered image through the chain, in this process."""
    chain.to_feature_vector(image)  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        chain.to_feature_vector(image)
    return (time.perf_counter() - start) * 1000 / repeats


def format_summary(rows, model_names):
    """The table of accuracies by dataset and style, each model's photo
    accuracies also as points above or below its accuracy on the same digits
    drawn on a canvas (DRAWN_AS: the ballpoint's thin strokes on theirs)."""
    drawn = {(name, style, model): accuracy for name, style, _, accuracies, _ in rows
             if style in DRAWN_AS.values() for model, accuracy in zip(model_names, accuracies,
                                                                      strict=True)}
    header = (f"{'dataset':<15} {'style':<10} {'n':>6}  "
              + "".join(f"{model:>10}" for model in model_names)
              + "".join(f"{'vs drawn':>11}" for _ in model_names)
              + f"  {'no digit':>8}  {'seconds':>7}")
    lines = [header, "-" * len(header)]
    for name, style, count, accuracies, (no_digit, seconds) in rows:
        against = "".join(
            f"{100 * (accuracy - drawn[name, DRAWN_AS[style], model]):+10.2f} "
            if (name, DRAWN_AS.get(style), model) in drawn else f"{'':>11}"
            for model, accuracy in zip(model_names, accuracies, strict=True))
        lines.append(f"{name:<15} {style:<10} {count:>6}  "
                     + "".join(f"{accuracy:>10.2%}" for accuracy in accuracies)
                     + against + f"  {no_digit:>8}  {seconds:>7.1f}")
    return "\n".join(lines)


def parse_styles(text):
    styles = tuple(style.strip() for style in text.split(",") if style.strip())
    unknown = [style for style in styles if style not in STYLES]
    if unknown or not styles:
        raise argparse.ArgumentTypeError(
            f"unknown style {', '.join(unknown) or '(none)'}: choose from {', '.join(STYLES)}")
    return styles


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--limit", type=int, default=None, help="at most N digits per dataset")
    parser.add_argument("--styles", type=parse_styles, default=DEFAULT_STYLES,
                        help=f"comma-separated, of {', '.join(STYLES)} "
                             f"(default: {','.join(DEFAULT_STYLES)})")
    parser.add_argument("--no-mnist-model", action="store_true",
                        help="read with the default model only")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                        help="where the 50k MNIST digits' features are kept (default %(default)s)")
    parser.add_argument("--neighbors", type=int, default=None,
                        help="k (default: the service's; 0: search k and weighting by "
                             "cross-validation on the training set)")
    parser.add_argument("--no-augment", action="store_true",
                        help="train without the bundled digits' chain-normalised variants, "
                             "as 'manage.py train --no-augment'")
    parser.add_argument("--details", action="store_true",
                        help="print each model's confusion matrix and calibration per style")
    parser.add_argument("--no-photo-steps", action="store_true",
                        help="read photos as drawings are read, without evening the light, "
                             "taking lines away or keeping the largest ink (as before them)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    data_dir = args.data_dir.resolve()
    sets = load_sets(data_dir, args.limit, args.styles)
    chain = ImageChain(photos=not args.no_photo_steps)
    options = {"n_neighbors": args.neighbors or None, "search": args.neighbors == 0,
               "augment": not args.no_augment}

    models = {"default": default_model(chain, **options)}
    if not args.no_mnist_model:
        models["50k-MNIST"] = mnist_model(chain, data_dir / "mnist-train.npz", args.jobs,
                                          args.cache_dir, **options)
    for name, trained in models.items():
        meta = trained.metadata
        print(f"model {name}: k={meta['n_neighbors']} weights={meta['weights']} "
              f"samples={meta['samples']}; 10-fold cross-validation {meta['accuracy']:.2%}")
    servings = {name: ServingModel(trained.snapshot()) for name, trained in models.items()}
    print(f"models ready in {time.perf_counter() - started:.1f} s")

    rows = []
    for name, images, labels, styles in sets:
        for style in styles:
            begun = time.perf_counter()
            features = read_all(chain, images, style, args.jobs)
            seconds = time.perf_counter() - begun
            no_digit = int(np.isnan(features).any(axis=1).sum())
            accuracies, notes = [], []
            for model, serving in servings.items():
                predictions, confidences = predict(serving, features)
                result = evaluate_predictions(labels, predictions)
                accuracies.append(result.accuracy)
                notes.append(f"{model} {result.accuracy:.2%} "
                             f"({sure_line(predictions, confidences, labels)})")
                if args.details:
                    print(f"\n== {name} {style or 'bitmap'}, {model} model")
                    print(format_confusion(result.confusion))
                    print(format_calibration(predictions, confidences, labels))
            rows.append((name, style or "bitmap", len(labels), accuracies, (no_digit, seconds)))
            print(f"{name} {style or 'bitmap'}: " + "; ".join(notes)
                  + f"; {no_digit} read as no digit; {seconds:.1f} s", flush=True)

    mnist_image = sets[0][1][0]
    print("\nchain time for one image of each style, single process:")
    for style in args.styles:
        print(f"  {style}: {time_one_image(chain, render(mnist_image, style)):.2f} ms")

    print(f"\nsummary: accuracy; 'vs drawn': points above or below the same model on the "
          f"same digits drawn on a canvas (ballpoint: its thin strokes, thin-canvas); MNIST "
          f"digits {MNIST_READ[0]:,}+")
    print(format_summary(rows, list(servings)))
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
