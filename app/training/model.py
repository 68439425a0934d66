"""Fitting a new model: the kNN trained and cross-validated on a training set,
with the metadata stored beside it."""

from app.recognition.store import StoredModel, describe_model, fitted_content_hash
from app.training import classifier as knn
from app.training.pairs import touching_pairs
from app.training.sets import bundled_training_set


def train_bundled(chain, n_neighbors=None, n_folds=10):
    """A new StoredModel of the bundled digits and their variants: the trainer
    of a Recognizer that trains in its own process."""
    return train_model(None, chain, n_neighbors, n_folds)


def train_model(training_set, chain, n_neighbors=None, n_folds=10, search=False):
    """A new StoredModel fitted on ``training_set`` (by default the bundled
    digits and their variants) for ``chain``'s features."""
    training_set = training_set or bundled_training_set(chain)
    result = knn.train(training_set.features, training_set.labels, training_set.samples,
                       groups=training_set.groups, scored=training_set.scored,
                       n_neighbors=n_neighbors, n_folds=n_folds, search=search)
    metadata = describe_model(fitted_content_hash(result.classifier), accuracy=result.accuracy,
                              samples=result.samples, n_neighbors=result.n_neighbors,
                              weights=result.weights, recall=result.evaluation.recall,
                              confusion=result.evaluation.confusion,
                              chain=chain.signature(), calibration=result.calibration,
                              typical_distance=result.typical_distance)
    return StoredModel(result.classifier, {**metadata, "provisional": False},
                       touching_pairs(chain))
