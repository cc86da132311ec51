"""Family H's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    return []
