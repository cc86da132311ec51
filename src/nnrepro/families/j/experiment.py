"""Family J (seed 004 §6.6.2, the lottery ticket hypothesis; Frankle & Carbin 2019): iterative
magnitude pruning with rewinding to the initial weights, against the same masks with a random
re-initialization.

One round r = 0, 1, …, ``prune.rounds`` (seed 004's procedure):
  1. train the net f(x; m_r ⊙ θ) from θ = θ₀ (the ticket) and, as the control, from a fresh
     random θ' with the same mask m_r (the random re-initialization);
  2. prune the ticket's trained weights of smallest magnitude, per layer: ``hidden_rate`` of the
     remaining weights of each hidden layer and ``output_rate`` of the output layer's
     (``torch.nn.utils.prune.l1_unstructured``, which ranks only the weights still unpruned);
  3. rewind the survivors (and the biases) to θ₀; repeat.
Biases are not pruned. Round 0 is the dense net. The fraction of weights left after r rounds is
(1 − rate)^r per layer. ``prune.controls``: "every" round gets its control, or only the "target"
round (the one closest to 20 % of the weights, known in advance from the rates).

Early stopping as Frankle & Carbin: a fixed ``validation`` fraction of the TRAIN set is held
out (never the test set); every ``record_every`` iterations (and after the last) the net is scored
on it, and the early-stopping iteration is the one of minimum validation loss. The accuracy a
round reports is the test accuracy at that iteration; the iteration itself is a result.

Tables:
  rounds  per round and kind (ticket / random reinit): fraction of weights left, early-stopping
          iteration, its validation loss and test accuracy, the last iteration, and the final
          test accuracy and NLL
  evals   per round, kind and evaluation: iteration, validation loss and accuracy, test accuracy
  masks   per round and layer: weights left, weights in the layer
"""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from nnrepro import models, optimizers
from nnrepro.ensembles import predict_probs
from nnrepro.results import Status
from nnrepro.training import RunState, generator, stream_seed, train_epoch

KINDS = ("ticket", "random reinit")
TARGET = 0.2       # "at about 20 % of the weights"
SPLIT_SEED = 0     # one validation split for every seed, as Frankle & Carbin's fixed 5,000


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


def planned_fractions(sizes: list[int], hidden_rate: float, output_rate: float,
                      rounds: int) -> list[float]:
    """Fraction of all weights left after r = 0 … rounds rounds, as ``prune_round`` counts them
    (it removes round(rate × remaining) per layer; the last layer is the output)."""
    left, out = list(sizes), []
    for _ in range(rounds + 1):
        out.append(sum(left) / sum(sizes))
        left = [n - round((output_rate if i == len(left) - 1 else hidden_rate) * n)
                for i, n in enumerate(left)]
    return out


def control_rounds(p: dict, sizes: list[int]) -> set[int]:
    """Rounds that train the random re-initialization: every one, or only the target round (the
    one closest to 20 % of the weights, the claim's)."""
    if p["controls"] == "every":
        return set(range(p["rounds"] + 1))
    fr = planned_fractions(sizes, p["hidden_rate"], p["output_rate"], p["rounds"])
    return {min(range(len(fr)), key=lambda r: abs(fr[r] - TARGET))}


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


def split(ds, fraction: float) -> SimpleNamespace:
    """Hold out ``fraction`` of the training set for validation (one fixed split); the test set
    is untouched."""
    g = torch.Generator().manual_seed(SPLIT_SEED)
    perm = torch.randperm(len(ds.x_train), generator=g).to(ds.x_train.device)
    k = max(1, round(fraction * len(perm)))
    val, tr = perm[:k], perm[k:]
    return SimpleNamespace(x_train=ds.x_train[tr], y_train=ds.y_train[tr], x_val=ds.x_train[val],
                           y_val=ds.y_train[val], x_test=ds.x_test, y_test=ds.y_test)


SCORES = ("val_loss", "val_acc", "test_acc", "test_nll")


