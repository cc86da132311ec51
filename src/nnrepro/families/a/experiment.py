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

import logging
import math

import numpy as np
import pandas as pd
import torch

from nnrepro import data, models
from nnrepro.ensembles import RunningEnsemble, predict_probs
from nnrepro.metrics import evaluate
from nnrepro.models import flat_params
from nnrepro.recipes import SGHMCChain
from nnrepro.results import Status
from nnrepro.training import RunState, finite, generator

log_ = logging.getLogger("nnrepro")

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
        if end_epoch(st, model, ds, epoch, steps_per_epoch, sc, ok, chain.is_sample(epoch), st.path):
            st.path = 0.0
        if ok:
            chain.end_cycle(epoch)                       # resample: cycle: r ~ N(0, MαT/γ)
        return log["U"] if ok else torch.tensor([math.nan])   # U per recorded step; nan: θ, ‖θ‖² not finite

    status = ctx.fit(st, s["epochs"], epoch_fn)
    save_tables(ctx, st)
    return status


def end_epoch(st, model, ds, epoch: int, steps_per_epoch: int, sc: dict, ok: bool,
              is_sample: bool, path) -> bool:
    """The epoch's row of ``st.epochs`` for the current θ (``model``), and at a cycle's end
    after the burn-in, θ collected into the ensemble and its row of ``st.samples`` (``path``:
    Σ‖Δθ‖ since the previous sample). ``ok``: θ and the recorded U, ‖θ‖² finite. Returns
    whether θ was collected (the caller then resets its path)."""
    probs = predict_probs(model, ds.x_test)
    row = {"epoch": epoch, "step": epoch * steps_per_epoch, "t": st.t,
           "norm": flat_params(model).norm().item(),
           "train_nll": torch.nn.functional.cross_entropy(
               predict_probs(model, ds.x_train).clamp_min(1e-300).log(), ds.y_train).item()
           if ok else math.nan}
    row["layer_norm_product"], row["rademacher_proxy"] = rademacher_proxy(model, ds.x_train)
    m = evaluate(probs, ds.y_test)
    row.update(prefixed(m, "test"))
    collect = ok and is_sample
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
                           "path_length": float(path) if st.prev_sample is not None else math.nan,
                           **prefixed(m, "test"), **prefixed(e, "ens")})
        st.prev_sample = theta
    row["collected"] = collect
    st.epochs.append(row)
    return collect


def save_tables(ctx, st) -> None:
    """The run's tables ``steps``, ``epochs``, ``samples`` from its state ``st``."""
    steps = pd.DataFrame({c: torch.cat([log[c] for log in st.steps]).numpy() if st.steps else []
                          for c in STEP_COLUMNS})
    ctx.save_table("steps", steps.astype({"step": int, "epoch": int}))
    ctx.save_table("epochs", pd.DataFrame(st.epochs))
    ctx.save_table("samples", pd.DataFrame(st.samples, columns=[
        "sample", "epoch", "cycle", "norm", "distance", "path_length",
        *(f"{p}_{k}" for p in ("test", "ens") for k in METRICS)]))


def step_log(head: list, U: torch.Tensor, nll: torch.Tensor, diagnostics: list) -> dict:
    """One epoch's recorded steps as float64 CPU columns named as in STEP_COLUMNS."""
    h = torch.tensor(head, dtype=torch.float64).reshape(-1, 4)
    d = (torch.stack(diagnostics).double().cpu() if diagnostics
         else torch.zeros(0, len(DIAGNOSTICS), dtype=torch.float64))
    return {**dict(zip(["step", "epoch", "lr", "t"], h.T)), "U": U.double().cpu(),
            "nll": nll.double().cpu(), **dict(zip(DIAGNOSTICS, d.T))}


