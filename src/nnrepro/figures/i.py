"""Family I figure (seed 003, "Gradient Descent under Reparameterization"): SGD and Path-SGD on a
ReLU net and on its rescaled copy."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nnrepro.claims import both, greater, less
from nnrepro.figures import figure
from nnrepro.figures.style import mark_diverged
from nnrepro.results import Results

SGD_DIFFER = 0.1      # SGD: the curves differ by more than 10 % of the loss somewhere
PATH_COINCIDE = 1e-6  # Path-SGD: they coincide to 1e-6 (float64 rounding is ~1e-16)
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


def worst_gaps(gaps: pd.DataFrame) -> tuple[float, float]:
    """(smallest over runs of SGD's largest loss gap, largest Path-SGD loss gap over runs and
    epochs): SGD must differ in every run, Path-SGD coincide in every run."""
    top = gaps.groupby(["optimizer", "run"])["loss_gap"].max()
    sgd = top.get("SGD", pd.Series(dtype=float))
    path = top.get("Path-SGD", pd.Series(dtype=float))
    return (float(sgd.min()) if len(sgd) else math.nan,
            float(path.max()) if len(path) else math.nan)


@figure("I-rescaling")
def i_rescaling(res: Results):
    ep = res.table("epochs")
    ok = ep[ep["status"] == "ok"]
    spec = res.runs[0]["spec"]
    layer, c = spec["rescale"]["layer"], spec["rescale"]["c"]
    fig, (ax, gx) = plt.subplots(1, 2, figsize=(13, 4.8))
    run0 = ep["run"].iloc[0]
    for (o, n), g in ep[ep["run"] == run0].groupby(["optimizer", "net"]):
        ax.plot(g["epoch"], g["train_loss"], color=COLORS[o], ls="-" if n == "original" else "--",
                lw=2.4 if n == "original" else 1.6, label=f"{o}, {n} net")
    ax.set(yscale="log", xlabel="epoch", ylabel="training loss (cross-entropy, whole set)",
           title=f"Training curves ({run0}); rescaled: Linear {layer} × {c:g}, Linear {layer + 1} ÷ {c:g}")
    ax.legend(fontsize=9)
    mark_diverged(ax, res.diverged())

    gaps = rescaling_gaps(ok) if len(ok) else pd.DataFrame(columns=["run", "optimizer", "epoch",
                                                                      "loss_gap", "weight_gap"])
    for (o, run), g in gaps[gaps["epoch"] > 0].groupby(["optimizer", "run"]):
        first = run == gaps["run"].iloc[0]
        gx.plot(g["epoch"], np.maximum(g["loss_gap"], FLOOR), color=COLORS[o], marker="o", ms=3,
                label=f"{o}: training loss |L̃ − L| / L" if first else None)
        gx.plot(g["epoch"], np.maximum(g["weight_gap"], FLOOR), color=COLORS[o], ls=":",
                label=f"{o}: weights ‖w̃ mapped back − w‖ / ‖w‖" if first else None)
    gx.axhline(SGD_DIFFER, color="grey", ls="--", lw=1)
    gx.axhline(PATH_COINCIDE, color="grey", ls="-.", lw=1)
    gx.text(0.02, SGD_DIFFER / 4, f"SGD must exceed {SGD_DIFFER:g}", fontsize=8, color="grey",
            transform=gx.get_yaxis_transform())
    gx.text(0.02, PATH_COINCIDE * 3, f"Path-SGD must stay below {PATH_COINCIDE:g}", fontsize=8,
            color="grey", transform=gx.get_yaxis_transform())
    gx.set(yscale="log", ylim=(FLOOR / 3, 10), xlabel="epoch",
           ylabel="relative gap, rescaled vs original",
           title="Gap between the two nets (all seeds; exact 0 drawn at 1e-17)")
    gx.legend(fontsize=8, loc="center right")
    fig.suptitle("Reparameterization: SGD depends on the rescaling of a ReLU net, Path-SGD does not")
    sgd, path = worst_gaps(gaps)
    note = (f"{len(res.runs)} seed(s), worst over seeds; SGD's largest loss gap {sgd:.3g}, "
            f"Path-SGD's {path:.2g}")
    if res.diverged():
        note += f"; {len(res.diverged())} diverged (excluded)"
    claim = both(less("I-rescaling", f"Path-SGD: max relative gap between the training-loss curves "
                      f"of the net and its rescaled copy < {PATH_COINCIDE:g}; SGD: > {SGD_DIFFER:g}",
                      path, PATH_COINCIDE, diverged=len(res.diverged())),
                 greater("I-rescaling", "", sgd, SGD_DIFFER), note=note)
    return fig, claim
