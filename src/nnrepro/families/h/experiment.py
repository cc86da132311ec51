"""Family H: batch normalization (seed 004 §6.4; Santurkar, Tsipras, Ilyas & Madry 2018, "How does
batch normalization help optimization?").

BN (Ioffe & Szegedy 2015) normalizes each unit over the minibatch B and rescales it:
μ_B = mean, σ²_B = variance over B, x̂ = (x − μ_B)/√(σ²_B + ε), y = γx̂ + β; at test time the
running averages of μ_B, σ²_B replace them (``nn.BatchNorm1d/2d`` in train / eval mode).

One run trains one ``variant`` at one learning rate with plain SGD:
- standard: the network without BN (He-initialised MLP, or a VGG-style CNN at paper scale);
- bn: BN after every hidden Linear / conv, before the non-linearity;
- noisy_bn: bn, plus Santurkar et al.'s "noisy" BN: noise injected after every BN layer that
  changes with time, with non-zero mean and non-unit variance (``BatchNoise``), so that the
  distribution each layer sees keeps shifting (the "internal covariate shift" BN was meant to
  remove); Santurkar et al. find that it still trains about as well as with BN.

The noise scale. Santurkar et al. §2.1: "we perturb each activation for each sample in the batch
using i.i.d. noise sampled from a non-zero mean and non-unit variance distribution", redrawn at
every time step; its exact scale is in their Appendix A, which we could not find (nor a public
re-implementation of it). Our rule, fixed before looking at any accuracy (issue 26; the old rule,
SNR 1 in each of 10 layers in series, left 1/1024 of the signal): the noise power per unit and
step, E[μ²] + E[σ²] (``noise.noise_power``), is set *end to end*: with L noisy layers in series,
(1 + P)^L = 1 + P₀ = 2 for the configured P₀ = 1 (``noise.layer_noise``), an end-to-end
signal-to-noise ratio of 1 at γ = 1: the noise is as large as the signal (it "undoes whatever the
BN layer did", seed 004 §6.4) without drowning it. L = 10 (the quick and MNIST MLP): P = 0.0718
per layer, μ ~ U(−0.225, 0.225), σ ~ U(0.113, 0.338); L = 8 (VGG11): P = 0.0905.

Tables: ``steps`` (minibatch loss), ``epochs`` (train loss and accuracy of the epoch's minibatches
in train mode, i.e. with the noise; training-set accuracy and NLL, test accuracy and NLL in eval
mode), ``activations`` (sampled inputs of each non-linearity, a few tracked units per layer, at
the first step of recorded epochs; for histograms) and ``activation_stats`` (their mean and std
over the whole batch).
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np
import pandas as pd
import torch
from torch import nn

from nnrepro import optimizers
from nnrepro.methods import score
from nnrepro.models import CNN, MLP
from nnrepro.results import Status
from nnrepro.training import NONFINITE_CHECK_EVERY, RunState, generator, stream, train_epoch
from nnrepro.families.h.noise import layer_noise

IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
                "cifar10": (3, 32, 32)}
NONLINEAR = (nn.ReLU, nn.Tanh)


class BatchNoise(nn.Module):
    """Time-varying noise after a BN layer (Santurkar et al. 2018 §2.1, "noisy" BatchNorm).

    At every forward pass in train mode (one per training step) each unit (channel) j draws a
    mean μ_j ~ U(−mean, mean) and a std σ_j ~ U(std_min, std_max), and each of its activations
    gets independent Gaussian noise: y = x + ε, ε ~ N(μ_j, σ_j²). The noise differs per layer
    (each layer draws its own μ, σ) and per step. Identity in eval mode.
    """

    def __init__(self, mean: float, std_min: float, std_max: float, gen: torch.Generator):
        super().__init__()
        self.mean, self.std_min, self.std_max, self.gen = mean, std_min, std_max, gen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)        # one (μ, σ) per unit / channel
        u = torch.rand((2, *shape), generator=self.gen, device=x.device, dtype=x.dtype)
        mu = (2 * u[0] - 1) * self.mean                        # μ ~ U(−mean, mean)
        sigma = self.std_min + (self.std_max - self.std_min) * u[1]  # σ ~ U(std_min, std_max)
        eps = torch.randn(x.shape, generator=self.gen, device=x.device, dtype=x.dtype)
        return x + mu + sigma * eps                            # x + N(μ, σ²)

    def extra_repr(self) -> str:
        return f"mean=±{self.mean}, std∈[{self.std_min}, {self.std_max}]"


def add_noise_after_bn(model: nn.Module, make_noise) -> nn.Module:
    """Replace every BatchNorm layer ``bn`` of ``model`` by ``Sequential(bn, make_noise())``."""
    for name, child in model.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(model, name, nn.Sequential(child, make_noise()))
        else:
            add_noise_after_bn(child, make_noise)
    return model


def build(s: dict, ds, noise_gen: torch.Generator) -> nn.Module:
    """The run's network: ``model.arch`` (mlp / cnn) with BN for the bn and noisy_bn variants."""
    m, bn = s["model"], s["variant"] != "standard"
    if m["arch"] == "cnn":
        net = CNN(IMAGE_SHAPES[s["dataset"]], m["channels"], ds.n_classes, m["activation"],
                  batchnorm=bn, init=m["init"], gain=m["gain"])
    else:
        net = MLP(ds.n_features, m["hidden"], ds.n_classes, m["activation"], batchnorm=bn,
                  init=m["init"], gain=m["gain"])
    if s["variant"] == "noisy_bn":
        n = s["noise"]
        mean, lo, hi = layer_noise(n["mean"], n["std_min"], n["std_max"], bn_layers(net), n["scale"])
        add_noise_after_bn(net, lambda: BatchNoise(mean, lo, hi, noise_gen))
    return net


