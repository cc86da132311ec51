"""The paper path end to end on a CPU (issue 25 item 6): ``configs/paper-shaped.yaml`` (the paper
profile's widths, grids, jobs and stacking; few epochs, little data) through Snakemake, all 47
figures, timed. Not a test of the verdicts: at this scale they mean nothing.

    python benchmarks/paper_shaped.py [--workdir DIR] [--n-train 512] [--n-test 128]

No download: small CIFAR-10 and MNIST files are written in their official formats (CIFAR-10's
pickled batches, MNIST's gzipped IDX), class-dependent so that the nets have something to learn,
and preprocessed with ``nnrepro.data.preprocess`` into the workflow's ``data/processed``; the
workflow then finds its data made. Appends one row to ``benchmarks/paper_shaped.csv``. Run again
on the same ``--workdir``, it resumes (finished jobs are kept; the row's time is that call's).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import pickle
import struct
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def images(rng, n: int, shape: tuple[int, ...], prototypes: np.ndarray):
    """n uint8 images: a class prototype plus noise, labels uniform over 10 classes."""
    y = rng.integers(0, 10, n)
    x = prototypes[y] + rng.normal(0, 60, (n, *shape))
    return np.clip(x, 0, 255).astype(np.uint8), y


def write_cifar10(raw: Path, n_train: int, n_test: int, rng) -> None:
    """cifar-10-batches-py/: five training batches and a test batch, as the official archive."""
    folder = raw / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    protos = rng.uniform(0, 255, (10, 3072))
    per = -(-n_train // 5)
    for name, n in [*[(f"data_batch_{i}", per) for i in range(1, 6)], ("test_batch", n_test)]:
        x, y = images(rng, n, (3072,), protos)
        batch = {"batch_label": name, "labels": y.tolist(), "data": x,
                 "filenames": [f"{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist(raw: Path, n_train: int, n_test: int, rng) -> None:
    """MNIST/raw/*-ubyte.gz: the four IDX files torchvision reads."""
    folder = raw / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    protos = rng.uniform(0, 255, (10, 28, 28))
    for split, n in (("train", n_train), ("t10k", n_test)):
        x, y = images(rng, n, (28, 28), protos)
        _idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        _idx(folder / f"{split}-labels-idx1-ubyte.gz", y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/nnrepro-paper-shaped")
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--n-test", type=int, default=128)
    ap.add_argument("--cores", default="all")
    a = ap.parse_args()
    if min(a.n_train, a.n_test) < 10:
        ap.error(f"--n-train {a.n_train} / --n-test {a.n_test}: at least 10 images each (one per class)")
    from nnrepro import data

    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    raw, processed = work / "data" / "raw", work / "data" / "processed"
    write_cifar10(raw, a.n_train, a.n_test, rng)
    write_mnist(raw, a.n_train, a.n_test, rng)
    for name in ("cifar10", "mnist"):
        data.preprocess(name, raw, processed / f"{name}.pt")
    (work / "config.yaml").write_text(f"extend: {REPO / 'configs' / 'paper-shaped.yaml'}\n")

    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(work), "--cores", a.cores, "--rerun-incomplete"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    t0 = time.perf_counter()
    with open(work / "snakemake.log", "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.perf_counter() - t0
    if rc:
        sys.exit(f"snakemake failed ({rc}); see {work / 'snakemake.log'}")

    results = work / "results"
    figures = sorted(p.stem for p in (results / "figures").glob("*.png"))
    stacks = {}
    for fam in ("A", "J"):
        sizes = [json.loads(p.read_text()).get("stack", 1)
                 for p in (results / "runs" / fam).glob("*/run.json")]
        stacks[fam] = max(sizes, default=0)
    verdicts = {}
    with open(results / "claims.csv") as f:
        for row in csv.DictReader(f):
            verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
    import torch

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    row = {"date": date.today().isoformat(), "commit": commit, "torch": torch.__version__,
           "cores": os.cpu_count(), "n_train": a.n_train, "n_test": a.n_test,
           "wall_min": round(wall / 60, 1), "figures": len(figures),
           "stack_A": stacks["A"], "stack_J": stacks["J"],
           **{v: verdicts.get(v, 0) for v in ("pass", "fail", "inconclusive", "reference")}}
    out = REPO / "benchmarks" / "paper_shaped.csv"
    new = not out.exists()
    with open(out, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)
    print(json.dumps(row))
    if len(figures) != 47:
        sys.exit(f"{len(figures)} figures, expected 47")


if __name__ == "__main__":
    main()
