"""Family I figure (seed 003, "Gradient Descent under Reparameterization"; Neyshabur et al. 2015
fig. 1): SGD and Path-SGD on a ReLU net and on an unbalanced rescaled copy of it."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import Claim, both, greater, less
from nnrepro.plotting import figure, finished_table, mark_diverged
from nnrepro.results import Results

INFO = FIGURE_INFO["I-rescaling"]   # the test's wording and threshold (SGD's slowdown > 1)
PATH_COINCIDE = 1e-6  # Path-SGD: the curves coincide to 1e-6 (float64 rounding is ~1e-16)
MIN_SEEDS = 5         # a seed (init + rescaling + 4 short runs) costs seconds
FLOOR = 1e-17         # exact zeros drawn here on the log axis
COLORS = {"SGD": "tab:red", "Path-SGD": "tab:blue"}


def rescaling_gaps(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per run, optimizer and epoch: |L_rescaled − L_original| / L_original of the training loss,
    and the rescaled net's weights (mapped back) distance to the original's, relative."""
    wide = epochs.pivot_table(index=["run", "optimizer", "epoch"], columns="net",
                              values=["train_loss", "weight_gap"])
    orig, resc = wide["train_loss"]["original"], wide["train_loss"]["rescaled"]
    return pd.DataFrame({"loss_gap": (resc - orig).abs() / orig,
                         "weight_gap": wide["weight_gap"]["rescaled"]}).reset_index()


def worst_path_gap(gaps: pd.DataFrame) -> float:
    """Largest Path-SGD loss gap over runs and epochs: Path-SGD must coincide in every run."""
    path = gaps[gaps["optimizer"] == "Path-SGD"]["loss_gap"]
    return float(path.max()) if len(path) else math.nan


