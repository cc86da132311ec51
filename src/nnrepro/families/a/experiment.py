"""Family A (seed 000, "L2 norm burst during BNN training"): SGHMC on an MLP, one grid point
(T, γ, α, momentum resampling, seed) per run.

The chain starts from the network's initialisation with r = 0 and runs ``epochs`` passes of
minibatch SGHMC (nnrepro.samplers) on U = N·NLL + ‖θ‖²/(2σ²). Epochs are grouped into cycles of
``cycle_epochs``; at the end of each cycle after ``burnin_cycles`` the current θ is collected
into the running ensemble, and with ``resample: cycle`` the momentum is redrawn from its
stationary law. ``schedule: cosine`` makes the step size cyclical within each cycle (cSG-MCMC).

Tables:
  steps    per recorded step: ε, time t = Σε, U, minibatch NLL, ‖θ‖², θᵀr, 2γM⁻¹θᵀr,
           (‖θ_{k+1}‖² − ‖θ_k‖²)/ε, ‖r‖², kinetic temperature, ‖Δθ‖
  epochs   per epoch: ‖θ‖₂, train NLL, test accuracy, NLL, ECE and Brier score of the current θ
           and of the running ensemble of collected samples (nnrepro.metrics),
           Rademacher proxy Π_l‖W_l‖_F · max‖x‖/√n (Bartlett & Mendelson bound, seed 000)
  samples  per collected sample: distance to the previous one, path length since it, metrics
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from nnrepro import data, models
from nnrepro.ensembles import RunningEnsemble, predict_probs
from nnrepro.metrics import evaluate
from nnrepro.models import flat_params
from nnrepro.recipes import SGHMCChain
from nnrepro.results import Status
from nnrepro.training import RunState, finite, generator

METRICS = ("acc", "nll", "ece", "brier")   # of a predictive distribution (nnrepro.metrics)

DIAGNOSTICS = ["norm2", "theta_r", "thetar_rate", "dnorm2_dt", "r_norm2", "kinetic_temperature",
               "step_length"]                        # the sampler's, per step (nnrepro.samplers)
STEP_COLUMNS = ["step", "epoch", "lr", "t", "U", "nll", *DIAGNOSTICS]


def prefixed(metrics, prefix: str) -> dict:
    """``{"acc": .9, ...}`` -> ``{"test_acc": .9, ...}`` for the metrics in METRICS."""
    return {f"{prefix}_{k}": metrics[k] for k in METRICS}


@torch.no_grad()
def rademacher_proxy(model, x: torch.Tensor) -> tuple[float, float]:
    """(Π_l ‖W_l‖_F, Π_l ‖W_l‖_F · max_i ‖x_i‖/√n): the norm part of the Rademacher bound."""
    prod = math.prod(m.weight.norm().item() for m in model if isinstance(m, torch.nn.Linear))
    return prod, prod * x.norm(dim=1).max().item() / math.sqrt(len(x))


def run(ctx) -> Status:
    s, dev = ctx.settings, ctx.device
    sc = s["sampler"]
    ds = data.train_subset(ctx.dataset(s["dataset"]), s["train_subset"])
    gen = generator(s["seed"], dev)                      # shuffling and sampler noise
    model = models.build(s["model"], ds.n_features, ds.n_classes).to(dev)
    steps_per_epoch = ctx.steps_per_epoch(len(ds.y_train), s["batch_size"])
    chain = SGHMCChain(model, sc, gen, steps_per_epoch)
    opt = chain.sampler
    st = RunState(chain=chain, gen=gen, ensemble=RunningEnsemble(),
                  steps=[],                               # one {column: values} per epoch
                  epochs=[], samples=[], prev_sample=None, path=0.0, t=0.0)

    def epoch_fn(epoch: int) -> torch.Tensor:
        first = (epoch - 1) * steps_per_epoch
        kept, head, diagnostics = [], [], []             # recorded steps: host scalars, device values

        def record(i, out, y, U):
            eps = opt.param_groups[0]["lr"]              # the ε this step used
            d = opt.diagnostics
            if sc["name"] == "sghmc":
                st.path = st.path + d["step_length"]     # stays on the device until saved
            st.t += eps
            if (first + i) % s["record_every"] == 0:
                kept.append(i)
                head.append([first + i, epoch, eps, st.t])
                diagnostics.append(torch.stack([d[c] for c in DIAGNOSTICS]))

        U, nll = chain.epoch(ds.x_train, ds.y_train, s["batch_size"], gen, record)
        log = step_log(head, U[kept], nll[kept], diagnostics)
        st.steps.append(log)
        ok = finite(torch.cat([log["U"], log["norm2"], flat_params(model).double().cpu()]))

        # end of epoch: evaluate the current sample (and, at a cycle end, collect it)
        probs = predict_probs(model, ds.x_test)
        row = {"epoch": epoch, "step": epoch * steps_per_epoch, "t": st.t,
               "norm": flat_params(model).norm().item(),
               "train_nll": torch.nn.functional.cross_entropy(
                   predict_probs(model, ds.x_train).clamp_min(1e-300).log(), ds.y_train).item()
               if ok else math.nan}
        row["layer_norm_product"], row["rademacher_proxy"] = rademacher_proxy(model, ds.x_train)
        m = evaluate(probs, ds.y_test)
        row.update(prefixed(m, "test"))
        collect = ok and chain.is_sample(epoch)
        if collect:
            st.ensemble.add(probs)
        e = st.ensemble.evaluate(ds.y_test) if st.ensemble.count else dict.fromkeys(METRICS, math.nan)
        row.update(prefixed(e, "ens"), ens_size=st.ensemble.count)
        if collect:
            theta = flat_params(model).clone()
            dist = math.nan if st.prev_sample is None else (theta - st.prev_sample).norm().item()
            st.samples.append({"sample": st.ensemble.count - 1, "epoch": epoch,
                               "cycle": epoch // sc["cycle_epochs"],
                               "norm": row["norm"], "distance": dist,
                               "path_length": float(st.path) if st.prev_sample is not None else math.nan,
                               **prefixed(m, "test"), **prefixed(e, "ens")})
            st.prev_sample, st.path = theta, 0.0
        if ok:
            chain.end_cycle(epoch)                       # resample: cycle: r ~ N(0, MαT/γ)
        row["collected"] = collect
        st.epochs.append(row)
        return log["U"] if ok else torch.tensor([math.nan])   # U per recorded step; nan: θ, ‖θ‖² not finite

    status = ctx.fit(st, s["epochs"], epoch_fn)
    steps = pd.DataFrame({c: torch.cat([log[c] for log in st.steps]).numpy() if st.steps else []
                          for c in STEP_COLUMNS})
    ctx.save_table("steps", steps.astype({"step": int, "epoch": int}))
    ctx.save_table("epochs", pd.DataFrame(st.epochs))
    ctx.save_table("samples", pd.DataFrame(st.samples, columns=[
        "sample", "epoch", "cycle", "norm", "distance", "path_length",
        *(f"{p}_{k}" for p in ("test", "ens") for k in METRICS)]))
    return status


def step_log(head: list, U: torch.Tensor, nll: torch.Tensor, diagnostics: list) -> dict:
    """One epoch's recorded steps as float64 CPU columns named as in STEP_COLUMNS."""
    h = torch.tensor(head, dtype=torch.float64).reshape(-1, 4)
    d = (torch.stack(diagnostics).double().cpu() if diagnostics
         else torch.zeros(0, len(DIAGNOSTICS), dtype=torch.float64))
    return {**dict(zip(["step", "epoch", "lr", "t"], h.T)), "U": U.double().cpu(),
            "nll": nll.double().cpu(), **dict(zip(DIAGNOSTICS, d.T))}
