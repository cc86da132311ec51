"""Rules across fields that several families share (each family's own are in
``nnrepro/families/<x>/rules.py``): settings that pass the schema one field at a time but would
leave a figure with nothing to draw, or stop a job. Checked for every run before any job
starts (``nnrepro.config.cross_field_errors``). Light: no torch."""
from __future__ import annotations

TRAIN_SIZE = {"digits": 1347, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}
IMAGE_SIDE = {"digits": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32}     # square images
INPUTS = {"digits": 64, "mnist": 784, "fashion_mnist": 784, "cifar10": 3072}     # pixels × channels
CLASSES = 10                                                                     # every data set


def batch_fits(s: dict) -> list[str]:
    """A minibatch is at most the training set (every family with ``dataset`` and ``batch_size``)."""
    if "batch_size" in s and "dataset" in s and s["batch_size"] > TRAIN_SIZE[s["dataset"]]:
        return [f"batch_size {s['batch_size']} is larger than {s['dataset']}'s "
                f"{TRAIN_SIZE[s['dataset']]} training images"]
    return []


def collected_samples(epochs: int, sampler: dict, prefix: str, need: str) -> list[str]:
    """An SGHMC chain keeps a sample at each cycle end after burn-in (families A, L)."""
    collected = epochs // sampler["cycle_epochs"] - sampler["burnin_cycles"]
    if collected >= 2:
        return []
    return [f"{prefix}epochs {epochs} // {prefix}sampler.cycle_epochs {sampler['cycle_epochs']} − "
            f"{prefix}sampler.burnin_cycles {sampler['burnin_cycles']} = {collected} collected "
            f"samples{need}"]


def swa_iterates(s: dict) -> list[str]:
    """SWA's iterates feed SWA, SWAG (and B's plane of three iterates): families B, L."""
    iterates = s["swa"]["epochs"] // s["swa"]["cycle_epochs"]
    if iterates < 2:
        return [f"swa.epochs {s['swa']['epochs']} // swa.cycle_epochs {s['swa']['cycle_epochs']} "
                f"= {iterates} SWA iterates; SWA and SWAG need ≥ 2 (B's plane of three iterates ≥ 3)"]
    if s["swag"]["rank"] > iterates:
        return [f"swag.rank {s['swag']['rank']} is larger than the {iterates} SWA iterates it is "
                "estimated from"]
    return []


def low_high(lo_hi: list, key: str) -> list[str]:
    """An interval ``[low, high]`` with low < high."""
    return [] if lo_hi[0] < lo_hi[1] else [f"{key} {lo_hi} must have low < high"]
