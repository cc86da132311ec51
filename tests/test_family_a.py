"""Family A end to end on digits: a tiny sweep, its six figures and claims; divergence; resume;
its runs stacked into one job (issue 25)."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from nnrepro import config
from nnrepro.catalogue import FIGURES
from nnrepro.runner import run
from nnrepro.render import render
from nnrepro.results import Results

from conftest import dnorm2_dt_atol, run_sweep, tiny
from conftest import runs_alone as _alone, stack_runs as _stack

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


# --- the claims' pure functions on hand-made tables (issue 27) ---

def _fin(norms_per_seed):
    """Final rows of the T sweep: per seed, one run per T = 1, 0.1, 0.01 with these norms."""
    return pd.DataFrame([{"run": f"s{s}_T{t}", "status": "ok", "seed": s, "T": t, "norm": n}
                         for s, norms in enumerate(norms_per_seed)
                         for t, n in zip((1.0, 0.1, 0.01), norms)])


def test_norm_vs_t_claim_passes_fails_and_needs_five_seeds():
    from nnrepro.catalogue import FIGURE_INFO
    from nnrepro.families.a.figures import norm_vs_t_claim
    ok = norm_vs_t_claim(_fin([[30, 20, 10]] * 5), "5 runs", 0)
    assert ok.verdict == "pass" and ok.value == 1.0 and ok.n == 5
    assert ok.test == FIGURE_INFO["A-norm-vs-T"].test and ok.threshold == FIGURE_INFO["A-norm-vs-T"].threshold
    assert norm_vs_t_claim(_fin([[10, 20, 30]] * 5), "", 0).verdict == "fail"
    assert norm_vs_t_claim(_fin([[30, 20, 10]] * 2), "", 0).verdict == "inconclusive"


def _steps(slopes):
    """Per run, steps whose d‖θ‖²/dt follows 2γM⁻¹θᵀr with noise of this scale."""
    rng = np.random.default_rng(0)
    rows = []
    for i, noise in enumerate(slopes):
        x = rng.standard_normal(50)
        rows += [{"run": f"r{i}", "status": "ok", "step": k, "thetar_rate": a,
                  "dnorm2_dt": a + noise * rng.standard_normal()} for k, a in enumerate(x)]
    return pd.DataFrame(rows)


def test_dnorm_thetar_claim_passes_fails_and_needs_five_runs():
    from nnrepro.families.a.figures import dnorm_thetar_claim, pearson_per_run
    ok = dnorm_thetar_claim(_steps([0.01] * 5), "5 runs", 0)
    assert ok.verdict == "pass" and ok.n == 5 and "per-run r from" in ok.note
    assert ok.finding.startswith("a consistency check of the integrator") and "consistency" in ok.test
    assert set(pearson_per_run(_steps([0.01] * 5))) == {f"r{i}" for i in range(5)}
    assert dnorm_thetar_claim(_steps([10.0] * 5), "", 0).verdict == "fail"
    assert dnorm_thetar_claim(_steps([0.01] * 2), "", 0).verdict == "inconclusive"


def test_norm_burst_claim_needs_growth_and_a_kept_accuracy():
    from nnrepro.families.a.figures import norm_burst_claim

    def tables(growth, drop, seeds=5):
        ep = pd.DataFrame([{"run": f"r{s}", "status": "ok", "epoch": e, "norm": n, "ens_acc": a,
                            "test_acc": a} for s in range(seeds)
                           for e, n, a in ((1, 1.0, 0.9), (2, growth, 0.95), (3, growth + 0.1 * s, 0.95 - drop))])
        st = pd.DataFrame([{"run": f"r{s}", "step": 0, "norm2": 1.0} for s in range(seeds)])
        return ep, st
    ok = norm_burst_claim(*tables(10.0, 0.01), 1.0, "5 runs", 0)
    assert ok.verdict == "pass" and ok.threshold == 3.0 and "; at T = 1; " in ok.note
    assert norm_burst_claim(*tables(1.5, 0.01), 1.0, "", 0).verdict == "fail"    # no burst
    assert norm_burst_claim(*tables(10.0, 0.2), 1.0, "", 0).verdict == "fail"    # accuracy lost
    assert norm_burst_claim(*tables(10.0, 0.01, seeds=2), 1.0, "", 0).verdict == "inconclusive"


def test_momentum_energy_and_gamma_claims_on_hand_made_tables():
    from nnrepro.families.a.figures import gamma_claim, momentum_energy, momentum_energy_claim
    steps = pd.DataFrame([{"run": f"s{s}_{t}", "status": "ok", "seed": s, "T": t, "step": k,
                           "r_norm2": t * (1 + 0.01 * k)} for s in range(5) for t in (1.0, 0.1, 0.01)
                          for k in range(4)])
    means, rhos = momentum_energy(steps)
    assert rhos == [1.0] * 5 and list(means.index) == [0.01, 0.1, 1.0]
    assert momentum_energy_claim(steps, "", 0).verdict == "pass"
    assert momentum_energy_claim(steps.assign(r_norm2=1 / steps["T"]), "", 0).verdict == "fail"
    ep = pd.DataFrame([{"run": f"s{s}_{g}_{m}", "status": "ok", "seed": s, "gamma": g, "resample": m,
                        "epoch": 1, "norm": 10 * g + 1} for s in range(5) for g in (1.0, 0.1, 0.01)
                       for m in ("none", "cycle")])
    ok = gamma_claim(ep, "30 runs", 0)
    assert ok.verdict == "pass" and "ρ per resampling mode (all seeds): none: 1.000, cycle: 1.000" in ok.note
    assert gamma_claim(ep.assign(norm=1 / ep["gamma"]), "", 0).verdict == "fail"
    assert gamma_claim(ep[ep["seed"] < 2], "", 0).verdict == "inconclusive"


def test_gamma_alpha_claim_passes_and_fails_per_seed():
    from nnrepro.families.a.figures import gamma_alpha_claim
    cells = [(0.01, 1.0), (0.01, 10.0)]
    fin = pd.DataFrame([{"seed": s, "gamma": g, "alpha": a, "ens_nll": 1.0 if a == 1 else 0.5}
                        for s in range(5) for g, a in cells])
    samp = pd.DataFrame([{"seed": s, "status": "ok", "gamma": g, "alpha": a, "distance": a}
                         for s in range(5) for g, a in cells])
    ok = gamma_alpha_claim(fin, samp, "", 0)
    assert ok.verdict == "pass" and ok.value == 1.0 and "γ=0.01 α=10" in ok.finding
    assert gamma_alpha_claim(fin.assign(ens_nll=2 - fin["ens_nll"]), samp, "", 0).verdict == "fail"
    assert gamma_alpha_claim(fin[fin["seed"] < 2], samp, "", 0).verdict == "inconclusive"


# --- A's runs stacked into one job (issue 25): each run's tables as when it trains alone ---

from nnrepro import runner  # noqa: E402
from nnrepro.config import Run, settings_key  # noqa: E402
from nnrepro.training import Checkpoint  # noqa: E402


def _mixed_block():
    """tests/tiny.yaml's A block with seeds and schedules mixed in: 16 runs, 15 distinct
    (T = 1, seed 0 ≡ γ = 1, resample: none, seed 0)."""
    block = tiny("A")
    block["grid"]["temperature"]["seed"] = [0, 1]
    block["grid"]["gamma_alpha"].update({"sampler.resample": ["cycle", 3],
                                         "sampler.schedule": ["cosine"], "seed": [1]})
    return block


def _runs(block) -> list[Run]:
    return [Run.from_spec("A", rid, spec) for rid, spec in config.expand_runs(block).items()]


def _distinct(runs):
    return list({settings_key(r): r for r in reversed(runs)}.values())[::-1]


def _same_tables(a, b, exact=False):
    """Run folders ``a`` and ``b`` have the same tables (float32 tolerances; exact elsewhere)."""
    names = sorted(p.name for p in a.glob("*.parquet"))
    assert names == ["epochs.parquet", "samples.parquet", "steps.parquet"]
    assert names == sorted(p.name for p in b.glob("*.parquet"))
    for name in names:
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        if not exact and "dnorm2_dt" in x:   # a difference of close numbers over ε': its own bound
            gap = (x["dnorm2_dt"] - y["dnorm2_dt"]).abs()
            bound = dnorm2_dt_atol(x["norm2"], x["lr"]) + 1e-6
            assert (gap <= bound).all(), f"{a.name}/{name}: dnorm2_dt gap {gap.max():.3g}"
            x, y = x.drop(columns="dnorm2_dt"), y.drop(columns="dnorm2_dt")
        pd.testing.assert_frame_equal(x, y, check_exact=exact, rtol=1e-5, atol=1e-6, obj=f"{a.name}/{name}")


def test_e1_each_run_of_a_mixed_stack_has_the_tables_of_its_run_alone(env, tmp_path):
    runs = _distinct(_runs(_mixed_block()))
    assert len(runs) == 15 and runner.can_stack(runs)
    alone, stacked = _alone(runs, tmp_path / "alone", env), _stack(runs, tmp_path / "stack", env)
    for r in runs:
        _same_tables(alone / r.id, stacked / r.id)
        info = json.loads((stacked / r.id / "run.json").read_text())
        assert (info["run"], info["sweep"], info["status"], info["stack"]) == (r.id, r.sweep, "ok", 15)
        assert info["spec"] == r.spec
    assert not list(tmp_path.glob("stack/*.checkpoint.pt"))          # finished: removed


def test_e2_a_stack_of_one_has_todays_tables(env, tmp_path):
    """Same draws, in the same order: every integer column is exactly today's; floats reduced in
    another order (U, NLLs, norms: bmm against mm, whose kernels differ between CPUs) are within
    float32 tolerances (_same_tables)."""
    run = _runs(tiny("A"))[:1]
    alone, stacked = _alone(run, tmp_path / "alone", env), _stack(run, tmp_path / "stack", env)
    _same_tables(alone / run[0].id, stacked / run[0].id)
    for name in ("epochs", "samples", "steps"):
        x = pd.read_parquet(alone / run[0].id / f"{name}.parquet")
        y = pd.read_parquet(stacked / run[0].id / f"{name}.parquet")
        cols = [c for c in x.columns if not pd.api.types.is_float_dtype(x[c])]
        pd.testing.assert_frame_equal(x[cols], y[cols], check_exact=True)


def test_e3_a_runs_tables_do_not_depend_on_its_stack(env, tmp_path):
    runs = _distinct(_runs(_mixed_block()))
    one = runs[5]
    _stack(runs[:8], tmp_path / "a", env)
    _stack([runs[9], one, runs[2]], tmp_path / "b", env)
    _same_tables(tmp_path / "a" / one.id, tmp_path / "b" / one.id, exact=True)


def test_e4_a_member_that_diverges_leaves_the_others_as_without_it(env, tmp_path):
    runs = _distinct(_runs(_mixed_block()))[:4]
    spec = runs[1].spec
    spec["sampler"]["lr"] = 50.0
    bad = Run.from_spec("A", runs[1].id, spec)
    _stack([runs[0], bad, *runs[2:]], tmp_path / "with", env)
    _stack([runs[0], *runs[2:]], tmp_path / "without", env)
    for r in (runs[0], *runs[2:]):
        _same_tables(tmp_path / "with" / r.id, tmp_path / "without" / r.id, exact=True)
        assert json.loads((tmp_path / "with" / r.id / "run.json").read_text())["status"] == "ok"
    assert json.loads((tmp_path / "with" / bad.id / "run.json").read_text())["status"] == "diverged"
    # against the same run alone: the same rows, the same epochs; where the run alone is
    # non-finite the stack is NaN or the same ±inf, elsewhere it holds the run alone's values
    _alone([bad], tmp_path / "alone", env)
    for name in ("steps", "epochs", "samples"):
        x = pd.read_parquet(tmp_path / "alone" / bad.id / f"{name}.parquet")
        y = pd.read_parquet(tmp_path / "with" / bad.id / f"{name}.parquet")
        assert list(x.columns) == list(y.columns) and len(x) == len(y), name
        num = x.select_dtypes("number").columns
        fx, fy = np.isfinite(x[num].to_numpy(float)), np.isfinite(y[num].to_numpy(float))
        assert (fx == fy).all(), name
        np.testing.assert_allclose(y[num].to_numpy(float)[fx], x[num].to_numpy(float)[fx],
                                   rtol=1e-5, atol=1e-6)


class Killed(Exception):
    """Stands for SIGKILL right after the stack's checkpoint reached the disk."""



