"""Family F's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations

from nnrepro.rules import low_high


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    errors = low_high(s["regression"]["x_range"], "regression.x_range")
    for lo, hi in s["regression"]["intervals"]:
        if not lo < hi:
            errors.append(f"regression.intervals: [{lo}, {hi}] must have low < high")
    for part in ("regression", "mc"):
        if not s[part]["model"]["dropout"] > 0:
            errors.append(f"{part}.model.dropout must be > 0: the MC dropout masks are its ensemble")
    return errors