def _nll_acc(probs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean NLL and accuracy as 0-d float64 device tensors, computed as
    ``nnrepro.metrics.evaluate`` computes them (the same ops, so the same bits)."""
    probs = probs.double()
    acc = (probs.argmax(1) == y).double().mean()
    nll = -probs.gather(1, y[:, None]).clamp_min(1e-300).log().mean()
    return nll, acc


@torch.no_grad()
def device_scores(model, d) -> torch.Tensor:
    """Validation loss and accuracy, test accuracy and NLL (eval mode), in ``SCORES`` order, as
    one (4,) float64 tensor left on the device: no host sync per evaluation (issue 25)."""
    val_nll, val_acc = _nll_acc(predict_probs(model, d.x_val), d.y_val)
    test_nll, test_acc = _nll_acc(predict_probs(model, d.x_test), d.y_test)
    return torch.stack([val_nll, val_acc, test_acc, test_nll])


def scores(model, d) -> dict:
    """Validation loss and accuracy, test accuracy and NLL (eval mode), as host floats."""
    return dict(zip(SCORES, device_scores(model, d).cpu().tolist()))


def train(model, s: dict, d, gen: torch.Generator) -> tuple[torch.Tensor, list[dict]]:
    """Train for ``epochs`` with a fresh optimizer (Frankle & Carbin); pruned weights get zero
    gradient. Scored every ``record_every`` iterations and after the last; the scores stay on
    the device and come to the host once, at the end of the training (one ``.cpu()`` of the
    stacked scores, issue 25). Returns the minibatch losses and the evaluations."""
    opt = optimizers.build(model.parameters(), s["optimizer"])
    losses, iters, values, it = [], [], [], 0

    def evaluate_every(i, out, y, loss):
        nonlocal it
        it += 1
        if it % s["record_every"] == 0:
            iters.append(it)
            values.append(device_scores(model, d))

    for _ in range(s["epochs"]):
        losses.append(train_epoch(model, opt, d.x_train, d.y_train, s["batch_size"], gen,
                                  record=evaluate_every))
    if not iters or iters[-1] != it:
        iters.append(it)
        values.append(device_scores(model, d))
    rows = torch.stack(values).cpu().tolist()             # the one host transfer
    return torch.cat(losses), [{"iteration": i, **dict(zip(SCORES, v))} for i, v in zip(iters, rows)]


def early_stop(evals: list[dict]) -> dict:
    """The evaluation of minimum validation loss (the first one on a tie)."""
    best = min(evals, key=lambda e: e["val_loss"])
    return {"early_stop_iter": best["iteration"], "early_stop_val_loss": best["val_loss"],
            "early_stop_acc": best["test_acc"], "last_iter": evals[-1]["iteration"]}


def run(ctx) -> Status:
    s, dev = ctx.settings, ctx.device
    ds = ctx.dataset(s["dataset"])
    d = split(ds, s["validation"])
    p = s["prune"]
    gen = generator(s["seed"], dev)                       # θ₀ and the shuffling
    ticket = prunable(models.build(s["model"], ds.n_features, ds.n_classes).to(dev))
    theta0 = initial_weights(ticket)
    controls = control_rounds(p, [n for _, n in mask_counts(ticket)])
    st = RunState(ticket=ticket, gen=gen, rounds=[], evals=[], masks=[])

    def round_fn(epoch: int) -> torch.Tensor:
        r = epoch - 1
        counts = mask_counts(ticket)
        frac = sum(k for k, _ in counts) / sum(n for _, n in counts)
        st.masks += [{"round": r, "layer": i, "left": k, "total": n} for i, (k, n) in enumerate(counts)]
        nets = [("ticket", ticket)]
        if r in controls:                                 # same masks, fresh weights
            nets.append(("random reinit", reinitialized(ticket, s, ds, r, dev)))
        losses = []
        for kind, net in nets:
            loss, evals = train(net, s, d, gen)
            losses.append(loss)
            st.evals += [{"round": r, "kind": kind, **e} for e in evals]
            last = evals[-1]
            st.rounds.append({"round": r, "kind": kind, "frac_weights": frac, **early_stop(evals),
                              "test_acc": last["test_acc"], "test_nll": last["test_nll"]})
        if r < p["rounds"]:
            prune_round(ticket, p["hidden_rate"], p["output_rate"])
            load_weights(ticket, theta0)                  # rewind the survivors to θ₀
        return torch.cat(losses)

    status = ctx.fit(st, p["rounds"] + 1, round_fn, what="round")
    for name in ("rounds", "evals", "masks"):
        ctx.save_table(name, pd.DataFrame(getattr(st, name)))
    return status


def reinitialized(ticket: nn.Module, s: dict, ds, r: int, dev) -> nn.Module:
    """The control of round r: the ticket's masks on a fresh net, initialised like the model
    from the seed (seed, r), so a resumed run draws the same weights (global RNG left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(s["seed"], "control init", r))
        net = models.build(s["model"], ds.n_features, ds.n_classes).to(dev)
    for m, t in zip(linears(net), linears(ticket)):
        prune.custom_from_mask(m, "weight", t.weight_mask.clone())
    return net
