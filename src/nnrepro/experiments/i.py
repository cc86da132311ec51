"""Family I (seed 003, "Gradient Descent under Reparameterization"): SGD and Path-SGD on a
bias-free ReLU net and on a rescaled copy computing the same function (Linear ``layer`` × c, the
next ÷ c; nnrepro.pathsgd).

Four nets train side by side on the same minibatches (one shuffling generator per optimizer,
seeded alike): {SGD, Path-SGD} × {original, rescaled}. SGD's update changes under the rescaling
(the gradient of a weight scaled by c is divided by c), Path-SGD's does not. Float64 throughout,
so that "coincide" means to rounding error, not to float32's.

Tables:
  steps   per optimizer, net and step: minibatch loss
  epochs  per optimizer, net and epoch: training loss and test error/NLL on the whole sets, and
          the relative distance of the rescaled net's weights, mapped back (÷ c, × c), to the
          original net's (0 when the two runs are the same run in other coordinates)
"""
from __future__ import annotations

import copy
import dataclasses

import pandas as pd
import torch
import torch.nn.functional as F

from nnrepro import models
from nnrepro.ensembles import predict_probs
from nnrepro.metrics import evaluate
from nnrepro.models import flat_params
from nnrepro.optimizers import SGD
from nnrepro.pathsgd import PathSGD, linear_layers, rescale
from nnrepro.training import Checkpoint, RunState, fit, generator, train_epoch

OPTIMIZERS = ("SGD", "Path-SGD")
NETS = ("original", "rescaled")


def build_optimizer(name: str, model, s: dict):
    if name == "SGD":
        return SGD(model.parameters(), lr=s["sgd_lr"])
    return PathSGD([m.weight for m in linear_layers(model)], lr=s["path_lr"])


@torch.no_grad()
def mapped_back(model, layer: int, c: float) -> torch.Tensor:
    """The rescaled net's weights in the original coordinates: Linear ``layer`` ÷ c, next × c."""
    return flat_params(rescale(model, layer, 1 / c))


@torch.no_grad()
def whole_set_metrics(model, ds) -> dict:
    train_loss = F.cross_entropy(model(ds.x_train), ds.y_train).item()
    m = evaluate(predict_probs(model, ds.x_test), ds.y_test)
    return {"train_loss": train_loss, "test_err": m["err"], "test_nll": m["nll"]}


def run(s: dict, out, env) -> str:
    if s["model"]["bias"]:
        raise ValueError("family I needs a bias-free ReLU net: set model.bias: false")
    dev = env.torch_device
    ds = env.dataset(s["dataset"])
    ds = dataclasses.replace(ds, x_train=ds.x_train.double(), x_test=ds.x_test.double())
    layer, c = s["rescale"]["layer"], s["rescale"]["c"]

    generator(s["seed"], dev)                              # the initialisation
    base = models.build(s["model"], ds.n_features, ds.n_classes).double().to(dev)
    nets = {(o, n): base if n == "original" else rescale(base, layer, c)
            for o in OPTIMIZERS for n in NETS}
    nets = {k: copy.deepcopy(m) for k, m in nets.items()}
    opts = {k: build_optimizer(k[0], m, s) for k, m in nets.items()}
    # the same minibatch order for all four nets: one generator each, seeded alike
    gens = {k: torch.Generator(device=dev).manual_seed(s["seed"]) for k in nets}
    st = RunState(**{f"net_{i}": m for i, m in enumerate(nets.values())},
                  **{f"opt_{i}": o for i, o in enumerate(opts.values())},
                  **{f"gen_{i}": g for i, g in enumerate(gens.values())},
                  steps=[], epochs=[])
    st.epochs += epoch_rows(nets, ds, 0, layer, c)

    def epoch_fn(epoch: int) -> torch.Tensor:
        losses = []
        for (o, n), net in nets.items():
            loss = train_epoch(net, opts[(o, n)], ds.x_train, ds.y_train, s["batch_size"],
                               gens[(o, n)]).cpu()
            k0 = (epoch - 1) * len(loss)
            st.steps += [{"optimizer": o, "net": n, "step": k0 + i + 1, "epoch": epoch, "loss": v}
                         for i, v in enumerate(loss.tolist())]
            losses.append(loss)
        st.epochs += epoch_rows(nets, ds, epoch, layer, c)
        return torch.cat(losses)

    status = fit(st, s["epochs"], Checkpoint(out.checkpoint, s), epoch_fn, dev,
                 desc=f"I {out.run_id} epoch", max_loss_ratio=env.max_loss_ratio)
    out.save_table("steps", pd.DataFrame(st.steps))
    out.save_table("epochs", pd.DataFrame(st.epochs))
    return status


def epoch_rows(nets: dict, ds, epoch: int, layer: int, c: float) -> list[dict]:
    rows = []
    for (o, n), net in nets.items():
        w, w0 = mapped_back(net, layer, c), flat_params(nets[(o, "original")])
        rows.append({"optimizer": o, "net": n, "epoch": epoch, **whole_set_metrics(net, ds),
                     "weight_gap": ((w - w0).norm() / w0.norm()).item() if n == "rescaled" else 0.0})
    return rows
