"""MLP options: defaults reproduce the plain stack bit-for-bit; inits, BatchNorm, dropout behave
as their formulas say."""
import pytest
import torch
from torch import nn

from nnrepro import models
from nnrepro.config import fill
from nnrepro.models import MLP, GaussianDropout, build, flat_params, set_flat_params


def _reference(n_features, hidden, n_classes, act):
    """The MLP as the code built it before the options existed."""
    widths = [n_features, *hidden]
    layers = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(w_in, w_out), act()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], n_classes))


@pytest.mark.parametrize("hidden, activation, act", [((32, 16), "relu", nn.ReLU),
                                                      ((7,), "tanh", nn.Tanh),
                                                      ((5, 6, 7), "relu", nn.ReLU)])
def test_defaults_match_the_plain_stack(hidden, activation, act):
    torch.manual_seed(0)
    ref = _reference(10, hidden, 3, act)
    torch.manual_seed(0)
    model = MLP(10, hidden, 3, activation)
    assert [type(m) for m in model] == [type(m) for m in ref]
    ref_sd, sd = ref.state_dict(), model.state_dict()
    assert list(sd) == list(ref_sd)
    for k in sd:
        assert torch.equal(sd[k], ref_sd[k]), k
    # the global RNG was consumed identically, and build() gives the same net
    after = torch.rand(1)
    torch.manual_seed(0)
    built = build(fill("mlp", {"hidden": list(hidden), "activation": activation}), 10, 3)
    assert torch.equal(torch.rand(1), after)
    assert torch.equal(flat_params(built), flat_params(model))


def test_flat_params_round_trip():
    model = MLP(4, (8,), 2, batchnorm=True)
    vec = torch.randn_like(flat_params(model))
    assert torch.equal(flat_params(set_flat_params(model, vec)), vec)


@pytest.mark.parametrize("init, var", [("lecun", lambda fi, fo: 1 / fi),
                                       ("xavier", lambda fi, fo: 2 / (fi + fo))])
def test_init_variance(init, var):
    gain = 1.7
    torch.manual_seed(1)
    model = MLP(2000, (1000,), 10, init=init, gain=gain)
    for layer in (m for m in model if isinstance(m, nn.Linear)):
        fan_out, fan_in = layer.weight.shape
        expected = gain ** 2 * var(fan_in, fan_out)
        w = layer.weight.detach().double()
        if w.numel() > 10**5:                             # the wide layer: variance within 5 %
            assert abs(w.var().item() / expected - 1) < 0.05
            assert abs(w.mean().item()) < 0.01 * expected ** 0.5
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_lecun_keeps_the_output_variance():
    """Var((Wx)_i) = Σ_j Var(W_ij) · Var(x_j) = fan_in · gain²/fan_in = gain² for x ~ N(0, I)."""
    gain = 0.8
    torch.manual_seed(2)
    layer = MLP(1000, (1000,), 2, init="lecun", gain=gain)[0]
    with torch.no_grad():
        out = layer(torch.randn(2000, 1000))
    assert abs(out.var().item() / gain ** 2 - 1) < 0.05


def test_default_init_with_gain_scales_the_weights():
    torch.manual_seed(3)
    plain = MLP(6, (5,), 2)
    torch.manual_seed(3)
    scaled = MLP(6, (5,), 2, gain=2.0)
    for a, b in zip(plain, scaled):
        if isinstance(a, nn.Linear):
            assert torch.allclose(b.weight, 2 * a.weight)
            assert torch.equal(b.bias, a.bias)


def test_unknown_options_raise():
    with pytest.raises(ValueError):
        MLP(3, (4,), 2, init="he")
    with pytest.raises(ValueError):
        MLP(3, (4,), 2, dropout=0.1, dropout_kind="spike")


def test_no_bias():
    model = MLP(5, (4, 3), 2, bias=False)
    names = [n for n, _ in model.named_parameters()]
    assert names and not any(n.endswith("bias") for n in names)
    assert sum(p.numel() for p in model.parameters()) == 5 * 4 + 4 * 3 + 3 * 2


def test_batchnorm_sits_before_each_hidden_activation():
    model = MLP(5, (4, 3), 2, batchnorm=True)
    assert [type(m) for m in model] == [nn.Linear, nn.BatchNorm1d, nn.ReLU,
                                        nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert [m.num_features for m in model if isinstance(m, nn.BatchNorm1d)] == [4, 3]


def test_batchnorm_train_uses_batch_stats_eval_uses_running_stats():
    torch.manual_seed(4)
    model = MLP(5, (4,), 2, batchnorm=True)
    lin, bn = model[0], model[1]
    x = 3 * torch.randn(6, 5) + 1
    with torch.no_grad():
        h = lin(x)
        model.train()
        z = bn(h)                                         # (h − batch mean)/√(batch var + ε)
        assert torch.allclose(z.mean(0), torch.zeros(4), atol=1e-5)
        assert torch.allclose(z.var(0, unbiased=False), torch.ones(4), atol=1e-3)
        # running stats moved by momentum 0.1 toward the batch's (unbiased variance)
        assert torch.allclose(bn.running_mean, 0.1 * h.mean(0), atol=1e-6)
        assert torch.allclose(bn.running_var, 0.9 + 0.1 * h.var(0), atol=1e-5)
        model.eval()
        z_eval = bn(h)
        expected = (h - bn.running_mean) / (bn.running_var + bn.eps).sqrt()
        assert torch.allclose(z_eval, expected, atol=1e-5)
        assert not torch.allclose(z_eval, z, atol=1e-2)


def test_dropout_layers_sit_after_each_hidden_activation():
    for kind, cls in (("bernoulli", nn.Dropout), ("gaussian", GaussianDropout)):
        model = MLP(5, (4, 3), 2, batchnorm=True, dropout=0.3, dropout_kind=kind)
        assert [type(m) for m in model] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, cls,
                                            nn.Linear, nn.BatchNorm1d, nn.ReLU, cls, nn.Linear]
        assert all(m.p == 0.3 for m in model if isinstance(m, cls))
    built = build(fill("mlp", {"hidden": [4], "dropout": 0.2, "dropout_kind": "gaussian",
                               "bias": False, "init": "xavier", "gain": 2.0, "batchnorm": True}), 5, 2)
    assert [type(m) for m in built] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, GaussianDropout,
                                        nn.Linear]
    assert built[0].bias is None


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gaussian_dropout_noise_moments(p):
    drop = GaussianDropout(p).train()
    torch.manual_seed(5)
    noise = drop(torch.ones(10**6)).double()              # x = 1: the output is ξ itself
    sigma2 = p / (1 - p)
    assert abs(noise.mean().item() - 1) < 5 * (sigma2 / 10**6) ** 0.5
    assert abs(noise.var().item() / sigma2 - 1) < 0.05
    x = torch.randn(100)
    assert torch.equal(drop.eval()(x), x)                 # eval mode: identity


def test_deep_narrow_net():
    model = MLP(8, [64] * 50, 3, init="lecun", batchnorm=True)
    assert sum(isinstance(m, nn.Linear) for m in model) == 51
    out = model(torch.randn(16, 8))
    assert out.shape == (16, 3) and torch.isfinite(out).all()


def test_linear_activation():
    model = MLP(3, (4,), 2, "linear")
    assert isinstance(model[1], nn.Identity)
    x = torch.randn(5, 3)
    W = model[2].weight @ model[0].weight
    b = model[2].weight @ model[0].bias + model[2].bias
    assert torch.allclose(model(x), x @ W.T + b, atol=1e-6)
    assert models.ACTIVATIONS["linear"] is nn.Identity
