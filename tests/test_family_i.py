"""Family I: Path-SGD (nnrepro.pathsgd) against an autograd reference for its scaling, its
invariance to the rescaling of a ReLU net, the claim's pure functions, and a tiny run."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from nnrepro.render import render
from nnrepro.catalogue import FIGURE_INFO
from nnrepro.families.i.figures import (i_rescaling, rescaling_claim, rescaling_gaps, rescaling_stats,
                                         slowdown, worst_path_gap)
from nnrepro.results import NoData, Results, RunDir, Status
from nnrepro.models import MLP, flat_params
from nnrepro.optimizers import SGD
from nnrepro.pathsgd import (PathSGD, linear_layers, path_norm, path_scaling, rescale, rescale_units,
                             unbalancing_factors)

from conftest import run_sweep, tiny

# tests/test_resume.py resumes this family's tiny run
RESUME_POINT = {}

F64 = torch.float64


def _net(seed=0, hidden=(7, 5)):
    torch.manual_seed(seed)
    return MLP(4, hidden, 3, bias=False).double()


def _data(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g)


def _weights(model):
    return [m.weight for m in linear_layers(model)]


@torch.no_grad()
def _rescale_units(model, layer: int, d: torch.Tensor):
    """Per-unit rescaling of hidden layer ``layer``: rows of W_layer × d, columns of W_next ÷ d."""
    ws = _weights(model)
    ws[layer].mul_(d[:, None])
    ws[layer + 1].div_(d[None, :])
    return model


def test_path_scaling_matches_autograd_reference():
    """κ_e = ∂γ₂²/∂(w_e²) with γ₂² = 1ᵀ(V_L … V_1)1, V = W ⊙ W (the authors' way to compute it:
    a pass of the squared-weight net on a vector of ones, then backward)."""
    ws = [w.detach() for w in _weights(_net(hidden=(6, 5, 4)))]
    vs = [(w * w).requires_grad_() for w in ws]
    out = torch.ones(ws[0].shape[1], dtype=F64)
    for v in vs:
        out = v @ out
    grads = torch.autograd.grad(out.sum(), vs)
    for kappa, g in zip(path_scaling(ws), grads):
        torch.testing.assert_close(kappa, g, rtol=1e-12, atol=0)
    assert torch.isclose(path_norm(ws) ** 2, out.sum().detach(), rtol=1e-12)


def test_rescaling_keeps_the_function_and_the_path_norm():
    net, x = _net(), _data()[0]
    for other in (rescale(net, 0, 3.0), rescale(net, 1, 0.2),
                  _rescale_units(rescale(net, 0, 1.0), 0, torch.rand(7, dtype=F64) * 5 + 0.1)):
        torch.testing.assert_close(other(x), net(x), rtol=1e-12, atol=1e-12)
        assert torch.isclose(path_norm(_weights(other)), path_norm(_weights(net)), rtol=1e-12)
        assert not torch.allclose(flat_params(other), flat_params(net))
    with pytest.raises(ValueError):
        rescale(MLP(4, (5,), 3), 0, 2.0)                   # a bias would have to scale too


def _train_pair(make_opt, transform, back, steps=25, lr=0.05):
    """Train a net and its transformed copy on the same minibatches; after each step, map the
    copy back and return the largest |difference| seen."""
    x, y = _data(200)
    a = _net(3)
    b = transform(rescale(a, 0, 1.0))
    oa, ob = make_opt(a, lr), make_opt(b, lr)
    gen, worst = torch.Generator().manual_seed(0), 0.0
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=gen)[:32]
        for net, opt in ((a, oa), (b, ob)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        mapped = back(rescale(b, 0, 1.0))
        worst = max(worst, (flat_params(mapped) - flat_params(a)).abs().max().item())
    return worst


def _path(net, lr):
    return PathSGD(_weights(net), lr=lr * 0.02)


def _sgd(net, lr):
    return SGD(net.parameters(), lr=lr)


@pytest.mark.parametrize("c", [3.0, 0.1])
def test_path_sgd_step_is_invariant_to_layer_rescaling(c):
    gap = _train_pair(_path, lambda n: rescale(n, 0, c), lambda n: rescale(n, 0, 1 / c))
    assert gap < 1e-6
    assert _train_pair(_sgd, lambda n: rescale(n, 0, c), lambda n: rescale(n, 0, 1 / c)) > 1e-3


def test_path_sgd_step_is_invariant_to_per_unit_rescaling():
    d = torch.rand(5, dtype=F64, generator=torch.Generator().manual_seed(4)) * 10 + 0.1
    to, back = (lambda n: _rescale_units(n, 1, d)), (lambda n: _rescale_units(n, 1, 1 / d))
    assert _train_pair(_path, to, back) < 1e-6
    assert _train_pair(_sgd, to, back) > 1e-3


def test_path_sgd_rejects_a_non_chain():
    with pytest.raises(ValueError):
        PathSGD(list(MLP(4, (5,), 3).parameters()), lr=0.1)   # biases are not a chain of matrices


def test_unbalancing_factors_keep_the_function():
    net, x = _net(), _data()[0]
    d = unbalancing_factors(net, 10.0, torch.Generator().manual_seed(0))
    assert [len(v) for v in d] == [7, 5] and all(((v >= 0.1) & (v <= 10)).all() for v in d)
    other = rescale_units(net, d)
    torch.testing.assert_close(other(x), net(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(flat_params(rescale_units(other, [1 / v for v in d])), flat_params(net))
    assert _train_pair(_path, lambda n: rescale_units(n, d), lambda n: rescale_units(n, [1 / v for v in d])) < 1e-6


def _epochs(sgd_ratio, path_gap=1e-15, seeds=5, epochs=4):
    """Hand-made ``epochs`` table: per seed, the original nets' loss 2/(e + 1); the rescaled SGD
    net's loss × sgd_ratio[seed] (all epochs), the rescaled Path-SGD net's × (1 + path_gap)."""
    rows = []
    for k in range(seeds):
        for o, f in (("SGD", sgd_ratio[k]), ("Path-SGD", 1 + path_gap)):
            for e in range(epochs):
                L = 2.0 / (e + 1)
                rows += [dict(run=f"s{k}", optimizer=o, net="original", epoch=e, train_loss=L, weight_gap=0.0),
                         dict(run=f"s{k}", optimizer=o, net="rescaled", epoch=e,
                              train_loss=L * (f if e else 1), weight_gap=abs(f - 1))]
    return pd.DataFrame(rows)


def test_gap_functions_on_a_hand_made_table():
    ep = _epochs([1.5, 1.2, 1.3, 1.4, 1.25])
    gaps = rescaling_gaps(ep)
    assert set(gaps.columns) >= {"run", "optimizer", "epoch", "loss_gap", "weight_gap"}
    assert gaps[gaps.epoch == 0]["loss_gap"].max() == 0
    assert worst_path_gap(gaps) == pytest.approx(1e-15, rel=1e-3)
    assert slowdown(ep).tolist() == pytest.approx([1.5, 1.2, 1.3, 1.4, 1.25])
    assert rescaling_claim(ep).verdict == "pass"
    assert rescaling_claim(_epochs([1.5, 1.2, 1.3, 1.4, 1.25], path_gap=1e-3)).verdict == "fail"
    assert rescaling_claim(ep[ep.run < "s3"]).verdict == "inconclusive"      # 3 seeds < 5


def test_claim_reads_the_catalogue_and_the_statistics_computed_once():
    ep = _epochs([1.5, 1.2, 1.3, 1.4, 1.25])
    stats = rescaling_stats(ep)
    assert stats["slowdown"]["SGD"].tolist() == pytest.approx([1.5, 1.2, 1.3, 1.4, 1.25])
    claim = rescaling_claim(ep, stats=stats)
    assert claim == rescaling_claim(ep)
    assert claim.test == FIGURE_INFO["I-rescaling"].test and claim.threshold == FIGURE_INFO["I-rescaling"].threshold


def test_every_run_diverged_is_no_data(tmp_path):
    """Every seed stopped (all four nets diverged): the figure raises NoData, drawn as "no data"."""
    ep = _epochs([1.2] * 5, seeds=2)
    runs = []
    for rid, g in ep.groupby("run"):
        out = RunDir(tmp_path / rid, "I", rid, {"seed": int(rid[1:])})
        out.save_table("epochs", g.drop(columns="run"))
        out.finish(Status.DIVERGED)
        runs.append(tmp_path / rid / "run.json")
    with pytest.raises(NoData, match="no run finished: every run diverged"):
        i_rescaling(Results(runs))


def test_a_faster_rescaled_sgd_fails_where_the_old_gap_passed():
    """The rescaled SGD net trains 4× faster (our c = 3 layer rescaling before issue 17): the old
    check, |gap| > 0.1, passed; the source's panel shows SGD slowed, so the claim fails."""
    ep = _epochs([0.25, 0.22, 0.3, 0.24, 0.26])
    old_sgd_gap = rescaling_gaps(ep).query("optimizer == 'SGD'").groupby("run")["loss_gap"].max().min()
    assert old_sgd_gap > 0.1                                                 # the old claim: pass
    claim = rescaling_claim(ep)
    assert claim.verdict == "fail" and claim.value == pytest.approx(0.254)


