"""Family A's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations

import json

from nnrepro.rules import collected_samples


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    return collected_samples(s["epochs"], s["sampler"], "", "; the sample ensemble and the "
                             "distance between samples need ≥ 2")


def stack_key(s: dict) -> str | None:
    """The shape runs must share to train as one stacked model (issue 25; ``experiment.run_stack``,
    ``nnrepro.stacked``): every setting but the seed and the sampler's hyper-parameters (ε, C, M,
    T, γ, α, ``scale_lr``, σ, schedule, cycles, resampling: one value per member). None: the run
    cannot be stacked (SGLD; a model with batchnorm, dropout or without biases)."""
    m = s["model"]
    if s["sampler"]["name"] != "sghmc" or m["batchnorm"] or m["dropout"] or not m["bias"]:
        return None
    return json.dumps({k: v for k, v in s.items() if k not in ("seed", "sampler")},
                      sort_keys=True, default=str)
