"""Operator commands, on Flask's click CLI: ``python manage.py COMMAND`` or
``flask --app app COMMAND``."""

from pathlib import Path

import click
import numpy as np
from flask import current_app
from flask.cli import with_appcontext
from sklearn.model_selection import cross_val_predict

from app import classifier as knn
from app.errors import DigitReaderError
from app.service import bundled_training_set


def recognizer():
    return current_app.extensions["recognizer"]


@click.command("runserver")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--debug", is_flag=True, help="Reload on changes and show the Werkzeug debugger.")
@with_appcontext
def runserver(host, port, debug):
    """Run the development server."""
    current_app.run(host=host, port=port, debug=debug, use_reloader=debug)


@click.command("train")
@click.option("--neighbors", "-k", type=click.IntRange(1, 50), default=None,
              help="k of the classifier (default: chosen by cross-validation).")
@with_appcontext
def train(neighbors):
    """Train a new model on the bundled digits and serve it."""
    try:
        model = recognizer().retrain(n_neighbors=neighbors)
    except OSError as error:
        raise click.ClickException(f"could not save the model: {error}") from None
    meta = model.metadata
    click.echo(f"Trained on {sum(meta['samples'].values())} samples "
               f"({_samples(meta['samples'])}): k={meta['n_neighbors']}, "
               f"weights={meta['weights']}")
    click.echo(f"Cross-validated accuracy: {meta['accuracy']:.2%}")
    click.echo(f"Model version: {model.version}")


@click.command("evaluate")
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An .npz of labelled images (arrays 'images' and 'labels') to read "
                   "through the whole image chain.")
@click.option("--folds", type=click.IntRange(2, 50), default=None,
              help="Cross-validation folds on the bundled digits.")
@with_appcontext
def evaluate(data_path, folds):
    """Accuracy and per-digit recall: cross-validated on the bundled digits, or
    of the current model on a labelled image set."""
    service = recognizer()
    model = service.current_model()
    if data_path is None:
        training = bundled_training_set()
        folds = folds or current_app.config["CV_FOLDS"]
        predicted = cross_val_predict(
            knn.build_classifier(model.metadata["n_neighbors"], model.metadata["weights"]),
            training.features, training.labels, cv=knn.folds(training.labels, folds))
        title = f"{folds}-fold cross-validation on {len(training.labels)} bundled digits"
        result = knn.evaluate_predictions(training.labels, predicted)
    else:
        images, labels = _load_labelled_images(data_path)
        features = service.chain.transform(list(images))
        predicted = model.classifier.predict(features)
        title = f"model {model.version} on {len(labels)} images of {data_path.name}"
        result = knn.evaluate_predictions(labels, predicted)
    click.echo(f"{title}\nAccuracy: {result.accuracy:.2%}")
    click.echo("Recall by digit:")
    for digit, recall in enumerate(result.recall):
        click.echo(f"  {digit}: {recall:.2%}")


def _load_labelled_images(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, ValueError, KeyError) as error:
        raise click.ClickException(
            f"{path} is not an .npz with 'images' and 'labels' arrays ({error})") from None
    if images.ndim != 3 or len(images) != len(labels):
        raise click.ClickException(f"{path}: 'images' must be (n, height, width) with n labels")
    return images, labels.astype(int)


@click.command("predict")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def predict(files):
    """Read the digit in each image FILE: one line each, name, digit, confidence."""
    service = recognizer()
    failures = 0
    for path in files:
        try:
            prediction = service.predict(path.read_bytes())
        except (OSError, DigitReaderError) as error:
            failures += 1
            click.echo(f"{path}: error: {getattr(error, 'message', None) or error}", err=True)
            continue
        click.echo(f"{path}\t{prediction.digit}\t{prediction.confidence:.2f}")
    if failures:
        raise SystemExit(1)


def _samples(samples):
    return ", ".join(f"{source} {count}" for source, count in samples.items() if count)


def register_commands(app):
    for command in (runserver, train, evaluate, predict):
        app.cli.add_command(command)