def _diverge(ep, runs, optimizer="SGD"):
    """The rescaled net of ``optimizer`` diverges from epoch 1 on in ``runs`` (its weights NaN)."""
    bad = (ep.optimizer == optimizer) & (ep.net == "rescaled") & (ep.epoch >= 1) & ep.run.isin(runs)
    ep = ep.assign(net_diverged=bad)
    ep.loc[bad, "train_loss"] = math.nan
    return ep


def test_a_diverged_pair_is_its_own_outcome_not_a_slowdown():
    """At a step tuned for the balanced net the unbalanced SGD net diverged (MNIST, η = 0.3, all
    5 seeds): the old claim counted it at its initial loss and passed on the cap. A diverged
    pair is now reported (k of n) and the slowdown read on the pairs that finished."""
    ratios = [1.2, 1.3, 1.25, 1.2, 1.3, 1.22, 1.28]
    ep = _diverge(_epochs(ratios, seeds=7), ["s0", "s1"])
    sd = slowdown(ep)
    assert list(sd.index) == ["s2", "s3", "s4", "s5", "s6"] and sd.tolist() == pytest.approx(ratios[2:])
    claim = rescaling_claim(ep)
    assert claim.verdict == "pass" and claim.n == 5 and claim.value == pytest.approx(np.mean(ratios[2:]))
    assert "diverged (own outcome) in 2 of 7" in claim.finding and claim.diverged == 2
    # only 3 pairs finished: inconclusive, never a pass on divergence
    few = _diverge(_epochs([1.5] * 5), ["s0", "s1"])
    c = rescaling_claim(few)
    assert c.verdict == "inconclusive" and c.n == 3 and "too few finished SGD pairs" in c.finding
    everyone = _diverge(_epochs([1.5] * 5), [f"s{k}" for k in range(5)])
    assert rescaling_claim(everyone).verdict == "inconclusive"
    # finished pairs that trained faster: fail
    faster = _diverge(_epochs([0.5, 0.6, 0.55, 0.5, 0.6, 0.5]), ["s5"])
    assert rescaling_claim(faster).verdict == "fail"
    # a diverged Path-SGD pair does not enter the coincidence gap
    path = _diverge(_epochs([1.3] * 5), ["s0"], "Path-SGD")
    assert worst_path_gap(rescaling_stats(path)["gaps"]) == pytest.approx(1e-15, rel=1e-3)


