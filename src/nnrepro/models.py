"""Models: the documents' multi-layer perceptrons.

Options beyond the plain MLP, and the families that use them:
- ``init``/``gain``: LeCun or Xavier (Glorot) normal initialisation at a chosen gain (family C);
- ``batchnorm``: BatchNorm1d after each hidden Linear, before the activation (families C, H);
- ``dropout``/``dropout_kind``: Bernoulli or Gaussian dropout after each hidden activation (F);
- ``bias``: Linear layers with or without bias.
At their defaults the network is the plain Linear/activation stack, built with the same layers,
parameter order and RNG draws as before, so seeded runs reproduce their numbers.
``CNN`` is a small VGG-style convolutional net with the same batchnorm/init options (family H at
paper scale).
"""
from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "linear": nn.Identity}
INITS = ("default", "lecun", "xavier")


class GaussianDropout(nn.Module):
    """Multiplicative Gaussian noise (Srivastava et al. 2014, §10): in train mode
    x ↦ x·ξ, ξ ~ N(1, σ²) with σ² = p/(1−p), the variance of Bernoulli(1−p)/(1−p) noise;
    identity in eval mode (E[ξ] = 1, so no weight scaling is needed)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Gaussian dropout needs 0 <= p < 1, got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        sigma = math.sqrt(self.p / (1 - self.p))
        return x * (1 + sigma * torch.randn_like(x))

    def extra_repr(self) -> str:
        return f"p={self.p}"


DROPOUTS = {"bernoulli": nn.Dropout, "gaussian": GaussianDropout}


class MLP(nn.Sequential):
    """in → hidden[0] → … → n_classes, e.g. 3072-256-128-10 for the CIFAR-10 MLP of seed 001.

    Each hidden block is Linear → [BatchNorm1d] → activation → [dropout]; the output layer is a
    plain Linear (logits). Deep nets are long ``hidden`` lists, e.g. ``[64] * 50``.

    batchnorm: BatchNorm1d after each hidden Linear, before the activation (families C, H).
    dropout, dropout_kind: dropout of rate p after each hidden activation (family F), none if
        p = 0. "bernoulli" is ``nn.Dropout`` (inverted: kept units scaled by 1/(1−p));
        "gaussian" is ``GaussianDropout``, noise N(1, p/(1−p)).
    init, gain: weight initialisation (family C). "default" keeps torch's Linear init (weights
        multiplied by ``gain`` if it is not 1); "lecun": W ~ N(0, gain²/fan_in); "xavier"
        (Glorot normal): W ~ N(0, gain²·2/(fan_in + fan_out)); biases 0 for lecun and xavier.
    bias: Linear layers with or without bias.
    """

    def __init__(self, n_features: int, hidden=(256, 128), n_classes: int = 10,
                 activation: str = "relu", *, batchnorm: bool = False, dropout: float = 0.0,
                 dropout_kind: str = "bernoulli", init: str = "default", gain: float = 1.0,
                 bias: bool = True):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if dropout_kind not in DROPOUTS:
            raise ValueError(f"dropout_kind must be one of {tuple(DROPOUTS)}, got {dropout_kind!r}")
        layers: list[nn.Module] = []
        widths = [n_features, *hidden]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers.append(nn.Linear(w_in, w_out, bias=bias))
            if batchnorm:
                layers.append(nn.BatchNorm1d(w_out))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(DROPOUTS[dropout_kind](dropout))
        layers.append(nn.Linear(widths[-1], n_classes, bias=bias))
        super().__init__(*layers)
        init_weights(self, init, gain)


VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class CNN(nn.Sequential):
    """A VGG-style convolutional net (Simonyan & Zisserman 2015), the architecture of Santurkar
    et al. 2018's BatchNorm experiments on CIFAR-10 (family H at paper scale).

    Takes flat images (as the data sets store them) of ``image_shape`` = (C, H, W). ``channels``
    in VGG notation: an int is a 3×3 conv (padding 1) → [BatchNorm2d] → activation, "M" a 2×2
    max-pool; then one Linear to the logits. ``VGG11`` is VGG's configuration A.
    batchnorm, init, gain: as for ``MLP`` (fan_in of a conv: in_channels × 9).
    """

    def __init__(self, image_shape, channels=VGG11, n_classes: int = 10,
                 activation: str = "relu", *, batchnorm: bool = False, init: str = "default",
                 gain: float = 1.0):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        c, h, w = image_shape
        layers: list[nn.Module] = [nn.Unflatten(1, (c, h, w))]
        for v in channels:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
                continue
            layers.append(nn.Conv2d(c, v, 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(ACTIVATIONS[activation]())
            c = v
        if h < 1 or w < 1:
            raise ValueError(f"too many max-pools for {image_shape} images: {channels}")
        layers += [nn.Flatten(), nn.Linear(c * h * w, n_classes)]
        super().__init__(*layers)
        init_weights(self, init, gain)


@torch.no_grad()
def init_weights(model: nn.Module, init: str = "default", gain: float = 1.0) -> nn.Module:
    """Re-initialise every Linear and Conv2d of ``model`` (see ``MLP``); "default" with gain 1
    draws nothing. A conv's fan_in is in_channels × kernel area (``weight[0].numel()``)."""
    for m in model.modules():
        if not isinstance(m, (nn.Linear, nn.Conv2d)):
            continue
        if init == "lecun":                                   # Var W = gain²/fan_in
            nn.init.normal_(m.weight, 0.0, gain / math.sqrt(m.weight[0].numel()))
        elif init == "xavier":                                # Var W = gain²·2/(fan_in + fan_out)
            nn.init.xavier_normal_(m.weight, gain)
        elif gain != 1.0:                                     # torch's init, scaled
            m.weight.mul_(gain)
        if init != "default" and m.bias is not None:
            nn.init.zeros_(m.bias)
    return model


MODEL_OPTIONS = ("batchnorm", "dropout", "dropout_kind", "init", "gain", "bias")


def build(cfg: dict, n_features: int, n_classes: int) -> MLP:
    """MLP from a config's ``model`` section (every key present: the schema fills defaults)."""
    return MLP(n_features, tuple(cfg["hidden"]), n_classes, cfg["activation"],
               **{k: cfg[k] for k in MODEL_OPTIONS})


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach()


def set_flat_params(model: nn.Module, vec: torch.Tensor) -> nn.Module:
    torch.nn.utils.vector_to_parameters(vec, model.parameters())
    return model
