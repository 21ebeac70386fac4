"""Task suites: the shipped suites load and their fitness expressions run on real env states;
bad suites fail with errors that name the file, line, task and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from autoreward.batch.suites import (
    Suite,
    dry_run_fitness,
    list_suites,
    load_suite,
    resolve_suite_path,
    suite_problems,
    task_run_config,
    task_schema,
)
from autoreward.envs.custom_fitness import fitness_field_refs
from autoreward.errors import ConfigError

SHIPPED = ["classic", "mujoco-locomotion", "novel-behaviors"]


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_the_three_suites_ship() -> None:
    assert set(SHIPPED) <= set(list_suites())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_suite_fitness_runs_on_real_env_states(name: str) -> None:
    suite = load_suite(name)
    assert len(suite.tasks) >= 5
    for task in suite.tasks:
        assert task.fitness is not None, f"{task.name}: shipped tasks state their own fitness"
        assert task.steps is not None, f"{task.name}: shipped tasks state their budget"
        values = dry_run_fitness(task_schema(task), n=48, seed=1)
        assert values.shape == (48,), task.name
        assert np.all(np.isfinite(values)), task.name


def test_novel_behaviors_differ_from_the_env_reward_fitness() -> None:
    suite = load_suite("novel-behaviors")
    mujoco = [t for t in suite.tasks if t.env.endswith("-v5")]
    assert {t.env for t in mujoco} >= {"HalfCheetah-v5", "Hopper-v5", "Ant-v5", "Walker2d-v5"}
    for task in suite.tasks:
        assert task.fitness is not None
        assert (
            task.fitness.expression
            != task_schema(task.model_copy(update={"fitness": None})).fitness.expression
        )


def test_walker_speed_fitness_penalises_distance_from_one_metre_per_second() -> None:
    task = load_suite("novel-behaviors").task("walker2d-walk-1ms")
    schema = task_schema(task)
    from autoreward.envs.fitness import compile_fitness

    fn = compile_fitness(schema.fitness.expression)
    speeds = np.array([0.0, 0.5, 1.0, 1.5, 3.0])
    values = fn({}, np.zeros((5, 6)), {"x_velocity": speeds}) * 1000
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.5, 0.0])


def test_shipped_suite_by_name_or_path() -> None:
    path = resolve_suite_path("classic")
    assert path.name == "classic.yaml"
    assert load_suite(path).name == load_suite("classic.yaml").name == "classic"


def test_unknown_suite_name_lists_the_shipped_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"no suite file 'clasic'[\s\S]*classic, manipulation, mujoco-locomotion"
    ):
        resolve_suite_path("clasic")


# --------------------------------------------------------------------------- bad input


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - name: a
            env: CartPole-v1
           task: bad indent
        """)  # fmt: skip
    with pytest.raises(ConfigError, match=r"suite\.yaml:5:4: not valid YAML"):
        load_suite(path)


def test_unknown_keys_point_at_the_key_and_list_allowed_ones(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - name: a
            env: CartPole-v1
            task: go
            fitnes: {}
          - name: b
            env: CartPole-v1
            task: go
            fitness:
              kind: score
              expression: np.ones_like(next_state["pole_angle"])
              description: alive
              agg: sum
        """)  # fmt: skip
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    text = str(info.value)
    assert (
        "suite.yaml:6:5: task 'a': unknown key 'fitnes' (allowed: name, env, task, fitness" in text
    )
    assert (
        "suite.yaml:14:7: task 'b': fitness: unknown key 'agg' (allowed: kind, expression, aggregate"
        in text
    )


def test_unknown_top_level_and_defaults_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        defaults: {iteration: 2}
        tasks: [{name: a, env: CartPole-v1, task: go}]
        """)  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"suite\.yaml:2:12: defaults: unknown key 'iteration' \(allowed: iterations, samples.*did you mean 'iterations'\?",
    ):
        load_suite(path)