def test_e1_and_e4_on_cuda(cuda_env, tmp_path):
    """E1 and E4 with every run on CUDA (its own CUDA generators): skipped without a GPU."""
    test_e1_each_run_of_a_mixed_stack_has_the_tables_of_its_run_alone(cuda_env, tmp_path / "e1")
    test_e4_a_member_that_diverges_leaves_the_others_as_without_it(cuda_env, tmp_path / "e4")

def test_e5_a_killed_stacked_job_resumes_to_the_uninterrupted_tables(env, tmp_path, monkeypatch):
    runs = _distinct(_runs(_mixed_block()))[:5]
    save, saves = Checkpoint.save, []

    def counted(self, state):
        save(self, state)
        saves.append(1)
        if len(saves) == 2:                              # after epoch 2 of 3
            raise Killed

    _stack(runs, tmp_path / "straight", env)
    monkeypatch.setattr(Checkpoint, "save", counted)
    with pytest.raises(Killed):
        _stack(runs, tmp_path / "killed", env, checkpoint=tmp_path / "job.checkpoint.pt")
    assert (tmp_path / "job.checkpoint.pt").exists()
    assert not list((tmp_path / "killed").glob("*/run.json"))
    _stack(runs, tmp_path / "killed", env, checkpoint=tmp_path / "job.checkpoint.pt")
    assert len(saves) == 3 and not (tmp_path / "job.checkpoint.pt").exists()   # one epoch left
    for r in runs:
        _same_tables(tmp_path / "straight" / r.id, tmp_path / "killed" / r.id, exact=True)


