"""Ways to get a predictive distribution, the ones the documents compare.

Each approximates the Bayesian model average
    p(y|x, D) ≈ (1/S) Σ_s p(y|x, w_s)
by a different set of S members w_s: one trained net (S = 1), independently trained nets (deep
ensemble), the SWA average, SWAG samples, dropout masks (MC dropout), or weight samples of an
SG-MCMC chain at any temperature. Every function returns the MEMBER probabilities p(y|x, w_s)
as an (S, N, K) tensor; ``ensembles.ensemble_probs`` averages them, ``metrics.evaluate`` scores.
``score`` scores one net (S = 1) on a data set: the one way a family scores a model.
Models are left as they were found (modes and weights), except that ``swa`` refreshes the
averaged model's BatchNorm statistics when asked to.
"""
from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from nnrepro.ensembles import predict_probs
from nnrepro.metrics import evaluate
from nnrepro.models import GaussianDropout, set_flat_params
from nnrepro.swag import SWAG

DROPOUT_LAYERS = (nn.modules.dropout._DropoutNd, GaussianDropout)


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _batches(bn_inputs):
    """``update_bn`` wants an iterable of batches: a lone tensor is one batch."""
    return [bn_inputs] if isinstance(bn_inputs, torch.Tensor) else bn_inputs


def _refresh_bn(model: nn.Module, bn_inputs) -> None:
    if bn_inputs is not None and _has_batchnorm(model):
        update_bn(_batches(bn_inputs), model)


def single(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One trained net, eval mode: S = 1."""
    return predict_probs(model, x)[None]


def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
          batch_size: int = 8192) -> dict[str, float]:
    """One net's predictive distribution on (x, y), in eval mode (forward passes of
    ``batch_size``), scored: acc, err, nll, ece, brier (nnrepro.metrics.evaluate)."""
    return evaluate(predict_probs(model, x, batch_size), y)


def deep_ensemble(models: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """One member per independently trained net (different seeds; Lakshminarayanan et al. 2017)."""
    return torch.stack([predict_probs(m, x) for m in models])


def swa(averaged_model: nn.Module, x: torch.Tensor, bn_inputs=None) -> torch.Tensor:
    """The SWA average w̄ = (1/n) Σ wᵢ (e.g. an ``AveragedModel``) as one member. BatchNorm
    statistics of w̄ are not the average of the iterates': with ``bn_inputs`` (a tensor or an
    iterable of batches) they are recomputed in place by one pass (``update_bn``)."""
    _refresh_bn(averaged_model, bn_inputs)
    return single(averaged_model, x)


def swag(swag_obj: SWAG, model: nn.Module, x: torch.Tensor, samples: int = 30,
         scale: float = 0.5, diagonal: bool = False, generator: torch.Generator | None = None,
         bn_inputs=None) -> torch.Tensor:
    """S = ``samples`` members w̃_s ~ SWAG(θ̄, Σ) (nnrepro.swag), loaded into a copy of ``model``;
    BatchNorm statistics recomputed for each sample if ``bn_inputs`` is given."""
    net = copy.deepcopy(model)
    bn = None if bn_inputs is None else _batches(bn_inputs)
    return torch.stack([predict_probs(swag_obj.sample_model(net, generator, scale, diagonal, bn), x)
                        for _ in range(samples)])


def sample_ensemble(model: nn.Module, samples: list[torch.Tensor], x: torch.Tensor,
                    bn_inputs=None) -> torch.Tensor:
    """One member per flat weight vector w_s (``flat_params`` order), e.g. SGHMC samples
    collected at temperature T, loaded into a copy of ``model``."""
    net = copy.deepcopy(model)
    members = []
    for w in samples:
        set_flat_params(net, w.to(next(net.parameters())))
        _refresh_bn(net, bn_inputs)
        members.append(predict_probs(net, x))
    return torch.stack(members)


def weight_scaling(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Srivastava et al.'s weight-scaling rule: the deterministic net with weights p·W. With
    inverted dropout (kept units scaled by 1/(1−p) in training) and Gaussian dropout (E ξ = 1)
    that is just eval mode."""
    return single(model, x)


@contextlib.contextmanager
def _mc_mode(model: nn.Module):
    """Dropout layers in train mode, all else (BatchNorm!) in eval mode; modes restored after."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, DROPOUT_LAYERS):
            m.train()
    try:
        yield model
    finally:
        for m, mode in modes.items():
            m.training = mode


@torch.no_grad()
def mc_dropout(model: nn.Module, x: torch.Tensor, samples: int = 30,
               generator: torch.Generator | None = None, batch_size: int = 8192) -> torch.Tensor:
    """MC dropout (Gal & Ghahramani 2016): S = ``samples`` forward passes, each with fresh dropout
    masks m_s, as members p(y|x, W·m_s).

    Reproducibility: ``nn.Dropout`` draws from torch's global RNG, so the passes run inside
    ``torch.random.fork_rng`` seeded by one integer drawn from ``generator``: the same generator
    state gives the same members, and the global RNG is left untouched."""
    seed = int(torch.randint(2 ** 62, (1,), generator=generator,
                             device=generator.device if generator is not None else "cpu"))
    devices = list(range(torch.cuda.device_count())) if x.is_cuda else []   # manual_seed seeds all
    with torch.random.fork_rng(devices=devices), _mc_mode(model):
        torch.manual_seed(seed)
        return torch.stack([torch.cat([model(x[i:i + batch_size]).softmax(-1)
                                       for i in range(0, len(x), batch_size)])
                            for _ in range(samples)])
