"""Family D optimizers: each closed-form step against an independent reference (scipy's numeric
argmin of the seed's step problem, numpy, or torch.optim)."""
import math

import numpy as np
import pytest
import scipy.optimize
import torch

from nnrepro import optimizers as ours

P_VALUES = [1.1, 1.5, 2.0, 3.0, 10.0]


def step_of(opt_cls, g, **kw):
    """The update Δ an optimizer makes from 0 for gradient g (float64)."""
    x = torch.zeros(len(g), dtype=torch.float64, requires_grad=True)
    x.grad = torch.as_tensor(g, dtype=torch.float64)
    opt_cls([x], **kw).step()
    return x.detach().numpy()


def gradients(n=6, dim=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim))


def test_normalized_step_has_length_lr_and_points_down_the_gradient():
    for g in gradients():
        d = step_of(ours.Normalized, g, lr=0.3)
        assert np.linalg.norm(d) == pytest.approx(0.3, rel=1e-12)
        assert np.allclose(d, -0.3 * g / np.linalg.norm(g), atol=1e-15)
        # the same step whatever the gradient's magnitude
        assert np.allclose(step_of(ours.Normalized, 1e-6 * g, lr=0.3), d, atol=1e-12)
    assert np.all(step_of(ours.Normalized, np.zeros(3), lr=0.3) == 0)  # no step, no NaN


def test_sign_step_solves_the_per_coordinate_trust_region():
    for g in gradients():
        d = step_of(ours.Normalized, g, lr=0.2, coordinatewise=True)
        ref = scipy.optimize.linprog(g, bounds=[(-0.2, 0.2)] * len(g)).x  # min J·Δ, |Δᵢ| ≤ ε
        assert np.allclose(d, ref, atol=1e-9)


@pytest.mark.parametrize("p", P_VALUES)
def test_pnorm_trust_region_step_is_the_numeric_argmin(p):
    eps = 0.5
    for g in gradients():
        d = step_of(ours.PNorm, g, lr=eps, p=p)
        cons = dict(type="ineq", fun=lambda x: eps ** p - np.sum(np.abs(x) ** p))
        ref = scipy.optimize.minimize(lambda x: g @ x, np.zeros_like(g) - 1e-3 * g, method="SLSQP",
                                      constraints=[cons], options=dict(ftol=1e-14, maxiter=1000)).x
        assert np.sum(np.abs(d) ** p) ** (1 / p) == pytest.approx(eps, rel=1e-10)  # on the ball
        assert g @ d <= g @ ref + 1e-7                      # no worse (up to SLSQP feasibility)
        assert np.linalg.norm(d - ref) / np.linalg.norm(d) < 1e-4


@pytest.mark.parametrize("p", P_VALUES)
def test_pnorm_proximal_step_is_the_numeric_argmin(p):
    alpha = 0.5
    for g in gradients():
        d = step_of(ours.PNorm, g, lr=alpha, p=p, normalize=False)
        obj = lambda x: g @ x + np.sum(np.abs(x) ** p) / (p * alpha)  # noqa: E731
        ref = scipy.optimize.minimize(obj, np.zeros_like(g), method="Nelder-Mead",
                                      options=dict(xatol=1e-12, fatol=1e-15, maxiter=40000)).x
        assert obj(d) <= obj(ref) + 1e-12
        assert np.allclose(d, ref, atol=1e-5 * max(1.0, np.abs(d).max()))


def test_pnorm_special_cases():
    g = gradients(1)[0]
    # p = 2: the normalized step; seed's formula −α sign(J)|J|^{1/(p−1)} is the proximal step
    assert np.allclose(step_of(ours.PNorm, g, lr=0.3, p=2), step_of(ours.Normalized, g, lr=0.3))
    assert np.allclose(step_of(ours.PNorm, g, lr=0.3, p=2, normalize=False), -0.3 * g)
    # large p → sign step of length ε per coordinate; p → 1 → only the largest |Jᵢ| moves
    d = step_of(ours.PNorm, g, lr=1.0, p=200)
    assert np.allclose(d, -np.sign(g), atol=0.02)
    d = step_of(ours.PNorm, g, lr=1.0, p=1.01)
    i = np.argmax(np.abs(g))
    assert abs(d[i]) > 0.99 and np.delete(np.abs(d), i).max() < 1e-3
    with pytest.raises(ValueError):
        ours.PNorm([torch.zeros(2, requires_grad=True)], p=1.0)


def test_mahalanobis_step_solves_the_proximal_problem():
    rng = np.random.default_rng(1)
    for g in gradients():
        q = rng.normal(size=(4, 4))
        m = q @ q.T + np.eye(4)
        d = step_of(ours.Mahalanobis, g, lr=0.4, metric=torch.tensor(m))
        obj = lambda x: g @ x + x @ m @ x / (2 * 0.4)  # noqa: E731
        ref = scipy.optimize.minimize(obj, np.zeros(4), method="BFGS", options=dict(gtol=1e-12)).x
        assert np.allclose(d, ref, atol=1e-7)
        assert np.allclose(d, -0.4 * np.linalg.solve(m, g), atol=1e-12)
    # M = I is plain GD
    assert np.allclose(step_of(ours.Mahalanobis, g, lr=0.4, metric=np.eye(4)), -0.4 * g)


def test_mahalanobis_rejects_bad_metrics():
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    x.grad = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError):
        ours.Mahalanobis([x], metric=torch.eye(3, dtype=torch.float64)).step()
    with pytest.raises(torch.linalg.LinAlgError):
        ours.Mahalanobis([x], metric=torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))).step()


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_torch_on_the_reddi_counterexample(amsgrad):
    """f_t(x) = 1010x if t mod 101 = 1 else −10x on [−1, 1], α_t = α/√t, β = (0.9, 0.99)."""
    xs = [torch.zeros(1, dtype=torch.float64) for _ in range(2)]
    opts = [ours.Adam([xs[0]], lr=0.5, betas=(0.9, 0.99), amsgrad=amsgrad),
            torch.optim.Adam([xs[1]], lr=0.5, betas=(0.9, 0.99), amsgrad=amsgrad)]
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda k: 1 / math.sqrt(k + 1)) for o in opts]
    for t in range(1, 3031):
        for x, opt, sched in zip(xs, opts, scheds):
            x.grad = torch.full_like(x, 1010.0 if t % 101 == 1 else -10.0)
            opt.step()
            sched.step()
            x.clamp_(-1, 1)
        assert abs(xs[0].item() - xs[1].item()) < 1e-10, t


def test_build_geometry_optimizers_by_name():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(ours.build(params, {"name": "normalized", "lr": 0.1}), ours.Normalized)
    assert ours.build(params, {"name": "pnorm", "lr": 0.1, "p": 3}).defaults["p"] == 3.0
    assert isinstance(ours.build(params, {"name": "mahalanobis", "lr": 0.1, "metric": torch.eye(2)}),
                      ours.Mahalanobis)
