"""Family D end to end: the experiment's tables, every figure and claim, and reference values
that follow from the closed-form solutions of the analytic problems."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from nnrepro.config import fill
from nnrepro.catalogue import FIGURES
from nnrepro.runner import Env
from nnrepro.families.d import experiment as d
from nnrepro.runner import run as run_experiment
from nnrepro.render import render
from nnrepro.results import Results

from conftest import tiny

# tests/test_resume.py: this family trains nothing, there is nothing to resume
RESUME_POINT = None


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("famD")
    out = root / "runs/D/default"
    run_experiment("D", "default", tiny("D"), out, Env(device="cpu"))
    return root, out


@pytest.fixture(scope="module")
def claims(run_dir):
    root, out = run_dir
    return render("D", Results([out / "run.json"]), root / "fig", "quick")


def test_every_figure_is_drawn_and_every_claim_passes(run_dir, claims):
    root, _ = run_dir
    for fig_id in FIGURES["D"]:
        assert (root / "fig" / f"{fig_id}.png").stat().st_size > 10_000, fig_id
    assert list(claims.figure_id) == FIGURES["D"]
    checked = claims[claims.figure_id != "D-saddle-surface"]
    failed = checked[~checked.passed.astype(bool)]
    assert failed.empty, failed[["figure_id", "value", "threshold", "note"]].to_string()
    assert claims.set_index("figure_id").loc["D-saddle-surface", "passed"] is None
    assert claims.set_index("figure_id").loc["D-saddle-surface", "value"] == 0.5


def table(run_dir, name):
    return pd.read_parquet(run_dir[1] / f"{name}.parquet")


def test_gd_on_the_saddle_follows_the_closed_form(run_dir):
    """Seed 004 §6.2.3: x_t = Σ (1 − ηλᵢ)^t c_{i,0} vᵢ; from (1, 0): x_t = ((1 − η)^t, 0)."""
    s = table(run_dir, "saddle")
    gd = s[s.method == "GD"]
    eta = fill("family_D", {})["saddle"]["lr"]
    assert np.allclose(gd.x, (1 - eta) ** gd.step, rtol=1e-12)
    assert (gd.y == 0).all()


def test_lr_schedule_matches_its_exact_solution(run_dir):
    """γ = 1/t: x(T) = (x(1) − Σu)/T, mean 1/T and std σ√(T−1)/T; γ = 1/t²: the noise-free part
    stops at x(1)e^{−(1 − 1/T)}; γ = 1: stationary std σ(1 − e⁻¹)/√(1 − e⁻²)."""
    s = table(run_dir, "lr_schedule").groupby("schedule").tail(1).set_index("schedule")
    cfg = fill("family_D", {})["lr_schedule"]
    T, sigma, n = cfg["horizon"], cfg["noise"], cfg["paths"]
    se = lambda sd: 4 * sd / math.sqrt(n)  # noqa: E731  4 standard errors of a mean over paths
    sd_t = sigma * math.sqrt(T - 1) / T
    assert abs(s.loc["γ = 1/t", "mean"] - 1 / T) < se(sd_t)
    assert s.loc["γ = 1/t", "std"] == pytest.approx(sd_t, rel=0.15)
    assert abs(s.loc["γ = 1/t²", "mean"] - math.exp(-(1 - 1 / T))) < se(s.loc["γ = 1/t²", "std"])
    sd_1 = sigma * (1 - math.exp(-1)) / math.sqrt(1 - math.exp(-2))
    assert s.loc["γ = 1", "std"] == pytest.approx(sd_1, rel=0.15)


def test_adam_counterexample_regret(run_dir):
    """A 101-step cycle that takes its 1010x step at x = +1 costs at least 2·1010 − 100·10·2 = 20
    of regret (−10(x + 1) ≥ −20): Adam's last cycle does; AMSGrad's costs far less."""
    a = table(run_dir, "adam_counterexample")
    last, x_big = {}, {}
    for m, g in a.groupby("method"):
        regret = g.avg_regret.values * g.step.values               # R_t
        last[m] = regret[-1] - regret[-102]      # steps 101k + 1 … 101(k + 1)
        x_big[m] = g.x.values[-102]              # iterate after step 101k: x used at step 101k + 1
    assert x_big["Adam"] == pytest.approx(1.0, abs=1e-9)
    assert last["Adam"] >= 20
    assert last["AMSGrad"] < 0.5 * last["Adam"]


def test_reparam_is_exact_in_float64(run_dir):
    r = table(run_dir, "reparam")
    one = r[r.problem == "1-D: y = 2x"].pivot(index="step", columns="method", values="x")
    assert (one["GD on g(y)=f(y/2), x=y/2"] == one["GD on f, lr α/4"]).all()  # powers of two: bit-exact


def test_experiments_are_seeded():
    cfg = dict(lr=0.1, steps=30, noise=0.05, paths=4)
    a = d.saddle_escape(cfg, torch.Generator().manual_seed(3))
    b = d.saddle_escape(cfg, torch.Generator().manual_seed(3))
    c = d.saddle_escape(cfg, torch.Generator().manual_seed(4))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


# ---------------------------------------------------------------- the claims' pure functions

from nnrepro.catalogue import FIGURE_INFO  # noqa: E402
from nnrepro.families.d import figures as fig_d  # noqa: E402


def _quadratic(osc: dict) -> pd.DataFrame:
    """Paths on the quadratic whose y goes 1 → −a → 0: oscillation 2a."""
    return pd.DataFrame([{"problem": "quadratic", "method": m, "step": k, "y": y}
                         for m, a in osc.items() for k, y in enumerate([1.0, -a, 0.0])])


def test_trajectories_claim_compares_the_adaptive_oscillation_with_gd():
    ok = fig_d.trajectories_claim(_quadratic({"GD": 1.0, "Adagrad": 0.1, "RMSprop": 0.2, "Adam": 0.3}))
    assert ok.verdict == "pass" and ok.value == pytest.approx(0.3) and ok.n == 0
    assert ok.test == FIGURE_INFO["D-trajectories"].test and ok.threshold == 0.5
    bad = fig_d.trajectories_claim(_quadratic({"GD": 1.0, "Adagrad": 0.1, "RMSprop": 0.2, "Adam": 0.8}))
    assert bad.verdict == "fail"


def _schedules(errors: dict) -> pd.DataFrame:
    """Each schedule's mean from 1 to ``e`` (std 0): its error at T is e."""
    return pd.DataFrame([{"schedule": k, "t": t, "mean": m, "std": 0.0, "noise": 1.0}
                         for k, e in errors.items() for t, m in ((1, 1.0), (10, e))])


