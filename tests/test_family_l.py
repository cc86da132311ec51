"""Family L: every method's members are probability vectors, a one-member deep ensemble is the
single run, the reliability table agrees with ECE, the claim's pure functions, a tiny sweep.
(The identities of nnrepro.methods themselves are tested in tests/test_methods.py.)"""
import math

import pandas as pd
import pytest
import torch

from nnrepro import config
from nnrepro.experiments import full_settings, l
from nnrepro.figures import render
from nnrepro.figures.l import cold_vs_warm, nll_margins, worst_margin_per_run
from nnrepro.metrics import ece
from nnrepro.results import RunDir

from conftest import run_sweep

TINY_L = {"dataset": "digits", "model": {"hidden": [32, 16], "activation": "relu"},
          "optimizer": {"name": "adam", "lr": 0.003}, "epochs": 3, "batch_size": 128,
          "ensemble": {"members": 3},
          "swa": {"epochs": 3, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                  "schedule": "cyclic", "cycle_epochs": 1},
          "swag": {"rank": 3, "samples": 4}, "dropout": {"p": 0.3, "samples": 5},
          "sghmc": {"epochs": 4, "cold_temperature": 0.01,
                    "sampler": {"name": "sghmc", "lr": 0.003, "friction": 30.0, "cycle_epochs": 1,
                                "burnin_cycles": 1}},
          "grid": {"seeds": {"seed": [0, 1]}}}


def _spec(**over):
    spec = next(iter(config.expand_runs({**TINY_L, "grid": {}, **over}).values()))
    return full_settings("L", spec)


def test_every_method_gives_probabilities_and_one_member_is_the_single_run(env, tmp_path):
    s = _spec(ensemble={"members": 1})
    ds = env.dataset("digits")
    st, status = l.train(s, ds, RunDir(tmp_path / "r", "L", "r", s), "cpu")
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


def test_too_short_a_chain_is_rejected(env, tmp_path):
    s = _spec(sghmc={**TINY_L["sghmc"], "epochs": 1})
    with pytest.raises(ValueError, match="no sample"):
        l.run(s, RunDir(tmp_path / "r", "L", "r", s), env)


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


def test_claim_functions_on_a_hand_made_table():
    rows = []
    for run, (single, de, mc, warm, cold) in (("s0", (0.10, 0.08, 0.12, 0.15, 0.09)),
                                              ("s1", (0.20, 0.15, 0.18, 0.25, 0.30))):
        for method, nll, ens, acc in (("single run", single, False, 0.9), ("SWA", 0.5, False, 0.9),
                                      ("deep ensemble", de, True, 0.92), ("MC dropout", mc, True, 0.91),
                                      ("SGHMC T = 1", warm, True, 0.88),
                                      ("SGHMC T = 0.01", cold, True, 0.93)):
            rows.append(dict(run=run, method=method, nll=nll, ensemble=ens, acc=acc))
    ens = pd.DataFrame(rows)
    m = nll_margins(ens).set_index(["run", "method"])["margin"]
    assert "SWA" not in m.index.get_level_values("method")       # one net, not an ensemble
    assert m[("s0", "MC dropout")] == pytest.approx(0.02)
    assert worst_margin_per_run(ens) == pytest.approx([0.05, 0.10])
    cw = cold_vs_warm(ens).set_index("run")
    assert cw.loc["s0", "T_cold"] == 0.01
    assert cw.loc["s0", "nll_cold"] == 0.09 and cw.loc["s1", "nll_warm"] == 0.25


def test_tiny_sweep_table_and_figure(env, tmp_path):
    res = run_sweep("L", TINY_L, tmp_path, env)
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
    assert c["n"] == 2 and math.isfinite(c["value"]) and "cold posterior" in c["note"]
    assert (tmp_path / "fig" / "L-ensembles.png").stat().st_size > 10_000
