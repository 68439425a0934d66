"""What the tests of recognition share: the chain, a model trained once, chain-like inputs."""

import numpy as np
import pytest

from app.imaging.chain import ImageChain
from app.recognition.recognizer import Recognizer
from app.recognition.store import ClassifierRepository
from app.training.model import train_bundled, train_model
from app.training.sets import bundled_training_set

CHAIN = ImageChain()


@pytest.fixture(scope="package")
def model():
    return train_model(bundled_training_set(CHAIN), CHAIN)


@pytest.fixture(scope="package")
def queries(training):
    """Thousands of inputs like the chain's: training samples with ink moved
    about, so that distances tie often (the features are whole counts)."""
    rng = np.random.default_rng(0)
    picks = training.features[rng.integers(0, len(training.labels), 4000)]
    noisy = np.clip(picks + rng.integers(-3, 4, picks.shape), 0, 16)
    return np.vstack([noisy, training.features[:500]])


def recognizer(path):
    return Recognizer(ClassifierRepository(path), CHAIN, n_folds=3, check_interval=0,
                      trainer=train_bundled)
