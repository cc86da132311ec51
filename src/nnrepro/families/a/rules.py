"""Family A's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations

from nnrepro.rules import collected_samples


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    return collected_samples(s["epochs"], s["sampler"], "", "; the sample ensemble and the "
                             "distance between samples need ≥ 2")
