"""Same config and seed, same numbers, on the CPU and on CUDA (nnrepro.determinism): what a
training process pins, what run.json records, a checkpoint of another device type ignored.
The CUDA tests run only where a GPU is present (never in CI)."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from nnrepro import determinism, runner
from nnrepro.catalogue import FAMILIES
from nnrepro.config import Run, write_job
from nnrepro.training import Checkpoint

from conftest import REPO, TINY_B, tiny

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_pin_turns_tf32_and_the_autotuner_off_and_says_so():
    pinned = determinism.pin("cpu")
    assert pinned["tf32_matmul"] is False and pinned["tf32_cudnn"] is False
    assert pinned["float32_matmul_precision"] == "highest" and pinned["cudnn_benchmark"] is False
    assert pinned["device_type"] == "cpu" and pinned["cublas_workspace_config"]
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_tf32_is_cuda_only_and_recorded():
    """``tf32: true`` (H's paper profile) changes nothing on a CPU, and says so."""
    pinned = determinism.pin("cpu", tf32=True)
    assert pinned["tf32_matmul"] is False and pinned["float32_matmul_precision"] == "highest"
    if torch.cuda.is_available():
        on = determinism.pin("cuda", tf32=True)
        assert on["tf32_matmul"] and on["tf32_cudnn"] and on["float32_matmul_precision"] == "high"
        determinism.pin("cuda")
        assert not torch.backends.cuda.matmul.allow_tf32


def test_the_trainer_sets_cublas_workspace_before_cuda_and_run_json_records_it(tmp_path, processed):
    spec = {**TINY_B, "epochs": 1, "swa": {**TINY_B["swa"], "epochs": 2}, "seed": 0}
    job = write_job(tmp_path / "job.json", [Run.make("B", "seed~0", spec)])
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    subprocess.run([sys.executable, "-m", "nnrepro", "train", "--job", str(job), "--runs-dir",
                    str(tmp_path / "runs"), "--processed-dir", str(processed), "--device", "cpu",
                    "--threads", "1"], env={**env, "PYTHONPATH": str(REPO / "src")}, check=True,
                   stderr=subprocess.DEVNULL)
    info = json.loads((tmp_path / "runs" / "seed~0" / "run.json").read_text())
    assert info["determinism"]["cublas_workspace_config"] == determinism.CUBLAS_WORKSPACE_CONFIG
    assert info["determinism"]["tf32_matmul"] is False and info["device"] == "cpu"


def test_a_checkpoint_written_on_another_device_type_is_ignored(tmp_path, env):
    """A GPU run's checkpoint must not crash (or steer) a resume on the CPU: its key differs."""
    spec = {**TINY_B, "epochs": 2, "swa": {**TINY_B["swa"], "epochs": 2}, "seed": 0}
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    runner.run("B", "straight", spec, straight, env)
    run = Run.from_spec("B", "resumed", spec)
    foreign = Checkpoint(resumed.with_name("resumed.checkpoint.pt"), {**run.spec, "device_type": "cuda"})
    foreign.save({"epoch": 1, "garbage": torch.zeros(3)})
    runner.run("B", "resumed", spec, resumed, env)
    for table in ("steps", "epochs"):
        pd.testing.assert_frame_equal(pd.read_parquet(straight / f"{table}.parquet"),
                                      pd.read_parquet(resumed / f"{table}.parquet"), check_exact=True)


@cuda
def test_two_identical_cuda_runs_are_bit_equal(tmp_path, processed):
    gpu = runner.Env(device="cuda", processed_dir=processed, max_loss_ratio=1000.0)
    spec = {**TINY_B, "seed": 0}
    for name in ("a", "b"):
        runner.run("B", name, spec, tmp_path / name, gpu)
    info = json.loads((tmp_path / "a" / "run.json").read_text())
    assert info["determinism"]["deterministic_algorithms"] is True and info["device"].startswith("cuda")
    for table in ("steps", "epochs", "swag_samples", "flatness"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / f"{table}.parquet"),
                                      pd.read_parquet(tmp_path / "b" / f"{table}.parquet"), check_exact=True)


@cuda
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_training_familys_tiny_run_on_cuda(family, tmp_path, processed):
    """Each family's tiny block (no grid) runs with device cuda under deterministic algorithms."""
    gpu = runner.Env(device="cuda", processed_dir=processed, max_loss_ratio=1000.0)
    spec = {k: v for k, v in tiny(family).items() if k != "grid"}
    runner.run(family, "r", spec, tmp_path / "r", gpu)
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] in ("ok", "diverged")