def test_jobs_stack_runs_of_one_shape_and_keep_identical_runs_together():
    cfg = {**tiny(), "run": ["A"], "families": {"A": _mixed_block()}}
    cfg = config.validate(cfg)
    runs = config.family_runs(cfg, "A")
    assert len(config.family_jobs(cfg, "A")) > 1                       # max_stack 1: as today
    cfg["max_stack"] = 8
    jobs = config.family_jobs(cfg, "A")                                 # 15 trainings: 8 + 7
    assert sorted(len({settings_key(runs[r]) for r in ids}) for ids in jobs.values()) == [7, 8]
    assert all(j.startswith("stack-") for j in jobs) and sum(map(len, jobs.values())) == 16
    twins = ["sampler.temperature~1_seed~0", "sampler.gamma~1_sampler.resample~none_seed~0"]
    assert any(set(twins) <= set(ids) for ids in jobs.values())
    cfg["max_stack"] = 64
    (ids,) = config.family_jobs(cfg, "A").values()
    # a run changed: its job's id changes; SGLD runs cannot stack: jobs as today
    cfg["families"]["A"]["grid"]["gamma"]["seed"] = [2]
    assert list(config.family_jobs(cfg, "A")) != list(config.family_jobs(
        {**cfg, "families": {"A": _mixed_block()}}, "A"))
    cfg["families"]["A"]["sampler"]["name"] = "sgld"
    assert not [j for j in config.family_jobs(cfg, "A") if j.startswith("stack-")]


