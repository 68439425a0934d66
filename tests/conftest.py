import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw
from redis import Redis
from redis.exceptions import RedisError
from sklearn.datasets import load_digits
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app import create_app
from app.imaging.chain import ImageChain
from app.recognition.store import ClassifierRepository
from app.training.model import train_model
from app.training.sets import bundled_training_set
from settings import default_database_url

MODEL_FILENAME = "model.skops"


@pytest.fixture(scope="session")
def trained_model_file(tmp_path_factory):
    """One model trained on the bundled digits for the whole run; each test's
    storage gets a copy, so that no test waits for training."""
    path = tmp_path_factory.mktemp("model") / MODEL_FILENAME
    chain = ImageChain()
    ClassifierRepository(path).save(train_model(bundled_training_set(chain), chain))
    return path


@pytest.fixture(scope="session")
def training():
    """The bundled digits and their variants through the chain: the training
    set the tests of training and of the vote fit their classifiers on."""
    return bundled_training_set(ImageChain())


def install_model(model_file, directory):
    """Copy a saved model into ``directory``: its skops file and the serving
    snapshot beside it."""
    for source in (model_file, ClassifierRepository(model_file).snapshot_path):
        shutil.copy(source, directory)


@pytest.fixture
def storage_dir(tmp_path, trained_model_file):
    directory = tmp_path / "storage"
    directory.mkdir()
    install_model(trained_model_file, directory)
    return directory


@pytest.fixture
def database_url(storage_dir):
    """SQLite in the test's storage; the tests of history/ and
    scale_out/test_workers.py run on PostgreSQL too (any_database_url)."""
    return default_database_url(storage_dir)


@pytest.fixture
def app(storage_dir, database_url):
    app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                      "CV_FOLDS": 3, "DATABASE_URL": database_url,
                      "RATELIMIT_ENABLED": False})
    yield app
    stop(app)


def stop(app):
    """Stop what an application started: its label follower, its prediction
    writer, its database; nothing of it is left reading or writing tables that
    the next test drops."""
    if app.extensions["follower"] is not None:
        app.extensions["follower"].stop()
    app.extensions["history"].close()
    app.extensions["database"].dispose()


def missing_service(reason):
    """Skip a test whose outside service is missing, saying which, as on a
    newcomer's machine; in CI (REQUIRE_TEST_SERVICES=1) that is a failure."""
    if os.environ.get("REQUIRE_TEST_SERVICES") == "1":
        pytest.fail(f"{reason} (REQUIRE_TEST_SERVICES=1)")
    pytest.skip(reason)


def postgres_test_url():
    """TEST_DATABASE_URL, emptied of this suite's tables; skips the test with the
    reason when it is not set or the server does not answer."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        missing_service("TEST_DATABASE_URL is not set (CI sets it to the machine's PostgreSQL)")
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS predictions, label_revision, "
                                    "alembic_version CASCADE"))
    except OperationalError as error:
        missing_service(f"PostgreSQL at TEST_DATABASE_URL is not reachable: {error.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def redis_url():
    """TEST_REDIS_URL, its database emptied before and after the test; skips the
    test with the reason when it is not set or Redis does not answer."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        missing_service("TEST_REDIS_URL is not set (CI sets it to the machine's Redis)")
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    except RedisError as error:
        missing_service(f"Redis at TEST_REDIS_URL is not reachable: {error}")
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database_url(request, storage_dir):
    if request.param == "sqlite":
        return default_database_url(storage_dir)
    return postgres_test_url()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- images ---------------------------------------------------------------------


def encode(image, fmt="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def canvas_drawing(strokes, size=280, width=22):
    """A drawing as a browser canvas sends it: black ink in the alpha channel of a
    transparent RGBA image. ``strokes`` are lists of (x, y) in 0-1 units."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(x * size, y * size) for x, y in stroke]
        pen.line(points, fill=(0, 0, 0, 255), width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2),
                        fill=(0, 0, 0, 255))
    return image


ONE = [[(0.5, 0.15), (0.5, 0.85)]]
SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]]


def circle(cx=0.5, cy=0.5, rx=0.22, ry=0.33, steps=48):
    return [[(cx + rx * np.cos(t), cy + ry * np.sin(t))
             for t in np.linspace(0, 2 * np.pi, steps)]]


ZERO = circle()

# A "1", a "0" and another "1", side by side with uneven gaps and baselines.
NUMBER_101 = [
    [(0.12, 0.25), (0.12, 0.65)],
    *circle(cx=0.36, cy=0.5, rx=0.09, ry=0.2),
    [(0.72, 0.32), (0.72, 0.75)],
]


def number_png():
    """NUMBER_101 written on a canvas twice as wide as it is high, as a PNG."""
    return encode(canvas_drawing(NUMBER_101, size=560, width=26).resize((560, 280)))


def on_paper(image):
    """The same drawing as a dark-on-light opaque photo."""
    paper = Image.new("RGBA", image.size, (240, 236, 226, 255))
    return Image.alpha_composite(paper, image).convert("RGB")


@pytest.fixture(scope="session")
def bundled_digit_images():
    """The bundled 8x8 digits blown up to 200x200 canvas drawings: real
    handwriting, each with its known label."""
    digits = load_digits()
    rng = np.random.default_rng(0)
    picks = rng.choice(len(digits.target), 60, replace=False)
    images = []
    for index in picks:
        ink = (digits.images[index] / 16.0 * 255).astype(np.uint8)
        alpha = Image.fromarray(ink, "L").resize((200, 200), Image.Resampling.BILINEAR)
        drawing = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
        drawing.putalpha(alpha)
        images.append((drawing, int(digits.target[index])))
    return images