def bn_layers(model: nn.Module) -> int:
    """The BatchNorm layers of ``model``: the noisy layers in series of the noisy_bn variant."""
    return sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules())


@contextmanager
def inputs_of(modules: list[nn.Module]):
    """While open, the first forward pass stores the input of each module (detached)."""
    got: list[torch.Tensor | None] = [None] * len(modules)

    def keep(i):
        def hook(mod, inp):
            if got[i] is None:
                got[i] = inp[0].detach()
        return hook

    hooks = [m.register_forward_pre_hook(keep(i)) for i, m in enumerate(modules)]
    try:
        yield got
    finally:
        for h in hooks:
            h.remove()


def unit_records(inputs, tracked, n_values: int, epoch: int, step: int):
    """For the tracked units of each layer: a compact record of sampled values (evenly spaced
    over the batch, and over positions for a conv channel) and rows of the ``activation_stats``
    table (mean and std over all of them)."""
    values, stats = [], []
    for layer, (a, units) in enumerate(zip(inputs, tracked), start=1):
        v = a[:, units].transpose(0, 1).reshape(len(units), -1).float()   # (units, batch · positions)
        keep = torch.linspace(0, v.shape[1] - 1, min(n_values, v.shape[1]), device=v.device).long()
        values.append(dict(epoch=epoch, step=step, layer=layer, units=units, values=v[:, keep].cpu()))
        stats += [dict(epoch=epoch, step=step, layer=layer, unit=j, mean=m, std=sd) for j, m, sd in
                  zip(units, v.mean(1).tolist(), v.std(1).tolist())]
    return values, stats


def values_table(records: list[dict]) -> pd.DataFrame:
    """The ``activations`` table: one row per sampled value."""
    frames = [pd.DataFrame({"epoch": r["epoch"], "step": r["step"], "layer": r["layer"],
                            "unit": np.repeat(r["units"], r["values"].shape[1]),
                            "value": r["values"].cpu().numpy().ravel()}) for r in records]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["epoch", "step", "layer", "unit", "value"])


def test_metrics(model, ds) -> dict:
    """Eval mode (running BN statistics, no noise): the training set and the test set."""
    tr = score(model, ds.x_train, ds.y_train, batch_size=4096)
    r = score(model, ds.x_test, ds.y_test, batch_size=1000)
    return {"train_acc": tr["acc"], "train_nll": tr["nll"], "test_acc": r["acc"], "test_nll": r["nll"]}


def run(ctx) -> Status:
    s, dev = ctx.settings, ctx.device
    ds = ctx.dataset(s["dataset"])
    gen = generator(s["seed"], dev)                     # shuffling; the same for every variant
    noise_gen = stream(s["seed"], "noise", device=dev)
    model = build(s, ds, noise_gen).to(dev)
    opt = optimizers.build(model.parameters(), s["optimizer"])
    acts = [m for m in model.modules() if isinstance(m, NONLINEAR)]
    rec = s["record"]
    pick = stream(s["seed"], "recorded units")
    tracked = [sorted(torch.randperm(n, generator=pick)[:rec["units"]].tolist())
               for n in unit_counts(model)]
    st = RunState(model=model, opt=opt, gen=gen, noise_gen=noise_gen, steps=[], epochs=[],
                  activations=[], activation_stats=[])
    bs = s["batch_size"]

    def epoch_fn(epoch: int) -> torch.Tensor:
        start, hits = len(st.steps), []
        recording = (epoch - 1) % s["record_every"] == 0

        def hit(i, logits, y, loss):                      # accuracy of the minibatch, in train mode
            hits.append((logits.argmax(1) == y).float().mean())

        # the last short batch is skipped (BN on a few samples); a non-finite loss ends the epoch
        # (checked every NONFINITE_CHECK_EVERY steps: the losses end at the first non-finite one,
        # the minibatch accuracies are cut to match)
        with inputs_of(acts) if recording else nullcontext() as got:
            losses = train_epoch(model, opt, ds.x_train, ds.y_train, bs, gen, record=hit,
                                 drop_last=True, stop_if_nonfinite=True,
                                 check_every=NONFINITE_CHECK_EVERY)
        if got is not None:                               # what the first step's non-linearities saw
            v, m = unit_records(got, tracked, rec["values"], epoch, start)
            st.activations += v
            st.activation_stats += m
        st.steps += [dict(step=start + i, epoch=epoch, loss=l) for i, l in enumerate(losses.tolist())]
        hits = hits[:len(losses)]
        st.epochs.append(dict(epoch=epoch, train_loss=losses.mean().item(),
                              batch_acc=torch.stack(hits).mean().item(), **test_metrics(model, ds)))
        return losses

    status = ctx.fit(st, s["epochs"], epoch_fn)
    for name in ("steps", "epochs", "activation_stats"):
        ctx.save_table(name, pd.DataFrame(getattr(st, name)))
    ctx.save_table("activations", values_table(st.activations))
    return status


def unit_counts(model: nn.Module) -> list[int]:
    """Units (channels) entering each non-linearity, in order: those of the layer before it."""
    counts, width = [], None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            width = m.out_features
        elif isinstance(m, nn.Conv2d):
            width = m.out_channels
        elif isinstance(m, NONLINEAR):
            counts.append(width)
    return counts
