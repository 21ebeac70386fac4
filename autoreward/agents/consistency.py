"""Does a new reward rank stored episodes the way their fitness does? (a check before training)

From the second iteration on, the loop re-scores the stored evaluation episodes of earlier
candidates with each new reward. A reward whose returns rank those episodes against their
fitness (rho well below zero) pays for the wrong behaviour and goes back to the designer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from autoreward.agents.prompts import RenderedPrompt, render
from autoreward.train.ranks import spearman

DEFAULT_INVERSION_THRESHOLD = -0.3


def ranking_agreement(new_returns: Sequence[float], fitness: Sequence[float]) -> float:
    """Spearman rank correlation between new-reward returns and fitness of the same episodes.

    Pairs where either value is NaN or infinite are dropped. Returns NaN when fewer than three
    pairs are left or either side has no variance (no ranking to agree with).
    """
    try:
        return spearman(new_returns, fitness)
    except ValueError:
        raise ValueError(
            "new_returns and fitness must be 1-D and of equal length, got shapes "
            f"{np.shape(new_returns)} and {np.shape(fitness)}"
        ) from None


def inverts_ranking(rho: float, threshold: float = DEFAULT_INVERSION_THRESHOLD) -> bool:
    """True when `rho` is a number at or below `threshold`; NaN (no evidence) never inverts."""
    return not math.isnan(rho) and rho <= threshold


class RankingCheck(BaseModel):
    """The outcome of re-scoring stored episodes with a new reward."""

    rho: float
    n_episodes: int
    threshold: float = DEFAULT_INVERSION_THRESHOLD
    inverted: bool
    evidence: str | None = None
    """The reason text for the designer when `inverted` (rendered from `ranking_evidence_vN`)."""
    evidence_templates: dict[str, str] = Field(default_factory=dict)
    """The templates behind `evidence` (version -> body sha256), for the call's template stamp."""

    def reason(self) -> RenderedPrompt | None:
        """`evidence` as the reason of a revise request, or None when not inverted."""
        if self.evidence is None:
            return None
        return RenderedPrompt(
            text=self.evidence,
            version=next(iter(self.evidence_templates), "ranking_evidence"),
            templates=dict(self.evidence_templates),
        )

    @classmethod
    def compute(
        cls,
        new_returns: Sequence[float],
        fitness: Sequence[float],
        labels: Sequence[str] | None = None,
        *,
        threshold: float = DEFAULT_INVERSION_THRESHOLD,
        max_rows: int = 12,
    ) -> RankingCheck:
        """Correlation, verdict and, when inverted, the evidence for the designer."""
        rho = ranking_agreement(new_returns, fitness)
        inverted = inverts_ranking(rho, threshold)
        if not inverted:
            return cls(rho=rho, n_episodes=len(fitness), threshold=threshold, inverted=False)
        names = (
            list(labels) if labels is not None else [f"episode {i}" for i in range(len(fitness))]
        )
        rows = sorted(zip(fitness, new_returns, names, strict=True), key=lambda r: -_sortable(r[0]))
        if len(rows) > max_rows:
            half = max_rows // 2
            rows = rows[:half] + rows[-half:]
        table = "\n".join(
            ["| episode | fitness | return under the new reward |", "|---|---|---|"]
            + [f"| {name} | {f:.4g} | {r:.4g} |" for f, r, name in rows]
        )
        rendered = render(
            "ranking_evidence",
            n_episodes=len(fitness),
            rho="undefined" if math.isnan(rho) else f"{rho:+.2f}",
            threshold=f"{threshold:+.2f}",
            table=table,
        )
        return cls(
            rho=rho,
            n_episodes=len(fitness),
            threshold=threshold,
            inverted=True,
            evidence=rendered.text,
            evidence_templates=dict(rendered.templates),
        )


def _sortable(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
