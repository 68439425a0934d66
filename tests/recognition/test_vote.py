"""The numpy neighbour vote gives scikit-learn's answers, out of fold too."""

import numpy as np
import pytest

from app.recognition.vote import NeighbourVote, out_of_fold_votes
from app.training import classifier as knn


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
