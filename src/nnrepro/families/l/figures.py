"""Family L figure: every predictive method on one model and data set, one table, reliability
diagrams, and the cold-posterior comparison (Wenzel et al. 2020)."""
from __future__ import annotations

import math
from dataclasses import replace
from functools import reduce

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import VERDICT_COLOR, VERDICTS, Claim, both, less
from nnrepro.plotting import figure, finished_table, mark_diverged, tables
from nnrepro.results import Results, Status

INFO = FIGURE_INFO["L-ensembles"]   # the test's wording and threshold (NLL difference < 0)

SINGLE = "single run"
WEIGHT_SCALING = "dropout, weight scaling"
METRICS = ("acc", "nll", "ece", "brier")
N_BINS = 15              # the confidence bins of experiment.reliability (as ECE)
MIN_SEEDS = 5             # a seed costs seconds at quick scale (issue 17: >= 5 such units)


def chains(ens: pd.DataFrame) -> dict[str, float]:
    """The SGHMC chains of an ensembles table, hottest first: method label -> its temperature
    (the tidy ``temperature`` column; NaN for every other method)."""
    by_T = ens.dropna(subset=["temperature"]).drop_duplicates("method")
    by_T = by_T.sort_values("temperature", ascending=False, kind="stable")
    return dict(zip(by_T["method"], by_T["temperature"]))


def hot_chain(ens: pd.DataFrame) -> str | None:
    """The label of the chain at T = 1, if there is one."""
    return next((m for m, T in chains(ens).items() if T == 1), None)


# Each method against the comparison its own source makes (issue 26), as (method, baseline,
# metric, source) in the claim's order; "nll": test NLL (nats), "err": test error (fraction).
CLAIMED = (
    # Lakshminarayanan et al. 2017: ensembles of M nets from random inits improve NLL over one net
    ("deep ensemble", SINGLE, "nll", "Lakshminarayanan et al. 2017"),
    # Izmailov et al. 2018 (seed 001: "SWA to improve on 'Flat Minimum' to 49.84% testing
    # error"): SWA's claim is about test error/accuracy
    ("SWA", SINGLE, "err", "Izmailov et al. 2018; seed 001"),
    # Maddox et al. 2019 (seed 001: "SWAG to quantify uncertainty"): SWAG's NLL vs SGD's
    ("SWAG-diagonal", SINGLE, "nll", "Maddox et al. 2019"),
    ("SWAG-low-rank", SINGLE, "nll", "Maddox et al. 2019"),
    # seed 003, Testing, "Use sampling: ... Generalizes slightly better than the above" (weight
    # scaling of the same net)
    ("MC dropout", WEIGHT_SCALING, "nll", "seed 003"),
)
COLD = "Wenzel et al. 2020"     # a cold posterior (T < 1) beats T = 1: each colder chain vs T = 1
UNIT = {"nll": "nats", "err": "error points"}


def comparisons(ens: pd.DataFrame) -> list[tuple[str, str, str, bool, str]]:
    """(method, baseline, metric, in the figure's claim, source) for every paired comparison drawn.

    The claim: each method against the comparison its source makes (``CLAIMED``; each colder
    SGHMC chain against T = 1, Wenzel et al. 2020). Beside it, not in the verdict, every method
    that is not the single run against the single run in NLL (Wenzel et al. find T = 1 worse
    than SGD; is the dropout net itself worse?), SWA's NLL, and MC dropout against weight
    scaling in test error (seed 003's "generalizes" read as error, Srivastava et al.'s metric)."""
    methods = list(dict.fromkeys(ens["method"]))
    out = [(m, b, k, True, src) for m, b, k, src in CLAIMED if m in methods and b in methods]
    if hot := hot_chain(ens):
        out += [(m, hot, "nll", True, COLD) for m in chains(ens) if m != hot]
    claimed = {(m, b, k) for m, b, k, *_ in out}
    out += [(m, SINGLE, "nll", False, "") for m in methods
            if m != SINGLE and (m, SINGLE, "nll") not in claimed]
    if {"MC dropout", WEIGHT_SCALING} <= set(methods):          # "generalizes": in test error too
        out.append(("MC dropout", WEIGHT_SCALING, "err", False, "seed 003"))
    return out


