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


# ---------------------------------------------------------------- several runs as one stack
def _stack_nets(nets: list[nn.Module]):
    """The K prunable nets (one shape) as one ``stacked.StackedMLP``: member k's weights
    (``weight_orig``), biases and masks."""
    from nnrepro.stacked import StackedMLP

    layers = [linears(n) for n in nets]
    first = layers[0]
    acts = [n for n, a in models.ACTIVATIONS.items()
            if {type(m) for m in nets[0] if not isinstance(m, nn.Linear)} == {a}]
    p0 = first[0].weight_orig
    model = StackedMLP(len(nets), first[0].in_features, [m.out_features for m in first[:-1]],
                       first[-1].out_features, acts[0] if acts else "linear", p0.device, p0.dtype)
    with torch.no_grad():
        for l in range(len(first)):
            W, b = model.params[2 * l], model.params[2 * l + 1]
            for k, ls in enumerate(layers):
                W[k].copy_(ls[l].weight_orig)
                b[k, 0].copy_(ls[l].bias)
    model.set_masks([torch.stack([ls[l].weight_mask for ls in layers]) for l in range(len(first))])
    return model


@torch.no_grad()
def _unstack(model, nets: list[nn.Module]) -> None:
    """Each member's trained weights and biases back into its prunable net."""
    for k, net in enumerate(nets):
        for l, m in enumerate(linears(net)):
            m.weight_orig.copy_(model.params[2 * l][k])
            m.bias.copy_(model.params[2 * l + 1][k, 0])


@torch.no_grad()
def _stack_scores(model, d) -> torch.Tensor:
    """(K, 4) ``device_scores`` of every member (eval: the stacked net has no train mode)."""
    out = []
    for x, y in ((d.x_val, d.y_val), (d.x_test, d.y_test)):
        probs = torch.cat([model(x[i:i + 8192].expand(model.k, -1, -1)).softmax(-1)
                           for i in range(0, len(x), 8192)], dim=1).double()   # predict_probs
        acc = (probs.argmax(-1) == y).double().mean(1)
        nll = -probs.gather(-1, y.expand(model.k, -1)[..., None]).clamp_min(1e-300).log().mean((1, 2))
        out += [nll, acc]
    val_nll, val_acc, test_nll, test_acc = out
    return torch.stack([val_nll, val_acc, test_acc, test_nll], dim=1)   # SCORES order


def train_stack(nets: list[nn.Module], s: dict, d, gens: list[torch.Generator], lrs=None):
    """``train`` for K nets at once (issue 25): one ``stacked.StackedAdam`` step for all (``lrs``:
    each member's learning rate; default the settings'), each member on its own shuffle from
    its own generator, drawn as ``train_epoch`` draws it; the trained weights go back into
    ``nets``. Returns the (K, steps) minibatch losses and each member's evaluations."""
    from nnrepro.stacked import StackedAdam

    o = dict(s["optimizer"])
    name = o.pop("name")
    if name not in ("adam", "amsgrad"):
        raise ValueError("a stacked J run trains with Adam")
    o["amsgrad"] = o.get("amsgrad", False) or name == "amsgrad"
    if lrs is not None:
        o["lr"] = list(lrs)
    model = _stack_nets(nets)
    opt = StackedAdam(model, **o)
    K, n, b = model.k, len(d.x_train), s["batch_size"]
    losses, iters, values, it = [], [], [], 0
    for _ in range(s["epochs"]):
        perm = torch.stack([torch.randperm(n, generator=g, device=g.device) for g in gens])
        for idx in perm.split(b, dim=1):                         # (K, B): member k's minibatch
            out = model(d.x_train[idx])
            loss = nn.functional.cross_entropy(out.flatten(0, 1), d.y_train[idx].flatten(),
                                               reduction="none").view(K, -1).mean(1)
            model.grad.zero_()
            loss.sum().backward()                                # model.grad: ∇ of each member's loss
            opt.step()
            losses.append(loss.detach())
            it += 1
            if it % s["record_every"] == 0:
                iters.append(it)
                values.append(_stack_scores(model, d))
    if not iters or iters[-1] != it:
        iters.append(it)
        values.append(_stack_scores(model, d))
    _unstack(model, nets)
    rows = torch.stack(values).cpu().tolist()                    # (evals, K, 4): one transfer
    evals = [[{"iteration": i, **dict(zip(SCORES, v[k]))} for i, v in zip(iters, rows)]
             for k in range(K)]
    return torch.stack(losses, dim=1), evals


