"""Labelled images an operator brings to train on or to evaluate with.

Two forms are read: a folder with one sub-folder per digit (``3/anything.png``),
and an ``.npz`` file with an ``images`` array (n, height, width; ink high, like
the files in ../shared/data) and a ``labels`` array of digits.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.imaging.decode import ACCEPTED_FORMATS

# The file names of the accepted formats, as Pillow knows them (.png, .jpg, .jpeg...).
IMAGE_SUFFIXES = frozenset(suffix for suffix, name in Image.registered_extensions().items()
                           if name in ACCEPTED_FORMATS)


class DatasetError(Exception):
    """The path holds no labelled images in a form we read; the message says why."""


@dataclass
class LabelledImages:
    """Images (bytes of image files, or 2-D ink arrays) with their digits."""

    name: str
    images: list
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)


def load_labelled_images(path):
    """The LabelledImages at ``path``: a folder of digit sub-folders or an .npz."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    if path.suffix == ".npz" and path.is_file():
        return _load_npz(path)
    raise DatasetError(f"{path}: expected a folder of <digit>/*.png or an .npz file")


def _load_folder(folder):
    images, labels = [], []
    for digit in range(10):
        for file in sorted((folder / str(digit)).glob("*")):
            if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
                images.append(file.read_bytes())
                labels.append(digit)
    if not images:
        raise DatasetError(f"{folder}: no images in sub-folders 0 to 9")
    return LabelledImages(folder.name, images, np.array(labels, dtype=np.int64))


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(
            f"{path} is not an .npz with 'images' and 'labels' arrays ({error})") from None
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"{path}: 'images' must be (n, height, width), with n labels")
    labels = labels.astype(np.int64)
    if len(labels) == 0 or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"{path}: labels must be digits 0 to 9")
    return LabelledImages(path.name, list(images), labels)
