"""Family H figures: batch normalization (seed 004 §6.4; Santurkar et al. 2018). Each run is one
variant (standard, bn, noisy_bn) at one learning rate and seed; the figures pair runs by seed."""
from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nnrepro.claims import Claim, both, greater, less
from nnrepro.figures import figure
from nnrepro.figures.c import fails_and_trains, loss_ratio
from nnrepro.figures.style import mark_diverged
from nnrepro.results import Results

DRIFT_FACTOR = 2.0   # noisy BN's distributions drift at least twice as much as BN's
CLOSE = 2.0          # "close": within 2 accuracy points
VARIANTS = {"standard": "Standard", "bn": "Standard + BatchNorm",
            "noisy_bn": "Standard + \"noisy\" BatchNorm"}
COLORS = dict(zip(VARIANTS, sns.color_palette("colorblind", 3)))


# ---------------------------------------------------------------- claim values (pure functions)
def with_runs(df: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``df`` joined with each run's settings (seed, variant, lr, status) by run id; the columns
    that ``Results.table`` adds for swept settings are replaced by the runs' own."""
    return df.drop(columns=[c for c in runs.columns if c != "run" and c in df]).merge(runs, on="run")


def bn_lr_units(steps: pd.DataFrame, runs: pd.DataFrame, lr: float) -> pd.Series:
    """Per seed at learning rate ``lr``: ``fails_and_trains`` of the standard net (should fail:
    loss not below 1/10 of its start, or diverged) and the BN net (should train)."""
    at = runs[runs["lr"] == lr]
    ratio = {r.run: loss_ratio(steps.loc[steps["run"] == r.run].sort_values("step")["loss"], r.status)
             for r in at.itertuples()}
    out = {}
    for seed, g in at.groupby("seed"):
        std = [ratio[r] for r in g.loc[g["variant"] == "standard", "run"]]
        bn = [ratio[r] for r in g.loc[g["variant"] == "bn", "run"]]
        if std and bn:
            out[seed] = fails_and_trains(min(std), max(bn))
    return pd.Series(out, dtype=float)


def drifts(stats: pd.DataFrame) -> pd.DataFrame:
    """Per run and layer, averaged over the tracked units: how far each unit's distribution moves
    over training. mean_drift = std over records of the unit's batch mean / mean over records of
    its batch std (how far the centre moves, in widths); var_drift = std over records of
    log(batch variance). Fewer than 3 records: NaN."""
    def unit(g):
        if len(g) < 3:
            return pd.Series({"mean_drift": math.nan, "var_drift": math.nan})
        return pd.Series({"mean_drift": g["mean"].std() / g["std"].mean(),
                          "var_drift": np.log(g["std"] ** 2).std()})

    per_unit = stats.groupby(["run", "layer", "unit"])[["mean", "std"]].apply(unit).reset_index()
    return per_unit.groupby(["run", "layer"])[["mean_drift", "var_drift"]].mean().reset_index()


def drift_ratio_units(drift: pd.DataFrame, runs: pd.DataFrame, num: str, den: str,
                      col: str = "mean_drift") -> pd.Series:
    """Per seed: the layer-averaged ``col`` of variant ``num`` over that of ``den``."""
    d = with_runs(drift, runs).groupby(["seed", "variant"])[col].mean().unstack()
    if num not in d or den not in d:
        return pd.Series(dtype=float)
    return (d[num] / d[den]).dropna()


def accuracy_units(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per seed, from test-accuracy curves averaged over epochs (points): gap = |BN − noisy BN|,
    above = noisy BN − standard."""
    mean = with_runs(epochs, runs).groupby(["seed", "variant"])["test_acc"].mean().unstack() * 100
    if not {"standard", "bn", "noisy_bn"} <= set(mean.columns):
        return pd.DataFrame(columns=["seed", "gap", "above"])
    return pd.DataFrame({"gap": (mean["bn"] - mean["noisy_bn"]).abs(),
                         "above": mean["noisy_bn"] - mean["standard"]}).dropna().reset_index()


# ---------------------------------------------------------------- helpers
def _runs(res: Results) -> pd.DataFrame:
    return pd.DataFrame([dict(run=r["run"], status=r["status"], seed=r["spec"]["seed"],
                              variant=r["spec"]["variant"], lr=r["spec"]["optimizer"]["lr"])
                         for r in res.runs])


def _shown_lr(runs: pd.DataFrame) -> float:
    """The smallest learning rate at which every variant present was trained."""
    per = runs.groupby("lr")["variant"].nunique()
    common = per[per == runs["variant"].nunique()]
    return float(common.index.min() if len(common) else runs["lr"].min())


def _net(res: Results) -> str:
    m = res.runs[0]["spec"]["model"]
    return (f"MLP {m['hidden']}" if m["arch"] == "mlp" else "VGG-style CNN") + \
        f", {m['activation']}, {res.runs[0]['spec']['dataset']}"


def _note(runs: pd.DataFrame) -> str:
    div = runs[runs["status"] != "ok"]["run"].tolist()
    return f"{len(runs)} runs" + (f"; {len(div)} diverged: {', '.join(div)}" if div else "")


def _histograms(res: Results, pair: tuple[str, str], fig_title: str):
    """Rows: hidden layers (first, middle, last); columns: the two variants at the shown lr.
    Each panel: one tracked unit's distribution over the batch at up to 6 times in training."""
    runs = _runs(res)
    lr = _shown_lr(runs)
    seed = runs["seed"].min()
    acts, stats = res.table("activations"), res.table("activation_stats")
    drift = drifts(stats)
    layers = sorted(acts["layer"].unique())
    show = sorted({layers[0], layers[len(layers) // 2], layers[-1]})
    fig, axes = plt.subplots(len(show), 2, figsize=(11, 2.7 * len(show) + 0.8), squeeze=False)
    for col, variant in enumerate(pair):
        sel = runs[(runs["variant"] == variant) & (runs["lr"] == lr) & (runs["seed"] == seed)]
        for row, layer in enumerate(show):
            ax = axes[row, col]
            if sel.empty:
                ax.text(0.5, 0.5, f"no {variant} run at lr {lr:g}", ha="center", transform=ax.transAxes)
                continue
            run = sel["run"].iloc[0]
            a = acts[(acts["run"] == run) & (acts["layer"] == layer)]
            unit = a["unit"].min()
            a = a[(a["unit"] == unit) & np.isfinite(a["value"])]
            epochs = sorted(a["epoch"].unique())
            picked = [epochs[i] for i in np.unique(np.linspace(0, len(epochs) - 1, 6).round().astype(int))]
            colors = sns.color_palette("viridis", len(picked))
            for c, e in zip(colors, picked):              # smoothed histograms (Gaussian KDE)
                at = a[a["epoch"] == e]
                sns.kdeplot(x=at["value"], color=c, lw=1.5, ax=ax, warn_singular=False,
                            label=f"step {at['step'].iloc[0]}")
            dr = drift[(drift["run"] == run) & (drift["layer"] == layer)]
            ax.set_title(f"{VARIANTS[variant]}: layer {layer}, unit {unit}\nlayer drift: mean "
                         f"{dr['mean_drift'].iloc[0]:.3f}, log-variance {dr['var_drift'].iloc[0]:.3f}",
                         fontsize=9)
            ax.set(xlabel="input of the non-linearity" if row == len(show) - 1 else "",
                   ylabel="density")
            if row == 0:
                ax.legend(fontsize=7, title="training time", title_fontsize=7)
            if run in res.diverged():
                mark_diverged(ax, [run])
    fig.suptitle(f"{fig_title}\n({_net(res)}, lr {lr:g}, seed {seed}; drift: mean over the layer's "
                 f"tracked units)", fontsize=11)
    return fig, runs, drift


# ---------------------------------------------------------------- figures
@figure("H-bn-lr")
def h_bn_lr(res: Results):
    runs = _runs(res)
    steps = res.table("steps")
    lrs = sorted(runs["lr"].unique())
    fig, axes = plt.subplots(1, len(lrs), figsize=(5.2 * len(lrs), 4.4), sharey=True, squeeze=False)
    for ax, lr in zip(axes[0], lrs):
        for r in runs[(runs["lr"] == lr) & runs["variant"].isin(["standard", "bn"])].itertuples():
            g = steps[steps["run"] == r.run].sort_values("step")
            smooth = g["loss"].rolling(10, min_periods=1).mean()
            ax.plot(g["step"], smooth, color=COLORS[r.variant], lw=1.2, alpha=0.85)
            if r.status != "ok":                          # at the top edge: it left the plot
                last = g[np.isfinite(g["loss"])].tail(1)
                ax.scatter(last["step"], [10 * g["loss"].iloc[0]] * len(last), marker="x", s=60,
                           color=COLORS[r.variant], zorder=3, clip_on=False)
        for v in ("standard", "bn"):
            ax.plot([], [], color=COLORS[v], label=VARIANTS[v])
        ax.set(yscale="log", title=f"learning rate {lr:g}", xlabel="step (minibatch)",
               ylabel="training loss (10-step moving average)")
        ax.legend(fontsize=8, loc="lower left")
        div = runs[(runs["lr"] == lr) & (runs["status"] != "ok")]["run"].tolist()
        mark_diverged(ax, [f"{len(div)} run(s) (×: where it left the plot)"] if div else [])
    fig.suptitle(f"Training curves with and without BatchNorm, plain SGD ({_net(res)}; one line "
                 "per seed)", fontsize=11)
    first = steps[steps["step"] == 0]["loss"]
    if len(first):                       # a diverged run's last losses would squash the rest
        axes[0, 0].set_ylim(top=10 * first.max())
    lr_max = max(lrs)
    units = bn_lr_units(steps, runs, lr_max)
    at = runs[runs["lr"] == lr_max]
    ratios = ", ".join(
        f"{r.variant} seed {r.seed}: "
        f"{loss_ratio(steps.loc[steps['run'] == r.run].sort_values('step')['loss'], r.status):.3g}"
        for r in at[at["variant"] != "noisy_bn"].itertuples())
    return fig, less("H-bn-lr", f"at the largest lr ({lr_max:g}): max(BN loss ratio / (1/10), (1/10) / "
                     "standard loss ratio) < 1 per seed — BN's loss ends below 1/10 of its start, "
                     "the standard net's does not or it diverges (loss ratio: last-10 %-of-steps "
                     "mean / first step; diverged: ∞)", math.nan, 1.0, _note(at),
                     units=units.tolist(), finding=f"loss ratios at lr {lr_max:g}: {ratios}",
                     diverged=int((at["status"] != "ok").sum()))


@figure("H-activations")
def h_activations(res: Results):
    fig, runs, drift = _histograms(res, ("standard", "bn"),
                                   "Distribution of a unit's input to the non-linearity over training")
    d = with_runs(drift, runs)
    d = d[d["lr"] == _shown_lr(runs)].groupby(["variant", "layer"])[["mean_drift", "var_drift"]].mean()
    per_layer = "; ".join(f"{VARIANTS[v]}: " + ", ".join(
        f"L{layer} {row.mean_drift:.3f}/{row.var_drift:.3f}" for (vv, layer), row in d.iterrows()
        if vv == v) for v in ("standard", "bn") if v in d.index.get_level_values(0))
    ratio = drift_ratio_units(drift, runs[runs["lr"] == _shown_lr(runs)], "standard", "bn")
    claim = Claim("H-activations", "visual (no claim): per-layer drift of the mean (in batch "
                  "stds) / of the log-variance over training; value: standard's mean drift over "
                  "BN's (mean over seeds)", float(ratio.mean()) if len(ratio) else math.nan,
                  math.nan, None, finding=per_layer)
    return fig, claim


@figure("H-noisy-activations")
def h_noisy_activations(res: Results):
    fig, runs, drift = _histograms(res, ("bn", "noisy_bn"), "BatchNorm and \"noisy\" BatchNorm "
                                   "(time-varying noise after every BN layer)")
    at = runs[runs["lr"] == _shown_lr(runs)]
    units = drift_ratio_units(drift, at, "noisy_bn", "bn")
    var_ratio = drift_ratio_units(drift, at, "noisy_bn", "bn", "var_drift")
    records = res.table("activation_stats").groupby("run")["step"].nunique().min()
    return fig, greater("H-noisy-activations", "noisy BN's mean drift / BN's (averaged over layers) "
                        "> 2 per seed: the injected noise shifts the distributions", math.nan,
                        DRIFT_FACTOR, f"{_note(at)}; {records} records per run (a drift needs 3)",
                        units=units.tolist(),
                        finding=f"log-variance drift ratio {var_ratio.mean():.3g} (mean over seeds)"
                        if len(var_ratio) else "")


@figure("H-noisy-accuracy")
def h_noisy_accuracy(res: Results):
    runs = _runs(res)
    lr = _shown_lr(runs)
    at = runs[runs["lr"] == lr]
    ep = res.table("epochs")
    ep = with_runs(ep[ep["run"].isin(at["run"])], at)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    sns.lineplot(ep.assign(acc=100 * ep["test_acc"], net=ep["variant"].map(VARIANTS)), x="epoch",
                 y="acc", hue="net", style="net", markers=True, dashes=False, errorbar=("pi", 100),
                 hue_order=list(VARIANTS.values()), palette=list(COLORS.values()), ax=ax)
    ax.set(xlabel="epoch", ylabel="test accuracy (%, eval mode)",
           title=f"Accuracy: standard, BatchNorm and \"noisy\" BatchNorm\n({_net(res)}, lr {lr:g}; "
                 "band: range over seeds)")
    ax.title.set_fontsize(10)
    ax.legend(title=None, fontsize=9, loc="lower right")
    mark_diverged(ax, at[at["status"] != "ok"]["run"].tolist())
    ok = at[at["status"] == "ok"]
    acc = accuracy_units(ep[ep["run"].isin(ok["run"])], ok)
    close = less("H-noisy-accuracy", "", math.nan, CLOSE, units=acc["gap"].tolist())
    above = greater("H-noisy-accuracy", "", math.nan, 0.0, units=acc["above"].tolist())
    claim = both(close, above, note=f"{_note(at)}; |BN − noisy BN| < 2 points: "
                 f"{close.value:.3g} ({close.verdict}); noisy BN − standard > 0: "
                 f"{above.value:.3g} points ({above.verdict})")
    return fig, replace(claim, claim="noisy BN stays close to BN: |BN − noisy BN| test accuracy, "
                        "averaged over epochs, < 2 points, and noisy BN above standard (per seed)",
                        diverged=int((at["status"] != "ok").sum()))
