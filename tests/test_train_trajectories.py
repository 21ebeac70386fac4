"""Trajectory summaries (events, text) and re-scoring stored evaluation episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoreward.envs.registry import load_schema
from autoreward.errors import RewardCodeError
from autoreward.train.evaluate import EpisodeTrace, score_traces
from autoreward.train.trajectories import (
    episode_fitness,
    render_trajectories_text,
    rescore_episodes,
    save_episodes,
    summarize_trajectories,
)


def pendulum_trace(seed: int, cos_theta: np.ndarray, actions: np.ndarray) -> EpisodeTrace:
    t = len(actions)
    return EpisodeTrace(
        seed=seed,
        states={
            "cos_theta": cos_theta,
            "sin_theta": np.sqrt(1 - cos_theta**2),
            "angular_velocity": np.zeros(t + 1),
        },
        actions=actions,
        env_rewards=-np.ones(t),
        terminated=False,
        truncated=True,
    )


def spin_reward(state: dict, action: np.ndarray, next_state: dict) -> tuple:
    """Pays for pushing hard (a classic hack): the 'push' term dominates."""
    push = 5.0 * np.abs(action[:, 0])
    upright = 0.1 * next_state["cos_theta"]
    return push + upright, {"push": push, "upright": upright}


def test_events_oscillating_stuck_dominating_and_hacking() -> None:
    schema = load_schema("Pendulum-v1")
    steps = 200
    flip = np.where(np.arange(steps) % 2 == 0, 1.0, -1.0)[:, None]
    # episode 0: pushes hard both ways, hangs down, motionless after step 100
    hanging = np.concatenate([np.linspace(0.5, -1.0, 101), np.full(100, -1.0)])
    # episodes 1, 2: gentle pushes, mostly upright
    upright = np.full(steps + 1, 0.99)
    traces = [
        pendulum_trace(0, hanging, 2.0 * flip),
        pendulum_trace(1, upright, 0.1 * flip),
        pendulum_trace(
            2, np.concatenate([np.full(101, 0.99), np.full(100, 0.5)]), 0.5 * np.ones((steps, 1))
        ),
    ]
    evaluation = score_traces(traces, schema, spin_reward)
    assert evaluation.episodes[0].fitness_value == 0.0
    summary = summarize_trajectories(traces, evaluation, schema, episodes=3)

    kinds = {e["kind"] for e in summary["episodes"][0]["events"]}
    assert {"oscillating", "stuck", "component_dominates", "reward_hacking_suspected"} <= kinds
    assert "terminated_early" not in kinds
    assert summary["events"][0]["kind"] == "reward_hacking_suspected"  # Spearman over episodes
    assert summary["stride"] == 10 and len(summary["episodes"][0]["samples"]) == 21
    sample = summary["episodes"][0]["samples"][1]
    assert sample["t"] == 10 and set(sample["terms"]) == {"push", "upright"}
    assert sample["reward"] == pytest.approx(
        sample["terms"]["push"] + sample["terms"]["upright"], rel=1e-3
    )

    text = render_trajectories_text(summary)
    assert "Episode 0: 200 steps, ended by truncated; fitness 0" in text
    assert "component 'push' is" in text and "actions flip sign on 100% of steps" in text
    assert "state nearly constant from step 100 to the end (100 steps)" in text
    assert "t | cos_theta sin_theta angular_velocity | action | reward (push, upright)" in text


def test_terminated_early_and_hacking_verdict_from_training() -> None:
    schema = load_schema("CartPole-v1")
    trace = EpisodeTrace(
        seed=0,
        states={
            k: np.zeros(21)
            for k in ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
        },
        actions=np.zeros(20, dtype=np.int64),
        env_rewards=np.ones(20),
        terminated=True,
        truncated=False,
    )
    evaluation = score_traces([trace], schema)
    summary = summarize_trajectories(
        [trace],
        evaluation,
        schema,
        hacking={"flagged": True, "reason": "generated return rose +300%"},
    )
    events = summary["episodes"][0]["events"]
    assert events[0] == {
        "kind": "terminated_early",
        "step": 20,
        "detail": "terminated at step 20 of 500 (the env's terminal condition)",
    }
    assert summary["events"] == [
        {
            "kind": "reward_hacking_suspected",
            "detail": "during training: generated return rose +300%",
        }
    ]
    assert "! during training: generated return rose +300%" in render_trajectories_text(summary)


def test_rescore_stored_episodes_with_a_new_reward(tmp_path: Path) -> None:
    schema = load_schema("Pendulum-v1")
    traces = [
        pendulum_trace(0, np.linspace(-1, 1, 51), np.ones((50, 1))),
        pendulum_trace(1, np.full(31, 0.99), np.zeros((30, 1))),
    ]
    evaluation = score_traces(traces, schema)
    path = save_episodes(traces, evaluation, tmp_path / "episodes.npz")

    def upright(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        return next_state["cos_theta"], {"up": next_state["cos_theta"]}

    returns = rescore_episodes(path, upright)
    assert returns == pytest.approx([float(np.linspace(-1, 1, 51)[1:].sum()), 30 * 0.99], rel=1e-5)
    assert episode_fitness(path) == pytest.approx([e.fitness_value for e in evaluation.episodes])
    assert episode_fitness(path)[1] == 1.0

    def broken(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        return np.full(3, np.nan), {}

    with pytest.raises(
        RewardCodeError, match=r"total has shape \(3,\), expected \(50,\) .* on stored episode 0"
    ):
        rescore_episodes(path, broken)

    def writes_in_place(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        next_state["cos_theta"][:] = 1.0  # the stored episodes must not change under it
        return next_state["cos_theta"], {}

    with pytest.raises(RewardCodeError, match="read-only"):
        rescore_episodes(path, writes_in_place)
    assert rescore_episodes(path, upright) == pytest.approx(returns)
