"""nnrepro.landscape: points, planes, lines and curves in weight space.

Family B's SWA plane and flatness lines are drawn with this module; the tests check each
construction (Garipov et al. 2018, Li et al. 2018) on tiny models.
"""
import copy
import math

import pandas as pd
import pytest
import torch
from pandas.testing import assert_frame_equal
from torch import nn

from nnrepro import landscape as ls
from nnrepro.models import MLP, flat_params, set_flat_params
from nnrepro.training import train_epoch


@pytest.fixture
def tiny():
    """MLP 8-6-3, random data, three nearby 'iterates'."""
    torch.manual_seed(0)
    model = MLP(8, (6,), 3)
    x, y = torch.randn(50, 8), torch.randint(0, 3, (50,))
    w = flat_params(model)
    iterates = {k: w + 0.3 * torch.randn_like(w) for k in range(3)}
    return model, x, y, iterates


# --- one point, a plane, a line -------------------------------------------------------------------

def test_loss_err_is_the_mean_cross_entropy_and_error_at_theta(tiny):
    model, x, y, it = tiny
    for theta in it.values():
        ref = set_flat_params(copy.deepcopy(model), theta)
        with torch.no_grad():
            logits = ref(x)
        assert ls.loss_err(copy.deepcopy(model), x, y, theta) == (
            nn.functional.cross_entropy(logits, y).item(), (logits.argmax(1) != y).float().mean().item())


def test_plane_grid_covers_the_named_points(tiny):
    model, x, y, it = tiny
    grid, pts = ls.plane(model, it[0], it[1], it[2], x, y, 5)
    assert len(grid) == 25 and list(pts["point"]) == ["iterate 1", "iterate 2", "iterate 3",
                                                      "average of the 3"]
    for axis in ("x", "y"):
        assert grid[axis].min() < pts[axis].min() and grid[axis].max() > pts[axis].max()
    u_hat, v_hat = ls.plane_basis(it[0], it[1], it[2])
    row = grid.iloc[7]
    assert (row["test_loss"], row["test_err"]) == ls.loss_err(
        model, x, y, it[0] + row["x"] * u_hat + row["y"] * v_hat)


def test_plane_extra_points_are_appended(tiny):
    model, x, y, it = tiny
    swa = sum(it.values()) / 3 + 0.01
    _, pts = ls.plane(model, it[0], it[1], it[2], x, y, 3, extra={"SWA": swa})
    assert list(pts["point"]) == ["iterate 1", "iterate 2", "iterate 3", "average of the 3", "SWA"]
    assert pts["point"].iloc[-1] == "SWA"
    assert (pts.iloc[-1]["test_loss"], pts.iloc[-1]["test_err"]) == ls.loss_err(model, x, y, swa)


def test_random_direction_is_unit_and_line_evaluates_along_it(tiny):
    model, x, y, it = tiny
    d = ls.random_direction(it[0], torch.Generator().manual_seed(7))
    assert d.norm().item() == pytest.approx(1.0)
    assert torch.equal(d, ls.random_direction(it[0], torch.Generator().manual_seed(7)))
    dists = torch.linspace(-1.0, 1.0, 5).tolist()
    table = ls.line(model, it[1], d, dists, x, y)
    assert list(table["distance"]) == dists
    for t, loss, err in table.itertuples(index=False):
        assert (loss, err) == ls.loss_err(model, x, y, it[1] + t * d)


def test_plane_and_line_leave_callers_model_alone(tiny):
    model, x, y, it = tiny
    before = flat_params(model).clone()
    ls.plane(model, it[0], it[1], it[2], x, y, 2)
    ls.line(model, it[0], ls.random_direction(it[0], torch.Generator().manual_seed(0)), [1.0], x, y)
    assert torch.equal(flat_params(model), before)


# --- the plane's geometry (Garipov et al. 2018) ---------------------------------------------------

