"""SGHMC/SGLD sample the tempered target exp(−U/T); T = 0 SGHMC is SGD with momentum."""
import math

import pytest
import torch

from nnrepro.samplers import SGHMC, SGLD, cosine_schedule, potential

MU = torch.tensor([1.0, -1.0], dtype=torch.float64)
SIGMA = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
PREC = torch.linalg.inv(SIGMA)
T = 0.5
CHAINS, STEPS, BURN, THIN = 1000, 3000, 1500, 50


def gaussian_samples(make_sampler) -> torch.Tensor:
    """CHAINS independent chains (one (CHAINS, 2) parameter, U summed over chains) on
    U(θ) = ½(θ−μ)ᵀΣ⁻¹(θ−μ) with exact gradients, started at 0; thinned draws after burn-in."""
    theta = torch.nn.Parameter(torch.zeros(CHAINS, 2, dtype=torch.float64))
    opt = make_sampler([theta], torch.Generator().manual_seed(0))
    draws = []
    for k in range(STEPS):
        d = theta - MU
        theta.grad = d @ PREC                     # ∇U, full batch
        opt.step()
        if k >= BURN and k % THIN == 0:
            draws.append(theta.detach().clone())
    return torch.cat(draws)


def check_moments(x: torch.Tensor, tol_mean=0.06, tol_cov=0.10):
    """Mean within 0.06 (≈ 4 standard errors), covariance within 10 % (relative Frobenius)
    of the tempered target N(μ, T·Σ)."""
    mean, cov = x.mean(0), torch.cov(x.T)
    assert torch.allclose(mean, MU, atol=tol_mean), mean
    rel = (torch.linalg.matrix_norm(cov - T * SIGMA) / torch.linalg.matrix_norm(T * SIGMA)).item()
    assert rel < tol_cov, (cov, rel)


@pytest.mark.parametrize("gamma,alpha", [(1, 1), (0.1, 1), (1, 10), (0.1, 10)])
def test_sghmc_samples_tempered_gaussian(gamma, alpha):
    x = gaussian_samples(lambda p, g: SGHMC(p, lr=0.05, friction=2.0, mass=1.0, temperature=T,
                                            gamma=gamma, alpha=alpha, resample_every=200,
                                            generator=g))
    check_moments(x)


def test_sghmc_without_resampling_and_sgld():
    check_moments(gaussian_samples(lambda p, g: SGHMC(p, lr=0.05, friction=2.0, temperature=T,
                                                      generator=g)))
    check_moments(gaussian_samples(lambda p, g: SGLD(p, lr=0.01, temperature=T, generator=g)))


def test_kinetic_temperature_and_resampling_scale():
    theta = torch.nn.Parameter(torch.zeros(20000, dtype=torch.float64))
    opt = SGHMC([theta], lr=0.1, friction=1.0, mass=2.0, temperature=0.3, gamma=0.1, alpha=10.0,
                generator=torch.Generator().manual_seed(0))
    opt.resample_momentum()                        # r ~ N(0, MαT/γ)
    r = opt.state[theta]["momentum"]
    assert r.var().item() == pytest.approx(2.0 * 10 * 0.3 / 0.1, rel=0.05)
    theta.grad = theta.detach().clone()            # U = ½‖θ‖²
    opt.step()
    assert opt.diagnostics["kinetic_temperature"].item() == pytest.approx(0.3, rel=0.05)


def test_zero_temperature_is_sgd_with_momentum():
    """T = 0: r ← (1 − εγ²C/M) r − εα∇U, θ ← θ + εγ/M r  ≡  SGD(momentum = 1 − εγ²C/M,
    lr = ε²γα/M) step for step."""
    eps, C, M, gamma, alpha = 0.03, 5.0, 2.0, 0.5, 3.0

    def mlp():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))

    a, b = mlp(), mlp()
    ours = SGHMC(a.parameters(), lr=eps, friction=C, mass=M, temperature=0.0, gamma=gamma,
                 alpha=alpha, generator=torch.Generator().manual_seed(0))
    ref = torch.optim.SGD(b.parameters(), lr=eps ** 2 * gamma * alpha / M,
                          momentum=1 - eps * gamma ** 2 * C / M)
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        x, y = torch.randn(32, 8, generator=gen), torch.randint(0, 3, (32,), generator=gen)
        for model, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            potential(model, x, y, n_data=100, prior_scale=1.0)[0].backward()
            opt.step()
        diff = max((pa - pb).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters()))
        assert diff < 1e-5
    moved = max((pa - pi).abs().max().item() for pa, pi in zip(a.parameters(), mlp().parameters()))
    assert moved > 1e-2