def test_sgd_step_rule_is_half_the_stability_limit_of_the_sharper_net():
    """η = min(lr, ½ · 2/λ_max): λ_max by power iteration equals the Hessian's top eigenvalue
    (autograd reference on a tiny net); the rescaled net is the sharper one."""
    from types import SimpleNamespace
    from nnrepro.families.i.experiment import sgd_step, sharpness
    net = _net(hidden=(5, 4))
    x, y = _data(40)
    params = list(net.parameters())
    flat = torch.cat([p.detach().flatten() for p in params])

    def loss(theta):
        ws, k = [], 0
        for p in params:
            ws.append(theta[k:k + p.numel()].view(p.shape)); k += p.numel()
        h = x
        for i, w in enumerate(ws):
            h = h @ w.T
            h = torch.relu(h) if i < len(ws) - 1 else h
        return torch.nn.functional.cross_entropy(h, y)

    lam = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat)).abs().max().item()
    assert sharpness(net, x, y, 200, torch.Generator().manual_seed(0)) == pytest.approx(lam, rel=1e-3)
    d = unbalancing_factors(net, 10.0, torch.Generator().manual_seed(1))
    ds = SimpleNamespace(x_train=x, y_train=y)
    s = {"optimizers": {"sgd": {"lr": 100.0}}, "stable_step": {"fraction": 0.5, "examples": 40, "iterations": 200}}
    row = sgd_step([net, rescale_units(net, d)], ds, s, 0)
    assert row["lambda_rescaled"] > row["lambda_original"]
    assert row["lr"] == pytest.approx(1 / row["lambda_rescaled"])
    assert sgd_step([net, net], ds, {**s, "optimizers": {"sgd": {"lr": 1e-3}}}, 0)["lr"] == 1e-3
    assert sgd_step([net, net], ds, {**s, "stable_step": None}, 0)["lr"] == 100.0


def test_tiny_run_and_figure(env, tmp_path):
    res = run_sweep("I", tiny("I"), tmp_path, env)
    ep = res.table("epochs")
    assert len(ep) == 5 * 4 * 4 and set(ep["net"]) == {"original", "rescaled"}
    start = ep[ep.epoch == 0].groupby("run")["train_loss"]
    assert (start.max() - start.min()).max() < 1e-12           # four nets, one function at init
    claims = render("I", res, tmp_path / "fig", "test")
    row = claims.iloc[0]
    assert row["n"] == 5 and row["verdict"] in {"pass", "fail"}, row.to_dict()   # decided
    assert worst_path_gap(rescaling_gaps(ep)) < 1e-6
    assert (tmp_path / "fig" / "I-rescaling.png").stat().st_size > 10_000
