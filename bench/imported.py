"""Bring-your-own-data accuracy: ``manage.py train --data`` on the first 50,000
MNIST training digits, then ``manage.py evaluate --data`` on the last 10,000,
through the real command line in a scratch STORAGE_DIR.

    python -m bench.imported [--data-dir ../shared/data] [--train 50000]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"


def manage(storage, *args):
    env = {**os.environ, "STORAGE_DIR": str(storage)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.imported",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--train", type=int, default=50_000, help="digits to train on")
    args = parser.parse_args(argv)
    source = args.data_dir / "mnist-train.npz"
    if not source.exists():
        sys.exit(f"{source} is missing: this bench needs ../shared/data (see its README)")

    with np.load(source) as data:
        images, labels = data["images"], data["labels"]
    with tempfile.TemporaryDirectory(prefix="digit-reader-imported-") as scratch:
        scratch = Path(scratch)
        np.savez(scratch / "train.npz", images=images[:args.train], labels=labels[:args.train])
        np.savez(scratch / "test.npz", images=images[args.train:], labels=labels[args.train:])
        storage = scratch / "storage"

        output, seconds = manage(storage, "train", "--data", str(scratch / "train.npz"))
        print(output.strip())
        print(f"(train: {seconds:.0f} s)\n")
        output, seconds = manage(storage, "evaluate", "--data", str(scratch / "test.npz"),
                                 "--confusion", str(scratch / "confusion.png"))
        print(output.strip())
        print(f"(evaluate: {seconds:.0f} s)")


if __name__ == "__main__":
    main()
