"""Where the time of one request goes: POST /api/predict with a real canvas PNG
(as the draw page sends it), served in this process by Flask's test client a
few thousand times under cProfile, each step's time in microseconds per
request.

    python -m bench.request_profile [--requests N] [--warmup N]

The service runs on its embedded defaults (SQLite, the default model, the
rate limit on but far above this load) in a temporary folder. cProfile makes
every Python call dearer, small ones most: the steps' figures are for
comparing steps and runs of this script, and the unprofiled CPU per request,
printed beside them, is the real cost. A step's figure includes the steps it
calls (the chain includes its steps).
"""

import argparse
import cProfile
import json
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time

# (label, the end of the file's path, the function's name): the steps of a
# request in the order it takes them.
STEPS = (
    ("the request in all, in Flask", "flask/app.py", "wsgi_app"),
    ("Flask-Limiter: the API's rate limit", "flask_limiter/_extension.py", "_check_request_limit"),
    ("APIFlask: the query validated", "webargs/core.py", "parse"),
    ("the JSON body", "app/web/bodies.py", "parse_json_body"),
    ("  base64", "app/imaging/decode.py", "decode_base64_image"),
    ("the PNG's header and limits", "app/imaging/decode.py", "open_header"),
    ("the PNG decoded (libspng for a canvas)", "app/imaging/decode.py", "load_pixels"),
    ("the chain, in all", "app/imaging/chain.py", "to_feature_vector"),
    ("  a drawing or a photo?", "app/imaging/chain.py", "reads_as_photo"),
    ("  ink, paper level, crop", "app/imaging/ink.py", "cropped_ink"),
    ("  shrunk to 64 px", "app/imaging/shape.py", "shrink"),
    ("  slant measured", "app/imaging/shape.py", "measure_slant"),
    ("  stood upright", "app/imaging/shape.py", "deskew"),
    ("  fitted into 32 px", "app/imaging/shape.py", "fit_into_box"),
    ("  bitmap", "app/imaging/shape.py", "to_bitmap"),
    ("  pen width", "app/imaging/shape.py", "normalise_stroke"),
    ("  centred", "app/imaging/shape.py", "centre"),
    ("  4x4 block counts", "app/imaging/shape.py", "count_blocks"),
    ("the vote: nearest samples", "app/recognition/vote.py", "neighbours"),
    ("the vote: weighing them", "app/recognition/vote.py", "vote"),
    ("the confidence calibrated", "app/recognition/confidence.py", "calibrate"),
    ("the PNG kept with the prediction", "app/imaging/pictures.py", "archive_png"),
    ("the history write (SQLite)", "app/history/predictions.py", "record"),
    ("the answer's body (JSON)", "app/web/answers.py", "answer_body"),
    ("  as JSON", "flask/json/provider.py", "response"),
    ("Flask: the response finished", "flask/app.py", "finalize_request"),
    ("logging (none at the level set)", "logging/__init__.py", "_log"),
)


def start_app(storage):
    """The service on its embedded defaults in ``storage``, its model trained."""
    os.environ.update(STORAGE_DIR=storage, SECRET_KEY="request-profile-secret-key",
                      API_RATE_LIMIT="1000000/second", LOG_LEVEL="warning")
    from app import create_app
    from app.extensions import get_recognizer

    app = create_app()
    with app.app_context():
        get_recognizer().wait_for_training()
    return app


def canvas_body():
    """The JSON body of POST /api/predict for one real canvas drawing."""
    made = subprocess.run([sys.executable, "-m", "bench.canvas_body", "predict", "--bodies", "1"],
                          capture_output=True, text=True, check=True)
    return json.loads(made.stdout)


def step_times(stats, requests):
    """Microseconds per request of each of STEPS (the dearest entry of that
    name in that file: a method and a function may share it)."""
    found = {}
    for (path, _, name), (_, _, _, cumulative, _) in stats.stats.items():
        for label, suffix, function in STEPS:
            if name == function and path.replace(os.sep, "/").endswith(suffix):
                found[label] = max(found.get(label, 0.0), cumulative * 1e6 / requests)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.request_profile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)

    logging.disable(logging.WARNING)  # training's progress: the figures are what is printed
    with tempfile.TemporaryDirectory() as storage:
        app = start_app(storage)
        client, body = app.test_client(), canvas_body()
        for _ in range(args.warmup):
            assert client.post("/api/predict", json=body).status_code == 200

        started = time.process_time()
        for _ in range(args.requests):
            client.post("/api/predict", json=body)
        unprofiled = (time.process_time() - started) * 1e6 / args.requests

        profile = cProfile.Profile()
        started = time.process_time()
        profile.enable()
        for _ in range(args.requests):
            client.post("/api/predict", json=body)
        profile.disable()
        profiled = (time.process_time() - started) * 1e6 / args.requests
        times = step_times(pstats.Stats(profile), args.requests)

    print(f"POST /api/predict, one 280x280 canvas PNG, {args.requests:,} requests in process "
          f"(Flask's test client)")
    print(f"CPU per request: {unprofiled:,.0f} us unprofiled; {profiled:,.0f} us under cProfile "
          f"(x{profiled / unprofiled:.2f})\n")
    print(f"{'step':<40} {'us/request':>11} {'share':>7}  (under cProfile)")
    whole = times.get(STEPS[0][0]) or profiled
    for label, _, _ in STEPS:
        if label in times:
            print(f"{label:<40} {times[label]:>11,.0f} {times[label] / whole:>7.1%}")
        else:
            print(f"{label:<40} {'-':>11}")


if __name__ == "__main__":
    main()