def diverged_pairs(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per run and optimizer: whether the original or the rescaled net diverged (marked by the
    experiment, or a non-finite training loss). A divergence is an outcome of its own, reported
    as k of n seeds; it is neither a slowdown nor a speed-up."""
    bad = epochs.get("net_diverged", pd.Series(False, index=epochs.index)).astype(bool) \
        | ~np.isfinite(epochs["train_loss"])
    return (epochs.assign(bad=bad).groupby(["run", "optimizer"])["bad"].any()
            .rename("diverged").reset_index())


def finished(epochs: pd.DataFrame) -> pd.DataFrame:
    """The rows of the (run, optimizer) pairs in which both nets trained to the end."""
    d = diverged_pairs(epochs)
    ok = d[~d["diverged"]][["run", "optimizer"]]
    return epochs.merge(ok, on=["run", "optimizer"])


def slowdown(epochs: pd.DataFrame, optimizer: str = "SGD") -> pd.Series:
    """Per run whose two nets both finished: area under the rescaled net's training-loss curve
    over epochs 1..E divided by the original net's (the same function at epoch 0, trained on the
    same minibatches with the same step). > 1: the rescaling slowed training (the source's
    panel: "Can lead to completely different SGD behavior", the unbalanced SGD curve above)."""
    e = finished(epochs)
    e = e[(e["optimizer"] == optimizer) & (e["epoch"] > 0)]
    if not len(e):
        return pd.Series(dtype=float, name="auc_ratio")
    area = e.groupby(["run", "net"])["train_loss"].mean().unstack("net")
    return (area["rescaled"] / area["original"]).rename("auc_ratio")


def rescaling_stats(epochs: pd.DataFrame) -> dict:
    """What both the drawing and the claim read, computed once from the finished runs' epochs:
    ``slowdown`` per optimizer (a Series per seed whose pair finished), the ``gaps``
    (``rescaling_gaps``) and ``diverged`` (``diverged_pairs``)."""
    if not len(epochs):
        return {"slowdown": {o: pd.Series(dtype=float) for o in ("SGD", "Path-SGD")},
                "gaps": pd.DataFrame(columns=["run", "optimizer", "epoch", "loss_gap", "weight_gap"]),
                "diverged": pd.DataFrame(columns=["run", "optimizer", "diverged"])}
    return {"slowdown": {o: slowdown(epochs, o) for o in ("SGD", "Path-SGD")},
            "gaps": rescaling_gaps(finished(epochs)), "diverged": diverged_pairs(epochs)}


def rescaling_claim(epochs: pd.DataFrame, diverged: int = 0, stats: dict | None = None,
                    steps: pd.DataFrame | None = None) -> Claim:
    """Both: SGD's ``slowdown`` > 1 over the seeds whose two SGD nets finished (t-interval,
    ≥ MIN_SEEDS such seeds, else inconclusive), and Path-SGD's largest relative gap between the
    curves < PATH_COINCIDE (exact: float64 rounding). A seed whose SGD pair diverged is counted
    as its own outcome (k of n, in the note and finding), not as a slowdown. ``stats``:
    ``rescaling_stats(epochs)`` when the caller has it; ``steps``: the runs' table step (SGD's
    step η and the sharpness behind it), for the finding."""
    stats = stats or rescaling_stats(epochs)
    sgd, path_ratio = stats["slowdown"]["SGD"], stats["slowdown"]["Path-SGD"]
    path = worst_path_gap(stats["gaps"]) if len(epochs) else math.nan
    div = stats["diverged"]
    n_seeds = epochs["run"].nunique() if len(epochs) else 0
    sgd_div = sorted(div[(div["optimizer"] == "SGD") & div["diverged"]]["run"])
    path_div = sorted(div[(div["optimizer"] == "Path-SGD") & div["diverged"]]["run"])
    note = f"{n_seeds} seed(s); SGD pair diverged in {len(sgd_div)} of {n_seeds}" + \
        (f" ({', '.join(sgd_div)}): slowdown on the {len(sgd)} that finished" if sgd_div else "")
    finding = (f"SGD area ratio per finished seed: {', '.join(f'{v:.3g}' for v in sgd) or 'none'}; "
               f"SGD diverged (own outcome) in {len(sgd_div)} of {n_seeds} seed(s)"
               + (f", Path-SGD in {len(path_div)}" if path_div else "")
               + f"; Path-SGD's largest relative loss gap {path:.2g} (area ratios "
               f"{', '.join(f'{v:.6g}' for v in path_ratio)})")
    if steps is not None and len(steps):
        finding += ("; SGD step η per seed (min(lr, ½·2/λ_max)): " + ", ".join(f"{v:.3g}" for v in steps["lr"])
                    + (", λ_max rescaled / original: " + ", ".join(
                        f"{a:.3g} / {b:.3g}" for a, b in zip(steps["lambda_rescaled"], steps["lambda_original"]))
                       if "lambda_rescaled" in steps else ""))
    if len(sgd) < MIN_SEEDS and sgd_div:
        finding += (f"; too few finished SGD pairs ({len(sgd)} < {MIN_SEEDS}): our setup's step is "
                    "still above the rescaled net's stability limit, the slowdown is untested")
    if len(sgd) and sgd.mean() < 1:
        last = finished(epochs).query("optimizer == 'SGD'")
        last = last[last["epoch"] == last["epoch"].max()].groupby("net")["train_loss"].mean()
        finding += (f"; the unbalanced SGD net trained faster (final training loss {last.get('rescaled', math.nan):.3g} "
                    f"vs {last.get('original', math.nan):.3g}): its per-unit steps grow by d² on a unit's outgoing "
                    "or 1/d² on its incoming weights, which speeds SGD unless the step is near its stability limit")
        if steps is not None and len(steps) and "lambda_original" in steps:
            room = (2 / steps["lambda_original"] / steps["lr"]).median()
            finding += (f". Read as our setup, not the science: the one shared step sits {room:.3g}× "
                        "(median) below the original net's own limit 2/λ, so the original is held back; "
                        "the source compares at the lr tuned for the balanced net")
    if diverged:
        finding += f"; {diverged} seed(s) stopped: all four nets diverged (excluded)"
    return both(greater("I-rescaling", INFO.test, math.nan, INFO.threshold, note, units=list(sgd),
                        min_n=MIN_SEEDS, finding=finding, diverged=diverged + len(sgd_div)),
                less("I-rescaling", "", path, PATH_COINCIDE))


def draw_rescaling(ok: pd.DataFrame, claim: Claim, stats: dict, spec: dict, diverged: list[str],
                   steps: pd.DataFrame | None = None):
    """Three panels: the training curves (diverged pairs drawn apart), the slowdown per seed and the gap between
    the two nets over epochs (``stats``: ``rescaling_stats``); ``diverged``: runs to mark."""
    c = spec["rescale"]["c"]
    lr = {"SGD": spec["optimizers"]["sgd"]["lr"], "Path-SGD": spec["optimizers"]["path_sgd"]["lr"]}
    if steps is not None and len(steps):                    # the step each seed's rule gave
        lr["SGD"] = float(steps["lr"].median())
    fig, (ax, rx, gx) = plt.subplots(1, 3, figsize=(17, 4.8), gridspec_kw={"width_ratios": [1.4, 0.8, 1]})

    # (a) training curves: one thin line per seed, the mean over the finished pairs thick; a
    # pair that diverged: grey, up to its last finite loss, with a cross there
    fin = finished(ok) if len(ok) else ok
    bad = ok.merge(stats["diverged"].query("diverged")[["run", "optimizer"]], on=["run", "optimizer"]) \
        if len(ok) else ok
    for (o, n), g in (bad.groupby(["optimizer", "net"]) if len(bad) else []):
        for _, r in g.groupby("run"):
            r = r[np.isfinite(r["train_loss"])
                  & ~r.get("net_diverged", pd.Series(False, index=r.index)).astype(bool)]
            if not len(r):
                continue
            ax.plot(r["epoch"], r["train_loss"], color="grey", lw=0.8, ls="-" if n == "original" else "--")
            ax.plot(r["epoch"].iloc[-1:], r["train_loss"].iloc[-1:], "x", color="black", ms=7)
    if len(bad):
        ax.plot([], [], "x--", color="grey", mec="black", label="pair that diverged (x: last finite loss; excluded)")
    for (o, n), g in (fin.groupby(["optimizer", "net"]) if len(fin) else []):
        style = dict(color=COLORS[o], ls="-" if n == "original" else "--")
        for _, r in g.groupby("run"):
            ax.plot(r["epoch"], r["train_loss"], lw=0.5, alpha=0.35, **style)
        m = g.groupby("epoch")["train_loss"].mean()
        ax.plot(m.index, m.values, lw=2.2 if n == "original" else 1.8,
                label=f"{o} (η = {lr[o]:.3g}{' median' if o == 'SGD' and steps is not None else ''}), {n} net", **style)
    ax.set(yscale="log", xlabel="epoch", ylabel="training loss (cross-entropy, whole set)",
           title=f"Training curves (thick: mean over the pairs that finished of {ok['run'].nunique()} seeds;\n"
                 "grey: a pair in which a net diverged, its own outcome)")
    ax.legend(fontsize=8)
    mark_diverged(ax, diverged)

    # (b) the slowdown per seed: area under the rescaled curve / the original's
    ratios = stats["slowdown"]
    for i, (o, r) in enumerate(ratios.items()):
        x = np.full(len(r), i) + np.linspace(-0.12, 0.12, len(r)) if len(r) else []
        rx.scatter(x, r.values, color=COLORS[o], edgecolor="black", lw=0.4, s=30, zorder=3)
        k = int(stats["diverged"].query("optimizer == @o")["diverged"].sum()) if len(stats["diverged"]) else 0
        if k:
            rx.annotate(f"{k} diverged\n(excluded)", (i, 0.97), xycoords=("data", "axes fraction"),
                        ha="center", va="top", fontsize=8, color="black")
    rx.axhline(1, color="grey", ls="--", lw=1)
    rx.set_xticks([0, 1], [f"SGD\n(η = {lr['SGD']:.3g})", f"Path-SGD\n(η = {lr['Path-SGD']:g})"])
    rx.set(xlim=(-0.6, 1.6), yscale="log", ylabel="area under training loss: rescaled / original",
           title="Slowdown per seed (> 1: rescaled net slower)")
    rx.title.set_fontsize(10)

    # (c) the gap between the two curves over epochs, every seed
    gaps = stats["gaps"]
    for (o, run), g in gaps[gaps["epoch"] > 0].groupby(["optimizer", "run"]):
        first = run == gaps["run"].iloc[0]
        gx.plot(g["epoch"], np.maximum(g["loss_gap"], FLOOR), color=COLORS[o], marker="o", ms=3, lw=1,
                label=f"{o}: training loss |L̃ − L| / L" if first else None)
        gx.plot(g["epoch"], np.maximum(g["weight_gap"], FLOOR), color=COLORS[o], ls=":", lw=1,
                label=f"{o}: weights ‖w̃ mapped back − w‖ / ‖w‖" if first else None)
    gx.axhline(PATH_COINCIDE, color="grey", ls="-.", lw=1)
    gx.text(0.02, PATH_COINCIDE * 3, f"Path-SGD must stay below {PATH_COINCIDE:g}", fontsize=8,
            color="grey", transform=gx.get_yaxis_transform())
    gx.set(yscale="log", ylim=(FLOOR / 3, 10), xlabel="epoch", ylabel="relative gap, rescaled vs original",
           title="Gap between the two nets (every seed; exact 0 drawn at 1e-17)")
    gx.title.set_fontsize(10)
    gx.legend(fontsize=7, loc="center right")
    hidden = "-".join(map(str, spec["model"]["hidden"]))
    fig.suptitle(f"Reparameterization: SGD depends on an unbalanced rescaling of a ReLU net, Path-SGD does not\n"
                 f"({spec['dataset']}, bias-free ReLU net {hidden}; rescaled: each hidden unit's incoming "
                 f"weights × d, outgoing ÷ d, d = {c:g}^u, u ~ U(−1, 1) per unit and seed)", fontsize=11)
    fig.tight_layout()
    return fig


@figure("I-rescaling")
def i_rescaling(res: Results):
    _, ok = finished_table(res, "epochs")
    steps = res.table("step") if res.has_table("step") else None
    stats = rescaling_stats(ok)
    claim = rescaling_claim(ok, len(res.diverged()), stats, steps)
    return draw_rescaling(ok, claim, stats, res.runs[0]["spec"], res.diverged(), steps), claim


