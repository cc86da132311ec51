"""Family C: per-layer gradient norms and variances against values computed independently (the
chain rule written out, closed-form variances under LeCun / Xavier init on Gaussian inputs), the
claims' pure functions on hand-made tables, and the family end to end."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nnrepro.families.c import experiment as c
from nnrepro.catalogue import FIGURES
from nnrepro.families.c import figures as figs
from nnrepro.render import render
from nnrepro.models import MLP

from conftest import run_sweep, tiny

# tests/test_resume.py resumes this family's tiny run here (its resume has code of its own)
RESUME_POINT = {"task": "clipping", "clipping.max_norm": 1.0, "clipping.epochs": 3}


def test_backprop_matches_the_chain_rule_written_out():
    """δ_L = (softmax(z) − onehot)/N; δ_t = (δ_{t+1} W_{t+1}) ⊙ tanh′(y_t) (seed 001's product)."""
    torch.manual_seed(0)
    model = MLP(7, [9, 8, 6], 4, "tanh", init="lecun", gain=1.3).double()
    x, y = torch.randn(11, 7, dtype=torch.float64), torch.randint(0, 4, (11,))
    outs, grads = c.outputs_and_grads(model, x, y)
    lins = [m for m in model if isinstance(m, nn.Linear)]
    delta = (outs[-1].softmax(1) - nn.functional.one_hot(y, 4)) / len(x)
    expected = [delta]
    for t in range(len(lins) - 2, -1, -1):
        delta = (delta @ lins[t + 1].weight) * (1 - torch.tanh(outs[t]) ** 2)
        expected.insert(0, delta)
    assert len(grads) == 4
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-14)
    # the forward outputs are the Linear outputs: y_1 = W_1 x + b_1
    assert torch.allclose(outs[0], x @ lins[0].weight.T + lins[0].bias)


@pytest.mark.parametrize("init", ["lecun", "xavier"])
def test_variances_match_the_closed_form_on_gaussian_inputs(init):
    """Linear net, x ~ N(0, I): Var y_t = Π_{s≤t} fan_in_s · Var W_s (LeCun: 1 per layer; Xavier:
    2 fan_in/(fan_in + fan_out)); backward Var δ_t / Var δ_{t+1} = fan_out_{t+1} · Var W_{t+1}."""
    torch.manual_seed(1)
    widths = [1200, 800, 400]
    x = torch.randn(3000, 600)
    y = torch.randint(0, 10, (3000,))
    var = c.init_variances(dict(hidden=widths, activation="linear", repeats=1), x, y, 10)
    v = var[var["init"] == init].sort_values("layer")
    w_var = (1 / v["fan_in"] if init == "lecun" else 2 / (v["fan_in"] + v["fan_out"])).to_numpy()
    forward = np.cumprod(v["fan_in"].to_numpy() * w_var)
    assert np.allclose(v["forward"], forward, rtol=0.08)
    back = v["backward"].to_numpy()
    ratio = v["fan_out"].to_numpy()[1:] * w_var[1:]           # fan_out_{t+1} Var W_{t+1}
    assert np.allclose(back[:-1] / back[1:], ratio, rtol=0.1)


def test_gradient_norms_grow_as_gain_to_the_depth():
    torch.manual_seed(2)
    x, y = torch.randn(256, 32), torch.randint(0, 10, (256,))
    norms = c.gradient_norms(dict(depths=[30], width=256, gains=[1.5, 0.7], activation="linear",
                                  repeats=1), x, y, 10)
    assert set(norms["setting"]) == {"plain", "xavier", "bn"} and norms["layer"].max() == 31
    errs = figs.slope_errors(norms)
    assert len(errs) == 2 and (errs["rel_err"] < 0.1).all()
    # the two ends of the exploding net: ‖δ_1‖ / ‖δ_31‖ ≈ 1.5^30
    p = norms[(norms["setting"] == "plain") & (norms["gain"] == 1.5)].set_index("k")["norm"]
    assert abs(math.log(p[30] / p[0]) / (30 * math.log(1.5)) - 1) < 0.1
    assert (figs.norm_spreads(norms)["spread"] < 10).all()


