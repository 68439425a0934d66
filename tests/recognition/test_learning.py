"""Answering with the labels people gave, beside the training set: the vote over
both, the neighbours named with their sources, and the follower that keeps
each process's labels up to date."""

import threading

import numpy as np
import pytest

from app.errors import DatabaseUnavailable
from app.extensions import learner
from app.history.labels import LabelChanges
from app.history.learning import LabelFollower
from app.recognition.recognizer import LearnedSamples, ServingModel


@pytest.fixture(scope="module")
def snapshot(model):
    return model.snapshot()


def learned(features, labels, first_id=1):
    features = np.atleast_2d(features)
    return LearnedSamples(np.arange(first_id, first_id + len(features)),
                          np.asarray(features, dtype=np.uint8), np.asarray(labels))


def test_without_labels_the_vote_is_the_models_own(snapshot, queries):
    serving = ServingModel(snapshot, learned(np.empty((0, 64)), []))
    assert serving.vote is snapshot.vote
    plain = [p.digit for p in ServingModel(snapshot).predict_many(queries[:200])]
    assert [p.digit for p in serving.predict_many(queries[:200])] == plain


def test_a_labelled_sample_decides_its_own_reading_and_is_named_as_a_label(snapshot, queries):
    query = queries[0]
    before = ServingModel(snapshot).predict_many(query)[0].digit
    wanted = (before + 1) % 10
    serving = ServingModel(snapshot, learned(query, [wanted], first_id=41))
    prediction = serving.predict_many(query, explain=True)[0]
    assert prediction.digit == wanted
    nearest = prediction.neighbours[0]
    assert (nearest.source, nearest.prediction_id, nearest.distance, nearest.digit) == (
        "label", 41, 0.0, wanted)
    assert np.array_equal(nearest.features, query)


def test_the_neighbours_name_the_training_rows_they_came_from(snapshot, training):
    bundled = int(snapshot.metadata["samples"]["bundled"])
    serving = ServingModel(snapshot)
    original, variant = training.features[0], training.features[bundled + 10]
    assert serving.predict_many(original, explain=True)[0].neighbours[0].source == "bundled"
    assert serving.predict_many(variant, explain=True)[0].neighbours[0].source == "augmented"
    assert len(serving.predict_many(original, explain=True)[0].neighbours) == 5
    assert serving.predict_many(original)[0].neighbours == ()


def test_a_heavier_label_outvotes_more_of_its_neighbours(snapshot, training):
    # A label a little way from a bundled digit: it wins the vote only where it weighs more.
    bundled = training.features[:1797]
    query = np.clip(bundled[100] + np.eye(64)[9] * 2, 0, 16)  # no training row's twin
    digit = int(training.labels[100])
    near = np.clip(bundled[100] + np.eye(64)[10] * 2, 0, 16)
    wanted = (digit + 1) % 10
    light = ServingModel(snapshot, learned(near, [wanted]), label_weight=1.0)
    heavy = ServingModel(snapshot, learned(near, [wanted]), label_weight=1000.0)
    light_votes = light.predict_many(query)[0].probabilities[wanted]
    heavy_votes = heavy.predict_many(query)[0].probabilities[wanted]
    assert heavy_votes > light_votes and heavy.predict_many(query)[0].digit == wanted


def test_a_label_of_a_digit_the_model_does_not_know_is_left_out(snapshot, queries):
    serving = ServingModel(snapshot, learned(queries[:2], [3, 12]))
    assert list(serving.learned.ids) == [1]


def test_a_label_sets_aside_the_made_up_digits_of_other_classes_around_it(snapshot, training):
    # A generated variant, labelled as another digit: its nearest training rows
    # include made-up digits of its own class, which leave the vote; the
    # bundled originals and the variants of the labelled digit stay.
    bundled = int(snapshot.metadata["samples"]["bundled"])
    row = bundled + 10
    digit = int(training.labels[row])
    wanted = (digit + 1) % 10
    label = learned(training.features[row], [wanted], first_id=7)
    serving = ServingModel(snapshot, label, set_aside=10)
    near = snapshot.vote.neighbours(training.features[row], k=10)[1][0]
    their_digits = snapshot.vote.classes[snapshot.vote.labels[near]]
    expected = near[(near >= bundled) & (their_digits != wanted)]
    assert len(expected) and set(serving.aside[7, wanted]) == set(expected)
    assert len(serving.vote.samples) == len(snapshot.vote.samples) - len(expected) + 1
    # The label decides its own reading, and the neighbours still name the
    # training rows they came from, past the rows set aside.
    prediction = serving.predict_many(training.features[row], explain=True)[0]
    assert prediction.digit == wanted
    assert [n.source for n in prediction.neighbours][0] == "label"
    original = serving.predict_many(training.features[0], explain=True)[0].neighbours[0]
    assert (original.source, original.distance) == ("bundled", 0.0)
    last = training.features[len(training.labels) - 1]
    assert serving.predict_many(last, explain=True)[0].neighbours[0].source == "augmented"
    # Without set_aside, or without the label (a revert), every row votes.
    assert len(ServingModel(snapshot, label).vote.samples) == len(snapshot.vote.samples) + 1
    assert ServingModel(snapshot, learned(np.empty((0, 64)), []), set_aside=10).vote \
        is snapshot.vote


