"""Family A's SGHMC step and family J's Adam step: K runs separate (today) or as one stacked model
(issue 25).

    OMP_NUM_THREADS=1 python benchmarks/bench_stacked.py [--device cpu|cuda] [--families A J]

separate: K plain models.MLP, each with recipes.SGHMCChain (samplers.SGHMC, LambdaLR,
train_epoch) and family A's per-step record callback (ε, t, path length; every 10th step's
diagnostics kept), stepped one after another. stacked: nnrepro.stacked.StackedSGHMCChain, the
same K runs (each its own generator), diagnostics on every 10th step only.
Sizes: tiny = digits MLP 64-32-16-10, batch 64, 20 steps per epoch; paper = CIFAR-10 MLP
3072-256-128-10, batch 128, 10 steps per epoch (random data of those shapes). K in {1, 8, 32}.
J: separate = K pruned models.MLP (torch.nn.utils.prune masks, half the weights), each with
optimizers.Adam and training.train_epoch; stacked = families.j.experiment.train_stack's step
(StackedMLP with masks, stacked.StackedAdam); the evaluations (every record_every steps) are
not counted. Sizes: tiny = digits 64-40-20-10, batch 128; paper = LeNet-300-100 784-300-100-10,
batch 60 (F&C), 20 steps per epoch. K in {1, 5 (the paper's seeds), 8, 32}.

Per (size, K, mode): one warm-up epoch (tiny only), one epoch counted (aten ops, a TorchDispatchMode that
tallies ``func``), then the fastest of 5 (tiny) or 1 (paper) timed epochs. Columns:
  ops_per_run_step      aten ops dispatched per step of one run (ops / (steps·K))
  host_us_per_run_step  host time per run-step: the Python loop's wall time (on CUDA without
                        the final synchronize, i.e. the time to enqueue), / (steps·K)
  ms_per_step           wall time, synchronized, for all K runs to advance one step
Appends nothing: rewrites the CSV rows of the device and families it runs, keeps the others.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from nnrepro.models import MLP
from nnrepro.recipes import SGHMCChain
from nnrepro.stacked import StackedSGHMCChain

SIZES = {"tiny": (64, (32, 16), 10, 64, 20), "paper": (3072, (256, 128), 10, 128, 10)}
KS = (1, 8, 32)
REPEATS = {"tiny": 5, "paper": 1}                 # timed epochs (the fastest is kept)
WARMUP = {"tiny": 1, "paper": 0}                  # at paper size the counted epoch warms up
RECORD_EVERY = 10
DIAGNOSTICS = ["norm2", "theta_r", "thetar_rate", "dnorm2_dt", "r_norm2", "kinetic_temperature",
               "step_length"]
SAMPLER = dict(name="sghmc", lr=5e-4, friction=200.0, mass=1.0, temperature=1.0, gamma=1.0,
               alpha=1.0, scale_lr=False, prior_scale=1.0, schedule="cosine", cycle_epochs=10,
               burnin_cycles=2, resample="none")   # configs/paper.yaml's A, T and γ varied below


class CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func] += 1
        return func(*args, **(kwargs or {}))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def configs(k: int) -> list[dict]:
    temps, gammas = (1.0, 0.3, 0.1), (1.0, 0.3)
    return [{**SAMPLER, "temperature": temps[i % 3], "gamma": gammas[i % 2]} for i in range(k)]


def nets(k, n_in, hidden, n_out, device):
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        out.append(MLP(n_in, hidden, n_out).to(device))
    return out


class Separate:
    """K chains as family A trains each today (experiment.run's record callback)."""

    def __init__(self, k, size, x, y, device):
        n_in, hidden, n_out, self.batch, steps = SIZES[size]
        self.x, self.y, self.first = x, y, 0
        self.runs = []
        for cfg, model, seed in zip(configs(k), nets(k, n_in, hidden, n_out, device), range(k)):
            gen = torch.Generator(device=device).manual_seed(seed)
            chain = SGHMCChain(model, cfg, gen, steps)
            self.runs.append(dict(chain=chain, gen=gen, path=0.0, t=0.0))

    def epoch(self):
        for run in self.runs:
            opt, kept = run["chain"].sampler, []

            def record(i, out, y, U, run=run, opt=opt, kept=kept):
                d = opt.diagnostics
                run["path"] = run["path"] + d["step_length"]
                run["t"] += opt.param_groups[0]["lr"]
                if (self.first + i) % RECORD_EVERY == 0:
                    kept.append(torch.stack([d[c] for c in DIAGNOSTICS]))

            run["chain"].epoch(self.x, self.y, self.batch, run["gen"], record)
        self.first += len(self.x) // self.batch


class Stacked:
    def __init__(self, k, size, x, y, device):
        n_in, hidden, n_out, self.batch, steps = SIZES[size]
        gens = [torch.Generator(device=device).manual_seed(seed) for seed in range(k)]
        self.chain = StackedSGHMCChain.from_mlps(nets(k, n_in, hidden, n_out, device), configs(k),
                                                 gens, steps)
        self.x, self.y = x, y

    def epoch(self):
        self.chain.epoch(self.x, self.y, self.batch, RECORD_EVERY)


# ---------------------------------------------------------------- family J: Adam on pruned nets
J_SIZES = {"tiny": (64, (40, 20), 10, 128, 20), "paper": (784, (300, 100), 10, 60, 20)}
J_KS = (1, 5, 8, 32)


def j_nets(k, size, device):
    from nnrepro.families.j.experiment import prunable, prune_round
    n_in, hidden, n_out, _, _ = J_SIZES[size]
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        net = prunable(MLP(n_in, hidden, n_out).to(device))
        prune_round(net, 0.5, 0.25)                    # a pruned round: masks on every layer
        out.append(net)
    return out


class SeparateJ:
    def __init__(self, k, size, x, y, device):
        from nnrepro import optimizers
        self.nets = j_nets(k, size, device)
        self.opts = [optimizers.Adam(n.parameters(), lr=1.2e-3) for n in self.nets]
        self.gens = [torch.Generator(device=device).manual_seed(s) for s in range(k)]
        self.x, self.y, self.batch = x, y, J_SIZES[size][3]

    def epoch(self):
        from nnrepro.training import train_epoch
        for net, opt, gen in zip(self.nets, self.opts, self.gens):
            train_epoch(net, opt, self.x, self.y, self.batch, gen)


class StackedJ:
    def __init__(self, k, size, x, y, device):
        from types import SimpleNamespace
        self.nets = j_nets(k, size, device)
        self.gens = [torch.Generator(device=device).manual_seed(s) for s in range(k)]
        self.d = SimpleNamespace(x_train=x, y_train=y)
        self.s = dict(optimizer={"name": "adam", "lr": 1.2e-3}, epochs=1, record_every=10 ** 9,
                      batch_size=J_SIZES[size][3])

    def epoch(self):
        from nnrepro.families.j import experiment as j
        j._stack_scores = lambda model, d: torch.zeros(model.k, 4)   # evaluations not counted
        j.train_stack(self.nets, self.s, self.d, self.gens)


BENCHES = {"A": (SIZES, KS, Separate, Stacked), "J": (J_SIZES, J_KS, SeparateJ, StackedJ)}


def measure(mode, k, size, device, family="A") -> dict:
    sizes, _, separate, stacked = BENCHES[family]
    n_in, hidden, n_out, batch, steps = sizes[size]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch * steps, n_in, generator=g).to(device)
    y = torch.randint(n_out, (batch * steps,), generator=g).to(device)
    bench = (separate if mode == "separate" else stacked)(k, size, x, y, device)
    for _ in range(WARMUP[size]):
        bench.epoch()
    with CountOps() as count:
        bench.epoch()
    host = wall = float("inf")
    for _ in range(REPEATS[size]):                                 # the fastest of a few epochs
        sync(device)
        t0 = time.perf_counter()
        bench.epoch()
        h = time.perf_counter() - t0
        sync(device)
        host, wall = min(host, h), min(wall, time.perf_counter() - t0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return dict(family=family, size=size, k=k, mode=mode, device=name, torch=torch.__version__,
                ops_per_run_step=sum(count.ops.values()) / (steps * k),
                host_us_per_run_step=1e6 * host / (steps * k), ms_per_step=1e3 * wall / steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=str(Path(__file__).with_name("stacked.csv")))
    ap.add_argument("--sizes", nargs="+", default=list(SIZES))
    ap.add_argument("--families", nargs="+", default=list(BENCHES))
    args = ap.parse_args()
    device = torch.device(args.device)
    rows = [measure(mode, k, size, device, fam) for fam in args.families for size in args.sizes
            for k in BENCHES[fam][1] for mode in ("separate", "stacked")]
    for r in rows:
        print(f"{r['family']} {r['size']:5} K={r['k']:2} {r['mode']:8} ops/run-step {r['ops_per_run_step']:7.1f} "
              f"host µs/run-step {r['host_us_per_run_step']:9.1f} ms/step {r['ms_per_step']:9.2f}",
              flush=True)
    new = pd.DataFrame(rows)
    out = Path(args.out)
    if out.exists():
        old = pd.read_csv(out)
        keep = (old["device"] != new["device"].iloc[0]) | ~old["family"].isin(args.families)
        new = pd.concat([old[keep], new], ignore_index=True)
    new.to_csv(out, index=False)


if __name__ == "__main__":
    main()
