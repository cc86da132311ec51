"""Family B figures (seed 001, "CIFAR 10 Examples"): one function per catalogue id.

Each figure is three functions: a pure claim function of the tables (``*_claim``: value,
interval, verdict), a drawing function of the same tables and the claim (``draw_*``), and the
``@figure`` function that selects the tables from the runs and calls both. A claim's test
wording and threshold are the catalogue's (``FIGURE_INFO[id]``)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import Claim, greater, less
from nnrepro.plotting import figure, mark_diverged, ok_rows, per_run, plot, runs_note, runs_table
from nnrepro.results import NoData, Results, Status


def _note(res: Results) -> str:
    return runs_note(runs_table(res), unit="seed(s)")


def _optimizer(res: Results, key: str = "optimizer") -> str:
    """The optimizer a run used, named for a legend: "Adam, lr 0.001"."""
    spec = res.runs[0]["spec"]
    opt = spec["swa"]["optimizer"] if key == "swa" else spec["optimizer"]
    name = {"adam": "Adam", "sgd": "SGD", "amsgrad": "AMSGrad", "rmsprop": "RMSprop",
            "adagrad": "Adagrad"}.get(opt["name"], opt["name"])
    return f"{name}, lr {opt['lr']:g}"


def _ok_or_none(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """The ok runs' rows of ``df``; NoData when there are none (every run diverged)."""
    ok = ok_rows(df)
    if ok.empty:
        raise NoData(f"no ok run has {what} (every run diverged)")
    return ok


def train_loss_claim(steps: pd.DataFrame, note: str, diverged: int) -> Claim:
    """B-train-loss: per seed, the last tenth's mean loss over the first tenth's < 1/2."""
    info = FIGURE_INFO["B-train-loss"]
    return less("B-train-loss", info.test, math.nan, info.threshold, note,
                units=per_run(steps, last_to_first_tenth), min_n=5, diverged=diverged)


def draw_train_loss(steps: pd.DataFrame, claim: Claim, optimizer: str, diverged: list[str]):
    """Draws B-train-loss from the tables its claim reads; returns the matplotlib figure."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(steps, x="step", y="loss", hue="run", ax=ax, lw=0.6, alpha=0.35, legend=False)
    smooth = steps.groupby("step")["loss"].mean().rolling(25, min_periods=1).mean()
    ax.plot(smooth.index, smooth.values, color="black", lw=1.8, label="mean over seeds, 25-step moving average")
    ax.set(yscale="log", xlabel="iteration (minibatch step)", ylabel="training loss (cross-entropy, nats)",
           title=f"In-sample training loss along iterations ({optimizer}, from scratch)")
    ax.legend(loc="upper right")
    mark_diverged(ax, diverged)
    return fig


@figure("B-train-loss")
def b_train_loss(res: Results):
    steps = res.table("steps")
    claim = train_loss_claim(steps, _note(res), len(res.diverged()))
    return draw_train_loss(steps, claim, _optimizer(res), res.diverged()), claim


def last_to_first_tenth(g: pd.DataFrame) -> float:
    """Mean loss of a run's last 10 % of steps over the mean of its first 10 %."""
    k = max(1, len(g) // 10)
    g = g.sort_values("step")
    return g["loss"].iloc[-k:].mean() / g["loss"].iloc[:k].mean()


def swa_claim(ep: pd.DataFrame, note: str, diverged: int) -> Claim:
    """B-swa: per seed, final SWA test error − final base test error ≤ 0 (points). ``ep``: the
    base and SWA rows of the epochs table with ``test_error`` (%) and ``model`` named for the
    legend (the SWA average's name starts with "SWA")."""
    info = FIGURE_INFO["B-swa"]
    last = ok_rows(ep).sort_values("epoch").groupby(["run", "model"]).tail(1)
    errors = ", ".join(f"{m}: {v:.2f} %" for m, v in last.groupby("model")["test_error"].mean().items())
    return less("B-swa", info.test, math.nan, info.threshold, note, inclusive=True,
                units=per_run(ep, swa_minus_base), min_n=5, diverged=diverged,
                finding=f"final test error (mean over seeds): {errors}")


def draw_swa(ep: pd.DataFrame, claim: Claim, n_base: int, diverged: list[str]):
    """Draws B-swa from the tables its claim reads; returns the matplotlib figure."""
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(11, 4.2))
    for a, d, band in ((ax, ep, ("pi", 100)), (zoom, ep[ep["epoch"] > n_base], None)):
        sns.lineplot(d, x="epoch", y="test_error", hue="model", style="model", markers=True, ax=a,
                     errorbar=band)
        a.set(xlabel="epoch", ylabel="test error (%)")
    ax.axvline(n_base + 0.5, color="grey", ls=":", lw=1)
    ax.text(n_base + 0.7, ax.get_ylim()[0], " SWA starts", va="bottom", fontsize=8, color="grey")
    ax.set_title("Test error: base run and SWA average (band: range over seeds)")
    zoom.set_title("Zoom on the SWA phase (mean over seeds)")
    mark_diverged(ax, diverged)
    return fig


