"""k-nearest-neighbour votes in numpy, from a fitted scikit-learn kNN's own
arrays: scikit-learn's answers without its per-call overhead, and the distance
to the nearest sample that the confidence reads."""

import numpy as np

# Chosen on real handwriting held out for the purpose (MNIST training digits
# 50000-51999 and Semeion, drawn as a canvas and a photo; see bench/accuracy.py),
# never on the figures we report: k=5 with distance weighting read them best.
DEFAULT_NEIGHBORS = 5
DEFAULT_WEIGHTS = "distance"
CHUNK_ROWS = 1024  # distance rows computed at once
# Distances are computed in single precision: the features are whole counts
# 0-16, so every product and sum stays a whole number below 2**24 and is exact,
# and single precision moves half the memory.
DTYPE = np.float32


def squared_norms(X):
    """The squared length of each row of ``X`` (n, d): shape (n,)."""
    return np.einsum("ij,ij->i", X, X)


def squared_distances(queries, samples, sample_norms):
    """Squared distances (n, m) from ``queries`` (n, d) to ``samples`` (m, d),
    whose squared norms (m,) are given."""
    d2 = queries @ samples.T  # in place from here: one pass over (n, m) a step
    d2 *= -2.0
    d2 += sample_norms[None, :]
    d2 += squared_norms(queries)[:, None]
    return np.maximum(d2, 0.0, out=d2)


def nearest(d2, k):
    """Indices of the ``k`` smallest values of each row of ``d2``, nearest first.

    Where several samples tie at the k-th distance any of them is a right
    choice (scikit-learn's own pick depends on how it chunks the work); the
    partition's pick is kept, which is the same for the same input.
    """
    k = min(k, d2.shape[1])
    candidates = np.argpartition(d2, k - 1, axis=1)[:, :k]
    distances = np.take_along_axis(d2, candidates, axis=1)
    order = np.lexsort((candidates, distances), axis=1)
    return np.take_along_axis(candidates, order, axis=1)


def vote(distances, labels, n_classes, weights, sample_weights=None):
    """Class probabilities from the neighbours' ``distances`` and class ``labels``
    (both (n, k)): equal votes, or votes of 1/distance where an exact match
    takes all the weight, as scikit-learn weighs them; each vote times its
    sample's weight, when ``sample_weights`` (n, k) are given."""
    if weights == "distance":
        exact = distances == 0
        with np.errstate(divide="ignore"):
            strength = 1.0 / distances
        strength = np.where(exact.any(axis=1, keepdims=True), exact, strength)
    else:
        strength = np.ones_like(distances)
    if sample_weights is not None:
        strength = strength * sample_weights
    # One bincount over (row, class) pairs: np.add.at costs several times more.
    rows = len(labels)
    cells = (np.arange(rows)[:, None] * n_classes + labels).ravel()
    probabilities = np.bincount(cells, weights=strength.ravel(),
                                minlength=rows * n_classes).reshape(rows, n_classes)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


