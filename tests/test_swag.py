"""SWAG's samples have the mean and covariance of the collected moments."""
import torch

from nnrepro.swag import SWAG


def _collect(trajectory):
    model = torch.nn.Linear(3, 1, bias=False)   # 3 parameters
    swag = SWAG(3, rank=4)
    for theta in trajectory:
        with torch.no_grad():
            model.weight.copy_(theta.view(1, 3))
        swag.collect(model)
    return swag


def test_moments_match_the_trajectory():
    traj = torch.randn(10, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    swag = _collect(traj.float())
    assert torch.allclose(swag.mean, traj.float().double().mean(0), atol=1e-6)
    assert torch.allclose(swag.variance, traj.float().double().var(0, unbiased=False), atol=1e-6)
    assert len(swag.deviations) == 4   # only the last K = rank deviations are kept


def test_diagonal_samples_have_scaled_variance():
    traj = torch.randn(10, 3, generator=torch.Generator().manual_seed(1))
    swag = _collect(traj)
    gen = torch.Generator().manual_seed(2)
    s = torch.stack([swag.sample(gen, scale=0.5, diagonal=True) for _ in range(20000)]).double()
    assert torch.allclose(s.mean(0), swag.mean, atol=0.03)
    assert torch.allclose(s.var(0), 0.5 * swag.variance, rtol=0.05)


def test_lowrank_samples_have_scaled_covariance():
    traj = torch.randn(10, 3, generator=torch.Generator().manual_seed(3))
    swag = _collect(traj)
    D = torch.stack(swag.deviations, 1).double()
    expected = 0.5 * (torch.diag(swag.variance) + D @ D.T / (D.shape[1] - 1))
    gen = torch.Generator().manual_seed(4)
    s = torch.stack([swag.sample(gen, scale=0.5) for _ in range(40000)]).double()
    assert torch.allclose(s.mean(0), swag.mean, atol=0.03)
    assert torch.allclose(torch.cov(s.T), expected, atol=0.03 * expected.abs().max().item())
    # the low-rank part is there: the covariance is not diagonal
    assert (expected - torch.diag(torch.diag(expected))).abs().max() > 0.05