@figure("B-swa")
def b_swa(res: Results):
    ep = res.table("epochs")
    ep = ep[ep["model"].isin(["base", "swa"])].assign(
        test_error=lambda d: 100 * d["err"],
        model=lambda d: d["model"].map({"base": f"base run ({_optimizer(res)})",
                                        "swa": f"SWA average ({_optimizer(res, 'swa')})"}))
    claim = swa_claim(ep, _note(res), len(res.diverged()))
    return draw_swa(ep, claim, res.runs[0]["spec"]["epochs"], res.diverged()), claim


def swa_minus_base(g: pd.DataFrame) -> float:
    """A run's final SWA test error minus its final base test error (percentage points)."""
    last = g.sort_values("epoch").groupby(g["model"].str.startswith("SWA")).tail(1)
    by = last.set_index(last["model"].str.startswith("SWA"))["test_error"]
    return by.get(True, math.nan) - by.get(False, math.nan)


def swag_ci_claim(widths: pd.DataFrame, note: str, diverged: int) -> Claim:
    """B-swag-ci: per seed, the mean interval width on misclassified test images over the mean
    on correct ones > 1."""
    info = FIGURE_INFO["B-swag-ci"]
    return greater("B-swag-ci", info.test, math.nan, info.threshold, note,
                   units=per_run(widths, width_ratio), min_n=5, diverged=diverged)


def draw_swag_ci(ci: pd.DataFrame, widths: pd.DataFrame, samples: pd.DataFrame, claim: Claim):
    """Draws B-swag-ci from the tables its claim reads.

    ``ci``: one run's per-class intervals; ``widths``, ``samples``: every run's."""
    images = ci["image"].unique()
    fig, axes = plt.subplots(2, math.ceil(len(images) / 2) + 1, figsize=(13, 5.6),
                             gridspec_kw={"width_ratios": [1] * math.ceil(len(images) / 2) + [1.2]})
    panels = axes[:, :-1].flatten()
    for ax, img in zip(panels, images):
        d = ci[ci["image"] == img]
        colors = ["#1a7f37" if k == d["label"].iloc[0] else "#57606a" for k in d["class"]]
        ax.bar(d["class"], d["mean"], color=colors, alpha=0.7)
        ax.errorbar(d["class"], d["mean"],   # clip: float32 quantiles can sit 1e-8 past the mean
                    yerr=[(d["mean"] - d["lo"]).clip(lower=0), (d["hi"] - d["mean"]).clip(lower=0)],
                    fmt="none", ecolor="black", capsize=2, lw=1)
        ok = "correct" if d["correct"].iloc[0] else "MISCLASSIFIED"
        ax.set(title=f"test image {img} (label {d['label'].iloc[0]}): {ok}", ylim=(0, 1.05),
               xticks=range(len(d)), xlabel="class", ylabel="p(class | x)")
        ax.title.set_fontsize(9)
    for ax in panels[len(images):]:
        ax.axis("off")
    gs = axes[0, -1].get_gridspec()
    for ax in axes[:, -1]:
        ax.remove()
    ax = fig.add_subplot(gs[:, -1])
    widths = widths.assign(prediction=widths["correct"].map({True: "correct", False: "misclassified"}))
    sns.boxplot(widths, x="prediction", y="width", ax=ax, order=["correct", "misclassified"])
    acc = samples[samples["mode"] == "lowrank"]["acc"] * 100
    ax.set(ylabel="95% interval width of the predicted class's probability", xlabel="",
           title=f"all test images\nsample test accuracy: {acc.quantile(0.025):.1f}–{acc.quantile(0.975):.1f} %")
    ax.title.set_fontsize(9)
    fig.suptitle("SWAG confidence intervals (mean and 95% interval over SWAG samples; green bar = true label)")
    return fig


