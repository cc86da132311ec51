"""Family J (seed 004 §6.6.2, the lottery ticket hypothesis; Frankle & Carbin 2019): iterative
magnitude pruning with rewinding to the initial weights, against the same masks with a random
re-initialization.

One round r = 0, 1, …, ``prune.rounds`` (seed 004's procedure):
  1. train the net f(x; m_r ⊙ θ) from θ = θ₀ (the ticket) and, as the control, from a fresh
     random θ' with the same mask m_r (the random re-initialization); record test accuracy;
  2. prune the ticket's trained weights of smallest magnitude, per layer: ``hidden_rate`` of the
     remaining weights of each hidden layer and ``output_rate`` of the output layer's
     (``torch.nn.utils.prune.l1_unstructured``, which ranks only the weights still unpruned);
  3. rewind the survivors (and the biases) to θ₀; repeat.
Biases are not pruned. Round 0 is the dense net. The fraction of weights left after r rounds is
(1 − rate)^r per layer.

Tables:
  rounds  per round and kind (ticket / random reinit): fraction of weights left, final test
          accuracy, NLL and training loss
  masks   per round and layer: weights left, weights in the layer
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from nnrepro import models, optimizers
from nnrepro.ensembles import predict_probs
from nnrepro.metrics import evaluate
from nnrepro.training import Checkpoint, RunState, fit, generator, train_epoch

KINDS = ("ticket", "random reinit")


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def prunable(model: nn.Module) -> nn.Module:
    """Attach an all-ones mask to every Linear weight (weight = weight_orig ⊙ weight_mask)."""
    for m in linears(model):
        prune.identity(m, "weight")
    return model


def prune_round(model: nn.Module, hidden_rate: float, output_rate: float) -> None:
    """Remove the smallest-magnitude ``hidden_rate`` of each hidden layer's remaining weights and
    ``output_rate`` of the output layer's (amounts are fractions of the still unpruned weights).
    Ranked by the current weights: ``weight_orig`` (``prune`` would rank by ``m.weight``, which is
    recomputed only at a forward pass, before the last optimizer step)."""
    layers = linears(model)
    for i, m in enumerate(layers):
        prune.l1_unstructured(m, "weight", amount=output_rate if i == len(layers) - 1 else hidden_rate,
                              importance_scores=m.weight_orig.detach())


@torch.no_grad()
def load_weights(model: nn.Module, weights: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Set every Linear's (unmasked) weight and bias, keeping the masks: the rewind."""
    for m, (w, b) in zip(linears(model), weights):
        m.weight_orig.copy_(w)
        if m.bias is not None:
            m.bias.copy_(b)


def initial_weights(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    return [((m.weight_orig if hasattr(m, "weight_orig") else m.weight).detach().clone(),
             None if m.bias is None else m.bias.detach().clone()) for m in linears(model)]


def mask_counts(model: nn.Module) -> list[tuple[int, int]]:
    """(weights left, weights) per Linear."""
    return [(int(m.weight_mask.sum()), m.weight_mask.numel()) for m in linears(model)]


@torch.no_grad()
def scores(model, ds) -> dict:
    m = evaluate(predict_probs(model, ds.x_test), ds.y_test)
    return {"test_acc": m["acc"], "test_nll": m["nll"],
            "train_loss": F.cross_entropy(model.eval()(ds.x_train), ds.y_train).item()}


def train(model, s: dict, ds, gen: torch.Generator) -> torch.Tensor:
    """A fresh optimizer each round (Frankle & Carbin); pruned weights get zero gradient."""
    opt = optimizers.build(model.parameters(), s["optimizer"])
    return torch.cat([train_epoch(model, opt, ds.x_train, ds.y_train, s["batch_size"], gen)
                      for _ in range(s["epochs"])])


def run(s: dict, out, env) -> str:
    dev = env.torch_device
    ds = env.dataset(s["dataset"])
    p = s["prune"]
    gen = generator(s["seed"], dev)                       # θ₀ and the shuffling
    ticket = prunable(models.build(s["model"], ds.n_features, ds.n_classes).to(dev))
    theta0 = initial_weights(ticket)
    st = RunState(ticket=ticket, gen=gen, rounds=[], masks=[])

    def round_fn(epoch: int) -> torch.Tensor:
        r = epoch - 1
        counts = mask_counts(ticket)
        frac = sum(k for k, _ in counts) / sum(n for _, n in counts)
        st.masks += [{"round": r, "layer": i, "left": k, "total": n} for i, (k, n) in enumerate(counts)]
        control = reinitialized(ticket, s, ds, r, dev)    # same masks, fresh weights
        losses = []
        for kind, net in zip(KINDS, (ticket, control)):
            losses.append(train(net, s, ds, gen))
            st.rounds.append({"round": r, "kind": kind, "frac_weights": frac, **scores(net, ds)})
        if r < p["rounds"]:
            prune_round(ticket, p["hidden_rate"], p["output_rate"])
            load_weights(ticket, theta0)                  # rewind the survivors to θ₀
        return torch.cat(losses)

    status = fit(st, p["rounds"] + 1, Checkpoint(out.checkpoint, s), round_fn, dev,
                 desc=f"J {out.run_id} round", max_loss_ratio=env.max_loss_ratio)
    out.save_table("rounds", pd.DataFrame(st.rounds))
    out.save_table("masks", pd.DataFrame(st.masks))
    return status


def reinitialized(ticket: nn.Module, s: dict, ds, r: int, dev) -> nn.Module:
    """The control of round r: the ticket's masks on a fresh net, initialised like the model
    from the seed (seed, r), so a resumed run draws the same weights (global RNG left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10_000 * (s["seed"] + 1) + r)
        net = models.build(s["model"], ds.n_features, ds.n_classes).to(dev)
    for m, t in zip(linears(net), linears(ticket)):
        prune.custom_from_mask(m, "weight", t.weight_mask.clone())
    return net
