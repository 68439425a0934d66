"""Calibrated confidence keeps the vote's answer, and its probabilities sum to one."""

import numpy as np

from app.recognition.confidence import calibrate
from app.recognition.vote import NeighbourVote
from app.training.model import train_model

from .conftest import CHAIN


def test_calibrated_probabilities_keep_the_answer_and_sum_to_one(queries, training):
    model = train_model(training, CHAIN)
    vote = NeighbourVote.from_estimator(model.classifier.named_steps["knn"])
    raw, nearest = vote.predict_proba(queries)
    calibrated = calibrate(raw, nearest, model.metadata["calibration"])
    assert np.array_equal(calibrated.argmax(axis=1), raw.argmax(axis=1))
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    assert (calibrated >= 0).all() and (calibrated <= 1).all()
