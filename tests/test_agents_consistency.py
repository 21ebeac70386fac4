"""Ranking agreement between a new reward's returns and fitness (autoreward.agents.consistency)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoreward.agents.consistency import (
    RankingCheck,
    inverts_ranking,
    ranking_agreement,
)
from autoreward.train.ranks import average_ranks


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([10.0, 20.0, 20.0, 5.0])).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_matches_a_hand_computation_with_ties() -> None:
    # returns:  3, 1, 4, 1, 5   -> ranks 3, 1.5, 4, 1.5, 5
    # fitness:  2, 7, 1, 8, 2.8 -> ranks 2, 4, 1, 5, 3
    # centred (mean 3): x = 0, -1.5, 1, -1.5, 2 ; y = -1, 1, -2, 2, 0
    # sum xy = 0 - 1.5 - 2 - 3 + 0 = -6.5 ; sum x^2 = 0+2.25+1+2.25+4 = 9.5 ; sum y^2 = 10
    expected = -6.5 / math.sqrt(9.5 * 10)
    rho = ranking_agreement([3, 1, 4, 1, 5], [2, 7, 1, 8, 2.8])
    assert rho == pytest.approx(expected, abs=1e-12)
    assert rho == pytest.approx(-0.6668859288553503)


def test_perfect_agreement_and_inversion() -> None:
    assert ranking_agreement([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert ranking_agreement([4, 3, 2, 1], [10, 20, 30, 45]) == pytest.approx(-1.0)


def test_nan_safe() -> None:
    assert math.isnan(ranking_agreement([1, 2], [1, 2])), "fewer than three points"
    assert math.isnan(ranking_agreement([1, 2, 3], [5, 5, 5])), "no variance in fitness"
    assert math.isnan(ranking_agreement([7, 7, 7], [1, 2, 3])), "no variance in returns"
    # NaN / inf pairs are dropped, the rest still ranks.
    rho = ranking_agreement([1, float("nan"), 2, 3, float("inf")], [1, 2, 2, 3, 0])
    assert rho == pytest.approx(1.0)
    with pytest.raises(ValueError, match="equal length"):
        ranking_agreement([1, 2, 3], [1, 2])


def test_inverts_ranking_threshold() -> None:
    assert inverts_ranking(-0.5)
    assert inverts_ranking(-0.3)
    assert not inverts_ranking(-0.29)
    assert not inverts_ranking(0.8)
    assert not inverts_ranking(float("nan"))
    assert inverts_ranking(-0.1, threshold=0.0)


def test_ranking_check_gives_evidence_only_when_inverted() -> None:
    fitness = [0.9, 0.7, 0.5, 0.2, 0.1]
    good = RankingCheck.compute([50, 40, 30, 20, 10], fitness)
    assert not good.inverted and good.evidence is None and good.rho == pytest.approx(1.0)
    bad = RankingCheck.compute(
        [10, 20, 30, 40, 50], fitness, labels=["it0/c0", "it0/c1", "it0/c2", "it0/c3", "it0/c4"]
    )
    assert bad.inverted and bad.rho == pytest.approx(-1.0)
    assert bad.evidence is not None
    assert "re-score 5 stored evaluation episodes" in bad.evidence.replace("\n", " ")
    assert "-1.00" in bad.evidence and "-0.30" in bad.evidence
    reason = bad.reason()
    assert reason is not None and reason.text == bad.evidence
    assert set(reason.templates) == {"ranking_evidence_v1"}
    assert good.reason() is None
    rows = [line for line in bad.evidence.splitlines() if line.startswith("| it0/")]
    assert rows[0] == "| it0/c0 | 0.9 | 10 |", "best fitness first"
    assert rows[-1] == "| it0/c4 | 0.1 | 50 |"
