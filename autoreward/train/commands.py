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
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autoreward.envs.schema import FitnessSpec
from autoreward.errors import ConfigError, RewardCodeError
from autoreward.store.atomic import atomic_write_text, read_json
from autoreward.train.job import TrainJob, TrainResult

BASELINES = ("env", "none")
TRAIN_SPEC = "train.yaml"
REWARD_DIR, BASELINE_DIR = "reward", "baseline"
# run-config fields `train --config run.yaml` takes, and the CLI option each one maps onto
_FROM_CONFIG = {
    "env_id": "env", "steps": "steps", "algo": "algo", "n_envs": "n_envs", "seed": "seed",
    "eval_episodes": "eval_episodes", "video": "video", "device": "device",
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
    fitness: FitnessSpec | None = None
    config: str | None = None

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
    from autoreward.train.device import resolve_device
    from autoreward.train.export import read_reward_source

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
    algo = resolve_algo(options.algo, schema)
    device = resolve_device(options.device)
    out_dir = (
        out or Path("runs") / f"train-{time.strftime('%Y%m%d-%H%M%S')}-{_slug(options.env_id)}"
    )
    total = options.steps or schema.train.total_steps
    common: dict[str, Any] = dict(
        env_id=options.env_id,
        total_steps=options.steps,
        n_envs=options.n_envs,
        seed=options.seed,
        eval_episodes=options.eval_episodes,
        video=options.video,
        device=device,
        algo=algo,
        schema_data=schema.model_dump(mode="json")
        if schema.auto or options.fitness is not None
        else None,
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
    _save_spec(out_dir, reward_file, code, options, algo, device, total, baseline, schema.fitness)

    console.print(
        f"training [bold]{reward_file}[/] on {options.env_id} for {total:,} steps ({algo}, "
        f"{device}) → {out_dir}",
        highlight=False,
    )
    results = _run_with_progress(console, LocalExecutor(workers=len(jobs)), jobs, total)
    console.print(evaluation_table(jobs, results))
    for result in results:
        if result.status == "failed":
            console.print(f"[red]{result.label} failed:[/] {result.reason}", highlight=False)
        if result.hacking_flag:
            console.print(
                f"[yellow]{result.label}: suspected reward hacking:[/] {result.hacking_reason}",
                highlight=False,
            )
    console.print(f"report: autoreward report {out_dir}", highlight=False, markup=False)
    return 0 if all(r.status == "ok" for r in results) else 1


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
) -> None:
    """`train.yaml` and `reward/reward.py`: what this folder trained, kept beside the results."""
    atomic_write_text(out_dir / REWARD_DIR / "reward.py", code)
    spec = {
        "env_id": options.env_id,
        "reward_file": str(reward_file.absolute()),
        "algo": algo,
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


def evaluation_table(jobs: list[TrainJob], results: list[TrainResult]) -> Table:
    """One column per job: the evaluation side by side."""
    table = Table(title="evaluation (deterministic policy)", title_justify="left")
    table.add_column("")
    for result in results:
        table.add_column(result.label, justify="right", overflow="fold")
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
        ("device", [str(t.get("device") or "-") for t in trains]),
        ("wall", [f"{r.wall_s:.0f} s" for r in results]),
        ("reward hacking flag", ["yes" if r.hacking_flag else "no" for r in results]),
        ("video", [_video(r) for r in results]),
        ("output", [r.out_dir for r in results]),
    ]
    for name, values in rows:
        table.add_row(name, *values)
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