def test_linear_regime_edge():
    x = c.linear_regime_edge()
    assert math.tanh(x) == pytest.approx(0.95 * x, rel=1e-9)
    xs = np.linspace(1e-3, x, 50)
    assert (np.abs(np.tanh(xs) - xs) <= 0.05 * xs + 1e-12).all()
    assert abs(math.tanh(1.1 * x) - 1.1 * x) > 0.05 * 1.1 * x
    t = c.tanh_regime(points=9)
    assert np.allclose(t["dtanh"], 1 - np.tanh(t["x"]) ** 2)


# ---------------------------------------------------------------- pure claim functions
def _norms(setting, gain, depth, k_norm, repeat=0):
    return pd.DataFrame([dict(setting=setting, gain=gain, depth=depth, repeat=repeat, layer=depth + 1 - k,
                              k=k, norm=n) for k, n in k_norm])


def test_slope_errors_on_exact_geometric_norms():
    exact = _norms("plain", 1.5, 4, [(k, 2 * 1.5 ** k) for k in range(5)])
    off = _norms("plain", 0.8, 4, [(k, 0.8 ** (1.2 * k)) for k in range(5)])  # slope 1.2 log 0.8
    short = _norms("plain", 2.0, 1, [(0, 1.0), (1, 2.0)])                     # 2 layers: no test
    e = figs.slope_errors(pd.concat([exact, off, short])).set_index("gain")
    assert e.loc[1.5, "rel_err"] == pytest.approx(0, abs=1e-12)
    assert e.loc[1.5, "slope"] == pytest.approx(math.log(1.5))
    assert e.loc[0.8, "rel_err"] == pytest.approx(0.2)
    assert math.isnan(e.loc[2.0, "rel_err"])


def test_norm_spreads():
    df = pd.concat([_norms("xavier", 1.0, 2, [(0, 1.0), (1, 4.0), (2, 2.0)]),
                    _norms("bn", 1.5, 2, [(0, 3.0), (1, 3.0), (2, 6.0)]),
                    _norms("plain", 1.5, 2, [(0, 1.0), (1, 1e6), (2, 2.0)])])
    s = figs.norm_spreads(df).set_index("setting")["spread"]
    assert s.to_dict() == {"bn": 2.0, "xavier": 4.0}


def test_loss_ratio_and_fails_and_trains():
    assert figs.loss_ratio([10, 8, 6, 4, 2, 1, 1, 1, 1, 0.5]) == pytest.approx(0.05)
    assert figs.loss_ratio([10, 8, float("nan")]) == math.inf
    assert figs.loss_ratio([10, 8, 5], status="diverged") == math.inf
    assert figs.fails_and_trains(math.inf, 0.05) == pytest.approx(0.5)      # pass: < 1
    assert figs.fails_and_trains(0.5, 0.05) == pytest.approx(0.5)
    assert figs.fails_and_trains(0.02, 0.05) == pytest.approx(5.0)          # "failing" run trained
    assert figs.fails_and_trains(math.inf, math.inf) == figs.CAP            # both diverged


def _clipping(final_clipped, plain_status):
    """Runs and steps: per seed a clipped run (first loss 100, then its final loss) and a plain
    run with the given status."""
    runs, steps = [], []
    for seed, (loss, status) in enumerate(zip(final_clipped, plain_status)):
        runs += [dict(run=f"p{seed}", status=status, seed=seed, max_norm=0.0),
                 dict(run=f"c{seed}", status="ok", seed=seed, max_norm=1.0)]
        steps += [dict(run=f"c{seed}", step=i, loss=l) for i, l in enumerate([100.0] + [loss] * 19)]
        steps += [dict(run=f"p{seed}", step=i, loss=l) for i, l in enumerate([100.0, 1e30])]
    return pd.DataFrame(steps), pd.DataFrame(runs)


def test_clipping_is_judged_against_chance():
    # clipped runs end near chance (2.19 nats) from an exploding first loss of 100: the old
    # statistic (loss below 1/10 of the first) passes; "well below chance" (< ln 10 / 2) fails
    steps, runs = _clipping([2.19, 2.0, 2.3, 2.1, 2.25, 2.2], ["diverged"] * 6)
    seeds = figs.clipping_seeds(steps, runs)
    assert list(seeds["plain_diverged"]) == [1.0] * 6
    assert seeds["clipped_loss"].tolist() == pytest.approx([2.19, 2.0, 2.3, 2.1, 2.25, 2.2])
    old = [figs.fails_and_trains(math.inf, figs.loss_ratio(
        steps[steps["run"] == f"c{s}"]["loss"])) for s in range(6)]
    assert max(old) < 1                                        # the old per-seed unit: pass
    trains, diverges = figs.clipping_claims(seeds)
    assert trains.verdict == "fail" and trains.threshold == pytest.approx(math.log(10) / 2)
    assert diverges.verdict == "pass" and diverges.low > 0.5   # 6 of 6: [0.54, 1]
    assert "not below ln 10 / 2" in figs.clipping_finding(steps, runs, seeds)


