"""Family A end to end on digits: a tiny sweep, its six figures and claims; divergence; resume."""
import math

import numpy as np
import pandas as pd

from nnrepro import config
from nnrepro.catalogue import FIGURES
from nnrepro.runner import run
from nnrepro.render import render
from nnrepro.results import Results

from conftest import run_sweep, tiny

# tests/test_resume.py resumes this family's tiny run here (its resume has code of its own)
RESUME_POINT = {"epochs": 4, "sampler.resample": "cycle", "sampler.gamma": 0.1, "sampler.alpha": 10.0}


def _run(spec, path, env, run_id="r"):
    run("A", run_id, spec, path, env)
    return path / "run.json"


def test_tiny_sweep_renders_six_figures_with_claims(env, tmp_path):
    res = run_sweep("A", tiny("A"), tmp_path / "runs", env)
    assert len(res.runs) == 2 + 4 + 4
    # every row carries its sweep and the effective value of every swept setting: γ = 1 in the
    # T sweep (which does not vary it) is 1, not NaN, so a filter on γ keeps those runs
    epochs = res.table("epochs")
    assert {"sweep", "temperature", "gamma", "alpha", "resample", "seed"} <= set(epochs.columns)
    assert epochs[["temperature", "gamma", "alpha", "resample", "seed"]].notna().all().all()
    by_sweep = epochs.groupby("sweep")["run"].nunique().to_dict()
    assert by_sweep == {"temperature": 2, "gamma": 4, "gamma_alpha": 4}
    t_sweep = epochs[epochs["sweep"] == "temperature"]
    assert set(t_sweep["gamma"]) == {1.0} and len(epochs[epochs["gamma"] == 1]) > len(t_sweep)
    steps = res.table("steps")
    assert {"norm2", "theta_r", "r_norm2", "U", "nll", "kinetic_temperature"} <= set(steps.columns)
    samples = res.table("samples")
    assert samples["distance"].notna().any()
    # the sample ensemble is scored with the shared metrics, ECE and Brier included
    for col in ("ens_acc", "ens_nll", "ens_ece", "ens_brier", "test_ece"):
        assert samples[col].between(0, 10).all(), col
    claims = render("A", res, tmp_path / "fig", "quick")
    assert list(claims["figure_id"]) == FIGURES["A"]
    for fig_id in FIGURES["A"]:
        assert (tmp_path / "fig" / f"{fig_id}.png").stat().st_size > 10_000
    # a value for every claim the tiny sweep can support; too little data is inconclusive, not a
    # pass: a Spearman ρ over two temperatures (one seed) is ±1 whatever the data
    c = claims.set_index("figure_id")
    assert all(math.isfinite(v) or verdict == "inconclusive" for v, verdict in zip(c["value"], c["verdict"])), claims
    assert c.loc["A-norm-vs-T", "verdict"] == "inconclusive" and c.loc["A-gamma", "verdict"] == "inconclusive"
    assert math.isfinite(c.loc["A-dnorm-thetar", "value"]) and c.loc["A-dnorm-thetar", "n"] == 2


def test_huge_step_diverges_and_figures_still_render(env, tmp_path):
    bad = tiny("A")
    bad["grid"] = {"temperature": bad["grid"]["temperature"]}      # its two runs: T = 1 and 0.01
    runs = config.expand_runs(bad)
    runs["sampler.temperature~1_seed~0"]["sampler"]["lr"] = 50.0
    paths = [_run(spec, tmp_path / rid, env, rid) for rid, spec in runs.items()]
    res = Results(paths)
    assert res.diverged() == ["sampler.temperature~1_seed~0"]
    U = pd.read_parquet(tmp_path / "sampler.temperature~1_seed~0" / "steps.parquet")["U"]
    assert not U.map(math.isfinite).all()            # the non-finite potential was recorded
    claims = render("A", res, tmp_path / "fig", "quick")
    assert len(claims) == 6 and all((tmp_path / "fig" / f"{f}.png").exists() for f in FIGURES["A"])


# --- A's bounded statistics (issue 17): per-seed ρs get intervals that stay within [−1, 1] ---

def test_mean_rho_interval_decides_where_the_t_interval_does_not():
    from nnrepro.claims import greater
    from nnrepro.families.a.figures import mean_rho_interval
    rhos = [1.0, 1.0, 1.0, 1.0, 0.7]                  # every seed's ρ(T, ‖θ‖) ≥ 0.7, four exactly 1
    old = greater("A-norm-vs-T", "ρ > 0.8", math.nan, 0.8, units=rhos, min_n=5)
    assert old.verdict == "inconclusive" and old.high > 1          # t-interval: [0.77, 1.11]
    value, low, high, n = mean_rho_interval(rhos)
    assert n == 5 and 0.8 < low <= value <= high <= 1.0
    assert greater("A-norm-vs-T", "ρ > 0.8", math.nan, 0.8, interval=(value, low, high, n),
                   min_n=5).verdict == "pass"


def test_mean_rho_interval_is_not_fooled_by_exact_ones_as_fisher_z_is():
    from nnrepro.claims import fisher_interval, greater
    from nnrepro.families.a.figures import mean_rho_interval
    rhos = [1.0, 1.0, 1.0, 1.0, 0.2]                  # one seed barely correlated
    # Fisher z of ρ = 1 is infinite (clipped to ≈ 14): it swamps the mean and the interval passes
    assert greater("A", "ρ > 0.8", math.nan, 0.8, interval=fisher_interval(rhos)).verdict == "pass"
    ci = mean_rho_interval(rhos)
    assert ci[1] < 0.8 and ci[2] <= 1.0
    assert greater("A", "ρ > 0.8", math.nan, 0.8, interval=ci, min_n=5).verdict == "inconclusive"


def test_gamma_alpha_fraction_fails_when_most_seeds_miss_it():
    from nnrepro.claims import bootstrap_interval, greater
    fractions = [0.5, 0.5, 0.5, 1.0, 1.0]            # "must be 1 for every seed": 3 of 5 seeds miss
    old = greater("A-gamma-alpha", "= 1", math.nan, 1.0, inclusive=True, units=fractions, min_n=5)
    assert old.verdict == "inconclusive" and old.high > 1          # t-interval [0.36, 1.04]
    new = greater("A-gamma-alpha", "= 1", math.nan, 1.0, inclusive=True, min_n=5,
                  interval=bootstrap_interval(fractions, np.mean))
    assert new.verdict == "fail" and new.high < 1
    one_seed = greater("A-gamma-alpha", "= 1", math.nan, 1.0, inclusive=True, min_n=5,
                       interval=bootstrap_interval([1.0], np.mean))
    assert one_seed.verdict == "inconclusive"
