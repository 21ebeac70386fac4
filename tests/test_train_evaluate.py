"""Deterministic evaluation on the task fitness, with termination causes and seeds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from autoreward.envs.registry import load_schema
from autoreward.train.evaluate import aggregate, evaluate_policy


class LeanPolicy:
    """Push the cart towards where the pole leans: balances CartPole for long stretches."""

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64), None


class ConstantPolicy:
    def __init__(self, action: int) -> None:
        self.action = action

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.full(len(obs), self.action), None


def alive_reward(
    state: dict, action: np.ndarray, next_state: dict
) -> tuple[np.ndarray, dict[str, Any]]:
    alive = np.ones_like(next_state["pole_angle"])
    return 2 * alive, {"alive": alive, "again": alive}


def test_failing_policy_terminates_early_with_low_fitness() -> None:
    schema = load_schema("CartPole-v1")
    result, traces = evaluate_policy(
        ConstantPolicy(0), schema, episodes=3, seed=0, reward_fn=alive_reward
    )
    assert result.terminated == 3 and result.truncated == 0
    assert all(e.ended_by == "terminated" and e.length < 50 for e in result.episodes)
    # CartPole's fitness is the fraction of the 500 steps survived
    assert result.fitness == pytest.approx(np.mean([e.length for e in result.episodes]) / 500)
    assert result.env_return_mean == pytest.approx(result.length_mean)
    assert [e.generated_return for e in result.episodes] == [
        2.0 * e.length for e in result.episodes
    ]
    assert traces[0].states["pole_angle"].shape == (traces[0].length + 1,)
    assert set(traces[0].terms) == {"alive", "again"}


def test_good_policy_runs_into_time_limit_and_seeds_are_reproducible() -> None:
    schema = load_schema("CartPole-v1")
    first, _ = evaluate_policy(LeanPolicy(), schema, episodes=4, seed=3)
    again, _ = evaluate_policy(LeanPolicy(), schema, episodes=4, seed=3)
    other, _ = evaluate_policy(ConstantPolicy(1), schema, episodes=4, seed=3)
    assert first.model_dump() == again.model_dump()
    assert first.fitness > other.fitness
    assert first.truncated >= 1
    assert [e.seed for e in first.episodes] == [e.seed for e in again.episodes]
    assert len({e.seed for e in first.episodes}) == 4
    assert first.fitness_kind == "score" and first.generated_return_mean is None


def test_aggregates() -> None:
    values = np.array([1.0, 3.0, 2.0])
    assert [aggregate(values, how) for how in ("sum", "mean", "final", "max", "min")] == [
        6.0,
        2.0,
        2.0,
        3.0,
        1.0,
    ]
    with pytest.raises(ValueError, match="unknown fitness aggregate 'median'"):
        aggregate(values, "median")
