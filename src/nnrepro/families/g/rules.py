"""Family G's rules across fields: settings that pass the schema one field at a time but would
leave a figure with nothing to draw or stop a job; checked for every run before any job starts."""
from __future__ import annotations

from nnrepro.rules import CLASSES, INPUTS

WEIGHT_LIMIT = 4 * 2**30    # bytes of float32 weights the width sweep may stack for one width


def errors(s: dict) -> list[str]:
    """One line per broken rule of the run's settings ``s`` (defaults filled in)."""
    return widths_fit(s) + bezier_optimizer(s) + width_cap(s)


def width_cap(s: dict) -> list[str]:
    """The stopping rule's cap comes after the fixed budget every run trains."""
    w = s["width"]
    if w.get("max_epochs") is not None and w["max_epochs"] < w["epochs"]:
        return [f"width.max_epochs ({w['max_epochs']}) is below width.epochs ({w['epochs']}): every run "
                "trains width.epochs, then on to the cap"]
    return []


def widths_fit(s: dict) -> list[str]:
    """All ``repeats`` nets of one width train as one stacked model d → H → 10: its float32
    weights, repeats × (d·H + H + 10·H + 10) × 4 bytes, must stay under WEIGHT_LIMIT (4 GiB;
    gradients and optimizer state come on top)."""
    if "width" not in s["parts"] or s.get("dataset") not in INPUTS:
        return []
    w, d = s["width"], INPUTS[s["dataset"]]
    widest = max(w["widths"])
    nbytes = 4 * w["repeats"] * (d * widest + widest + CLASSES * widest + CLASSES)
    if nbytes <= WEIGHT_LIMIT:
        return []
    return [f"width.widths: width {widest} × {w['repeats']} repeats on {s['dataset']} is "
            f"{nbytes / 1e9:.1f} GB of float32 weights, above the {WEIGHT_LIMIT / 2**30:.0f} GiB limit"]


def bezier_optimizer(s: dict) -> list[str]:
    """The Bézier control point trains with torch's Adam or SGD (landscape.fit_bezier): of the
    optimizer block only name (adam or sgd), lr and momentum (sgd) are used."""
    opt = s["paths"]["bezier"]["optimizer"]
    errors = [] if opt["name"] in ("adam", "sgd") else [
        f"paths.bezier.optimizer.name: {opt['name']!r}: the Bézier curve trains with adam or sgd"]
    extra = sorted(set(opt) - {"name", "lr"} - ({"momentum"} if opt["name"] == "sgd" else set()))
    return errors + [f"paths.bezier.optimizer: {', '.join(extra)} not used by {opt['name']}"] if extra else errors
