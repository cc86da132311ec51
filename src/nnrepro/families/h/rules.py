"""Family H's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations

from nnrepro.rules import IMAGE_SIDE


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    return max_pools_fit(s)


def max_pools_fit(s: dict) -> list[str]:
    """The CNN halves the image side at each 'M' (2×2 max-pool, floor): at least 1 pixel must be
    left (models.CNN refuses the net at train start otherwise)."""
    model = s["model"]
    if model.get("arch") != "cnn" or s.get("dataset") not in IMAGE_SIDE:
        return []
    side, pools = IMAGE_SIDE[s["dataset"]], model["channels"].count("M")
    if side >> pools >= 1:
        return []
    return [f"model.channels has {pools} max-pools ('M'); {s['dataset']}'s {side}×{side} images "
            f"allow at most {side.bit_length() - 1}"]