def test_wrong_type_names_the_task_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - {name: a, env: CartPole-v1, task: go, steps: lots}
        """)  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"suite\.yaml:3:\d+: task 'a': steps: Input should be a valid integer"
    ):
        load_suite(path)


def test_unknown_env_id_suggests_close_matches(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - {name: ok, env: CartPole-v1, task: go}
          - {name: typo, env: HalfCheeta-v5, task: run}
        """)  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"suite\.yaml:4: task 'typo': unknown environment 'HalfCheeta-v5' \(did you mean HalfCheetah-v5",
    ):
        load_suite(path)
    # Static checks alone accept it; the env problem is reported per task.
    suite = load_suite(path, check_envs=False)
    assert list(suite_problems(suite)) == ["typo"]


def test_fitness_violating_the_sandbox_rules_names_task_and_violation(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - name: sneaky
            env: CartPole-v1
            task: go
            fitness:
              kind: score
              expression: np.load("weights.npy").sum() + next_state["pole_angle"]
              description: d
        """)  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"suite\.yaml:3: task 'sneaky': fitness expression: .*np\.load"
    ):
        load_suite(path)


def test_fitness_syntax_error_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - name: broken
            env: CartPole-v1
            task: go
            fitness: {kind: score, expression: 'next_state["pole_angle"] +', description: d}
        """)  # fmt: skip
    with pytest.raises(ConfigError, match=r"task 'broken': fitness expression: .*syntax"):
        load_suite(path)


def test_fitness_reading_a_missing_field_lists_the_available_ones(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - name: fast
            env: Hopper-v5
            task: hop
            fitness: {kind: score, expression: 'next_state["x_vel"] / 1000.0', description: d}
        """)  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"task 'fast': fitness reads next_state\[\"x_vel\"\] but Hopper-v5 has no field 'x_vel' "
        r"\(did you mean 'x_velocity'\?\); available: torso_x, torso_height, .*foot_contact_force",
    ):
        load_suite(path)


def test_duplicate_task_names_point_at_the_second(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - {name: a, env: CartPole-v1, task: go}
          - {name: b, env: CartPole-v1, task: go}
          - {name: a, env: Acrobot-v1, task: swing}
        """)  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"suite\.yaml:5: duplicate task name 'a' \(tasks 0 and 2\)"
    ):
        load_suite(path)
    with pytest.raises(ValueError, match="duplicate task name 'a'"):
        Suite.model_validate({"name": "x", "tasks": [{"name": "a", "env": "E", "task": "t"}] * 2})


def test_success_fitness_without_threshold(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - name: flag
            env: MountainCarContinuous-v0
            task: reach the flag
            fitness: {kind: success, expression: 'next_state["position"]', aggregate: max, description: d}
        """)  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"task 'flag': fitness: a 'success' fitness needs a 'threshold'"
    ):
        load_suite(path)


def test_dry_run_catches_a_fitness_of_the_wrong_shape(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        tasks:
          - name: scalar
            env: CartPole-v1
            task: go
            fitness: {kind: score, expression: 'np.sum(next_state["pole_angle"])', description: d}
        """)  # fmt: skip
    suite = load_suite(path)  # statically fine
    problems = suite_problems(suite, dry_run=True)
    assert "returned shape ()" in problems["scalar"] and "expected (32,)" in problems["scalar"]


def test_selecting_unknown_tasks_suggests_names() -> None:
    suite = load_suite("classic")
    with pytest.raises(
        ConfigError, match=r"no task 'cartpole'[\s\S]*did you mean cartpole-balance"
    ):
        suite.select(["cartpole"])
    assert [t.name for t in suite.select(["acrobot-swing-up", "cartpole-balance"])] == [
        "cartpole-balance", "acrobot-swing-up",
    ]  # fmt: skip


def test_field_refs() -> None:
    expr = 'next_state["x_velocity"] * (state["torso_up"][:, 2] > 0) + np.abs(action).sum(axis=-1)'
    assert fitness_field_refs(expr) == [("next_state", "x_velocity"), ("state", "torso_up")]


# --------------------------------------------------------------------------- run configs