@figure("B-swag-ci")
def b_swag_ci(res: Results):
    ci = res.table("swag_ci")
    if ci.empty:
        raise NoData("no run has SWAG intervals (every run diverged)")
    ci = ci[ci["run"] == ci["run"].iloc[0]]
    widths, samples = res.table("swag_widths"), res.table("swag_samples")
    claim = swag_ci_claim(widths, _note(res), len(res.diverged()))
    return draw_swag_ci(ci, widths, samples, claim), claim


def width_ratio(g: pd.DataFrame) -> float:
    """Mean interval width on misclassified test images over the mean on correct ones."""
    by = g.groupby("correct")["width"].mean()
    return by.get(False, math.nan) / by.get(True, math.nan)


def swa_plane_claim(pts: pd.DataFrame, note: str, diverged: int) -> Claim:
    """B-swa-plane: per seed, the average's test error − the mean of the three iterates' < 0."""
    info = FIGURE_INFO["B-swa-plane"]
    return less("B-swa-plane", info.test, math.nan, info.threshold, note,
                units=per_run(pts, average_minus_iterates), min_n=5, diverged=diverged)


def draw_swa_plane(plane: pd.DataFrame, pts: pd.DataFrame, claim: Claim, seed):
    """Draws B-swa-plane from the tables its claim reads.

    ``plane``, ``pts``: one run's plane and its plotted points."""
    loss = plane.pivot(index="y", columns="x", values="test_loss")
    err = plane.pivot(index="y", columns="x", values="test_err") * 100
    fig, ax = plt.subplots(figsize=(7.4, 5.8))
    cs = ax.contourf(loss.columns, loss.index, loss.values, levels=np.geomspace(
        loss.values.min(), loss.values.max(), 25), cmap="viridis", norm=LogNorm())
    fig.colorbar(cs, ax=ax, label="test loss (cross-entropy, nats; log colour)", format="%.2g")
    lines = ax.contour(err.columns, err.index, err.values, levels=6, colors="white", linewidths=0.7)
    ax.clabel(lines, fmt=lambda v: f"{v:.1f} %", fontsize=7)
    for _, p in pts.iterrows():
        is_avg = p["point"].startswith("average")
        ax.scatter(p["x"], p["y"], marker="*" if is_avg else "o", s=260 if is_avg else 70,
                   color="red" if is_avg else "white", edgecolor="black", zorder=3,
                   label=f"{'their average (SWA of the 3)' if is_avg else p['point']}: "
                         f"{100 * p['test_err']:.2f} % error")
    ax.set(xlabel="coordinate along û = w₂ − w₁ (weight-space units)",
           ylabel="coordinate along v̂ (weight-space units)",
           title=f"Test loss in the plane of three SWA iterates (seed {seed}; white: test error %)")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return fig


