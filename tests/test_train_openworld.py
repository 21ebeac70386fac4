"""Open-world events on scripted Crafter trajectories: death causes, sightings, collections,
coverage, sleep, time to first success, and the hook into the trajectory summary."""

from __future__ import annotations

import numpy as np
import pytest

from autoreward.batch.suites import load_suite, task_schema
from autoreward.envs.crafter.tables import ACHIEVEMENTS, DISTANCE_TARGETS, NOT_VISIBLE
from autoreward.envs.registry import load_schema
from autoreward.envs.schema import EnvSchema
from autoreward.train.evaluate import EpisodeTrace, score_traces
from autoreward.train.openworld import analyze, cause_of_death, coverage, episode_details
from autoreward.train.trajectories import render_trajectories_text, summarize_trajectories


def crafter_states(steps: int) -> dict[str, np.ndarray]:
    """A player standing still at (32, 32) in daylight, full vitals, nothing in view."""
    n = steps + 1
    s = {f.name: np.zeros((n, *f.shape)) for f in load_schema("Crafter-v1").fields}
    s.update({v: np.full(n, 9.0) for v in ("health", "food", "drink", "energy")})
    s.update({f"dist_{t}": np.full(n, NOT_VISIBLE) for t in DISTANCE_TARGETS})
    s.update({f"ach_{a}": np.zeros(n) for a in ACHIEVEMENTS})
    s["player_pos"] = np.tile([32.0, 32.0], (n, 1))
    s["sleeping"] = np.zeros(n)
    s["daylight"] = np.ones(n)
    s["facing"] = np.tile([0.0, 1.0], (n, 1))
    s["local_view"][:] = 2.0
    s["local_view"][:, 3, 4] = 13.0
    return s


def trace(s: dict[str, np.ndarray], terminated: bool, seed: int = 0) -> EpisodeTrace:
    steps = len(s["health"]) - 1
    return EpisodeTrace(
        seed=seed,
        states=s,
        actions=np.zeros(steps, dtype=np.int64),
        env_rewards=np.zeros(steps),
        terminated=terminated,
        truncated=not terminated,
    )


