"""Family L: every predictive method of the documents on one model and data set, scored alike.

Each method approximates the Bayesian model average p(y|x, D) ≈ (1/S) Σ_s p(y|x, w_s)
(seed 001, eq. 4) with its own members w_s (nnrepro.methods):
  single run       the net trained with ``optimizer`` (S = 1)
  deep ensemble    ``ensemble.members`` such nets from independent seeds; member 0 is the single
                   run (Lakshminarayanan et al. 2017)
  SWA              from the single run's solution ŵ, ``swa.epochs`` more epochs with
                   ``swa.optimizer`` at a constant (SWALR) or cyclic lr, the iterate ŵᵢ at each
                   cycle end averaged: ŵ_SWA = (1/k) Σ ŵᵢ (AveragedModel; seed 001, as family B)
  SWAG             Gaussians fitted to the same iterates, diagonal and low-rank (nnrepro.swag)
  dropout          a net trained with dropout ``dropout.p`` after each hidden activation, each hidden
                   layer n/(1 − p) wide (``dropout.widen``) and trained ``dropout.epochs_factor`` ×
                   ``epochs`` (Srivastava et al. 2014, see ``dropout_hidden``/``dropout_epochs``):
                   weight scaling (S = 1) and MC dropout (``dropout.samples`` masks; seed 003,
                   Gal & Ghahramani 2016)
  SGHMC            chains started from the single run's solution, one at T = 1 and one at the
                   cold ``sghmc.cold_temperature``; a sample at each cycle end after burn-in
                   (nnrepro.samplers; seed 000, Wenzel et al. 2020)
Training runs as one ``fit`` loop whose "epochs" are the stages' epochs in this order, so a killed
run resumes inside any stage.

Tables:
  ensembles    per method: members S, accuracy, error, NLL, ECE, Brier score (nnrepro.metrics);
               temperature: an SGHMC chain's T (NaN for the other methods)
  reliability  per method and confidence bin (15 equal-width bins of the top-class probability,
               as ECE): mean confidence, accuracy, count
"""
from __future__ import annotations

import copy
import math

import pandas as pd
import torch

from nnrepro import methods, models, optimizers
from nnrepro.ensembles import ensemble_probs
from nnrepro.metrics import evaluate
from nnrepro.models import flat_params
from nnrepro.recipes import SWA, SGHMCChain
from nnrepro.results import Status
from nnrepro.training import RunState, generator, stream, stream_seed, train_epoch

N_BINS = 15


def temperatures(s: dict) -> list[float]:
    return [1.0, s["sghmc"]["cold_temperature"]]


def dropout_hidden(s: dict) -> list[int]:
    """The dropout net's hidden widths: n/(1 − p) for a layer of n units when ``dropout.widen``.
    Srivastava et al. 2014, App. A.1: "if an n-sized layer is optimal for a standard neural net
    on any given task, a good dropout net should have at least n/p units" (their p: the
    probability of retaining a unit, our 1 − p)."""
    d = s["dropout"]
    hidden = s["model"]["hidden"]
    return [math.ceil(n / (1 - d["p"]) - 1e-9) for n in hidden] if d["widen"] else list(hidden)


def dropout_epochs(s: dict) -> int:
    """The dropout net's epochs: ``dropout.epochs_factor`` × the standard net's. Srivastava et
    al. 2014, §9: "A dropout network typically takes 2-3 times longer to train than a standard
    neural network of the same architecture"."""
    return max(1, round(s["dropout"]["epochs_factor"] * s["epochs"]))


def stages(s: dict) -> list[tuple[str, int, int]]:
    """(stage, index, epochs) in training order."""
    E = s["epochs"]
    return ([("member", k, E) for k in range(s["ensemble"]["members"])]
            + [("swa", 0, s["swa"]["epochs"]), ("dropout", 0, dropout_epochs(s))]
            + [("sghmc", i, s["sghmc"]["epochs"]) for i in range(len(temperatures(s)))])


def build_state(s: dict, ds, dev, steps: int) -> RunState:
    build = lambda **kw: models.build({**s["model"], **kw}, ds.n_features, ds.n_classes).to(dev)
    gen = generator(s["seed"], dev)                       # member 0 is the seed's single run
    members = [build()]
    for k in range(1, s["ensemble"]["members"]):          # independent inits
        torch.manual_seed(stream_seed(s["seed"], "member", k))
        members.append(build())
    torch.manual_seed(stream_seed(s["seed"], "dropout net"))
    dropout_net = build(dropout=s["dropout"]["p"], hidden=dropout_hidden(s))
    sc = s["sghmc"]["sampler"]
    return RunState(
        gen=gen, members=members,
        opts=[optimizers.build(m.parameters(), s["optimizer"]) for m in members],
        swa=SWA(members[0], s["swa"], steps, s["swag"]["rank"], dev),
        dropout_net=dropout_net, dropout_opt=optimizers.build(dropout_net.parameters(), s["optimizer"]),
        chains=[SGHMCChain(copy.deepcopy(members[0]), {**sc, "temperature": T}, gen, steps)
                for T in temperatures(s)],
        samples=[[] for _ in temperatures(s)])


