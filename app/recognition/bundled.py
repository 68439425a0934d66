"""scikit-learn's bundled 8x8 digits, read without scikit-learn, and the
provisional model a worker answers from while the full one trains."""

import gzip
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from app.recognition.store import ModelSnapshot, content_hash, describe_model
from app.recognition.vote import (
    DEFAULT_NEIGHBORS,
    DEFAULT_WEIGHTS,
    NeighbourVote,
    out_of_fold_votes,
    typical_distance,
)

PROVISIONAL_FOLDS = 3


def bundled_digits():
    """scikit-learn's bundled digits: features (n, 64) in 0-16, and labels (n,).

    Read from the file ``sklearn.datasets.load_digits`` reads, found without
    importing scikit-learn, which a serving process never loads.
    """
    package = Path(find_spec("sklearn").submodule_search_locations[0])
    with gzip.open(package / "datasets" / "data" / "digits.csv.gz", "rt") as file:
        data = np.loadtxt(file, delimiter=",")
    return data[:, :-1], data[:, -1].astype(np.int64)


def provisional_model(chain, n_neighbors=None):
    """A ModelSnapshot of the bundled digits alone, voted on in numpy as a
    fitted brute-force kNN votes, with a quick stratified cross-validation for
    its metadata. Its confidence is the vote share, not yet calibrated."""
    features, labels = bundled_digits()
    k, weights = n_neighbors or DEFAULT_NEIGHBORS, DEFAULT_WEIGHTS
    classes = np.arange(10)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for digit in classes:  # each digit's samples dealt out to the folds in turn
        rows = np.flatnonzero(labels == digit)
        fold_of[rows] = np.arange(len(rows)) % PROVISIONAL_FOLDS
    _, probabilities, nearest = out_of_fold_votes(features, labels, fold_of, k, weights)
    confusion = np.bincount(labels * 10 + probabilities.argmax(axis=1),
                            minlength=100).reshape(10, 10)
    vote = NeighbourVote(features, labels, classes, k, weights)
    metadata = describe_model(
        content_hash({"n_neighbors": k, "weights": weights}, (vote.samples, labels)),
        accuracy=np.trace(confusion) / len(labels),
        samples={"bundled": len(labels), "augmented": 0, "imported": 0},
        n_neighbors=k, weights=weights, recall=np.diag(confusion) / confusion.sum(axis=1),
        confusion=confusion, chain=chain.signature(), calibration=None,
        typical_distance=typical_distance(nearest))
    return ModelSnapshot(vote, {**metadata, "provisional": True})
