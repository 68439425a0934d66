"""Operator commands, on Flask's click CLI: ``python manage.py COMMAND`` or
``flask --app app COMMAND``."""

from contextlib import nullcontext
from datetime import UTC
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from PIL import ImageDraw, ImageFont
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.serving import run_simple

from app.errors import DatabaseUnavailable, DigitReaderError
from app.extensions import (
    catch_up_with_labels,
    get_database,
    get_history,
    get_reader,
    get_recognizer,
)
from app.history.export import export_csv
from app.history.labels import ACCEPTABLE, REJECTABLE, REVERTIBLE, LabelSelection
from app.history.predictions import as_utc
from app.history.tables import LABEL_STATUSES, LEARNED, REJECTED, REVERTED
from app.imaging.decode import open_image
from app.imaging.ink import reduce_large
from app.reports import confusion_matrix_png


@click.command("runserver")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--debug", is_flag=True, help="Reload on changes and show the Werkzeug debugger.")
@with_appcontext
def runserver(host, port, debug):
    """Run the development server (for production, use gunicorn)."""
    # Flask's app.run() refuses to start inside its own CLI: serve the way its
    # 'run' command does.
    app = current_app._get_current_object()
    app.debug = debug
    run_simple(host, port, app, use_reloader=debug, use_debugger=debug, threaded=True)


@click.command("train")
@click.option("--neighbors", "-k", type=click.IntRange(1, 50), default=None,
              help="k of the classifier (default: chosen by cross-validation).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Add the chain-normalised, slightly rotated variants of the bundled digits.")
@click.option("--search", is_flag=True,
              help="Choose k and weighting by cross-validation on this training data "
                   "(default: the k and weighting chosen on held-out real handwriting).")
