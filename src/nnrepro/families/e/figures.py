"""Family E figures: implicit bias and dynamical systems (seed 002).

Each figure is three functions: a pure claim function of its tables (``*_claim``, exact claims:
the value is compared with the threshold), a drawing function of the same tables and the claim,
and the ``@figure`` function that reads the tables and calls both. A claim's test wording and
threshold are the catalogue's (``FIGURE_INFO[id]``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import pandas as pd
import seaborn as sns

from nnrepro.catalogue import FIGURE_INFO
from nnrepro.claims import Claim, greater, less
from nnrepro.plotting import figure
from nnrepro.results import NoData


def _last(df, col="step"):
    return df[df[col] == df[col].max()]


def _words(fig_id: str) -> tuple[str, float]:
    """The catalogue's test wording and threshold of a figure's claim."""
    info = FIGURE_INFO[fig_id]
    return info.test, info.threshold


# ---------------------------------------------------------------- E-min-norm
def min_norm_claim(df: pd.DataFrame) -> Claim:
    """E-min-norm: the largest end gap to Y X⁺ + W⁰P_null over init scales. ``df``: the
    ``min_norm`` rows after step 0."""
    end = _last(df)
    test, threshold = _words("E-min-norm")
    return less("E-min-norm", test, end.err.max(), threshold,
                note=f"gap at zero init {end[end.init_scale == 0].gap.max():.1e}")


def draw_min_norm(df: pd.DataFrame, claim: Claim):
    """Draws E-min-norm from the tables its claim reads; returns the matplotlib figure."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.lineplot(df, x="step", y="gap", hue="init_scale", palette="viridis", ax=ax,
                 legend="full")
    for s, g in df.groupby("init_scale"):
        if s > 0:
            ax.axhline(g.null_part.iloc[0], color="gray", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="GD step t", ylabel="‖W_t − Y X⁺‖ (Frobenius)",
           title="GD on overparameterized least squares (N < d)\n"
                 "gap to the pseudoinverse solution; dotted: ‖W⁰ P_null‖")
    ax.legend(title="init scale ‖W⁰‖ ∝", fontsize=8)
    return fig


@figure("E-min-norm")
def min_norm(res):
    df = res.table("min_norm")
    df = df[df.step > 0]
    claim = min_norm_claim(df)
    return draw_min_norm(df, claim), claim


# ---------------------------------------------------------------- E-ridge
def ridge_claim(path: pd.DataFrame, eig: pd.DataFrame) -> Claim:
    """E-ridge: the worst of the relative distance to Y X⁺ at the smallest λ, the miscount of
    zero eigenvalues at λ = 0 and the largest (λ − μ_min)/λ over λ > 0."""
    n, d, m = int(eig.n.iloc[0]), int(eig.d.iloc[0]), int(eig.outputs.iloc[0])
    zero = int((eig[eig.lam == 0].eigenvalue.abs() < 1e-9).sum())
    short = max(((lam - g.eigenvalue.min()) / lam for lam, g in eig[eig.lam > 0].groupby("lam")))
    lam0 = path[path.lam == path.lam.min()]
    value = max(lam0.rel_dist.iloc[0], abs(zero - m * (d - n)), max(short, 0.0))
    test, threshold = _words("E-ridge")
    return less("E-ridge", test, value, threshold,
                note=f"{zero} zero eigenvalues at λ = 0 (outputs·(d − N) = {m * (d - n)}), "
                     f"relative distance {lam0.rel_dist.iloc[0]:.1e} at the smallest λ = "
                     f"{lam0.lam.iloc[0]:g}")