def test_train_command_stacks_a_job_and_trains_identical_runs_once(processed, tmp_path, caplog):
    from nnrepro.cli import main

    runs = _runs(_mixed_block())[:6]                    # 2 × T sweep's seed 0/1, 4 of γ's
    twin, of = "sampler.gamma~1_sampler.resample~none_seed~0", "sampler.temperature~1_seed~0"
    assert {twin, of} <= {r.id for r in runs}
    job = config.write_job(tmp_path / "job.json", runs)
    marker = tmp_path / "runs" / "jobs" / "j.json"
    with caplog.at_level("INFO", logger="nnrepro"):
        main(["train", "--job", str(job), "--runs-dir", str(tmp_path / "runs"), "--marker",
              str(marker), "--processed-dir", str(processed), "--device", "cpu"])
    assert "5 runs as one stack" in caplog.text
    info = {r.id: json.loads((tmp_path / "runs" / r.id / "run.json").read_text()) for r in runs}
    assert json.loads(marker.read_text())["runs"] == {r.id: "ok" for r in runs}
    # the job file lists its runs by id: the γ sweep's twin trains, the T sweep's run copies it
    assert info[of]["same_as"] == twin and "same_as" not in info[twin] and info[twin]["stack"] == 5
    assert info[twin]["sweep"] == "gamma" and info[of]["sweep"] == "temperature"
    assert info[of]["point"] == {"sampler.temperature": 1.0, "seed": 0}
    assert info[of]["spec"]["point"] == info[of]["point"]
    _same_tables(tmp_path / "runs" / of, tmp_path / "runs" / twin, exact=True)
    assert not list(tmp_path.rglob("*.checkpoint.pt")) and not list(tmp_path.rglob("*.finished"))


def test_paper_profile_plans_family_a_in_one_stacked_job(tmp_path):
    from conftest import REPO, snakemake

    dry = snakemake(tmp_path, "--dry-run", "--configfile", str(REPO / "configs" / "paper.yaml"),
                    timeout=600)
    out = dry.stdout + dry.stderr
    stats = out[out.index("Job stats:"):].split("Reasons:")[0].splitlines()   # job  count
    train_a = {line.split()[0]: int(line.split()[1]) for line in stats if line.startswith("train_A")}
    assert len(train_a) == 1 and list(train_a.values()) == [1], out[-3000:]
    assert next(iter(train_a)).startswith("train_A_stack_")
    assert any(line.startswith("train_B") for line in stats)          # the others: as before
