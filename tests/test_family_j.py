"""Family J: pruning masks keep the stated fractions per layer, rewinding restores the survivors'
initial values, the control shares the masks, a killed run resumes, the claim's pure functions."""
import pandas as pd
import pytest
import torch

from nnrepro import config, optimizers
from nnrepro.experiments import j, run
from nnrepro.figures import render
from nnrepro.figures.j import near_target, ticket_margins
from nnrepro.models import MLP
from nnrepro.training import train_epoch

from conftest import run_sweep

SPEC = {"model": {"hidden": [30, 20], "activation": "relu", "batchnorm": False, "dropout": 0.0,
                  "dropout_kind": "bernoulli", "init": "default", "gain": 1.0, "bias": True}}


def _net(seed=0):
    torch.manual_seed(seed)
    return j.prunable(MLP(12, (30, 20), 4))


def _train(net, steps=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(128, 12, generator=g), torch.randint(0, 4, (128,), generator=g)
    opt = optimizers.build(net.parameters(), {"name": "adam", "lr": 0.01})
    for _ in range(steps):
        train_epoch(net, opt, x, y, 32, g)


def test_masks_keep_the_stated_fractions_per_layer():
    net = _net()
    rates = (0.2, 0.2, 0.1)                                  # hidden, hidden, output
    remaining = [m.weight.numel() for m in j.linears(net)]
    for r in range(1, 8):
        _train(net, steps=2, seed=r)
        j.prune_round(net, hidden_rate=0.2, output_rate=0.1)
        # each round removes round(rate × remaining) of each layer's remaining weights ...
        remaining = [n - round(rate * n) for n, rate in zip(remaining, rates)]
        assert [left for left, _ in j.mask_counts(net)] == remaining
        # ... so (1 − rate)^r of the layer is left, up to rounding
        for (left, total), rate in zip(j.mask_counts(net), rates):
            assert abs(left / total - (1 - rate) ** r) < r / total


def test_last_round_removes_smallest_magnitudes():
    net = _net()
    _train(net)
    before = [m.weight_orig.detach().abs().clone() for m in j.linears(net)]
    j.prune_round(net, 0.2, 0.1)
    for m, w in zip(j.linears(net), before):
        assert w[m.weight_mask == 0].max() <= w[m.weight_mask == 1].min()


def test_rewind_restores_the_initial_values_of_the_survivors():
    net = _net()
    theta0 = j.initial_weights(net)
    _train(net)
    assert not torch.allclose(net[0].weight, theta0[0][0])       # training moved the weights
    j.prune_round(net, 0.2, 0.1)
    j.load_weights(net, theta0)
    net(torch.zeros(1, 12))                                        # the hook recomputes m.weight
    for m, (w0, b0) in zip(j.linears(net), theta0):
        mask = m.weight_mask.bool()
        assert torch.equal(m.weight[mask], w0[mask])               # survivors: their θ₀
        assert torch.all(m.weight[~mask] == 0)                     # pruned: zero
        assert torch.equal(m.bias, b0)
    # pruned weights stay zero while the ticket trains; survivors move
    _train(net, steps=5)
    for m, (w0, _) in zip(j.linears(net), theta0):
        assert torch.all(m.weight[~m.weight_mask.bool()] == 0)
        assert not torch.equal(m.weight[m.weight_mask.bool()], w0[m.weight_mask.bool()])


def test_random_reinit_keeps_the_masks_with_fresh_weights():
    ds = type("DS", (), {"n_features": 12, "n_classes": 4})()
    ticket = _net()
    _train(ticket)
    j.prune_round(ticket, 0.2, 0.1)
    a = j.reinitialized(ticket, {**SPEC, "seed": 0}, ds, 1, "cpu")
    b = j.reinitialized(ticket, {**SPEC, "seed": 0}, ds, 1, "cpu")
    c = j.reinitialized(ticket, {**SPEC, "seed": 0}, ds, 2, "cpu")
    rng = torch.get_rng_state()
    for ma, mb, mc, mt in zip(j.linears(a), j.linears(b), j.linears(c), j.linears(ticket)):
        assert torch.equal(ma.weight_mask, mt.weight_mask)
        assert torch.equal(ma.weight, mb.weight)                    # reproducible per (seed, round)
        assert not torch.equal(ma.weight_orig, mc.weight_orig)
        assert not torch.allclose(ma.weight_orig, mt.weight_orig)
    assert torch.equal(torch.get_rng_state(), rng)


def test_claim_functions_on_a_hand_made_table():
    rows = []
    for run, accs in (("s0", (0.97, 0.975, 0.96)), ("s1", (0.98, 0.978, 0.95))):
        dense, ticket, reinit = accs
        for r, frac in ((0, 1.0), (1, 0.8), (7, 0.21), (8, 0.17)):
            rows += [dict(run=run, round=r, kind="ticket", frac_weights=frac,
                          test_acc=dense if r == 0 else ticket),
                     dict(run=run, round=r, kind="random reinit", frac_weights=frac,
                          test_acc=dense if r == 0 else reinit)]
    df = pd.DataFrame(rows)
    assert near_target(df) == 7
    m = ticket_margins(df, 7)
    assert m.loc["s0", "vs_dense"] == pytest.approx(0.5 + 1)
    assert m.loc["s1", "vs_dense"] == pytest.approx(-0.2 + 1)
    assert m.loc["s0", "vs_reinit"] == pytest.approx(1.5)
    assert m.loc["s1", "vs_reinit"] == pytest.approx(2.8)


TINY_J = {"dataset": "digits", "model": {"hidden": [40, 20], "activation": "relu"},
          "optimizer": {"name": "adam", "lr": 0.0012}, "epochs": 2, "batch_size": 128,
          "prune": {"rounds": 3, "hidden_rate": 0.5, "output_rate": 0.25},
          "grid": {"seeds": {"seed": [0, 1]}}}


def test_tiny_sweep_and_figure(env, tmp_path):
    res = run_sweep("J", TINY_J, tmp_path, env)
    rounds, masks = res.table("rounds"), res.table("masks")
    assert sorted(rounds["round"].unique()) == [0, 1, 2, 3]
    assert set(rounds["kind"]) == {"ticket", "random reinit"}
    assert rounds["test_acc"].between(0, 1).all()
    left = masks[(masks.run == masks.run.iloc[0]) & (masks.layer == 0)].sort_values("round")["left"]
    assert list(left) == [64 * 40 // 2 ** r for r in range(4)]
    claims = render("J", res, tmp_path / "fig", "test")
    assert claims.iloc[0]["n"] == 2 and claims.iloc[0]["verdict"] in ("pass", "fail", "inconclusive")
    assert (tmp_path / "fig" / "J-lottery.png").stat().st_size > 10_000


def test_killed_run_resumes_to_the_same_tables(env, tmp_path, monkeypatch):
    spec = next(iter(config.expand_runs({**TINY_J, "grid": {}}).values()))
    run("J", "whole", spec, tmp_path / "whole", env)
    calls = {"n": 0}
    real = j.scores

    def dies_in_round_2(*a):
        calls["n"] += 1
        if calls["n"] == 5:                                    # round 2's ticket
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(j, "scores", dies_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        run("J", "killed", spec, tmp_path / "killed", env)
    assert (tmp_path / "killed.checkpoint.pt").exists()
    monkeypatch.setattr(j, "scores", real)
    run("J", "killed", spec, tmp_path / "killed", env)
    for name in ("rounds", "masks"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "whole" / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "killed" / f"{name}.parquet"))
