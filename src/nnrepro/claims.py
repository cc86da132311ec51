"""Claims: the numeric check behind each figure, evaluated on the run's own results.

A claim has a value, its 95 % interval over the independent units behind it (seeds, runs, test
images) and a verdict: ``pass`` when the whole interval is on the right side of the threshold,
``fail`` when it is on the wrong side, ``inconclusive`` when it straddles it or when there is too
little data (fewer units than the claim needs). Mathematical claims (families D, E) have no
interval: their value is compared with the threshold exactly. A claim that fails is a finding:
it is written to ``results/claims.csv`` with its value, interval and the reason.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

COLUMNS = ["figure_id", "claim", "test", "value", "low", "high", "n", "threshold", "verdict", "passed",
           "diverged", "document", "comparable", "profile"]
# the verdicts, in the order every table and count lists them, and the colour each is shown in
VERDICTS = ("pass", "fail", "inconclusive", "reference")
VERDICT_COLOR = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700",
                 "reference": "#57606a"}


@dataclass
class Claim:
    figure_id: str
    test: str            # how the claim is tested, in words: statistic, units, threshold
    value: float         # the measured number (mean over units where there is an interval)
    threshold: float     # what it is compared with (nan for reference figures)
    passed: bool | None  # True for pass, False for fail, None for inconclusive and reference
    note: str = ""       # e.g. "2 of 6 runs diverged (excluded)"
    low: float = math.nan    # 95 % interval of the value over its units (nan: exact claim)
    high: float = math.nan
    n: int = 0           # independent units behind the value (seeds, runs, images); 0: exact
    verdict: str = ""    # pass / fail / inconclusive / reference; set from passed if empty
    finding: str = ""    # why, computed from the data: shown beside the verdict in the report
    diverged: int = 0    # runs excluded because they diverged
    document: str = ""   # the source's own number for this figure (families.Figure.document)
    comparable: str = ""  # whether our scale can test that number, and why not
    claim: str = ""      # what the source claims: the catalogue's one wording (set by render.render)

    def __post_init__(self):
        if not self.verdict:
            self.verdict = {True: "pass", False: "fail", None: "reference"}[self.passed]
        self.passed = {"pass": True, "fail": False}.get(self.verdict)

    def row(self, profile: str) -> dict:
        d = asdict(self)
        d["profile"] = profile
        return d

    def summary(self) -> str:
        v = "nan" if self.value is None or math.isnan(self.value) else f"{self.value:.4g}"
        if math.isfinite(self.low) and math.isfinite(self.high):
            v += f" [95 % {self.low:.3g}, {self.high:.3g}; n = {self.n}]"
        t = "" if self.threshold is None or math.isnan(self.threshold) else f" (threshold {self.threshold:.4g})"
        return f"{self.verdict.upper()}: {self.test}; value {v}{t}"


def mean_interval(values, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the finite ``values``: Student-t interval of the mean over
    independent units (seeds); one unit gives no interval."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n == 1 or np.all(x == x[0]):
        return (mean, math.nan, math.nan, n) if n == 1 else (mean, mean, mean, n)
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def decide(value: float, low: float, high: float, n: int, threshold: float, above: bool,
           inclusive: bool = False, min_n: int = 1) -> str:
    """The verdict of "value > threshold" (``above``) or "value < threshold": from the interval
    when there is one, from the value itself when the claim is exact (n = 0)."""
    if not math.isfinite(value) or (n and n < min_n):
        return "inconclusive"
    def right(v):
        return (v >= threshold if inclusive else v > threshold) if above else \
               (v <= threshold if inclusive else v < threshold)
    if n == 0:                                   # exact (mathematical) claim
        return "pass" if right(value) else "fail"
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"                    # one unit: no interval
    if right(low) and right(high):
        return "pass"
    if not right(low) and not right(high):
        return "fail"
    return "inconclusive"


def fisher_interval(values, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of correlation coefficients, one per independent unit: the
    Student-t interval of the mean of z = atanh(ρ) mapped back by tanh, so it stays in
    [−1, 1] (Fisher's z transform)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    z = np.arctanh(np.clip(x, -1 + 1e-12, 1 - 1e-12))
    mean, low, high, n = mean_interval(z, confidence)
    return (float(np.tanh(mean)), float(np.tanh(low)), float(np.tanh(high)), n)


def bootstrap_interval(units, statistic, confidence: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float, float, int]:
    """(statistic(units), low, high, n): percentile bootstrap over the independent units
    (resampled with replacement, a fixed seed so the interval is reproducible). ``units`` is
    a sequence (one entry per unit, e.g. a trial's curve) and ``statistic`` maps such a
    sequence to a number; the interval of a bounded statistic stays within its bounds."""
    units = list(units)
    n = len(units)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    value = float(statistic(units))
    if n == 1:
        return value, math.nan, math.nan, 1
    rng = np.random.default_rng(seed)
    draws = np.array([statistic([units[i] for i in rng.integers(0, n, n)])
                      for _ in range(resamples)], float)
    draws = draws[np.isfinite(draws)]
    tail = (1 - confidence) / 2
    return value, float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail)), n


def proportion_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(k/n, low, high, n): the exact (Clopper–Pearson) interval of a proportion, e.g. the
    fraction of seeds in which a net diverged."""
    from scipy import stats

    if n == 0:
        return math.nan, math.nan, math.nan, 0
    tail = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return k / n, low, high, n


def _compare(figure_id, claim, value, threshold, note, inclusive, above, units, min_n,
             finding, diverged, interval=None) -> Claim:
    """A claim on ``value`` (exact), on the mean of ``units`` with its 95 % t-interval, or on
    an ``interval`` = (value, low, high, n) computed by the caller (fisher_interval,
    bootstrap_interval, proportion_interval)."""
    low = high = math.nan
    n = 0
    if units is not None or interval is not None:
        value, low, high, n = interval if interval is not None else mean_interval(units)
        note = f"{note}; n = {n}" if note else f"n = {n}"
        if n < min_n:
            note += f" (fewer than the {min_n} needed)"
    verdict = decide(float(value), low, high, n, float(threshold), above, inclusive, min_n)
    if (units is not None or interval is not None) and n == 0:
        verdict = "inconclusive"                 # no unit at all: never an exact comparison
    return Claim(figure_id, claim, float(value), float(threshold), None, note, low, high, n,
                 verdict, finding, diverged)


def less(figure_id: str, claim: str, value: float, threshold: float, note: str = "",
         inclusive: bool = False, units=None, min_n: int = 2, finding: str = "",
         diverged: int = 0, interval=None) -> Claim:
    """Claim that value < threshold (<= if inclusive). With ``units`` (the value per seed or
    per run) the value is their mean and the verdict comes from its 95 % interval; with
    ``interval`` = (value, low, high, n) from the caller; without either, the comparison is
    exact (mathematical claims)."""
    return _compare(figure_id, claim, value, threshold, note, inclusive, False, units, min_n,
                    finding, diverged, interval)


def greater(figure_id: str, claim: str, value: float, threshold: float, note: str = "",
            inclusive: bool = False, units=None, min_n: int = 2, finding: str = "",
            diverged: int = 0, interval=None) -> Claim:
    """Claim that value > threshold (>= if inclusive); ``units``, ``interval`` as in ``less``."""
    return _compare(figure_id, claim, value, threshold, note, inclusive, True, units, min_n,
                    finding, diverged, interval)


def within(figure_id: str, claim: str, target: float, tolerance: float, note: str = "",
           units=None, min_n: int = 2, finding: str = "", diverged: int = 0,
           interval=None) -> Claim:
    """Claim that the value lies within ``target ± tolerance`` (e.g. a rate predicted by
    theory): pass when the whole interval is inside the band, fail when it lies wholly
    outside, inconclusive when it overlaps an edge. ``threshold`` records the tolerance."""
    inside = _compare(figure_id, claim, math.nan, tolerance, note, False, False, units, min_n,
                      finding, diverged, interval)
    value, low, high, n = inside.value, inside.low, inside.high, inside.n
    if n < min_n or not (math.isfinite(low) and math.isfinite(high)):
        verdict = "inconclusive"
    elif target - tolerance < low and high < target + tolerance:
        verdict = "pass"
    elif high < target - tolerance or low > target + tolerance:
        verdict = "fail"
    else:
        verdict = "inconclusive"
    return replace(inside, verdict=verdict, passed=None)


def reference(figure_id: str, what: str, value: float = math.nan) -> Claim:
    """A reference figure: nothing to check, the row records what was drawn."""
    return Claim(figure_id, what, float(value), math.nan, None)


def why_inconclusive(c: Claim) -> str:
    """Why an empirical claim is inconclusive, and what would decide it (for its finding)."""
    if c.verdict != "inconclusive" or c.finding.startswith("no data"):
        return ""
    if not math.isfinite(c.value) or c.n == 0:
        return "inconclusive: no unit to judge (see the note)"
    if "fewer than the" in c.note:
        return f"inconclusive: {c.n} units, fewer than the claim needs; more seeds would decide it"
    if not (math.isfinite(c.low) and math.isfinite(c.high)):
        return f"inconclusive: {c.n} unit gives no interval; more seeds would decide it"
    if min(c.low, c.high) <= c.threshold <= max(c.low, c.high):
        return (f"inconclusive: the 95 % interval [{c.low:.3g}, {c.high:.3g}] over n = {c.n} "
                f"units contains the threshold {c.threshold:.3g}; more units (or a larger effect) "
                "would decide it")
    return ("inconclusive: one of its conditions is undecided (see the note); more units would "
            "decide it")


def holds(figure_id: str, ok: bool, note: str = "") -> Claim:
    """An exact condition that holds or not, e.g. the second part of a claim for ``both``:
    pass when it holds, fail otherwise."""
    return Claim(figure_id, "", float(bool(ok)), 1.0, bool(ok), note)


def both(first: Claim, second: Claim, note: str = "") -> Claim:
    """A claim with two conditions: it passes when both pass, fails when either fails, and is
    inconclusive otherwise; value and interval are the first condition's."""
    verdicts = {first.verdict, second.verdict}
    verdict = "fail" if "fail" in verdicts else "pass" if verdicts == {"pass"} else "inconclusive"
    return replace(first, verdict=verdict, passed=None, note=note or first.note)
