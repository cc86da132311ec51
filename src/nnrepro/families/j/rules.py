"""Family J's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations

import json


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    left = (1 - s["prune"]["hidden_rate"]) ** s["prune"]["rounds"]
    if left < 1e-4:
        return [f"prune.rounds {s['prune']['rounds']} at prune.hidden_rate "
                f"{s['prune']['hidden_rate']} leaves {left:.2g} of the weights (< 0.01 %): "
                "tickets are studied down to ≈ 1 %"]
    return []


def stack_key(s: dict) -> str | None:
    """The shape runs must share to train as one stacked model (issue 25; ``experiment.run_stack``):
    every setting but the seed and Adam's learning rate (one value per member). None: the run cannot be stacked (not Adam; a model with
    batchnorm, dropout or without biases)."""
    m = s["model"]
    if s["optimizer"]["name"] not in ("adam", "amsgrad") or m["batchnorm"] or m["dropout"] \
            or not m["bias"]:
        return None
    shape = {k: v for k, v in s.items() if k != "seed"}
    shape["optimizer"] = {k: v for k, v in s["optimizer"].items() if k != "lr"}
    return json.dumps(shape, sort_keys=True, default=str)
