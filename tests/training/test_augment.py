"""Variants of the bundled digits, as the chain gives them to drawings."""

import numpy as np
from sklearn.datasets import load_digits

from app.imaging.shape import count_blocks
from app.training.augment import augment_digits, reconstruct_bitmap, rotate_bitmap


def test_a_reconstructed_bitmap_has_exactly_the_sample_s_block_counts():
    digits = load_digits()
    for counts in digits.data[:50]:
        bitmap = reconstruct_bitmap(counts)
        assert bitmap.shape == (32, 32) and bitmap.dtype == bool
        assert np.array_equal(count_blocks(bitmap).ravel(), counts)


def test_rotation_keeps_the_whole_digit():
    bitmap = reconstruct_bitmap(load_digits().data[0])
    turned = rotate_bitmap(bitmap, 10)
    assert turned.shape[0] >= 32 and turned.shape[1] >= 32
    assert abs(int(turned.sum()) - int(bitmap.sum())) < 0.1 * bitmap.sum()


def test_augmentation_puts_the_originals_first_and_names_the_source_of_each_variant():
    digits = load_digits()
    X, y = digits.data[:20], digits.target[:20]
    features, labels, sources = augment_digits(X, y, random_state=0, return_sources=True)
    assert np.array_equal(features[:20], X) and np.array_equal(labels[:20], y)
    assert len(features) == len(labels) == len(sources) == 20 * 4  # itself + 1 + 2 rotations
    assert np.array_equal(labels, y[sources])
    assert features.min() >= 0 and features.max() <= 16


def test_augmentation_is_repeatable():
    digits = load_digits()
    first = augment_digits(digits.data[:10], digits.target[:10], random_state=3)[0]
    second = augment_digits(digits.data[:10], digits.target[:10], random_state=3)[0]
    assert np.array_equal(first, second)