def test_run_config_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        defaults: {iterations: 2, samples: 3, steps: 1000, final_seeds: 0, random_episodes: 4}
        tasks:
          - name: a
            env: CartPole-v1
            task: balance
            steps: 5000
            samples: 5
            fitness: {kind: score, expression: 'np.ones_like(next_state["pole_angle"])', description: alive}
          - {name: b, env: Acrobot-v1, task: swing}
        """)  # fmt: skip
    suite = load_suite(path)
    a = task_run_config(
        suite, suite.task("a"), model="openai/x", overrides={"samples": 7, "iterations": None}
    )
    assert (a.env_id, a.task, a.model) == ("CartPole-v1", "balance", "openai/x")
    assert (a.iterations, a.samples, a.steps, a.final_seeds) == (2, 7, 5000, 0)
    assert a.fitness is not None and a.fitness.expression.startswith("np.ones_like")
    b = task_run_config(suite, suite.task("b"))
    assert (b.steps, b.samples, b.fitness, b.model) == (1000, 3, None, "gpt-4o-mini")
    assert (
        task_schema(suite.task("b")).fitness.expression
        == task_schema(suite.task("b").model_copy(update={"fitness": None})).fitness.expression
    )


def test_hyperparams_in_defaults_and_tasks_merge_and_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        defaults: {hyperparams: {n_steps: 64, gamma: 0.95}}
        tasks:
          - {name: a, env: CartPole-v1, task: balance, hyperparams: {gamma: 0.9, policy: MlpPolicy}}
          - {name: b, env: Acrobot-v1, task: swing}
        """)  # fmt: skip
    suite = load_suite(path)
    assert task_run_config(suite, suite.task("a")).hyperparams == {
        "n_steps": 64,
        "gamma": 0.9,
        "policy": "MlpPolicy",
    }
    assert task_run_config(suite, suite.task("b")).hyperparams == {"n_steps": 64, "gamma": 0.95}
    bad = write(tmp_path, """
        name: x
        tasks:
          - {name: ok, env: CartPole-v1, task: go}
          - {name: typo, env: Pendulum-v1, task: go, algo: SAC, hyperparams: {n_epochs: 3}}
          - {name: discrete, env: CartPole-v1, task: go, algo: SAC, hyperparams: {gamma: 0.9}}
        """, "bad.yaml")  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"bad\.yaml:4: task 'typo': hyperparams: unknown SAC hyperparameter 'n_epochs'",
    ) as err:
        load_suite(bad)
    assert (
        "bad.yaml:5: task 'discrete': SAC needs continuous actions; CartPole-v1 has 2 discrete ones"
        in str(err.value)
    )


def test_a_suite_may_train_on_the_warp_backend(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: x
        defaults: {backend: auto, hyperparams: {gamma: 0.98}}
        tasks:
          - {name: hop, env: Hopper-v5, task: hop, backend: warp, n_envs: 256, hyperparams: {num_steps_per_env: 16}}
          - {name: pole, env: CartPole-v1, task: balance}
        """)  # fmt: skip
    suite = load_suite(path)
    hop = task_run_config(suite, suite.task("hop"))
    assert (hop.backend, hop.n_envs, hop.hyperparams) == (
        "warp",
        256,
        {"gamma": 0.98, "num_steps_per_env": 16},
    )
    assert task_run_config(suite, suite.task("pole")).backend == "auto"  # sb3 without a GPU
    bad = write(tmp_path, """
        name: x
        tasks:
          - {name: pole, env: CartPole-v1, task: go, backend: warp}
          - {name: hop, env: Hopper-v5, task: go, backend: warp, hyperparams: {n_steps: 64}}
          - {name: sac, env: Hopper-v5, task: go, backend: warp, algo: SAC}
        """, "bad.yaml")  # fmt: skip
    with pytest.raises(ConfigError) as err:
        load_suite(bad)
    text = str(err.value)
    assert "task 'pole': --backend warp cannot train CartPole-v1" in text
    assert "task 'hop': --hyperparams: 'n_steps' is not an rsl-rl PPO setting" in text
    assert "task 'sac': --algo SAC does not apply with --backend warp" in text
