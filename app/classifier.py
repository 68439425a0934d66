"""The recognizer: a k-nearest-neighbours classifier over the 64 features of
scikit-learn's digits set, with k and the weighting chosen by cross-validation.

The classifier pipeline reads features; ``make_reader`` puts the image chain in
front of it, so that evaluation on images and serving run the very same steps.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix, recall_score
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_predict,
    cross_val_score,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from app.imaging import ImageChain

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


def load_bundled_digits():
    """scikit-learn's bundled 8x8 digits: features (n, 64) in 0-16 and labels."""
    digits = load_digits()
    return digits.data.astype(np.float64), digits.target.astype(np.int64)


def build_classifier(n_neighbors=3, weights="distance"):
    # Brute force is as fast as a tree on a few thousand samples, and a fitted
    # brute-force model holds only arrays: skops loads it with no untrusted types.
    return Pipeline(
        [("knn", KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights, algorithm="brute"))]
    )


def folds(y, n_folds):
    smallest_class = int(np.bincount(y).min()) if len(y) else 0
    return StratifiedKFold(n_splits=max(2, min(n_folds, smallest_class)), shuffle=True,
                           random_state=0)


def choose_hyperparameters(X, y, n_folds=10, n_neighbors=None):
    """k and weighting with the best cross-validated accuracy, and that accuracy.

    With ``n_neighbors`` given only the weighting is searched.
    """
    grid = {
        "knn__n_neighbors": [n_neighbors] if n_neighbors else list(NEIGHBOR_CHOICES),
        "knn__weights": list(WEIGHT_CHOICES),
    }
    search = GridSearchCV(build_classifier(), grid, cv=folds(y, n_folds), scoring="accuracy")
    search.fit(X, y)
    best = search.best_params_
    return best["knn__n_neighbors"], best["knn__weights"], float(search.best_score_)


def train(X, y, samples, n_neighbors=None, n_folds=10):
    """Fit a classifier on features ``X`` and labels ``y``."""
    k, weights, accuracy = choose_hyperparameters(X, y, n_folds, n_neighbors)
    predicted = cross_val_predict(build_classifier(k, weights), X, y, cv=folds(y, n_folds))
    classifier = build_classifier(k, weights).fit(X, y)
    return TrainingResult(classifier, accuracy, k, weights, dict(samples),
                          evaluate_predictions(y, predicted))


def cross_validated_accuracy(classifier, X, y, n_folds=10):
    return float(cross_val_score(classifier, X, y, cv=folds(y, n_folds)).mean())


def make_reader(classifier, chain=None):
    """The whole recognizer, from images to digits: the image chain, then the classifier."""
    return Pipeline([("chain", chain or ImageChain()), ("classifier", classifier)])


@dataclass
class Evaluation:
    accuracy: float
    recall: list  # per digit 0-9
    confusion: np.ndarray  # rows: true digit, columns: predicted digit
    count: int


def evaluate_predictions(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return Evaluation(
        accuracy=float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        recall=[float(r) for r in recall_score(y_true, y_pred, labels=DIGITS, average=None,
                                               zero_division=0)],
        confusion=confusion_matrix(y_true, y_pred, labels=DIGITS),
        count=len(y_true),
    )