def test_clipping_claims_decide_each_part():
    steps, runs = _clipping([0.3, 0.25, 0.4, 0.35, 0.3, 0.28], ["diverged"] * 6)
    trains, diverges = figs.clipping_claims(figs.clipping_seeds(steps, runs))
    assert (trains.verdict, diverges.verdict) == ("pass", "pass")
    # plain SGD diverged in 5 of 5: the exact interval [0.48, 1] still holds 1/2
    steps, runs = _clipping([0.3] * 5, ["diverged"] * 5)
    assert figs.clipping_claims(figs.clipping_seeds(steps, runs))[1].verdict == "inconclusive"
    # plain SGD trained in every seed: it does not diverge
    steps, runs = _clipping([0.3] * 6, ["ok"] * 6)
    assert figs.clipping_claims(figs.clipping_seeds(steps, runs))[1].verdict == "fail"
    # a diverged clipped run counts as CAP nats, not as a missing seed
    steps, runs = _clipping([0.3] * 6, ["diverged"] * 6)
    runs.loc[runs["run"] == "c0", "status"] = "diverged"
    seeds = figs.clipping_seeds(steps, runs)
    assert seeds["clipped_loss"].iloc[0] == math.inf and figs.clipping_claims(seeds)[0].n == 6


def test_variance_units_on_a_hand_made_table():
    rows = []
    # LeCun: forward 1, 1/2, 1/4 (band 4), backward halves at each layer back (|log| = log 2)
    for t, (f, b) in enumerate([(1, 1), (0.5, 2), (0.25, 4)], start=1):
        rows.append(dict(init="lecun", repeat=0, layer=t, hidden=True, forward=f, backward=b))
    # Xavier: forward ×√2, backward ×1/√2 per layer: both |log| = log 2 / 2
    for t in range(1, 4):
        rows.append(dict(init="xavier", repeat=0, layer=t, hidden=True, forward=2 ** ((t - 1) / 2),
                         backward=2 ** ((t - 1) / 2)))
    rows.append(dict(init="lecun", repeat=0, layer=4, hidden=False, forward=100.0, backward=100.0))
    u = figs.variance_units(pd.DataFrame(rows)).iloc[0]
    assert u["lecun_band"] == pytest.approx(4.0)
    assert u["lecun_bwd"] == pytest.approx(math.log(2))
    assert u["xavier_fwd"] == pytest.approx(math.log(2) / 2)
    assert u["value"] == pytest.approx(max(0.4, 0.5))


# ---------------------------------------------------------------- end to end
def test_end_to_end(tmp_path, env):
    res = run_sweep("C", tiny("C"), tmp_path / "runs", env)
    status = {r["run"]: r["status"] for r in res.runs}
    assert len(status) == 5
    assert status["task~clipping_clipping.max_norm~0_seed~0"] == "diverged"      # plain SGD
    assert status["task~clipping_clipping.max_norm~1_seed~0"] == "ok"            # clipped
    steps = res.table("steps")
    clipped = steps[steps["run"] == "task~clipping_clipping.max_norm~1_seed~1"]
    assert len(clipped) == 3 * math.ceil(1347 / 64) and np.isfinite(clipped["loss"]).all()
    claims = render("C", res, tmp_path / "fig", "test")
    assert list(claims["figure_id"]) == FIGURES["C"]
    for fid in FIGURES["C"]:
        assert (tmp_path / "fig" / f"{fid}.png").stat().st_size > 10_000, fid
    v = claims.set_index("figure_id")["verdict"]
    assert v["C-tanh-regime"] == "reference"
    assert v["C-explode-vanish"] == "pass"          # the linear theory holds at depth 30


