"""The paper profile's budget on one H100: every family's runs, steps, FLOPs and aten ops, and a
projection of one GPU's time per family, today (separate runs, one job at a time) and stacked
(K runs of one shape trained as one model, issue 25).

    python benchmarks/bench_paper_budget.py [--config configs/paper.yaml] [--max-stack 128]
    python benchmarks/bench_paper_budget.py --device cuda      # on a GPU: measured ms per step

What it counts (from the config through nnrepro.config.load / validate / family_runs, every
family's filled settings, and what each families/<x>/experiment.py trains):
  runs, duplicate runs (identical filled settings, e.g. A's T = 1 ≡ γ = 1/none), trainings
  (nets, parts, rounds, chains, members), minibatch steps per training and in total, FLOPs per
  step, evaluations (forward passes over a data set) and their FLOPs.

FLOPs per step (fp32 unless said): an MLP (or linear layers) with weight matrices W_l at batch B:
  forward 2·B·ΣW_l, backward 2·B·ΣW_l (weight gradients) + 2·B·Σ_{l≥2}W_l (input gradients; the
  first layer's is not needed) = 6·B·ΣW − 2·B·W_1 (CIFAR MLP 3072-256-128-10 at 128: 0.43 GFLOP).
  VGG-style CNN on C×H×W images: forward per image Σ_conv 2·9·C_in·C_out·H_l·W_l (+ the final
  Linear), fwd+bwd ≈ 3× forward, less the first conv's input gradient (VGG11 on 32×32: 0.31
  GFLOP forward per image, 0.117 TFLOP per step of 128). An evaluation: forward only, 2·n·ΣW.

Measured here (tiny tensors, one CPU thread; a stand-in for the launch-bound GPU regime): aten
ops per step of each step kind the GPU families run, through the project's own code (SGHMCChain
with A's diagnostics and record callback, nnrepro.optimizers Adam / SGD, recipes.SWA, PathSGD, G's
stacked width Ensemble, landscape.fit_bezier, H's VGG step with its record and finiteness check,
J's pruned net and its evaluation), counted with a TorchDispatchMode that tallies `func`; ops per
step are the difference between an epoch of 60 and of 20 minibatches, over 40 (per-epoch work
cancels). Also counted: host syncs (aten._local_scalar_dense: .item(), bool()) and the traffic of
parameter-sized tensors per step in units of the parameter vector ("passes").

Cost model (one H100 SXM5, eager PyTorch, one job at a time), per step:
    t = max(ops · t_op, FLOPs / R, passes · P · bytes / BW) + syncs · t_sync
  t_op   = the host µs per op measured here (CPU time of the tiny steps / their ops, the median
           over the step kinds, VGG left out as its tiny step still computes) + LAUNCH_US (a CUDA
           kernel launch on the host, ≈ 2–3 µs for cudaLaunchKernel; 2.5 assumed). This CPU is
           shared (load 5–30): the median moved between 4.7 and 6.4 µs over four runs (per
           kind 2.8–10), likely above a dedicated H100 host's dispatch cost.
  R      = SUSTAINED × peak: H100 SXM5 datasheet peaks FP32 67 TFLOP/s (TF32 off, as the
           determinism work pins matmul and cuDNN precision; TF32 tensor core 494.7 TFLOP/s for
           H's VGG where the config says ``tf32: true``), FP64 tensor core 67 TFLOP/s
           (family I is float64); SUSTAINED = 0.5 assumed for cuBLAS / cuDNN at these sizes.
  BW     = 0.8 × 3.35 TB/s HBM3 (datasheet; 0.8 assumed): elementwise optimizer / sampler
           traffic over P parameters (passes measured as above; activations are left to R).
  t_sync = SYNC_US = 10 µs: a host sync (a stream drain and a 4-byte copy), assumed.
  Evaluations: max(EVAL_OPS · t_op, FLOPs / R) + EVAL_SYNCS · t_sync each (EVAL_OPS = 60 ops and
  EVAL_SYNCS = 5 assumed: nnrepro.metrics.evaluate's .item() calls; J's are measured).
Stacked (K runs of one shape as one model; FLOPs and bytes per run-step unchanged): ops per
run-step from benchmarks/stacked.csv (bench_stacked.py: the row of the family at the largest
k ≤ K, scaled as ops·k/K, stacked ops being nearly independent of K) when it has one, else the
issue's probe (A's SGHMC step: 14 ops per run-step at K = 32, i.e. 448 per stacked step, instead
of 277), else the probe's ratio applied to the kind (a stacked step ≈ 448/277 = 1.62 × the
separate step's ops, shared by K runs). A stacked step's syncs are shared by its K runs.
Stacked + graphs (what it would take, not built): the stacked step captured in a CUDA graph (or
torch.compile's reduce-overhead mode): t_op = GRAPH_US_PER_OP = 1 µs (no host dispatch; the GPU's
gap between kernels, assumed), no host syncs (J's evaluations and H's finiteness check stay on
the device); FLOPs and bytes unchanged.
K = the distinct runs (or nets) of one shape, at most --max-stack; rounds that depend on each
other (J's pruning rounds) do not stack.
CPU-only families (C, D, E, K; catalogue.Family.gpu False) are projected on the host CPU from
their MNIST-profile job times scaled to the paper settings (stated in CPU_ESTIMATES); they run
beside the GPU jobs on the host's cores. G's index_energy (float64 Levenberg–Marquardt steps, all
starts batched) runs on the device: a step kind like the others (its ops measured here, its
FLOPs at the FP64 rate, its traffic the starts' Hessians); the note gives one host thread's time
from a step measured here, for comparison.

Prints a table; writes benchmarks/paper_budget.csv (family, runs, duplicate_runs, steps,
flops_per_step, ops_per_step, device, case, projected_min; cases today, stacked,
stacked_graphs) and benchmarks/paper_budget_families.csv (one row per family, stage and case,
every input, the measured step kinds' ops, syncs, parameter passes and host µs per op).
With --device cuda it times each step kind on the GPU at paper size instead (ms per step) and
writes the same files with a measured_min column; that path has not been run yet.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from nnrepro import catalogue
from nnrepro.config import family_runs, load, validate

HERE = Path(__file__).parent
ROOT = HERE.parent

# --- cost-model constants (sources in the module docstring) ---------------------------------
LAUNCH_US = 2.5            # CUDA kernel launch on the host, µs (typical cudaLaunchKernel)
SYNC_US = 10.0             # one host sync, µs (assumed)
PEAK_FP32 = 67e12          # H100 SXM5 FP32 (non-tensor) FLOP/s; TF32 off
PEAK_TF32 = 494.7e12       # H100 SXM5 TF32 tensor core, dense (for the TF32-on variant)
PEAK_FP64 = 67e12          # H100 SXM5 FP64 tensor core FLOP/s
SUSTAINED = 0.5            # fraction of peak cuBLAS / cuDNN sustain at these sizes (assumed)
HBM = 0.8 * 3.35e12        # bytes/s sustained of the H100 SXM5's 3.35 TB/s HBM3
EVAL_OPS, EVAL_SYNCS = 60, 5   # per evaluation (forward over a set, metrics), assumed
PROBE_A_STACKED = 14 * 32  # issue 25's probe: ops per stacked step of A's SGHMC (14 per run-step at K = 32)
PROBE_A_SEPARATE = 277     # the same probe's separate step
TARGET_MIN = 30.0
GRAPH_US_PER_OP = 1.0   # a kernel inside a replayed CUDA graph: no host dispatch, ≈ 1 µs launch gap (assumed)
JOB_OVERHEAD_MIN = 1.0  # a job's start-up, data load and table writing, assumed
RUNTIME_MARGIN = 3.0     # runtime in configs/paper.yaml = ceil(margin × projected job), <= 4×

SIZES = {"digits": (1347, 450, 64), "mnist": (60000, 10000, 784),
         "fashion_mnist": (60000, 10000, 784), "cifar10": (50000, 10000, 3072)}
IMAGES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32), "digits": (1, 8, 8)}

# CPU-only families: the paper settings' host CPU minutes, scaled from the MNIST profile's
# measured job times (configs/mnist.yaml comments, 2-core CPU under contention) by the paper
# profile's step counts. Estimates, not measurements.
CPU_ESTIMATES = {
    "C": (3.0, "MNIST profile 106 CPU-s (16 clipping runs × 2 epochs + init); paper: 10 runs × 5 "
               "epochs, init width 256 / batch 5000: ≈ 1.6× clipping + 4× init ≈ 190 s"),
    "D": (3.0, "MNIST (= quick) settings 36 CPU-s for ≈ 25 k Python-loop steps; paper ≈ 130 k "
               "steps (Adam 101 k, adaptive 10 k, schedule 10 k, Rosenbrock 5 k): ≈ 5×"),
    "E": (3.0, "quick settings 38 CPU-s; paper: 1 M separable GD steps (two numpy loops, "
               "≈ 15 µs a step) + 10 k MLP steps + 2 k L-BFGS: ≈ 40 + 60 + 40 s"),
    "K": (4.0, "MNIST profile 36 CPU-s (widths ≤ 4096, 10 trials, 1000 steps); paper: 5000 "
               "steps, widths to 65536 (NTK by jacrev at 2^16: ≈ 3× a width): ≈ 6–7×"),
}


# --- counting ------------------------------------------------------------------------------

class Tally(TorchDispatchMode):
    """aten ops (by func), host syncs, and the elements of parameter-sized tensors touched."""

    def __init__(self, param_numels=()):
        super().__init__()
        self.ops, self.syncs, self.param_elems = Counter(), 0, 0
        self.numels = set(param_numels)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[func] += 1
        if func is torch.ops.aten._local_scalar_dense.default:
            self.syncs += 1
        out = func(*args, **(kwargs or {}))
        if getattr(func, "is_view", False):                     # t(), view, detach: no traffic
            return out
        for t in [*args, *(kwargs or {}).values(), *(out if isinstance(out, (tuple, list)) else [out])]:
            if isinstance(t, torch.Tensor) and t.numel() in self.numels:
                self.param_elems += t.numel()
        return out


@dataclass
class Kind:
    """A step kind: ``epoch(n_batches)`` runs that many steps; ``params`` its parameters."""
    name: str
    used_by: str
    epoch: object
    params: list
    per_step: dict = field(default_factory=dict)


def measure(kind: Kind, lo: int = 20, hi: int = 60, repeats: int = 7) -> dict:
    """ops, syncs, parameter passes and host µs per step: (epoch of hi − epoch of lo)/(hi − lo)."""
    numels = {p.numel() for p in kind.params}
    total = sum(numels_ for numels_ in (p.numel() for p in kind.params))
    kind.epoch(lo)                                              # warm-up: state, caches
    counts = {}
    for n in (lo, hi):
        with Tally(numels) as t:
            kind.epoch(n)
        counts[n] = t
    times = {}
    for n in (lo, hi):
        best = math.inf
        for _ in range(repeats):
            t0 = time.process_time()               # CPU time: this machine is shared
            kind.epoch(n)
            best = min(best, time.process_time() - t0)
        times[n] = best
    d = hi - lo
    ops = (sum(counts[hi].ops.values()) - sum(counts[lo].ops.values())) / d
    host_us = (times[hi] - times[lo]) / d * 1e6
    top = (counts[hi].ops - counts[lo].ops).most_common(6)
    return {"kind": kind.name, "used_by": kind.used_by, "ops_per_step": ops,
            "syncs_per_step": (counts[hi].syncs - counts[lo].syncs) / d,
            "param_passes": (counts[hi].param_elems - counts[lo].param_elems) / d / total,
            "host_us_per_step": host_us, "host_us_per_op": host_us / ops,
            "top_ops": "; ".join(f"{str(f).replace('aten.', '')} {c / d:g}" for f, c in top)}


def step_kinds(device: str = "cpu", paper: dict | None = None) -> list[Kind]:
    """The step kinds of the GPU families, built with the project's code. Tiny sizes by default
    (d = 20 inputs, hidden (12, 7), 10 classes, batch 6: parameter and activation sizes differ,
    so parameter traffic can be told apart); ``paper`` = {kind: (d, hidden, batch)} for the GPU."""
    from nnrepro import landscape, models, optimizers
    from nnrepro.families.g.experiment import Ensemble, ensemble_loss
    from nnrepro.families.h.experiment import build as build_h
    from nnrepro.families.j.experiment import prunable, scores
    from nnrepro.pathsgd import PathSGD, linear_layers
    from nnrepro.recipes import SWA, SGHMCChain
    from nnrepro.training import generator, train_epoch

    dev = torch.device(device)
    paper = paper or {}
    kinds = []

    def data(name, d, batch, n_batches=60, dtype=torch.float32, classes=10, target=None):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n_batches * batch, d, generator=g, dtype=dtype).to(dev)
        y = torch.randint(0, classes, (len(x),), generator=g).to(dev)
        return x, (x if target == "x" else y)

    def sized(name, d, hidden, batch):
        return paper.get(name, (d, hidden, batch))

    # A: SGHMC with its diagnostics, record every 10th step as families/a/experiment.py does
    d, hidden, batch = sized("sghmc_A", 20, (12, 7), 6)
    x, y = data("a", d, batch)
    gen = generator(0, dev)
    model = models.MLP(d, hidden, 10).to(dev)
    sc = {"name": "sghmc", "lr": 5e-4, "friction": 200.0, "mass": 1.0, "temperature": 1.0,
          "gamma": 1.0, "alpha": 1.0, "scale_lr": False, "prior_scale": 1.0, "schedule": "constant",
          "cycle_epochs": 10, "burnin_cycles": 2, "resample": "none"}
    chain_a = SGHMCChain(model, sc, gen, 60)
    state = {"path": 0.0, "t": 0.0}

    def epoch_a(n, chain=chain_a, x=x, y=y, batch=batch, gen=gen):
        kept, head, diag = [], [], []

        def record(i, out, yb, U):
            opt = chain.sampler
            eps = opt.param_groups[0]["lr"]
            dd = opt.diagnostics
            state["path"] = state["path"] + dd["step_length"]
            state["t"] += eps
            if i % 10 == 0:
                kept.append(i)
                head.append([i, 1, eps, state["t"]])
                diag.append(torch.stack([dd[c] for c in ("norm2", "theta_r", "thetar_rate",
                                                         "dnorm2_dt", "r_norm2",
                                                         "kinetic_temperature", "step_length")]))
        U, nll = chain.epoch(x[:n * batch], y[:n * batch], batch, gen, record)
        return U[kept], nll[kept], torch.stack(diag)
    kinds.append(Kind("sghmc_A", "A (every step), L's chains", epoch_a, list(model.parameters())))

    # L's SGHMC chains: the same sampler, no record callback
    d, hidden, batch = sized("sghmc_L", 20, (12, 7), 6)
    x, y = data("l", d, batch)
    gen = generator(0, dev)
    model = models.MLP(d, hidden, 10).to(dev)
    chain_l = SGHMCChain(model, sc, gen, 60)
    kinds.append(Kind("sghmc_L", "L (sghmc stage)",
                      lambda n, x=x, y=y, b=batch, g=gen: chain_l.epoch(x[:n * b], y[:n * b], b, g),
                      list(model.parameters())))

    def plain(name, used_by, opt_cfg, dropout=0.0, dtype=torch.float32, target=None, bias=True,
              opt_fn=None, d=20, hidden=(12, 7), out_dim=10, loss_fn=nn.functional.cross_entropy):
        d, hidden, batch = sized(name, d, hidden, 6)
        x, y = data(name, d, batch, dtype=dtype, target=target)
        gen = generator(0, dev)
        model = models.MLP(d, hidden, d if target == "x" else out_dim, dropout=dropout,
                           bias=bias).to(dev, dtype)
        opt = opt_fn(model) if opt_fn else optimizers.build(model.parameters(), opt_cfg)
        kinds.append(Kind(name, used_by, lambda n: train_epoch(model, opt, x[:n * batch],
                                                              y[:n * batch], batch, gen,
                                                              loss_fn=loss_fn),
                          list(model.parameters())))

    plain("adam_mlp", "B, L (members), G (paths nets)", {"name": "adam", "lr": 1e-3})
    plain("adam_mlp_dropout", "F (mc), L (dropout net)", {"name": "adam", "lr": 1e-3}, dropout=0.5)
    plain("adam_autoencoder", "F (autoencoder, regression)", {"name": "adam", "lr": 1e-3},
          dropout=0.5, hidden=(12,), target="x", loss_fn=nn.functional.mse_loss)
    plain("sgd_mlp_f64", "I (SGD nets)", {"name": "sgd", "lr": 0.05}, dtype=torch.float64, bias=False)
    plain("pathsgd_mlp_f64", "I (Path-SGD nets)", None, dtype=torch.float64, bias=False,
          opt_fn=lambda m: PathSGD([l.weight for l in linear_layers(m)], lr=1e-4))

    # B's and L's SWA phase: SGD with momentum and the cyclic lr, through recipes.SWA
    d, hidden, batch = sized("swa_sgd_mlp", 20, (12, 7), 6)
    x, y = data("swa", d, batch)
    gen = generator(0, dev)
    model = models.MLP(d, hidden, 10).to(dev)
    swa = SWA(model, {"optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}, "schedule": "cyclic",
                      "cycle_epochs": 1, "min_lr_ratio": 0.05}, 60, 5, dev)
    kinds.append(Kind("swa_sgd_mlp", "B, L (SWA phase)",
                      lambda n: swa.epoch(x[:n * batch], y[:n * batch], batch, gen),
                      list(swa.net.parameters())))

    # J: LeNet-shaped net with pruning masks, Adam, the evaluate-every counter (no evaluation)
    d, hidden, batch = sized("adam_pruned_J", 20, (12, 7), 6)
    x, y = data("j", d, batch)
    gen = generator(0, dev)
    jmodel = prunable(models.MLP(d, hidden, 10).to(dev))
    jopt = optimizers.build(jmodel.parameters(), {"name": "adam", "lr": 1.2e-3})
    it = [0]

    def count(i, out, yb, loss):
        it[0] += 1
    kinds.append(Kind("adam_pruned_J", "J (every training)",
                      lambda n: train_epoch(jmodel, jopt, x[:n * batch], y[:n * batch], batch, gen,
                                            record=count), list(jmodel.parameters())))
    # J's evaluation (validation + test scores), one per "step" of this kind
    from types import SimpleNamespace
    xv, yv = data("jv", d, 5000 if paper else 50, n_batches=1)      # paper: 5,000 / 10,000
    xt, yt = data("jt", d, 10000 if paper else 100, n_batches=1)
    dj = SimpleNamespace(x_val=xv, y_val=yv, x_test=xt, y_test=yt)
    kinds.append(Kind("eval_J", "J (every record_every iterations)",
                      lambda n: [scores(jmodel, dj) for _ in range(n)], list(jmodel.parameters())))

    # G width: the stacked Ensemble (T trials of one width as one model), SGD momentum
    T, H, batch, d = paper.get("sgd_ensemble_G", (4, 11, 6, 20))       # trials, width, batch, inputs
    x, y = data("g", d, batch)
    gen = generator(0, dev)
    ens = Ensemble(d, H, 10, [torch.Generator().manual_seed(t) for t in range(T)]).to(dev)
    eopt = optimizers.build(ens.parameters(), {"name": "sgd", "lr": 0.05, "momentum": 0.9})

    def epoch_g(n):
        perms = torch.stack([torch.randperm(n * batch, generator=gen, device=dev) for _ in range(T)])
        return train_epoch(ens, eopt, x[:n * batch], y[:n * batch], batch, gen,
                           batches=perms.split(batch, dim=1),
                           loss_fn=lambda out, target: ensemble_loss(out, target).sum())
    kinds.append(Kind("sgd_ensemble_G", "G (width, T trials per step)", epoch_g, list(ens.parameters())))

    # G paths: the Bézier curve's training step (landscape.fit_bezier, Adam)
    d, hidden, batch = sized("bezier_G", 20, (12, 7), 6)
    x, y = data("bz", d, batch)
    gen = generator(0, dev)
    bmodel = models.MLP(d, hidden, 10).to(dev)
    w0 = torch.nn.utils.parameters_to_vector(bmodel.parameters()).detach()
    w1 = w0 + 0.1
    kinds.append(Kind("bezier_G", "G (paths: Bézier curve)",
                      lambda n: landscape.fit_bezier(bmodel, w0, w1, x[:n * batch], y[:n * batch], 1,
                                                     batch, 0.01, gen, optimizer="adam"),
                      [w0]))

    # G index_energy: one batched Levenberg–Marquardt step over S starts (vmap'd grad and
    # hessian, H², a batched solve), float64; "params": the S Hessians (the step's big tensors)
    from nnrepro.families.g.experiment import newton_critical_points, tanh_net_loss
    nn_, S, N = paper.get("newton_G", (3, 5, 8))                      # n, starts, points
    nloss, P = tanh_net_loss(nn_, 0.01)
    ng = torch.Generator().manual_seed(0)
    XG, YG = (torch.randn(S, N, nn_, generator=ng, dtype=torch.float64).to(dev) for _ in range(2))
    thG = (torch.randn(S, P, generator=ng, dtype=torch.float64) / math.sqrt(nn_)).to(dev)
    kinds.append(Kind("newton_G", "G (index_energy, S starts per step)",
                      lambda n: newton_critical_points(nloss, thG, n, XG, YG),
                      [torch.empty(S, P, P, dtype=torch.float64, device="meta")]))

    # H: VGG-style CNN (VGG11's 8 convs and 5 pools, tiny channels), SGD, H's record and
    # drop_last / stop_if_nonfinite (one finiteness check, a host sync, per step)
    chans = paper.get("sgd_vgg_H", (None, [4, "M", 4, "M", 4, 4, "M", 4, 4, "M", 4, 4, "M"], 2))[1]
    hbatch = paper.get("sgd_vgg_H", (None, None, 2))[2]
    for variant in ("standard", "bn", "noisy_bn"):
        s = {"model": {"arch": "cnn", "channels": chans, "activation": "relu", "init": "default",
                       "gain": 1.0}, "variant": variant, "dataset": "cifar10",
             "noise": {"mean": 0.84, "std_min": 0.42, "std_max": 1.26,
                       "scale": "end_to_end"}}
        ds = SimpleNamespace(n_classes=10)
        gen = generator(0, dev)
        net = build_h(s, ds, torch.Generator(device=dev).manual_seed(1)).to(dev)
        hopt = optimizers.build(net.parameters(), {"name": "sgd", "lr": 0.1})
        xh, yh = data("h", 3 * 32 * 32, hbatch)
        hits = []

        def hit(i, logits, yb, loss):
            hits.append((logits.argmax(1) == yb).float().mean())

        kinds.append(Kind(f"sgd_vgg_H_{variant}", f"H ({variant})",
                          lambda n, net=net, opt=hopt, gen=gen, xh=xh, yh=yh, b=hbatch:
                          train_epoch(net, opt, xh[:n * b], yh[:n * b], b, gen, record=hit,
                                      drop_last=True, stop_if_nonfinite=True),
                          list(net.parameters())))
    return kinds


# --- the paper profile's work --------------------------------------------------------------

def mlp_layers(d: int, hidden, k: int) -> list[int]:
    widths = [d, *hidden, k]
    return [a * b for a, b in zip(widths[:-1], widths[1:])]


def mlp_step_flops(layers: list[int], batch: int) -> float:
    """6·B·ΣW − 2·B·W₁: forward, weight gradients, input gradients of all but the first layer."""
    return 6 * batch * sum(layers) - 2 * batch * layers[0]


def vgg_forward_flops(image, channels, k: int = 10) -> tuple[float, float, float]:
    """(forward FLOPs per image, the first conv's share, weights) of models.CNN."""
    c, h, w = image
    total, first, weights = 0.0, None, 0
    for v in channels:
        if v == "M":
            h, w = h // 2, w // 2
            continue
        f = 2 * 9 * c * v * h * w
        first = f if first is None else first
        total += f
        weights += 9 * c * v
        c = v
    total += 2 * c * h * w * k
    return total, first, weights + c * h * w * k


@dataclass
class Stage:
    family: str
    stage: str
    kind: str                # a step kind of step_kinds(), or "cpu"
    trainings: int           # separate trainings (runs × nets) today
    distinct: int            # trainings after dropping duplicate runs
    steps: int               # minibatch steps per training
    flops: float             # FLOPs per step
    params: int              # parameters of one training's model (for the traffic term)
    stack: int = 1           # K: trainings of one shape that can train as one model
    evals: int = 0           # evaluations per training
    eval_flops: float = 0.0  # FLOPs per evaluation
    fp64: bool = False
    note: str = ""
    cpu_min: float = 0.0     # for kind "cpu": projected host minutes
    group: str = "all"       # the jobs this stage's work belongs to (a part, a variant, all runs)
    jobs: int = 0            # how many jobs (runs) share the group's work today (0: every run)


def settings_of(config: dict, fam: str) -> dict[str, dict]:
    """The family's runs' filled settings, by run id (nnrepro.config.family_runs)."""
    return {rid: r.settings for rid, r in family_runs(config, fam).items()}


def h_tf32(config: dict) -> bool:
    """Whether the config's H runs use TF32 (``tf32: true``): H's VGG kinds are projected and
    timed at that precision."""
    return "H" in config["run"] and any(r.get("tf32") for r in settings_of(config, "H").values())


def distinct_count(runs: dict) -> int:
    """Distinct trainings among ``runs`` (id → filled settings): identical settings train once."""
    return len({json.dumps(s, sort_keys=True, default=str) for s in runs.values()})


def family_stages(config: dict, fam: str, max_stack: int, g_newton_s: float | None) -> list[Stage]:
    runs = settings_of(config, fam)
    n_runs, n_distinct = len(runs), distinct_count(runs)
    specs = list(runs.values())
    s = specs[0]
    out = []
    if not catalogue.FAMILIES[fam].gpu:                      # CPU-only: a stated estimate
        minutes, why = CPU_ESTIMATES.get(fam, (math.nan, "no estimate"))
        return [Stage(fam, "all (CPU)", "cpu", n_runs, n_distinct, 0, 0, 0, note=why, cpu_min=minutes)]
    n, n_test, d = SIZES[s.get("dataset", "digits")]
    spe = lambda b, m=n: -(-m // b)
    cap = lambda k: max(1, min(k, max_stack))
    if fam == "A":
        L = mlp_layers(d, s["model"]["hidden"], 10)
        steps = s["epochs"] * spe(s["batch_size"])
        out.append(Stage(fam, "SGHMC chain", "sghmc_A", n_runs, n_distinct, steps,
                         mlp_step_flops(L, s["batch_size"]), sum(L), cap(n_distinct),
                         evals=s["epochs"], eval_flops=2 * sum(L) * (n + n_test),
                         note="per epoch: test and train-set predictions"))
    elif fam == "B":
        L = mlp_layers(d, s["model"]["hidden"], 10)
        b, E, Es = s["batch_size"], s["epochs"], s["swa"]["epochs"]
        f = mlp_step_flops(L, b)
        lc = s["landscape"]
        end = (2 * s["swag"]["samples"] * n_test + lc["plane_points"] ** 2 * n_test
               + lc["directions"] * 2 * lc["distances"] * (n_test + min(n, 10_000)))
        out.append(Stage(fam, "Adam (base, then on beside SWA)", "adam_mlp", n_runs, n_distinct,
                         (E + Es) * spe(b), f, sum(L), cap(n_distinct), evals=E + Es,
                         eval_flops=2 * sum(L) * (n + n_test)))
        out.append(Stage(fam, "SWA phase (SGD, cyclic lr)", "swa_sgd_mlp", n_runs, n_distinct,
                         Es * spe(b), f, sum(L), cap(n_distinct), evals=2 * Es + 1,
                         eval_flops=2 * sum(L) * (n + n_test) + 2 * sum(L) * end / (2 * Es + 1),
                         note="evals: SWA net and average per epoch; SWAG, plane, flatness at the end"))
    elif fam == "F":
        for spec in specs:
            part = spec["parts"][0]
            c = spec[part]
            start = len(out)
            if part == "regression":
                L = mlp_layers(1, c["model"]["hidden"], 1)
                out.append(Stage(fam, "regression nets", "adam_autoencoder", c["repeats"], c["repeats"],
                                 c["epochs"] * -(-c["n"] // c["batch_size"]), mlp_step_flops(L, c["batch_size"]),
                                 sum(L), cap(c["repeats"]), note="1-D, 40 points: one step an epoch"))
            elif part == "mc":
                L = mlp_layers(d, c["model"]["hidden"], 10)
                k = c["repeats"] * len(c["kinds"])
                out.append(Stage(fam, "mc classifiers (dropout)", "adam_mlp_dropout", k, k,
                                 c["epochs"] * spe(c["batch_size"]), mlp_step_flops(L, c["batch_size"]),
                                 sum(L), cap(k), evals=1 + c["draws"] * c["samples"],
                                 eval_flops=2 * sum(L) * n_test,
                                 note="MC dropout: draws × samples test passes per net"))
            else:
                L = mlp_layers(d, (c["hidden"],), d)
                out.append(Stage(fam, "autoencoder (p = 0, 0.5)", "adam_autoencoder", 2, 2,
                                 c["epochs"] * spe(c["batch_size"]), mlp_step_flops(L, c["batch_size"]),
                                 sum(L), 2, evals=1, eval_flops=2 * sum(L) * n_test))
            for st_ in out[start:]:
                st_.group, st_.jobs = part, 1
    elif fam == "G":
        for spec in specs:
            part = spec["parts"][0]
            c = spec[part]
            start = len(out)
            if part == "index_energy":
                nn_ = c["n"]
                P = 2 * (nn_ * nn_ + nn_)
                starts = (len(set((torch.logspace(0, math.log10(c["gd"]["steps"]), c["snapshots"])
                                   .round().long() - 1).tolist())) * c["repeats"] * c["trajectories"])
                per = 2 * P ** 3 + 2 / 3 * P ** 3 + 2 * P * 6 * P * c["points"]   # H², LU, Hessian
                cpu = (f"; one host thread would take {g_newton_s * starts * c['newton_steps'] / 60:.0f} min"
                       if g_newton_s else "")
                out.append(Stage(fam, "index_energy (float64 LM-Newton, batched)", "newton_G", 1, 1,
                                 c["newton_steps"], per * starts, starts * P * P, fp64=True,
                                 note=f"{starts} starts × {c['newton_steps']} LM-Newton steps on "
                                      f"{P} parameters, all starts batched (H² + solve: ≈ {per:.2g} "
                                      f"FLOP a start-step; traffic: the starts' Hessians){cpu}"))
            elif part == "width":
                T, b = c["repeats"], c["batch_size"]
                for H in c["widths"]:
                    L = mlp_layers(d, (H,), 10)
                    out.append(Stage(fam, f"width {H} ({T} trials stacked)", "sgd_ensemble_G", 1, 1,
                                     c["epochs"] * spe(b), T * mlp_step_flops(L, b), T * sum(L), 1,
                                     evals=1, eval_flops=2 * T * sum(L) * (n + n_test)))
            else:
                L = mlp_layers(d, c["model"]["hidden"], 10)
                out.append(Stage(fam, "paths: nets A, B", "adam_mlp", 2 * c["repeats"], 2 * c["repeats"],
                                 c["epochs"] * spe(c["batch_size"]), mlp_step_flops(L, c["batch_size"]),
                                 sum(L), cap(2 * c["repeats"])))
                bz = c["bezier"]
                out.append(Stage(fam, "paths: Bézier curves", "bezier_G", c["repeats"], c["repeats"],
                                 bz["epochs"] * spe(bz["batch_size"]),
                                 mlp_step_flops(L, bz["batch_size"]) + 10 * sum(L), sum(L),
                                 cap(c["repeats"]), evals=3 * c["points"],
                                 eval_flops=2 * sum(L) * (n + n_test)))
            for st_ in out[start:]:
                st_.group, st_.jobs = part, 1
    elif fam == "H":
        image = IMAGES[s["dataset"]]
        fwd, first, W = vgg_forward_flops(image, s["model"]["channels"])
        b = s["batch_size"]
        for variant in ("standard", "bn", "noisy_bn"):
            vr = [r for r in specs if r["variant"] == variant]
            if not vr:
                continue
            epochs = sum(r["epochs"] for r in vr) / len(vr)      # sweeps differ (bn_lr, noisy)
            steps = round(epochs * (n // b))                      # drop_last; mean over the runs
            out.append(Stage(fam, f"VGG11 {variant}", f"sgd_vgg_H_{variant}", len(vr), len(vr), steps,
                             3 * fwd * b - first * b, W, cap(len(vr)), evals=round(epochs),
                             eval_flops=fwd * (n + n_test),
                             note="fwd+bwd ≈ 3 × forward; per epoch train- and test-set scores",
                             group=variant, jobs=len(vr)))
    elif fam == "I":
        L = mlp_layers(d, s["model"]["hidden"], 10)
        b, E = s["batch_size"], s["epochs"]
        for kind, name in (("sgd_mlp_f64", "SGD nets (original, rescaled)"),
                           ("pathsgd_mlp_f64", "Path-SGD nets (original, rescaled)")):
            out.append(Stage(fam, name, kind, 2 * n_runs, 2 * n_distinct, E * spe(b),
                             mlp_step_flops(L, b) + (4 * sum(L) if "path" in kind else 0), sum(L),
                             cap(4 * n_distinct), evals=E + 1, eval_flops=2 * sum(L) * (n + n_test),
                             fp64=True, note="float64; per epoch whole-set scores"))
    elif fam == "J":
        L = mlp_layers(d, s["model"]["hidden"], 10)
        p = s["prune"]
        trainings = p["rounds"] + 1 + (p["rounds"] + 1 if p["controls"] == "every" else 1)
        n_val = max(1, round(s["validation"] * n))
        steps = s["epochs"] * spe(s["batch_size"], n - n_val)
        out.append(Stage(fam, f"{trainings} trainings a seed (rounds in sequence)", "adam_pruned_J",
                         trainings * n_runs, trainings * n_distinct, steps,
                         mlp_step_flops(L, s["batch_size"]), sum(L), cap(n_distinct),
                         evals=steps // s["record_every"], eval_flops=2 * sum(L) * (n_val + n_test),
                         note="eval every record_every iterations (validation + test); measured below as eval_J"))
    elif fam == "L":
        L = mlp_layers(d, s["model"]["hidden"], 10)
        b, E = s["batch_size"], s["epochs"]
        f = mlp_step_flops(L, b)
        m = s["ensemble"]["members"]
        out += [Stage(fam, "members (Adam)", "adam_mlp", m * n_runs, m * n_distinct, E * spe(b), f,
                      sum(L), cap(m * n_distinct), evals=1, eval_flops=2 * sum(L) * n_test),
                Stage(fam, "SWA phase", "swa_sgd_mlp", n_runs, n_distinct, s["swa"]["epochs"] * spe(b),
                      f, sum(L), cap(n_distinct), evals=1 + 2 * s["swag"]["samples"],
                      eval_flops=2 * sum(L) * n_test),
                Stage(fam, "dropout net (Adam)", "adam_mlp_dropout", n_runs, n_distinct, E * spe(b), f,
                      sum(L), cap(n_distinct), evals=1 + s["dropout"]["samples"],
                      eval_flops=2 * sum(L) * n_test),
                Stage(fam, "SGHMC chains (T = 1, cold)", "sghmc_L", 2 * n_runs, 2 * n_distinct,
                      s["sghmc"]["epochs"] * spe(b), f, sum(L), cap(2 * n_distinct),
                      evals=s["sghmc"]["epochs"] // s["sghmc"]["sampler"]["cycle_epochs"],
                      eval_flops=2 * sum(L) * n_test)]
    for st_ in out:
        st_.jobs = st_.jobs or n_runs
    return out


# --- projection ----------------------------------------------------------------------------

def stacked_table() -> pd.DataFrame | None:
    path = HERE / "stacked.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    df = df[df["mode"] == "stacked"].copy()
    df["k"] = pd.to_numeric(df["k"], errors="coerce")         # k = "all": its K is not in the file
    return df.dropna(subset=["k", "ops_per_run_step"])


def stacked_ops(st: Stage, sep_ops: float, table: pd.DataFrame | None) -> tuple[float, str]:
    """Ops per run-step when ``st.stack`` runs train as one model, and where the figure is from."""
    K = st.stack
    if K <= 1:
        return sep_ops, "no stack (K = 1)"
    if table is not None:
        rows = table[(table["family"] == st.family) & (table["k"] <= K)]
        if st.family in ("A", "L") and "sghmc" not in st.kind:
            rows = rows.iloc[0:0]                       # L's csv row: take it for its chains only
        if len(rows):                                   # rows of several sizes / devices: their median
            k = rows["k"].max()
            ops = float(rows[rows["k"] == k]["ops_per_run_step"].median())
            return ops * k / K, f"stacked.csv ({st.family}, k = {int(k)})"
    if st.kind in ("sghmc_A", "sghmc_L"):
        return PROBE_A_STACKED * sep_ops / PROBE_A_SEPARATE / K, "issue probe (14 ops at K = 32)"
    return PROBE_A_STACKED / PROBE_A_SEPARATE * sep_ops / K, "probe ratio 1.62 × separate / K"


def host_us_per_op(kinds: dict) -> float:
    """One host-dispatch figure for every kind: the median of the kinds' measured host µs per
    op, the VGG kinds left out (their tiny step still computes on this CPU: 3,072-pixel images).
    Per-kind figures differ here mostly by the noise of a shared CPU (4–9 µs run to run)."""
    return statistics.median(v["host_us_per_op"] for n, v in kinds.items() if not n.startswith("sgd_vgg"))


CASES = ("today", "stacked", "stacked_graphs")


def project(stages: list[Stage], kinds: dict, table, tf32: bool = False) -> pd.DataFrame:
    rows = []
    for st in stages:
        for case in CASES:
            if st.kind == "cpu":
                rows.append({**st.__dict__, "case": case, "device": "host CPU", "ops_per_step": math.nan,
                             "us_per_step": math.nan, "bound": "cpu", "trainings_run": st.trainings if case == "today" else st.distinct,
                             "projected_min": st.cpu_min, "ops_source": "estimate" if st.family != "G" else "measured step"})
                continue
            k = kinds[st.kind]
            t_op = (GRAPH_US_PER_OP if case == "stacked_graphs" else host_us_per_op(kinds) + LAUNCH_US)
            peak = PEAK_FP64 if st.fp64 else (PEAK_TF32 if tf32 and st.kind.startswith("sgd_vgg") else PEAK_FP32)
            rate = SUSTAINED * peak
            nbytes = 8 if st.fp64 else 4
            if case == "today":
                ops, src, trainings, K = k["ops_per_step"], "measured", st.trainings, 1
            else:
                ops, src = stacked_ops(st, k["ops_per_step"], table)
                trainings, K = st.distinct, max(1, st.stack)
            terms = {"ops": ops * t_op, "flops": st.flops / rate * 1e6,
                     "memory": k["param_passes"] * st.params * nbytes / HBM * 1e6}
            bound = max(terms, key=terms.get)
            graphs = case == "stacked_graphs"               # no host sync inside a captured step
            us = terms[bound] + (0 if graphs else k["syncs_per_step"] / K * SYNC_US)
            ek = kinds.get("eval_J") if st.family == "J" else None
            e_ops = ek["ops_per_step"] if ek else EVAL_OPS
            e_syncs = 0 if graphs else (ek["syncs_per_step"] if ek else EVAL_SYNCS)
            e_us = max(e_ops / K * t_op, st.eval_flops / rate * 1e6) + e_syncs / K * SYNC_US
            total_s = trainings * (st.steps * us + st.evals * e_us) / 1e6
            rows.append({**st.__dict__, "case": case, "device": "H100 (projected)", "ops_per_step": ops,
                         "us_per_step": us, "bound": bound, "trainings_run": trainings,
                         "eval_min": trainings * st.evals * e_us / 6e7,
                         "projected_min": total_s / 60, "ops_source": src})
    return pd.DataFrame(rows)


def g_newton_seconds(n: int = 16, points: int = 32, starts: int = 4) -> float:
    """Host seconds per start and Levenberg–Marquardt step of G's index_energy (float64), one
    thread, measured on a few starts with families/g/experiment.py's own functions."""
    from nnrepro.families.g.experiment import newton_critical_points, tanh_net_loss
    loss, P = tanh_net_loss(n, 0.01)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(starts, points, n, generator=g, dtype=torch.float64)
    Y = torch.randn(starts, points, n, generator=g, dtype=torch.float64)
    th = torch.randn(starts, P, generator=g, dtype=torch.float64) / math.sqrt(n)
    newton_critical_points(loss, th, 1, X, Y)
    t0 = time.process_time()
    newton_critical_points(loss, th, 3, X, Y)
    t3 = time.process_time() - t0
    t0 = time.process_time()
    newton_critical_points(loss, th, 1, X, Y)
    t1 = time.process_time() - t0
    return max(t3 - t1, 1e-9) / 2 / starts


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    agg = (df.groupby(["family", "case"], sort=False)
             .agg(runs=("runs", "first"), duplicate_runs=("duplicate_runs", "first"),
                  steps=("total_steps", "sum"), flops=("total_flops", "sum"),
                  ops=("total_ops", "sum"), device=("device", lambda d: "/".join(sorted(set(d)))),
                  projected_min=("projected_min", "sum")).reset_index())
    agg["flops_per_step"] = agg["flops"] / agg["steps"].where(agg["steps"] > 0)
    agg["ops_per_step"] = agg["ops"] / agg["steps"].where(agg["steps"] > 0)
    return agg


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", default=str(ROOT / "configs" / "paper.yaml"))
    p.add_argument("--device", default="cpu", help="cpu: count and project; cuda: measure per-step times")
    p.add_argument("--max-stack", type=int, default=128)
    a = p.parse_args()
    torch.set_num_threads(1)
    config = validate(load(a.config))

    if a.device.startswith("cuda"):
        return measure_cuda(config, a)

    kinds = {k.name: k for k in step_kinds()}
    measured = {name: measure(k) for name, k in kinds.items()}
    kdf = pd.DataFrame(measured.values())
    print("aten ops per step (tiny tensors, this CPU, one thread; torch", torch.__version__, ")")
    print(kdf.drop(columns=["top_ops"]).round(2).to_string(index=False))
    print(f"host µs per op used for every kind: {host_us_per_op(measured):.2f} (median) + {LAUNCH_US} launch")
    g_s = g_newton_seconds() if "G" in config["run"] else None

    stages = []
    for fam in config["run"]:
        st = family_stages(config, fam, a.max_stack, g_s)
        runs = settings_of(config, fam)
        for s in st:
            s.runs, s.duplicate_runs = len(runs), len(runs) - distinct_count(runs)
        stages += st
    table = stacked_table()
    tf32 = h_tf32(config)
    df = project(stages, measured, table, tf32=tf32)
    df["total_steps"] = df["trainings_run"] * df["steps"]
    df["total_flops"] = df["total_steps"] * df["flops"]
    df["total_ops"] = df["total_steps"] * df["ops_per_step"].fillna(0)
    for col in ("ops_per_step", "syncs_per_step", "param_passes", "host_us_per_op"):
        df[f"kind_{col}"] = df["kind"].map({n: m[col] for n, m in measured.items()})
    cols = ["family", "stage", "case", "trainings_run", "stack", "steps", "flops", "ops_per_step",
            "us_per_step", "bound", "evals", "eval_min", "projected_min", "ops_source", "device", "note"]
    df[cols + ["kind", "params", "eval_flops", "fp64", "kind_ops_per_step", "kind_syncs_per_step",
               "kind_param_passes", "kind_host_us_per_op"]].to_csv(HERE / "paper_budget_families.csv", index=False)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 34)
    print("\nper stage (µs per step: one run-step on one H100; eval_min included in projected_min)")
    print(df[cols[:-1]].round(3).to_string(index=False))

    summ = summarize(df)
    out = summ[["family", "runs", "duplicate_runs", "steps", "flops_per_step", "ops_per_step", "device",
                "case", "projected_min"]]
    out.to_csv(HERE / "paper_budget.csv", index=False)
    print("\nper family")
    print(out.round(2).to_string(index=False))
    for case in CASES:
        c = df[df["case"] == case]
        on_gpu = c[c["device"] != "host CPU"]["projected_min"].sum()
        host = c[c["device"] == "host CPU"]
        print(f"\n{case}: GPU work {on_gpu:.1f} min on one H100 (one job at a time); host-CPU work "
              f"{host['projected_min'].sum():.1f} min in {len(host)} jobs beside it, the longest "
              f"{host['projected_min'].max():.1f} min ({host.loc[host['projected_min'].idxmax(), 'family']})")
        top = c.groupby("family")["projected_min"].sum().sort_values(ascending=False).head(4)
        print("  largest:", ", ".join(f"{f} {m:.1f} min" for f, m in top.items()))
        if case != "today":
            arow = c[c["kind"] == "sghmc_A"]
            if len(arow):
                print(f"  A: {1e6 / arow['us_per_step'].iloc[0]:,.0f} run-steps/s projected "
                      f"(target 30,000), K = {int(arow['stack'].iloc[0])}")
    # per-job projections (today's jobs: one run each) and the runtimes set in configs/paper.yaml
    today = df[(df["case"] == "today") & (df["device"] != "host CPU")]
    jobs = (today.assign(job_min=today["projected_min"] / today["jobs"])
                 .groupby(["family", "group"])["job_min"].sum().groupby("family").max())
    print(f"\nper job today (one run per job, one H100) + {JOB_OVERHEAD_MIN:g} min start-up; "
          f"runtime = ceil({RUNTIME_MARGIN:g} × that):")
    print("  " + ", ".join(f"{f} {m:.2f} min -> {math.ceil(RUNTIME_MARGIN * (m + JOB_OVERHEAD_MIN))}"
                           for f, m in jobs.items()))
    ie = df[(df["stage"].str.startswith("index_energy")) & (df["case"] == "today")]
    if len(ie):
        r = ie.iloc[0]
        print(f"G index_energy on the device: {r['projected_min']:.1f} min ({r['bound']}-bound, "
              f"{r['steps'] * r['flops']:.2g} FLOP in float64); {r['note'].split('; ')[-1]}")
    # H at the other precision, for comparison
    t32 = project([s for s in stages if s.family == "H"], measured, table, tf32=not tf32)
    print(f"\nH {'with' if tf32 else 'without'} TF32 (the config: tf32 {str(tf32).lower()}); "
          f"{'without' if tf32 else 'with'} it: "
          + ", ".join(f"{c} {t32[t32['case'] == c]['projected_min'].sum():.1f} min" for c in CASES))


PAPER_SIZES = {"sghmc_A": (3072, (256, 128), 128), "sghmc_L": (3072, (256, 128), 128),
               "adam_mlp": (3072, (256, 128), 128), "adam_mlp_dropout": (784, (1024, 1024), 128),
               "adam_autoencoder": (784, (256,), 128), "sgd_mlp_f64": (784, (4000, 4000), 100),
               "pathsgd_mlp_f64": (784, (4000, 4000), 100), "swa_sgd_mlp": (3072, (256, 128), 128),
               "adam_pruned_J": (784, (300, 100), 60), "bezier_G": (784, (256, 128), 128),
               "sgd_ensemble_G": (20, 1024, 100, 784), "newton_G": (16, 800, 32),
               "sgd_vgg_H": (None, [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], 128)}


def step_times(device: str, sizes: dict, lo: int = 5, hi: int = 25, prefix: str = "") -> dict[str, float]:
    """ms per step of every step kind (whose name starts with ``prefix``) at ``sizes`` on
    ``device``: (epoch of hi − epoch of lo)/(hi − lo)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    ms = {}
    for k in (k for k in step_kinds(device, sizes) if k.name.startswith(prefix)):
        k.epoch(lo)
        t = {lo: math.inf, hi: math.inf}
        for _ in range(3):                                   # best of 3
            for n in (lo, hi):
                sync()
                t0 = time.perf_counter()
                k.epoch(n)
                sync()
                t[n] = min(t[n], time.perf_counter() - t0)
        ms[k.name] = (t[hi] - t[lo]) / (hi - lo) * 1e3
    return ms


def measure_cuda(config: dict, a) -> None:
    """On a GPU: time each step kind at the paper's sizes (ms per step, TF32 off but for H's VGG
    where the config asks for it, cuDNN benchmarking off), and fill a measured_min column beside
    the projection (today's case: the measured steps plus the projected evaluations) in both
    CSVs. Not yet run on a GPU."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    ms = step_times(a.device, PAPER_SIZES)
    if h_tf32(config):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        ms.update(step_times(a.device, PAPER_SIZES, prefix="sgd_vgg"))       # H as it will run
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(0)
    for k, v in ms.items():
        print(f"{k:22s} {v:8.3f} ms per step ({name}, torch {torch.__version__})")
    base = pd.read_csv(HERE / "paper_budget_families.csv")
    base["measured_min"] = [
        r["trainings_run"] * r["steps"] * ms[r["kind"]] / 6e4 + (0 if pd.isna(r["eval_min"]) else r["eval_min"])
        if r["case"] == "today" and r["kind"] in ms else math.nan for _, r in base.iterrows()]
    base["measured_device"] = name
    base.to_csv(HERE / "paper_budget_families.csv", index=False)
    fam = base[base["case"] == "today"].groupby("family")[["projected_min", "measured_min"]].sum(min_count=1)
    print(fam.round(2).to_string())
    summ = pd.read_csv(HERE / "paper_budget.csv")
    summ["measured_min"] = [fam["measured_min"].get(f, math.nan) if c == "today" else math.nan
                            for f, c in zip(summ["family"], summ["case"])]
    summ.to_csv(HERE / "paper_budget.csv", index=False)


if __name__ == "__main__":
    main()