def paired(ens: pd.DataFrame) -> pd.DataFrame:
    """Per seed (run) and comparison: diff = metric(method) − metric(baseline) on that seed's
    test set (< 0: the method is better; metric: NLL, or error = 1 − accuracy). Only seeds
    holding both methods are paired."""
    values = {"nll": ens.pivot_table(index="run", columns="method", values="nll"),
              "err": 1 - ens.pivot_table(index="run", columns="method", values="acc")}
    rows = [dict(run=run, method=m, baseline=b, metric=k, in_claim=c, source=src,
                 diff=values[k].loc[run, m] - values[k].loc[run, b])
            for m, b, k, c, src in comparisons(ens) for run in values[k].index
            if pd.notna(values[k].loc[run, m]) and pd.notna(values[k].loc[run, b])]
    return pd.DataFrame(rows, columns=["run", "method", "baseline", "metric", "in_claim", "source", "diff"])


def per_comparison(diffs: pd.DataFrame, min_n: int = MIN_SEEDS) -> pd.DataFrame:
    """One row per comparison: mean paired difference, its 95 % Student-t interval over seeds,
    n, wins (seeds where the method is better) and the verdict of "mean diff < 0"."""
    rows = []
    for (m, b, k, c, src), g in diffs.groupby(["method", "baseline", "metric", "in_claim", "source"],
                                              sort=False):
        r = less("L-ensembles", f"{k}({m}) − {k}({b}) < 0", math.nan, INFO.threshold,
                 units=list(g["diff"]), min_n=min_n)
        rows.append(dict(method=m, baseline=b, metric=k, in_claim=c, source=src, mean_diff=r.value,
                         low=r.low, high=r.high, n=r.n, wins=int((g["diff"] < 0).sum()), verdict=r.verdict))
    return pd.DataFrame(rows, columns=["method", "baseline", "metric", "in_claim", "source", "mean_diff",
                                       "low", "high", "n", "wins", "verdict"])


OUTCOME = {"pass": "better", "fail": "worse", "inconclusive": "undecided"}


def _line(r) -> str:
    f = 100 if r.metric == "err" else 1                          # error in points, NLL in nats
    d = 3 if r.metric == "err" else 4
    src = f", {r.source}" if r.source else ""
    return (f"{r.method} − {r.baseline} ({'test error, points' if r.metric == 'err' else 'NLL'}{src}): "
            f"{f * r.mean_diff:+.{d}f} [{f * r.low:+.{d}f}, {f * r.high:+.{d}f}], "
            f"better in {r.wins}/{r.n} seeds: {OUTCOME[r.verdict]}")


def ensembles_claim(table: pd.DataFrame, ens: pd.DataFrame, diverged: int = 0,
                    min_n: int = MIN_SEEDS, confidence: pd.Series | None = None) -> Claim:
    """The row of L-ensembles from the per-comparison table: pass only if every claimed
    comparison is decided below 0 (its whole 95 % interval; an intersection-union test, so no
    correction for their number), fail if any is decided above 0, else inconclusive. Value and
    interval: the first claimed comparison whose verdict is the row's (in ``CLAIMED`` order)."""
    text = INFO.test
    claimed = table.loc[table["in_claim"].astype(bool)]
    if claimed.empty:
        return less("L-ensembles", text, math.nan, INFO.threshold, units=[], min_n=min_n,
                    diverged=diverged)
    parts = [less("L-ensembles", text, math.nan, INFO.threshold, interval=(r.mean_diff, r.low, r.high, r.n),
                  min_n=min_n) for r in claimed.itertuples()]
    row = reduce(both, parts)
    lead = next(r for r, p in zip(claimed.itertuples(), parts) if p.verdict == row.verdict)
    row = replace(row, value=lead.mean_diff, low=lead.low, high=lead.high, n=lead.n)
    counts = claimed["verdict"].value_counts()
    note = (f"value: {lead.method} − {lead.baseline} ({lead.metric}); per comparison "
            + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS[:3])
            + f" of {len(claimed)}; n = {int(lead.n)} seeds"
            + (f" (fewer than the {min_n} needed)" if lead.n < min_n else ""))
    return replace(row, test=text, note=note, finding=finding(table, ens, confidence), diverged=diverged)


