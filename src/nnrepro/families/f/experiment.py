"""Family F: dropout (seed 003 "Injected Noises / Dropout"; Srivastava et al. 2014).

Training draws a random subnetwork per example: f(x, Z; θ) with Zᵢ ~ Bernoulli (inverted: kept
units scaled by 1/(1 − p)) or Gaussian multiplicative noise N(1, p/(1 − p)) (seed 003's note).
Testing approximates the ensemble E_Z[f(x, Z; θ)] two ways (seed 003 "Testing"):
- weight scaling: f(x, E[Z]; θ), the deterministic net (``methods.weight_scaling``);
- sampling (MC dropout): (1/M) Σᵢ f(x, zᵢ; θ), which "generalizes slightly better" and
  "can be used to also estimate model uncertainty" (``methods.mc_dropout``).

Three parts, chosen by ``parts``:
- ``regression``: 1-D regression with a gap in the data; the MC ensemble's mean and scatter and
  the weight-scaling prediction on a grid (seed 003: "True function / Mean of the ensemble /
  Scatter of the ensemble", Louizos & Welling 2017). Tables ``regression``, ``regression_data``.
- ``mc``: ``repeats`` classifiers trained with Bernoulli and with Gaussian dropout; test NLL and
  accuracy of weight scaling and of MC averages of M = 1 … ``samples`` masks. Table ``mc``;
  ``mc_curves``: each net's mean training loss per epoch (is it trained to convergence?).
- ``autoencoder``: one hidden layer of ReLU units (256 on MNIST's 784 pixels; the same ratio on
  smaller images), trained without dropout and with p = 0.5
  on the hidden units (seed 003 "Effect on Features"); the encoder filters (rows of W₁) and
  their sparsity. Tables ``filters``, ``features``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from nnrepro import methods, models, optimizers, synthetic
from nnrepro.metrics import evaluate
from nnrepro.results import Status
from nnrepro.training import RunState, Stages, generator, stream, stream_seed, train_epoch


def run(ctx) -> Status:
    s, stages, statuses = ctx.settings, ctx.stages(), []       # one stage per trained net
    if "regression" in s["parts"]:
        statuses.append(regression(ctx, s["regression"], stages))
    if "mc" in s["parts"]:
        statuses.append(mc_vs_scaling(ctx, ctx.dataset(s["dataset"]), s["mc"], stages))
    if "autoencoder" in s["parts"]:
        statuses.append(autoencoder(ctx, ctx.dataset(s["dataset"]), s["autoencoder"], stages))
    return worst(statuses)


def worst(statuses) -> Status:
    return Status.DIVERGED if Status.DIVERGED in statuses else Status.OK


def train(ctx, model, opt, x, y, epochs, batch_size, gen, loss_fn, ckpt, what,
          curve: list | None = None) -> Status:
    """``epochs`` of minibatch training through ``ctx.fit`` (under the stage's ``ckpt``). Dropout
    masks come from torch's global RNG, which ``fit`` checkpoints: a resumed run draws the same
    masks. ``curve``: a list that gets each epoch's mean training loss (kept in the checkpoint)."""
    st = RunState(model=model, opt=opt, gen=gen, curve=[])

    def epoch(e):
        losses = train_epoch(model, opt, x, y, batch_size, gen, loss_fn=loss_fn)
        st.curve.append(float(losses.detach().double().mean()))
        return losses

    status = ctx.fit(st, epochs, epoch, checkpoint=ckpt, what=what)
    if curve is not None:
        curve.extend(st.curve)
    model.eval()
    return status


# --- regression: the MC ensemble's scatter where there is no data --------------------------------

@torch.no_grad()
def mc_outputs(model: nn.Module, x: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    """(S, N) outputs of a regression net, one fresh dropout mask per pass (as
    ``methods.mc_dropout`` does for classifiers: dropout in train mode, the global RNG forked)."""
    devices = list(range(torch.cuda.device_count())) if x.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model.train()
        out = torch.stack([model(x).squeeze(-1) for _ in range(samples)])
    model.eval()
    return out


def regression(ctx, cfg: dict, stages: Stages) -> Status:
    """``repeats`` nets from independent inits (and masks) on one data set with a gap."""
    s, dev = ctx.settings, ctx.device
    x, y = synthetic.regression_1d(cfg["n"], cfg["intervals"], cfg["noise"], s["seed"])
    lo, hi = cfg["x_range"]
    grid = np.linspace(lo, hi, cfg["grid_points"])
    xt, yt, gt = (torch.tensor(v, dtype=torch.float32, device=dev)[:, None] for v in (x, y, grid))
    dist = np.abs(grid[:, None] - x[None, :]).min(1)                              # to the nearest datum

    def net(k: int, ckpt) -> tuple[pd.DataFrame, np.ndarray, str]:
        gen = generator(stream_seed(s["seed"], "regression net", k), dev)
        model = models.build(cfg["model"], 1, 1).to(dev)
        opt = optimizers.build(model.parameters(), cfg["optimizer"])
        st = train(ctx, model, opt, xt, yt, cfg["epochs"], cfg["batch_size"], gen, nn.functional.mse_loss,
                   ckpt, f"regression net {k} epoch")
        members = mc_outputs(model, gt, cfg["samples"], stream_seed(s["seed"], "regression masks", k)).cpu().numpy()
        with torch.no_grad():
            scaled = model(gt).squeeze(-1).cpu().numpy()                           # weight scaling
        table = pd.DataFrame({"net": k, "x": grid, "truth": synthetic.true_function(grid),
                              "mc_mean": members.mean(0), "mc_std": members.std(0),
                              "weight_scaling": scaled, "distance_to_data": dist, "diverged": st != "ok"})
        return table, members[:cfg["members_shown"]], st

    tables, shown, statuses = zip(*[stages(f"regression net {k}", lambda ckpt: net(k, ckpt))
                                    for k in range(cfg["repeats"])])
    show = shown[0]                                                               # net 0's members
    ctx.save_table("regression_members", pd.DataFrame({
        "member": np.repeat(np.arange(len(show)), len(grid)), "x": np.tile(grid, len(show)),
        "y": show.ravel()}))
    ctx.save_table("regression", pd.concat(tables, ignore_index=True))
    ctx.save_table("regression_data", pd.DataFrame({"x": x, "y": y}))
    return worst(statuses)


# --- classification: weight scaling vs MC averaging of M masks ------------------------------------

def mc_table(model, x, y, samples: int, draws: int, gen) -> pd.DataFrame:
    """Test NLL / accuracy of weight scaling, and of the MC average of the first M of
    ``samples`` masks for every M (``draws`` independent draws of the masks)."""
    rows = [{"method": "weight scaling", "M": np.nan, "repeat": 0,
             **evaluate(methods.weight_scaling(model, x)[0], y)}]
    for r in range(draws):
        members = methods.mc_dropout(model, x, samples, gen)                    # (S, N, K)
        running = members.cumsum(0) / torch.arange(1, samples + 1, device=x.device)[:, None, None]
        rows += [{"method": "MC dropout", "M": m, "repeat": r, **evaluate(running[m - 1], y)}
                 for m in range(1, samples + 1)]
    return pd.DataFrame(rows)


def mc_vs_scaling(ctx, ds, cfg: dict, stages: Stages) -> Status:
    """``repeats`` independently trained nets (own init, own masks) per dropout kind; net k of
    each kind starts from the same init. The nets are the claim's units (Srivastava et al.
    §7.5 compare test error against M on one net; the mask ``draws`` only average the MC
    noise within a net)."""
    s, dev = ctx.settings, ctx.device

    def net(k: int, kind: str, ckpt) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        gen = generator(stream_seed(s["seed"], "mc net", k), dev)     # the same init for both kinds
        model = models.build({**cfg["model"], "dropout_kind": kind}, ds.n_features, ds.n_classes).to(dev)
        opt = optimizers.build(model.parameters(), cfg["optimizer"])
        curve: list[float] = []
        st = train(ctx, model, opt, ds.x_train, ds.y_train, cfg["epochs"], cfg["batch_size"], gen,
                   nn.functional.cross_entropy, ckpt, f"mc net {k} {kind} epoch", curve)
        mc_gen = stream(s["seed"], "mc masks", k, device=dev)
        losses = pd.DataFrame({"net": k, "kind": kind, "epoch": np.arange(1, len(curve) + 1),
                               "train_loss": curve, "diverged": st != "ok"})
        return (mc_table(model, ds.x_test, ds.y_test, cfg["samples"], cfg["draws"], mc_gen)
                .assign(net=k, kind=kind, p=cfg["model"]["dropout"], diverged=st != "ok")), losses, st

    frames, curves, statuses = zip(*[stages(f"mc net {k} {kind}", lambda ckpt: net(k, kind, ckpt))
                                     for k in range(cfg["repeats"]) for kind in cfg["kinds"]])
    ctx.save_table("mc", pd.concat(frames, ignore_index=True))
    ctx.save_table("mc_curves", pd.concat(curves, ignore_index=True))
    return worst(statuses)


# --- autoencoder features with and without dropout ------------------------------------------------

def hoyer_sparsity(w: np.ndarray) -> np.ndarray:
    """Hoyer (2004) sparsity of each row: (√n − ‖w‖₁/‖w‖₂)/(√n − 1), 0 for a flat filter and 1
    for a single non-zero weight."""
    n = w.shape[1]
    ratio = np.abs(w).sum(1) / np.maximum(np.linalg.norm(w, axis=1), 1e-12)
    return (np.sqrt(n) - ratio) / (np.sqrt(n) - 1)


def unit_range(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel intensities in [0, 1], as Srivastava et al.'s autoencoder reads them: each pixel
    scaled by its min and max over the training set (raw/255 for a pixel that spans 0…255; a
    pixel that is never on stays 0). The standardized pixels would weigh a rarely-on border pixel
    by 1/std, up to ~200 on MNIST, and its reconstruction would dominate the loss."""
    lo, hi = x_train.min(0).values, x_train.max(0).values
    span = (hi - lo).clamp_min(1e-12)
    return (x_train - lo) / span, ((x_test - lo) / span).clamp(0, 1)


def autoencoder(ctx, ds, cfg: dict, stages: Stages) -> Status:
    s, dev = ctx.settings, ctx.device
    x_train, x_test = unit_range(ds.x_train, ds.x_test)

    def net(p: float, ckpt) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        gen = generator(s["seed"], dev)                                  # the same init for both
        model = models.MLP(ds.n_features, (cfg["hidden"],), ds.n_features, "relu", dropout=p).to(dev)
        opt = optimizers.build(model.parameters(), cfg["optimizer"])
        st = train(ctx, model, opt, x_train, x_train, cfg["epochs"], cfg["batch_size"], gen,
                   nn.functional.mse_loss, ckpt, f"autoencoder p={p:g} epoch")
        W = model[0].weight.detach().cpu().numpy()                       # encoder filters (H, d)
        with torch.no_grad():
            h = model[1](model[0](x_test))
            recon = nn.functional.mse_loss(model(x_test), x_test).item()
        filters = pd.DataFrame({"p": p, "unit": np.repeat(np.arange(W.shape[0]), W.shape[1]),
                                "pixel": np.tile(np.arange(W.shape[1]), W.shape[0]), "weight": W.ravel()})
        features = pd.DataFrame({"p": p, "unit": np.arange(W.shape[0]), "hoyer": hoyer_sparsity(W),
                                 "active_fraction": (h > 0).float().mean(0).cpu().numpy(),
                                 "test_mse": recon, "diverged": st != "ok"})
        return filters, features, st

    filters, features, statuses = zip(*[stages(f"autoencoder p={p:g}", lambda ckpt: net(p, ckpt))
                                        for p in (0.0, cfg["dropout"])])
    ctx.save_table("filters", pd.concat(filters, ignore_index=True))
    ctx.save_table("features", pd.concat(features, ignore_index=True))
    return worst(statuses)
