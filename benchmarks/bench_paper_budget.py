"""The paper profile's time budget: the cost of the work that dominates it (family A's SGHMC
chains, family B's Adam and SWA epochs), how the throughput of one device scales when K runs
share it (K separate processes, as Snakemake runs K jobs), and the profile's estimated wall time.

    python benchmarks/bench_paper_budget.py [--device cpu|cuda] [--config configs/paper.yaml]
                                            [--sharing 1 2 4 8] [--epochs 2]

Data: random tensors of the config's data set's size (CIFAR-10: 50,000 × 3,072), the config's
MLP and batch size. The estimate counts every epoch the config's A and B runs train (B's SWA
phase trains two models per epoch) at the measured aggregate throughput with the best K, and
assumes the other families are small beside them (their paper runs are minutes on a CPU).
Prints a table; writes benchmarks/paper_budget.csv.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_training import SIZES, ours, sghmc  # noqa: E402

from nnrepro.config import family_runs, load, validate  # noqa: E402


def epochs_of(config: dict) -> dict[str, int]:
    """Epochs of training the config asks for: A's chains, B's base run and SWA phase."""
    out = {}
    if "A" in config["run"]:
        out["A (SGHMC)"] = sum(s["epochs"] for s in family_runs(config, "A").values())
    if "B" in config["run"]:
        out["B (Adam + SWA)"] = sum(s["epochs"] + 2 * s["swa"]["epochs"]
                                    for s in family_runs(config, "B").values())
    return out


def one_process(kind: str, dataset: str, epochs: int, batch: int, device: str) -> float:
    """Seconds per epoch of one run (first epoch discarded as warm-up)."""
    n, d = SIZES[dataset]
    dev = torch.device(device)
    x, y = torch.randn(n, d, device=dev), torch.randint(0, 10, (n,), device=dev)
    fn = sghmc if kind == "A" else ours
    times = fn(x, y, epochs + 1, batch, dev)[1:]
    return sum(times) / len(times)


def shared(kind: str, dataset: str, epochs: int, batch: int, device: str, k: int) -> float:
    """Aggregate epochs per second when k processes train at once on one device."""
    cmd = [sys.executable, __file__, "--worker", kind, "--dataset", dataset, "--epochs", str(epochs),
           "--batch-size", str(batch), "--device", device]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(k)]
    per_epoch = [json.loads(p.communicate()[0])["s_per_epoch"] for p in procs]
    return k / (sum(per_epoch) / k)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--config", default=str(Path(__file__).parents[1] / "configs" / "paper.yaml"))
    p.add_argument("--sharing", type=int, nargs="+", default=[1, 2])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--dataset", default=None)
    p.add_argument("--worker", choices=["A", "B"], default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.worker:                               # one of the K processes of `shared`
        print(json.dumps({"s_per_epoch": one_process(a.worker, a.dataset, a.epochs, a.batch_size,
                                                     a.device)}))
        return
    config = validate(load(a.config))
    rows = []
    for kind, label in (("A", "A (SGHMC)"), ("B", "B (Adam + SWA)")):
        if kind not in config["run"]:
            continue
        fam = config["families"][kind]
        dataset, batch = a.dataset or fam["dataset"], a.batch_size or fam["batch_size"]
        for k in a.sharing:
            throughput = shared(kind, dataset, a.epochs, batch, a.device, k)
            rows.append({"work": label, "device": a.device, "processes": k, "dataset": dataset,
                         "batch": batch, "s_per_epoch_one_run": k / throughput,
                         "epochs_per_s_all": throughput})
    df = pd.DataFrame(rows)
    need = epochs_of(config)
    best = df.groupby("work")["epochs_per_s_all"].max()
    df["paper_epochs"] = df["work"].map(need)
    df["estimated_h_at_best_k"] = df["work"].map(lambda w: need[w] / best[w] / 3600)
    print(df.round(4).to_string(index=False))
    total = sum(need[w] / best[w] for w in need) / 3600
    print(f"\n{a.config} on {a.device} ({torch.cuda.get_device_name(0) if a.device == 'cuda' else 'CPU'}): "
          f"{need} epochs; estimated {total:.1f} h for families A and B at the best measured sharing")
    df.to_csv(Path(__file__).with_name("paper_budget.csv"), index=False)


if __name__ == "__main__":
    main()
