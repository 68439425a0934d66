"""The management commands, through Flask's CLI runner."""

import io
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from app.cli import BOX_COLOUR
from app.recognition.store import ClassifierRepository
from conftest import NUMBER_101, ONE, SEVEN, canvas_drawing, encode, number_png, on_paper
from serving import ROOT, free_port


def test_train_prints_accuracy_and_the_new_version_and_serves_it(app, runner, client):
    before = client.get("/api/model").get_json()["version"]
    result = runner.invoke(args=["train", "--neighbors", "4"])
    assert result.exit_code == 0, result.output
    stored = ClassifierRepository(app.config["STORAGE_DIR"] / "model.skops").load()
    assert stored.version != before and stored.metadata["n_neighbors"] == 4
    assert f"Model version: {stored.version}" in result.output
    assert "Cross-validated accuracy: 9" in result.output
    assert client.get("/api/model").get_json()["version"] == stored.version


def test_train_without_augmentation_uses_the_bundled_digits_alone(runner, client):
    result = runner.invoke(args=["train", "--no-augment"])
    assert result.exit_code == 0, result.output
    assert "Training on 1797 samples (bundled 1797)" in result.output
    assert client.get("/api/model").get_json()["samples"]["augmented"] == 0


def test_train_rejects_a_nonsense_k(runner):
    result = runner.invoke(args=["train", "--neighbors", "0"])
    assert result.exit_code != 0 and "Invalid value" in result.output


def test_train_on_a_read_only_storage_fails_clearly_and_keeps_the_old_model(app, runner,
                                                                              monkeypatch):
    path = app.config["STORAGE_DIR"] / "model.skops"
    before = path.read_bytes()

    def refuse(self, model, payload=None):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ClassifierRepository, "save", refuse)
    result = runner.invoke(args=["train"])
    assert result.exit_code == 1
    assert "could not save the model" in result.output
    assert path.read_bytes() == before


def test_evaluate_prints_cross_validated_accuracy_and_recall_per_digit(runner, tmp_path):
    result = runner.invoke(args=["evaluate", "--folds", "5",
                                 "--confusion", str(tmp_path / "matrix.png")])
    assert result.exit_code == 0, result.output
    assert "5-fold cross-validation on 1797 bundled digits" in result.output
    accuracy = float(result.output.split("Accuracy: ")[1].split("%")[0])
    assert accuracy >= 97.0
    for digit in range(10):
        assert f"  {digit}: " in result.output


@pytest.fixture
def labelled_npz(tmp_path):
    """Real handwriting as an .npz of ink-high images, like ../shared/data."""
    digits = load_digits()
    images = np.kron(digits.images[:200], np.ones((4, 4))) / 16 * 255
    path = tmp_path / "digits.npz"
    np.savez(path, images=images.astype(np.uint8), labels=digits.target[:200])
    return path


def test_evaluate_reads_a_labelled_image_set_through_the_chain(runner, labelled_npz, tmp_path):
    picture = tmp_path / "matrix.png"
    result = runner.invoke(args=["evaluate", "--data", str(labelled_npz),
                                 "--confusion", str(picture)])
    assert result.exit_code == 0, result.output
    assert "on 200 images of digits.npz" in result.output
    accuracy = float(result.output.split("Accuracy: ")[1].split("%")[0])
    assert accuracy >= 90.0
    assert Image.open(picture).format == "PNG"
    assert f"Confusion matrix: {picture}" in result.output


@pytest.fixture
def labelled_folder(tmp_path):
    """A folder of <digit>/*.png drawings, as an operator would bring."""
    folder = tmp_path / "mine"
    for digit, strokes in ((1, ONE), (7, SEVEN)):
        (folder / str(digit)).mkdir(parents=True)
        for n, width in enumerate((14, 22, 30)):
            (folder / str(digit) / f"{n}.png").write_bytes(encode(canvas_drawing(strokes,
                                                                                 width=width)))
    (folder / "7" / "notes.txt").write_text("not an image")
    return folder


def test_train_adds_labelled_folders_and_npz_files_and_counts_them(app, runner, client,
                                                                     labelled_folder,
                                                                     labelled_npz):
    result = runner.invoke(args=["train", "--data", str(labelled_folder),
                                 "--data", str(labelled_npz)])
    assert result.exit_code == 0, result.output
    assert "(bundled 1797, augmented 5391, imported 206)" in result.output
    model = client.get("/api/model").get_json()
    assert model["samples"] == {"bundled": 1797, "augmented": 5391,
                                "imported": 206}
    assert model["training_samples"] == 1797 + 5391 + 206


def test_train_refuses_a_path_that_holds_no_labelled_images(runner, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(args=["train", "--data", str(tmp_path / "empty")])
    assert result.exit_code != 0 and "no images in sub-folders 0 to 9" in result.output


def test_evaluate_refuses_a_file_that_is_not_a_labelled_set(runner, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, pictures=np.zeros((2, 8, 8)))
    result = runner.invoke(args=["evaluate", "--data", str(path)])
    assert result.exit_code != 0 and "'images' and 'labels'" in result.output


def test_predict_prints_one_line_per_file(runner, tmp_path):
    seven = tmp_path / "seven.png"
    seven.write_bytes(encode(canvas_drawing(SEVEN)))
    one = tmp_path / "one.jpg"
    one.write_bytes(encode(on_paper(canvas_drawing(ONE)), "JPEG"))
    result = runner.invoke(args=["predict", str(seven), str(one)])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.strip().splitlines()]
    assert [(name, digit) for name, digit, _ in lines] == [(str(seven), "7"), (str(one), "1")]
    assert all(0 < float(confidence) <= 1 for *_, confidence in lines)


