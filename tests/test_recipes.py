"""The shared recipes: ``train_epoch``'s hooks, the SG-MCMC chain and the SWA phase
(nnrepro.recipes), and ``methods.score``. The chain and the phase must give exactly the numbers
of the loops they replaced (written out here), resume exactly from their state dicts, and
collect / resample at the right epochs."""
import copy
import math

import pytest
import torch
from torch.nn.functional import cross_entropy

from nnrepro import optimizers, samplers
from nnrepro.ensembles import predict_probs
from nnrepro.methods import score
from nnrepro.metrics import evaluate
from nnrepro.models import MLP, flat_params
from nnrepro.recipes import SWA, SGHMCChain
from nnrepro.samplers import potential
from nnrepro.training import minibatches, train_epoch

N, D, K = 50, 4, 3


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(N, D, generator=g), torch.randint(0, K, (N,), generator=g)


def _net(seed=0):
    torch.manual_seed(seed)
    return MLP(D, (8,), K)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return torch.equal(flat_params(a), flat_params(b))


# --- train_epoch -------------------------------------------------------------------------------

def test_train_epoch_is_the_plain_minibatch_loop(data):
    x, y = data
    a, b = _net(), _net()
    opt_a, opt_b = optimizers.SGD(a.parameters(), lr=0.1), optimizers.SGD(b.parameters(), lr=0.1)
    losses = train_epoch(a, opt_a, x, y, 16, _gen())
    ref = []
    for idx in minibatches(N, 16, _gen()):
        loss = cross_entropy(b(x[idx]), y[idx])
        opt_b.zero_grad()
        loss.backward()
        opt_b.step()
        ref.append(loss.detach())
    assert torch.equal(losses, torch.stack(ref)) and len(losses) == 4 and _same(a, b)


def test_before_step_clips_the_step(data):
    """Clipping the gradient to norm c before an SGD step bounds the step by lr·c."""
    x, y = data
    net, c, lr = _net(), 1e-3, 0.5
    opt, norms = optimizers.SGD(net.parameters(), lr=lr), []
    record = lambda i, out, target, loss: norms.append(flat_params(net).clone())
    before = flat_params(net).clone()
    train_epoch(net, opt, x, y, 16, _gen(), record=record,
                before_step=lambda: torch.nn.utils.clip_grad_norm_(net.parameters(), c))
    steps = [(b - a).norm().item() for a, b in zip([before] + norms, norms)]
    assert len(steps) == 4 and max(steps) <= lr * c * (1 + 1e-4) and min(steps) > 0.9 * lr * c


def test_record_sees_each_step_with_the_lr_it_used(data):
    """record(i, out, y_B, loss) gets every step in order, before after_step moves the lr on."""
    x, y = data
    net = _net()
    opt = optimizers.SGD(net.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 ** k)
    seen = []

    def record(i, out, target, loss):
        assert out.shape == (len(target), K) and not out.requires_grad
        assert torch.equal(loss, cross_entropy(out, target))
        seen.append((i, opt.param_groups[0]["lr"], len(target)))

    losses = train_epoch(net, opt, x, y, 16, _gen(), record=record, after_step=sched.step)
    assert seen == [(0, 1.0, 16), (1, 0.5, 16), (2, 0.25, 16), (3, 0.125, 2)]
    assert len(losses) == 4 and opt.param_groups[0]["lr"] == 0.0625


def test_drop_last_and_stop_if_nonfinite(data):
    x, y = data
    net = _net()
    opt = optimizers.SGD(net.parameters(), lr=0.1)
    assert len(train_epoch(net, opt, x, y, 16, _gen(), drop_last=True)) == 3   # 50 = 3·16 + 2
    calls = []

    def loss_fn(out, target):                       # non-finite from the second step on
        calls.append(1)
        return cross_entropy(out, target) * (math.nan if len(calls) >= 2 else 1.0)

    losses = train_epoch(net, opt, x, y, 16, _gen(), loss_fn=loss_fn, stop_if_nonfinite=True)
    assert len(losses) == 2 and math.isnan(losses[-1]) and len(calls) == 2
    calls.clear()
    assert len(train_epoch(net, opt, x, y, 16, _gen(), loss_fn=loss_fn)) == 4  # without: all steps

    def fresh():
        m = _net()
        return m, optimizers.SGD(m.parameters(), lr=0.1)

    # checked every 3 steps (one sync per check): the same losses, cut after the first
    # non-finite one, though the third step was taken
    calls.clear()
    checked = train_epoch(*fresh(), x, y, 16, _gen(), loss_fn=loss_fn,
                          stop_if_nonfinite=True, check_every=3)
    assert len(checked) == 2 and math.isnan(checked[-1]) and len(calls) == 3
    # longer than the epoch: checked at its end (4 steps taken, cut after the second)
    calls.clear()
    assert len(train_epoch(*fresh(), x, y, 16, _gen(), loss_fn=loss_fn,
                           stop_if_nonfinite=True, check_every=8)) == 2 and len(calls) == 4
    finite_only = train_epoch(*fresh(), x, y, 16, _gen(), stop_if_nonfinite=True,
                              check_every=3)
    assert len(finite_only) == 4 and bool(torch.isfinite(finite_only).all())


