"""The k-nearest-neighbours classifier over the chain's 64 features: fitted,
cross-validated with a digit and its variants in one fold, and evaluated."""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, recall_score
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from app.recognition.vote import (
    DEFAULT_NEIGHBORS,
    DEFAULT_WEIGHTS,
    out_of_fold_votes,
    typical_distance,
)
from app.training.calibration import fit_confidence

NEIGHBOR_CHOICES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12)
# Distance first: on a tie it wins, and under it a drawing a person corrected,
# drawn again, reads as its correction (at distance 0 it outweighs its neighbours).
WEIGHT_CHOICES = ("distance", "uniform")
DIGITS = tuple(range(10))


@dataclass
class TrainingResult:
    """A fitted classifier and what was learnt while fitting it."""

    classifier: Pipeline
    accuracy: float
    n_neighbors: int
    weights: str
    samples: dict  # training samples by source
    evaluation: "Evaluation"  # cross-validated, with recall and confusion per digit
    calibration: dict | None  # coefficients for app.recognition.confidence.calibrate
    typical_distance: float  # vote.typical_distance of the cross-validated votes


def build_classifier(n_neighbors=3, weights="distance"):
    # Brute force is as fast as a tree on a few thousand samples, and a fitted
    # brute-force model holds only arrays: skops loads it with no untrusted types.
    """An unfitted kNN pipeline."""
    return Pipeline(
        [("knn", KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights, algorithm="brute"))]
    )


def fold_assignment(y, n_folds, groups=None):
    """The fold of each sample for cross-validation, stratified by digit. With
    ``groups``, a sample and its variants (one group, one digit) always share a
    fold, so that no variant is scored against a copy of itself."""
    y = np.asarray(y)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    unique_groups, first_row, group_of_row = np.unique(groups, return_index=True,
                                                       return_inverse=True)
    group_labels = y[first_row]
    smallest_class = int(np.bincount(group_labels).min()) if len(y) else 0
    splitter = StratifiedKFold(n_splits=max(2, min(n_folds, smallest_class)), shuffle=True,
                               random_state=0)
    fold_of_group = np.empty(len(unique_groups), dtype=np.int64)
    for fold, (_, held_out) in enumerate(splitter.split(group_labels, group_labels)):
        fold_of_group[held_out] = fold
    return fold_of_group[group_of_row]


def fold_splits(fold_of):
    """(training rows, held-out rows) for each fold, as scikit-learn's ``cv`` takes."""
    return [(np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold))
            for fold in np.unique(fold_of)]


def choose_hyperparameters(X, y, groups=None, n_folds=10, n_neighbors=None):
    """k and weighting with the best cross-validated accuracy on this data.

    With ``n_neighbors`` given only the weighting is searched.
    """
    grid = {
        "knn__n_neighbors": [n_neighbors] if n_neighbors else list(NEIGHBOR_CHOICES),
        "knn__weights": list(WEIGHT_CHOICES),
    }
    search = GridSearchCV(build_classifier(), grid,
                          cv=fold_splits(fold_assignment(y, n_folds, groups)), scoring="accuracy")
    search.fit(X, y)
    best = search.best_params_
    return best["knn__n_neighbors"], best["knn__weights"]


def train(X, y, samples, groups=None, scored=None, n_neighbors=None, weights=None,
          n_folds=10, search=False):
    """Fit a classifier on features ``X`` and labels ``y``, and cross-validate it.

    k and weighting are the defaults chosen on held-out handwriting unless given,
    or searched on this data with ``search``. ``groups`` keep each sample's
    variants in its fold; the reported accuracy, recall and confusion count only
    the ``scored`` rows (the samples themselves, not their generated variants).
    """
    if search:
        n_neighbors, weights = choose_hyperparameters(X, y, groups, n_folds, n_neighbors)
    k, weights = n_neighbors or DEFAULT_NEIGHBORS, weights or DEFAULT_WEIGHTS
    evaluation, calibration, typical = cross_validate(X, y, groups, scored, k, weights, n_folds)
    classifier = build_classifier(k, weights).fit(X, y)
    return TrainingResult(classifier, evaluation.accuracy, k, weights, dict(samples), evaluation,
                          calibration, typical)


def cross_validate(X, y, groups=None, scored=None, n_neighbors=DEFAULT_NEIGHBORS,
                   weights=DEFAULT_WEIGHTS, n_folds=10):
    """Accuracy, recall and confusion of the classifier trained on the other
    folds, counting only the ``scored`` rows; the confidence calibration
    fitted on those out-of-fold votes (all rows); and how far the ``scored``
    rows lie from their nearest sample of the other folds
    (``typical_distance``)."""
    y = np.asarray(y)
    fold_of = fold_assignment(y, n_folds, groups)
    classes, probabilities, nearest = out_of_fold_votes(X, y, fold_of, n_neighbors, weights)
    predicted = classes[probabilities.argmax(axis=1)]
    scored = np.ones(len(y), dtype=bool) if scored is None else np.asarray(scored)
    calibration = fit_confidence(probabilities, nearest, predicted == y)
    return (evaluate_predictions(y[scored], predicted[scored]), calibration,
            typical_distance(nearest[scored]))


@dataclass
class Evaluation:
    """How well predictions matched the truth, overall and per digit."""

    accuracy: float
    recall: list  # per digit 0-9
    confusion: np.ndarray  # rows: true digit, columns: predicted digit
    count: int


def evaluate_predictions(y_true, y_pred):
    """The Evaluation of ``y_pred`` against ``y_true`` (digits, both (n,))."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return Evaluation(
        accuracy=float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        recall=[float(r) for r in recall_score(y_true, y_pred, labels=DIGITS, average=None,
                                               zero_division=0)],
        confusion=confusion_matrix(y_true, y_pred, labels=DIGITS),
        count=len(y_true),
    )
