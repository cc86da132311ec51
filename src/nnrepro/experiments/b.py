"""Family B (seed 001, "CIFAR 10 Examples"): MLP 256-128-10 trained with Adam written from
scratch (α = 0.001), then SWA and SWAG from that solution.

1. Train the network to find ŵ (``epochs`` of Adam).
2. From ŵ, train on with the SWA schedule (constant or cyclic lr) and average the iterate at each
   cycle end: ŵ_flat = (1/k) Σ ŵᵢ (torch.optim.swa_utils.AveragedModel); the base run goes on
   with Adam for the same epochs, so both have the same budget.
3. SWAG: Gaussian from the same iterates (nnrepro.swag); sample it for predictive intervals.
4. Geometry around the solutions: test error in the plane of three SWA iterates, test loss along
   random directions through the base and the SWA solutions.

Tables: steps, epochs, ensembles, swag_samples, swag_ci, swag_widths, plane, plane_points,
flatness.
"""
from __future__ import annotations

import copy

import pandas as pd
import torch
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn

from nnrepro import models, optimizers
from nnrepro.ensembles import RunningEnsemble, predict_probs
from nnrepro.metrics import evaluate
from nnrepro.models import flat_params, set_flat_params
from nnrepro.swag import SWAG
from nnrepro.training import Checkpoint, finite, generator, progress, to_cpu, train_epoch

DEFAULTS = {"swa": {"schedule": "constant", "cycle_epochs": 1, "min_lr_ratio": 0.05},
            "swag": {"rank": 20, "scale": 0.5, "samples": 30, "ci_images": 6},
            "landscape": {"plane_points": 21, "directions": 5, "distances": 21,
                          "max_distance": 1.0}}


def settings(spec: dict) -> dict:
    s = copy.deepcopy(spec)
    for k, d in DEFAULTS.items():
        s[k] = {**d, **s.get(k, {})}
    return s


@torch.no_grad()
def test_metrics(model, ds) -> dict:
    return evaluate(predict_probs(model, ds.x_test), ds.y_test)


@torch.no_grad()
def train_loss(model, ds) -> float:
    return torch.nn.functional.cross_entropy(model(ds.x_train), ds.y_train).item()


def cyclic_lr(cycle_steps: int, min_ratio: float):
    """SWA's cyclic schedule: within each cycle, lr falls linearly from α₁ to α₂ = min_ratio·α₁."""
    return lambda step: 1 - (1 - min_ratio) * (step % cycle_steps) / max(cycle_steps - 1, 1)


