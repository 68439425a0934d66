"""The classifier: its numpy fast path, cross-validation and calibrated confidence."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from app.imaging.chain import ImageChain
from app.recognition.bundled import bundled_digits, provisional_model
from app.recognition.confidence import calibrate
from app.recognition.recognizer import ServingModel
from app.recognition.vote import NeighbourVote, out_of_fold_votes
from app.training import classifier as knn
from app.training.calibration import fit_confidence
from app.training.model import train_model
from app.training.sets import bundled_training_set

CHAIN = ImageChain()


@pytest.fixture(scope="module")
def training():
    return bundled_training_set(CHAIN)


@pytest.fixture(scope="module")
def queries(training):
    """Thousands of inputs like the chain's: training samples with ink moved
    about, so that distances tie often (the features are whole counts)."""
    rng = np.random.default_rng(0)
    picks = training.features[rng.integers(0, len(training.labels), 4000)]
    noisy = np.clip(picks + rng.integers(-3, 4, picks.shape), 0, 16)
    return np.vstack([noisy, training.features[:500]])


@pytest.mark.parametrize("k, weights", [(5, "distance"), (3, "uniform"), (4, "uniform"),
                                        (1, "distance")])
def test_the_numpy_vote_gives_scikit_learn_s_answers(training, queries, k, weights):
    classifier = knn.build_classifier(k, weights).fit(training.features, training.labels)
    vote = NeighbourVote.from_estimator(classifier.named_steps["knn"])
    ours, nearest = vote.predict_proba(queries)
    theirs = classifier.predict_proba(queries)
    # Where the k-th and the next sample are equally near, either is a right
    # choice of neighbours (scikit-learn's depends on how it chunks the work):
    # every other answer must be the same.
    distances, _ = classifier.named_steps["knn"].kneighbors(queries, k + 1)
    tied = np.isclose(distances[:, k - 1], distances[:, k])
    assert (~tied).sum() >= 4000  # thousands of answers compared
    assert np.allclose(ours[~tied], theirs[~tied], atol=1e-12)
    assert np.allclose(nearest, distances[:, 0])


def test_out_of_fold_votes_match_a_classifier_fitted_on_the_other_folds(training):
    fold_of = knn.fold_assignment(training.labels, 5, training.groups)
    classes, probabilities, _ = out_of_fold_votes(training.features, training.labels, fold_of,
                                                  5, "distance")
    held_out = fold_of == 0
    classifier = knn.build_classifier(5, "distance").fit(training.features[~held_out],
                                                         training.labels[~held_out])
    distances, _ = classifier.named_steps["knn"].kneighbors(training.features[held_out], 6)
    untied = ~np.isclose(distances[:, 4], distances[:, 5])
    assert np.allclose(probabilities[held_out][untied],
                       classifier.predict_proba(training.features[held_out])[untied])


def test_a_sample_and_its_variants_share_a_fold(training):
    fold_of = knn.fold_assignment(training.labels, 10, training.groups)
    for group in np.unique(training.groups)[:200]:
        assert len(set(fold_of[training.groups == group])) == 1
    assert len(np.unique(fold_of)) == 10


def test_training_reports_cross_validated_accuracy_of_at_least_98_5_percent(training):
    model = train_model(training, CHAIN)
    assert model.metadata["accuracy"] >= 0.985
    assert len(model.metadata["recall"]) == 10
    assert np.array(model.metadata["confusion"]).sum() == 1797  # the originals are scored


def test_calibrated_probabilities_keep_the_answer_and_sum_to_one(queries, training):
    model = train_model(training, CHAIN)
    vote = NeighbourVote.from_estimator(model.classifier.named_steps["knn"])
    raw, nearest = vote.predict_proba(queries)
    calibrated = calibrate(raw, nearest, model.metadata["calibration"])
    assert np.array_equal(calibrated.argmax(axis=1), raw.argmax(axis=1))
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    assert (calibrated >= 0).all() and (calibrated <= 1).all()


def test_the_same_vote_far_from_every_sample_is_less_sure():
    coefficients = fit_confidence(
        np.array([[0.0, 1.0]] * 90 + [[1.0, 0.0]] * 10 + [[0.0, 1.0]] * 50 + [[1.0, 0.0]] * 50),
        np.array([5.0] * 100 + [30.0] * 100),
        np.array([True] * 90 + [False] * 10 + [True] * 50 + [False] * 50))
    unanimous = np.array([[0.0, 1.0], [0.0, 1.0]])
    near, far = calibrate(unanimous, np.array([5.0, 30.0]), coefficients)[:, 1]
    assert near > 0.8 > far


def test_the_served_answer_carries_the_calibrated_confidence(training):
    serving = ServingModel(train_model(training, CHAIN).snapshot())
    answer = serving.predict_many(training.features[:1])[0]
    assert answer.digit == training.labels[0]
    assert answer.confidence == max(answer.probabilities)
    assert sum(answer.probabilities) == pytest.approx(1.0)


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