def finding(table: pd.DataFrame, ens: pd.DataFrame, confidence: pd.Series | None = None) -> str:
    """Why, from the data: every claimed comparison's line, then those beside the claim, then
    for each claimed comparison decided worse what the data say: our setup or the science; and
    accuracy against mean top-class ``confidence`` (per method, from the reliability table)."""
    t = table.set_index(["method", "baseline", "metric"])
    acc = 100 * ens.groupby("method")["acc"].mean()
    claimed, beside = table[table["in_claim"].astype(bool)], table[~table["in_claim"].astype(bool)]
    parts = ["in the claim: " + "; ".join(_line(r) for r in claimed.itertuples())]
    if len(beside):
        parts.append("beside it: " + "; ".join(_line(r) for r in beside.itertuples()))
    worse = claimed[claimed["verdict"] == "fail"]
    why = []
    for r in worse.itertuples():
        if r.method == "MC dropout":
            why.append("MC dropout is worse in NLL than weight scaling of the same net, a net sized and "
                       "trained as fixed beforehand from Srivastava et al. (n/(1 − p) wide, longer): "
                       "against seed 003's 'generalizes slightly better', a finding about the method "
                       "on this data, not a setup fault we know of (see its test-error line beside "
                       "and its confidence below)")
        elif r.baseline == hot_chain(ens):
            why.append(f"{r.method} is worse than T = 1: no cold-posterior effect here (Wenzel et al. "
                       "report it on ResNet-20/CIFAR-10 with data augmentation, not an MLP on this data)")
        elif r.method.startswith("SWA"):
            why.append(f"{r.method} ({acc.get(r.method, math.nan):.2f} %) is worse than the single run "
                       f"({acc.get(SINGLE, math.nan):.2f} % accuracy); it starts from its solution and "
                       "moves on with its own lr schedule (our setup's schedule, see settings)")
        else:
            why.append(f"{r.method} is worse than the single run")
    if confidence is not None and len(worse):
        shown = list(dict.fromkeys([SINGLE, *worse["method"], *worse["baseline"]]))
        why.append("accuracy vs mean confidence: " + ", ".join(
            f"{m} {acc.get(m, math.nan):.2f} % vs {100 * confidence.get(m, math.nan):.2f} % ("
            f"{'under' if 100 * confidence.get(m, math.nan) < acc.get(m, math.nan) else 'over'}confident)"
            for m in shown))
    return "; ".join(parts + why)


def _table(ax, mean: pd.DataFrame, sd: pd.DataFrame, n: int) -> None:
    """The tidy table drawn: one row per method, mean over seeds (± sd of the NLL)."""
    cells = [[m, f"{100 * mean.loc[m, 'acc']:.2f}",
              f"{mean.loc[m, 'nll']:.4f}" + (f" ± {sd.loc[m, 'nll']:.4f}" if n > 1 else ""),
              f"{mean.loc[m, 'ece']:.4f}", f"{mean.loc[m, 'brier']:.4f}",
              f"{int(mean.loc[m, 'members'])}"] for m in mean.index]
    tab = ax.table(cellText=cells, bbox=[0, 0, 1, 1], cellLoc="right", colWidths=[2.2, 1, 1.8, 1, 1, 1],
                   colLabels=["method", "accuracy (%)", "NLL" + (" ± sd" if n > 1 else ""), "ECE",
                              "Brier", "members S"])
    tab.auto_set_font_size(False)
    tab.set_fontsize(9)
    best = mean["nll"].idxmin()
    for (row, col), cell in tab.get_celld().items():
        if row > 0 and col == 0:
            cell.set_text_props(ha="left")
        if row > 0 and col == 2 and mean.index[row - 1] == best:
            cell.set_text_props(fontweight="bold")
    ax.axis("off")
    ax.set_title(f"Test metrics, mean over {n} seed(s) (bold: lowest NLL)", fontsize=10)