# --- the SG-MCMC chain -------------------------------------------------------------------------

SAMPLER = {"name": "sghmc", "lr": 1e-3, "friction": 1.0, "mass": 1.0, "temperature": 1.0,
           "gamma": 1.0, "alpha": 1.0, "prior_scale": 2.0, "schedule": "cosine",
           "cycle_epochs": 2, "burnin_cycles": 1, "resample": "cycle"}


def test_chain_epoch_is_the_loop_it_replaced(data):
    """Bit for bit the hand-written loop of families A and L before issue 18: Ũ, NLL, weights,
    momentum and the generator's state."""
    x, y = data
    chain = SGHMCChain(_net(), SAMPLER, _gen(5), steps_per_epoch=4)
    U, nll = chain.epoch(x, y, 16, chain.sampler.generator)
    net, gen = _net(), _gen(5)
    opt = samplers.build(net.parameters(), SAMPLER, gen)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, samplers.cosine_schedule(2 * 4))
    ref_U, ref_nll = [], []
    for idx in minibatches(N, 16, gen):
        u, l = potential(net, x[idx], y[idx], N, SAMPLER["prior_scale"])
        opt.zero_grad(set_to_none=True)
        u.backward()
        opt.step()
        sched.step()
        ref_U.append(u.detach())
        ref_nll.append(l.detach())
    assert torch.equal(U, torch.stack(ref_U)) and torch.equal(nll, torch.stack(ref_nll))
    assert _same(chain.model, net) and torch.equal(chain.sampler.generator.get_state(), gen.get_state())
    assert chain.schedule.get_last_lr() == sched.get_last_lr()


def test_chain_step_size_follows_the_cosine_cycle(data):
    """ε_k = ε₀/2 (cos(π (k mod L)/L) + 1), L = cycle_epochs · steps per epoch (Zhang et al.)."""
    x, y = data
    chain = SGHMCChain(_net(), SAMPLER, _gen(), steps_per_epoch=4)
    lrs = []
    for _ in range(3):
        chain.epoch(x, y, 16, _gen(), record=lambda i, *_: lrs.append(chain.sampler.param_groups[0]["lr"]))
    want = [1e-3 / 2 * (math.cos(math.pi * (k % 8) / 8) + 1) for k in range(12)]
    assert lrs == pytest.approx(want, rel=1e-12) and lrs[8] == 1e-3


def test_chain_samples_after_burnin_and_resamples_at_cycle_ends():
    chain = SGHMCChain(_net(), SAMPLER, _gen(), steps_per_epoch=4)
    assert [e for e in range(1, 9) if chain.is_sample(e)] == [4, 6, 8]     # cycles of 2, burn-in 1
    r = lambda: chain.sampler._momentum(next(chain.model.parameters())).clone()
    zero = r()
    chain.end_cycle(1)
    assert torch.equal(r(), zero)                                          # not a cycle's end
    chain.end_cycle(2)
    assert not torch.equal(r(), zero) and r().std() > 0                    # r ~ N(0, MαT/γ)
    quiet = SGHMCChain(_net(), {**SAMPLER, "resample": "none"}, _gen(), steps_per_epoch=4)
    quiet.end_cycle(2)
    assert torch.equal(quiet.sampler._momentum(next(quiet.model.parameters())), zero)


def test_chain_resumes_exactly_from_its_state_dict(data):
    x, y = data
    whole = SGHMCChain(_net(), SAMPLER, _gen(), steps_per_epoch=4)
    for e in (1, 2, 3):
        whole.epoch(x, y, 16, whole.sampler.generator)
        whole.end_cycle(e)
    first = SGHMCChain(_net(), SAMPLER, _gen(), steps_per_epoch=4)
    for e in (1, 2):
        first.epoch(x, y, 16, first.sampler.generator)
        first.end_cycle(e)
    saved, gen_state = copy.deepcopy(first.state_dict()), first.sampler.generator.get_state()
    resumed = SGHMCChain(_net(seed=9), SAMPLER, _gen(), steps_per_epoch=4)
    resumed.load_state_dict(saved)
    resumed.sampler.generator.set_state(gen_state)
    resumed.epoch(x, y, 16, resumed.sampler.generator)
    resumed.end_cycle(3)
    assert _same(resumed.model, whole.model)
    assert resumed.schedule.get_last_lr() == whole.schedule.get_last_lr()


# --- the SWA phase ------------------------------------------------------------------------------

