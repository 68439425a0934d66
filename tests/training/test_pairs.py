"""Touching pairs made from the bundled digits, and the judge that weighs a
number's cuts by them."""

import numpy as np
from scipy import ndimage

from app.imaging.chain import ImageChain
from app.recognition.bundled import bundled_digits
from app.recognition.vote import PairJudge
from app.training.pairs import _touching, touching_pairs

CHAIN = ImageChain()


def test_pairs_are_features_like_the_chain_s_and_the_same_each_time():
    pairs = touching_pairs(CHAIN, count=50, random_state=3)
    assert pairs.shape == (50, 64) and pairs.min() >= 0 and pairs.max() <= 16
    assert np.array_equal(pairs, touching_pairs(ImageChain(), count=50, random_state=3))
    assert not np.array_equal(pairs, touching_pairs(CHAIN, count=50, random_state=4))


def test_the_second_digit_touches_the_first_where_they_come_closest():
    rng = np.random.default_rng(0)
    left = np.zeros((40, 20), dtype=np.float32)
    left[:, 14:20] = 255  # an upright at the right edge
    right = np.zeros((40, 20), dtype=np.float32)
    right[:, :6] = 255  # an upright at the left edge
    canvas = _touching(left, right, rng)
    inked = canvas > 0.35 * 255
    _, parts = ndimage.label(inked, structure=np.ones((3, 3)))
    assert parts == 1  # one mark: the two touch
    assert canvas.shape[1] <= left.shape[1] + right.shape[1]


def test_the_judge_tells_touching_pairs_from_single_digits_it_has_not_seen():
    samples, _ = bundled_digits()
    judge = PairJudge(samples[:1500], touching_pairs(CHAIN, count=1500))
    unseen_pairs = touching_pairs(CHAIN, count=200, random_state=1)
    assert judge.shares(unseen_pairs).mean() > 0.7
    assert judge.shares(samples[1500:]).mean() < 0.1


def test_a_large_model_s_judge_weighs_as_many_of_its_samples_as_a_small_one_s():
    samples, _ = bundled_digits()
    pairs = touching_pairs(CHAIN, count=200)
    judge = PairJudge(np.vstack([samples] * 10), pairs, singles_per_pair=2)
    assert judge.is_pair.sum() == 200 and (~judge.is_pair).sum() == 400