@figure("B-swa-plane")
def b_swa_plane(res: Results):
    plane = _ok_or_none(res.table("plane"), "a plane of SWA iterates")
    pts = ok_rows(res.table("plane_points"))
    run0 = sorted(plane["run"].unique())[0]
    seed = next(r["spec"]["seed"] for r in res.runs if r["run"] == run0)
    claim = swa_plane_claim(pts, _note(res), len(res.diverged()))
    return draw_swa_plane(plane[plane["run"] == run0], pts[pts["run"] == run0], claim, seed), claim


def average_minus_iterates(g: pd.DataFrame) -> float:
    """From a run's plane points: the average's test error minus the iterates' mean (points)."""
    avg = g["point"].str.startswith("average")
    return 100 * (g.loc[avg, "test_err"].mean() - g.loc[~avg, "test_err"].mean())


def flatness_claim(f: pd.DataFrame, note: str, diverged: int) -> Claim:
    """B-flatness: per seed, SWA's test-loss rise at the largest distance over the base's < 1.
    ``f``: the ok runs' flatness rows. The largest |t| is said in the note."""
    info = FIGURE_INFO["B-flatness"]
    dmax = f["distance"].abs().max()
    return less("B-flatness", info.test, math.nan, info.threshold,
                f"{note}; |t| = {dmax:g}",
                units=per_run(f, rise_ratio), min_n=5, diverged=diverged)


def draw_flatness(f: pd.DataFrame, claim: Claim, diverged: list[str]):
    """Draws B-flatness from the tables its claim reads; returns the matplotlib figure."""
    long = f.melt(id_vars=["run", "solution", "direction", "distance"],
                  value_vars=["train_loss", "test_loss"], var_name="data", value_name="loss")
    long["data"] = long["data"].map({"train_loss": "train", "test_loss": "test"})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    for ax, data in zip(axes, ("train", "test")):
        sns.lineplot(long[long["data"] == data], x="distance", y="loss", hue="solution",
                     style="solution", ax=ax, errorbar=("pi", 100), markers=True)
        ax.set(xlabel="t along a filter-normalized direction (1 = one filter norm)",
               ylabel=f"{data} loss (cross-entropy, nats)", yscale="log",
               title=f"{data} loss (line: mean; band: range over directions and seeds)")
        ax.title.set_fontsize(10)
    mark_diverged(axes[0], diverged)
    fig.suptitle("Flatness (Li et al. 2018): loss around the base and the SWA solutions")
    return fig


@figure("B-flatness")
def b_flatness(res: Results):
    f = _ok_or_none(res.table("flatness"), "loss along random directions")
    claim = flatness_claim(f, _note(res), len(res.diverged()))
    return draw_flatness(f, claim, res.diverged()), claim


def rise_ratio(g: pd.DataFrame) -> float:
    """SWA's mean test-loss rise from t = 0 to |t| = max over the base's, for one run."""
    dmax = g["distance"].abs().max()
    centre = g[g["distance"].abs() == g["distance"].abs().min()].groupby("solution")["test_loss"].mean()
    edge = g[g["distance"].abs() == dmax].groupby("solution")["test_loss"].mean()
    rise = edge - centre
    return rise.get("SWA", math.nan) / rise.get("base", math.nan)


@plot("B-test-error.csv", ["epoch", "base_test_error", "swa_test_error"])
def b_test_error_curve(tables: Path) -> pd.DataFrame | None:
    """Test error (%) per epoch of the base run and of the SWA average, mean over seeds."""
    path = tables / "B" / "epochs.parquet"
    if not path.exists():
        return None
    ep = pd.read_parquet(path)
    ep = ep[(ep["status"] == Status.OK) & ep["model"].isin(["base", "swa"])]
    curve = (100 * ep.pivot_table(index="epoch", columns="model", values="err")).reset_index()
    return curve.rename(columns={"base": "base_test_error", "swa": "swa_test_error"})