def test_what_labels_set_aside_is_looked_up_once_and_follows_relabels(snapshot, training):
    bundled = int(snapshot.metadata["samples"]["bundled"])
    rows = [bundled + 10, bundled + 500]
    labels = [(int(training.labels[row]) + 1) % 10 for row in rows]
    first = ServingModel(snapshot, learned(training.features[rows[:1]], labels[:1]), set_aside=10)
    both = ServingModel(snapshot, learned(training.features[rows], labels), set_aside=10,
                        known_aside={(1, labels[0]): np.array([0])})  # known: not looked up
    assert list(both.aside[1, labels[0]]) == [0] and (2, labels[1]) in both.aside
    # The same id with another label is another label: looked up again.
    relabelled = ServingModel(snapshot, learned(training.features[rows[:1]], [labels[1]]),
                              set_aside=10, known_aside=first.aside)
    assert list(relabelled.aside) == [(1, labels[1])]


class FakeHistory:
    """Label changes handed out as a database would, or its failure."""

    def __init__(self):
        self.changes, self.fail = [], False

    def label_changes(self, revision):
        if self.fail:
            raise DatabaseUnavailable()
        later = [change for change in self.changes if change[0] > revision]
        if not later:
            return LabelChanges(revision, np.empty(0, np.int64), np.empty((0, 64), np.uint8),
                                np.empty(0, np.int64), np.empty(0, bool))
        return LabelChanges(later[-1][0], np.array([c[1] for c in later]),
                            np.array([np.full(64, c[1], np.uint8) for c in later]),
                            np.array([c[2] for c in later]), np.array([c[3] for c in later]))


def follow(history):
    handed = []
    follower = LabelFollower(history, lambda ids, features, labels: handed.append(
        (list(ids), list(labels))))
    return follower, handed


def test_the_follower_hands_on_the_learned_labels_when_they_change_only():
    history = FakeHistory()
    follower, handed = follow(history)
    history.changes += [(1, 10, 3, True), (2, 11, 4, True)]
    assert follower.catch_up() and handed[-1] == ([10, 11], [3, 4])
    assert follower.catch_up() and len(handed) == 1  # nothing changed: nothing handed on

    history.changes += [(3, 10, 3, False), (4, 12, 5, True), (5, 11, 6, True)]
    follower.catch_up()
    assert handed[-1] == ([12, 11], [5, 6])  # 10 reverted; 11 relabelled, now the newest


def test_a_database_that_fails_leaves_the_labels_learned_so_far(caplog):
    history = FakeHistory()
    follower, handed = follow(history)
    history.changes.append((1, 10, 3, True))
    follower.catch_up()
    history.fail = True
    assert not follower.catch_up()
    assert handed == [([10], [3])] and "Cannot read the labels" in caplog.text


def test_a_stopped_follower_has_ended_its_look_when_stop_returns():
    # Else a look still under way reads tables that the next user of the
    # database (in the suite, the next test) is dropping: a deadlock.
    looking, release, looks = threading.Event(), threading.Event(), []

    class SlowHistory(FakeHistory):
        def label_changes(self, revision):
            looking.set()
            release.wait(5)
            looks.append("ended")
            return super().label_changes(revision)

    follower, _ = follow(SlowHistory())
    follower.ensure_running()
    assert looking.wait(5)
    threading.Timer(0.3, release.set).start()
    follower.stop()
    assert looks == ["ended"] and not follower._thread.is_alive()


@pytest.mark.parametrize("most, kept", [(2, [11, 12]), (0, [])])
def test_a_worker_learns_the_newest_labels_up_to_its_limit(most, kept):
    class Recognizer:
        def learn(self, samples):
            self.samples = samples

    recognizer = Recognizer()
    learner(recognizer, most)(np.array([10, 11, 12]), np.zeros((3, 64), np.uint8),
                              np.array([1, 2, 3]))
    assert list(recognizer.samples.ids) == kept