@click.option("--data", "data_paths", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Labelled images to add: a folder of <digit>/*.png|jpg, or an .npz with "
                   "'images' and 'labels' arrays. Repeatable.")
@with_appcontext
def train(neighbors, augment, search, data_paths):
    """Train a new model on the bundled digits (and more) and serve it. The
    labels people gave are not part of it: every worker keeps learning them
    beside whatever model it serves, so a new model keeps them all."""
    # scikit-learn: imported by the commands that train, never by a web worker
    from app.training.datasets import DatasetError, load_labelled_images
    from app.training.model import train_model
    from app.training.sets import assemble_training_set

    recognizer = get_recognizer()
    try:
        datasets = [load_labelled_images(path) for path in data_paths]
        count = sum(map(len, datasets))
        bar = click.progressbar(length=count, label="Reading images") if count else None
        with bar or nullcontext():
            training_set, skipped = assemble_training_set(
                recognizer.chain, datasets=datasets, progress=bar.update if bar else None,
                augment=augment)
    except DatasetError as error:
        raise click.ClickException(str(error)) from None
    if skipped:
        click.echo(f"Left out {skipped} images with no readable digit.")
    click.echo(f"Training on {len(training_set.labels)} samples "
               f"({_samples(training_set.samples)})...")
    model = train_model(training_set, recognizer.chain, neighbors or recognizer.n_neighbors,
                        recognizer.n_folds, search)
    try:
        recognizer.replace(model)
    except OSError as error:
        raise click.ClickException(f"could not save the model: {error}") from None
    meta = model.metadata
    click.echo(f"k={meta['n_neighbors']}, weights={meta['weights']}")
    click.echo(f"Cross-validated accuracy: {meta['accuracy']:.2%}")
    click.echo(f"Model version: {model.version}")


@click.command("evaluate")
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path),
              help="Labelled images to read through the whole image chain: a folder of "
                   "<digit>/*.png|jpg, or an .npz with 'images' and 'labels' arrays.")
@click.option("--folds", type=click.IntRange(2, 50), default=None,
              help="Cross-validation folds on the bundled digits.")
@click.option("--confusion", "confusion_path", type=click.Path(dir_okay=False, path_type=Path),
              default="confusion-matrix.png", show_default=True,
              help="Where to write the confusion matrix, as PNG.")
@with_appcontext
def evaluate(data_path, folds, confusion_path):
    """Accuracy, per-digit recall and a confusion matrix: cross-validated on the
    bundled digits, or of the current model on a labelled image set."""
    from app.training import classifier as knn
    from app.training.datasets import DatasetError, load_labelled_images
    from app.training.sets import bundled_training_set

    service = get_recognizer()
    model = service.wait_for_training()
    if data_path is None:
        training = bundled_training_set(service.chain)
        folds = folds or current_app.config["CV_FOLDS"]
        result, _, _ = knn.cross_validate(training.features, training.labels, training.groups,
                                       training.scored, model.metadata["n_neighbors"],
                                       model.metadata["weights"], folds)
        title = (f"{folds}-fold cross-validation on {training.samples['bundled']} bundled "
                 f"digits (trained with {training.samples['augmented']} variants)")
    else:
        try:
            dataset = load_labelled_images(data_path)
        except DatasetError as error:
            raise click.ClickException(str(error)) from None
        with click.progressbar(dataset.images, label="Reading images") as images:
            features = service.chain.transform(list(images))
        title = f"model {model.version} on {len(dataset)} images of {dataset.name}"
        predicted = [prediction.digit for prediction in service.predict_many(features)]
        result = knn.evaluate_predictions(dataset.labels, predicted)
    click.echo(f"{title}\nAccuracy: {result.accuracy:.2%}")
    click.echo("Recall by digit:")
    for digit, recall in enumerate(result.recall):
        click.echo(f"  {digit}: {recall:.2%}")
    try:
        confusion_path.write_bytes(confusion_matrix_png(result.confusion, title))
    except OSError as error:
        raise click.ClickException(f"could not write {confusion_path}: {error}") from None
    click.echo(f"Confusion matrix: {confusion_path}")


@click.command("predict")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def predict(files):
    """Read the digit in each image FILE: one line each, name, digit, confidence."""
    reader = get_reader()
    get_recognizer().wait_for_training()
    catch_up_with_labels()
    failures = 0
    for path in files:
        try:
            prediction = reader.read(path.read_bytes(), source="cli",
                                     filename=path.name).prediction
        except (OSError, DigitReaderError) as error:
            failures += 1
            click.echo(f"{path}: error: {getattr(error, 'message', None) or error}", err=True)
            continue
        click.echo(f"{path}\t{prediction.digit}\t{prediction.confidence:.2f}")
    if failures:
        raise SystemExit(1)


@click.command("export")
@click.option("--format", "export_format", type=click.Choice(["csv"]), default="csv",
              show_default=True)
@click.option("--output", "-o", type=click.File("w", encoding="utf-8", lazy=True), default="-",
              help="File to write (default: standard output).")
@with_appcontext
def export(export_format, output):
    """Write the history of predictions, oldest first."""
    try:
        count = export_csv(get_history(), output)
    except DatabaseUnavailable as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Exported {count} predictions.", err=True)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create the database schema, or bring it up to date."""
    _migrate("upgrade", "head")


@click.group("db")
def db():
    """Database migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision):
    """Migrate the schema up to REVISION (default: the newest)."""
    _migrate("upgrade", revision)


@db.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision):
    """Migrate the schema down to REVISION ('base' removes it)."""
    _migrate("downgrade", revision)


@db.command("current")
@with_appcontext
def db_current():
    """Show the schema's revision and the newest one."""
    database = get_database()
    try:
        current = database.current_revision()
    except SQLAlchemyError as error:
        raise click.ClickException(f"database error: {error}") from None
    click.echo(f"current: {current or 'base'}\nhead: {database.head_revision()}")


def _migrate(direction, revision):
    database = get_database()
    try:
        getattr(database, direction)(revision)
    except SQLAlchemyError as error:
        raise click.ClickException(f"database error: {error}") from None
    click.echo(f"Database at revision {database.current_revision() or 'base'}.")


@click.command("read")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--boxes", "boxes_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the picture read (a large one as reduced to be read), with "
                   "each digit's box and the digit read drawn on it, as PNG to this file.")
@with_appcontext
def read(file, boxes_path):
    """Read the whole number written in FILE: the number, then one line per digit
    with its confidence and box (x, y, width, height) in the picture read, then
    one per mark left out (a point, a comma, a minus sign) with its box."""
    get_recognizer().wait_for_training()
    catch_up_with_labels()
    try:
        data = file.read_bytes()
        reading = get_reader().read_number(data)
    except (OSError, DigitReaderError) as error:
        raise click.ClickException(f"{file}: {getattr(error, 'message', None) or error}") from None
    click.echo(reading.number)
    for digit in reading.digits:
        x, y, width, height = digit.box
        click.echo(f"  {digit.prediction.digit}\t{digit.prediction.confidence:.2f}\t"
                   f"{x},{y},{width},{height}")
    for mark in reading.marks:
        x, y, width, height = mark.box
        click.echo(f"  {mark.kind}\t\t{x},{y},{width},{height}")
    if boxes_path:
        try:
            # As the chain reads it: a wide greyscale picture is reduced only there.
            picture = reduce_large(open_image(data, current_app.config["MAX_IMAGE_PIXELS"]))
            draw_number_boxes(picture, reading).save(boxes_path, format="PNG")
        except (OSError, DigitReaderError) as error:
            message = getattr(error, "message", None) or error
            raise click.ClickException(f"could not write {boxes_path}: {message}") from None
        click.echo(f"Boxes: {boxes_path}", err=True)


BOX_COLOUR = (37, 99, 235)  # the pages' accent blue


def draw_number_boxes(picture, reading):
    """An RGB copy of ``picture`` (the one ``reading`` was read from, whose
    pixels its boxes are in) with each digit's box outlined and the digit read
    on a badge at its top left corner, as the upload page shows them."""
    image = picture.convert("RGB")
    draw = ImageDraw.Draw(image)
    longer = max(image.size)
    line = max(2, round(longer / 250))
    font = ImageFont.load_default(size=max(12, round(longer / 28)))
    radius = max(9, round(longer / 40))
    for digit in reading.digits:
        x, y, width, height = digit.box
        # Just outside the box, so that no ink in it is covered.
        draw.rectangle((x - line, y - line, x + width - 1 + line, y + height - 1 + line),
                       outline=BOX_COLOUR, width=line)
        # The badge stays inside the picture, even for a digit at its edge.
        cx = min(max(x, radius), image.width - radius)
        cy = min(max(y, radius), image.height - radius)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=BOX_COLOUR,
                     outline="white", width=max(1, line // 2))
        draw.text((cx, cy), str(digit.prediction.digit), fill="white", font=font, anchor="mm")
    return image


# -- labels -------------------------------------------------------------------

TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S.%f"]


def selection_options(command):
    """The options that say which labels a command means."""
    for option in reversed((
        click.option("--id", "ids", type=click.IntRange(1), multiple=True,
                     help="A labelled prediction's id. Repeatable."),
        click.option("--since", type=click.DateTime(TIME_FORMATS),
                     help="Labels given at or after this time (UTC)."),
        click.option("--until", type=click.DateTime(TIME_FORMATS),
                     help="Labels given before this time (UTC)."),
        click.option("--client", help="Labels from this client address."),
    )):
        command = option(command)
    return command


def _selection(ids, since, until, client, statuses=()):
    return LabelSelection(ids=tuple(ids), since=_utc(since), until=_utc(until), client=client,
                          statuses=tuple(statuses))


def _utc(moment):
    return moment.replace(tzinfo=UTC) if moment is not None else None


@click.group("labels")
def labels():
    """Review the labels people gave: list them, accept or reject those pending,
    revert those learned. Every worker follows within a second or two."""


@labels.command("list")
@selection_options
@click.option("--status", "statuses", multiple=True, type=click.Choice(LABEL_STATUSES),
              help="Only labels in this status (repeatable): learned ones changed the model.")
@click.option("--thumbnails", type=click.Path(file_okay=False, path_type=Path),
              help="Write each labelled input to this folder as <id>.png, and list its path.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
@with_appcontext
def labels_list(ids, since, until, client, statuses, thumbnails, limit):
    """List labels, oldest first: id, when, client, digit read, label, status."""
    selection = _selection(ids, since, until, client, statuses)
    try:
        rows = get_history().labels(selection, limit)
    except DatabaseUnavailable as error:
        raise click.ClickException(error.message) from None
    if thumbnails:
        try:
            thumbnails.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise click.ClickException(f"could not create {thumbnails}: {error}") from None
    heading = "id\tlabelled_at\tclient\tread\tlabel\tstatus"
    click.echo(heading + ("\tthumbnail" if thumbnails else ""))
    for row in rows:
        line = (f"{row.id}\t{as_utc(row.labelled_at):%Y-%m-%dT%H:%M:%S}\t{row.labelled_by or '-'}"
                f"\t{row.digit}\t{row.label}\t{row.label_status}")
        if thumbnails:
            path = thumbnails / f"{row.id}.png"
            try:
                path.write_bytes(row.image_png)
            except OSError as error:
                raise click.ClickException(f"could not write {path}: {error}") from None
            line += f"\t{path}"
        click.echo(line)
    click.echo(f"{len(rows)} label(s).", err=True)


def _change(ids, since, until, client, everything, from_statuses, to_status, verb):
    selection = _selection(ids, since, until, client)
    if selection.is_empty and not everything:
        raise click.UsageError("say which labels: --id, --since, --until, --client, or --all")
    try:
        count = get_history().change_labels(selection, from_statuses, to_status)
    except DatabaseUnavailable as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{count} label(s) {verb}.")


def change_command(name, from_statuses, to_status, verb, doc):
    """A command moving the labels selected from ``from_statuses`` to ``to_status``."""

    @labels.command(name, help=doc)
    @selection_options
    @click.option("--all", "everything", is_flag=True, help="Every label it applies to.")
    @with_appcontext
    def command(ids, since, until, client, everything):
        _change(ids, since, until, client, everything, from_statuses, to_status, verb)

    return command


change_command("accept", ACCEPTABLE, LEARNED, "accepted: the model learns from them",
               "Accept pending (or rejected) labels: the model learns from them.")
change_command("reject", REJECTABLE, REJECTED, "rejected",
               "Reject pending labels: the model never learns from them.")
change_command("revert", REVERTIBLE, REVERTED, "reverted: the model drops them",
               "Revert learned labels: every worker drops them, and answers as before them.")


def _samples(samples):
    return ", ".join(f"{source} {count}" for source, count in samples.items() if count)


def register_commands(app):
    for command in (runserver, train, evaluate, predict, read, export, labels, init_db, db):
        app.cli.add_command(command)
