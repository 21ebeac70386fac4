"""The sparse-fitness baseline (the task fitness as a plain reward module) and the normalized
score against each named baseline (autoreward.batch.baselines, batch.run.score_row)."""

from __future__ import annotations

import numpy as np
import pytest

from autoreward.batch.baselines import normalized_score, sparse_fitness_reward
from autoreward.batch.results import TaskRow
from autoreward.batch.run import score_row
from autoreward.envs.registry import load_schema
from autoreward.envs.schema import EnvSchema, FitnessSpec
from autoreward.sandbox.checker import check_reward
from autoreward.sandbox.loader import load_reward_fn
from autoreward.sandbox.validate import validate_code


def _with(env_id: str, **fitness: object) -> EnvSchema:
    schema = load_schema(env_id)
    spec = FitnessSpec.model_validate({"description": "d", **fitness})
    return schema.model_copy(update={"fitness": spec})


CASES = {
    "score-sum": ("CartPole-v1", {"kind": "score", "aggregate": "sum",
                                  "expression": '(next_state["cart_position"] < 0.0) / 500.0'}),
    "score-mean": ("Pendulum-v1", {"kind": "score", "aggregate": "mean",
                                   "expression": '(next_state["cos_theta"] >= np.cos(0.3)).astype(np.float64)'}),
    "success-max": ("MountainCarContinuous-v0", {"kind": "success", "aggregate": "max", "threshold": 0.5,
                                                 "expression": '(next_state["position"] >= 0.45).astype(np.float64)'}),
    "success-final": ("LunarLander-v3", {"kind": "success", "aggregate": "final", "threshold": 0.5,
                                         "expression": 'next_state["left_leg_contact"] * (np.abs(next_state["x"]) <= 0.2)'}),
    "score-final": ("Hopper-v5", {"kind": "score", "aggregate": "final", "expression": 'next_state["torso_x"]'}),
    "score-final-action": ("Pendulum-v1", {"kind": "score", "aggregate": "final",
                                           "expression": 'next_state["cos_theta"] - 0.1 * action[:, 0] ** 2'}),
    "success-min": ("CartPole-v1", {"kind": "success", "aggregate": "min", "threshold": 1.0,
                                    "expression": '(np.abs(next_state["pole_angle"]) < 0.1).astype(np.float64)'}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_kind_and_aggregate_gives_a_reward_that_passes_the_real_dry_run(case: str) -> None:
    env_id, fitness = CASES[case]
    schema = _with(env_id, **fitness)
    code, rule = sparse_fitness_reward(schema)
    assert code is not None and rule
    assert validate_code(code) == []
    report = check_reward(code, schema, n_states=16)
    assert report.ok, report.failure_text()
    assert list(report.components) == ["fitness"]


def _returns(schema: EnvSchema, states: list[dict[str, float]], actions: np.ndarray) -> float:
    """The episode return of the sparse reward over a state sequence (batched over steps)."""
    code, _ = sparse_fitness_reward(schema)
    assert code is not None
    fn = load_reward_fn(code)
    keys = states[0].keys()
    state = {k: np.array([s[k] for s in states[:-1]], dtype=np.float64) for k in keys}
    nxt = {k: np.array([s[k] for s in states[1:]], dtype=np.float64) for k in keys}
    total, _ = fn(state, actions, nxt)
    return float(np.sum(total))


def test_sum_pays_the_fitness_in_its_own_units_per_step() -> None:
    schema = _with("CartPole-v1", kind="score", aggregate="sum",
                   expression='(next_state["cart_position"] < 0.0) / 500.0')  # fmt: skip
    xs = [0.1, -0.1, -0.2, 0.3, -0.4]
    states = [{"cart_position": x, "cart_velocity": 0.0, "pole_angle": 0.0,
               "pole_angular_velocity": 0.0} for x in xs]  # fmt: skip
    # three of the four next states are left of centre: fitness 3/500, reward 500 x that
    assert _returns(schema, states, np.zeros(4, dtype=np.int64)) == pytest.approx(3.0)


def test_final_telescopes_to_the_final_value_minus_the_first() -> None:
    schema = _with("Hopper-v5", kind="score", aggregate="final", expression='next_state["torso_x"]')
    names = [f.name for f in schema.fields]
    xs = [0.0, 0.3, 0.1, 0.8, 1.5]
    states = [{n: (x if n == "torso_x" else 0.0) for n in names} for x in xs]
    fields = {f.name: f.shape for f in schema.fields}
    for s in states:
        for n, shape in fields.items():
            if shape:
                s[n] = np.zeros(shape)  # type: ignore[assignment]
    assert _returns(schema, states, np.zeros((4, 3))) == pytest.approx(1.5)


def test_success_max_pays_each_step_at_the_goal() -> None:
    schema = load_schema("MountainCarContinuous-v0")
    states = [{"position": p, "velocity": 0.0} for p in [-0.5, 0.2, 0.46, 0.5]]
    assert _returns(schema, states, np.zeros((3, 1))) == pytest.approx(2.0)


def test_a_fitness_on_hidden_fields_has_no_sparse_baseline() -> None:
    schema = load_schema("Pusher-v5")  # an auto-schema: fitness on the hidden env_reward
    assert any(f.hidden for f in schema.fields)
    code, why = sparse_fitness_reward(schema)
    assert code is None and "reward code never sees" in why


def test_novel_goal_is_normalized_by_the_sparse_baseline_when_the_env_reward_scores_like_random() -> (
    None
):
    row = TaskRow(task="t", env_id="Hopper-v5", status="done", best_fitness=0.4, random_fitness=0.0)
    score_row(row, {"env": {"fitness": 0.0}, "sparse": {"fitness": 0.2, "rule": "r"}})
    assert row.normalized is None
    assert row.normalized_sparse == pytest.approx(2.0)
    assert row.over_random == pytest.approx(0.4)
    assert "env-reward baseline scores the same as random" in row.note
    assert row.sparse_rule == "r"


def test_the_note_names_the_baseline() -> None:
    assert (
        normalized_score(0.5, None, 0.1, name="sparse-fitness baseline")[1]
        == "no sparse-fitness baseline"
    )
    assert (
        "sparse-fitness baseline scores below random"
        in normalized_score(0.5, 0.0, 0.1, name="sparse-fitness baseline")[1]
    )


def test_the_batch_views_show_both_baselines_and_the_spread() -> None:
    from rich.console import Console

    from autoreward.batch.commands import BatchView, _Task, print_batch_summary
    from autoreward.batch.results import BatchResult

    view = BatchView(suite="s", tasks={"t": _Task(env="Hopper-v5")})
    view.update({"event": "task_baseline", "task": "t", "baseline": "env", "fitness": 0.01})
    view.update(
        {"event": "task_baseline", "task": "t", "baseline": "sparse", "steps": 5, "total_steps": 10}
    )
    console = Console(width=220, record=True)
    console.print(view.render())
    text = console.export_text()
    assert "norm. sparse" in text and "0.010" in text and "50%" in text

    row = TaskRow(task="t", env_id="Hopper-v5", status="done", best_fitness=0.9, final_fitness=0.6,
                  final_std=0.2, baseline_fitness=0.0, sparse_fitness=0.3, random_fitness=0.0,
                  normalized_sparse=2.0)  # fmt: skip
    console = Console(width=220, record=True)
    print_batch_summary(console, BatchResult(batch_dir="/tmp/b", suite="s", rows=[row], wall_s=1.0))
    text = console.export_text()
    assert "0.600 ± 0.200" in text and "norm. vs sparse" in text and "2.00" in text