def test_state_dict_resumes_exactly():
    def chain(split):
        theta = torch.nn.Parameter(torch.ones(5))
        gen = torch.Generator().manual_seed(3)
        opt = SGHMC([theta], lr=0.1, friction=1.0, temperature=1.0, generator=gen)
        for k in range(20):
            if k == split:                          # rebuild from saved states
                sd, gs, th = opt.state_dict(), gen.get_state(), theta.detach().clone()
                theta = torch.nn.Parameter(th)
                gen = torch.Generator().set_state(gs)
                opt = SGHMC([theta], lr=0.1, friction=1.0, temperature=1.0, generator=gen)
                opt.load_state_dict(sd)
            theta.grad = theta.detach().clone()
            opt.step()
        return theta.detach()

    assert torch.equal(chain(split=-1), chain(split=7))


def test_cosine_schedule():
    f = cosine_schedule(10)
    assert f(0) == 1.0 and f(10) == 1.0 and f(5) == pytest.approx(0.5)
    assert 0 < f(9) < 0.03
    assert math.isclose(f(3), f(13))


def _eager_diagnostics(opt, before, params, moms):
    """The every-step diagnostics as SGHMC.step computed them before issue 25 (one group)."""
    g = opt.param_groups[0]
    eps, M, gm, a = SGHMC._eps(g), g["mass"], g["gamma"], g["alpha"]
    theta_r = rate = r_norm2 = kinetic = length2 = 0.0
    for p, r in zip(params, moms):
        tr = (p * r).sum()
        theta_r, rate = theta_r + tr, rate + 2 * gm / M * tr
        rr = r.pow(2).sum()
        r_norm2 = r_norm2 + rr
        kinetic = kinetic + gm * rr / (a * M)
        length2 = length2 + (eps * gm / M) ** 2 * rr
    after = sum(p.detach().pow(2).sum() for p in params)
    return dict(norm2=after, dnorm2_dt=(after - before) / eps, theta_r=theta_r, thetar_rate=rate,
                r_norm2=r_norm2, kinetic_temperature=kinetic / sum(p.numel() for p in params),
                step_length=torch.as_tensor(length2).sqrt())


def test_sghmc_diagnostics_on_read_are_the_every_step_values():
    """Diagnostics are computed when read (issue 25): read on every 3rd step they equal, bit for
    bit, the every-step formulas; reading them does not change the chain; a diagnostic first
    read after the next step raises instead of answering for the wrong θ."""
    def chain(read_every):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
        opt = SGHMC(params, lr=1e-2, friction=2.0, temperature=0.7, gamma=0.5, alpha=2.0,
                    generator=torch.Generator().manual_seed(1))
        for k in range(12):
            for p in params:
                p.grad = 2 * p.detach() + 0.1
            before = sum(p.detach().pow(2).sum() for p in params)
            opt.step()
            if read_every and k % read_every == 0:
                want = _eager_diagnostics(opt, before, params,
                                          [opt.state[p]["momentum"] for p in params])
                got = dict(opt.diagnostics)
                assert list(got) == list(want)
                for key in want:
                    assert torch.equal(got[key], want[key]), key
        return params, opt

    a, _ = chain(3)
    b, opt = chain(0)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    d = opt.diagnostics
    d["step_length"]
    for p in b:
        p.grad = p.detach().clone()
    opt.step()
    assert torch.equal(d["step_length"], d["step_length"])      # read before: kept
    with pytest.raises(RuntimeError):
        d["norm2"]