def run(spec: dict, out, env) -> str:
    s = settings(spec)
    dev = env.torch_device
    ds = env.dataset(s["dataset"])
    gen = generator(s.get("seed", 0), dev)                 # base run's shuffling
    gen_swa = torch.Generator(device=dev).manual_seed(s.get("seed", 0) + 10_000)
    model = models.build(s.get("model"), ds.n_features, ds.n_classes).to(dev)
    opt = optimizers.build(model.parameters(), s["optimizer"])
    swa_cfg = s["swa"]
    n_base, n_swa = s["epochs"], swa_cfg["epochs"]
    steps_per_epoch = -(-len(ds.y_train) // s["batch_size"])
    n_collect = n_swa // swa_cfg["cycle_epochs"]
    keep = {0, n_collect // 2, n_collect - 1}             # iterates spanning the SWA plane

    swa_model = swa_opt = sched = averaged = swag = None
    iterates: dict[int, torch.Tensor] = {}
    steps, epochs = [], []
    ckpt = Checkpoint(out.path / "checkpoint.pt", spec)

    def start_swa():
        nonlocal swa_model, swa_opt, sched, averaged, swag
        swa_model = copy.deepcopy(model)
        swa_opt = optimizers.build(swa_model.parameters(), swa_cfg["optimizer"])
        if swa_cfg["schedule"] == "constant":
            sched = SWALR(swa_opt, swa_lr=swa_cfg["optimizer"]["lr"], anneal_epochs=1)
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(
                swa_opt, cyclic_lr(swa_cfg["cycle_epochs"] * steps_per_epoch, swa_cfg["min_lr_ratio"]))
        averaged = AveragedModel(swa_model)                   # equal running average ŵ_flat
        swag = SWAG(sum(p.numel() for p in model.parameters()), s["swag"]["rank"], dev)

    state = ckpt.load()
    start = 0
    if state is not None:
        start = state["epoch"]
        model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"]); gen_swa.set_state(state["gen_swa"])
        steps, epochs, iterates = state["steps"], state["epochs"], state["iterates"]
        if start > n_base:
            start_swa()
            for obj, key in ((swa_model, "swa_model"), (swa_opt, "swa_opt"), (sched, "sched"),
                             (averaged, "averaged"), (swag, "swag")):
                obj.load_state_dict(state[key])
            iterates = {k: v.to(dev) for k, v in iterates.items()}

    status = "ok"
    for epoch in progress(range(start + 1, n_base + n_swa + 1), total=n_base + n_swa - start,
                          desc=f"B {out.run_id} epoch"):
        if epoch == n_base + 1:
            start_swa()
        losses = train_epoch(model, opt, ds.x_train, ds.y_train, s["batch_size"], gen).cpu()
        steps += [{"step": (epoch - 1) * steps_per_epoch + i, "epoch": epoch, "loss": l}
                  for i, l in enumerate(losses.tolist())]
        rows = [{"epoch": epoch, "model": "base", "train_loss": train_loss(model, ds),
                 **test_metrics(model, ds)}]
        ok = finite(losses)
        if swa_model is not None:
            swa_losses = train_epoch(swa_model, swa_opt, ds.x_train, ds.y_train, s["batch_size"],
                                     gen_swa, after_step=sched.step if swa_cfg["schedule"] == "cyclic" else None)
            if swa_cfg["schedule"] == "constant":
                sched.step()
            ok = ok and finite(swa_losses)
            k = epoch - n_base
            collected = ok and k % swa_cfg["cycle_epochs"] == 0
            if collected:                                      # end of a cycle: collect ŵᵢ
                averaged.update_parameters(swa_model)
                swag.collect(swa_model)
                idx = k // swa_cfg["cycle_epochs"] - 1
                if idx in keep:
                    iterates[idx] = flat_params(swa_model).clone()
            rows.append({"epoch": epoch, "model": "swa_iterate", "collected": collected,
                         "train_loss": train_loss(swa_model, ds), **test_metrics(swa_model, ds)})
            if averaged.n_averaged > 0:
                update_bn([ds.x_train], averaged)              # no-op without BatchNorm
                rows.append({"epoch": epoch, "model": "swa", "train_loss": train_loss(averaged, ds),
                             **test_metrics(averaged, ds)})
        epochs += rows
        if not ok:
            status = "diverged"
            break
        ckpt.save(to_cpu({"epoch": epoch, "model": model.state_dict(), "opt": opt.state_dict(),
                          "gen": gen.get_state(), "gen_swa": gen_swa.get_state(),
                          "steps": steps, "epochs": epochs, "iterates": iterates,
                          **({"swa_model": swa_model.state_dict(), "swa_opt": swa_opt.state_dict(),
                              "sched": sched.state_dict(), "averaged": averaged.state_dict(),
                              "swag": swag.state_dict()} if swa_model is not None else {})}))

    out.save_table("steps", pd.DataFrame(steps))
    out.save_table("epochs", pd.DataFrame(epochs))
    if status == "ok" and swag is not None and swag.n > 1:
        evaluate_solutions(s, ds, model, averaged.module, swag, iterates, out, dev)
    return status


def evaluate_solutions(s, ds, base, swa, swag, iterates, out, dev) -> None:
    gen = torch.Generator(device=dev).manual_seed(s.get("seed", 0) + 20_000)
    scfg, lcfg = s["swag"], s["landscape"]
    sampled = copy.deepcopy(swa)
    per_sample, probs_lowrank = [], []
    ens_rows = [{"method": "base (single run)", **test_metrics(base, ds)},
                {"method": "SWA", **test_metrics(swa, ds)}]
    for mode in ("diagonal", "lowrank"):
        running = RunningEnsemble()
        for i in range(scfg["samples"]):
            swag.sample_model(sampled, gen, scfg["scale"], diagonal=mode == "diagonal",
                              bn_inputs=[ds.x_train])
            p = predict_probs(sampled, ds.x_test)
            running.add(p)
            per_sample.append({"mode": mode, "sample": i, **evaluate(p, ds.y_test)})
            if mode == "lowrank":
                probs_lowrank.append(p.float().cpu())
        ens_rows.append({"method": f"SWAG-{mode}", **running.evaluate(ds.y_test)})
    out.save_table("ensembles", pd.DataFrame(ens_rows))
    out.save_table("swag_samples", pd.DataFrame(per_sample))

    # predictive intervals over low-rank SWAG samples (S, N, K)
    P = torch.stack(probs_lowrank)
    mean_p = P.mean(0)
    pred = mean_p.argmax(1)
    y = ds.y_test.cpu()
    lo, hi = P.quantile(0.025, dim=0), P.quantile(0.975, dim=0)
    width = (hi - lo).gather(1, pred[:, None]).squeeze(1)     # interval of the predicted class
    correct = pred == y
    out.save_table("swag_widths", pd.DataFrame({"image": range(len(y)), "label": y.numpy(),
                                                "pred": pred.numpy(), "correct": correct.numpy(),
                                                "width": width.numpy()}))
    n_show = scfg["ci_images"]
    wrong_idx = torch.nonzero(~correct).flatten()[: n_show // 2]
    right_idx = torch.nonzero(correct).flatten()[: n_show - len(wrong_idx)]
    rows = []
    for i in torch.cat([right_idx, wrong_idx]).tolist():
        for k in range(P.shape[2]):
            rows.append({"image": i, "label": int(y[i]), "correct": bool(correct[i]), "class": k,
                         "mean": float(mean_p[i, k]), "lo": float(lo[i, k]), "hi": float(hi[i, k])})
    out.save_table("swag_ci", pd.DataFrame(rows))

    plane, plane_points = plane_tables(swa, iterates, ds, lcfg["plane_points"])
    out.save_table("plane", plane)
    out.save_table("plane_points", plane_points)
    out.save_table("flatness", flatness_table(base, swa, ds, lcfg, gen))


@torch.no_grad()
def _loss_err(model, ds, theta) -> tuple[float, float]:
    set_flat_params(model, theta)
    logits = model(ds.x_test)
    loss = torch.nn.functional.cross_entropy(logits, ds.y_test).item()
    return loss, (logits.argmax(1) != ds.y_test).float().mean().item()


def plane_tables(swa, iterates, ds, points: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test error on the plane through iterates w₁, w₂, w₃ (Garipov et al. 2018 construction):
    u = w₂ − w₁, v = w₃ − w₁ − ⟨w₃ − w₁, û⟩û; coordinates in the orthonormal basis (û, v̂)."""
    w = [iterates[k] for k in sorted(iterates)][:3]
    while len(w) < 3:
        w.append(w[-1])
    u = w[1] - w[0]
    u_hat = u / u.norm().clamp_min(1e-12)
    v = w[2] - w[0] - (w[2] - w[0]).dot(u_hat) * u_hat
    v_hat = v / v.norm().clamp_min(1e-12)
    model = copy.deepcopy(swa)

    def coords(theta):
        d = theta - w[0]
        return d.dot(u_hat).item(), d.dot(v_hat).item()

    centroid = sum(w) / 3
    named = {"iterate 1": w[0], "iterate 2": w[1], "iterate 3": w[2],
             "average of the 3": centroid}
    pts = []
    for name, theta in named.items():
        x, yv = coords(theta)
        loss, err = _loss_err(model, ds, theta)
        pts.append({"point": name, "x": x, "y": yv, "test_loss": loss, "test_err": err})
    xs = [p["x"] for p in pts]
    ys = [p["y"] for p in pts]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-6)
    grid = []
    for a in torch.linspace(min(xs) - 0.3 * span, max(xs) + 0.3 * span, points).tolist():
        for b in torch.linspace(min(ys) - 0.3 * span, max(ys) + 0.3 * span, points).tolist():
            loss, err = _loss_err(model, ds, w[0] + a * u_hat + b * v_hat)
            grid.append({"x": a, "y": b, "test_loss": loss, "test_err": err})
    return pd.DataFrame(grid), pd.DataFrame(pts)


def flatness_table(base, swa, ds, lcfg, gen) -> pd.DataFrame:
    """Test loss at θ + t·d along unit random directions d (the same d for both solutions)."""
    thetas = {"base": flat_params(base), "SWA": flat_params(swa)}
    model = copy.deepcopy(swa)
    dists = torch.linspace(-lcfg["max_distance"], lcfg["max_distance"], lcfg["distances"]).tolist()
    rows = []
    for j in range(lcfg["directions"]):
        d = torch.randn(thetas["base"].shape, generator=gen, device=thetas["base"].device)
        d /= d.norm()
        for name, theta in thetas.items():
            for t in dists:
                loss, err = _loss_err(model, ds, theta + t * d)
                rows.append({"solution": name, "direction": j, "distance": t,
                             "test_loss": loss, "test_err": err})
    return pd.DataFrame(rows)
