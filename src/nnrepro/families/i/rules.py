"""Family I's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    errors = []
    if s["model"].get("bias", True):
        errors.append("model.bias must be false: Path-SGD's rescaling invariance holds for a "
                      "bias-free ReLU net (Neyshabur et al. 2015)")
    if not s["model"].get("hidden"):
        errors.append("model.hidden is empty: a rescaling needs at least one hidden layer")
    if s["optimizers"]["sgd"]["name"] != "sgd":
        errors.append(f"optimizers.sgd.name is {s['optimizers']['sgd']['name']!r}: the claim compares "
                      "plain SGD with Path-SGD (name: sgd)")
    return errors