def mean_confidence(rel: pd.DataFrame) -> pd.Series:
    """Per method: mean top-class probability over the finished runs' test images."""
    if rel.empty:
        return pd.Series(dtype=float)
    r = rel[rel["status"] == Status.OK]
    mass = (r["conf"] * r["count"]).groupby(r["method"]).sum()
    return mass / r.groupby("method")["count"].sum()


def _forest(ax, diffs: pd.DataFrame, table: pd.DataFrame, metric: str) -> None:
    """What the claim computes, for the comparisons in ``metric``: per comparison the seeds'
    paired differences (dots), their mean (◆) and 95 % interval (bar), coloured by its verdict;
    those beside the claim below the dotted line, in grey italics."""
    t = table[table["metric"] == metric].sort_values("in_claim", ascending=False, kind="stable")
    f = 100 if metric == "err" else 1
    for i, r in enumerate(t.itertuples()):
        color = VERDICT_COLOR[r.verdict]
        d = f * diffs[(diffs["method"] == r.method) & (diffs["baseline"] == r.baseline)
                      & (diffs["metric"] == metric)]["diff"]
        ax.scatter(d, np.full(len(d), i), s=16, color=color, alpha=0.5)
        if math.isfinite(r.low):
            ax.plot([f * r.low, f * r.high], [i, i], color=color, lw=2.5, solid_capstyle="butt")
        ax.scatter([f * r.mean_diff], [i], marker="D", s=50, color=color, edgecolor="black", zorder=3)
    ax.axvline(0, color="black", lw=1)
    split = int(t["in_claim"].sum())
    if 0 < split < len(t):
        ax.axhline(split - 0.5, color="grey", lw=0.8, ls=":")
    ax.set_yticks(range(len(t)), [f"{r.method} − {r.baseline}" for r in t.itertuples()], fontsize=8)
    for label, claimed in zip(ax.get_yticklabels(), t["in_claim"]):
        if not claimed:
            label.set(color="grey", style="italic")
    ax.set_ylim(len(t) - 0.5, -0.5)
    ax.set_xlabel("NLL(method) − NLL(baseline), nats" if metric == "nll" else
                  "error(method) − error(baseline), points (%)", fontsize=9)


def _forests(fig, cell, diffs: pd.DataFrame, table: pd.DataFrame) -> list:
    """One forest per metric in ``cell`` (NLL above, test error below), rows ∝ comparisons."""
    metrics = [k for k in ("nll", "err") if (table["metric"] == k).any()] or ["nll"]
    sizes = [max(1, int((table["metric"] == k).sum())) + 1 for k in metrics]
    sub = cell.subgridspec(len(metrics), 1, height_ratios=sizes, hspace=0.6)
    axes = [fig.add_subplot(sub[i]) for i in range(len(metrics))]
    for ax, k in zip(axes, metrics):
        _forest(ax, diffs, table, k)
    axes[0].set_title("Each comparison, paired by seed (dots), mean (◆), 95 % t-interval (bar); "
                      "< 0: method better\ngreen: decided < 0, red: > 0, amber: undecided; "
                      "grey italic: beside the claim", fontsize=9)
    return axes


def _reliability(rx, r: pd.DataFrame) -> None:
    """Pooled over seeds; each bin shaded by its share of the images, so bins holding a few
    images (accuracy 0 or 1 by chance) stay faint."""
    pooled = r.assign(hits=r["acc"] * r["count"], mass=r["conf"] * r["count"]).groupby("bin")[
        ["hits", "mass", "count"]].sum()
    conf, acc = pooled["mass"] / pooled["count"], pooled["hits"] / pooled["count"]
    share = pooled["count"] / pooled["count"].sum()
    alpha = np.clip(0.05 + 0.9 * np.sqrt(share / share.max()), 0.05, 0.95)
    colors = [(0.12, 0.47, 0.71, a) for a in alpha]
    rx.bar(conf, acc, width=1 / N_BINS, color=colors, edgecolor=colors)


