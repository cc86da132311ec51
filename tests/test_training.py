"""Training core: deterministic, resumes after a kill, records divergence instead of crashing."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from nnrepro import runner
from nnrepro.config import Run, write_job
from nnrepro.render import render
from nnrepro.results import Results

from nnrepro.training import Checkpoint

from conftest import REPO, TINY_B


def job_file(path, spec, run_id="seed~0"):
    """A training job's params file holding one run of family B (what the train rule passes)."""
    return str(write_job(path, [Run.make("B", run_id, spec)]))


def _run(spec, out, processed):
    runner.run("B", out.name, spec, out, runner.Env("cpu", processed))
    return json.loads((out / "run.json").read_text())


def test_same_seed_same_numbers(tmp_path, processed):
    spec = {**TINY_B, "seed": 0}
    _run(spec, tmp_path / "a", processed)
    _run(spec, tmp_path / "b", processed)
    for table in ("steps", "epochs", "swag_samples", "flatness"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / f"{table}.parquet"),
                                      pd.read_parquet(tmp_path / "b" / f"{table}.parquet"))
    other = {**spec, "seed": 1}
    _run(other, tmp_path / "c", processed)
    assert not pd.read_parquet(tmp_path / "a" / "steps.parquet").equals(
        pd.read_parquet(tmp_path / "c" / "steps.parquet"))


