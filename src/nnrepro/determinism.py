"""Same config and seed, same numbers: what a training process pins before it computes.

On a CPU the kernels nnrepro uses are deterministic already. On CUDA three things are not by
default (PyTorch's reproducibility notes, ``torch.use_deterministic_algorithms``):

- cuBLAS picks reduction orders per stream unless ``CUBLAS_WORKSPACE_CONFIG`` is ``:4096:8``
  (or ``:16:8``) **before the CUDA context exists**: ``environment()`` sets it, and the trainer
  calls it before anything touches CUDA;
- some kernels have only nondeterministic implementations: ``torch.use_deterministic_algorithms
  (True)`` (not ``warn_only``) makes every op use a deterministic one or raise a RuntimeError
  naming it, so a nondeterministic op fails the run instead of silently changing its numbers;
  cuDNN's autotuner (``benchmark``) is off, its ``deterministic`` flag on;
- float32 precision: TF32 matmuls and convolutions round to a 10-bit mantissa; both are pinned
  off (``float32_matmul_precision = "highest"``), so a GPU run computes what the CPU run does,
  up to summation order. A run whose settings say ``tf32: true`` (family H's VGG, FLOP-bound on
  a GPU: ≈ 3× faster) turns both on, deterministically still, and run.json records it.

``pin(device)`` applies these and returns them, for run.json. A CUDA run is still another
realisation of the same experiment: ``torch.Generator(device="cuda")`` streams differ from the
CPU's with the same seed. Light: no torch at import, so the trainer can call ``environment()``
first.
"""
from __future__ import annotations

import os

CUBLAS_WORKSPACE_CONFIG = ":4096:8"


def environment() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` unless the user chose one (before any CUDA context)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)


def pin(device, tf32: bool = False) -> dict:
    """Pin deterministic algorithms and float32 precision (fp32, or TF32 where ``tf32``) for
    ``device``; what was pinned."""
    import torch

    environment()
    cuda = torch.device(device).type == "cuda"
    tf32 = bool(tf32) and cuda                         # TF32 exists on CUDA only: a CPU stays fp32
    torch.backends.cuda.matmul.allow_tf32 = tf32       # fp32 matmuls in fp32 unless TF32 asked for
    torch.backends.cudnn.allow_tf32 = tf32             # the same for cuDNN convolutions
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.benchmark = False             # no autotuner: the same kernel every run
    torch.backends.cudnn.deterministic = True
    if cuda:               # a nondeterministic CUDA op raises instead of changing the numbers
        torch.use_deterministic_algorithms(True)
    return {"device_type": torch.device(device).type,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda if cuda else None,
            "gpu": torch.cuda.get_device_name(torch.device(device)) if cuda else None}