def train(ctx, ds) -> tuple[RunState, Status]:
    s = ctx.settings
    st = build_state(s, ds, ctx.device, ctx.steps_per_epoch(len(ds.y_train), s["batch_size"]))
    plan = [(name, i, e) for name, i, n in stages(s) for e in range(1, n + 1)]
    x, y, bs = ds.x_train, ds.y_train, s["batch_size"]

    def epoch_fn(epoch: int) -> torch.Tensor:
        name, i, e = plan[epoch - 1]
        if name == "member":
            return train_epoch(st.members[i], st.opts[i], x, y, bs, st.gen)
        if name == "swa":
            if e == 1:
                st.swa.start(st.members[0])                 # from the single run's ŵ
            losses = st.swa.epoch(x, y, bs, st.gen)
            if st.swa.cycle_end(e):
                st.swa.collect()                            # ŵ_SWA = (1/k) Σ ŵᵢ, and SWAG
            return losses
        if name == "dropout":               # nn.Dropout draws from the global RNG (fit checkpoints it)
            return train_epoch(st.dropout_net, st.dropout_opt, x, y, bs, st.gen)
        return sghmc_epoch(st, i, e, s, ds)

    status = ctx.fit(st, len(plan), epoch_fn)
    return st, status


def sghmc_epoch(st: RunState, i: int, e: int, s: dict, ds) -> torch.Tensor:
    """One epoch of chain i; U = N·NLL + ‖θ‖²/(2σ²) (nnrepro.samplers.potential)."""
    chain = st.chains[i]
    if e == 1:
        chain.model.load_state_dict(st.members[0].state_dict())
    _, nll = chain.epoch(ds.x_train, ds.y_train, s["batch_size"], st.gen)
    if chain.is_sample(e):
        st.samples[i].append(flat_params(chain.model).clone())    # w_s ~ p_T(θ|D)
    chain.end_cycle(e)
    return nll


def predictions(st: RunState, s: dict, ds, dev) -> dict[str, torch.Tensor]:
    """Member probabilities (S, N, K) on the test set, per method."""
    x = ds.x_test
    gen = stream(s["seed"], "predictions", device=dev)
    sw = dict(samples=s["swag"]["samples"], scale=s["swag"]["scale"], generator=gen,
              bn_inputs=ds.x_train)
    out = {"single run": methods.single(st.members[0], x),
           "deep ensemble": methods.deep_ensemble(st.members, x),
           "SWA": methods.swa(st.swa.averaged, x, bn_inputs=ds.x_train),
           "SWAG-diagonal": methods.swag(st.swa.swag, st.swa.net, x, diagonal=True, **sw),
           "SWAG-low-rank": methods.swag(st.swa.swag, st.swa.net, x, **sw),
           "dropout, weight scaling": methods.weight_scaling(st.dropout_net, x),
           "MC dropout": methods.mc_dropout(st.dropout_net, x, s["dropout"]["samples"], gen)}
    for T, samples in zip(temperatures(s), st.samples):
        out[sghmc_label(T)] = methods.sample_ensemble(st.chains[0].model, samples, x)
    return out


def sghmc_label(T: float) -> str:
    """The display label of the SGHMC chain at temperature T; tables carry T itself beside it."""
    return f"SGHMC T = {T:g}"


ENSEMBLES = ("deep ensemble", "SWAG-diagonal", "SWAG-low-rank", "MC dropout", "SGHMC")


def is_ensemble(method: str) -> bool:
    """Methods that average several members' predictions (SWA and weight scaling are one net)."""
    return method.startswith(ENSEMBLES)


def reliability(probs: torch.Tensor, y: torch.Tensor, n_bins: int = N_BINS) -> pd.DataFrame:
    """Per bin (k/n, (k+1)/n] of the top-class confidence: mean confidence, accuracy, count."""
    conf, pred = probs.double().max(1)
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)
    df = pd.DataFrame({"bin": bins.cpu().numpy(), "conf": conf.cpu().numpy(),
                       "correct": (pred == y).double().cpu().numpy()})
    g = df.groupby("bin")
    return pd.DataFrame({"bin": g.size().index, "conf": g["conf"].mean().values,
                         "acc": g["correct"].mean().values, "count": g.size().values})


def run(ctx) -> Status:
    s, dev = ctx.settings, ctx.device
    ds = ctx.dataset(s["dataset"])
    st, status = train(ctx, ds)
    if status != Status.OK:
        return status
    rows, rel = [], []
    chain_T = {sghmc_label(T): T for T in temperatures(s)}   # tidy: T beside its label
    for method, members in predictions(st, s, ds, dev).items():
        p = ensemble_probs(members)
        rows.append({"method": method, "temperature": chain_T.get(method, math.nan),
                     "ensemble": is_ensemble(method), "members": len(members),
                     **evaluate(p, ds.y_test)})
        rel.append(reliability(p, ds.y_test).assign(method=method))
    ctx.save_table("ensembles", pd.DataFrame(rows))
    ctx.save_table("reliability", pd.concat(rel, ignore_index=True))
    return status
