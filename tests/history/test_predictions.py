"""Predictions are stored, listed and labelled, and the model learns from the
labels: on SQLite and on PostgreSQL."""

import base64
import csv
import io

import pytest
from PIL import Image

from app import create_app
from app.history.predictions import sanitise_filename
from conftest import ONE, SEVEN, ZERO, canvas_drawing, encode, on_paper, stop


def predict(client, strokes=SEVEN, **fields):
    image = "data:image/png;base64," + base64.b64encode(encode(canvas_drawing(strokes))).decode()
    response = client.post("/api/predict", json={"image": image, **fields})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_every_answer_carries_the_id_of_its_stored_record(client):
    answer = predict(client, filename="seven.png", source="canvas")
    record = client.get(f"/api/predictions/{answer['prediction_id']}").get_json()
    assert record["digit"] == answer["digit"] == 7
    assert record["confidence"] == pytest.approx(answer["confidence"])
    assert record["probabilities"] == pytest.approx(answer["probabilities"])
    assert record["model_version"] == answer["model_version"]
    assert record["source"] == "canvas" and record["filename"] == "seven.png"
    assert record["label"] is None and record["labelled_at"] is None
    assert record["created_at"].endswith("+00:00")


def test_the_stored_input_is_served_as_a_png_that_reads_the_same(app, client):
    answer = predict(client)
    response = client.get(f"/api/predictions/{answer['prediction_id']}/image")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).format == "PNG"
    chain = app.extensions["recognizer"].chain
    assert list(chain.to_feature_vector(response.data)) == list(
        chain.to_feature_vector(encode(canvas_drawing(SEVEN))))


def test_a_large_photo_is_kept_small(app, client):
    photo = on_paper(canvas_drawing(SEVEN, size=1200, width=90))
    response = client.post("/api/predict", data=encode(photo, "JPEG"), content_type="image/jpeg")
    stored = client.get(f"/api/predictions/{response.get_json()['prediction_id']}/image")
    image = Image.open(io.BytesIO(stored.data))
    assert image.format == "PNG" and max(image.size) <= app.config["STORED_IMAGE_MAX_SIDE"]
    assert image.mode == "L" and image.getextrema()[0] < 80  # dark ink on white paper


def test_a_raw_upload_is_recorded_as_coming_from_the_api(client):
    response = client.post("/api/predict", data=encode(canvas_drawing(ONE)),
                           content_type="image/png")
    record = client.get(f"/api/predictions/{response.get_json()['prediction_id']}").get_json()
    assert record["source"] == "api" and record["filename"] is None


def test_the_history_lists_newest_first_in_pages(client):
    ids = [predict(client, strokes)["prediction_id"] for strokes in (ONE, SEVEN, ZERO, ONE, SEVEN)]
    first = client.get("/api/predictions?limit=2").get_json()
    assert [p["id"] for p in first["predictions"]] == ids[::-1][:2]
    second = client.get(f"/api/predictions?limit=2&before={first['next_before']}").get_json()
    assert [p["id"] for p in second["predictions"]] == ids[::-1][2:4]
    last = client.get(f"/api/predictions?limit=2&before={second['next_before']}").get_json()
    assert [p["id"] for p in last["predictions"]] == ids[:1]
    assert last["next_before"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "before=-1",
                                   "before=x"])
def test_bad_paging_parameters_are_400(client, query):
    response = client.get(f"/api/predictions?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_an_unknown_prediction_is_404(client):
    for url in ("/api/predictions/999999", "/api/predictions/999999/image",
                "/api/predictions/99999999999999999999999"):
        response = client.get(url)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.put("/api/predictions/999999/label", json={"label": 3})
    assert response.status_code == 404


def test_a_correction_is_stored_with_its_time(client):
    answer = predict(client, ONE)
    response = client.put(f"/api/predictions/{answer['prediction_id']}/label", json={"label": 7})
    assert response.status_code == 200
    assert response.get_json()["label"] == 7 and response.get_json()["labelled_at"]
    assert client.get(f"/api/predictions/{answer['prediction_id']}").get_json()["label"] == 7


@pytest.mark.parametrize("body", [{"label": 10}, {"label": -1}, {"label": "3"}, {"label": 2.5},
                                  {"label": None}, {}, [3]])
def test_a_label_that_is_not_a_digit_is_400(client, body):
    answer = predict(client)
    response = client.put(f"/api/predictions/{answer['prediction_id']}/label", json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_a_prediction_survives_a_restart(storage_dir, database_url):
    settings = {"TESTING": True, "STORAGE_DIR": storage_dir, "DATABASE_URL": database_url}
    first = create_app(settings)
    answer = predict(first.test_client())
    stop(first)
    second = create_app(settings)
    record = second.test_client().get(f"/api/predictions/{answer['prediction_id']}").get_json()
    assert record["digit"] == answer["digit"]
    stop(second)


def test_a_correction_changes_the_answer_at_once_and_survives_retraining(
        app, client, runner):
    # A "1" drawn with a flag and a foot, which the bundled digits alone read
    # otherwise; its writer says it is a 4.
    strokes = [[(0.35, 0.3), (0.55, 0.15), (0.55, 0.85)], [(0.35, 0.85), (0.75, 0.85)]]
    before = predict(client, strokes)
    wanted = 4 if before["digit"] != 4 else 9
    labelled = client.put(f"/api/predictions/{before['prediction_id']}/label",
                          json={"label": wanted}).get_json()
    assert labelled["label_status"] == "learned"

    assert predict(client, strokes)["digit"] == wanted  # no retraining

    result = runner.invoke(args=["train"])
    assert result.exit_code == 0, result.output
    after = predict(client, strokes)
    assert after["digit"] == wanted and after["model_version"] != before["model_version"]
    model = client.get("/api/model").get_json()
    assert model["samples"] == {"bundled": 1797, "augmented": 5391, "imported": 0}
    assert model["labels_learned"] == 1


def test_export_writes_the_history_as_csv(client, runner, tmp_path):
    ids = [predict(client, strokes, filename=f"{n}.png")["prediction_id"]
           for n, strokes in enumerate((ONE, SEVEN))]
    client.put(f"/api/predictions/{ids[0]}/label", json={"label": 1})
    output = tmp_path / "history.csv"
    result = runner.invoke(args=["export", "--format", "csv", "--output", str(output)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(output.open()))
    assert [int(row["id"]) for row in rows] == ids
    assert rows[0]["label"] == "1" and rows[1]["label"] == ""
    assert rows[1]["digit"] == "7" and rows[1]["filename"] == "1.png"


def test_export_to_standard_output(client, runner):
    predict(client)
    result = runner.invoke(args=["export"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("id,created_at,source,filename,digit")


@pytest.mark.parametrize("raw, kept", [
    ("seven.png", "seven.png"),
    ("C:\\\\Users\\\\me\\\\seven.png", "seven.png"),
    ("../../etc/passwd", "passwd"),
    ("bad\\x00name\\n.png", "badname.png"),
    (".hidden", "hidden"),
    ("", None),
    ("x" * 400 + ".png", "x" * 255),
])
def test_filenames_are_sanitised_and_bounded(raw, kept):
    assert sanitise_filename(raw.encode().decode("unicode_escape")) == kept
