"""Family J's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    left = (1 - s["prune"]["hidden_rate"]) ** s["prune"]["rounds"]
    if left < 1e-4:
        return [f"prune.rounds {s['prune']['rounds']} at prune.hidden_rate "
                f"{s['prune']['hidden_rate']} leaves {left:.2g} of the weights (< 0.01 %): "
                "tickets are studied down to ≈ 1 %"]
    return []