class NeighbourVote:
    """Predicts with the arrays a fitted brute-force ``KNeighborsClassifier``
    holds: its samples, their class indices and the classes; and, where some
    samples count for more than one (the labels people gave), their weights."""

    def __init__(self, samples, labels, classes, n_neighbors, weights, sample_weights=None):
        self.samples = np.ascontiguousarray(samples, dtype=DTYPE)
        self.sample_norms = squared_norms(self.samples)
        self.labels = np.asarray(labels)  # class indices into classes
        self.classes = np.asarray(classes)
        self.n_neighbors = int(n_neighbors)
        self.weights = str(weights)
        self.sample_weights = (None if sample_weights is None
                               else np.asarray(sample_weights, dtype=np.float64))

    @classmethod
    def from_estimator(cls, knn):
        """The vote of a fitted ``KNeighborsClassifier``."""
        return cls(knn._fit_X, knn._y, knn.classes_, knn.n_neighbors, knn.weights)

    def neighbours(self, features, k=None):
        """Distances (n, k) and indices (n, k) of the nearest training samples;
        ``k`` of them, the vote's own number unless told."""
        k = self.n_neighbors if k is None else int(k)
        features = np.asarray(features, dtype=DTYPE).reshape(-1, self.samples.shape[1])
        if len(features) == 0:
            return np.empty((0, k)), np.empty((0, k), dtype=int)
        distances, indices = [], []
        for start in range(0, len(features), CHUNK_ROWS):
            d2 = squared_distances(features[start:start + CHUNK_ROWS], self.samples,
                                   self.sample_norms)
            chunk_indices = nearest(d2, k)
            distances.append(np.take_along_axis(d2, chunk_indices, axis=1))
            indices.append(chunk_indices)
        if len(indices) == 1:  # a request's rows: no copies
            return np.sqrt(distances[0], dtype=np.float64), indices[0]
        return np.sqrt(np.vstack(distances), dtype=np.float64), np.vstack(indices)

    def predict_proba(self, features):
        """Probabilities by class (n, n_classes) and the nearest distance (n,)."""
        distances, indices = self.neighbours(features)
        return self.vote(distances, indices), distances[:, 0]

    def vote(self, distances, indices):
        """Class probabilities (n, n_classes) from the neighbours found."""
        sample_weights = None if self.sample_weights is None else self.sample_weights[indices]
        return vote(distances, self.labels[indices], len(self.classes), self.weights,
                    sample_weights)


def out_of_fold_votes(X, y, fold_of, n_neighbors, weights):
    """For every sample, the vote of its neighbours among the samples of the
    other folds: cross-validated probabilities (n, n_classes) over the classes
    of ``y`` (sorted), and the distance to the nearest such sample."""
    X = np.ascontiguousarray(X, dtype=DTYPE)
    classes, labels = np.unique(y, return_inverse=True)
    norms = squared_norms(X)
    probabilities = np.empty((len(X), len(classes)))
    nearest_distance = np.empty(len(X))
    for start in range(0, len(X), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        d2 = squared_distances(X[rows], X, norms)
        d2[fold_of[rows, None] == fold_of[None, :]] = np.inf
        indices = nearest(d2, n_neighbors)
        distances = np.sqrt(np.take_along_axis(d2, indices, axis=1).astype(np.float64))
        probabilities[rows] = vote(distances, labels[indices], len(classes), weights)
        nearest_distance[rows] = distances[:, 0]
    return classes, probabilities, nearest_distance


def typical_distance(nearest_distance):
    """How far a digit a model has not seen typically lies from its nearest
    sample: the median of the distances of its samples to the nearest
    sample of the other folds (``out_of_fold_votes``). The scale of a
    Prediction's ``distance``, which shrinks as a model holds more samples:
    a model of 57,188 MNIST and bundled digits and variants has 13.5, the
    default model of 7,188 bundled digits and variants 15.9."""
    return float(np.median(nearest_distance))


class PairJudge:
    """Whether the ink read as one digit looks like two touching digits: the
    share of touching pairs (made in training, app/training/pairs.py) among
    the ``n_neighbors`` nearest of those pairs and of the model's own samples,
    ``singles_per_pair`` of those for each pair (spread evenly over them), so
    that a model of 60,000 samples judges as one of 5,000 does.

    A number's reader weighs its ways of cutting a run of ink by it
    (segmentation.read_digits): the model's confidence in the pieces of a cut
    wide digit is often as high as in the pieces of two touching ones.
    """

    def __init__(self, samples, pairs, n_neighbors=9, singles_per_pair=2):
        count = min(len(samples), singles_per_pair * len(pairs))
        singles = samples[np.linspace(0, len(samples) - 1, count).astype(np.intp)]
        self.samples = np.vstack([singles, pairs]).astype(DTYPE)
        self.norms = squared_norms(self.samples)
        self.is_pair = np.arange(len(self.samples)) >= len(singles)
        self.n_neighbors = n_neighbors

    def shares(self, features):
        """The share of pairs among the nearest, for each row of ``features``."""
        queries = np.asarray(features, dtype=DTYPE).reshape(-1, self.samples.shape[1])
        indices = nearest(squared_distances(queries, self.samples, self.norms), self.n_neighbors)
        return self.is_pair[indices].mean(axis=1)
