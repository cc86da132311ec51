"""Family H: BatchNorm's train / eval behaviour and the noise injection on tiny batches, the
VGG-style CNN on CIFAR-shaped tensors, the claims' pure functions on hand-made tables, and the
family end to end."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nnrepro.families.h import experiment as h
from nnrepro.families.h.noise import layer_noise, noise_power, per_layer_power
from nnrepro.catalogue import FIGURE_INFO, FIGURES
from nnrepro.families.h import figures as figs
from nnrepro.render import render
from nnrepro.models import CNN, MLP, VGG11

from conftest import run_sweep, tiny

# tests/test_resume.py resumes this family's tiny run here (its resume has code of its own)
RESUME_POINT = {"variant": "noisy_bn", "epochs": 3}


def test_batchnorm_train_and_eval_follow_the_algorithm():
    """Seed 004 §6.4: train mode x̂ = (x − μ_B)/√(σ²_B + ε) with the batch's (biased) variance,
    y = γx̂ + β; eval mode uses the running averages (momentum 0.1, unbiased variance)."""
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 3.0]))
    x = torch.randn(5, 3) * 4 + 2
    mu, var = x.mean(0), x.var(0, unbiased=False)
    y = bn.train()(x)
    assert torch.allclose(y, bn.weight * (x - mu) / torch.sqrt(var + bn.eps) + bn.bias, atol=1e-6)
    assert torch.allclose(bn.running_mean, 0.1 * mu, atol=1e-6)
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * x.var(0, unbiased=True), atol=1e-6)
    z = torch.randn(2, 3)
    expected = bn.weight * (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) + bn.bias
    assert torch.allclose(bn.eval()(z), expected, atol=1e-6)


def test_noise_is_gaussian_with_drawn_moments_per_unit_and_step():
    x = torch.zeros(4, 3)
    noise = h.BatchNoise(1.0, 0.5, 1.5, torch.Generator().manual_seed(7))
    twin = torch.Generator().manual_seed(7)                     # replays the module's draws
    out = noise.train()(x)
    u = torch.rand((2, 1, 3), generator=twin)
    mu, sigma = (2 * u[0] - 1) * 1.0, 0.5 + u[1]
    eps = torch.randn((4, 3), generator=twin)
    assert torch.allclose(out, mu + sigma * eps)
    assert (mu.abs() <= 1).all() and ((sigma >= 0.5) & (sigma <= 1.5)).all()
    assert not torch.allclose(noise(x), out)                   # a new distribution every step
    assert torch.equal(noise.eval()(x), x)                     # train mode only
    # many samples: the per-unit mean and std of the noise are the step's μ_j, σ_j
    big = h.BatchNoise(1.0, 0.5, 1.5, torch.Generator().manual_seed(3)).train()
    out = big(torch.zeros(200_000, 2, 2, 2))                   # conv: one (μ, σ) per channel
    twin = torch.Generator().manual_seed(3)
    u = torch.rand((2, 1, 2, 1, 1), generator=twin)
    per_channel = out.transpose(0, 1).reshape(2, -1)
    assert torch.allclose(per_channel.mean(1), ((2 * u[0] - 1)).flatten(), atol=0.01)
    assert torch.allclose(per_channel.std(1), (0.5 + u[1]).flatten(), rtol=0.01)


def test_noise_goes_after_every_bn_layer():
    gen = torch.Generator().manual_seed(0)
    make = lambda: h.BatchNoise(1.0, 0.5, 1.5, gen)  # noqa: E731
    mlp = h.add_noise_after_bn(MLP(8, [6, 5], 3, batchnorm=True), make)
    kinds = [type(m) for m in mlp]
    assert kinds == [nn.Linear, nn.Sequential, nn.ReLU, nn.Linear, nn.Sequential, nn.ReLU, nn.Linear]
    assert all(isinstance(s[0], nn.BatchNorm1d) and isinstance(s[1], h.BatchNoise)
               for s in mlp if isinstance(s, nn.Sequential))
    cnn = h.add_noise_after_bn(CNN((3, 8, 8), (4, "M", 6), 5, batchnorm=True), make)
    assert sum(isinstance(m, h.BatchNoise) for m in cnn.modules()) == 2
    x = torch.randn(4, 8)
    mlp.eval()
    plain = MLP(8, [6, 5], 3, batchnorm=True).eval()
    plain.load_state_dict({k.replace(".0.", "."): v for k, v in mlp.state_dict().items()})
    assert torch.equal(mlp(x), plain(x))                       # eval: the noise is gone
    mlp.train()
    assert mlp(x).shape == (4, 3) and not torch.allclose(mlp(x), mlp(x))


def test_cnn_on_cifar_shaped_tensors():
    torch.manual_seed(0)
    net = CNN((3, 32, 32), VGG11, 10, batchnorm=True, init="lecun", gain=2 ** 0.5)
    out = net(torch.randn(4, 3 * 32 * 32))                     # flat images, as stored
    assert out.shape == (4, 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 8
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 5
    w = convs[-1].weight                                        # fan_in = 512 · 9
    assert w.var().item() == pytest.approx(2 / (512 * 9), rel=0.02)
    assert h.unit_counts(net) == [64, 128, 256, 256, 512, 512, 512, 512]
    assert h.unit_counts(MLP(5, [7, 3], 2)) == [7, 3]
    with pytest.raises(ValueError, match="max-pools"):
        CNN((1, 8, 8), VGG11, 10)
    torch.manual_seed(1)                                        # default init: torch's, untouched
    a = CNN((1, 8, 8), (4, "M"), 3)
    torch.manual_seed(1)
    b = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_unit_records_keep_tracked_units():
    a = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    vals, stats = h.unit_records([a], [[0, 2]], 8, epoch=1, step=5)
    assert vals[0]["values"].shape == (2, 8)
    ch2 = a[:, 2].reshape(-1)
    assert stats[1] == dict(epoch=1, step=5, layer=1, unit=2, mean=ch2.mean().item(),
                            std=ch2.std().item())
    table = h.values_table(vals)
    assert len(table) == 16 and set(table["unit"]) == {0, 2}
    assert table[table["unit"] == 2]["value"].isin(ch2.tolist()).all()


# ---------------------------------------------------------------- pure claim functions
RUNS = pd.DataFrame([dict(run=f"{v}_{lr}_{s}", status="ok", seed=s, variant=v, lr=lr)
                     for s in (0, 1) for v in ("standard", "bn", "noisy_bn") for lr in (0.1, 0.5)])


def test_noise_power_is_the_mean_square_of_the_noise():
    assert noise_power(1.0, 0.5, 1.5) == pytest.approx(1 / 3 + 13 / 12)   # SNR 0.7: the old scale
    assert noise_power(0.0, 2.0, 2.0) == pytest.approx(4.0)
    noise = h.BatchNoise(0.84, 0.42, 1.26, torch.Generator().manual_seed(0)).train()
    draws = torch.cat([noise(torch.zeros(64, 500)).pow(2).mean(0) for _ in range(40)])
    assert draws.mean().item() == pytest.approx(noise_power(0.84, 0.42, 1.26), rel=0.03)
    assert noise_power(0.84, 0.42, 1.26) == pytest.approx(1.0, abs=0.01)  # the configs: P₀ = 1


def test_depth_rule_fixes_the_end_to_end_power():
    """(1 + P)^L = 1 + P₀: the L = 10 nets of the quick and MNIST profiles get P = 2^0.1 − 1."""
    assert per_layer_power(1.0, 10) == pytest.approx(2 ** 0.1 - 1) == pytest.approx(0.0718, abs=1e-4)
    m = layer_noise(0.84, 0.42, 1.26, 10)
    assert (1 + noise_power(*m)) ** 10 == pytest.approx(1 + noise_power(0.84, 0.42, 1.26))
    assert m[0] == pytest.approx(0.225, abs=1e-3) and m[2] / m[1] == pytest.approx(3.0)
    assert layer_noise(0.84, 0.42, 1.26, 10, "per_layer") == (0.84, 0.42, 1.26)
    assert (1 + noise_power(0.84, 0.42, 1.26)) ** 10 > 1000                  # the old rule
    net = h.build({"model": {"arch": "mlp", "hidden": [8] * 4, "activation": "relu", "init": "lecun",
                             "gain": 1.0}, "variant": "noisy_bn", "dataset": "digits",
                   "noise": {"mean": 0.84, "std_min": 0.42, "std_max": 1.26, "scale": "end_to_end"}},
                  type("D", (), {"n_features": 5, "n_classes": 3})(), torch.Generator())
    noise = [m for m in net.modules() if isinstance(m, h.BatchNoise)]
    assert len(noise) == h.bn_layers(net) == 4
    assert noise[0].mean == pytest.approx(layer_noise(0.84, 0.42, 1.26, 4)[0])


def test_schema_defaults_of_the_noise():
    from nnrepro.config import fill
    s = fill("family_H", {})
    assert s["noise"] == {"mean": 0.84, "std_min": 0.42, "std_max": 1.26, "scale": "end_to_end"}


def _lr_tables(acc: dict, seeds=range(10), status=None):
    """Runs of the standard and BN nets on the 5-lr grid and their one-epoch accuracy table;
    ``acc[variant][i]``: final training accuracy (points) at the i-th lr, None: diverged."""
    lrs = (0.1, 0.2, 0.5, 1.0, 2.0)
    runs, epochs = [], []
    for s in seeds:
        for v in ("standard", "bn"):
            for lr, a in zip(lrs, acc[v]):
                run = f"{v}_{lr}_{s}"
                runs.append(dict(run=run, status="ok" if a is not None else "diverged", seed=s,
                                 variant=v, lr=lr, sweep="bn_lr"))
                epochs.append(dict(run=run, epoch=1, train_acc=(a if a is not None else math.nan) / 100))
    return pd.DataFrame(runs), pd.DataFrame(epochs)


def test_run_outcomes_are_relative_to_chance_and_the_seeds_best():
    runs, ep = _lr_tables({"standard": [97, 90, 40, None, None], "bn": [98, 98, 97, 96, 60]}, [0])
    o = figs.run_outcomes(ep, runs).set_index("run")["outcome"]
    # best 98: trains from 10 + 0.5 · 88 = 54 points up; 40 fails; a diverged run is its own outcome
    assert o["standard_0.2_0"] == "trains" and o["standard_0.5_0"] == "fails"
    assert o["standard_1.0_0"] == "diverged" and o["bn_2.0_0"] == "trains"
    # the same net on a harder data set (every accuracy 30 points lower): the same outcomes
    hard, ep2 = _lr_tables({"standard": [67, 60, 25, None, None], "bn": [68, 68, 67, 66, 45]}, [0])
    o2 = figs.run_outcomes(ep2, hard).set_index("run")["outcome"]
    assert (o2 == o).all()


def test_largest_training_lrs_and_the_claim_pass_and_fail():
    runs, ep = _lr_tables({"standard": [97, 95, None, None, None], "bn": [98, 98, 97, 96, 95]})
    largest = figs.largest_training_lrs(figs.run_outcomes(ep, runs))
    assert (largest["standard"] == 0.2).all() and (largest["bn"] == 2.0).all() and largest["holds"].all()
    c = figs.bn_lr_claim(largest, figs.run_outcomes(ep, runs))
    assert c.verdict == "pass" and (c.value, c.n) == (1.0, 10)
    assert "10 of 10 seeds" in c.finding and "lr 0.5: standard 0/0/10 of 10, BN 10/0/0 of 10" in c.finding
    assert c.test == FIGURE_INFO["H-bn-lr"].test and c.threshold == FIGURE_INFO["H-bn-lr"].threshold
    # BN's edge one step above standard's (0.5 vs 0.2: 2.5 ×) holds; equal edges do not
    out = pd.DataFrame(dict(seed=range(3), lr=0.1, variant="x", outcome="trains"))
    t = lambda std, bn: pd.DataFrame([dict(seed=0, variant=v, lr=lr, outcome="trains" if lr <= edge else "fails")  # noqa: E731
                                      for v, edge in (("standard", std), ("bn", bn))
                                      for lr in (0.1, 0.2, 0.5, 1.0, 2.0)])
    assert figs.largest_training_lrs(t(0.2, 0.5))["holds"].item()
    assert not figs.largest_training_lrs(t(0.5, 0.5))["holds"].item()
    assert not figs.largest_training_lrs(t(0.5, 0.0))["holds"].item()       # BN never trains
    assert figs.largest_training_lrs(t(0.0, 0.1))["holds"].item()          # standard never trains
    assert figs.largest_training_lrs(t(1.0, 2.0))["holds"].item()          # at the grid's top
    # BN no better than standard in every seed: fail; 9 of 10 still passes; 5 of 5 is too few
    same, ep = _lr_tables({"standard": [97, 95, 94, None, None], "bn": [98, 98, 97, None, None]})
    assert figs.bn_lr_claim(figs.largest_training_lrs(figs.run_outcomes(ep, same)),
                            figs.run_outcomes(ep, same)).verdict == "fail"
    nine = largest.assign(holds=[False] + [True] * 9)
    assert figs.bn_lr_claim(nine, figs.run_outcomes(ep, runs)).verdict == "pass"
    assert figs.bn_lr_claim(largest.head(5), figs.run_outcomes(ep, runs)).verdict == "inconclusive"


def test_drifts():
    stats = pd.DataFrame(
        [dict(run="a", layer=1, unit=0, step=t, mean=0.0, std=1.0) for t in range(4)]      # still
        + [dict(run="a", layer=1, unit=1, step=t, mean=m, std=2.0) for t, m in enumerate([0, 2, 0, 2])]
        + [dict(run="b", layer=1, unit=0, step=t, mean=0.0, std=s) for t, s in enumerate([1, np.e, 1, np.e])]
        + [dict(run="c", layer=1, unit=0, step=t, mean=1.0, std=1.0) for t in range(2)])   # too few
    d = figs.drifts(stats).set_index("run")
    sd = np.std([0, 2, 0, 2], ddof=1)
    assert d.loc["a", "mean_drift"] == pytest.approx((0 + sd / 2) / 2)
    assert d.loc["a", "var_drift"] == pytest.approx(0)
    assert d.loc["b", "var_drift"] == pytest.approx(np.std([0, 2, 0, 2], ddof=1))
    assert math.isnan(d.loc["c", "mean_drift"])


def test_drift_ratio_and_accuracy_units_replace_swept_columns():
    drift = pd.DataFrame([dict(run=f"{v}_0.1_{s}", layer=l, mean_drift=d * l, var_drift=1.0,
                               variant="stale", seed=99)   # columns Results.table adds
                          for s in (0, 1) for v, d in (("bn", 0.01), ("noisy_bn", 0.05)) for l in (1, 2)])
    r = figs.drift_ratio_units(drift, RUNS, "noisy_bn", "bn")
    assert list(r.index) == [0, 1] and np.allclose(r, 5.0)


def _accuracy_table(curves: dict, seeds=range(5), lr=0.1, test=None):
    """Epoch rows per seed: train_acc from ``curves`` (variant -> list over epochs, points) plus
    0.2 · seed; test_acc from ``test`` (same shape) when given."""
    return pd.DataFrame([dict(run=f"{v}_{lr}_{s}", epoch=e + 1, train_acc=(c[e] + 0.2 * s) / 100,
                              test_acc=((test or curves)[v][e] + 0.2 * s) / 100)
                         for s in seeds for v, c in curves.items() for e in range(len(c))])


def test_final_accuracy_claim_tests_the_end_of_training():
    """Noisy BN learns more slowly but ends where BN ends, above standard: the old statistic
    (test accuracy averaged over epochs) fails "close"; the final training accuracy passes."""
    runs = pd.DataFrame([dict(run=f"{v}_0.1_{s}", status="ok", seed=s, variant=v, lr=0.1)
                         for s in range(5) for v in ("standard", "bn", "noisy_bn")])
    train = {"standard": [50, 80, 95], "bn": [90, 99, 99.5], "noisy_bn": [60, 90, 99.4]}
    test = {"standard": [50, 78, 90], "bn": [88, 95, 96], "noisy_bn": [60, 85, 95.5]}
    epochs = _accuracy_table(train, test=test)
    old_mean = with_variant(epochs, runs).groupby(["seed", "variant"])["test_acc"].mean().unstack() * 100
    old = figs.less("H-noisy-accuracy", "", math.nan, figs.CLOSE,
                    units=(old_mean["bn"] - old_mean["noisy_bn"]).abs().tolist())
    assert old.verdict == "fail"                            # ~12.8 points apart on average
    u = figs.final_accuracy_units(epochs, runs)
    assert np.allclose(u["gap"], 0.1) and np.allclose(u["above"], 4.4)
    premise = figs.greater("H-noisy-activations", "", math.nan, 2.0, units=[10, 11, 12, 10, 11])
    c = figs.noisy_accuracy_claim(u, premise)
    assert c.verdict == "pass" and c.n == 5 and c.value == pytest.approx(0.1)
    # the same accuracies without the premise (the noise left the distributions stable): void
    stable = figs.greater("H-noisy-activations", "", math.nan, 2.0, units=[1.0, 1.1, 0.9, 1.2, 1.0])
    void = figs.noisy_accuracy_claim(u, stable)
    assert void.verdict == "inconclusive" and "premise" in void.finding
    # noisy BN far below BN at the end: fail; a diverged standard run counts as chance
    far = _accuracy_table({"standard": [50, 60], "bn": [90, 99], "noisy_bn": [60, 80]})
    runs2 = runs.copy()
    runs2.loc[runs2["variant"] == "standard", "status"] = "diverged"
    u2 = figs.final_accuracy_units(far, runs2)
    assert np.allclose(u2["standard"], figs.CHANCE) and np.allclose(u2["gap"], 19)
    assert figs.noisy_accuracy_claim(u2, premise).verdict == "fail"
    # four seeds are too few
    assert figs.noisy_accuracy_claim(u[u["seed"] < 4], premise).verdict == "inconclusive"


def _runs5(seeds=range(5)):
    return pd.DataFrame([dict(run=f"{v}_0.1_{s}", status="ok", seed=s, variant=v, lr=0.1)
                         for s in seeds for v in ("standard", "bn", "noisy_bn")])


def _drift(noisy_over_bn: list[float], seeds=range(5)):
    """Per run and layer (2 layers): BN's mean drift 0.01, standard's 0.05, noisy BN's
    0.01 × noisy_over_bn[seed]."""
    return pd.DataFrame([dict(run=f"{v}_0.1_{s}", layer=l, var_drift=0.1,
                              mean_drift={"standard": 0.05, "bn": 0.01,
                                          "noisy_bn": 0.01 * noisy_over_bn[s]}[v])
                         for s in seeds for v in ("standard", "bn", "noisy_bn") for l in (1, 2)])


def _stats(runs, records=4):
    return pd.DataFrame([dict(run=r, layer=1, unit=0, step=t) for r in runs["run"] for t in range(records)])


def test_noisy_activations_claim_passes_fails_and_needs_five_seeds():
    runs = _runs5()
    info = FIGURE_INFO["H-noisy-activations"]
    good = figs.noisy_activations_claim(_drift([5, 6, 5.5, 7, 6]), _stats(runs), runs, power=1.0)
    assert good.verdict == "pass" and good.n == 5 and good.value == pytest.approx(5.9)
    assert good.test == info.test and good.threshold == info.threshold == figs.DRIFT_FACTOR
    assert good.note.endswith("; 4 records per run (a drift needs 3)")
    assert "per-layer SNR 1 " in good.finding
    assert figs.noisy_activations_claim(_drift([1.0, 1.1, 0.9, 1.2, 1.0]), _stats(runs), runs).verdict == "fail"
    few = _runs5(range(3))
    assert figs.noisy_activations_claim(_drift([5, 6, 5.5], range(3)), _stats(few), few).verdict == "inconclusive"


def test_activations_claim_is_a_reference_with_standard_over_bn():
    runs = _runs5()
    c = figs.activations_claim(_drift([5] * 5), runs)
    assert c.verdict == "reference" and c.value == pytest.approx(5.0) and math.isnan(c.threshold)
    assert c.test == FIGURE_INFO["H-activations"].test and FIGURE_INFO["H-activations"].threshold is None
    assert "L1 0.050/0.100" in c.finding and "L2 0.010/0.100" in c.finding


def test_a_failed_noisy_accuracy_with_its_premise_is_read_as_our_setup():
    runs = _runs5()
    far = _accuracy_table({"standard": [50, 60], "bn": [90, 99], "noisy_bn": [60, 80]})
    u = figs.final_accuracy_units(far, runs)
    premise = figs.greater("H-noisy-activations", "", math.nan, 2.0, units=[10, 11, 12, 10, 11])
    c = figs.noisy_accuracy_claim(u, premise, power=1.0, layers=3)
    assert c.verdict == "fail" and "Read as our setup failing" in c.finding and "after 3 noisy layers" in c.finding
    assert c.test == FIGURE_INFO["H-noisy-accuracy"].test and c.threshold == figs.CLOSE == 2.0
    assert "Read as our setup" not in figs.noisy_accuracy_claim(u, premise).finding


def test_noisy_bn_not_above_a_standard_net_at_the_ceiling_is_read_as_no_room():
    """Close passes, above fails: the standard net trains as well as BN, not the noise scale."""
    runs = _runs5()
    top = _accuracy_table({"standard": [98, 99.6], "bn": [98.5, 99.7], "noisy_bn": [97, 99.2]})
    premise = figs.greater("H-noisy-activations", "", math.nan, 2.0, units=[10, 11, 12, 10, 11])
    c = figs.noisy_accuracy_claim(figs.final_accuracy_units(top, runs), premise, power=1.0, layers=3)
    assert c.verdict == "fail" and "has no room" in c.finding and "noise scale" not in c.finding
    assert "standard 100, BN 100" in c.finding     # the means at the failing lr, 3 digits


def with_variant(epochs, runs):
    return epochs.merge(runs, on="run")


def test_shown_lr_is_the_smallest_lr_with_every_variant():
    runs = pd.concat([RUNS, pd.DataFrame([dict(run="s", status="ok", seed=0, variant="standard",
                                                lr=0.01)])])
    assert figs._shown_lr(runs) == 0.1


# ---------------------------------------------------------------- end to end
TINY_H = tiny("H")                  # also the resume test's


def test_end_to_end(tmp_path, env):
    res = run_sweep("H", TINY_H, tmp_path / "runs", env)
    stats = res.table("activation_stats")
    one = stats[stats["run"] == "seed~0_variant~bn_optimizer.lr~0.1"]
    assert len(one) == 4 * 3 * 3                         # epochs × layers × tracked units
    first = one[one["epoch"] == 1]                         # step 0: BN's output with γ = 1, β = 0
    assert np.allclose(first["mean"], 0, atol=1e-5) and np.allclose(first["std"], 1, atol=0.01)
    steps = res.table("steps")
    assert (steps.groupby("run").size() <= 4 * (1347 // 64)).all()   # the short batch is dropped
    ep = res.table("epochs")
    assert set(ep.columns) >= {"epoch", "train_loss", "batch_acc", "train_acc", "train_nll",
                               "test_acc", "test_nll", "variant", "seed"}
    assert ep["train_acc"].between(0, 1).all() and ep["batch_acc"].between(0, 1).all()
    claims = render("H", res, tmp_path / "fig", "test")
    assert list(claims["figure_id"]) == FIGURES["H"]
    for fid in FIGURES["H"]:
        assert (tmp_path / "fig" / f"{fid}.png").stat().st_size > 10_000, fid
    v = claims.set_index("figure_id")["verdict"]
    assert v["H-activations"] == "reference"
    assert v["H-noisy-activations"] == "pass"              # the noise moves the distributions
    n = claims.set_index("figure_id")["n"]
    assert n["H-bn-lr"] == 5 and n["H-noisy-accuracy"] == 5 and n["H-noisy-activations"] == 5