def test_resume_after_kill_gives_the_same_numbers(tmp_path, processed):
    spec = {**TINY_B, "model": {"hidden": [256, 128]}, "batch_size": 16, "epochs": 60,
            "swa": {**TINY_B["swa"], "epochs": 10}, "seed": 0}
    cmd = [sys.executable, "-m", "nnrepro", "train", "--job", job_file(tmp_path / "job.json", spec),
           "--processed-dir", str(processed), "--device", "cpu", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    killed = tmp_path / "killed" / "seed~0"
    proc = subprocess.Popen(cmd + ["--runs-dir", str(killed.parent)], env=env, stderr=subprocess.DEVNULL)
    ckpt = killed.with_name("seed~0.checkpoint.pt")   # beside the run folder (RunDir.checkpoint)
    deadline = time.time() + 120
    epoch = 0
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            try:
                epoch = torch.load(ckpt, weights_only=False)["epoch"]
            except Exception:  # noqa: BLE001 - a checkpoint is replaced atomically; retry
                continue
            if epoch >= 3:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= epoch < spec["epochs"], "the run should be killed mid-way"
    assert not (killed / "run.json").exists()
    subprocess.run(cmd + ["--runs-dir", str(killed.parent)], env=env, check=True, stderr=subprocess.DEVNULL)
    straight = tmp_path / "straight" / "seed~0"
    subprocess.run(cmd + ["--runs-dir", str(straight.parent)], env=env, check=True, stderr=subprocess.DEVNULL)
    for table in ("steps", "epochs", "ensembles"):
        pd.testing.assert_frame_equal(pd.read_parquet(killed / f"{table}.parquet"),
                                      pd.read_parquet(straight / f"{table}.parquet"))


def test_divergence_is_recorded_and_drawn(tmp_path, processed):
    spec = {**TINY_B, "optimizer": {"name": "sgd", "lr": 1e6}, "seed": 0}
    info = _run(spec, tmp_path / "runs" / "seed~0", processed)
    assert info["status"] == "diverged"
    steps = pd.read_parquet(tmp_path / "runs" / "seed~0" / "steps.parquet")
    assert not steps["loss"].map(lambda v: v == v and abs(v) < float("inf")).all()
    ok = tmp_path / "runs" / "seed~1"
    _run({**TINY_B, "seed": 1}, ok, processed)
    claims = render("B", Results([tmp_path / "runs" / "seed~0" / "run.json", ok / "run.json"]),
                    tmp_path / "fig", "test")
    assert len(claims) == 5 and claims["note"].str.contains("diverged").all()
    assert all((tmp_path / "fig" / f"{fid}.png").exists() for fid in claims["figure_id"])


def test_checkpoint_of_other_settings_is_ignored(tmp_path):
    Checkpoint(tmp_path / "c.pt", {"lr": 0.1}).save({"epoch": 3})
    assert Checkpoint(tmp_path / "c.pt", {"lr": 0.1}).load()["epoch"] == 3
    assert Checkpoint(tmp_path / "c.pt", {"lr": 0.2}).load() is None


class Interrupted(Exception):
    """Stands for a kill right after a checkpoint was written."""


def _toy_fit(tmp_path, epochs, lr=0.1, crash_at=None):
    """A linear regression trained by the shared fit loop; returns its status and loss rows."""
    from nnrepro.training import RunState, fit

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    st = RunState(model=model, opt=torch.optim.SGD(model.parameters(), lr=lr), gen=gen, rows=[])

    def epoch(k):
        for idx in torch.randperm(64, generator=st.gen).split(16):
            loss = ((st.model(x[idx]).squeeze(1) - y[idx]) ** 2).mean()
            st.opt.zero_grad()
            loss.backward()
            st.opt.step()
            st.rows.append((k, loss.item()))
        if k == crash_at:
            raise Interrupted
        return torch.tensor([r[1] for r in st.rows if r[0] == k])

    tmp_path.mkdir(exist_ok=True)
    status = fit(st, epochs, Checkpoint(tmp_path / "toy.pt", {"lr": lr}), epoch)
    return status, st.rows


def test_fit_resumes_to_the_same_numbers_and_stops_a_diverged_run(tmp_path):
    status, straight = _toy_fit(tmp_path / "a", 6)
    assert status == "ok" and straight[-1][1] < 0.01 * straight[0][1]
    with pytest.raises(Interrupted):                      # killed during epoch 4
        _toy_fit(tmp_path / "b", 6, crash_at=4)
    status, resumed = _toy_fit(tmp_path / "b", 6)         # resumes after epoch 3
    assert status == "ok" and resumed == straight
    status, rows = _toy_fit(tmp_path / "c", 6, lr=10.0)   # the loss overflows to inf / nan
    assert status == "diverged" and rows[-1][0] < 6
    assert not math.isfinite(rows[-1][1])


def test_a_second_trainer_of_one_run_stops_naming_the_holder(tmp_path):
    """Two trainers must never write one run folder: the second waits, then stops with the
    PID of the first; a killed holder frees the lock at once (flock)."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from nnrepro.runner import exclusive\n"
        "with exclusive(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)"),
        str(tmp_path / "run")], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(runner.RunLocked, match=rf"being trained by PID {holder.pid}"):
        with runner.exclusive(tmp_path / "run", wait_s=1):
            pass
    holder.kill()
    holder.wait()
    with runner.exclusive(tmp_path / "run", wait_s=5):   # SIGKILL freed it
        pass


def test_trainer_stops_when_the_workflow_is_gone(tmp_path, processed):
    """`kill -9` of Snakemake must not leave an orphan trainer: it watches its workflow's PID."""
    workflow = subprocess.Popen(["sleep", "300"])
    spec = {**TINY_B, "model": {"hidden": [256, 128]}, "batch_size": 16, "epochs": 200, "seed": 0}
    trainer = subprocess.Popen(
        [sys.executable, "-m", "nnrepro", "train", "--job", job_file(tmp_path / "job.json", spec),
         "--runs-dir", str(tmp_path), "--processed-dir",
         str(processed), "--device", "cpu", "--threads", "1", "--parent-pid", str(workflow.pid)],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}, stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    assert trainer.poll() is None, trainer.stderr.read()
    workflow.kill()
    workflow.wait()
    assert trainer.wait(timeout=15) == 3
    assert "is gone: stopping this trainer" in trainer.stderr.read()
    assert not (tmp_path / "seed~0" / "run.json").exists()


def test_a_finite_but_exploding_loss_is_diverged(tmp_path, processed):
    """Adam at lr 1e4 reaches losses of 1e16 that stay finite: with the bound it is diverged
    (and the claims exclude it); without the bound the old rule (non-finite only) lets it pass."""
    spec = {**TINY_B, "optimizer": {"name": "adam", "lr": 1e4}, "seed": 0}
    env = runner.Env("cpu", processed, max_loss_ratio=1000.0)
    runner.run("B", "r", spec, tmp_path / "bounded", env)
    info = json.loads((tmp_path / "bounded" / "run.json").read_text())
    steps = pd.read_parquet(tmp_path / "bounded" / "steps.parquet")
    assert info["status"] == "diverged"
    assert steps["loss"].map(math.isfinite).all() and steps["loss"].max() > 1000 * steps["loss"].iloc[0]


def test_run_state_round_trips_lists_and_dicts_in_place(tmp_path):
    """Lists and dicts of models, optimizers and generators are saved and loaded recursively
    into the same objects; plain values (rows, lists of tensors) are replaced."""
    from nnrepro.training import RunState

    def state(seed):
        torch.manual_seed(seed)
        nets = [torch.nn.Linear(3, 2) for _ in range(2)]
        return RunState(nets=nets, opts={("SGD", "a"): torch.optim.SGD(nets[0].parameters(), lr=0.1, momentum=0.9)},
                        gens=[torch.Generator().manual_seed(seed)], rows=[seed], samples=[[], []])

    a = state(0)
    a.nets[0](torch.ones(1, 3)).sum().backward()
    a.opts[("SGD", "a")].step()                                   # a momentum buffer to restore
    a.gens[0].manual_seed(7)
    a.samples[1].append(torch.ones(2))
    Checkpoint(tmp_path / "s.pt").save(a.state_dict())
    b = state(1)
    nets, opt = list(b.nets), b.opts[("SGD", "a")]
    assert not torch.equal(nets[0].weight, a.nets[0].weight)
    b.load_state_dict(Checkpoint(tmp_path / "s.pt").load(), "cpu")
    assert b.nets[0] is nets[0] and b.opts[("SGD", "a")] is opt             # loaded in place
    assert all(torch.equal(p, q) for x, y in zip(a.nets, b.nets) for p, q in zip(x.parameters(), y.parameters()))
    assert torch.equal(opt.state_dict()["state"][0]["momentum_buffer"],
                       a.opts[("SGD", "a")].state_dict()["state"][0]["momentum_buffer"])
    assert torch.equal(b.gens[0].get_state(), a.gens[0].get_state())
    assert b.rows == [0] and len(b.samples[1]) == 1 and b.samples[0] == []


def _dropout_fit(path, epochs=4, crash_at=None):
    """A fit whose epochs draw from torch's global RNG (as dropout does); its draws."""
    from nnrepro.training import RunState, fit

    torch.manual_seed(0)                                         # as a rerun's generator(seed) would
    st = RunState(draws=[])

    def epoch(k):
        st.draws.append(torch.rand(3).tolist())
        return torch.zeros(1)

    save = Checkpoint.save

    def save_then_crash(self, state):
        save(self, state)
        if state.get("epoch") == crash_at:
            raise Interrupted
    Checkpoint.save = save_then_crash
    try:
        fit(st, epochs, Checkpoint(path), epoch)
    finally:
        Checkpoint.save = save
    return st.draws


def test_the_global_rng_is_restored_on_resume(tmp_path):
    straight = _dropout_fit(tmp_path / "a.pt")
    with pytest.raises(Interrupted):
        _dropout_fit(tmp_path / "b.pt", crash_at=2)
    resumed = _dropout_fit(tmp_path / "b.pt")              # reseeded to 0 first, like a rerun
    assert resumed == straight and straight[2] != straight[0]


def test_a_finished_stage_is_not_rerun_after_a_kill(tmp_path):
    """Stage "first" finishes, stage "second" is killed after its epoch 2: the rerun returns
    the first stage's kept result without calling it, restores the global RNG after it, and
    resumes the second at epoch 3; the results equal those of a run that never stopped."""
    from nnrepro.training import RunState, Stages, fit

    def one_run(path, crash_at=None):
        calls, save = [], Checkpoint.save

        def first(ckpt):
            calls.append("first")
            return torch.rand(2).tolist()                        # moves the global RNG

        def second(ckpt):
            calls.append("second")
            st = RunState(draws=[])

            def epoch(k):
                st.draws.append(torch.rand(1).item())
                return torch.zeros(1)
            fit(st, 4, ckpt, epoch)
            return st.draws

        def save_then_crash(self, state):
            save(self, state)
            if state.get("_stage") == "second" and state.get("epoch") == crash_at:
                raise Interrupted
        torch.manual_seed(0)
        Checkpoint.save = save_then_crash
        try:
            stages = Stages(Checkpoint(path, {"k": 1}))
            return stages("first", first), stages("second", second), calls
        finally:
            Checkpoint.save = save

    a, b, calls = one_run(tmp_path / "straight.pt")
    assert calls == ["first", "second"]
    with pytest.raises(Interrupted):
        one_run(tmp_path / "killed.pt", crash_at=2)
    saved = torch.load(tmp_path / "killed.pt", weights_only=False)
    assert saved["_stage"] == "second" and saved["epoch"] == 2 and "_stages" not in saved
    finished = torch.load(tmp_path / "killed.stages.pt", weights_only=False)  # written once a stage
    assert list(finished["_stages"]) == ["first"]
    a2, b2, calls = one_run(tmp_path / "killed.pt")
    assert calls == ["second"]                                  # the first stage was not rerun
    assert (a2, b2) == (a, b)


PINNED_SWA_STREAM = 6461100865691038733   # stream_seed(0, "swa")


def test_seed_streams_are_named_hashed_and_never_collide():
    from nnrepro.training import stream, stream_seed

    keys = [(seed, name, ints) for seed in range(20) for name in ("member", "net A", "net B", "swa")
            for ints in [(), (0,), (1,), (0, 1), (1, 0), (10,)]]
    assert len({stream_seed(seed, name, *ints) for seed, name, ints in keys}) == len(keys)
    # the arithmetic it replaces collided: F's 1000·seed + k and L's 1000·k + seed
    assert stream_seed(1, "mc net", 2) != stream_seed(2, "member", 1)
    # the same stream in every process and version (sha256, not Python's salted hash)
    assert stream_seed(0, "swa") == PINNED_SWA_STREAM and 0 <= PINNED_SWA_STREAM < 2 ** 63
    assert torch.equal(torch.rand(5, generator=stream(0, "swa")), torch.rand(5, generator=stream(0, "swa")))