# ---------------------------------------------------------------- several runs as one stack
def run_stack(ctxs, checkpoint) -> list[Status]:
    """The runs of ``ctxs`` (one shape: ``rules.stack_key``) trained as one
    ``stacked.StackedSGHMCChain`` (issue 25, docs/stacked.md), each member built as ``run``
    builds its run (its seed, its initialisation, its own generator) and its tables written as
    ``run`` writes them; returns each run's status. A member whose potential is non-finite
    (frozen by the sampler) or whose recorded U exceeds ``max_loss_ratio`` × its first stops
    as ``fit`` stops a separate run: that epoch's rows kept, then no more. One ``checkpoint``
    for the stack, after every epoch (the sampler's state and every member's rows so far).

    What differs from separate runs: U and the minibatch NLL by an ulp or two (reduced in
    another order), the path length likewise; a diverged member's recorded values from the step
    its Ũ became non-finite on are NaN where a separate run's may be ±inf, and its epoch row's
    θ-dependent values are those of an all-NaN θ (as a separate run's θ is by then)."""
    from nnrepro.stacked import StackedSGHMCChain
    from nnrepro.training import EpochLog, to_cpu

    s0, dev = ctxs[0].settings, ctxs[0].device
    ds = data.train_subset(ctxs[0].dataset(s0["dataset"]), s0["train_subset"])
    nets, gens = [], []
    for ctx in ctxs:                                     # as run(): seed, then the net's init
        gens.append(generator(ctx.settings["seed"], dev))
        nets.append(models.build(ctx.settings["model"], ds.n_features, ds.n_classes).to(dev))
    steps_per_epoch = ctxs[0].steps_per_epoch(len(ds.y_train), s0["batch_size"])
    cfgs = [ctx.settings["sampler"] for ctx in ctxs]
    chain = StackedSGHMCChain.from_mlps(nets, cfgs, gens, steps_per_epoch)
    sampler = chain.sampler
    members = [RunState(ensemble=RunningEnsemble(), steps=[], epochs=[], samples=[],
                        prev_sample=None, t=0.0, initial=None, status=None) for _ in ctxs]
    start, saved = 0, checkpoint.load()
    if saved is not None:
        start = saved["epoch"]
        sampler.load_state_dict(saved["sampler"])
        for m, ms in zip(members, saved["members"]):
            m.load_state_dict(ms, dev)
    epochs, ratio = s0["epochs"], ctxs[0].max_loss_ratio
    report = EpochLog(f"A stack of {len(ctxs)} epoch", start, epochs)
    for epoch in range(start + 1, epochs + 1):
        live = [k for k, m in enumerate(members) if m.status is None]
        if not live:
            break
        first, was_frozen = (epoch - 1) * steps_per_epoch, sampler.diverged.tolist()
        U, nll, rec = chain.epoch(ds.x_train, ds.y_train, s0["batch_size"], s0["record_every"])
        kept = torch.tensor([int(j) - first for j in rec["step"]], dtype=torch.long)
        U, nll = U.double().cpu(), nll.double().cpu()     # one transfer each, then per member
        rec = {c: rec[c].double().cpu() for c in DIAGNOSTICS} if len(kept) else {}
        frozen, is_sample, losses = sampler.diverged.tolist(), chain.is_sample(epoch), []
        for k in live:
            m = members[k]
            log = member_log(m, sampler, k, epoch, first, U[:, k], nll[:, k],
                             {c: v[:, k] for c, v in rec.items()}, kept, frozen[k] and not was_frozen[k])
            m.steps.append(log)
            theta = chain.model.theta[k]
            ok = not frozen[k] and finite(torch.cat([log["U"], log["norm2"], theta.double().cpu()]))
            net = chain.model.member(k, nets[k])
            if not ok:                                   # a separate run's θ is NaN by now
                torch.nn.utils.vector_to_parameters(torch.full_like(theta, math.nan), net.parameters())
            if end_epoch(m, net, ds, epoch, steps_per_epoch, cfgs[k], ok, is_sample[k],
                         sampler.path[k]):
                sampler.path[k] = 0.0
            # as fit: non-finite, or over max_loss_ratio × the run's first recorded U: diverged
            u = log["U"] if ok else torch.tensor([math.nan], dtype=torch.float64)
            if finite(u) and len(u) and m.initial is None:
                m.initial = u[0].abs().item()
            if not finite(u) or (ratio is not None and len(u) and u.max().item() > ratio * m.initial):
                m.status = Status.DIVERGED
                sampler.alive[k] = False                 # frozen: it no longer moves
                log_.info("%s: diverged at epoch %d", ctxs[k].label, epoch)
            losses.append(u)
        chain.end_cycle(epoch, [k for k in live if members[k].status is None])
        report(epoch, torch.cat(losses))
        checkpoint.save({"epoch": epoch, "sampler": to_cpu(sampler.state_dict()),
                         "members": [m.state_dict() for m in members]})
    for ctx, m in zip(ctxs, members):
        save_tables(ctx, m)
    return [m.status or Status.OK for m in members]


def member_log(m, sampler, k: int, epoch: int, first: int, U, nll, rec: dict, kept,
               froze: bool) -> dict:
    """Member k's recorded steps of the epoch as ``run`` logs them (``step_log``): its ε per
    step from its schedule, t = Σε summed in ``run``'s order (``m.t``, updated), U, NLL (steps,)
    and the diagnostics ``rec`` (recorded steps,) at the recorded steps ``kept``. ``froze``: Ũ
    became non-finite this epoch, at step j: the diagnostics from j on and U, NLL after j are
    NaN, as a separate run's (whose θ is then non-finite) are."""
    eps = [sampler.h["lr"][k] * sampler.lr_factors[k](first + i) for i in range(len(U))]
    t = np.cumsum([m.t, *eps])
    m.t = float(t[-1])
    head = [[first + i, epoch, eps[i], t[i + 1]] for i in kept.tolist()]
    diag = [torch.stack([rec[c][j] for c in DIAGNOSTICS]) for j in range(len(kept))]
    log = step_log(head, U[kept], nll[kept], diag)
    if froze:
        j = first + int((~torch.isfinite(U)).nonzero()[0])
        for c in DIAGNOSTICS:
            log[c][log["step"] >= j] = math.nan
        for c in ("U", "nll"):
            log[c][log["step"] > j] = math.nan
    return log
