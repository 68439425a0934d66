"""How the live service learns from a person who corrects only its mistakes.

    python -m bench.learning [--readings 10000] [--data-dir ../shared/data]
                             [--population mnist|semeion] [--labels-for-load 10000]

Starts gunicorn (2 workers, the repository's gunicorn.conf.py, a fresh
STORAGE_DIR with SQLite, or DATABASE_URL if set) on 127.0.0.1 and, over HTTP:

1. reads a fixed held-out set of 2,000 digits of the population (as canvas
   PNGs, in batches) with the default model: the accuracy before;
2. streams ``--readings`` other digits of the same population, one
   ``POST /api/predict`` each, and labels every mistake with the truth through
   ``PUT /api/predictions/{id}/label``, as a person would; prints the accuracy
   of each window of 500 readings and the labels so far;
3. reads the held-out set again after 2,000 readings and at the end;
4. for every 20th label, the time from sending it to the changed answer on
   both workers: the same image is read on new connections (which the
   workers take in turn) until 10 answers in a row are the label;
5. the latency of ``/api/predict`` (p50, p99; 4 clients at once) before any
   label and once ``--labels-for-load`` labels are learned (the extra ones
   are confirmations of other digits), and their ratio.

MNIST: the stream is training digits 0.. (``--stream-start``), the held-out
set 50,000-51,999 (``--held-out-start``).
Semeion (1,593 digits): the stream is the first 1,000, the held-out set the rest.
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.accuracy import DEFAULT_DATA_DIR
from bench.renders import canvas_png

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 500
BATCH = 64
LATENCY_EVERY = 20  # labels between two label-to-answer measurements
IN_A_ROW = 10  # answers in a row that must be the label
POLL_TIMEOUT = 10.0  # seconds before a label that never shows counts as missed


class Service:
    """A gunicorn serving the application, and requests to it."""

    def __init__(self, port, storage, workers):
        self.port = port
        env = {**os.environ, "STORAGE_DIR": str(storage), "SECRET_KEY": "bench-secret",
               "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers),
               "GUNICORN_ACCESS_LOG": "", "GUNICORN_MAX_REQUESTS": "0", "LOG_LEVEL": "warning",
               # one person labelling fast, from this machine: not rate-limited
               "RATELIMIT_ENABLED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.log = open(Path(storage) / "gunicorn.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.connection = None
        self.failures = 0

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def request(self, method, path, body=None, fresh=False):
        """(status, JSON body); ``fresh``: on a new connection."""
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in range(2):
            connection = (http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                          if fresh else self._connection())
            try:
                connection.request(method, path, payload, headers)
                response = connection.getresponse()
                data = response.read()
                if fresh:
                    connection.close()
                return response.status, json.loads(data) if data else None
            except (ConnectionError, http.client.HTTPException):
                self.connection = None  # a kept-alive connection the server closed
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _connection(self):
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return self.connection

    def wait_for_full_model(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, body = self.request("GET", "/api/model", fresh=True)
                if status == 200 and not body["provisional"]:
                    return body
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("the service gave no full model in time; see its gunicorn.log")

    def predict(self, image, fresh=False):
        status, body = self.request("POST", "/api/predict", {"image": image}, fresh)
        if status != 200:
            self.failures += 1
            return None
        return body

    def read_all(self, images):
        """The digits read for ``images``, in batches."""
        digits = []
        for start in range(0, len(images), BATCH):
            status, body = self.request("POST", "/api/predict/batch",
                                        {"images": images[start:start + BATCH]})
            if status != 200:
                raise SystemExit(f"a batch failed: {status} {body}")
            digits += [item.get("digit", -1) for item in body["results"]]
        return np.array(digits)

    def label(self, prediction_id, label):
        status, body = self.request("PUT", f"/api/predictions/{prediction_id}/label",
                                    {"label": int(label)})
        if status != 200:
            raise SystemExit(f"a label failed: {status} {body}")


def load_population(name, data_dir, readings, stream_start=0, held_out_start=50_000):
    """(stream images, stream labels, held-out images, held-out labels) as
    base64 canvas PNGs."""
    if name == "mnist":
        data = np.load(Path(data_dir) / "mnist-train.npz")
        images, labels = data["images"], data["labels"]
        stream = slice(stream_start, stream_start + readings)
        held_out = slice(held_out_start, held_out_start + 2000)
        if stream.stop > held_out.start and held_out.stop > stream.start:
            raise SystemExit("the stream and the held-out digits overlap")
    else:
        data = np.load(Path(data_dir) / "semeion.npz")
        images, labels = data["images"], data["labels"]
        stream = slice(0, min(readings, 1000))
        held_out = slice(1000, len(labels))

    def render(part):
        return [base64.b64encode(canvas_png(ink)).decode("ascii") for ink in images[part]]

    return render(stream), labels[stream], render(held_out), labels[held_out]


def time_to_answer(service, image, label, sent_at):
    """Seconds from ``sent_at`` until IN_A_ROW answers in a row, on new
    connections, are ``label``; None when that took over POLL_TIMEOUT."""
    in_a_row, first_right = 0, None
    while time.monotonic() - sent_at < POLL_TIMEOUT:
        answer = service.predict(image, fresh=True)
        if answer is not None and answer["digit"] == label:
            first_right = first_right or time.monotonic()
            in_a_row += 1
            if in_a_row == IN_A_ROW:
                return first_right - sent_at
        else:
            in_a_row, first_right = 0, None
    return None


def load_latency(service, images, seconds=10.0, clients=4):
    """p50 and p99 (ms) of /api/predict with ``clients`` at once for ``seconds``,
    and how many requests failed."""
    latencies, failures, lock = [], [0], threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset):
        own = Service.__new__(Service)  # a connection of its own
        own.port, own.connection, own.failures = service.port, None, 0
        index = offset
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            answer = own.predict(images[index % len(images)])
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                failures[0] += answer is None
            index += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    return p50, p99, len(latencies), failures[0]


def accuracy(service, images, labels):
    return float((service.read_all(images) == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--population", choices=("mnist", "semeion"), default="mnist")
    parser.add_argument("--stream-start", type=int, default=0,
                        help="MNIST: the first training digit of the stream")
    parser.add_argument("--held-out-start", type=int, default=50_000,
                        help="MNIST: the first of the 2,000 held-out digits")
    parser.add_argument("--labels-for-load", type=int, default=10_000,
                        help="learned labels when the latency is measured again (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    started = time.monotonic()
    stream, truth, held_out, held_truth = load_population(
        args.population, args.data_dir, args.readings, args.stream_start, args.held_out_start)
    print(f"{args.population}: streaming {len(stream):,} digits, holding out "
          f"{len(held_out):,} (rendered in {time.monotonic() - started:.0f} s)", flush=True)
    storage = Path(tempfile.mkdtemp(prefix="digit-learning-"))
    service = Service(args.port, storage, args.workers)
    try:
        model = service.wait_for_full_model()
        print(f"model {model['version']}, learning {model['learning']}, "
              f"{args.workers} workers", flush=True)
        before = accuracy(service, held_out, held_truth)
        p50_before, p99_before, count_before, failed_before = (
            load_latency(service, held_out) if args.labels_for_load else (0, 0, 0, 0))
        print(f"held-out accuracy before: {before:.2%}", flush=True)
        results = run_stream(service, stream, truth, held_out, held_truth)
        after = accuracy(service, held_out, held_truth)
        print(f"\nheld-out accuracy: before {before:.2%}, after {results['at_2000']} "
              f"(2,000 readings), after {after:.2%} ({len(stream):,} readings, "
              f"{results['labels']} labels)")
        delays = [d for d in results["delays"] if d is not None]
        missed = results["delays"].count(None)
        if delays:
            print(f"label to changed answer on both workers ({len(delays)} labels measured, "
                  f"{missed} missed): median {np.median(delays) * 1000:.0f} ms, "
                  f"max {max(delays) * 1000:.0f} ms")
        print(f"predictions that failed during learning: {service.failures}")
        if args.labels_for_load:
            learned = add_labels(service, args.labels_for_load, results["labels"], held_out,
                                 held_truth, args.data_dir)
            p50_after, p99_after, count_after, failed_after = load_latency(service, held_out)
            print(f"/api/predict, 4 clients for 10 s: p50 {p50_before:.1f} ms, p99 "
                  f"{p99_before:.1f} ms with no label ({count_before} requests, {failed_before}"
                  f" failed); p50 {p50_after:.1f} ms, p99 {p99_after:.1f} ms with {learned:,} "
                  f"labels learned ({count_after} requests, {failed_after} failed); "
                  f"p99 ratio {p99_after / p99_before:.2f}")
    finally:
        service.stop()
        shutil.rmtree(storage, ignore_errors=True)
    print(f"({time.monotonic() - started:.0f} s in all)")


def run_stream(service, stream, truth, held_out, held_truth):
    """Read the stream, labelling every mistake; the figures of the run."""
    right_in_window, labels, delays, at_2000 = 0, 0, [], "-"
    print(f"{'readings':>9} {'window right':>13} {'labels':>7}")
    for index, (image, label) in enumerate(zip(stream, truth, strict=True), start=1):
        answer = service.predict(image)
        if answer is not None and answer["digit"] == label:
            right_in_window += 1
        elif answer is not None and answer["prediction_id"] is not None:
            sent_at = time.monotonic()
            service.label(answer["prediction_id"], label)
            labels += 1
            if labels % LATENCY_EVERY == 0:
                delays.append(time_to_answer(service, image, int(label), sent_at))
        if index % WINDOW == 0 or index == len(stream):
            size = (index - 1) % WINDOW + 1
            print(f"{index:>9,} {right_in_window / size:>13.1%} {labels:>7,}", flush=True)
            right_in_window = 0
        if index == 2000:
            at_2000 = f"{accuracy(service, held_out, held_truth):.2%}"
            print(f"          held-out accuracy after 2,000 readings: {at_2000}", flush=True)
    return {"labels": labels, "delays": delays, "at_2000": at_2000}


def add_labels(service, total, learned, held_out, held_truth, data_dir):
    """Learn labels until ``total`` are: confirmations of other MNIST digits
    (60,000 down), read in batches. How many are learned."""
    data = np.load(Path(data_dir) / "mnist-train.npz")
    needed = max(0, total - learned)
    images, labels = data["images"][60_000 - needed:], data["labels"][60_000 - needed:]
    for start in range(0, needed, BATCH):
        batch = [base64.b64encode(canvas_png(ink)).decode("ascii")
                 for ink in images[start:start + BATCH]]
        status, body = service.request("POST", "/api/predict/batch", {"images": batch})
        for item, label in zip(body["results"], labels[start:start + BATCH], strict=True):
            if item.get("prediction_id"):
                service.label(item["prediction_id"], label)
    time.sleep(2)  # every worker has looked since
    return service.request("GET", "/api/model")[1]["labels_learned"]


if __name__ == "__main__":
    main()
