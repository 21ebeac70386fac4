"""Reward-reflection statistics: hacking detection, the analyzer text, checkpoint spacing."""

from __future__ import annotations

from typing import Any

import pytest

from autoreward.train.sb3.callbacks import StatsCallback
from autoreward.train.stats import (
    build_stats,
    detect_reward_hacking,
    render_stats_text,
)


def _history(generated: list[float], fitness: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "step": 1000 * (i + 1),
            "fitness": f,
            "generated_return": g,
            "env_return": 10.0,
            "episode_length": 100.0,
            "episodes": 5,
            "per_step": {
                "speed": {"mean": g / 100, "std": 0.1, "min": -1.0, "max": 2.0, "count": 500}
            },
            "per_episode": {"speed": g},
        }
        for i, (g, f) in enumerate(zip(generated, fitness, strict=True))
    ]


def test_rising_generated_return_with_flat_fitness_is_flagged() -> None:
    verdict = detect_reward_hacking(
        _history([10, 20, 40, 80, 120, 160], [0.3, 0.31, 0.3, 0.29, 0.3, 0.3])
    )
    assert verdict.flagged
    assert "generated return rose" in verdict.reason and "fitness stayed flat" in verdict.reason


def test_a_gap_between_stochastic_training_and_deterministic_evaluation_is_not_hacking() -> None:
    # The held-out Acrobot case: the stochastic training policy reaches the goal ever faster
    # (returns -400 -> -150), the deterministic policy evaluated at each checkpoint never does.
    history = _history([-400, -380, -300, -220, -160, -150], [-1.0] * 6)
    assert detect_reward_hacking(history).flagged  # without the evaluation's own return
    stuck = detect_reward_hacking(history, eval_generated_return=-395.0)
    assert not stuck.flagged
    assert "not hacking" in stuck.reason and "deterministic evaluation" in stuck.reason
    # a deterministic policy that collects the reward the training returns show is flagged
    farming = detect_reward_hacking(history, eval_generated_return=-160.0)
    assert farming.flagged and "generated return rose" in farming.reason
    # the threshold is half the rise
    half = (-390.0 + -155.0) / 2
    assert detect_reward_hacking(history, eval_generated_return=half + 1).flagged
    assert not detect_reward_hacking(history, eval_generated_return=half - 1).flagged
    # an evaluation that samples its actions (Crafter's schema) is not called deterministic
    sampled = detect_reward_hacking(history, eval_generated_return=-395.0, deterministic_eval=False)
    assert not sampled.flagged and "deterministic" not in sampled.reason
    assert "evaluation (sampled actions) episodes collect only" in sampled.reason
    assert build_stats(history, ["speed"], deterministic_eval=False)["deterministic_eval"] is False


def test_falling_fitness_is_flagged_as_falling() -> None:
    verdict = detect_reward_hacking(
        _history([10, 20, 40, 80, 120, 160], [0.9, 0.8, 0.6, 0.4, 0.3, 0.2])
    )
    assert verdict.flagged and "fitness fell" in verdict.reason


def test_consistent_learning_is_not_flagged() -> None:
    verdict = detect_reward_hacking(
        _history([10, 20, 40, 80, 120, 160], [0.1, 0.2, 0.4, 0.6, 0.8, 0.9])
    )
    assert not verdict.flagged and "consistent" in verdict.reason


def test_negative_returns_rising_are_measured_against_their_range_not_their_sign() -> None:
    # A negative first third once read as "+138%"; now the rise is a fraction of the range.
    verdict = detect_reward_hacking(
        _history([-50, -30, -10, 5, 10, 15], [0.2, 0.21, 0.2, 0.19, 0.2, 0.2])
    )
    assert verdict.flagged
    assert verdict.generated_change == pytest.approx((12.5 - -40.0) / 65.0)
    assert "81% of its observed range" in verdict.reason
    assert "-40 → last third 12.5" in verdict.reason
    assert verdict.generated_trend == pytest.approx(1.0)


