"""Training the classifier: folds, cross-validated accuracy and the confidence fit."""

import numpy as np

from app.imaging.chain import ImageChain
from app.recognition.confidence import calibrate
from app.recognition.recognizer import ServingModel
from app.recognition.store import model_from_bytes, model_to_bytes
from app.training import classifier as knn
from app.training.calibration import fit_confidence
from app.training.model import train_model

CHAIN = ImageChain()


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


def test_the_same_vote_far_from_every_sample_is_less_sure():
    coefficients = fit_confidence(
        np.array([[0.0, 1.0]] * 90 + [[1.0, 0.0]] * 10 + [[0.0, 1.0]] * 50 + [[1.0, 0.0]] * 50),
        np.array([5.0] * 100 + [30.0] * 100),
        np.array([True] * 90 + [False] * 10 + [True] * 50 + [False] * 50))
    unanimous = np.array([[0.0, 1.0], [0.0, 1.0]])
    near, far = calibrate(unanimous, np.array([5.0, 30.0]), coefficients)[:, 1]
    assert near > 0.8 > far


def test_a_model_keeps_how_far_digits_it_has_not_seen_lie_from_its_samples(training):
    # The scale of a reading's distance (segmentation's FAR is in it): the
    # median distance of the real samples to the nearest of the other folds.
    # It shrinks as a model holds more samples, and every reading carries its
    # model's.
    half = training.groups % 2 == 0
    _, _, fewer = knn.cross_validate(training.features[half], training.labels[half],
                                     training.groups[half], training.scored[half])
    model = model_from_bytes(model_to_bytes(train_model(training, CHAIN)), "test")
    typical = model.metadata["typical_distance"]
    assert 10 < typical < fewer
    reading = ServingModel(model.snapshot()).predict_many(training.features[:1])[0]
    assert reading.typical_distance == typical
