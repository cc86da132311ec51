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
from nnrepro.families.l.figures import ensembles_claim, l_ensembles, paired, per_comparison
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


def _ensembles(margins: dict[str, list[float]], seeds: int, errors: dict[str, list[float]] = {}) -> pd.DataFrame:
    """A hand-made ensembles table: NLL(method) = NLL(single run) + margin and error(method) =
    error(single run) + error margin, per seed; MC dropout's NLL margin is against weight
    scaling, the cold chain's against T = 1 (the comparisons of the claim)."""
    rows = []
    for s in range(seeds):
        single = 0.10 + 0.03 * s                              # seeds differ a lot: pairing matters
        nll = {"single run": single}
        for m in METHODS[1:]:
            base = {"MC dropout": "dropout, weight scaling", "SGHMC T = 0.01": "SGHMC T = 1"}.get(m, "single run")
            nll[m] = None if base not in nll else nll[base] + margins.get(m, [-0.01] * seeds)[s]
        for m in METHODS:
            err = 0.1 + (0.0 if m == "single run" else errors.get(m, [-0.002] * seeds)[s])
            rows.append(dict(run=f"seed~{s}", method=m, nll=nll[m], acc=1 - err, ensemble=l.is_ensemble(m),
                             temperature=CHAIN_T.get(m, math.nan)))   # tidy T beside the label
    return pd.DataFrame(rows)


def _old_claim(ens: pd.DataFrame):
    """The statistic of issue 17: every method against the single run in NLL, all must pass."""
    t = per_comparison(paired(ens))
    t = t[(t["baseline"] == "single run") & (t["metric"] == "nll") & (t["method"] != "dropout, weight scaling")]
    verdicts = set(t["verdict"])
    return "fail" if "fail" in verdicts else "pass" if verdicts == {"pass"} else "inconclusive"


def _claim(ens: pd.DataFrame):
    return ensembles_claim(per_comparison(paired(ens)), ens)


CLAIMED = [("deep ensemble", "single run", "nll"), ("SWA", "single run", "err"),
           ("SWAG-diagonal", "single run", "nll"), ("SWAG-low-rank", "single run", "nll"),
           ("MC dropout", "dropout, weight scaling", "nll"), ("SGHMC T = 0.01", "SGHMC T = 1", "nll")]


def test_each_method_is_compared_as_its_source_compares_it():
    # MC dropout worse than the single run but better than weight scaling of its own net
    ens = _ensembles({"dropout, weight scaling": [0.05, 0.06, 0.04, 0.05, 0.05],
                      "MC dropout": [-0.01, -0.01, -0.01, -0.005, -0.015]}, 5)
    d = paired(ens)
    mc = d[(d["method"] == "MC dropout") & (d["baseline"] == "single run")]["diff"]
    assert mc.tolist() == pytest.approx([0.04, 0.05, 0.03, 0.045, 0.035])
    t = per_comparison(d)
    assert list(zip(*[t.loc[t["in_claim"], c] for c in ("method", "baseline", "metric")])) == CLAIMED
    t = t.set_index(["method", "baseline", "metric"])
    assert t.loc[("MC dropout", "single run", "nll"), "verdict"] == "fail"        # beside the claim
    assert not t.loc[("MC dropout", "single run", "nll"), "in_claim"]
    assert t.loc[("MC dropout", "dropout, weight scaling", "nll"), "verdict"] == "pass"
    swa = t.loc[("SWA", "single run", "err")]
    assert swa["mean_diff"] == pytest.approx(-0.002) and swa["wins"] == 5 and swa["verdict"] == "pass"
    assert not t.loc[("SGHMC T = 1", "single run", "nll"), "in_claim"]            # Wenzel: T = 1 worse
    c = _claim(ens)
    assert c.verdict == "pass" and "6 pass" in c.note
    assert "MC dropout − dropout, weight scaling (NLL, seed 003): -0.0100" in c.finding
    assert "beside it: " in c.finding and "MC dropout − single run (NLL): +0.0400" in c.finding


def test_t1_worse_than_sgd_no_longer_fails_the_row_where_the_old_claim_did():
    # issue 26: SGHMC at T = 1 worse than the single run (Wenzel et al.'s own finding), the cold
    # chain better than T = 1: the old claim failed, the new one passes
    ens = _ensembles({"SGHMC T = 1": [0.03, 0.031, 0.029, 0.03, 0.033],
                      "SGHMC T = 0.01": [-0.04, -0.05, -0.045, -0.04, -0.042]}, 5)
    assert _old_claim(ens) == "fail"
    assert _claim(ens).verdict == "pass"


def test_a_comparison_decided_worse_fails_the_row_and_says_so():
    ens = _ensembles({"MC dropout": [0.034, 0.049, 0.040, 0.045, 0.038]}, 5)
    c = _claim(ens)
    assert c.verdict == "fail" and c.n == 5 and c.value == pytest.approx(0.0412) and c.low > 0
    assert c.note.startswith("value: MC dropout − dropout, weight scaling (nll)")
    assert "worse in NLL than weight scaling of the same net" in c.finding
    assert "MC dropout − dropout, weight scaling (test error, points, seed 003)" in c.finding  # beside
    swa = _claim(_ensembles({}, 5, errors={"SWA": [0.002, 0.004, 0.003, 0.003, 0.005]}))
    assert swa.verdict == "fail" and "SWA − single run (test error, points" in swa.finding
    assert swa.value == pytest.approx(0.0034)


def test_every_comparison_better_passes_and_too_few_seeds_is_inconclusive():
    margins = {m: [-0.02, -0.01, -0.015, -0.012, -0.018] for m in METHODS}
    c = _claim(_ensembles(margins, 5))
    assert c.verdict == "pass" and c.high < 0 and "6 pass" in c.note
    few = _claim(_ensembles(margins, 4))                      # 4 < the 5 seeds needed
    assert few.verdict == "inconclusive" and "fewer than the 5" in few.note
    # a method better on average but not in every seed stays undecided, and so does the row
    mixed = _claim(_ensembles({**margins, "SWAG-diagonal": [-0.02, 0.01, -0.015, 0.012, -0.01]}, 5))
    assert mixed.verdict == "inconclusive" and mixed.note.startswith("value: SWAG-diagonal")


def test_claim_takes_its_words_and_threshold_from_the_catalogue():
    c = _claim(_ensembles({m: [-0.02, -0.01, -0.015, -0.012, -0.018] for m in METHODS}, 5))
    assert c.test == FIGURE_INFO["L-ensembles"].test and c.threshold == FIGURE_INFO["L-ensembles"].threshold


def test_dropout_net_is_sized_and_trained_as_srivastava_et_al_say():
    s = _spec(model={**tiny("L")["model"], "hidden": [32, 15]}, epochs=3,
              dropout={"p": 0.5, "samples": 5, "epochs_factor": 2})
    assert l.dropout_hidden(s) == [64, 30] and l.dropout_epochs(s) == 6
    assert ("dropout", 0, 6) in l.stages(s)
    narrow = _spec(dropout={"p": 0.3, "widen": False})
    assert l.dropout_hidden(narrow) == tiny("L")["model"]["hidden"]
    assert l.dropout_hidden(_spec(dropout={"p": 0.2})) == [40, 20]          # 32/0.8, 16/0.8


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
    table = derived_tables("L", res)["comparisons"]          # written beside the run tables
    assert len(table) == 12 and (table["n"] == 2).all() and table["in_claim"].sum() == 6
    assert (tmp_path / "fig" / "L-ensembles.png").stat().st_size > 10_000
