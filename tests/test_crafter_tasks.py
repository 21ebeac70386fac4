"""The open-world suite on Crafter: it validates, its fitnesses score scripted episodes, and a
reward file checks and trains end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from crafterplay import greedy_wood_action
from fakellm import MODEL, FakeLLMServer, load_answer, prompt_text
from typer.testing import CliRunner

from autoreward.batch.suites import load_suite, suite_problems, task_schema
from autoreward.envs.extract import STATE_KEY, make_env, stack_states
from autoreward.envs.schema import EnvSchema
from autoreward.train.evaluate import EpisodeTrace, score_traces
from autoreward.train.openworld import analyze

BENCH_REWARD = Path(__file__).parents[1] / "bench" / "rewards" / "crafter_collect_wood.py"
runner = CliRunner()

TASKS = ("collect-wood", "place-table", "make-wood-pickaxe", "collect-stone-avoid-lava",
         "drink-and-survive", "collect-diamond")  # fmt: skip


def _schema(task: str) -> EnvSchema:
    return task_schema(load_suite("open-world").task(task))


def _play(schema: EnvSchema, seed: int, policy: str, steps: int) -> EpisodeTrace:
    env = make_env(schema, seed=seed)
    _, info = env.reset(seed=seed)
    states, actions = [info[STATE_KEY]], []
    terminated = truncated = False
    for t in range(steps):
        action = greedy_wood_action(states[-1], t) if policy == "greedy" else 0
        _, _, terminated, truncated, info = env.step(action)
        states.append(info[STATE_KEY])
        actions.append(action)
        if terminated or truncated:
            break
    return EpisodeTrace(seed=seed, states=stack_states(states), actions=np.array(actions),
                        env_rewards=np.zeros(len(actions)), terminated=terminated,
                        truncated=truncated)  # fmt: skip


def test_the_suite_validates_and_every_fitness_runs_on_the_real_env() -> None:
    suite = load_suite("open-world")
    assert suite.names == list(TASKS)
    assert suite.defaults.eval_episodes is not None and suite.defaults.eval_episodes >= 30
    assert all(t.env == "Crafter-v1" and t.fitness is not None for t in suite.tasks)
    assert suite_problems(suite, dry_run=True) == {}


def test_batch_dry_run_of_collect_wood() -> None:
    from autoreward.cli import app

    result = runner.invoke(app, ["batch", "open-world", "--tasks", "collect-wood", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "collect-wood" in result.output and "every task checks out" in result.output


def test_collect_wood_fitness_on_scripted_episodes() -> None:
    schema = _schema("collect-wood")
    greedy = [_play(schema, seed, "greedy", 60) for seed in (0, 1, 2)]
    idle = _play(schema, 0, "noop", 60)
    evaluation = score_traces([*greedy, idle], schema)
    assert [e.success for e in evaluation.episodes] == [True, True, True, False]
    assert evaluation.fitness == pytest.approx(0.75)
    analysis = analyze([*greedy, idle], evaluation, schema)
    first = [e["first_success_at"] for e in analysis.episodes]
    wood = [int(np.flatnonzero(t.states["ach_collect_wood"] > 0)[0]) for t in greedy]
    assert first == [*wood, None] and all(1 <= w <= 60 for w in wood)
    assert analysis.episodes[3]["coverage"]["pattern"] == "stuck"
    assert analysis.episodes[0]["first_collected"]["tree"] == wood[0]


def test_avoid_lava_and_survive_fitnesses_on_scripted_endings() -> None:
    """The 'final' fitnesses: stone without dying in lava; drinking and being alive at the end."""
    stone = _schema("collect-stone-avoid-lava")
    survive = _schema("drink-and-survive")
    ep = _play(stone, 0, "noop", 5)
    s = {k: v.copy() for k, v in ep.states.items()}
    s["ach_collect_stone"][3:] = 1.0
    s["ach_collect_drink"][2:] = 1.0
    ok = EpisodeTrace(**{**ep.__dict__, "states": s})
    lava = {k: v.copy() for k, v in s.items()}
    lava["dist_lava"][-1], lava["health"][-1] = 0.0, 0.0
    died = EpisodeTrace(**{**ep.__dict__, "states": lava, "terminated": True, "truncated": False})
    assert [e.success for e in score_traces([ok, died], stone).episodes] == [True, False]
    assert [e.success for e in score_traces([ok, died], survive).episodes] == [True, False]
    analysis = analyze([ok, died], score_traces([ok, died], stone), stone)
    assert analysis.episodes[1]["cause_of_death"] == "lava"
    assert analysis.episodes[0]["first_success_at"] == 3


def test_check_passes_a_crafter_reward() -> None:
    from autoreward.cli import app

    result = runner.invoke(
        app, ["check", str(BENCH_REWARD), "--env", "Crafter-v1", "--states", "32"]
    )
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output and "approach" in result.output


@pytest.mark.expensive
def test_train_a_reward_file_on_crafter_end_to_end(tmp_path: Path) -> None:
    from autoreward.cli import app

    result = runner.invoke(
        app,
        ["train", str(BENCH_REWARD), "--env", "Crafter-v1", "--steps", "1024", "--n-envs", "2",
         "--eval-episodes", "2", "--video", "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = tmp_path / "reward"
    train = json.loads((out / "train.json").read_text())
    assert train["status"] == "ok" and train["steps"] >= 1024
    assert json.loads((out / "stats.json").read_text())["components"] == [
        "collected",
        "approach",
        "facing",
        "spotted",
    ]
    trajectories = json.loads((out / "trajectories.json").read_text())
    assert trajectories["open_world"]["summary"]["episodes"] == 2
    kinds = {e["kind"] for e in trajectories["events"]}
    assert {"open_world_deaths", "open_world_first_collected"} <= kinds
    assert (out / "video.mp4").stat().st_size > 0 and train["video_status"].startswith("ok")


def test_crafter_policies_are_evaluated_with_sampled_actions() -> None:
    """An argmax Crafter policy repeats a blocked move forever; the schema asks for sampling."""
    from autoreward.envs.registry import load_schema
    from autoreward.train.evaluate import evaluate_policy

    class Recorder:
        def __init__(self, action: int) -> None:
            self.action, self.flags = action, set()

        def predict(self, obs: np.ndarray, deterministic: bool) -> tuple[np.ndarray, None]:
            self.flags.add(deterministic)
            return np.full(len(obs), self.action), None

    schema = _schema("collect-wood")
    assert schema.train.deterministic_eval is False
    crafter_model = Recorder(6)  # sleep: a quiet episode
    evaluation, _ = evaluate_policy(crafter_model, schema, episodes=1, seed=0)
    assert crafter_model.flags == {False} and evaluation.episodes[0].length > 0
    cartpole_model = Recorder(0)
    evaluate_policy(cartpole_model, load_schema("CartPole-v1"), episodes=1, seed=0)
    assert cartpole_model.flags == {True}


@pytest.mark.expensive
def test_run_on_collect_wood_gives_the_analyzer_open_world_events(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    """`autoreward run` on the collect-wood task: trains, evaluates, and the analyzer's prompt
    carries the open-world events of the evaluation episodes."""
    from autoreward.config import RunConfig
    from autoreward.loop import run_loop
    from autoreward.store.rundir import RunDir

    fake_llm.add_rule("careful reviewer", load_answer("critic_ok"), repeat_last=True)
    fake_llm.add_rule("diagnoses trained policies", load_answer("analyzer_crafter_wood"),
                      repeat_last=True)  # fmt: skip
    fake_llm.add_rule("# Advice", load_answer("designer_crafter_wood"), repeat_last=True)
    task = load_suite("open-world").task("collect-wood")
    cfg = RunConfig(env_id="Crafter-v1", task=task.task, model=MODEL,
                    api_base=fake_llm.url + "/v1", iterations=1, samples=1, steps=1024,
                    n_envs=2, workers=1, eval_episodes=2, final_seeds=0, video=False,
                    fitness=task.fitness)  # fmt: skip
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    result = run_loop(cfg, run)
    assert result.best is not None and result.best.fitness is not None
    # one iteration: the loop defers its analysis (no designer reads it); refine writes it
    from autoreward.loop.analysis import write_deferred_analysis

    assert write_deferred_analysis(run.path, 0)
    analyzer = [prompt_text(r.body) for r in fake_llm.chat_requests]
    analyzer = [t for t in analyzer if "diagnoses trained policies" in t]
    assert analyzer, "the analyzer was not asked"
    assert "over 2 evaluation episodes: died in" in analyzer[0]
    assert "first seen, median step (episodes):" in analyzer[0]
    assert "movement: " in analyzer[0] and "died at step" in analyzer[0]
    assert "oscillating" not in analyzer[0]  # sampled evaluation actions are not oscillation
