"""k-nearest-neighbour votes in plain numpy, read from a fitted scikit-learn
kNN's own arrays.

On a training set of a few thousand 64-value samples one prediction is a
matrix product and a partial sort; scikit-learn's per-call checks cost several
times that. ``NeighbourVote`` gives scikit-learn's answers (the same neighbours,
ties going to the earlier training sample, and the same weighting) and also the
distance to the nearest sample, which the confidence calibration reads.
Cross-validation uses the same code over the whole training set at once.
"""

import numpy as np

CHUNK_ROWS = 1024  # distance rows computed at once when cross-validating


def squared_norms(X):
    return np.einsum("ij,ij->i", X, X)


def nearest(d2, k):
    """Indices of the ``k`` smallest values of each row of ``d2``, nearest first;
    equal distances go to the lower index, as in scikit-learn."""
    k = min(k, d2.shape[1])
    candidates = np.argpartition(d2, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(d2, candidates, axis=1).max(axis=1)
    # Where several samples tie at the k-th distance, partitioning chose among
    # them at random: choose the lowest indices instead.
    crowded = np.flatnonzero((d2 <= kth[:, None]).sum(axis=1) > k)
    for row in crowded:
        closer = np.flatnonzero(d2[row] < kth[row])
        tied = np.flatnonzero(d2[row] == kth[row])[: k - len(closer)]
        candidates[row] = np.concatenate([closer, tied])
    distances = np.take_along_axis(d2, candidates, axis=1)
    order = np.lexsort((candidates, distances), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


def vote(distances, labels, n_classes, weights):
    """Class probabilities from the neighbours' ``distances`` and class ``labels``
    (both (n, k)): equal votes, or votes of 1/distance where an exact match
    takes all the weight, as scikit-learn weighs them."""
    if weights == "distance":
        exact = distances == 0
        with np.errstate(divide="ignore"):
            strength = 1.0 / distances
        strength = np.where(exact.any(axis=1, keepdims=True), exact, strength)
    else:
        strength = np.ones_like(distances)
    probabilities = np.zeros((len(labels), n_classes))
    np.add.at(probabilities, (np.arange(len(labels))[:, None], labels), strength)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


class NeighbourVote:
    """Predicts with the arrays of a fitted ``KNeighborsClassifier``."""

    def __init__(self, knn):
        self.samples = np.ascontiguousarray(knn._fit_X, dtype=np.float64)
        self.sample_norms = squared_norms(self.samples)
        self.labels = np.asarray(knn._y)  # class indices into classes_
        self.classes = knn.classes_
        self.n_neighbors = knn.n_neighbors
        self.weights = knn.weights

    def neighbours(self, features):
        """Distances (n, k) and indices (n, k) of the nearest training samples."""
        features = np.asarray(features, dtype=np.float64).reshape(-1, self.samples.shape[1])
        d2 = squared_norms(features)[:, None] - 2.0 * features @ self.samples.T
        d2 += self.sample_norms[None, :]
        np.maximum(d2, 0.0, out=d2)
        indices = nearest(d2, self.n_neighbors)
        return np.sqrt(np.take_along_axis(d2, indices, axis=1)), indices

    def predict_proba(self, features):
        """Probabilities by class (n, n_classes) and the nearest distance (n,)."""
        distances, indices = self.neighbours(features)
        probabilities = vote(distances, self.labels[indices], len(self.classes), self.weights)
        return probabilities, distances[:, 0]


def out_of_fold_votes(X, y, fold_of, n_neighbors, weights):
    """For every sample, the vote of its neighbours among the samples of the
    other folds: cross-validated probabilities (n, n_classes) over the classes
    of ``y`` (sorted), and the distance to the nearest such sample."""
    X = np.asarray(X, dtype=np.float64)
    classes, labels = np.unique(y, return_inverse=True)
    norms = squared_norms(X)
    probabilities = np.empty((len(X), len(classes)))
    nearest_distance = np.empty(len(X))
    for start in range(0, len(X), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        d2 = norms[rows, None] - 2.0 * X[rows] @ X.T + norms[None, :]
        np.maximum(d2, 0.0, out=d2)
        d2[fold_of[rows, None] == fold_of[None, :]] = np.inf
        indices = nearest(d2, n_neighbors)
        distances = np.sqrt(np.take_along_axis(d2, indices, axis=1))
        probabilities[rows] = vote(distances, labels[indices], len(classes), weights)
        nearest_distance[rows] = distances[:, 0]
    return classes, probabilities, nearest_distance