def draw_ridge(path: pd.DataFrame, eig: pd.DataFrame, claim: Claim):
    """Draws E-ridge from the tables its claim reads; returns the matplotlib figure."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    sns.lineplot(path, x="lam", y="rel_dist", marker="o", ax=a)
    a.set(xscale="log", yscale="log", xlabel="λ", ylabel="‖W_λ − Y X⁺‖ / ‖Y X⁺‖",
          title="Ridge W_λ = Y Xᵀ(XXᵀ + λI)⁻¹ → Y X⁺ as λ → 0")
    eig = eig.assign(lam_label=eig.lam.map(lambda v: f"λ = {v:g}"))
    sns.lineplot(eig, x="index", y="eigenvalue", hue="lam_label", marker=".", ax=b)
    b.set(xlabel="eigenvalue index (ascending)",
          ylabel="eigenvalue of H = XXᵀ + λI (symlog)", title="Hessian at the minimum")
    b.set_yscale("symlog", linthresh=1e-3)
    b.set_ylim(bottom=-1e-4)
    b.legend(title=None, fontsize=8)
    return fig


@figure("E-ridge")
def ridge(res):
    path, eig = res.table("ridge"), res.table("ridge_hessian")
    claim = ridge_claim(path, eig)
    return draw_ridge(path, eig, claim), claim


# ---------------------------------------------------------------- E-perturb
def perturb_claim(df: pd.DataFrame) -> Claim:
    """E-perturb: the worst of the end-point shift with decay and |shift − ‖δP_null‖| without."""
    end = _last(df)
    decay, free = end[end.weight_decay > 0], end[end.weight_decay == 0]
    back, kept = decay["shift"].max(), (free["shift"] - free.null_part).abs().max()
    test, threshold = _words("E-perturb")
    return less("E-perturb", test, max(back, kept), threshold,
                note=f"shift without decay {free['shift'].min():.2f} or more")


def draw_perturb(df: pd.DataFrame, claim: Claim):
    """Draws E-perturb from the tables its claim reads; returns the matplotlib figure."""
    df = df.assign(setting=df.weight_decay.map(lambda v: f"weight decay λ = {v:g}"))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.lineplot(df[df["shift"] > 0], x="step", y="shift", hue="setting", units="trial",
                 estimator=None, ax=ax, lw=1.2)
    for v in df[df.weight_decay == 0].groupby("trial").null_part.first():
        ax.axhline(v, color="gray", ls=":", lw=1)
    ax.axvline(df[df["shift"] > 0].step.min(), color="k", lw=0.8, ls="--")
    ax.set(yscale="log", xlabel="GD step t",
           ylabel="‖W_t(perturbed) − W_t(unperturbed)‖",
           title="GD kicked at mid-run (dashed): the hyperbolic minimum returns,\n"
                 "the degenerate one keeps the kick's null-space part (dotted)")
    ax.legend(title=None)
    return fig


@figure("E-perturb")
def perturb(res):
    df = res.table("perturb")
    claim = perturb_claim(df)
    return draw_perturb(df, claim), claim


# ---------------------------------------------------------------- E-deep-hessian
def hessian_ranks(df: pd.DataFrame) -> pd.DataFrame:
    """The ``deep_hessian`` rows with |μ| and its rank (ascending) within each λ."""
    df = df.assign(abs_eig=df.eigenvalue.abs(), lam_label=df.lam.map(lambda v: f"λ = {v:g}"))
    df["rank"] = df.groupby("lam").abs_eig.rank(method="first")
    return df


def deep_hessian_claim(df: pd.DataFrame) -> Claim:
    """E-deep-hessian: min μ at λ > 0 over the (P − N)-th smallest |μ| at λ = 0. ``df``: from
    ``hessian_ranks``."""
    if not ((df.lam == 0).any() and (df.lam > 0).any()):
        raise NoData("the Hessian spectrum needs λ = 0 and a λ > 0 (deep_hessian.lambdas)")
    P, N = int(df.params.iloc[0]), int(df.n.iloc[0])
    small0 = df[df.lam == 0].abs_eig.sort_values().iloc[P - N - 1]
    mu_min = df[df.lam > 0].groupby("lam").eigenvalue.min().min()
    test, threshold = _words("E-deep-hessian")
    return greater("E-deep-hessian", test, mu_min / small0, threshold,
                   note=f"(P−N)-th |μ| at λ = 0: {small0:.1e}; min μ at λ > 0: {mu_min:.3g}")


def draw_deep_hessian(df: pd.DataFrame, claim: Claim):
    """Draws E-deep-hessian from the tables its claim reads; returns the matplotlib figure."""
    P, N = int(df.params.iloc[0]), int(df.n.iloc[0])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.lineplot(df, x="rank", y="abs_eig", hue="lam_label", marker=".", ax=ax)
    ax.axvline(P - N, color="gray", ls=":", label=f"P − N = {P - N}")
    ax.set(yscale="log", xlabel="eigenvalue rank (ascending |μ|)", ylabel="|μ| of the loss Hessian",
           title=f"MLP ({P} parameters, N = {N} points) at a square-loss minimum")
    ax.legend(title=None)
    return fig


@figure("E-deep-hessian")
def deep_hessian(res):
    df = hessian_ranks(res.table("deep_hessian"))
    claim = deep_hessian_claim(df)
    return draw_deep_hessian(df, claim), claim


# ---------------------------------------------------------------- E-exp-direction
def exp_direction_claim(df: pd.DataFrame) -> Claim:
    """E-exp-direction: the largest relative distance of w(T) to the asymptote ŵ log T + w̃."""
    end = _last(df)
    rel = (end.asym_dist / end.norm).max()
    test, threshold = _words("E-exp-direction")
    return less("E-exp-direction", test, rel, threshold,
                note=f"angle at T {end.angle.min():.2f}–{end.angle.max():.2f}°, "
                     f"{end.init.nunique()} inits")


def draw_exp_direction(df: pd.DataFrame, claim: Claim):
    """Draws E-exp-direction from the tables its claim reads; returns the matplotlib figure."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, y, asym, label in ((a, "norm", "asym_norm", "‖w(t)‖"),
                               (b, "angle", "asym_angle", "angle(w(t), ŵ) (degrees)")):
        sns.lineplot(df, x="step", y=y, hue="loss", units="init", estimator=None, ax=ax, lw=1)
        ref = df[(df.loss == "exponential") & (df.init == 0) & (df.step >= 100)]  # asymptotic
        ax.plot(ref.step, ref[asym], "k--", lw=1, label="ŵ log t + w̃")
        ax.set(xscale="log", xlabel="GD step t (log)", ylabel=label)
        ax.legend(title=None, fontsize=8)
    a.set_title("‖w‖ grows like ‖ŵ‖ log t")
    b.set(yscale="log", title="direction → hard-margin SVM ŵ, from every init")
    return fig


