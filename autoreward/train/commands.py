"""`autoreward train reward.py --env ENV`: train one reward in an isolated worker, show its
progress live, print its evaluation; `--baseline env` trains on the env's own reward beside it.

The output folder keeps what was trained, so it can be read (and reported) later:

    train.yaml        env, algorithm, budget, seed, device, the fitness, the reward's source file
    reward/           reward.py (the code trained), train.json, eval.json, stats.json, model.zip, video.mp4
    baseline/         the same for the env's own reward (with --baseline env)
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autoreward.envs.schema import FitnessSpec
from autoreward.errors import ConfigError, RewardCodeError
from autoreward.sandbox.untrusted import untrusted
from autoreward.store.atomic import atomic_write_text, read_json
from autoreward.train.job import TrainJob, TrainResult

BASELINES = ("env", "none")
TRAIN_SPEC = "train.yaml"
REWARD_DIR, BASELINE_DIR = "reward", "baseline"
# run-config fields `train --config run.yaml` takes, and the CLI option each one maps onto
_FROM_CONFIG = {
    "env_id": "env", "steps": "steps", "algo": "algo", "n_envs": "n_envs", "seed": "seed",
    "eval_episodes": "eval_episodes", "video": "video", "device": "device", "backend": "backend",
}  # fmt: skip
CLI_FITNESS_DESCRIPTION = "the fitness given with --fitness on the command line"


class TrainOptions(BaseModel):
    """What `autoreward train` trains: the command line over an optional run YAML."""

    model_config = ConfigDict(extra="forbid")

    env_id: str
    steps: int | None = None
    algo: str | None = None
    n_envs: int | None = None
    seed: int = 0
    eval_episodes: int = 10
    video: bool = True
    device: str = "cpu"
    backend: str = "sb3"
    fitness: FitnessSpec | None = None
    config: str | None = None
    hyperparams: dict[str, Any] = {}
    hyperparams_file: str | None = None
    tensorboard: bool = True
    wandb_project: str | None = None

    @classmethod
    def build(
        cls,
        *,
        given: set[str],
        config: Path | None,
        fitness: dict[str, Any],
        **cli: Any,
    ) -> TrainOptions:
        """`cli` holds every option's value (env_id, steps, ...); `given` names those typed on
        the command line; `fitness` the --fitness* options given."""
        from autoreward.envs.custom_fitness import fitness_from_options

        values = dict(cli)
        base_fitness: FitnessSpec | None = None
        if config is not None:
            from autoreward.config import read_run_config_file

            cfg, _ = read_run_config_file(config)
            saved = cfg.model_dump(exclude_unset=True)
            for field, option in _FROM_CONFIG.items():
                if (
                    field in saved
                    and option not in given
                    and (field != "env_id" or "env" not in given)
                ):
                    values[field] = saved[field]
            base_fitness = cfg.fitness
        if not values.get("env_id"):
            raise ConfigError(
                "--env is needed (or a --config whose run YAML names env_id)",
                hint="autoreward train reward.py --env CartPole-v1",
            )
        if fitness and base_fitness is None and "expression" not in fitness:
            from autoreward.envs.registry import load_schema

            base_fitness = load_schema(str(values["env_id"])).fitness
        values["fitness"] = fitness_from_options(
            fitness, base_fitness, default_description=CLI_FITNESS_DESCRIPTION
        )
        values["config"] = str(config) if config is not None else None
        return cls.model_validate(values)


def train_command(
    console: Console,
    reward_file: Path,
    options: TrainOptions,
    *,
    baseline: str | None = None,
    out: Path | None = None,
) -> int:
    """Returns the exit code: 0 when every job trained, 1 when one failed."""
    from autoreward.envs.custom_fitness import check_custom_fitness
    from autoreward.envs.registry import load_schema
    from autoreward.exec import LocalExecutor
    from autoreward.sandbox.validate import validate_code
    from autoreward.train.algos import resolve_algo
    from autoreward.train.backends import resolve_backend
    from autoreward.train.device import resolve_device
    from autoreward.train.reward_wrapper import read_reward_source

    if baseline is not None and baseline not in BASELINES:
        raise ConfigError(
            f"--baseline {baseline!r} is not known", hint="use --baseline env (or leave it out)"
        )
    code = read_reward_source(reward_file)
    # a rejected reward fails here, in one clean line, before any worker; it is parsed, never run
    violations = validate_code(code)
    if violations:
        raise RewardCodeError(
            f"{reward_file} was rejected by the static check ({len(violations)} problem"
            f"{'s' if len(violations) != 1 else ''}):\n"
            + "\n".join(f"  - {v}" for v in violations),
            hint="only numpy and math, no file/process/introspection APIs, no dunder names; "
            f"autoreward check {reward_file} --env {options.env_id} explains each problem",
        )
    schema = load_schema(options.env_id)
    if options.fitness is not None:
        check_custom_fitness(options.fitness, schema, "--fitness")
        schema = schema.model_copy(update={"fitness": options.fitness})
    backend, device = resolve_backend(options.backend, schema, resolve_device(options.device))
    hyperparams_file = Path(options.hyperparams_file) if options.hyperparams_file else None
    if backend == "warp":
        setup = warp_training_setup(schema, options, hyperparams_file, device)
        if baseline == "env" and schema.simulation is not None and not schema.simulation.reward:
            raise ConfigError(
                f"--baseline env with --backend warp: {schema.env_id} declares no reward of its "
                "own for the MuJoCo Warp backend",
                hint="add simulation.reward terms to its schema (see envs/Hopper-v5.yaml), or "
                "use --backend sb3",
            )
    else:
        algo = resolve_algo(options.algo, schema)
        setup = training_setup(
            schema, algo, options.steps, options.n_envs, options.hyperparams, hyperparams_file
        )
    if options.wandb_project:
        from autoreward.train.tblog import require_wandb

        require_wandb()
    out_dir = (
        out or Path("runs") / f"train-{time.strftime('%Y%m%d-%H%M%S')}-{_slug(options.env_id)}"
    )
    total = setup.total_steps
    common: dict[str, Any] = dict(
        env_id=options.env_id,
        total_steps=setup.total_steps,
        n_envs=setup.n_envs,
        hyperparams=setup.hyperparams,
        schema_hyperparams=False,
        tensorboard=options.tensorboard,
        budget_note=setup.budget_note,
        seed=options.seed,
        eval_episodes=options.eval_episodes,
        video=options.video,
        device=device,
        algo=setup.algo,
        backend=backend,
        # the schema travels with the job: the worker's container holds no envs/ folder
        schema_data=schema.model_dump(mode="json"),
    )
    try:
        jobs = [
            TrainJob(
                out_dir=str(out_dir / REWARD_DIR),
                reward_code=code,
                label=reward_file.name,
                **common,
            )
        ]
        if baseline == "env":
            jobs.append(
                TrainJob(
                    out_dir=str(out_dir / BASELINE_DIR),
                    reward_code=None,
                    label="env reward",
                    **common,
                )
            )
    except ValidationError as err:  # every option is checked above; this is a safety net
        first = err.errors()[0]
        raise ConfigError(f"bad option {first['loc'][0]}: {first['msg']}") from None
    _save_spec(out_dir, reward_file, code, options, setup.algo, device, total, baseline,
               schema.fitness, backend)  # fmt: skip

    policy = setup.hyperparams.get("policy", "policy from the observation space")
    if backend == "warp":
        policy = f"rsl-rl on MuJoCo Warp, {setup.n_envs:,} worlds"
    console.print(
        f"training [bold]{escape(str(reward_file))}[/] on {escape(options.env_id)} for {total:,} "
        f"steps ({setup.algo}, {escape(str(policy))}, {device}) → {escape(str(out_dir))}",
        highlight=False,
        soft_wrap=True,
    )
    if setup.budget_note:
        console.print(f"[yellow]budget:[/] {escape(setup.budget_note)}", highlight=False,
                      soft_wrap=True)  # fmt: skip
    if options.tensorboard:
        console.print(
            f"TensorBoard: tensorboard --logdir {out_dir}", highlight=False, markup=False,
            soft_wrap=True,
        )  # fmt: skip
    executor = LocalExecutor(workers=len(jobs))
    results = _run_with_progress(console, executor, jobs, setup.trained_steps)
    console.print(evaluation_table(jobs, results, schema.train.deterministic_eval))
    for result in results:
        # reasons quote the reward's own exception text: never parsed as markup
        if result.status == "failed":
            console.print(
                f"[red]{escape(result.label)} failed:[/] {escape(result.reason or '')}",
                highlight=False,
            )
        if result.hacking_flag:
            console.print(
                f"[yellow]{escape(result.label)}: suspected reward hacking:[/] "
                f"{escape(result.hacking_reason or '')}",
                highlight=False,
            )
    if options.wandb_project:
        from autoreward.train.tblog import upload_to_wandb

        n = upload_to_wandb(out_dir, options.wandb_project)
        console.print(f"W&B: {n} job(s) uploaded to project {options.wandb_project}",
                      highlight=False, markup=False)  # fmt: skip
    console.print(f"report: autoreward report {out_dir}", highlight=False, markup=False)
    return 0 if all(r.status == "ok" for r in results) else 1


class TrainingSetup(BaseModel):
    """What `autoreward train` trains with, resolved and checked before any worker starts."""

    algo: str
    total_steps: int
    trained_steps: int
    n_envs: int
    hyperparams: dict[str, Any]
    budget_note: str = ""


def training_setup(
    schema: Any,
    algo: str | None,
    steps: int | None,
    n_envs: int | None,
    hyperparams: dict[str, Any],
    hyperparams_file: Path | None = None,
) -> TrainingSetup:
    """Precedence: the schema's defaults (or an RL Zoo file's entry, which replaces them) <
    `hyperparams` (the command line); explicit `steps`/`n_envs` over the file's and schema's."""
    from autoreward.train.budget import fit_rollout
    from autoreward.train.sb3.hyperparams import (
        ALGO_NAMES,
        algo_class,
        check_training_options,
        effective_hyperparams,
    )
    from autoreward.train.sb3.zoo import load_zoo_entry

    if algo and algo.upper() not in ALGO_NAMES:
        raise ConfigError(f"bad option algo: {algo!r} is not one of {', '.join(ALGO_NAMES)}",
                          hint="algo is one of " + ", ".join(ALGO_NAMES))  # fmt: skip
    zoo = load_zoo_entry(hyperparams_file, schema.env_id) if hyperparams_file else None
    name = algo_class(algo).__name__ if algo else schema.train.algo
    merged = effective_hyperparams(
        schema.train.hyperparams, schema.train.algo, name,
        {**(zoo.hyperparams if zoo else {}), **hyperparams}, use_schema=zoo is None,
    )  # fmt: skip
    check_training_options(name, merged, schema)
    total = steps or (zoo.steps if zoo else None) or schema.train.total_steps
    envs = n_envs or (zoo.n_envs if zoo else None) or schema.train.n_envs
    merged, fit = fit_rollout(name, merged, envs, total)
    return TrainingSetup(
        algo=name, total_steps=total, trained_steps=fit.trained_steps(), n_envs=envs,
        hyperparams=merged, budget_note=fit.note if fit.notable else "",
    )  # fmt: skip


def warp_training_setup(
    schema: Any, options: TrainOptions, hyperparams_file: Path | None, device: str
) -> TrainingSetup:
    """`TrainingSetup` of a `--backend warp` job (`backends.warp_setup`: rsl-rl settings,
    worlds, the rollout fitted to the budget; options that do not apply are errors)."""
    from autoreward.train.backends import warp_setup

    warp = warp_setup(
        schema, algo=options.algo, steps=options.steps, n_envs=options.n_envs,
        hyperparams=options.hyperparams, hyperparams_file=hyperparams_file, device=device,
    )  # fmt: skip
    return TrainingSetup(
        algo="PPO", total_steps=warp.total_steps, trained_steps=warp.trained_steps,
        n_envs=warp.worlds, hyperparams=warp.hyperparams, budget_note=warp.budget_note,
    )  # fmt: skip


def _save_spec(
    out_dir: Path,
    reward_file: Path,
    code: str,
    options: TrainOptions,
    algo: str,
    device: str,
    total: int,
    baseline: str | None,
    fitness: FitnessSpec,
    backend: str = "sb3",
) -> None:
    """`train.yaml` and `reward/reward.py`: what this folder trained, kept beside the results."""
    atomic_write_text(out_dir / REWARD_DIR / "reward.py", code)
    spec = {
        "env_id": options.env_id,
        "reward_file": str(reward_file.absolute()),
        "algo": algo,
        "backend": backend,
        "steps": total,
        "n_envs": options.n_envs,
        "seed": options.seed,
        "eval_episodes": options.eval_episodes,
        "device": device,
        "baseline": baseline,
        "config": options.config,
        "fitness": fitness.model_dump(mode="json"),
        "fitness_source": "custom" if options.fitness is not None else "schema",
    }
    atomic_write_text(out_dir / TRAIN_SPEC, yaml.safe_dump(spec, sort_keys=False))


def _run_with_progress(
    console: Console, executor: Any, jobs: list[TrainJob], total: int
) -> list[TrainResult]:
    from autoreward.ui import steps_text

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = [
            progress.add_task(job.label, total=total, status="starting", count=steps_text(0, total))
            for job in jobs
        ]

        def on_progress(i: int, data: dict[str, Any]) -> None:
            fitness = data.get("fitness")
            status = f"{data.get('steps_per_s', 0):.0f} steps/s"
            if fitness is not None:
                status += f", fitness {fitness:.3g}"
            steps = int(data.get("steps", 0))
            progress.update(
                tasks[i], completed=steps, status=status, count=steps_text(steps, total)
            )

        def on_result(i: int, result: TrainResult) -> None:
            status = "[green]done[/]" if result.status == "ok" else "[red]failed[/]"
            progress.update(
                tasks[i], completed=result.steps, status=status,
                count=steps_text(result.steps, total),
            )  # fmt: skip

        return executor.map(jobs, on_result=on_result, on_progress=on_progress)


def evaluation_table(
    jobs: list[TrainJob], results: list[TrainResult], deterministic: bool = True
) -> Table:
    """One column per job: the evaluation side by side."""
    policy = "deterministic policy" if deterministic else "policy sampling its actions"
    table = Table(title=f"evaluation ({policy})", title_justify="left")
    table.add_column("")
    for result in results:
        table.add_column(untrusted(result.label, 80).text, justify="right", overflow="fold")
    evals = [read_json(Path(job.out_dir) / "eval.json") or {} for job in jobs]
    trains = [read_json(Path(job.out_dir) / "train.json") or {} for job in jobs]
    kind = next((r.fitness_kind for r in results if r.fitness_kind), "score")
    rows: list[tuple[str, list[str]]] = [
        ("status", [r.status for r in results]),
        (f"task fitness ({kind})", [_num(r.fitness) for r in results]),
        ("env return", [_pm(e.get("env_return_mean"), e.get("env_return_std")) for e in evals]),
        ("generated return", [_num(r.generated_return) for r in results]),
        ("episode length", [_num(r.episode_length) for r in results]),
        (
            "ended: terminated / truncated",
            [f"{e['terminated']} / {e['truncated']}" if e else "-" for e in evals],
        ),
        ("steps", [f"{r.steps:,}" for r in results]),
        ("steps/s", [f"{r.steps_per_s:,.0f}" for r in results]),
        ("backend", [str(t.get("backend") or "sb3") for t in trains]),
        ("device", [untrusted(t.get("device") or "-", 40) for t in trains]),
        ("wall", [f"{r.wall_s:.0f} s" for r in results]),
        ("reward hacking flag", ["yes" if r.hacking_flag else "no" for r in results]),
        ("video", [_video(r) for r in results]),
        ("output", [r.out_dir for r in results]),
    ]
    for name, values in rows:
        # Cells hold what containers reported (device, status, labels): text, never markup.
        table.add_row(name, *(untrusted(v).text for v in values))
    return table


def _video(r: TrainResult) -> str:
    if r.video:
        return Path(r.video).name
    if r.video_status == "not requested":
        return "off (--no-video)"
    return r.video_status or "-"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _pm(mean: float | None, std: float | None) -> str:
    return "-" if mean is None else f"{mean:.4g} ± {std or 0:.2g}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
