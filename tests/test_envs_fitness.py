"""Fitness expressions: validation, per-episode aggregation, success fractions."""

from __future__ import annotations

import numpy as np
import pytest

from autoreward.batch.suites import load_suite
from autoreward.envs.extract import make_env
from autoreward.envs.fitness import FitnessTracker, check_expression, compile_fitness, vague_phrases
from autoreward.envs.registry import list_schemas, load_schema, schema_dir
from autoreward.envs.schema import FitnessSpec
from autoreward.errors import AutorewardError, RewardCodeError


def _spec(expr: str = 'next_state["v"]', **kw) -> FitnessSpec:
    return FitnessSpec(kind=kw.pop("kind", "score"), expression=expr, description="t", **kw)


def _feed(tracker: FitnessTracker, values: list[list[float]], dones: list[list[bool]]) -> None:
    for v, d in zip(values, dones, strict=True):
        v = np.asarray(v, dtype=float)
        tracker.step({"v": v}, np.zeros((len(v), 1)), {"v": v}, np.asarray(d))


VALUES = [[1.0, 5.0], [3.0, 1.0], [2.0, 4.0]]
DONES = [[False, False], [True, False], [False, True]]


@pytest.mark.parametrize(
    ("aggregate", "episodes"),
    [
        ("sum", [4.0, 10.0]),
        ("mean", [2.0, 10 / 3]),
        ("final", [3.0, 4.0]),
        ("max", [3.0, 5.0]),
        ("min", [1.0, 1.0]),
    ],
)
def test_aggregates_per_env_episode(aggregate: str, episodes: list[float]) -> None:
    t = FitnessTracker(_spec(aggregate=aggregate))
    _feed(t, VALUES, DONES)
    assert t.episode_values == pytest.approx(episodes)
    assert t.result() == pytest.approx(np.mean(episodes))


def test_success_is_fraction_of_episodes_reaching_threshold() -> None:
    t = FitnessTracker(_spec(kind="success", aggregate="max", threshold=4.5))
    _feed(t, VALUES, DONES)
    assert t.result() == 0.5


def test_accumulators_restart_after_an_episode_ends() -> None:
    t = FitnessTracker(_spec(aggregate="sum"))
    _feed(t, [[1.0], [1.0], [7.0]], [[False], [True], [True]])
    assert t.episode_values == [2.0, 7.0]


def test_no_finished_episode_is_an_error() -> None:
    t = FitnessTracker(_spec())
    _feed(t, [[1.0]], [[False]])
    with pytest.raises(AutorewardError, match="no finished episodes"):
        t.result()


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("__import__('os').system('x')", "name '__import__' is not allowed"),
        ("open('/etc/passwd')", "name 'open' is not allowed"),
        ("np.__dict__", "attribute '__dict__' is private"),
        ('next_state["v"]._data', "attribute '_data' is private"),
        ("(lambda: 1)()", "Lambda is not allowed"),
        ("next_state[", "syntax error"),
    ],
)
def test_unsafe_or_broken_expressions_are_rejected(expr: str, message: str) -> None:
    assert check_expression(expr)
    with pytest.raises(RewardCodeError, match=message):
        compile_fitness(expr)


def test_expression_has_no_builtins() -> None:
    fn = compile_fitness('np.abs(next_state["v"])')
    assert fn({}, np.zeros(1), {"v": np.array([-2.0])}).tolist() == [2.0]


def test_wrong_shape_and_non_finite_values_are_reported() -> None:
    t = FitnessTracker(_spec('np.sum(next_state["v"])'))
    with pytest.raises(RewardCodeError, match=r"returned shape \(\), expected \(2,\)"):
        _feed(t, [[1.0, 2.0]], [[False, False]])
    t = FitnessTracker(_spec('next_state["v"] / 0.0'))
    with pytest.raises(RewardCodeError, match="non-finite"):
        _feed(t, [[1.0, 2.0]], [[False, False]])


@pytest.mark.parametrize("env_id", list_schemas())
def test_shipped_fitness_expressions_are_valid(env_id: str) -> None:
    assert check_expression(load_schema(env_id).fitness.expression) == []


def test_cartpole_fitness_is_episode_length_over_500() -> None:
    schema = load_schema("CartPole-v1")
    env = make_env(schema, seed=0)
    tracker = FitnessTracker(schema)
    _, info = env.reset()
    lengths, steps = [], 0
    while len(lengths) < 3:
        action = env.action_space.sample()
        state = info["ar_state"]
        _, _, term, trunc, info = env.step(action)
        steps += 1
        done = term or trunc
        tracker.step(
            {k: np.asarray([v]) for k, v in state.items()},
            np.asarray([action]),
            {k: np.asarray([v]) for k, v in info["ar_state"].items()},
            np.asarray([done]),
        )
        if done:
            lengths.append(steps)
            steps = 0
            _, info = env.reset()
    assert tracker.episode_values == pytest.approx([n / 500 for n in lengths])


# ---- wording: success words come with their thresholds


def test_vague_phrases_need_a_number_soon_after() -> None:
    assert vague_phrases("Fraction of episodes in which the car ends nearly still.") == [
        "nearly",
        "still",
    ]
    assert vague_phrases("The car ends nearly still (|velocity| < 0.01).") == []
    # a number in the next sentence does not count
    assert vague_phrases("The pole stays up. It has 500 steps.") == ["stays up"]
    assert vague_phrases("Average forward speed over the full 1000-step episode.") == []


def _shipped_fitness() -> list[tuple[str, str]]:
    out = [(f"envs/{e}.yaml", load_schema(e).fitness.description) for e in list_schemas()]
    for path in sorted((schema_dir() / "suites").glob("*.yaml")):
        suite = load_suite(path, check_envs=False)
        out += [(f"{path.name}:{t.name}", t.fitness.description) for t in suite.tasks if t.fitness]
    return out


@pytest.mark.parametrize(("where", "text"), _shipped_fitness())
def test_shipped_fitness_descriptions_state_their_thresholds(where: str, text: str) -> None:
    assert vague_phrases(text) == [], f"{where}: give the threshold in numbers: {text}"


# ---- a user's fitness: thresholds of the expression must be in its description


def test_thresholds_of_the_expression_are_found_with_their_sign() -> None:
    from autoreward.envs.custom_fitness import expression_thresholds

    expr = (
        "(np.linalg.norm(next_state['joint_velocities'], axis=-1) < 0.5)"
        " * (next_state['torso_x'] > -0.25) * (0.45 <= next_state['x']) * (next_state['v'] > 0)"
    )
    assert expression_thresholds(expr) == [0.5, -0.25, 0.45]
    assert expression_thresholds("next_state['x_velocity'] / 1000.0") == []


def test_a_description_that_omits_a_threshold_gets_a_warning_naming_it() -> None:
    from autoreward.envs.custom_fitness import undescribed_thresholds

    expr = "(np.linalg.norm(next_state['joint_velocities'], axis=-1) < 0.5) / 1000.0"
    vague = FitnessSpec(kind="score", expression=expr, description="joints nearly still")
    (warning,) = undescribed_thresholds(vague)
    assert "does not state 0.5" in warning
    stated = vague.model_copy(update={"description": "joint speed norm below 0.5 rad/s"})
    assert undescribed_thresholds(stated) == []
    # .5 and 0.50 are the same number
    assert undescribed_thresholds(vague.model_copy(update={"description": "under .50 rad/s"})) == []
