"""Family L: every method's members are probability vectors, a one-member deep ensemble is the
single run, the reliability table agrees with ECE, the claim's pure functions, a tiny sweep.
(The identities of nnrepro.methods themselves are tested in tests/test_methods.py.)"""
import math

import pandas as pd
import pytest
import torch

from nnrepro import config
from nnrepro.runner import context
from nnrepro.families.l import experiment as l
from nnrepro.render import render
from nnrepro.claims import less
from nnrepro.render import derived_tables
from nnrepro.catalogue import FIGURE_INFO
from nnrepro.families.l.figures import ensembles_claim, l_ensembles, paired_nll, per_method
from nnrepro.metrics import ece
from nnrepro.results import NoData, Results, RunDir, Status

from conftest import run_sweep, tiny

# tests/test_resume.py resumes this family's tiny run
RESUME_POINT = {}


def _spec(**over):
    """tests/tiny.yaml's L block as one run (no grid), ``over`` laid over it: its settings."""
    spec = next(iter(config.expand_runs({**tiny("L"), "grid": {}, **over}).values()))
    return config.Run.from_spec("L", "r", spec).settings


def test_every_method_gives_probabilities_and_one_member_is_the_single_run(env, tmp_path):
    ctx = context("L", "r", _spec(ensemble={"members": 1}), tmp_path / "r", env)
    s, ds = ctx.settings, env.dataset("digits")
    st, status = l.train(ctx, ds)
    assert status == "ok"
    preds = l.predictions(st, s, ds, "cpu")
    assert set(preds) == {"single run", "deep ensemble", "SWA", "SWAG-diagonal", "SWAG-low-rank",
                          "dropout, weight scaling", "MC dropout", "SGHMC T = 1", "SGHMC T = 0.01"}
    for method, p in preds.items():
        S, N, K = p.shape
        assert N == len(ds.y_test) and K == 10, method
        assert (p >= 0).all() and torch.allclose(p.sum(-1), torch.ones(S, N), atol=1e-5), method
    assert preds["SGHMC T = 1"].shape[0] == 3                     # 4 epochs, 1 burn-in cycle
    assert torch.equal(preds["deep ensemble"], preds["single run"])
    assert not torch.allclose(preds["SGHMC T = 1"][0], preds["SGHMC T = 0.01"][0])


def test_too_short_a_chain_is_rejected_before_compute():
    s = _spec(sghmc={**tiny("L")["sghmc"], "epochs": 1})         # config.cross_field_errors, not the job
    assert any("= 0 collected samples a chain" in e for e in config.cross_field_errors("L", s))


def test_reliability_table_agrees_with_ece():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 10, generator=g), 1)
    y = torch.randint(0, 10, (500,), generator=g)
    rel = l.reliability(probs, y)
    assert rel["count"].sum() == 500 and rel["bin"].between(0, l.N_BINS - 1).all()
    from_bins = (rel["count"] / 500 * (rel["acc"] - rel["conf"]).abs()).sum()
    assert from_bins == pytest.approx(ece(probs, y), abs=1e-12)


def test_ensemble_classification():
    assert all(l.is_ensemble(m) for m in ("deep ensemble", "SWAG-diagonal", "SWAG-low-rank",
                                          "MC dropout", "SGHMC T = 1", "SGHMC T = 0.01"))
    assert not any(l.is_ensemble(m) for m in ("single run", "SWA", "dropout, weight scaling"))


METHODS = ("single run", "deep ensemble", "SWA", "SWAG-diagonal", "SWAG-low-rank",
           "dropout, weight scaling", "MC dropout", "SGHMC T = 1", "SGHMC T = 0.01")
CHAIN_T = {"SGHMC T = 1": 1.0, "SGHMC T = 0.01": 0.01}


def _ensembles(margins: dict[str, list[float]], seeds: int) -> pd.DataFrame:
    """A hand-made ensembles table: NLL(method) = NLL(single run) + margin, per seed."""
    rows = []
    for s in range(seeds):
        single = 0.10 + 0.03 * s                              # seeds differ a lot: pairing matters
        for m in METHODS:
            nll = single + (0.0 if m == "single run" else margins.get(m, [-0.01] * seeds)[s])
            rows.append(dict(run=f"seed~{s}", method=m, nll=nll, acc=0.9, ensemble=l.is_ensemble(m),
                             temperature=CHAIN_T.get(m, math.nan)))   # tidy T beside the label
    return pd.DataFrame(rows)


def _old_claim(ens: pd.DataFrame):
    """The statistic before issue 17: per seed the worst margin over the ensembles (SWA and
    weight scaling left out), then a t-interval over seeds."""
    e = ens[ens["ensemble"]].merge(ens[ens["method"] == "single run"][["run", "nll"]], on="run",
                                   suffixes=("", "_single"))
    worst = (e["nll"] - e["nll_single"]).groupby(e["run"]).max()
    return less("L-ensembles", "old", math.nan, 0.0, units=list(worst))


def _claim(ens: pd.DataFrame):
    return ensembles_claim(per_method(paired_nll(ens)), ens)