def test_plane_basis_is_orthonormal_and_places_the_three_points(tiny):
    _, _, _, it = tiny
    w1, w2, w3 = it[0], it[1], it[2]
    u_hat, v_hat = ls.plane_basis(w1, w2, w3)
    assert u_hat.norm().item() == pytest.approx(1.0, abs=1e-6)
    assert v_hat.norm().item() == pytest.approx(1.0, abs=1e-6)
    assert u_hat.dot(v_hat).item() == pytest.approx(0.0, abs=1e-6)
    u = w2 - w1
    proj = (w3 - w1).dot(u_hat)
    v = w3 - w1 - proj * u_hat
    assert ls.plane_coords(w1, w1, u_hat, v_hat) == (0.0, 0.0)
    assert ls.plane_coords(w2, w1, u_hat, v_hat) == pytest.approx((u.norm().item(), 0.0), abs=1e-5)
    assert ls.plane_coords(w3, w1, u_hat, v_hat) == pytest.approx((proj.item(), v.norm().item()),
                                                                  abs=1e-5)
    # w₃ lies in the plane: its reconstruction from its coordinates is itself
    a, b = ls.plane_coords(w3, w1, u_hat, v_hat)
    assert torch.allclose(w1 + a * u_hat + b * v_hat, w3, atol=1e-5)


# --- filter normalization (Li et al. 2018) --------------------------------------------------------

def test_filter_normalized_direction_matches_row_norms():
    torch.manual_seed(1)
    model = MLP(8, (6, 5), 3)
    d = ls.filter_normalized_direction(model, torch.Generator().manual_seed(3))
    assert d.shape == flat_params(model).shape
    dirs = ls.unflatten(model, d)
    n_linear = 0
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            n_linear += 1
            assert torch.allclose(dirs[name].norm(dim=1), p.detach().norm(dim=1), rtol=1e-5)
            assert not torch.allclose(dirs[name], p.detach())          # a new direction, not θ
        else:
            assert torch.equal(dirs[name], torch.zeros_like(p))         # biases ignored
    assert n_linear == 3


def test_filter_normalized_direction_zeroes_batchnorm_and_handles_conv():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    d = ls.filter_normalized_direction(model, torch.Generator().manual_seed(0))
    dirs = ls.unflatten(model, d)
    conv = model[0].weight.detach()
    assert torch.allclose(dirs["0.weight"].flatten(1).norm(dim=1), conv.flatten(1).norm(dim=1),
                          rtol=1e-5)
    for name in ("0.bias", "1.weight", "1.bias", "3.bias"):
        assert torch.equal(dirs[name], torch.zeros_like(dirs[name]))


# --- curves (Garipov et al. 2018) -----------------------------------------------------------------

def test_bezier_and_linear_formulas():
    g = torch.Generator().manual_seed(0)
    w0, theta, w1 = (torch.randn(20, generator=g) for _ in range(3))
    assert torch.equal(ls.bezier(w0, theta, w1, 0.0), w0)
    assert torch.equal(ls.bezier(w0, theta, w1, 1.0), w1)
    assert torch.allclose(ls.bezier(w0, theta, w1, 0.5), 0.25 * w0 + 0.5 * theta + 0.25 * w1)
    # control point on the segment's midpoint: the curve is the segment, φ(t) = (1 − t)w₀ + tw₁
    mid = (w0 + w1) / 2
    for t in (0.2, 0.5, 0.9):
        assert torch.allclose(ls.bezier(w0, mid, w1, t), ls.linear(w0, w1, t), atol=1e-6)
    assert torch.equal(ls.linear(w0, w1, 0.0), w0)
    assert torch.equal(ls.linear(w0, w1, 1.0), w1)


def test_curve_table_ends_are_the_solutions(tiny):
    model, x, y, it = tiny
    w0, theta, w1 = it[0], it[1], it[2]
    for control in (None, theta):
        table = ls.curve_table(model, w0, w1, x, y, [0.0, 0.5, 1.0], theta=control)
        assert list(table.columns) == ["t", "loss", "err"]
        assert (table["loss"].iloc[0], table["err"].iloc[0]) == ls.loss_err(model, x, y, w0)
        assert (table["loss"].iloc[-1], table["err"].iloc[-1]) == ls.loss_err(model, x, y, w1)
    mid_curve = ls.curve_table(model, w0, w1, x, y, [0.5], theta=theta)["loss"].item()
    assert mid_curve == ls.loss_err(model, x, y, ls.bezier(w0, theta, w1, 0.5))[0]


