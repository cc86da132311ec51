"""Family L's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations

from nnrepro.rules import collected_samples, swa_iterates


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    return swa_iterates(s) + collected_samples(s["sghmc"]["epochs"], s["sghmc"]["sampler"], "sghmc.",
                                               " a chain; an ensemble needs ≥ 2")
