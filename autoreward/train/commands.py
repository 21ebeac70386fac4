"""`autoreward train reward.py --env ENV`: train one reward in an isolated worker, show its
progress live, print its evaluation; `--baseline env` trains on the env's own reward beside it."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autoreward.errors import ConfigError
from autoreward.store.atomic import read_json
from autoreward.train.job import TrainJob, TrainResult

BASELINES = ("env", "none")


def train_command(
    console: Console,
    reward_file: Path,
    env_id: str,
    *,
    steps: int | None = None,
    algo: str | None = None,
    n_envs: int | None = None,
    seed: int = 0,
    baseline: str | None = None,
    out: Path | None = None,
    video: bool = True,
    eval_episodes: int = 10,
    device: str = "cpu",
    hyperparams: dict[str, Any] | None = None,
    hyperparams_file: Path | None = None,
    tensorboard: bool = True,
    wandb_project: str | None = None,
) -> int:
    """Returns the exit code: 0 when every job trained, 1 when one failed."""
    from autoreward.envs.registry import load_schema
    from autoreward.exec import LocalExecutor
    from autoreward.sandbox.loader import reject_invalid
    from autoreward.train.export import read_reward_source

    if baseline is not None and baseline not in BASELINES:
        raise ConfigError(
            f"--baseline {baseline!r} is not known", hint="use --baseline env (or leave it out)"
        )
    code = read_reward_source(reward_file)
    # The parent only parses the reward (a rejected one fails here, in one clean line); it
    # runs only inside the training and evaluation containers.
    reject_invalid(code)
    schema = load_schema(env_id)
    setup = training_setup(schema, algo, steps, n_envs, hyperparams or {}, hyperparams_file)
    if wandb_project:
        from autoreward.train.tblog import require_wandb

        require_wandb()
    out_dir = out or Path("runs") / f"train-{time.strftime('%Y%m%d-%H%M%S')}-{_slug(env_id)}"
    common: dict[str, Any] = dict(
        env_id=env_id,
        total_steps=setup.total_steps,
        n_envs=setup.n_envs,
        hyperparams=setup.hyperparams,
        schema_hyperparams=False,
        tensorboard=tensorboard,
        budget_note=setup.budget_note,
        seed=seed,
        eval_episodes=eval_episodes,
        video=video,
        device=device,
        algo=setup.algo,
        schema_data=schema.model_dump(mode="json"),
    )
    try:
        jobs = [
            TrainJob(
                out_dir=str(out_dir / "reward"), reward_code=code, label=reward_file.name, **common
            )
        ]
        if baseline == "env":
            jobs.append(
                TrainJob(
                    out_dir=str(out_dir / "baseline"),
                    reward_code=None,
                    label="env reward",
                    **common,
                )
            )
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(
            f"bad option {first['loc'][0]}: {first['msg']}",
            hint="algo is one of PPO, SAC, TD3, A2C, DQN",
        ) from None

    total = setup.total_steps
    policy = setup.hyperparams.get("policy", "policy from the observation space")
    console.print(
        f"training [bold]{escape(str(reward_file))}[/] on {escape(env_id)} for {total:,} steps "
        f"({setup.algo}, {escape(str(policy))}) → {escape(str(out_dir))}",
        highlight=False,
        soft_wrap=True,
    )
    if setup.budget_note:
        console.print(f"[yellow]budget:[/] {setup.budget_note}", highlight=False, soft_wrap=True)
    if tensorboard:
        console.print(
            f"TensorBoard: tensorboard --logdir {out_dir}", highlight=False, soft_wrap=True
        )
    results = _run_with_progress(
        console, LocalExecutor(workers=len(jobs)), jobs, setup.trained_steps
    )
    console.print(evaluation_table(jobs, results))
    for result in results:
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
    if wandb_project:
        from autoreward.train.tblog import upload_to_wandb

        n = upload_to_wandb(out_dir, wandb_project)
        console.print(f"W&B: {n} job(s) uploaded to project {wandb_project}", highlight=False)
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
    from autoreward.train.hyperparams import (
        ALGO_NAMES,
        algo_class,
        check_training_options,
        effective_hyperparams,
    )
    from autoreward.train.zoo import load_zoo_entry

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


def _run_with_progress(
    console: Console, executor: Any, jobs: list[TrainJob], total: int
) -> list[TrainResult]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = [progress.add_task(job.label, total=total, status="starting") for job in jobs]

        def on_progress(i: int, data: dict[str, Any]) -> None:
            fitness = data.get("fitness")
            status = f"{data.get('steps_per_s', 0):.0f} steps/s"
            if fitness is not None:
                status += f", fitness {fitness:.3g}"
            progress.update(tasks[i], completed=data.get("steps", 0), status=status)

        def on_result(i: int, result: TrainResult) -> None:
            status = "[green]done[/]" if result.status == "ok" else "[red]failed[/]"
            progress.update(tasks[i], completed=result.steps, status=status)

        return executor.map(jobs, on_result=on_result, on_progress=on_progress)


def evaluation_table(jobs: list[TrainJob], results: list[TrainResult]) -> Table:
    """One column per job: the evaluation side by side."""
    table = Table(title="evaluation (deterministic policy)", title_justify="left")
    table.add_column("")
    for result in results:
        table.add_column(result.label, justify="right")
    evals = [read_json(Path(job.out_dir) / "eval.json") or {} for job in jobs]
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
        ("wall", [f"{r.wall_s:.0f} s" for r in results]),
        ("reward hacking flag", ["yes" if r.hacking_flag else "no" for r in results]),
        ("video", [Path(r.video).name if r.video else (r.video_status or "-") for r in results]),
        ("output", [r.out_dir for r in results]),
    ]
    for name, values in rows:
        table.add_row(name, *values)
    return table


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _pm(mean: float | None, std: float | None) -> str:
    return "-" if mean is None else f"{mean:.4g} ± {std or 0:.2g}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