@figure("E-exp-direction")
def exp_direction(res):
    df = res.table("exp_direction")
    df = df[df.step > 0]
    claim = exp_direction_claim(df)
    return draw_exp_direction(df, claim), claim


# ---------------------------------------------------------------- E-reg-norm-es
def reg_norm_es_claim(df: pd.DataFrame) -> Claim:
    """E-reg-norm-es: the larger relative distance to GD's asymptote of regularized GD at the
    smallest λ and of early-stopped GD at the last T."""
    if not {"regularized", "early-stopped"} <= set(df.method):
        raise NoData("the claim needs regularized and early-stopped GD rows")
    ends = [df[df.method == "regularized"].sort_values("param").iloc[0],
            df[df.method == "early-stopped"].sort_values("param").iloc[-1]]
    rel = max(e.off_line / e.norm for e in ends)
    test, threshold = _words("E-reg-norm-es")
    return less("E-reg-norm-es", test, rel, threshold,
                note=f"angles {ends[0].angle:.2f}° (λ = {ends[0].param:g}), "
                     f"{ends[1].angle:.2f}° (T = {ends[1].param:g})")


def draw_reg_norm_es(df: pd.DataFrame, claim: Claim):
    """Draws E-reg-norm-es from the tables its claim reads; returns the matplotlib figure."""
    axis = {"regularized": ("λ (weight decay; right = smaller)", True),
            "early-stopped": ("T (GD steps)", False),
            "normalized": ("ρ (norm of the normalized GD's fixed point)", False)}
    methods = [m for m in axis if m in set(df.method)]
    fig, axes = plt.subplots(2, len(methods), figsize=(4.6 * len(methods), 7.2), squeeze=False)
    for col, m in enumerate(methods):
        d = df[df.method == m].sort_values("param")
        for row, (y, label) in enumerate((("angle", "angle(w, ŵ) to the SVM (degrees)"),
                                          ("off_line", "distance to GD's line ŵ s + w̃"))):
            ax = axes[row, col]
            ax.plot(d.param, d[y], marker="o", color=f"C{col}")
            ax.set(xscale="log", yscale="log", xlabel=axis[m][0], ylabel=label if col == 0 else "")
            for a in (ax.xaxis, ax.yaxis):
                a.set_minor_formatter(NullFormatter())       # decade labels only
            if axis[m][1]:
                ax.invert_xaxis()
        axes[0, col].set_title(f"{m} GD")
    fig.suptitle("Regularized, early-stopped and normalized GD approach the SVM direction")
    return fig


@figure("E-reg-norm-es")
def reg_norm_es(res):
    df = res.table("reg_norm_es")
    claim = reg_norm_es_claim(df)
    return draw_reg_norm_es(df, claim), claim


# ---------------------------------------------------------------- E-homogeneity
def euler_sums(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (depth, point) Σ_k W_k ∂f/∂W_k and K·f; per depth the largest per-layer error
    |W_k ∂f/∂W_k − f|."""
    s = df.groupby(["depth", "point"]).agg(f=("f", "first"), lhs=("w_grad", "sum")).reset_index()
    s["Kf"] = s.depth * s.f
    err = (df.w_grad - df.f).abs().groupby(df.depth).max().reset_index(name="layer_err")
    return s, err


def homogeneity_claim(s: pd.DataFrame, err: pd.DataFrame) -> Claim:
    """E-homogeneity: max |Σ W ∂f/∂W − K f| / max |K f| (``s``, ``err`` from ``euler_sums``)."""
    rel = (s.lhs - s.Kf).abs().max() / s.Kf.abs().max()
    test, threshold = _words("E-homogeneity")
    return less("E-homogeneity", test, rel, threshold,
                note=f"max per-layer error {err.layer_err.max():.1e}")


def draw_homogeneity(s: pd.DataFrame, err: pd.DataFrame, claim: Claim):
    """Draws E-homogeneity from the tables its claim reads; returns the matplotlib figure."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    sns.scatterplot(s, x="Kf", y="lhs", hue="depth", palette="viridis", ax=a)
    lim = [s.Kf.min(), s.Kf.max()]
    a.plot(lim, lim, "k--", lw=1, label="y = x")
    a.set(xlabel="K · f(x)", ylabel="Σ_k Σ_ij W_k^ij ∂f/∂W_k^ij",
          title="Bias-free ReLU nets are homogeneous")
    a.legend(title="depth K", fontsize=8)
    sns.barplot(err, x="depth", y="layer_err", ax=b, color="C0")
    b.set(yscale="log", xlabel="depth K", ylabel="max_k,x |W_k ∂f/∂W_k − f|",
          title="per layer, W_k ∂f/∂W_k = f (float64)")
    return fig


@figure("E-homogeneity")
def homogeneity(res):
    s, err = euler_sums(res.table("homogeneity"))
    claim = homogeneity_claim(s, err)
    return draw_homogeneity(s, err, claim), claim
