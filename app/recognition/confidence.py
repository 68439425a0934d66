"""Confidence that means something: the kNN's vote share and the distance to
the nearest neighbour turned into the chance that the answer is right, by a
logistic model fitted at training time (app.training.calibration)."""

import numpy as np

EPSILON = 1e-4
DOUBT_SPREAD = 0.02  # added to every other digit's vote share before sharing the doubt


def confidence_inputs(top_share, nearest_distance):
    """The logistic model's inputs (n, 2): the vote share's log-odds and the
    distance to the nearest neighbour."""
    share = np.clip(top_share, EPSILON, 1 - EPSILON)
    return np.column_stack([np.log(share / (1 - share)), nearest_distance])


def calibrate(probabilities, nearest_distance, coefficients):
    """Probabilities whose largest is the chance the answer is right; the others
    shrink or grow in proportion, and the answer stays the answer."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if coefficients is None:
        return probabilities
    n = len(probabilities)
    top = probabilities.argmax(axis=1)
    top_share = probabilities[np.arange(n), top]
    score = confidence_inputs(top_share, nearest_distance) @ [coefficients["share"],
                                                              coefficients["distance"]]
    confidence = 1.0 / (1.0 + np.exp(-(score + coefficients["intercept"])))
    # The doubt goes to the other digits as they were voted for, with a little
    # spread over all of them: even a unanimous vote can be wrong.
    others = np.arange(probabilities.shape[1])[None, :] != top[:, None]
    rest = np.where(others, probabilities + DOUBT_SPREAD, 0.0)
    rest /= rest.sum(axis=1, keepdims=True)
    # The answer must stay the most likely: above the runner-up.
    runner_up = rest.max(axis=1)
    confidence = np.maximum(confidence, runner_up / (1.0 + runner_up) + EPSILON)
    calibrated = rest * (1.0 - confidence)[:, None]
    calibrated[np.arange(n), top] = confidence
    return calibrated
