"""The bundled digits read without scikit-learn, and the provisional model made of them."""

from dataclasses import replace

import numpy as np
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from app.recognition.bundled import bundled_digits, provisional_model
from app.recognition.recognizer import ServingModel
from app.training import classifier as knn

from .conftest import CHAIN


def test_the_bundled_digits_are_scikit_learns_read_without_it():
    features, labels = bundled_digits()
    digits = load_digits()
    assert np.array_equal(features, digits.data) and np.array_equal(labels, digits.target)


def test_the_provisional_model_votes_as_a_fitted_knn_of_the_bundled_digits():
    model = provisional_model(CHAIN)
    features, labels = bundled_digits()
    fitted = KNeighborsClassifier(n_neighbors=knn.DEFAULT_NEIGHBORS, weights=knn.DEFAULT_WEIGHTS,
                                  algorithm="brute").fit(features, labels)
    rng = np.random.default_rng(1)  # drawings near the samples, never tied in distance
    queries = features[rng.integers(0, len(features), 1000)] + rng.normal(0, 3, (1000, 64))
    probabilities, _ = model.vote.predict_proba(queries)
    assert np.array_equal(probabilities.argmax(axis=1), fitted.predict(queries))
    meta = model.metadata
    assert meta["provisional"] is True and meta["calibration"] is None
    assert meta["samples"]["bundled"] == 1797 and 0.97 < meta["accuracy"] <= 1.0
    assert np.array(meta["confusion"]).sum() == 1797


def test_readings_carry_their_model_s_scale_of_distance_where_it_is_a_distance():
    # The provisional model keeps its own, from its three folds: fewer
    # samples than the full model's, so a larger one. Metadata that holds
    # no positive number (a hand-edited file) counts as none.
    model = provisional_model(CHAIN)
    features, _ = bundled_digits()
    typical = model.metadata["typical_distance"]
    assert typical > 15.9  # the full model's, of the bundled digits and their variants
    assert ServingModel(model).predict_many(features[:1])[0].typical_distance == typical
    for kept in ("16", -1.0, 0, float("nan"), True, None):
        broken = replace(model, metadata={**model.metadata, "typical_distance": kept})
        assert ServingModel(broken).predict_many(features[:1])[0].typical_distance is None