def test_paired_differences_and_per_method_table():
    ens = _ensembles({"MC dropout": [0.04, 0.05, 0.03, 0.045, 0.035],
                      "dropout, weight scaling": [0.05, 0.06, 0.04, 0.05, 0.05]}, 5)
    d = paired_nll(ens)
    assert d[(d["method"] == "MC dropout") & (d["baseline"] == "single run")]["diff"].tolist() == \
        pytest.approx([0.04, 0.05, 0.03, 0.045, 0.035])
    t = per_method(d).set_index(["method", "baseline"])
    claimed = t[t["in_claim"]].index.get_level_values("method")
    assert list(claimed) == ["deep ensemble", "SWA", "SWAG-diagonal", "SWAG-low-rank", "MC dropout",
                             "SGHMC T = 1", "SGHMC T = 0.01"]        # weight scaling: a diagnostic
    mc = t.loc[("MC dropout", "single run")]
    assert mc["mean_diff"] == pytest.approx(0.04) and mc["n"] == 5 and mc["wins"] == 0
    assert mc["verdict"] == "fail" and mc["low"] > 0
    # MC dropout against weight scaling of the same net: −0.01, −0.01, −0.01, −0.005, −0.015
    assert t.loc[("MC dropout", "dropout, weight scaling"), "verdict"] == "pass"
    assert t.loc[("SGHMC T = 0.01", "SGHMC T = 1"), "mean_diff"] == pytest.approx(0.0)
    assert not t.loc[("SGHMC T = 0.01", "SGHMC T = 1"), "in_claim"]


def test_a_method_worse_in_every_seed_fails_where_the_worst_margin_was_inconclusive():
    # issue 17: MC dropout loses in every seed; the old worst-margin statistic hid it behind
    # one seed's outlier (SGHMC T = 1: +0.5) and stayed inconclusive
    ens = _ensembles({"MC dropout": [0.034, 0.049, 0.040, 0.045, 0.038],
                      "SGHMC T = 1": [0.01, 0.02, -0.01, 0.015, 0.5]}, 5)
    assert _old_claim(ens).verdict == "inconclusive"
    c = _claim(ens)
    assert c.verdict == "fail" and c.n == 5
    assert "MC dropout − single run: +0.0412" in c.finding and "worse" in c.finding


def test_swa_is_tested_too_where_the_old_statistic_passed():
    # every ensemble better in every seed, SWA (left out before) worse in every seed
    ens = _ensembles({"SWA": [0.002, 0.004, 0.003, 0.003, 0.005]}, 5)
    assert _old_claim(ens).verdict == "pass"
    c = _claim(ens)
    assert c.verdict == "fail" and "SWA" in c.note


def test_every_method_better_passes_and_too_few_seeds_is_inconclusive():
    margins = {m: [-0.02, -0.01, -0.015, -0.012, -0.018] for m in METHODS}
    c = _claim(_ensembles(margins, 5))
    assert c.verdict == "pass" and c.high < 0 and "7 pass" in c.note
    few = _claim(_ensembles(margins, 4))                      # 4 < the 5 seeds needed
    assert few.verdict == "inconclusive" and "fewer than the 5" in few.note
    # a method better on average but not in every seed stays undecided, and so does the row
    mixed = _claim(_ensembles({**margins, "SWAG-diagonal": [-0.02, 0.01, -0.015, 0.012, -0.01]}, 5))
    assert mixed.verdict == "inconclusive" and mixed.note.startswith("value: SWAG-diagonal")


def test_claim_takes_its_words_and_threshold_from_the_catalogue():
    c = _claim(_ensembles({m: [-0.02, -0.01, -0.015, -0.012, -0.018] for m in METHODS}, 5))
    assert c.test == FIGURE_INFO["L-ensembles"].test and c.threshold == FIGURE_INFO["L-ensembles"].threshold


@pytest.mark.parametrize("saved", [False, True])
def test_every_run_diverged_is_no_data(tmp_path, saved):
    """No run finished (no ensembles table, or only diverged runs' rows): NoData, drawn as "no data"."""
    runs = []
    for rid, g in _ensembles({}, 2).groupby("run"):
        out = RunDir(tmp_path / rid, "L", rid, {"seed": int(rid[-1])})
        if saved:
            out.save_table("ensembles", g.drop(columns="run"))
        out.finish(Status.DIVERGED)
        runs.append(tmp_path / rid / "run.json")
    with pytest.raises(NoData, match="no run finished"):
        l_ensembles(Results(runs))


def test_tiny_sweep_table_and_figure(env, tmp_path):
    res = run_sweep("L", tiny("L"), tmp_path, env)
    ens = res.table("ensembles")
    assert len(ens) == 2 * 9
    assert {"method", "acc", "nll", "ece", "brier", "members", "ensemble"} <= set(ens.columns)
    assert ens[["acc", "nll", "ece", "brier"]].map(math.isfinite).all().all()
    rel = res.table("reliability")
    assert (rel.groupby(["run", "method"])["count"].sum() == 450).all()
    res.export(tmp_path / "tables")                         # what the workflow writes
    assert len(pd.read_parquet(tmp_path / "tables" / "ensembles.parquet")) == 18
    claims = render("L", res, tmp_path / "fig", "test")
    c = claims.iloc[0]
    assert c["n"] == 2 and math.isfinite(c["value"]) and c["verdict"] == "inconclusive"
    assert "fewer than the 5" in c["note"] and "SGHMC T = 0.01 − SGHMC T = 1" in c["finding"]
    table = derived_tables("L", res)["nll_per_method"]       # written beside the run tables
    assert len(table) == 10 and (table["n"] == 2).all() and table["in_claim"].sum() == 7
    assert (tmp_path / "fig" / "L-ensembles.png").stat().st_size > 10_000
