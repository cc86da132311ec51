"""Each from-scratch optimizer gives torch.optim's parameters after 100 steps on an MLP."""
import pytest
import torch

from nnrepro import optimizers as ours


def _mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


CASES = [
    (ours.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (ours.SGD, torch.optim.SGD, dict(lr=0.05, weight_decay=1e-3)),
    (ours.Adagrad, torch.optim.Adagrad, dict(lr=0.05)),
    (ours.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (ours.Adam, torch.optim.Adam, dict(lr=1e-3)),
    (ours.Adam, torch.optim.Adam, dict(lr=1e-2, weight_decay=1e-2)),
    (ours.Adam, torch.optim.Adam, dict(lr=1e-2, amsgrad=True)),
]


@pytest.mark.parametrize("ours_cls,torch_cls,kw", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch_after_100_steps(ours_cls, torch_cls, kw):
    a, b = _mlp(), _mlp()
    opt_a, opt_b = ours_cls(a.parameters(), **kw), torch_cls(b.parameters(), **kw)
    gen = torch.Generator().manual_seed(1)
    for _ in range(100):
        x = torch.randn(32, 8, generator=gen)
        y = torch.randint(0, 3, (32,), generator=gen)
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    diff = max((pa - pb).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters()))
    moved = max((pa - pi).abs().max().item() for pa, pi in zip(a.parameters(), _mlp().parameters()))
    assert diff < 1e-6
    assert moved > 1e-3  # the comparison is not vacuous: the parameters did move


def test_build_by_name():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(ours.build(params, {"name": "rmsprop", "lr": 0.1}), ours.RMSprop)
    assert ours.build(params, {"name": "amsgrad", "lr": 0.1}).defaults["amsgrad"] is True
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        ours.build(params, {"name": "lbfgs"})
