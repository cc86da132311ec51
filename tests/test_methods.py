"""Predictive-distribution methods: shapes, normalisation, reproducibility, and the identities
between them (one-member ensembles are the single run; MC dropout at p = 0 is deterministic)."""
import copy

import pytest
import torch
from torch.optim.swa_utils import AveragedModel

from nnrepro import methods
from nnrepro.ensembles import ensemble_probs
from nnrepro.models import MLP, flat_params
from nnrepro.swag import SWAG

N, D, K = 20, 5, 3


def _net(seed=0, **options):
    torch.manual_seed(seed)
    return MLP(D, (16, 16), K, **options)


@pytest.fixture
def x():
    return torch.randn(N, D, generator=torch.Generator().manual_seed(123))


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _check(members, S):
    assert members.shape == (S, N, K)
    assert torch.allclose(members.sum(-1), torch.ones(S, N), atol=1e-5)
    assert (members >= 0).all()
    assert ensemble_probs(members).shape == (N, K)


def _swag(model, n=5, seed=0):
    """SWAG fitted to n perturbed copies of ``model``."""
    swag = SWAG(flat_params(model).numel(), rank=3)
    gen, net = _gen(seed), copy.deepcopy(model)
    for _ in range(n):
        with torch.no_grad():
            for p, p0 in zip(net.parameters(), model.parameters()):
                p.copy_(p0 + 0.1 * torch.randn(p.shape, generator=gen))
        swag.collect(net)
    return swag


def test_every_method_gives_normalised_members(x):
    model = _net(dropout=0.3, batchnorm=True)
    _check(methods.single(model, x), 1)
    _check(methods.weight_scaling(model, x), 1)
    _check(methods.deep_ensemble([_net(s) for s in range(4)], x), 4)
    _check(methods.swa(AveragedModel(model), x, bn_inputs=x), 1)
    _check(methods.swag(_swag(model), model, x, samples=6, generator=_gen(), bn_inputs=x), 6)
    _check(methods.mc_dropout(model, x, samples=7, generator=_gen()), 7)
    _check(methods.sample_ensemble(model, [flat_params(_net(s, batchnorm=True, dropout=0.3))
                                           for s in range(3)], x), 3)


def test_one_member_ensembles_are_the_single_run(x):
    model = _net(1)
    single = methods.single(model, x)
    assert torch.equal(methods.deep_ensemble([model], x), single)
    assert torch.allclose(methods.sample_ensemble(model, [flat_params(model)], x), single)
    other = _net(2)
    two = methods.sample_ensemble(model, [flat_params(model), flat_params(other)], x)
    assert torch.allclose(two, methods.deep_ensemble([model, other], x), atol=1e-6)
    assert torch.equal(flat_params(model), flat_params(_net(1)))      # the model is untouched


def test_weight_scaling_is_eval_mode(x):
    model = _net(dropout=0.5).train()
    ws = methods.weight_scaling(model, x)
    with torch.no_grad():
        assert torch.allclose(ws[0], model.eval()(x).softmax(-1))
    assert torch.equal(methods.weight_scaling(model.train(), x), ws)
    assert model.training


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_mc_dropout_at_p0_is_deterministic(x, kind):
    model = _net(dropout=0.5, dropout_kind=kind)
    for m in model.modules():
        if isinstance(m, methods.DROPOUT_LAYERS):
            m.p = 0.0
    members = methods.mc_dropout(model, x, samples=4, generator=_gen())
    assert torch.allclose(members, methods.single(model, x).expand(4, N, K), atol=1e-6)
    no_layers = _net(dropout=0.0)                        # dropout = 0 builds no dropout layers
    assert torch.allclose(methods.mc_dropout(no_layers, x, 3, _gen()),
                          methods.single(no_layers, x).expand(3, N, K), atol=1e-6)


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_mc_dropout_members_differ_and_reproduce(x, kind):
    model = _net(dropout=0.5, dropout_kind=kind, batchnorm=True)
    model.train()
    rng = torch.get_rng_state()
    a = methods.mc_dropout(model, x, samples=5, generator=_gen(7))
    assert torch.equal(torch.get_rng_state(), rng)       # the global RNG is left alone
    b = methods.mc_dropout(model, x, samples=5, generator=_gen(7))
    c = methods.mc_dropout(model, x, samples=5, generator=_gen(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert all(not torch.allclose(a[0], a[s]) for s in range(1, 5))
    assert all(m.training for m in model.modules())      # modes restored


def test_mc_dropout_keeps_batchnorm_in_eval_mode(x):
    model = _net(batchnorm=True)                         # no dropout: only BN could vary
    with torch.no_grad():                                # non-trivial running statistics
        model.train()(3 * x + 1)
    stats = copy.deepcopy(model.state_dict())
    members = methods.mc_dropout(model, x, samples=2, generator=_gen())
    assert torch.allclose(members, methods.single(model, x).expand(2, N, K), atol=1e-6)
    for k, v in model.state_dict().items():             # running stats untouched
        assert torch.equal(v, stats[k]), k
    with torch.no_grad():                                # batch statistics would differ
        assert not torch.allclose(members[0], model.train()(x).softmax(-1), atol=1e-3)


def test_swa_recomputes_batchnorm_statistics(x):
    models = [_net(s, batchnorm=True) for s in range(3)]
    averaged = AveragedModel(models[0])
    for m in models[1:]:
        averaged.update_parameters(m)
    bn_inputs = torch.randn(64, D, generator=_gen(3))
    before = methods.swa(averaged, x)
    after = methods.swa(averaged, x, bn_inputs=bn_inputs)
    net = averaged.module
    with torch.no_grad():
        h = net[0](bn_inputs)
    assert torch.allclose(net[1].running_mean, h.mean(0), atol=1e-5)   # one batch: exact mean
    assert torch.allclose(net[1].running_var, h.var(0), atol=1e-4)
    assert not torch.allclose(before, after, atol=1e-4)
    _check(after, 1)


def test_swag_members(x):
    model = _net(dropout=0.0)
    swag = _swag(model)
    reference = flat_params(model).clone()
    a = methods.swag(swag, model, x, samples=4, scale=0.5, generator=_gen(1))
    b = methods.swag(swag, model, x, samples=4, scale=0.5, generator=_gen(1))
    d = methods.swag(swag, model, x, samples=4, scale=0.5, diagonal=True, generator=_gen(1))
    _check(a, 4)
    _check(d, 4)
    assert torch.equal(a, b)                              # same generator: same samples
    assert all(not torch.allclose(a[0], a[s]) for s in range(1, 4))
    assert not torch.allclose(a, d)
    assert torch.equal(flat_params(model), reference)    # the model passed in is untouched