def test_barrier():
    assert ls.barrier([1.0, 3.0, 2.5, 0.0]) == pytest.approx(3.0 - 0.5)
    assert ls.barrier([0.2, 0.1, 0.2]) == pytest.approx(0.0)         # no barrier: max is an end
    assert ls.barrier(pd.Series([2.0, 1.0, 0.0])) == pytest.approx(1.0)


def _moons(n, generator):
    """Two interleaved half circles with a little noise (separable by a small MLP)."""
    t = torch.rand(n, generator=generator) * math.pi
    y = torch.randint(0, 2, (n,), generator=generator)
    x = torch.stack([torch.cos(t) + y * 1.0, torch.sin(t) * (1 - 2 * y) + y * 0.5], 1)
    return x + 0.1 * torch.randn(n, 2, generator=generator), y


def test_fit_bezier_lowers_the_loss_along_the_path():
    g = torch.Generator().manual_seed(0)
    x, y = _moons(400, g)
    ends = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        m = MLP(2, (32,), 2)
        opt = torch.optim.Adam(m.parameters(), lr=0.02)
        for _ in range(40):
            train_epoch(m, opt, x, y, 100, g)
        ends.append(flat_params(m))
    w0, w1 = ends
    ts = torch.linspace(0, 1, 11).tolist()
    seg = ls.curve_table(m, w0, w1, x, y, ts)
    theta = ls.fit_bezier(m, w0, w1, x, y, epochs=30, batch_size=100, lr=0.01, generator=g,
                          optimizer="adam")
    curve = ls.curve_table(m, w0, w1, x, y, ts, theta=theta)
    assert torch.equal(flat_params(m), w1)                          # the model itself untouched
    assert ls.barrier(seg["loss"]) > 0.05                           # the segment does cross a ridge
    assert curve["loss"].mean() < seg["loss"].mean()
    assert ls.barrier(curve["loss"]) <= ls.barrier(seg["loss"])


# --- BatchNorm: statistics recomputed at each point of the curve ----------------------------------

def _bn_model():
    return nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def test_curve_table_recomputes_batchnorm_statistics():
    torch.manual_seed(0)
    model = _bn_model()
    x = 3 + 2 * torch.randn(64, 8)                  # far from the stale statistics (0, 1)
    y = torch.randint(0, 3, (64,))
    w0 = flat_params(model)
    w1 = w0 + 0.5 * torch.randn_like(w0)
    stale = (model[1].running_mean.clone(), model[1].running_var.clone())
    ts = [0.0, 0.5, 1.0]

    fresh = ls.curve_table(model, w0, w1, x, y, ts, bn_inputs=[x])
    old = ls.curve_table(model, w0, w1, x, y, ts)
    assert torch.isfinite(torch.tensor(fresh[["loss", "err"]].values)).all()
    assert not fresh["loss"].equals(old["loss"])
    # at each t: the same as resetting the statistics and averaging them over bn_inputs by hand
    for t, loss in zip(ts, fresh["loss"]):
        m = set_flat_params(copy.deepcopy(model), ls.linear(w0, w1, t))
        m[1].reset_running_stats()
        m[1].momentum = None
        m.train()
        with torch.no_grad():
            m(x)
            h = m[0](x)
        assert torch.allclose(m[1].running_mean, h.mean(0), atol=1e-5)
        assert not torch.allclose(m[1].running_mean, stale[0])
        assert loss == pytest.approx(ls.loss_err(m, x, y, ls.linear(w0, w1, t))[0], rel=1e-6)
    # a bare tensor works as bn_inputs too, and the caller's statistics are left stale
    assert_frame_equal(ls.curve_table(model, w0, w1, x, y, ts, bn_inputs=x), fresh)
    assert torch.equal(model[1].running_mean, stale[0]) and torch.equal(model[1].running_var, stale[1])


def test_garipov_lr_factor_follows_source_schedule():
    f = ls.garipov_lr_factor
    assert [f(e, 10) for e in range(6)] == [1.0] * 6           # constant for the first half
    assert f(7, 10) == pytest.approx(1 - 0.2 / 0.4 * 0.99)     # linear in between
    assert f(9, 10) == pytest.approx(0.01)                      # 1 % by 90 %
    assert f(19, 20) == 0.01                                    # then 1 %
    assert f(7, 10) != 1.0                                      # a constant lr would fail
