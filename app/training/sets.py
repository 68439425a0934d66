"""Training sets: the bundled digits and their variants, and the labelled
images an operator brings, each read through the chain."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from app.errors import DigitReaderError
from app.imaging.chain import ImageChain
from app.recognition.bundled import bundled_digits
from app.training.augment import augment_digits


@dataclass(frozen=True)
class TrainingSet:
    """Features (n, 64) and labels (n,) to train on, with what cross-validation
    needs to know of each row."""

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray  # a sample and the variants made from it share a group
    scored: np.ndarray  # True for real samples, False for generated variants
    samples: dict  # count by source: bundled, augmented, imported


@lru_cache(maxsize=4)
def _augmented_bundled_digits(chain):
    features, labels = bundled_digits()
    augmented, augmented_labels, sources = augment_digits(
        features, labels, random_state=0, chain=chain, return_sources=True)
    return augmented, augmented_labels, sources, len(labels)


def bundled_training_set(chain):
    """scikit-learn's bundled digits, and variants of them as the chain gives
    them to drawings (see augment.py). Made once per process and chain."""
    features, labels, sources, originals = _augmented_bundled_digits(
        ImageChain(**{**chain.get_params(), "max_pixels": 1}))
    scored = np.arange(len(labels)) < originals
    return TrainingSet(features, labels, sources, scored, {
        "bundled": originals, "augmented": len(labels) - originals, "imported": 0})


def extend_training_set(training_set, images, labels, source, chain, progress=None):
    """The training set plus ``images`` read through the chain, counted under
    ``source``. An image the chain cannot read (blank, corrupt) is left out and
    counted in the second value returned."""
    features, kept, skipped = [], [], 0
    for image, label in zip(images, labels, strict=True):
        try:
            features.append(chain.to_feature_vector(image))
            kept.append(label)
        except DigitReaderError:
            skipped += 1
        if progress is not None:
            progress(1)
    if not kept:
        return training_set, skipped
    samples = {**training_set.samples,
               source: training_set.samples.get(source, 0) + len(kept)}
    first_group = int(training_set.groups.max()) + 1
    return TrainingSet(
        np.vstack([training_set.features, np.array(features)]),
        np.concatenate([training_set.labels, np.array(kept, dtype=np.int64)]),
        np.concatenate([training_set.groups, np.arange(first_group, first_group + len(kept))]),
        np.concatenate([training_set.scored, np.ones(len(kept), dtype=bool)]),
        samples), skipped


def plain_training_set():
    """The bundled digits alone, without their variants."""
    features, labels = bundled_digits()
    return TrainingSet(features, labels, np.arange(len(labels)), np.ones(len(labels), bool),
                       {"bundled": len(labels), "augmented": 0, "imported": 0})


def assemble_training_set(chain, datasets=(), progress=None, augment=True):
    """The bundled digits (with their variants, unless not ``augment``), plus
    ``datasets`` (LabelledImages an operator brought), each image read through
    ``chain``. Returns the TrainingSet and how many images were left out as
    unreadable. (The labels people give are learned beside the model, not in it.)"""
    training_set = bundled_training_set(chain) if augment else plain_training_set()
    skipped = 0
    for dataset in datasets:
        training_set, missed = extend_training_set(training_set, dataset.images,
                                                   dataset.labels, "imported", chain, progress)
        skipped += missed
    return training_set, skipped
