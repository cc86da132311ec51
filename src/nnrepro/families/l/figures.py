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


def comparisons(ens: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """(method, baseline, in the figure's claim) for every paired NLL comparison drawn.

    The claim: each method of FIGURES.md L (deep ensemble, SWA, both SWAGs, MC dropout, SGHMC at
    T = 1 and cold) against the single run. Beside it, not in the verdict: weight scaling of the
    dropout net against the single run and MC dropout against weight scaling of the same net
    (is the dropout net worse, or its MC average?), and the cold chain against T = 1 (the
    document's number: a cold posterior beats T = 1, Wenzel et al. 2020)."""
    methods = list(dict.fromkeys(ens["method"]))
    out = [(m, SINGLE, True) for m in methods if m not in (SINGLE, WEIGHT_SCALING)]
    if WEIGHT_SCALING in methods:
        out.append((WEIGHT_SCALING, SINGLE, False))
        if "MC dropout" in methods:
            out.append(("MC dropout", WEIGHT_SCALING, False))
    if hot := hot_chain(ens):
        out += [(m, hot, False) for m in chains(ens) if m != hot]
    return out


def paired_nll(ens: pd.DataFrame) -> pd.DataFrame:
    """Per seed (run) and comparison: diff = NLL(method) − NLL(baseline) on that seed's test
    set (< 0: the method is better). Only seeds holding both methods are paired."""
    nll = ens.pivot_table(index="run", columns="method", values="nll")
    rows = [dict(run=run, method=m, baseline=b, in_claim=c, diff=nll.loc[run, m] - nll.loc[run, b])
            for m, b, c in comparisons(ens)
            for run in nll.index if pd.notna(nll.loc[run, m]) and pd.notna(nll.loc[run, b])]
    return pd.DataFrame(rows, columns=["run", "method", "baseline", "in_claim", "diff"])


def per_method(diffs: pd.DataFrame, min_n: int = MIN_SEEDS) -> pd.DataFrame:
    """One row per comparison: mean paired NLL difference, its 95 % Student-t interval over
    seeds, n, wins (seeds where the method is better) and the verdict of "mean diff < 0"."""
    rows = []
    for (m, b, c), g in diffs.groupby(["method", "baseline", "in_claim"], sort=False):
        k = less("L-ensembles", f"NLL({m}) − NLL({b}) < 0", math.nan, INFO.threshold,
                 units=list(g["diff"]), min_n=min_n)
        rows.append(dict(method=m, baseline=b, in_claim=c, mean_diff=k.value, low=k.low,
                         high=k.high, n=k.n, wins=int((g["diff"] < 0).sum()), verdict=k.verdict))
    return pd.DataFrame(rows, columns=["method", "baseline", "in_claim", "mean_diff", "low", "high",
                                       "n", "wins", "verdict"])


OUTCOME = {"pass": "better", "fail": "worse", "inconclusive": "undecided"}


def _line(r) -> str:
    return (f"{r.method} − {r.baseline}: {r.mean_diff:+.4f} [{r.low:+.4f}, {r.high:+.4f}], "
            f"better in {r.wins}/{r.n} seeds: {OUTCOME[r.verdict]}")


def ensembles_claim(table: pd.DataFrame, ens: pd.DataFrame, diverged: int = 0,
                    min_n: int = MIN_SEEDS, confidence: pd.Series | None = None) -> Claim:
    """The row of L-ensembles from the per-method table: pass only if every method's paired
    difference is decided below 0 (its whole 95 % interval; an intersection-union test, so no
    correction for the number of methods), fail if any is decided above 0, else inconclusive.
    Value and interval are those of the method least clearly better (largest upper bound)."""
    text = INFO.test
    claimed = table.loc[table["in_claim"].astype(bool)].assign(key=lambda t: t["high"].fillna(math.inf))
    claimed = claimed.sort_values("key", ascending=False)
    if claimed.empty:
        return less("L-ensembles", text, math.nan, INFO.threshold, units=[], min_n=min_n,
                    diverged=diverged)
    parts = [less("L-ensembles", text, math.nan, INFO.threshold, interval=(r.mean_diff, r.low, r.high, r.n),
                  min_n=min_n) for r in claimed.itertuples()]
    row = reduce(both, parts)
    lead = claimed.iloc[0]
    counts = claimed["verdict"].value_counts()
    note = (f"value: {lead['method']} (least clearly better); per method "
            + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS[:3])
            + f" of {len(claimed)}; n = {int(lead['n'])} seeds"
            + (f" (fewer than the {min_n} needed)" if lead["n"] < min_n else ""))
    return replace(row, test=text, note=note, finding=finding(table, ens, confidence), diverged=diverged)


