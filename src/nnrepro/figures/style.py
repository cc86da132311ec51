"""Shared look of every figure: seaborn theme, the claim stamped under the plot."""
from __future__ import annotations

import textwrap

import seaborn as sns

from nnrepro.claims import VERDICT_COLOR


def apply_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


def stamp_claim(fig, claim, profile: str) -> None:
    """Write the claim, how it is tested, the value and verdict under the axes, coloured by outcome."""
    text = f"[{profile}] Claim: {claim.claim}. {claim.summary()}"
    if claim.note:
        text += f" — {claim.note}"
    width = max(60, int(fig.get_figwidth() * 13))
    text = "\n".join(textwrap.wrap(text, width))
    nlines = text.count("\n") + 1
    fig.tight_layout(rect=(0, 0.035 * nlines + 0.02, 1, 1))
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=9,
             color=VERDICT_COLOR[claim.verdict])


def mark_diverged(ax, runs: list[str]) -> None:
    """Say on the axes which runs diverged (NaN/inf loss), so a reader sees it at a glance."""
    if runs:
        ax.text(0.99, 0.98, "diverged: " + ", ".join(runs), transform=ax.transAxes, ha="right",
                va="top", fontsize=8, color=VERDICT_COLOR["fail"],
                bbox=dict(facecolor="white", alpha=0.8, edgecolor=VERDICT_COLOR["fail"]))