# ---------------------------------------------------------------- the figures' claim functions
def _grad_norms(power=1.0, spread=2.0, repeats=5):
    """grad_norms: plain nets (g = 1.5, 0.8) with ‖δ‖ = g^(power·k) and Xavier nets whose norms
    span a factor ``spread`` over layers."""
    rows = [dict(setting="plain", repeat=r, gain=g, depth=5, k=k, norm=g ** (power * k))
            for r in range(repeats) for g in (1.5, 0.8) for k in range(6)]
    rows += [dict(setting="xavier", repeat=r, gain=1.0, depth=5, k=k, norm=1 + (spread - 1) * k / 5)
             for r in range(repeats) for k in range(6)]
    return pd.DataFrame(rows)


def test_explode_vanish_claim_passes_fails_and_needs_five_inits():
    from nnrepro.catalogue import FIGURE_INFO
    ok = figs.explode_vanish_claim(_grad_norms(), "5 inits per net")
    assert ok.verdict == "pass" and ok.value == pytest.approx(0, abs=1e-9) and ok.n == 5
    assert ok.threshold == FIGURE_INFO["C-explode-vanish"].threshold == figs.SLOPE_TOLERANCE
    assert "g = 1.5, D = 5: 0.405" in ok.finding
    assert figs.explode_vanish_claim(_grad_norms(power=2.0), "").verdict == "fail"
    assert figs.explode_vanish_claim(_grad_norms(repeats=2), "").verdict == "inconclusive"


def test_fixes_claim_needs_the_spread_and_the_clipping_parts():
    from nnrepro.catalogue import FIGURE_INFO
    steps, runs = _clipping([0.3, 0.25, 0.4, 0.35, 0.3, 0.28], ["diverged"] * 6)
    ok = figs.fixes_claim(_grad_norms(), steps, runs)
    assert ok.verdict == "pass" and ok.test == FIGURE_INFO["C-fixes"].test and ok.threshold == 10.0
    assert ok.diverged == 6 and "6 of 12 training runs diverged" in ok.note
    assert figs.fixes_claim(_grad_norms(spread=50.0), steps, runs).verdict == "fail"        # spread ≥ 10×
    steps, runs = _clipping([2.2] * 6, ["diverged"] * 6)
    assert figs.fixes_claim(_grad_norms(), steps, runs).verdict == "fail"                   # near chance
    steps, runs = _clipping([0.3] * 2, ["diverged"] * 2)
    assert figs.fixes_claim(_grad_norms(repeats=2), steps, runs).verdict == "inconclusive"  # too few


def test_init_variance_claim_and_no_init_run_is_no_data():
    from nnrepro.results import NoData
    def variance(xavier_step, repeats=5):
        """Per repeat: LeCun as in test_variance_units_on_a_hand_made_table (value 0.4 from its
        band), Xavier's forward and backward variances × ``xavier_step`` per layer."""
        rows = []
        for r in range(repeats):
            for t, (f, b) in enumerate([(1, 1), (0.5, 2), (0.25, 4)], start=1):
                rows.append(dict(init="lecun", repeat=r, layer=t, hidden=True, forward=f, backward=b))
                rows.append(dict(init="xavier", repeat=r, layer=t, hidden=True,
                                 forward=xavier_step ** (t - 1), backward=xavier_step ** (t - 1)))
        return pd.DataFrame(rows)
    ok = figs.init_variance_claim(variance(2 ** 0.5))
    assert ok.verdict == "pass" and ok.value == pytest.approx(0.5) and "LeCun forward band 4.00×" in ok.finding
    assert figs.init_variance_claim(variance(4.0)).verdict == "fail"           # Xavier off by 2× per layer
    assert figs.init_variance_claim(variance(2 ** 0.5, repeats=2)).verdict == "inconclusive"

    class OnlyClipping:                      # a Results of clipping runs only (task init not run)
        runs = [{"run": "c", "status": "ok", "spec": {"task": "clipping", "seed": 0,
                                                      "clipping": {"max_norm": 1.0}}}]

        def table(self, name):
            return pd.DataFrame({"run": ["c"], "x": [0.0]})
    for fn in (figs.c_explode_vanish, figs.c_init_variance, figs.c_tanh_regime):
        with pytest.raises(NoData, match="task init not in the grid"):
            fn(OnlyClipping())
