"""The confidence calibration, fitted on cross-validated votes: a unanimous vote
among near neighbours is almost always right, the same vote among far ones
much less often. app.recognition.confidence applies the coefficients."""

import numpy as np
from sklearn.linear_model import LogisticRegression

from app.recognition.confidence import confidence_inputs


def fit_confidence(probabilities, nearest_distance, correct):
    """Coefficients of P(right | vote share, nearest distance), from
    cross-validated votes; None when every answer (or none) was right."""
    correct = np.asarray(correct, dtype=bool)
    if correct.all() or not correct.any():
        return None
    model = LogisticRegression(C=10.0).fit(
        confidence_inputs(probabilities.max(axis=1), nearest_distance), correct)
    (share, distance), intercept = model.coef_[0], model.intercept_[0]
    return {"share": float(share), "distance": float(distance), "intercept": float(intercept)}
