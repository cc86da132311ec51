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

import copy
import math

import pandas as pd
import torch

from nnrepro import models
from nnrepro.ensembles import RunningEnsemble, predict_probs
from nnrepro.metrics import evaluate
from nnrepro.models import flat_params
from nnrepro.samplers import SAMPLERS, cosine_schedule, potential
from nnrepro.training import Checkpoint, generator, minibatches, progress, to_cpu

DEFAULTS = {"sampler": {"name": "sghmc", "friction": 1.0, "mass": 1.0, "temperature": 1.0,
                        "gamma": 1.0, "alpha": 1.0, "scale_lr": False, "prior_scale": 1.0,
                        "schedule": "constant", "cycle_epochs": 5, "burnin_cycles": 1,
                        "resample": "none"},
            "record_every": 1, "seed": 0}

METRICS = ("acc", "nll", "ece", "brier")   # of a predictive distribution (nnrepro.metrics)

STEP_COLUMNS = ["step", "epoch", "lr", "t", "U", "nll", "norm2", "theta_r", "thetar_rate",
                "dnorm2_dt", "r_norm2", "kinetic_temperature", "step_length"]


def settings(spec: dict) -> dict:
    s = {**DEFAULTS, **copy.deepcopy(spec)}
    s["sampler"] = {**DEFAULTS["sampler"], **spec.get("sampler", {})}
    return s


def prefixed(metrics, prefix: str) -> dict:
    """``{"acc": .9, ...}`` -> ``{"test_acc": .9, ...}`` for the metrics in METRICS."""
    return {f"{prefix}_{k}": metrics[k] for k in METRICS}


def build_sampler(params, cfg: dict, gen: torch.Generator):
    cfg = dict(cfg)
    name = cfg.pop("name")
    resample = cfg.pop("resample")
    for k in ("prior_scale", "schedule", "cycle_epochs", "burnin_cycles"):
        cfg.pop(k)
    if name == "sgld":
        return SAMPLERS[name](params, lr=cfg["lr"], temperature=cfg["temperature"], generator=gen)
    every = resample if isinstance(resample, int) and not isinstance(resample, bool) else 0
    return SAMPLERS[name](params, resample_every=every, generator=gen, **cfg)


@torch.no_grad()
def rademacher_proxy(model, x: torch.Tensor) -> tuple[float, float]:
    """(Π_l ‖W_l‖_F, Π_l ‖W_l‖_F · max_i ‖x_i‖/√n): the norm part of the Rademacher bound."""
    prod = math.prod(m.weight.norm().item() for m in model if isinstance(m, torch.nn.Linear))
    return prod, prod * x.norm(dim=1).max().item() / math.sqrt(len(x))