def test_lr_schedule_claim_needs_both_parts():
    ok = fig_d.lr_schedule_claim(_schedules({"γ = 1": 0.5, "γ = 1/t": 0.01, "γ = 1/t²": 0.9}))
    assert ok.verdict == "pass" and ok.value == 0.01 and ok.note == "γ = 1: 0.5, γ = 1/t²: 0.9 (must be ≥ 0.1)"
    assert fig_d.lr_schedule_claim(_schedules({"γ = 1": 0.5, "γ = 1/t": 0.2})).verdict == "fail"
    other_converges = fig_d.lr_schedule_claim(_schedules({"γ = 1": 0.05, "γ = 1/t": 0.01}))
    assert other_converges.verdict == "fail" and other_converges.value == 0.01


def _saddle(escaped: int, gd_y: float = 0.0) -> pd.DataFrame:
    gd = [{"method": "GD", "path": 0, "step": k, "x": x, "y": gd_y, "loss": 0.5 * x * x}
          for k, x in enumerate([1.0, 0.1, 1e-4])]
    sgd = [{"method": "SGD", "path": p, "step": 2, "x": 0.0, "y": 3.0, "loss": -2.0 if p < escaped else 0.1}
           for p in range(20)]
    return pd.DataFrame(gd + sgd)


def test_saddle_escape_claim_needs_sgd_to_escape_and_gd_to_stay():
    ok = fig_d.saddle_escape_claim(_saddle(20))
    assert ok.verdict == "pass" and ok.value == 1.0 and "20/20 SGD paths escaped" in ok.note
    assert fig_d.saddle_escape_claim(_saddle(15)).verdict == "fail"
    assert fig_d.saddle_escape_claim(_saddle(20, gd_y=0.1)).verdict == "fail"   # GD left the saddle