def draw_ensembles(ens: pd.DataFrame, rel: pd.DataFrame, diffs: pd.DataFrame,
                   table: pd.DataFrame, claim: Claim, spec: dict, diverged: list[str]):
    """The paired differences the claim reads (``diffs``, ``table``: ``paired``,
    ``per_comparison``), the metrics table (mean over the finished runs of ``ens``) and one
    reliability diagram per method (``rel``); ``diverged``: runs to mark."""
    ok = ens[ens["status"] == Status.OK]
    methods = list(dict.fromkeys(ens["method"]))
    n = ok["run"].nunique()
    mean = ok.groupby("method")[list(METRICS) + ["members"]].mean().reindex(methods)
    sd = ok.groupby("method")[list(METRICS)].std().reindex(methods)
    fig, grid = plt.subplots(3, 5, figsize=(16, 11.5), gridspec_kw={"height_ratios": [1.35, 1, 1]})
    gs = grid[0, 0].get_gridspec()
    for a in grid[0]:
        a.remove()
    axes, tx = _forests(fig, gs[0, :2], diffs, table), fig.add_subplot(gs[0, 2:])
    mark_diverged(axes[0], diverged)
    _table(tx, mean, sd, n)

    for k, m in enumerate(methods[:10]):
        rx = grid[1 + k // 5, k % 5]
        r = rel[(rel["method"] == m) & (rel["status"] == Status.OK)] if len(rel) else rel
        if len(r):
            _reliability(rx, r)
        rx.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        ece = mean.loc[m, "ece"] if m in mean.index else math.nan
        rx.set(xlim=(0, 1), ylim=(0, 1), title=f"{m}\nECE {ece:.4f}")
        rx.title.set_fontsize(9)
        if k % 5 == 0:
            rx.set_ylabel("accuracy in bin")
        if k // 5 == 1 or k + 5 >= len(methods):
            rx.set_xlabel("confidence (top-class p)")

    for key in grid[1:].flat[len(methods):]:
        key.axis("off")
    if len(methods) < 10:
        grid[2, 4].text(0, 0.5, "Reliability diagrams:\nbar: accuracy of the test images\n"
                        "in a confidence bin, at the\nbin's mean confidence;\nshade ∝ √(images in "
                        "the bin);\ndashed: perfect calibration", fontsize=9, va="center")
    data = f"{spec['dataset']}, MLP {'-'.join(map(str, spec['model']['hidden']))}"
    if "dropout" in spec and "widen" in spec["dropout"]:       # the dropout net as trained
        from nnrepro.families.l.experiment import dropout_epochs, dropout_hidden
        data += (f"; dropout net p = {spec['dropout']['p']:g}, {'-'.join(map(str, dropout_hidden(spec)))}, "
                 f"{dropout_epochs(spec)} epochs vs {spec['epochs']}")
    fig.suptitle(f"Every method on one model and data set ({data}), {n} seeds; reliability "
                 f"diagrams pooled over seeds ({N_BINS} confidence bins)", fontsize=11)
    return fig


@figure("L-ensembles")
def l_ensembles(res: Results):
    ens, ok = finished_table(res, "ensembles")
    rel = res.table("reliability") if res.has_table("reliability") else pd.DataFrame()
    diffs = paired(ok)
    table = per_comparison(diffs)
    claim = ensembles_claim(table, ok, len(res.diverged()), confidence=mean_confidence(rel))
    return draw_ensembles(ens, rel, diffs, table, claim, res.runs[0]["spec"], res.diverged()), claim


@tables("L")
def l_tables(res: Results) -> dict[str, pd.DataFrame]:
    """The per-comparison verdicts behind L-ensembles' row, for the report."""
    if not res.has_table("ensembles"):
        return {}
    ens = res.table("ensembles")
    return {"comparisons": per_comparison(paired(ens[ens["status"] == Status.OK]))}