def test_verdict_does_not_depend_on_the_offset_or_sign_of_the_generated_return() -> None:
    fitness = [0.3, 0.31, 0.3, 0.29, 0.3, 0.3]
    base = detect_reward_hacking(_history([10, 20, 40, 80, 120, 160], fitness))
    for offset in (-1000.0, -85.0, 0.0, 500.0):
        shifted = detect_reward_hacking(
            _history([g + offset for g in [10, 20, 40, 80, 120, 160]], fitness)
        )
        assert shifted.flagged == base.flagged
        assert shifted.generated_change == pytest.approx(base.generated_change)
        assert shifted.generated_trend == pytest.approx(base.generated_trend)


def test_generated_return_without_a_trend_is_not_flagged() -> None:
    # Up and down around a level: large swings, but no rise over training.
    verdict = detect_reward_hacking(
        _history([-5, 40, -8, 35, -6, 30], [0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    )
    assert not verdict.flagged and "consistent" in verdict.reason


def test_rising_fitness_with_rising_return_reports_their_coupling() -> None:
    verdict = detect_reward_hacking(
        _history([-100, -80, -60, -40, -20, -10], [0.0, 0.1, 0.2, 0.3, 0.35, 0.4])
    )
    assert not verdict.flagged
    assert verdict.coupling == pytest.approx(1.0)
    assert "their rank correlation +1.00" in verdict.reason


def test_fitness_at_target_is_not_flagged() -> None:
    verdict = detect_reward_hacking(
        _history([10, 20, 40, 80, 120, 160], [1.0] * 6), fitness_ceiling=0.95
    )
    assert not verdict.flagged and verdict.reason == "fitness reached its target"


def test_too_few_checkpoints() -> None:
    verdict = detect_reward_hacking(_history([10, 20], [0.1, 0.1]))
    assert not verdict.flagged and "too few checkpoints" in verdict.reason
    # A short run's three checkpoints: rising return, fitness down by noise. No verdict on that.
    short = detect_reward_hacking(_history([15.3, 22.8, 49.8], [0.0285, 0.0234, 0.0226]))
    assert not short.flagged and "too few checkpoints with both returns (3" in short.reason
    assert detect_reward_hacking(
        _history([15.3, 22.8, 30.1, 41.0, 49.8], [0.0285, 0.0234, 0.024, 0.0231, 0.0226])
    ).flagged


def test_render_stats_text_for_analyzer() -> None:
    stats = build_stats(_history([10, 20, 40, 80, 120, 160], [0.3] * 6), ["speed"])
    text = render_stats_text(stats)
    assert "Training checkpoints at steps: 1000, 2000, 3000, 4000, 5000, 6000" in text
    assert "task fitness: [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]" in text
    assert "component 'speed' episode sum: [10, 20, 40, 80, 120, 160]" in text
    assert "per step: mean 0.1 → 1.6, min -1, max 2" in text
    assert text.splitlines()[-1].startswith("WARNING suspected reward hacking")
    assert render_stats_text({"checkpoints": []}) == "No training statistics were recorded."


def test_render_thins_to_max_points() -> None:
    stats = build_stats(_history(list(range(1, 31)), [0.1] * 30), ["speed"])
    line = render_stats_text(stats, max_points=10).splitlines()[1]
    assert line.count(",") == 9


def test_checkpoints_evenly_spaced_over_the_remaining_steps() -> None:
    cb = StatsCallback(wrapper=None, evaluate=lambda: None, total_steps=1000, n_checkpoints=4)  # type: ignore[arg-type]
    assert cb.thresholds == [250, 500, 750, 1000]
    resumed = StatsCallback(
        wrapper=None, evaluate=lambda: None, total_steps=1000, start_step=400, n_checkpoints=3
    )  # type: ignore[arg-type]
    assert resumed.thresholds == [600, 800, 1000]
