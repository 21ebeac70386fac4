"""Task suites: many goals, each with its own env, fitness and budget, run as one batch.

A suite is a YAML file (shipped ones in `envs/suites/`):

    name: classic
    description: ...
    defaults: {iterations: 3, samples: 4, final_seeds: 2, random_episodes: 20}
    tasks:
      - name: cartpole-balance
        env: CartPole-v1
        task: Balance the pole ...          # the goal, as the designer reads it
        fitness: {kind: score, expression: ..., aggregate: sum, target: 0.95, description: ...}
        steps: 50000                        # training budget per candidate

A task's `fitness` replaces the env schema's (omit it to keep the schema's); it is a numpy
expression over `state` / `action` / `next_state` checked by the same rules as reward code,
and every `state["..."]` it reads must be a field of the env's schema. `load_suite` reports
every problem at once, each with the file, line and task it is about.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from autoreward.config import RunConfig, load_run_config
from autoreward.envs.custom_fitness import unknown_field_problems
from autoreward.envs.registry import load_schema, schema_dir
from autoreward.envs.schema import EnvSchema, FitnessSpec
from autoreward.errors import AutorewardError, ConfigError
from autoreward.yamlfile import Subject, node_at, read_yaml, validate

Algo = Literal["PPO", "SAC", "TD3", "A2C", "DQN"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SuiteDefaults(_Model):
    """Settings every task of the suite starts from; unset ones take RunConfig's defaults."""

    iterations: int | None = Field(default=None, ge=1, description="Designer iterations.")
    samples: int | None = Field(default=None, ge=1, description="Candidates per iteration (K).")
    steps: int | None = Field(default=None, gt=0, description="Training steps per candidate.")
    algo: Algo | None = Field(default=None, description="SB3 algorithm; default from the schema.")
    backend: Literal["sb3", "warp", "auto"] | None = Field(
        default=None,
        description="Training backend (sb3, warp, auto; RunConfig's); auto trains the MuJoCo "
        "tasks on warp where a GPU is present and the others on sb3.",
    )
    n_envs: int | None = Field(
        default=None, gt=0, description="Parallel envs per candidate (worlds with warp)."
    )
    hyperparams: dict[str, Any] = Field(
        default_factory=dict,
        description="SB3 hyperparameters (plus policy, normalize) over the schema's, for every task.",
    )
    normalize: bool | None = Field(
        default=None, description="Return normalization of generated rewards (RunConfig's)."
    )
    tune: int | None = Field(
        default=None, ge=0, description="Optuna trials over the best reward's coefficients."
    )
    selection_seeds: int | None = Field(
        default=None, ge=1, le=9, description="Training seeds per candidate (RunConfig's)."
    )
    eval_episodes: int | None = Field(default=None, ge=1, description="Evaluation episodes.")
    final_seeds: int | None = Field(
        default=None, ge=0, description="Seeds the best are retrained on."
    )
    final_candidates: int | None = Field(
        default=None, ge=1, description="Top candidates retrained on the final seeds."
    )
    halving: bool | None = Field(default=None, description="Successive halving across candidates.")
    critic: bool | None = Field(default=None, description="Ask the critic before training.")
    video: bool | None = Field(
        default=None, description="Render an evaluation video per candidate."
    )
    seed: int | None = Field(default=None, description="Base seed.")
    temperature: float | None = Field(default=None, ge=0, description="Designer temperature.")
    random_episodes: int = Field(
        default=10,
        ge=1,
        description="Episodes of a uniformly random policy (the normalization's 0).",
    )
    baseline: bool = Field(
        default=True,
        description="Train on the env's own reward with the same budget (env-reward baseline).",
    )
    sparse_baseline: bool = Field(
        default=True,
        description="Train on the task fitness itself as a sparse reward, same budget "
        "(sparse-fitness baseline: defined where the env's reward scores like random).",
    )


