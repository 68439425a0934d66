"""Confidence that means something: the kNN's vote share turned into the
chance that the answer is right.

A unanimous vote among near neighbours is almost always right; the same vote
among neighbours far away (a digit unlike any in the training set) is right
much less often. A logistic model of "the answer was right" on the vote share
and the distance to the nearest neighbour is fitted at training time on the
cross-validated votes, and the answer's probabilities are rescaled to it.
"""

import numpy as np

EPSILON = 1e-4
DOUBT_SPREAD = 0.02  # added to every other digit's vote share before sharing the doubt


def _inputs(top_share, nearest_distance):
    share = np.clip(top_share, EPSILON, 1 - EPSILON)
    return np.column_stack([np.log(share / (1 - share)), nearest_distance])


def fit_confidence(probabilities, nearest_distance, correct):
    """Coefficients of P(right | vote share, nearest distance), from
    cross-validated votes; None when every answer (or none) was right."""
    # here, not above: only training fits; a serving worker never loads scikit-learn
    from sklearn.linear_model import LogisticRegression

    correct = np.asarray(correct, dtype=bool)
    if correct.all() or not correct.any():
        return None
    model = LogisticRegression(C=10.0).fit(
        _inputs(probabilities.max(axis=1), nearest_distance), correct)
    (share, distance), intercept = model.coef_[0], model.intercept_[0]
    return {"share": float(share), "distance": float(distance), "intercept": float(intercept)}


def calibrate(probabilities, nearest_distance, coefficients):
    """Probabilities whose largest is the chance the answer is right; the others
    shrink or grow in proportion, and the answer stays the answer."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if coefficients is None:
        return probabilities
    n = len(probabilities)
    top = probabilities.argmax(axis=1)
    top_share = probabilities[np.arange(n), top]
    score = _inputs(top_share, nearest_distance) @ [coefficients["share"],
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