def run(spec: dict, out, env) -> str:
    s = settings(spec)
    sc = s["sampler"]
    dev = env.torch_device
    ds = env.dataset(s["dataset"])
    n = len(ds.y_train)
    gen = generator(s["seed"], dev)                      # shuffling and sampler noise
    model = models.build(s.get("model"), ds.n_features, ds.n_classes).to(dev)
    opt = build_sampler(model.parameters(), sc, gen)
    steps_per_epoch = -(-n // s["batch_size"])
    cycle_steps = sc["cycle_epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, cosine_schedule(cycle_steps) if sc["schedule"] == "cosine" else (lambda k: 1.0))
    ensemble = RunningEnsemble()
    steps: list[torch.Tensor] = []                       # one (k, len(STEP_COLUMNS)) block per epoch
    epochs, samples = [], []
    prev_sample, path, t = None, 0.0, 0.0
    ckpt = Checkpoint(out.path / "checkpoint.pt", spec)

    state = ckpt.load()
    start = 0
    if state is not None:
        start = state["epoch"]
        model.load_state_dict(state["model"]); opt.load_state_dict(state["sampler"])
        sched.load_state_dict(state["sched"]); gen.set_state(state["gen"])
        if state["ensemble"]["count"]:
            ensemble.load_state_dict({k: v.to(dev) if torch.is_tensor(v) else v
                                      for k, v in state["ensemble"].items()})
        steps, epochs, samples = state["steps"], state["epochs"], state["samples"]
        prev_sample = None if state["prev_sample"] is None else state["prev_sample"].to(dev)
        path, t = state["path"], state["t"]

    status = "ok"
    for epoch in progress(range(start + 1, s["epochs"] + 1), total=s["epochs"] - start,
                          desc=f"A {out.run_id} epoch"):
        model.train()
        head, rows = [], []                              # host scalars, device diagnostics
        for i, idx in enumerate(minibatches(n, s["batch_size"], gen)):
            k = (epoch - 1) * steps_per_epoch + i
            eps = opt.param_groups[0]["lr"]
            U, nll = potential(model, ds.x_train[idx], ds.y_train[idx], n, sc["prior_scale"])
            opt.zero_grad(set_to_none=True)
            U.backward()
            opt.step()
            sched.step()
            d = opt.diagnostics
            if sc["name"] == "sghmc":
                path = path + d["step_length"]           # stays on the device until saved
            t += eps
            if k % s["record_every"] == 0:
                head.append([k, epoch, eps, t])
                rows.append(torch.stack([U.detach(), nll.detach()] + [d[c] for c in STEP_COLUMNS[6:]]))
        block = torch.cat([torch.tensor(head, dtype=torch.float64).reshape(-1, 4),
                           torch.stack(rows).double().cpu() if rows else torch.zeros(0, 9,
                           dtype=torch.float64)], 1)
        steps.append(block)
        ok = bool(torch.isfinite(block[:, 4]).all() and torch.isfinite(block[:, 6]).all()) \
            and all(torch.isfinite(p).all() for p in model.parameters())

        # end of epoch: evaluate the current sample (and, at a cycle end, collect it)
        probs = predict_probs(model, ds.x_test)
        row = {"epoch": epoch, "step": epoch * steps_per_epoch, "t": t,
               "norm": flat_params(model).norm().item(),
               "train_nll": torch.nn.functional.cross_entropy(
                   predict_probs(model, ds.x_train).clamp_min(1e-300).log(), ds.y_train).item()
               if ok else math.nan}
        row["layer_norm_product"], row["rademacher_proxy"] = rademacher_proxy(model, ds.x_train)
        m = evaluate(probs, ds.y_test)
        row.update(prefixed(m, "test"))
        cycle, cycle_end = divmod(epoch, sc["cycle_epochs"])
        collect = ok and cycle_end == 0 and cycle > sc["burnin_cycles"]
        if collect:
            ensemble.add(probs)
        e = ensemble.evaluate(ds.y_test) if ensemble.count else dict.fromkeys(METRICS, math.nan)
        row.update(prefixed(e, "ens"), ens_size=ensemble.count)
        if collect:
            theta = flat_params(model).clone()
            dist = math.nan if prev_sample is None else (theta - prev_sample).norm().item()
            samples.append({"sample": ensemble.count - 1, "epoch": epoch, "cycle": cycle,
                            "norm": row["norm"], "distance": dist,
                            "path_length": float(path) if prev_sample is not None else math.nan,
                            **prefixed(m, "test"), **prefixed(e, "ens")})
            prev_sample, path = theta, 0.0
        if ok and cycle_end == 0 and sc["resample"] == "cycle":
            opt.resample_momentum()                      # r ~ N(0, MαT/γ) once per cycle
        row["collected"] = collect
        epochs.append(row)
        if not ok:
            status = "diverged"
            break
        ckpt.save(to_cpu({"epoch": epoch, "model": model.state_dict(),
                          "sampler": opt.state_dict(), "sched": sched.state_dict(),
                          "gen": gen.get_state(), "ensemble": ensemble.state_dict(),
                          "steps": steps, "epochs": epochs, "samples": samples,
                          "prev_sample": prev_sample, "path": float(path), "t": t}))

    out.save_table("steps", pd.DataFrame(torch.cat(steps).numpy() if steps else None,
                                         columns=STEP_COLUMNS).astype({"step": int, "epoch": int}))
    out.save_table("epochs", pd.DataFrame(epochs))
    out.save_table("samples", pd.DataFrame(samples, columns=[
        "sample", "epoch", "cycle", "norm", "distance", "path_length",
        *(f"{p}_{k}" for p in ("test", "ens") for k in METRICS)]))
    return status
