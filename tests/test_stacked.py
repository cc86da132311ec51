"""The stacked SGHMC core (nnrepro.stacked, issue 25) against today's per-run path.

Reference: a plain models.MLP, recipes.SGHMCChain (samplers.SGHMC, LambdaLR, train_epoch) and
one generator per run, as family A trains a run. Float32, random data, 6 epochs of 8 steps
(the last minibatch short), cycles of 2 epochs (cosine schedule, resample: cycle exercised).
E1: each member of a mixed stack equals its separate run (θ, per-step U and NLL, every recorded
diagnostic); E3: a member does not depend on its position or on K; E4: a member that diverges
leaves the others as the stack without it; generators are per member.
"""
from __future__ import annotations

import math

import pytest
import torch

from conftest import dnorm2_dt_atol
from nnrepro.models import MLP, flat_params
from nnrepro.recipes import SGHMCChain
from nnrepro.stacked import DIAGNOSTICS, StackedMLP, StackedSGHMCChain

N, FEATURES, HIDDEN, CLASSES, BATCH, EPOCHS = 250, 12, (16, 8), 4, 32, 6
STEPS = -(-N // BATCH)
TOL = dict(rtol=1e-5, atol=1e-6)
# the stacked parameters and their gradients are views of one (K, D) buffer each (by design)
pytestmark = pytest.mark.filterwarnings("ignore:grad and param do not obey the gradient layout")

BASE = dict(name="sghmc", lr=2e-3, friction=20.0, mass=1.0, temperature=1.0, gamma=1.0,
            alpha=1.0, scale_lr=False, prior_scale=1.0, schedule="constant", cycle_epochs=2,
            burnin_cycles=1, resample="none")
MIXED = [  # (sampler settings, seed): temperatures, γ, α, resampling, schedules, priors
    (dict(), 0),
    (dict(temperature=0.1, gamma=0.3, resample="cycle"), 1),
    (dict(temperature=0.0, alpha=2.0), 2),
    (dict(gamma=0.5, alpha=3.0, scale_lr=True, resample=3, schedule="cosine"), 3),
    (dict(temperature=0.3, prior_scale=0.7, schedule="cosine", resample="cycle", friction=5.0), 4),
    (dict(friction=0.0, mass=2.0), 5),
]


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(123)
    x = torch.randn(N, FEATURES, generator=g)
    y = (x[:, :CLASSES] + 0.5 * torch.randn(N, CLASSES, generator=g)).argmax(1)
    return x, y


def mlp(seed: int, activation="tanh") -> MLP:
    torch.manual_seed(seed)                    # the initialisation, as training.generator seeds it
    return MLP(FEATURES, HIDDEN, CLASSES, activation)


def separate(x, y, settings: dict, seed: int, record_every=1, activation="tanh"):
    """Today's run: θ at the end, per-step U and NLL, per-step diagnostics and lr."""
    cfg = {**BASE, **settings}
    model, gen = mlp(seed, activation), torch.Generator().manual_seed(seed)
    chain = SGHMCChain(model, cfg, gen, STEPS)
    Us, nlls, diags, lrs, step = [], [], [], [], [0]

    def record(i, out, target, U):
        if step[0] % record_every == 0:
            diags.append(torch.stack([chain.sampler.diagnostics[d] for d in DIAGNOSTICS]))
            lrs.append(chain.sampler.param_groups[0]["lr"])
        step[0] += 1

    for epoch in range(1, EPOCHS + 1):
        U, nll = chain.epoch(x, y, BATCH, gen, record)
        Us.append(U.detach()); nlls.append(nll)
        chain.end_cycle(epoch)
    return dict(theta=flat_params(model), U=torch.cat(Us), nll=torch.cat(nlls),
                diag=torch.stack(diags), lr=torch.tensor(lrs, dtype=torch.float64))


def stacked(x, y, members, record_every=1, activation="tanh"):
    """The same runs as one stack: per member the same dict as ``separate``, and ``diverged``."""
    cfgs = [{**BASE, **s} for s, _ in members]
    gens = [torch.Generator().manual_seed(seed) for _, seed in members]
    nets = [mlp(seed, activation) for _, seed in members]
    chain = StackedSGHMCChain.from_mlps(nets, cfgs, gens, STEPS)
    Us, nlls, recs = [], [], []
    for epoch in range(1, EPOCHS + 1):
        U, nll, rec = chain.epoch(x, y, BATCH, record_every)
        Us.append(U); nlls.append(nll); recs.append(rec)
        chain.end_cycle(epoch)
    U, nll = torch.cat(Us), torch.cat(nlls)
    diag = torch.stack([torch.cat([r[d] for r in recs if len(r["step"])]) for d in DIAGNOSTICS], 1)
    lr = torch.cat([r["lr"] for r in recs if len(r["step"])])
    return [dict(theta=chain.model.theta[k].clone(), U=U[:, k], nll=nll[:, k], diag=diag[:, :, k],
                 lr=lr[:, k], diverged=bool(chain.sampler.diverged[k]))
            for k in range(len(members))]


def assert_same_run(a: dict, b: dict, **tol):
    tol = tol or TOL
    for key in ("theta", "U", "nll", "lr"):
        torch.testing.assert_close(a[key], b[key], **tol, msg=lambda m: f"{key}: {m}")
    d = DIAGNOSTICS.index("dnorm2_dt")
    others = [i for i in range(len(DIAGNOSTICS)) if i != d]
    torch.testing.assert_close(a["diag"][:, others], b["diag"][:, others], **tol,
                               msg=lambda m: f"diag: {m}")
    gap = (a["diag"][:, d].double() - b["diag"][:, d].double()).abs()
    bound = dnorm2_dt_atol(a["diag"][:, DIAGNOSTICS.index("norm2")].double(), a["lr"].double()) + tol["atol"]
    assert (gap <= bound).all(), f"dnorm2_dt: gap {gap.max():.3g} over its float32 bound"


def test_member_roundtrip_and_forward():
    """A member loads from / writes to a plain MLP with the same values; the stacked forward
    on member k's own minibatch is member k's MLP on it."""
    nets = [mlp(s, "relu") for s in range(3)]
    model = StackedMLP.from_mlps(nets)
    for k, net in enumerate(nets):
        assert torch.equal(model.theta[k], flat_params(net))
        back = model.member(k)
        for p, q in zip(back.parameters(), net.parameters()):
            assert torch.equal(p, q)
    x = torch.randn(3, 5, FEATURES)
    want = torch.stack([net(x[k]) for k, net in enumerate(nets)])
    torch.testing.assert_close(model(x), want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        StackedMLP.from_mlps([MLP(FEATURES, HIDDEN, CLASSES, batchnorm=True)])


def test_e1_mixed_stack_equals_separate_runs(data):
    """E1 (and E2's per-member half): each member of a mixed stack is its separate run."""
    x, y = data
    runs = stacked(x, y, MIXED)
    for (settings, seed), run in zip(MIXED, runs):
        assert_same_run(run, separate(x, y, settings, seed))
        assert not run["diverged"]


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_stack_of_one_equals_separate_run(data, activation):
    x, y = data
    settings, seed = MIXED[3]
    [run] = stacked(x, y, [(settings, seed)], activation=activation)
    assert_same_run(run, separate(x, y, settings, seed, activation=activation))


def test_diagnostics_only_on_recorded_steps(data):
    """record_every = 3: the diagnostics of steps 0, 3, 6, … equal the separate run's there."""
    x, y = data
    runs = stacked(x, y, MIXED[:2], record_every=3)
    for (settings, seed), run in zip(MIXED[:2], runs):
        assert len(run["diag"]) == math.ceil(STEPS * EPOCHS / 3)
        assert_same_run(run, separate(x, y, settings, seed, record_every=3))


def test_e3_member_independent_of_position_and_k(data):
    x, y = data
    alone = stacked(x, y, [MIXED[1]])[0]
    in_four = stacked(x, y, [MIXED[0], MIXED[2], MIXED[1], MIXED[3]])[2]
    in_six = stacked(x, y, MIXED[::-1])[4]
    assert_same_run(in_four, alone)
    assert_same_run(in_six, alone)


def test_e4_diverging_member_leaves_the_others(data):
    """A member at ε = 50 diverges alone; it is frozen and reported, the others are the stack
    without it, and its frozen θ stays finite (the last θ whose potential was finite)."""
    x, y = data
    bad = (dict(lr=50.0), 7)
    others = [MIXED[0], MIXED[3], MIXED[4]]
    with_bad = stacked(x, y, [others[0], bad, *others[1:]])
    without = stacked(x, y, others)
    assert with_bad[1]["diverged"] and not any(r["diverged"] for r in without)
    assert torch.isfinite(with_bad[1]["theta"]).all()
    assert not torch.isfinite(with_bad[1]["U"]).all()
    for a, b in zip([with_bad[0], *with_bad[2:]], without):
        assert not a["diverged"]
        assert_same_run(a, b)


def test_generators_are_per_member(data):
    """Changing member 0's seed (its init, shuffles and noise) leaves member 1 unchanged."""
    x, y = data
    a = stacked(x, y, [(MIXED[0][0], 0), MIXED[1]])
    b = stacked(x, y, [(MIXED[0][0], 99), MIXED[1]])
    assert not torch.allclose(a[0]["theta"], b[0]["theta"])
    assert_same_run(a[1], b[1])


@pytest.mark.parametrize("widths", [(64, (32, 16), 10), (3072, (256, 128), 10)])
def test_merged_noise_draws_are_the_per_parameter_draws(widths):
    """A member fills its noise in as few ``normal_`` calls as give the same numbers: for family
    A's digits and CIFAR nets, exactly ``torch.randn(p.shape)`` per parameter, in order."""
    from nnrepro.stacked import _draw_plan
    model = StackedMLP(2, *widths)
    groups = _draw_plan(model.segments, model.theta, torch.Generator())
    assert len(groups) < len(model.segments)
    for skip in (0, 1, 7):
        g = torch.Generator().manual_seed(5)
        torch.randn(skip, generator=g)
        want = torch.cat([torch.randn(s, generator=g).flatten() for s in model.shapes])
        g = torch.Generator().manual_seed(5)
        torch.randn(skip, generator=g)
        row = torch.empty(model.dim)
        for o, n in groups:
            row[o:o + n].normal_(generator=g)
        assert torch.equal(row, want)


def test_diagnostics_cost_ops_only_when_recorded(data):
    """A step that records nothing dispatches fewer aten ops than one that records."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.n += 1
            return func(*args, **(kwargs or {}))

    x, y = data
    chain = StackedSGHMCChain.from_mlps([mlp(0), mlp(1)], [BASE, BASE],
                                        [torch.Generator().manual_seed(s) for s in (0, 1)], STEPS)
    sampler, U = chain.sampler, torch.zeros(2)
    counts = []
    for record in (False, True):
        Count.n = 0
        with Count():
            sampler.step(U, record=record)
        counts.append(Count.n)
    assert counts[0] < counts[1] - 20, counts


def test_resume_from_state_dict_equals_uninterrupted(data):
    """E5's core: a stack checkpointed (θ, r, frozen members, steps, every generator) after 3
    epochs and restored into a fresh stack goes on as if never stopped."""
    x, y = data
    members = MIXED[:4]

    def build():
        return StackedSGHMCChain.from_mlps(
            [mlp(s) for _, s in members], [{**BASE, **c} for c, _ in members],
            [torch.Generator().manual_seed(s) for _, s in members], STEPS)

    whole, first = build(), build()
    for epoch in range(1, EPOCHS + 1):
        whole.epoch(x, y, BATCH); whole.end_cycle(epoch)
        if epoch <= 3:
            first.epoch(x, y, BATCH); first.end_cycle(epoch)
    saved = first.sampler.state_dict()
    second = build()
    second.sampler.load_state_dict(saved)
    for epoch in range(4, EPOCHS + 1):
        second.epoch(x, y, BATCH); second.end_cycle(epoch)
    assert torch.equal(second.model.theta, whole.model.theta)
    assert torch.equal(second.sampler.r, whole.sampler.r)


def test_paper_shapes_equal_separate_runs():
    """The CIFAR MLP 3072-256-128-10 at batch 128 (random data, 2 steps, 2 members): the
    merged noise draws and the large bmm's give each member its separate run."""
    cfgs = [{**BASE, "lr": 5e-4, "friction": 200.0, "schedule": "cosine", "cycle_epochs": 10},
            {**BASE, "lr": 5e-4, "friction": 200.0, "temperature": 0.1, "gamma": 0.3}]
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 3072, generator=g), torch.randint(10, (256,), generator=g)

    def net(seed):
        torch.manual_seed(seed)
        return MLP(3072, (256, 128), 10)

    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    chain = StackedSGHMCChain.from_mlps([net(0), net(1)], cfgs, gens, 2)
    U, nll, _ = chain.epoch(x, y, 128)
    for k, cfg in enumerate(cfgs):
        model, gen = net(k), torch.Generator().manual_seed(k)
        want, want_nll = SGHMCChain(model, cfg, gen, 2).epoch(x, y, 128, gen)
        torch.testing.assert_close(chain.model.theta[k], flat_params(model), **TOL)
        torch.testing.assert_close(U[:, k], want.detach(), **TOL)
        torch.testing.assert_close(nll[:, k], want_nll, **TOL)
