"""Family B figures (seed 001, "CIFAR 10 Examples"): one function per catalogue id."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from nnrepro.claims import greater, less
from nnrepro.figures import figure
from nnrepro.figures.style import mark_diverged
from nnrepro.results import Results


def _note(res: Results) -> str:
    n = len(res.runs)
    div = res.diverged()
    return f"{n} seed(s)" + (f"; {len(div)} diverged (excluded): {', '.join(div)}" if div else "")


def _ok(df):
    return df[df["status"] == "ok"]


@figure("B-train-loss")
def b_train_loss(res: Results):
    steps = res.table("steps")
    lr = res.runs[0]["spec"]["optimizer"]["lr"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(steps, x="step", y="loss", hue="run", ax=ax, lw=0.6, alpha=0.35, legend=False)
    smooth = steps.groupby("step")["loss"].mean().rolling(25, min_periods=1).mean()
    ax.plot(smooth.index, smooth.values, color="black", lw=1.8, label="mean over seeds, 25-step moving average")
    ax.set(yscale="log", xlabel="iteration (minibatch step)", ylabel="training loss (cross-entropy, nats)",
           title=f"In-sample training loss along iterations (Adam from scratch, α = {lr:g})")
    ax.legend(loc="upper right")
    mark_diverged(ax, res.diverged())
    ratios = []
    for _, g in _ok(steps).groupby("run"):
        k = max(1, len(g) // 10)
        ratios.append(g["loss"].iloc[-k:].mean() / g["loss"].iloc[:k].mean())
    value = float(np.mean(ratios)) if ratios else math.nan
    return fig, less("B-train-loss", "mean loss of the last 10% of steps / mean of the first 10% < 1/2",
                     value, 0.5, _note(res))


@figure("B-swa")
def b_swa(res: Results):
    ep = res.table("epochs")
    ep = ep[ep["model"].isin(["base", "swa"])].assign(
        test_error=lambda d: 100 * d["err"],
        model=lambda d: d["model"].map({"base": "base run (Adam)", "swa": "SWA average"}))
    n_base = res.runs[0]["spec"]["epochs"]
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(11, 4.2))
    for a, d, band in ((ax, ep, ("pi", 100)), (zoom, ep[ep["epoch"] > n_base], None)):
        sns.lineplot(d, x="epoch", y="test_error", hue="model", style="model", markers=True, ax=a,
                     errorbar=band)
        a.set(xlabel="epoch", ylabel="test error (%)")
    ax.axvline(n_base + 0.5, color="grey", ls=":", lw=1)
    ax.text(n_base + 0.7, ax.get_ylim()[0], " SWA starts", va="bottom", fontsize=8, color="grey")
    ax.set_title("Test error: base run and SWA average (band: range over seeds)")
    zoom.set_title("Zoom on the SWA phase (mean over seeds)")
    mark_diverged(ax, res.diverged())
    last = _ok(ep).sort_values("epoch").groupby(["run", "model"]).tail(1)
    by = last.groupby("model")["test_error"].mean()
    value = by.get("SWA average", math.nan) - by.get("base run (Adam)", math.nan)
    return fig, less("B-swa", "final SWA test error − final base test error ≤ 0 (percentage points; "
                     "paper-scale reference: 49.84 % SWA test error on CIFAR-10)", value, 0.0,
                     _note(res), inclusive=True)


@figure("B-swag-ci")
def b_swag_ci(res: Results):
    ci = res.table("swag_ci")
    run0 = ci["run"].iloc[0]
    ci = ci[ci["run"] == run0]
    images = ci["image"].unique()
    fig, axes = plt.subplots(2, math.ceil(len(images) / 2) + 1, figsize=(13, 5.6),
                             gridspec_kw={"width_ratios": [1] * math.ceil(len(images) / 2) + [1.2]})
    panels = axes[:, :-1].flatten()
    for ax, img in zip(panels, images):
        d = ci[ci["image"] == img]
        colors = ["#1a7f37" if k == d["label"].iloc[0] else "#57606a" for k in d["class"]]
        ax.bar(d["class"], d["mean"], color=colors, alpha=0.7)
        ax.errorbar(d["class"], d["mean"], yerr=[d["mean"] - d["lo"], d["hi"] - d["mean"]],
                    fmt="none", ecolor="black", capsize=2, lw=1)
        ok = "correct" if d["correct"].iloc[0] else "MISCLASSIFIED"
        ax.set(title=f"test image {img} (label {d['label'].iloc[0]}): {ok}", ylim=(0, 1.05),
               xticks=range(len(d)), xlabel="class", ylabel="p(class | x)")
        ax.title.set_fontsize(9)
    for ax in panels[len(images):]:
        ax.axis("off")
    widths = res.table("swag_widths")
    gs = axes[0, -1].get_gridspec()
    for ax in axes[:, -1]:
        ax.remove()
    ax = fig.add_subplot(gs[:, -1])
    widths = widths.assign(prediction=widths["correct"].map({True: "correct", False: "misclassified"}))
    sns.boxplot(widths, x="prediction", y="width", ax=ax, order=["correct", "misclassified"])
    samples = res.table("swag_samples")
    acc = samples[samples["mode"] == "lowrank"]["acc"] * 100
    ax.set(ylabel="95% interval width of the predicted class's probability", xlabel="",
           title=f"all test images\nsample test accuracy: {acc.quantile(0.025):.1f}–{acc.quantile(0.975):.1f} %")
    ax.title.set_fontsize(9)
    fig.suptitle("SWAG confidence intervals (mean and 95% interval over SWAG samples; green bar = true label)")
    by = widths.groupby("correct")["width"].mean()
    value = by.get(False, math.nan) / by.get(True, math.nan)
    return fig, greater("B-swag-ci", "mean 95%-interval width on misclassified / on correct test images > 1",
                        value, 1.0, _note(res))


@figure("B-swa-plane")
def b_swa_plane(res: Results):
    plane, pts = res.table("plane"), res.table("plane_points")
    run0 = plane["run"].iloc[0]
    plane, pts = plane[plane["run"] == run0], pts[pts["run"] == run0]
    grid = plane.pivot(index="y", columns="x", values="test_err") * 100
    fig, ax = plt.subplots(figsize=(6.8, 5.4))
    cs = ax.contourf(grid.columns, grid.index, grid.values, levels=20, cmap="viridis_r")
    fig.colorbar(cs, ax=ax, label="test error (%)")
    for _, p in pts.iterrows():
        is_avg = p["point"].startswith("average")
        ax.scatter(p["x"], p["y"], marker="*" if is_avg else "o", s=220 if is_avg else 60,
                   color="red" if is_avg else "white", edgecolor="black", zorder=3,
                   label=f"{p['point']}: {100 * p['test_err']:.2f} %")
    ax.set(xlabel="coordinate along û = w₂ − w₁ (weight-space units)",
           ylabel="coordinate along v̂ (weight-space units)",
           title=f"Test error in the plane of three SWA iterates ({run0})")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    ep = _ok(res.table("epochs"))
    values = []
    for run, g in ep.groupby("run"):
        iter_err = g[(g["model"] == "swa_iterate") & (g["collected"] == True)]["err"].mean()  # noqa: E712
        swa_err = g[g["model"] == "swa"].sort_values("epoch")["err"].iloc[-1]
        values.append(100 * (swa_err - iter_err))
    value = float(np.mean(values)) if values else math.nan
    return fig, less("B-swa-plane", "SWA test error − mean test error of the iterates it averages < 0 "
                     "(percentage points)", value, 0.0, _note(res))


@figure("B-flatness")
def b_flatness(res: Results):
    f = _ok(res.table("flatness"))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(f, x="distance", y="test_loss", hue="solution", style="solution", ax=ax,
                 errorbar=("pi", 100), markers=True)
    ax.set(xlabel="distance along a random unit direction (weight-space L2 units)",
           ylabel="test loss (cross-entropy, nats)",
           title="Flatness: test loss along random directions through base and SWA solutions")
    mark_diverged(ax, res.diverged())
    dmax = f["distance"].abs().max()
    centre = f[f["distance"].abs() < 1e-9].groupby(["run", "solution"])["test_loss"].mean()
    edge = f[f["distance"].abs() == dmax].groupby(["run", "solution"])["test_loss"].mean()
    rise = (edge - centre).groupby("solution").mean()
    value = rise.get("SWA", math.nan) / rise.get("base", math.nan)
    return fig, less("B-flatness", f"test-loss rise at distance {dmax:g}: SWA / base < 1",
                     value, 1.0, _note(res))
