"""Models: the documents' multi-layer perceptrons."""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class MLP(nn.Sequential):
    """in → hidden[0] → … → n_classes, e.g. 3072-256-128-10 for the CIFAR-10 MLP of seed 001."""

    def __init__(self, n_features: int, hidden=(256, 128), n_classes: int = 10,
                 activation: str = "relu"):
        layers: list[nn.Module] = []
        widths = [n_features, *hidden]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], n_classes))
        super().__init__(*layers)


def build(cfg: dict | None, n_features: int, n_classes: int) -> MLP:
    cfg = cfg or {}
    return MLP(n_features, tuple(cfg.get("hidden", (256, 128))), n_classes,
               cfg.get("activation", "relu"))


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach()


def set_flat_params(model: nn.Module, vec: torch.Tensor) -> nn.Module:
    torch.nn.utils.vector_to_parameters(vec, model.parameters())
    return model