def run_stack(ctxs, checkpoint) -> list[Status]:
    """The runs of ``ctxs`` (one shape: ``rules.stack_key``; they differ in the seed and Adam's
    learning rate) trained
    as one stack (issue 25): round by round, the members' tickets as one ``train_stack``, then
    their controls as another, then each member pruned and rewound as ``run`` does. Each member
    draws its init, its shuffles and its control's init as its separate run draws them, and
    writes ``run``'s tables. A member whose round has a non-finite loss, or one above
    ``max_loss_ratio`` × its first, stops as ``fit`` stops it (that round's rows kept). One
    ``checkpoint`` for the stack, after every round."""
    from nnrepro.training import EpochLog, finite, to_cpu

    s0, dev = ctxs[0].settings, ctxs[0].device
    ds = ctxs[0].dataset(s0["dataset"])
    d, p = split(ds, s0["validation"]), s0["prune"]
    gens, tickets = [], []
    for ctx in ctxs:                                     # as run(): the seed, then θ₀
        gens.append(generator(ctx.settings["seed"], dev))
        tickets.append(prunable(models.build(s0["model"], ds.n_features, ds.n_classes).to(dev)))
    theta0 = [initial_weights(t) for t in tickets]
    controls = control_rounds(p, [n for _, n in mask_counts(tickets[0])])
    members = [dict(rounds=[], evals=[], masks=[], status=None, initial=None) for _ in ctxs]
    start, saved = 0, checkpoint.load()
    if saved is not None:
        start = saved["round"]
        for k, ms in enumerate(saved["members"]):
            members[k] = ms["rows"]
            tickets[k].load_state_dict({n: t.to(dev) for n, t in ms["ticket"].items()})
            gens[k].set_state(ms["gen"])
    report = EpochLog(f"J stack of {len(ctxs)} round", start, p["rounds"] + 1)
    ratio = ctxs[0].max_loss_ratio
    for r in range(start, p["rounds"] + 1):
        live = [k for k, m in enumerate(members) if m["status"] is None]
        if not live:
            break
        losses = {k: [] for k in live}
        for k in live:
            counts = mask_counts(tickets[k])
            members[k]["frac"] = sum(c for c, _ in counts) / sum(n for _, n in counts)
            members[k]["masks"] += [{"round": r, "layer": i, "left": c, "total": n}
                                    for i, (c, n) in enumerate(counts)]
        kinds = [("ticket", [tickets[k] for k in live])]
        if r in controls:                                # same masks, fresh weights
            kinds.append(("random reinit", [reinitialized(tickets[k], ctxs[k].settings, ds, r, dev)
                                            for k in live]))
        for kind, nets in kinds:
            loss, evals = train_stack(nets, s0, d, [gens[k] for k in live],
                                      [ctxs[k].settings["optimizer"]["lr"] for k in live])
            loss = loss.double().cpu()
            for j, k in enumerate(live):
                m, e = members[k], evals[j]
                losses[k].append(loss[j])
                m["evals"] += [{"round": r, "kind": kind, **x} for x in e]
                m["rounds"].append({"round": r, "kind": kind, "frac_weights": m["frac"],
                                    **early_stop(e), "test_acc": e[-1]["test_acc"],
                                    "test_nll": e[-1]["test_nll"]})
        for k in live:                                   # as fit: non-finite, or over the bound
            m, u = members[k], torch.cat(losses[k])
            if finite(u) and m["initial"] is None:
                m["initial"] = u[0].abs().item()
            if not finite(u) or (ratio is not None and u.max().item() > ratio * m["initial"]):
                m["status"] = Status.DIVERGED
            elif r < p["rounds"]:
                prune_round(tickets[k], p["hidden_rate"], p["output_rate"])
                load_weights(tickets[k], theta0[k])      # rewind the survivors to θ₀
        report(r + 1, torch.cat([torch.cat(losses[k]) for k in live]))
        checkpoint.save({"round": r + 1, "members": [
            {"rows": m, "ticket": to_cpu(t.state_dict()), "gen": g.get_state()}
            for m, t, g in zip(members, tickets, gens)]})
    for ctx, m in zip(ctxs, members):
        for name in ("rounds", "evals", "masks"):
            ctx.save_table(name, pd.DataFrame(m[name]))
    return [m["status"] or Status.OK for m in members]
