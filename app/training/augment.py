"""More training digits from the bundled 8x8 set, in the form the chain gives
drawings: each sample turned back into a 32x32 bitmap with exactly its block
counts, and that bitmap and slightly rotated copies put through the chain."""

import numpy as np
from PIL import Image
from scipy import ndimage

from app.errors import EmptyImage
from app.imaging.chain import ImageChain
from app.imaging.shape import BLOCK_SIZE, BOX_SIZE

GRID = BOX_SIZE // BLOCK_SIZE  # 8 blocks a side
BLOCK_PIXELS = BLOCK_SIZE * BLOCK_SIZE  # 16 pixels, the largest count


def reconstruct_bitmap(counts):
    """A 32x32 bitmap whose 4x4 block counts are exactly ``counts`` (8x8, 0-16).

    Within each block the ink goes where a smooth (bicubic) enlargement of the
    counts is highest, so strokes run on from block to block instead of being
    scattered.
    """
    counts = np.rint(np.asarray(counts, dtype=np.float64)).reshape(GRID, GRID)
    smooth = Image.fromarray((counts / BLOCK_PIXELS).astype(np.float32), mode="F").resize(
        (BOX_SIZE, BOX_SIZE), Image.Resampling.BICUBIC
    )
    # one row per block, one column per pixel of the block
    blocks = (np.asarray(smooth, dtype=np.float32)
              .reshape(GRID, BLOCK_SIZE, GRID, BLOCK_SIZE)
              .transpose(0, 2, 1, 3)
              .reshape(GRID * GRID, BLOCK_PIXELS))
    order = np.argsort(-blocks, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(BLOCK_PIXELS), order.shape), axis=1)
    ink = rank < counts.reshape(-1, 1)
    return (ink.reshape(GRID, GRID, BLOCK_SIZE, BLOCK_SIZE)
            .transpose(0, 2, 1, 3)
            .reshape(BOX_SIZE, BOX_SIZE))


def rotate_bitmap(bitmap, degrees):
    """The bitmap turned by ``degrees`` (anticlockwise), on a canvas large enough
    to hold all of it: people do not write on a level line."""
    turned = ndimage.rotate(bitmap.astype(np.float32), degrees, reshape=True, order=1)
    return turned > 0.5


def augment_digits(X, y, random_state=0, rotations=2, max_degrees=12.0, min_degrees=4.0,
                   chain=None, return_sources=False):
    """The samples ``X`` (n, 64; 0-16) and labels ``y``, followed by variants of
    each sample as the chain gives them: the sample itself, then ``rotations``
    copies turned by a random angle between ``min_degrees`` and ``max_degrees``
    (alternately anticlockwise and clockwise).

    Returns ``(X_aug, y_aug)`` with the originals first. A variant the chain
    finds blank (a nearly empty sample) is left out. With ``return_sources``
    also the index of the original each row was made from: cross-validation
    must keep a digit and its variants in the same fold (``groups=``), or it
    scores a variant against its own original.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    chain = chain or ImageChain()
    rng = np.random.default_rng(random_state)
    features, labels, sources = [X], [y], [np.arange(len(y))]
    for index, (counts, label) in enumerate(zip(X, y, strict=False)):
        bitmap = reconstruct_bitmap(counts)
        variants = [bitmap]
        for turn in range(rotations):
            sign = 1.0 if turn % 2 == 0 else -1.0
            variants.append(rotate_bitmap(bitmap, sign * rng.uniform(min_degrees, max_degrees)))
        for variant in variants:
            try:
                features.append(chain.to_feature_vector(variant)[None, :])
            except EmptyImage:
                continue
            labels.append(np.asarray([label]))
            sources.append(np.asarray([index]))
    if return_sources:
        return np.concatenate(features), np.concatenate(labels), np.concatenate(sources)
    return np.concatenate(features), np.concatenate(labels)
