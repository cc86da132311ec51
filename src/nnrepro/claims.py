"""Claims: the numeric check behind each figure, evaluated on the run's own results.

A claim that fails is a finding: it is written to ``results/claims.csv`` as failed, with its value.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

COLUMNS = ["figure_id", "claim", "value", "threshold", "passed", "profile"]


@dataclass
class Claim:
    figure_id: str
    claim: str          # the check in words, e.g. "SWA test error / base test error <= 1"
    value: float        # the measured number
    threshold: float    # what it is compared with (nan for reference figures)
    passed: bool | None  # None: reference figure, nothing to check
    note: str = ""      # e.g. "2 of 6 runs diverged"

    def row(self, profile: str) -> dict:
        d = asdict(self)
        d["profile"] = profile
        return d

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "reference"}[self.passed]

    def summary(self) -> str:
        v = "nan" if self.value is None or math.isnan(self.value) else f"{self.value:.4g}"
        t = "" if self.threshold is None or math.isnan(self.threshold) else f" (threshold {self.threshold:.4g})"
        return f"{self.verdict}: {self.claim}; value {v}{t}"


def less(figure_id: str, claim: str, value: float, threshold: float, note: str = "",
         inclusive: bool = False) -> Claim:
    """Claim that passes when value < threshold (<= if inclusive; a non-finite value fails)."""
    ok = bool(math.isfinite(value) and (value <= threshold if inclusive else value < threshold))
    return Claim(figure_id, claim, float(value), float(threshold), ok, note)


def greater(figure_id: str, claim: str, value: float, threshold: float, note: str = "",
            inclusive: bool = False) -> Claim:
    """Claim that passes when value > threshold (>= if inclusive; a non-finite value fails)."""
    ok = bool(math.isfinite(value) and (value >= threshold if inclusive else value > threshold))
    return Claim(figure_id, claim, float(value), float(threshold), ok, note)


def reference(figure_id: str, what: str, value: float = math.nan) -> Claim:
    """A reference figure: nothing to check, the row records what was drawn."""
    return Claim(figure_id, what, float(value), math.nan, None)
