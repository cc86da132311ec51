"""Per-epoch training time of nnrepro's loop against a plain PyTorch loop, same model and data.

    python benchmarks/bench_training.py [--device cpu|cuda] [--epochs 5]

nnrepro: data resident on the device, shuffled by index, Adam written from scratch
(nnrepro.optimizers.Adam). Plain: the usual TensorDataset + DataLoader(shuffle=True) and
torch.optim.Adam. "nnrepro SGHMC": family A's step, SGHMC (nnrepro.samplers) on the potential
U = N·NLL + ‖θ‖²/2 with its per-step diagnostics (‖θ‖², θᵀr, ‖r‖², ...) kept on the device.
MLP 256-128-10 on digits-sized, MNIST-sized and CIFAR-10-sized data.
Prints a table and writes benchmarks/results.csv.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from nnrepro.models import MLP
from nnrepro.optimizers import Adam
from nnrepro.samplers import SGHMC, potential
from nnrepro.training import generator, train_epoch

SIZES = {"digits": (1347, 64), "mnist": (60000, 784), "cifar10": (50000, 3072)}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def ours(x, y, epochs, batch, device):
    model = MLP(x.shape[1]).to(device)
    opt = Adam(model.parameters(), lr=1e-3)
    gen = generator(0, device)
    times = []
    for _ in range(epochs):
        sync(device); t = time.perf_counter()
        train_epoch(model, opt, x, y, batch, gen)
        sync(device); times.append(time.perf_counter() - t)
    return times


def sghmc(x, y, epochs, batch, device):
    model = MLP(x.shape[1]).to(device)
    gen = generator(0, device)
    opt = SGHMC(model.parameters(), lr=5e-4, friction=200.0, generator=gen)
    times = []
    for _ in range(epochs):
        sync(device); t = time.perf_counter()
        rows = []
        for idx in torch.randperm(len(x), generator=gen, device=device).split(batch):
            U, nll = potential(model, x[idx], y[idx], len(x))
            opt.zero_grad(); U.backward(); opt.step()
            rows.append(torch.stack([U.detach(), nll.detach(), *opt.diagnostics.values()]))
        torch.stack(rows).cpu()
        sync(device); times.append(time.perf_counter() - t)
    return times


def plain(x, y, epochs, batch, device):
    model = MLP(x.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x.cpu(), y.cpu()),
                                         batch_size=batch, shuffle=True)
    times = []
    for _ in range(epochs):
        sync(device); t = time.perf_counter()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
        sync(device); times.append(time.perf_counter() - t)
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    rows = []
    for name, (n, d) in SIZES.items():
        x = torch.randn(n, d, device=device)
        y = torch.randint(0, 10, (n,), device=device)
        for loop, fn in (("nnrepro", ours), ("plain PyTorch", plain), ("nnrepro SGHMC", sghmc)):
            times = fn(x, y, a.epochs + 1, a.batch_size, device)[1:]  # first epoch: warm-up
            rows.append({"data": name, "n": n, "features": d, "loop": loop, "device": a.device,
                         "s_per_epoch": sum(times) / len(times)})
    df = pd.DataFrame(rows)
    wide = df.pivot(index="data", columns="loop", values="s_per_epoch")
    wide["ratio nnrepro / plain"] = wide["nnrepro"] / wide["plain PyTorch"]
    wide["ratio SGHMC / plain"] = wide["nnrepro SGHMC"] / wide["plain PyTorch"]
    print(wide.round(4).to_string())
    df.to_csv(Path(__file__).with_name("results.csv"), index=False)


if __name__ == "__main__":
    main()