SWA_CFG = {"epochs": 4, "optimizer": {"name": "sgd", "lr": 0.05}, "schedule": "cyclic",
           "cycle_epochs": 2, "min_lr_ratio": 0.1}


def test_swa_averages_the_iterates_of_cycle_ends(data):
    x, y = data
    base = _net()
    swa = SWA(_net(seed=3), SWA_CFG, steps_per_epoch=4, swag_rank=5, device="cpu")
    swa.start(base)
    assert _same(swa.net, base)
    iterates = []
    for k in range(1, 5):
        swa.epoch(x, y, 16, _gen(k))
        if swa.cycle_end(k):
            swa.collect()
            iterates.append(flat_params(swa.net).clone())
    assert len(iterates) == 2 and swa.swag.n == 2 and swa.averaged.n_averaged == 2
    mean = torch.stack(iterates).mean(0)                     # ŵ_SWA = (1/k) Σ ŵᵢ
    assert torch.allclose(flat_params(swa.averaged.module), mean, atol=1e-6)
    assert torch.allclose(swa.swag.mean.float(), mean, atol=1e-6)
    assert not torch.allclose(flat_params(swa.averaged.module), iterates[-1])


def test_swa_lr_schedules(data):
    """Cyclic: α₁ → α₂ = min_lr_ratio·α₁ linearly within each cycle, stepped per minibatch;
    constant: SWALR reaches the SWA lr after its one epoch of annealing."""
    x, y = data
    swa = SWA(_net(), SWA_CFG, steps_per_epoch=4, swag_rank=5, device="cpu")
    lrs = []
    for k in (1, 2):
        swa.epoch(x, y, 16, _gen(k))
        lrs.append(swa.opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.05 * (1 - 0.9 * 4 / 7)) and lrs[1] == pytest.approx(0.05)
    const = SWA(_net(), {**SWA_CFG, "schedule": "constant", "optimizer": {"name": "sgd", "lr": 0.02}},
                steps_per_epoch=4, swag_rank=5, device="cpu")
    const.epoch(x, y, 16, _gen())
    assert const.opt.param_groups[0]["lr"] == pytest.approx(0.02)


def test_swa_resumes_exactly_from_its_state_dict(data):
    x, y = data

    def phase(epochs, state=None):
        swa = SWA(_net(seed=7), SWA_CFG, steps_per_epoch=4, swag_rank=5, device="cpu")
        if state is None:
            swa.start(_net())
        else:
            swa.load_state_dict(copy.deepcopy(state))
        for k in epochs:
            swa.epoch(x, y, 16, _gen(k))
            if swa.cycle_end(k):
                swa.collect()
        return swa

    whole = phase([1, 2, 3, 4])
    resumed = phase([3, 4], phase([1, 2]).state_dict())
    for a, b in ((whole.net, resumed.net), (whole.averaged.module, resumed.averaged.module)):
        assert _same(a, b)
    assert torch.equal(whole.swag.sq_mean, resumed.swag.sq_mean) and resumed.swag.n == 2


# --- score --------------------------------------------------------------------------------------

def test_score_is_the_eval_mode_predictive_distribution_scored(data):
    x, y = data
    torch.manual_seed(0)
    net = MLP(D, (8,), K, dropout=0.5)
    net.train()
    s = score(net, x, y)
    assert net.training                                      # mode restored
    assert s == evaluate(predict_probs(net, x), y)
    assert set(s) == {"acc", "err", "nll", "ece", "brier"} and s["acc"] + s["err"] == 1
    assert score(net, x, y, batch_size=7) == pytest.approx(s)   # dropout off: deterministic


def test_given_batches_replace_the_permutation(data):
    """Family G draws one permutation per member: (T, B) index batches, used as given."""
    x, y = data
    a, b = _net(), _net()
    opt_a, opt_b = optimizers.SGD(a.parameters(), lr=0.1), optimizers.SGD(b.parameters(), lr=0.1)
    perm = torch.randperm(N, generator=_gen(3))
    losses = train_epoch(a, opt_a, x, y, 16, _gen(), batches=perm.split(16))
    ref = train_epoch(b, opt_b, x, y, 16, _gen(3))            # minibatches draws the same perm
    assert torch.equal(losses, ref) and _same(a, b)
    seen, net = [], _net()
    pairs = torch.stack([perm, perm.flip(0)]).split(16, dim=1)   # (2, B): two members' batches
    train_epoch(net, optimizers.SGD(net.parameters(), lr=0.1), x, y, 16, _gen(), drop_last=True,
                batches=pairs, loss_fn=lambda out, t: cross_entropy(out.flatten(0, 1), t.flatten()),
                record=lambda i, out, t, loss: seen.append((tuple(out.shape), tuple(t.shape))))
    assert seen == [((2, 16, K), (2, 16))] * 3                # the short (2, 2) batch dropped