def test_predict_reports_unreadable_files_and_exits_non_zero(runner, tmp_path):
    good = tmp_path / "seven.png"
    good.write_bytes(encode(canvas_drawing(SEVEN)))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"junk")
    result = runner.invoke(args=["predict", str(junk), str(tmp_path / "missing.png"), str(good)])
    assert result.exit_code == 1
    assert f"{junk}: error: The image could not be decoded" in result.output
    assert "missing.png: error:" in result.output
    assert f"{good}\t7\t" in result.output


def test_manage_py_read_prints_the_number_and_each_digit(runner, tmp_path):
    path = tmp_path / "number.png"
    path.write_bytes(number_png())
    result = runner.invoke(args=["read", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "101"
    assert [line.split("\t")[0].strip() for line in lines[1:]] == ["1", "0", "1"]


def test_manage_py_read_names_a_minus_sign_and_leaves_it_out_of_the_number(runner, tmp_path):
    minus = [[(0.02, 0.45), (0.08, 0.45)]]  # flat, at mid-height, before the 101
    shifted = [[(x + 0.1, y) for x, y in stroke] for stroke in NUMBER_101]
    path = tmp_path / "number.png"
    path.write_bytes(encode(canvas_drawing(minus + shifted, size=560, width=26)
                            .resize((560, 280))))
    result = runner.invoke(args=["read", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "101"
    assert lines[-1].split("\t")[0].strip() == "minus"


def printed_boxes(output):
    """The box of each digit ``read`` printed: x, y, width, height."""
    return [tuple(int(v) for v in line.split("\t")[2].split(","))
            for line in output.splitlines()[1:] if line.startswith("  ")]


def test_manage_py_read_boxes_writes_the_picture_with_each_digit_boxed(runner, tmp_path):
    path, drawn = tmp_path / "number.png", tmp_path / "boxes.png"
    path.write_bytes(encode(on_paper(Image.open(io.BytesIO(number_png())))))
    result = runner.invoke(args=["read", str(path), "--boxes", str(drawn)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "101"
    boxes = printed_boxes(result.output)
    assert len(boxes) == 3
    picture = Image.open(drawn)
    assert picture.size == (560, 280) and picture.mode == "RGB"
    pixels = np.asarray(picture).astype(int)
    for x, y, width, height in boxes:
        # Each box outlined in blue just outside it, down both its sides...
        for column in (x - 1, x + width):
            side = pixels[y + height // 3:y + 2 * height // 3, column]
            assert (side == BOX_COLOUR).all(axis=1).all()
        # ...with a blue badge at its top left corner, the digit read in white on it.
        badge = pixels[max(0, y - 6):y + 6, max(0, x - 6):x + 6].reshape(-1, 3)
        assert (badge == BOX_COLOUR).all(axis=1).any()
        assert (badge > 240).all(axis=1).any()


def test_manage_py_read_boxes_a_large_photo_in_the_pixels_it_was_read_in(runner, tmp_path):
    path, drawn = tmp_path / "number.jpg", tmp_path / "boxes.png"
    photo = on_paper(Image.open(io.BytesIO(number_png())).resize((2592, 1296)))
    path.write_bytes(encode(photo, "JPEG"))
    result = runner.invoke(args=["read", str(path), "--boxes", str(drawn)])
    assert result.exit_code == 0, result.output
    picture = Image.open(drawn)
    assert picture.size == (648, 324)  # read reduced, as the boxes printed are
    for x, y, width, height in printed_boxes(result.output):
        assert x + width <= 648 and y + height <= 324


def test_manage_py_read_boxes_reports_a_file_it_cannot_write(runner, tmp_path):
    path = tmp_path / "number.png"
    path.write_bytes(number_png())
    result = runner.invoke(args=["read", str(path), "--boxes", str(tmp_path / "no" / "b.png")])
    assert result.exit_code == 1 and "could not write" in result.output


def test_manage_py_read_reports_an_unreadable_file(runner, tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"junk")
    result = runner.invoke(args=["read", str(path)])
    assert result.exit_code == 1 and "could not be decoded" in result.output


def test_manage_py_lists_the_commands():
    output = subprocess.run([sys.executable, "manage.py", "--help"], capture_output=True,
                            text=True, check=True, cwd=ROOT).stdout
    for command in ("runserver", "train", "evaluate", "predict", "read", "export", "init-db",
                    "db"):
        assert command in output


def test_runserver_serves_the_application(storage_dir):
    port = free_port()
    env = {**os.environ, "STORAGE_DIR": str(storage_dir), "SECRET_KEY": "test"}
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None, "runserver exited"
                assert time.monotonic() < deadline, "runserver did not answer"
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=10)
