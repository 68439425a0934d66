"""The model learns from the labels people give, in the mode the operator chose,
and the operator reviews, accepts, rejects and reverts them: on SQLite and on
PostgreSQL, through the API, the pages' forms and the commands."""

import base64
import time
from datetime import UTC, datetime

import pytest
from PIL import Image

from app import create_app
from conftest import SEVEN, canvas_drawing, encode, stop
from settings import Config

# Drawings the default model reads as one digit, each labelled as another.
HOOKED_ONE = [[(0.35, 0.3), (0.55, 0.15), (0.55, 0.85)], [(0.35, 0.85), (0.75, 0.85)]]
OPEN_FOUR = [[(0.3, 0.15), (0.3, 0.55), (0.75, 0.55)], [(0.65, 0.35), (0.65, 0.9)]]
LEARNING_WAIT = 2.0  # seconds within which every process answers with a change


def body(strokes):
    return {"image": base64.b64encode(encode(canvas_drawing(strokes))).decode()}


def predict(client, strokes, explain=False):
    response = client.post("/api/predict" + ("?explain=1" if explain else ""), json=body(strokes))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def other_digit(digit):
    return (digit + 3) % 10


def label(client, prediction_id, digit, address="127.0.0.1"):
    response = client.put(f"/api/predictions/{prediction_id}/label", json={"label": digit},
                          environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def reads_within(client, strokes, digit, seconds=LEARNING_WAIT):
    """Whether the drawing reads as ``digit`` within ``seconds``, and stays so."""
    deadline = time.monotonic() + seconds
    while predict(client, strokes)["digit"] != digit:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def still_reads(client, strokes, digit, seconds=LEARNING_WAIT):
    """Whether the drawing reads as ``digit`` all of the next ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predict(client, strokes)["digit"] != digit:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def make_app(storage_dir, database_url):
    apps = []

    def make(**settings):
        app = create_app({"TESTING": True, "STORAGE_DIR": storage_dir, "SECRET_KEY": "test",
                          "CV_FOLDS": 3, "DATABASE_URL": database_url,
                          "RATELIMIT_ENABLED": False, **settings})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["history"].close()
        stop(app)


def labelled(client, strokes, address="127.0.0.1"):
    """Read ``strokes``, label the reading as another digit; (digit read, label, id)."""
    answer = predict(client, strokes)
    wanted = other_digit(answer["digit"])
    record = label(client, answer["prediction_id"], wanted, address)
    return answer["digit"], wanted, record


# -- on -----------------------------------------------------------------------------


def test_a_label_is_learned_at_once_and_shows_among_the_neighbours(make_app):
    client = make_app().test_client()
    read, wanted, record = labelled(client, HOOKED_ONE)
    assert record["label"] == wanted and record["label_status"] == "learned"

    again = predict(client, HOOKED_ONE, explain=True)
    assert again["digit"] == wanted
    nearest = again["neighbours"][0]
    assert nearest == {**nearest, "digit": wanted, "distance": 0.0, "source": "label",
                       "prediction_id": record["id"]}
    model = client.get("/api/model").get_json()
    assert model["labels_learned"] == 1 and model["learning"] == "on"


def test_another_process_learns_the_label_within_two_seconds(make_app):
    labelling, answering = make_app().test_client(), make_app().test_client()
    predict(answering, HOOKED_ONE)  # the other process serves, and follows, before the label
    read, _, _ = labelled(labelling, HOOKED_ONE)
    assert reads_within(answering, HOOKED_ONE, other_digit(read))


def test_a_confirmation_is_a_label_the_model_learns_from(make_app):
    client = make_app().test_client()
    answer = predict(client, SEVEN)
    record = label(client, answer["prediction_id"], answer["digit"])
    assert record["label"] == answer["digit"] and record["label_status"] == "learned"
    assert predict(client, SEVEN, explain=True)["neighbours"][0]["source"] == "label"


def test_a_label_given_again_replaces_the_first(make_app):
    client = make_app().test_client()
    read, wanted, record = labelled(client, HOOKED_ONE)
    label(client, record["id"], other_digit(wanted))
    assert predict(client, HOOKED_ONE)["digit"] == other_digit(wanted)
    assert client.get("/api/model").get_json()["labels_learned"] == 1


# -- review and off -----------------------------------------------------------------


def test_in_review_mode_a_label_waits_for_the_operator(make_app):
    app = make_app(LEARNING="review")
    client, runner = app.test_client(), app.test_cli_runner()
    read, wanted, record = labelled(client, HOOKED_ONE)
    assert record["label_status"] == "pending"
    assert still_reads(client, HOOKED_ONE, read)

    listed = runner.invoke(args=["labels", "list", "--status", "pending"])
    assert listed.exit_code == 0, listed.output
    assert f"{record['id']}\t" in listed.output and "\tpending" in listed.output

    accepted = runner.invoke(args=["labels", "accept", "--id", str(record["id"])])
    assert accepted.exit_code == 0 and "1 label(s) accepted" in accepted.output
    assert reads_within(client, HOOKED_ONE, wanted)


def test_a_rejected_label_is_never_learned(make_app):
    app = make_app(LEARNING="review")
    client, runner = app.test_client(), app.test_cli_runner()
    read, _, record = labelled(client, HOOKED_ONE)
    result = runner.invoke(args=["labels", "reject", "--all"])
    assert result.exit_code == 0 and "1 label(s) rejected" in result.output
    assert still_reads(client, HOOKED_ONE, read, seconds=1.0)
    assert client.get(f"/api/predictions/{record['id']}").get_json()["label_status"] == "rejected"


def test_with_learning_off_the_model_never_changes(make_app):
    app = make_app(LEARNING="off")
    client, runner = app.test_client(), app.test_cli_runner()
    read, _, record = labelled(client, HOOKED_ONE)
    assert record["label_status"] == "pending"
    assert runner.invoke(args=["labels", "accept", "--all"]).exit_code == 0
    assert still_reads(client, HOOKED_ONE, read, seconds=1.0)
    model = client.get("/api/model").get_json()
    assert model["learning"] == "off" and model["labels_learned"] == 0


# -- revert -------------------------------------------------------------------------


def test_a_revert_by_id_restores_the_previous_answer(make_app):
    app = make_app()
    client, runner = app.test_client(), app.test_cli_runner()
    read_one, _, one = labelled(client, HOOKED_ONE)
    read_four, wanted_four, _ = labelled(client, OPEN_FOUR)

    result = runner.invoke(args=["labels", "revert", "--id", str(one["id"])])
    assert result.exit_code == 0 and "1 label(s) reverted" in result.output
    assert reads_within(client, HOOKED_ONE, read_one)
    assert predict(client, OPEN_FOUR)["digit"] == wanted_four  # the other label stays
    record = client.get(f"/api/predictions/{one['id']}").get_json()
    assert record["label_status"] == "reverted"


def test_a_revert_by_time_range_takes_only_the_labels_given_then(make_app):
    app = make_app()
    client, runner = app.test_client(), app.test_cli_runner()
    _, wanted_one, _ = labelled(client, HOOKED_ONE)
    time.sleep(0.01)
    between = datetime.now(UTC).replace(tzinfo=None)
    time.sleep(0.01)
    read_four, _, _ = labelled(client, OPEN_FOUR)

    result = runner.invoke(args=["labels", "revert", "--since",
                                 between.isoformat(timespec="microseconds")])
    assert result.exit_code == 0 and "1 label(s) reverted" in result.output, result.output
    assert reads_within(client, OPEN_FOUR, read_four)
    assert predict(client, HOOKED_ONE)["digit"] == wanted_one


def test_a_revert_by_client_takes_every_label_of_that_address_and_no_other(make_app):
    app = make_app()
    client, runner = app.test_client(), app.test_cli_runner()
    read_one, _, _ = labelled(client, HOOKED_ONE, address="203.0.113.7")
    _, wanted_four, _ = labelled(client, OPEN_FOUR, address="198.51.100.2")

    result = runner.invoke(args=["labels", "revert", "--client", "203.0.113.7"])
    assert result.exit_code == 0 and "1 label(s) reverted" in result.output
    assert reads_within(client, HOOKED_ONE, read_one)
    assert predict(client, OPEN_FOUR)["digit"] == wanted_four


def test_a_revert_must_say_which_labels(make_app):
    result = make_app().test_cli_runner().invoke(args=["labels", "revert"])
    assert result.exit_code == 2 and "say which labels" in result.output


def test_the_list_names_each_labels_client_and_writes_its_thumbnail(make_app, tmp_path):
    app = make_app()
    client, runner = app.test_client(), app.test_cli_runner()
    read, wanted, record = labelled(client, HOOKED_ONE, address="203.0.113.7")
    result = runner.invoke(args=["labels", "list", "--thumbnails", str(tmp_path / "thumbs")])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith(f"{record['id']}\t"))
    fields = line.split("\t")
    assert fields[2:6] == ["203.0.113.7", str(read), str(wanted), "learned"]
    assert Image.open(fields[6]).format == "PNG"


# -- accuracy in use ----------------------------------------------------------------


def test_the_accuracy_in_use_counts_the_labelled_readings(make_app):
    client = make_app().test_client()
    for _ in range(3):  # three readings confirmed
        answer = predict(client, SEVEN)
        label(client, answer["prediction_id"], answer["digit"])
    labelled(client, HOOKED_ONE)  # and one corrected
    in_use = client.get("/api/model").get_json()["in_use"]
    assert in_use["last_100"] == {"readings": 4, "accuracy": 0.75}
    assert in_use["last_1000"] == {"readings": 4, "accuracy": 0.75}
    assert in_use["window"] == 50 and in_use["history"] == []


def test_the_model_page_plots_the_accuracy_per_fifty_labels(make_app):
    app = make_app()
    client = app.test_client()
    ids = [answer.prediction_id for answer in app.extensions["reader"].read_many(
        [encode(canvas_drawing(SEVEN))] * 100, source="api")]
    for index, prediction_id in enumerate(ids):  # the first 50 half right, then all right
        label(client, prediction_id, 7 if index >= 50 or index % 2 else 1)
    in_use = client.get("/api/model").get_json()["in_use"]
    assert in_use["history"] == [0.5, 1.0]
    page = client.get("/model").get_data(as_text=True)
    assert 'id="in-use-plot"' in page and page.count('class="dot"') == 2
    assert "75.0%" in page and "on the bundled digits" in page


def test_an_unknown_learning_mode_stops_the_start_with_the_choices(monkeypatch):
    monkeypatch.setenv("LEARNING", "sometimes")
    with pytest.raises(ValueError, match="LEARNING must be one of on, review, off"):
        Config()
