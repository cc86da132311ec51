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

import pandas as pd
import torch
from torch.optim.swa_utils import update_bn

from nnrepro import data, landscape, methods, models, optimizers
from nnrepro.ensembles import RunningEnsemble
from nnrepro.methods import score
from nnrepro.metrics import evaluate
from nnrepro.models import flat_params
from nnrepro.recipes import SWA
from nnrepro.results import Status
from nnrepro.training import RunState, finite, generator, stream, train_epoch


@torch.no_grad()
def train_loss(model, ds) -> float:
    return torch.nn.functional.cross_entropy(model(ds.x_train), ds.y_train).item()


def run(ctx) -> Status:
    s, dev = ctx.settings, ctx.device
    ds = data.train_subset(ctx.dataset(s["dataset"]), s["train_subset"])
    n_base, n_swa = s["epochs"], s["swa"]["epochs"]
    steps_per_epoch = ctx.steps_per_epoch(len(ds.y_train), s["batch_size"])
    n_collect = n_swa // s["swa"]["cycle_epochs"]
    keep = {0, n_collect // 2, n_collect - 1}             # iterates spanning the SWA plane

    gen = generator(s["seed"], dev)                       # base run's shuffling
    model = models.build(s["model"], ds.n_features, ds.n_classes).to(dev)
    opt = optimizers.build(model.parameters(), s["optimizer"])
    st = RunState(model=model, opt=opt, gen=gen,
                  gen_swa=stream(s["seed"], "swa", device=dev),
                  swa=SWA(model, s["swa"], steps_per_epoch, s["swag"]["rank"], dev),
                  steps=[], epochs=[], iterates={})

    def test(net) -> dict:                                # test-set accuracy, NLL, ECE, Brier
        return score(net, ds.x_test, ds.y_test)

    def epoch_fn(epoch: int) -> torch.Tensor:
        if epoch == n_base + 1:
            st.swa.start(model)                            # the SWA phase starts from ŵ
        losses = train_epoch(model, opt, ds.x_train, ds.y_train, s["batch_size"], gen).cpu()
        st.steps += [{"step": (epoch - 1) * steps_per_epoch + i, "epoch": epoch, "loss": l}
                     for i, l in enumerate(losses.tolist())]
        rows = [{"epoch": epoch, "model": "base", "train_loss": train_loss(model, ds), **test(model)}]
        if epoch > n_base:
            k, swa = epoch - n_base, st.swa
            swa_losses = swa.epoch(ds.x_train, ds.y_train, s["batch_size"], st.gen_swa)
            losses = torch.cat([losses, swa_losses.cpu()])
            collected = finite(losses) and swa.cycle_end(k)
            if collected:                                  # end of a cycle: collect ŵᵢ
                swa.collect()
                idx = k // s["swa"]["cycle_epochs"] - 1
                if idx in keep:
                    st.iterates[idx] = flat_params(swa.net).clone()
            rows.append({"epoch": epoch, "model": "swa_iterate", "collected": collected,
                         "train_loss": train_loss(swa.net, ds), **test(swa.net)})
            if swa.averaged.n_averaged > 0:
                update_bn([ds.x_train], swa.averaged)      # no-op without BatchNorm
                rows.append({"epoch": epoch, "model": "swa", "train_loss": train_loss(swa.averaged, ds),
                             **test(swa.averaged)})
        st.epochs += rows
        return losses

    status = ctx.fit(st, n_base + n_swa, epoch_fn)
    ctx.save_table("steps", pd.DataFrame(st.steps))
    ctx.save_table("epochs", pd.DataFrame(st.epochs))
    if status == Status.OK and st.swa.swag.n > 1:
        evaluate_solutions(ctx, ds, model, st.swa.averaged.module, st.swa.swag, st.iterates)
    return status


def evaluate_solutions(ctx, ds, base, swa, swag, iterates) -> None:
    s, dev = ctx.settings, ctx.device
    gen = stream(s["seed"], "swag samples", device=dev)
    scfg, lcfg = s["swag"], s["landscape"]
    per_sample, ens_rows = [], [{"method": "base (single run)", **score(base, ds.x_test, ds.y_test)},
                                {"method": "SWA", **score(swa, ds.x_test, ds.y_test)}]
    for mode in ("diagonal", "lowrank"):                  # S samples w̃_s ~ SWAG, in this order
        members = methods.swag(swag, swa, ds.x_test, scfg["samples"], scfg["scale"],
                               diagonal=mode == "diagonal", generator=gen, bn_inputs=ds.x_train)
        running = RunningEnsemble()                       # the mean in float64, member by member
        for i, p in enumerate(members):
            running.add(p)
            per_sample.append({"mode": mode, "sample": i, **evaluate(p, ds.y_test)})
        ens_rows.append({"method": f"SWAG-{mode}", **running.evaluate(ds.y_test)})
    ctx.save_table("ensembles", pd.DataFrame(ens_rows))
    ctx.save_table("swag_samples", pd.DataFrame(per_sample))

    # predictive intervals over low-rank SWAG samples (S, N, K)
    P = members.float().cpu()
    mean_p = P.mean(0)
    pred = mean_p.argmax(1)
    y = ds.y_test.cpu()
    lo, hi = P.quantile(0.025, dim=0), P.quantile(0.975, dim=0)
    width = (hi - lo).gather(1, pred[:, None]).squeeze(1)     # interval of the predicted class
    correct = pred == y
    ctx.save_table("swag_widths", pd.DataFrame({"image": range(len(y)), "label": y.numpy(),
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
    ctx.save_table("swag_ci", pd.DataFrame(rows))

    plane, plane_points = plane_tables(swa, iterates, ds, lcfg["plane_points"])
    ctx.save_table("plane", plane)
    ctx.save_table("plane_points", plane_points)
    ctx.save_table("flatness", flatness_table(base, swa, ds, lcfg, gen))


def plane_tables(swa, iterates, ds, points: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test error on the plane through three SWA iterates (Garipov et al. 2018; nnrepro.landscape)."""
    w = [iterates[k] for k in sorted(iterates)][:3]
    while len(w) < 3:
        w.append(w[-1])
    return landscape.plane(swa, w[0], w[1], w[2], ds.x_test, ds.y_test, points)


FLATNESS_TRAIN = 10_000   # the train-loss curves use at most this many training images (MNIST: time)


def flatness_table(base, swa, ds, lcfg, gen) -> pd.DataFrame:
    """Train (on at most FLATNESS_TRAIN images) and test loss at θ + t·d through each solution along filter-normalized random
    directions d (Li et al. 2018: every filter of d rescaled to the norm of the same filter of
    θ, so t is relative to the weights' own scale); direction j draws the same Gaussian for both
    solutions, so the comparison is paired."""
    dists = torch.linspace(-lcfg["max_distance"], lcfg["max_distance"], lcfg["distances"]).tolist()
    x_train, y_train = ds.x_train[:FLATNESS_TRAIN], ds.y_train[:FLATNESS_TRAIN]
    frames = []
    for j in range(lcfg["directions"]):
        state = gen.get_state()
        for name, model in (("base", base), ("SWA", swa)):
            gen.set_state(state)
            d = landscape.filter_normalized_direction(model, gen)
            theta = flat_params(model)
            test = landscape.line(model, theta, d, dists, ds.x_test, ds.y_test)
            train = landscape.line(model, theta, d, dists, x_train, y_train)
            frames.append(pd.DataFrame({"solution": name, "direction": j, "distance": dists,
                                        "test_loss": test["loss"], "test_err": test["err"],
                                        "train_loss": train["loss"], "train_err": train["err"]}))
    return pd.concat(frames, ignore_index=True)