def walk(s: dict[str, np.ndarray], stride: int = 1) -> None:
    """Walk one cell every `stride` steps, right to x = 57 and back, over and over."""
    k = (np.arange(len(s["health"])) // stride) % 50
    s["player_pos"][:, 0] = 32 + np.where(k <= 25, k, 50 - k)


def test_dying_in_lava_gives_cause_lava() -> None:
    s = crafter_states(40)
    walk(s)
    s["dist_lava"][30:] = 5.0
    s["health"][-1] = 0.0
    s["dist_lava"][-1] = 0.0
    info = episode_details(trace(s, terminated=True), load_schema("Crafter-v1"))
    assert info["died"] and info["cause_of_death"] == "lava"
    assert info["health_lost"] == {"lava": 9}
    assert info["first_seen"]["lava"] == 30


@pytest.mark.parametrize(
    ("setup", "cause"),
    [
        ({"dist_zombie": 1.0}, "zombie"),
        ({"dist_zombie": 1.0, "sleeping": 1.0}, "zombie (while asleep)"),
        ({"dist_arrow": 1.0, "dist_skeleton": 4.0}, "skeleton"),
        ({"drink": 0.0}, "thirst"),
        ({"food": 0.0, "drink": 0.0}, "starvation and thirst"),
        ({"energy": 0.0}, "exhaustion"),
        ({}, "unknown"),
    ],
)
def test_cause_of_death(setup: dict[str, float], cause: str) -> None:
    s = crafter_states(10)
    s["health"][-2:] = [2.0, 0.0] if "dist_zombie" in setup or "dist_arrow" in setup else [1.0, 0.0]
    for name, value in setup.items():
        s[name][-3:] = value
    assert cause_of_death(s) == cause


def test_thirst_costs_health_one_point_at_a_time_and_is_counted() -> None:
    s = crafter_states(200)
    s["drink"][100:] = 0.0
    s["health"][:] = 9 - np.maximum(0, (np.arange(201) - 119) // 9)  # 0 first at step 200
    info = episode_details(trace(s, terminated=True), load_schema("Crafter-v1"))
    assert info["cause_of_death"] == "thirst"
    assert info["health_lost"] == {"thirst": 9} and info["vital_out_at"] == {"drink": 100}


def test_sightings_collections_and_seen_but_never_collected() -> None:
    s = crafter_states(300)
    walk(s, stride=3)
    s["dist_tree"][5:] = 3.0
    s["dist_water"][40:] = 5.0
    s["dist_stone"][120:] = 6.0
    s["ach_collect_wood"][21:] = 1.0
    s["ach_collect_wood"][60:] = 2.0
    info = episode_details(trace(s, terminated=False), load_schema("Crafter-v1"))
    assert info["first_seen"] == {"tree": 5, "water": 40, "stone": 120}
    assert info["first_collected"] == {"tree": 21}
    assert info["seen_not_collected"] == ["water", "stone"]
    assert not info["died"] and info["cause_of_death"] is None


def test_coverage_stuck_local_exploring_and_wandering() -> None:
    still = crafter_states(200)
    assert coverage(still)["pattern"] == "stuck" and coverage(still)["longest_still"] == 200

    asleep = crafter_states(200)
    walk(asleep, stride=4)
    asleep["player_pos"][100:] = asleep["player_pos"][100]
    asleep["sleeping"][100:] = 1.0  # standing still asleep is not being stuck
    assert coverage(asleep)["longest_still"] == 3 and coverage(asleep)["pattern"] == "exploring"

    pacing = crafter_states(200)
    pacing["player_pos"][1::2, 0] = 33.0  # back and forth between two cells
    assert coverage(pacing)["pattern"] == "stuck" and coverage(pacing)["cells"] == 2

    local = crafter_states(200)
    local["player_pos"][:, 0] = 32 + (np.arange(201) // 3) % 6
    assert coverage(local)["pattern"] == "local"

    roam = crafter_states(300)
    walk(roam)
    roam["ach_collect_wood"][30:] = 1.0
    info = episode_details(trace(roam, terminated=False), load_schema("Crafter-v1"))
    assert info["coverage"]["pattern"] == "exploring" and info["coverage"]["reach"] == 25
    summary = analyze([trace(roam, False)], _eval([trace(roam, False)]), load_schema("Crafter-v1"))
    movement = [e for e in summary.episode_events(0) if e["kind"] == "open_world_movement"]
    assert "wandering: nothing achieved after step 30" in movement[0]["detail"]


def test_sleeping_through_the_day_is_an_event() -> None:
    s = crafter_states(300)
    s["daylight"][:] = np.where(np.arange(301) < 150, 1.0, 0.1)
    s["sleeping"][20:80] = 1.0  # asleep in daylight
    s["sleeping"][200:260] = 1.0  # asleep at night: fine
    tr = trace(s, terminated=False)
    analysis = analyze([tr], _eval([tr]), load_schema("Crafter-v1"))
    assert analysis.episodes[0]["sleep"] == {"steps": 120, "in_daylight": 60}
    details = [e["detail"] for e in analysis.episode_events(0)]
    assert (
        "asleep 60 steps in daylight (sleeping through the day), 120 steps asleep in all" in details
    )
    assert analysis.summary["slept_in_daylight"] == 1


def _collect_wood_schema() -> EnvSchema:
    return task_schema(load_suite("open-world").task("collect-wood"))


def _eval(traces: list[EpisodeTrace], schema: EnvSchema | None = None):  # type: ignore[no-untyped-def]
    return score_traces(traces, schema or load_schema("Crafter-v1"))


def test_time_to_first_success_and_counted_events_over_episodes() -> None:
    schema = _collect_wood_schema()
    traces = []
    for k, first_wood in enumerate((21, 41, None)):
        s = crafter_states(100)
        walk(s)
        s["dist_tree"][3:] = 4.0
        if first_wood is not None:
            s["ach_collect_wood"][first_wood:] = 1.0
        if k == 2:
            s["dist_zombie"][-3:] = 1.0
            s["health"][-1] = 0.0
        traces.append(trace(s, terminated=k == 2, seed=k))
    evaluation = score_traces(traces, schema)
    assert evaluation.fitness == pytest.approx(2 / 3)
    analysis = analyze(traces, evaluation, schema)
    assert [e["first_success_at"] for e in analysis.episodes] == [21, 41, None]
    assert analysis.summary["first_success"] == {
        "episodes": 2,
        "mean_step": 31.0,
        "median_step": 31.0,
    }
    assert analysis.summary["deaths"] == {"zombie": 1} and analysis.summary["survived"] == 2
    assert analysis.summary["seen_not_collected"] == {"tree": 1}
    details = [e["detail"] for e in analysis.events]
    assert "over 3 evaluation episodes: died in 1 (zombie 1), alive at the end in 2" in details
    assert (
        "time to first success: mean 31 steps, median 31, in the 2 successful episodes" in details
    )
    assert "first collected, median step (episodes): tree 31 (2/3)" in details


def test_the_trajectory_summary_carries_the_open_world_events() -> None:
    schema = _collect_wood_schema()
    s = crafter_states(50)
    walk(s)
    s["dist_lava"][-1] = 0.0
    s["health"][-1] = 0.0
    traces = [trace(s, terminated=True)]
    evaluation = score_traces(traces, schema)
    doc = summarize_trajectories(traces, evaluation, schema, episodes=1)
    assert doc["open_world"]["summary"]["deaths"] == {"lava": 1}
    assert doc["open_world"]["episodes"][0]["cause_of_death"] == "lava"
    text = render_trajectories_text(doc)
    assert "! over 1 evaluation episodes: died in 1 (lava 1)" in text
    assert "event: died at step 50: lava (health lost: lava 9)" in text

    plain = schema.model_copy(update={"trajectory_events": []})
    assert "open_world" not in summarize_trajectories(traces, evaluation, plain, episodes=1)