def finding(table: pd.DataFrame, ens: pd.DataFrame, confidence: pd.Series | None = None) -> str:
    """Why, from the data: every comparison's line, then what the diagnostic lines say about
    the methods decided worse than the single run, and their accuracy against their mean
    top-class ``confidence`` (per method, from the reliability table): under- or over-confident."""
    t = table.set_index(["method", "baseline"])
    acc = 100 * ens.groupby("method")["acc"].mean()
    said = lambda m, b: (f"{m} − {b} {t.loc[(m, b), 'mean_diff']:+.4f} "
                         f"({OUTCOME[t.loc[(m, b), 'verdict']]})")
    worse = [m for (m, b), r in t.iterrows() if b == SINGLE and r["in_claim"] and r["verdict"] == "fail"]
    why = []
    if "MC dropout" in worse and {("MC dropout", WEIGHT_SCALING), (WEIGHT_SCALING, SINGLE)} <= set(t.index):
        why.append(f"MC dropout is worse than the single run; {said('MC dropout', WEIGHT_SCALING)}, "
                   f"{said(WEIGHT_SCALING, SINGLE)}, accuracy of the dropout net "
                   f"{acc.get(WEIGHT_SCALING, math.nan):.2f} % vs the single run's "
                   f"{acc.get(SINGLE, math.nan):.2f} %"
                   + (": MC averaging itself loses to weight scaling of the same net"
                      if t.loc[("MC dropout", WEIGHT_SCALING), "verdict"] == "fail" else
                      ": the dropout net itself is worse, MC averaging does not make up for it"
                      if t.loc[(WEIGHT_SCALING, SINGLE), "verdict"] == "fail" else ""))
    hot = hot_chain(ens)
    cold = [(m, b) for m, b in t.index if hot and b == hot]
    if hot in worse and cold:
        why.append(f"{hot} is worse than the single run; {said(*cold[0])}"
                   + (": tempering the posterior (T < 1) helps, Wenzel et al.'s cold-posterior effect"
                      if t.loc[cold[0], "verdict"] == "pass" else ""))
    swa_like = [m for m in worse if m.startswith(("SWA", "SWAG"))]
    if swa_like:
        why.append(", ".join(f"{m} ({acc.get(m, math.nan):.2f} %)" for m in swa_like)
                   + f" are worse than the single run ({acc.get(SINGLE, math.nan):.2f} % accuracy); "
                   "they start from its solution and move on with their own lr schedule")
    if confidence is not None and worse:
        why.append("accuracy vs mean confidence: " + ", ".join(
            f"{m} {acc.get(m, math.nan):.2f} % vs {100 * confidence.get(m, math.nan):.2f} % ("
            f"{'under' if 100 * confidence.get(m, math.nan) < acc.get(m, math.nan) else 'over'}confident)"
            for m in [SINGLE] + worse))
    return "; ".join([_line(r) for r in table.itertuples()] + why)


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


def _forest(ax, diffs: pd.DataFrame, table: pd.DataFrame) -> None:
    """What the claim computes: per comparison the seeds' paired NLL differences (dots), their
    mean (◆) and 95 % interval (bar), coloured by the comparison's verdict."""
    for i, r in enumerate(table.itertuples()):
        color = VERDICT_COLOR[r.verdict]
        d = diffs[(diffs["method"] == r.method) & (diffs["baseline"] == r.baseline)]["diff"]
        ax.scatter(d, np.full(len(d), i), s=16, color=color, alpha=0.5)
        if math.isfinite(r.low):
            ax.plot([r.low, r.high], [i, i], color=color, lw=2.5, solid_capstyle="butt")
        ax.scatter([r.mean_diff], [i], marker="D", s=50, color=color, edgecolor="black", zorder=3)
    ax.axvline(0, color="black", lw=1)
    split = int(table["in_claim"].sum())
    if 0 < split < len(table):
        ax.axhline(split - 0.5, color="grey", lw=0.8, ls=":")
    ax.set_yticks(range(len(table)), [f"{r.method} − {r.baseline}" for r in table.itertuples()])
    for label, claimed in zip(ax.get_yticklabels(), table["in_claim"]):
        if not claimed:
            label.set(color="grey", style="italic")
    ax.invert_yaxis()
    ax.set(xlabel="NLL(method) − NLL(baseline), nats, paired by seed (< 0: method better)",
           title="Paired NLL difference per seed (dots), mean (◆), 95 % t-interval (bar)\n"
                 "green: decided < 0, red: > 0, amber: undecided; grey italic: not in the claim")


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
    """The paired NLL differences the claim reads (``diffs``, ``table``: ``paired_nll``,
    ``per_method``), the metrics table (mean over the finished runs of ``ens``) and one
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
    ax, tx = fig.add_subplot(gs[0, :2]), fig.add_subplot(gs[0, 2:])
    _forest(ax, diffs, table)
    mark_diverged(ax, diverged)
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
    fig.suptitle(f"Every method on one model and data set ({data}), {n} seeds; reliability "
                 f"diagrams pooled over seeds ({N_BINS} confidence bins)", fontsize=11)
    return fig


@figure("L-ensembles")
def l_ensembles(res: Results):
    ens, ok = finished_table(res, "ensembles")
    rel = res.table("reliability") if res.has_table("reliability") else pd.DataFrame()
    diffs = paired_nll(ok)
    table = per_method(diffs)
    claim = ensembles_claim(table, ok, len(res.diverged()), confidence=mean_confidence(rel))
    return draw_ensembles(ens, rel, diffs, table, claim, res.runs[0]["spec"], res.diverged()), claim


@tables("L")
def l_tables(res: Results) -> dict[str, pd.DataFrame]:
    """The per-method verdicts behind L-ensembles' row, for the report."""
    if not res.has_table("ensembles"):
        return {}
    ens = res.table("ensembles")
    return {"nll_per_method": per_method(paired_nll(ens[ens["status"] == Status.OK]))}