class SuiteTask(_Model):
    """One goal of a suite."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Unique within the suite; lowercase letters, digits, '-' and '_'.",
    )
    env: str = Field(min_length=1, description="Gymnasium id or module:Class.")
    task: str = Field(min_length=1, description="The goal in natural language.")
    fitness: FitnessSpec | None = Field(
        default=None, description="How the goal is judged; None keeps the schema's fitness."
    )
    steps: int | None = Field(default=None, gt=0, description="Training steps per candidate.")
    iterations: int | None = Field(default=None, ge=1)
    samples: int | None = Field(default=None, ge=1)
    algo: Algo | None = None
    backend: Literal["sb3", "warp", "auto"] | None = None
    n_envs: int | None = Field(default=None, gt=0)
    normalize: bool | None = Field(
        default=None, description="Return normalization of generated rewards (RunConfig's)."
    )
    tune: int | None = Field(
        default=None, ge=0, description="Optuna trials over the best reward's coefficients."
    )
    hyperparams: dict[str, Any] = Field(
        default_factory=dict,
        description="SB3 hyperparameters (rsl-rl settings with backend warp) over the suite "
        "defaults' (key by key) and the schema's.",
    )


class Suite(_Model):
    """A named list of tasks with shared defaults."""

    name: str = Field(min_length=1)
    description: str = ""
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    tasks: list[SuiteTask] = Field(min_length=1)

    _source: str = PrivateAttr(default="suite")
    _task_lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("tasks")
    @classmethod
    def _unique_names(cls, tasks: list[SuiteTask]) -> list[SuiteTask]:
        first: dict[str, int] = {}
        for i, t in enumerate(tasks):
            if t.name in first:
                raise ValueError(
                    f"duplicate task name '{t.name}' (tasks {first[t.name]} and {i}); "
                    "task names must be unique"
                )
            first[t.name] = i
        return tasks

    def task(self, name: str) -> SuiteTask:
        for t in self.tasks:
            if t.name == name:
                return t
        raise ConfigError(
            f"suite '{self.name}' has no task '{name}'", hint=_did_you_mean(name, self.names)
        )

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def select(self, names: list[str] | None) -> list[SuiteTask]:
        """The tasks named (in suite order), or all of them; unknown names are an error."""
        if not names:
            return list(self.tasks)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ConfigError(
                f"suite '{self.name}' has no task {', '.join(repr(n) for n in unknown)}",
                hint=_did_you_mean(unknown[0], self.names),
            )
        return [t for t in self.tasks if t.name in names]

    @property
    def source(self) -> str:
        """The file the suite was loaded from ('suite' when built in code)."""
        return self._source

    def with_source(self, source: str, task_lines: dict[str, int] | None = None) -> Suite:
        """Record where the suite came from, for error messages; returns self."""
        self._source = source
        self._task_lines = dict(task_lines or {})
        return self

    def where(self, task: SuiteTask) -> str:
        """`file:line` of a task, for error messages."""
        line = self._task_lines.get(task.name)
        return f"{self._source}:{line}" if line else self._source


# =========================================================================== loading


def suites_dir() -> Path:
    """The folder holding shipped suites (`envs/suites/`)."""
    return schema_dir() / "suites"


def list_suites() -> list[str]:
    folder = suites_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def resolve_suite_path(name_or_path: str | Path) -> Path:
    """A suite file path, or the name of a shipped suite (`classic`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = suites_dir() / f"{path.stem if path.suffix in ('.yaml', '.yml') else path.name}.yaml"
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    raise ConfigError(
        f"no suite file '{name_or_path}'",
        hint=f"pass a YAML path or a shipped suite: {', '.join(list_suites()) or '(none)'}",
    )


def load_suite(path: str | Path, *, check_envs: bool = True) -> Suite:
    """Parse and validate a suite; every problem is reported at once with file:line and task.

    Static checks always run (YAML, keys, types, duplicate names, fitness expression rules).
    `check_envs` also loads each env's schema: unknown env ids and fitness expressions that
    read state fields the env does not have are errors.
    """
    path = resolve_suite_path(path)
    doc = read_yaml(path, what="suite file")
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'name' and 'tasks' at the top level")
    root = doc.root
    _check_duplicate_names(path, root, data)
    suite = validate(Suite, doc, "suite", subject=_task_subject(data))
    suite.with_source(str(path), _task_lines(root, data))

    problems = [
        f"{suite.where(t)}: task '{t.name}': {p}" for t in suite.tasks for p in static_problems(t)
    ]
    if problems:
        raise ConfigError(
            f"{path}: invalid fitness expression:\n  " + "\n  ".join(problems),
            hint="a fitness is a numpy expression over state, action, next_state returning shape (N,)",
        )
    if check_envs:
        env_problems = suite_problems(suite)
        if env_problems:
            raise ConfigError(
                f"{path}: {len(env_problems)} task(s) cannot run:\n  "
                + "\n  ".join(
                    f"{suite.where(suite.task(n))}: task '{n}': {p}"
                    for n, p in env_problems.items()
                ),
                hint="fix the env id or the field names, or pick other tasks with --tasks",
            )
    return suite


# =========================================================================== checks


def static_problems(task: SuiteTask) -> list[str]:
    """Rule violations of the task's fitness expression (no env needed)."""
    if task.fitness is None:
        return []
    from autoreward.envs.fitness import check_expression

    return [f"fitness expression: {p}" for p in check_expression(task.fitness.expression)]


def field_problems(task: SuiteTask, schema: EnvSchema) -> list[str]:
    """State fields the task's fitness reads that the env's schema does not have."""
    return [] if task.fitness is None else unknown_field_problems(task.fitness, schema)


def task_schema(task: SuiteTask) -> EnvSchema:
    """The env's schema with the task's fitness in place of the schema's own."""
    schema = load_schema(task.env)
    if task.fitness is not None:
        schema = schema.model_copy(update={"fitness": task.fitness})
    return schema


def dry_run_fitness(schema: EnvSchema, n: int = 64, seed: int = 0) -> np.ndarray:
    """Evaluate the schema's fitness on `n` random-policy transitions of the real env; the
    per-step values (shape (n,), finite) or a RewardCodeError saying what is wrong."""
    from autoreward.envs.extract import sample_transitions
    from autoreward.envs.fitness import FitnessTracker

    state, action, next_state = sample_transitions(schema, n=n, seed=seed)
    return FitnessTracker(schema.fitness).values(state, action, next_state)


def suite_problems(
    suite: Suite, names: list[str] | None = None, *, dry_run: bool = False
) -> dict[str, str]:
    """Per task name, why it cannot run: unknown env, missing fields, and with `dry_run` a
    fitness that fails on states of the real env. Tasks without problems are absent."""
    out: dict[str, str] = {}
    for task in suite.select(names):
        problems = static_problems(task)
        if not problems:
            try:
                schema = task_schema(task)
            except AutorewardError as err:
                out[task.name] = error_line(err)
                continue
            problems = field_problems(task, schema) + hyperparam_problems(suite, task, schema)
            if not problems:
                from autoreward.train.algos import resolve_algo

                try:
                    resolve_algo(task.algo or suite.defaults.algo, schema, option="algo")
                except AutorewardError as err:
                    problems = [error_line(err)]
            if not problems and dry_run:
                try:
                    dry_run_fitness(schema, n=32)
                except Exception as err:  # env construction or the expression itself
                    problems = [f"fitness dry run failed: {err}"]
        if problems:
            out[task.name] = "; ".join(problems)
    return out


def task_hyperparams(suite: Suite, task: SuiteTask) -> dict[str, Any]:
    """The task's hyperparameters: the suite defaults' with the task's over them, key by key."""
    return {**suite.defaults.hyperparams, **task.hyperparams}


def hyperparam_problems(suite: Suite, task: SuiteTask, schema: EnvSchema) -> list[str]:
    """Why the task cannot train with its algorithm and hyperparameters (an algorithm for the
    other kind of action, unknown names, bad values, a policy that does not fit the
    observation space)."""
    from autoreward.train.sb3.hyperparams import check_training_options, effective_hyperparams

    overrides = task_hyperparams(suite, task)
    backend = task.backend or suite.defaults.backend or "sb3"
    if backend != "sb3":
        from autoreward.train.backends import resolve_backend

        try:
            chosen, device = resolve_backend(backend, schema)
        except AutorewardError as err:
            return [error_line(err)]
        if chosen == "warp":
            return _warp_problems(suite, task, schema, device, overrides)
    algo = task.algo or suite.defaults.algo or schema.train.algo
    merged = effective_hyperparams(schema.train.hyperparams, schema.train.algo, algo, overrides)
    try:
        check_training_options(algo, merged, schema)
    except AutorewardError as err:
        return [error_line(err)]
    return []


def _warp_problems(
    suite: Suite, task: SuiteTask, schema: EnvSchema, device: str, overrides: dict[str, Any]
) -> list[str]:
    """Why the task cannot train on the warp backend (an SB3 algorithm, hyperparameters that
    are not rsl-rl's)."""
    from autoreward.train.backends import warp_setup

    try:
        warp_setup(schema, algo=task.algo or suite.defaults.algo, steps=None, n_envs=None,
                   hyperparams=overrides, hyperparams_file=None, device=device)  # fmt: skip
    except AutorewardError as err:
        return [error_line(err)]
    return []


def error_line(err: BaseException) -> str:
    """An error as one line: `message (hint)` for ours, `Type: message` for anything else."""
    if isinstance(err, AutorewardError):
        message = " ".join(err.message.split())
        return f"{message} ({err.hint})" if err.hint else message
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


# =========================================================================== run configs


def task_run_config(
    suite: Suite,
    task: SuiteTask,
    *,
    model: str | None = None,
    api_base: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """The RunConfig of one task: RunConfig defaults < suite defaults < task < `overrides`."""
    data: dict[str, Any] = {
        k: v
        for k, v in suite.defaults.model_dump(
            exclude={"random_episodes", "baseline", "hyperparams", "sparse_baseline"}
        ).items()
        if v is not None
    }
    if task_hyperparams(suite, task):
        data["hyperparams"] = task_hyperparams(suite, task)
    for key in ("steps", "iterations", "samples", "algo", "backend", "n_envs", "normalize", "tune"):
        value = getattr(task, key)
        if value is not None:
            data[key] = value
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    data.update(env_id=task.env, task=task.task)
    if task.fitness is not None:
        data["fitness"] = task.fitness.model_dump()
    if model is not None:
        data["model"] = model
    if api_base is not None:
        data["api_base"] = api_base
    return load_run_config(data, f"{suite.source}: task '{task.name}'")


# =========================================================================== error text


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3)
    if close:
        return "did you mean " + ", ".join(close) + "?"
    return "tasks: " + ", ".join(options)


def _check_duplicate_names(path: Path, root: yaml.Node | None, data: dict[str, Any]) -> None:
    """Duplicate task names, pointing at the second occurrence (before pydantic, which can
    only point at the whole list)."""
    tasks = data.get("tasks")
    if not isinstance(tasks, list):
        return
    first: dict[str, int] = {}
    for i, t in enumerate(tasks):
        name = t.get("name") if isinstance(t, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            node = node_at(root, ("tasks", i, "name"))
            line = f":{node.start_mark.line + 1}" if node is not None else ""
            raise ConfigError(
                f"{path}{line}: duplicate task name '{name}' (tasks {first[name]} and {i})",
                hint="task names must be unique within a suite; rename one of them",
            )
        first[name] = i


def _task_lines(root: yaml.Node | None, data: dict[str, Any]) -> dict[str, int]:
    lines: dict[str, int] = {}
    tasks = data.get("tasks")
    if not isinstance(tasks, list):
        return lines
    for i, t in enumerate(tasks):
        node = node_at(root, ("tasks", i))
        if isinstance(t, dict) and "name" in t and node is not None:
            lines[str(t["name"])] = node.start_mark.line + 1
    return lines


def _task_subject(data: dict[str, Any]) -> Subject:
    """Error locations under `tasks[i]` name the task: "task 'a': " and the rest."""

    def subject(loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
            tasks = data.get("tasks") or []
            item = tasks[loc[1]] if loc[1] < len(tasks) else None
            name = item.get("name") if isinstance(item, dict) else None
            return (f"task '{name}': " if name else f"tasks[{loc[1]}]: "), loc[2:]
        return "", loc

    return subject
