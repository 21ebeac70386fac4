"""`autoreward run`: build the config, open or create the run directory, drive the loop with a
live view, print the summary and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from autoreward.config import RunConfig, load_run_config, load_run_config_file
from autoreward.errors import ConfigError
from autoreward.store.rundir import RunDir
from autoreward.train.zoo import apply_zoo_file

# CLI option name -> RunConfig field, where they differ.
_OPTION_TO_FIELD = {
    "env": "env_id",
    "target": "target_fitness",
    "policy": "hyperparams",
    "wandb": "wandb_project",
}
_FIELD_TO_OPTION = {f: o for o, f in _OPTION_TO_FIELD.items()}
# What may change when a run is resumed (more iterations, a new feedback text, where to record).
_RESUMABLE = {
    "iterations",
    "feedback",
    "record",
    "workers",
    "executor",
    "ray_address",
    "final_seeds",
    "sandbox",
    "wandb_project",
    "final_candidates",
}


def build_config(
    options: dict[str, Any], given: set[str], resume: Path | None, config: Path | None = None
) -> tuple[RunConfig, RunDir | None]:
    """The run's config: CLI options, over a --config file, or the saved config of a resumed run
    (where only a few options may change)."""
    fields = {_OPTION_TO_FIELD.get(n, n) for n in given}
    if config is not None:
        if resume is not None:
            raise ConfigError(
                "--config and --resume cannot be combined",
                hint="a resumed run keeps its config.yaml",
            )
        base = load_run_config_file(config).model_dump(mode="json", exclude_unset=True)
        merged = {**base, **{f: v for f, v in options.items() if f in fields}}
        if "hyperparams" in fields:  # command-line hyperparameters over the file's, key by key
            merged["hyperparams"] = {**base.get("hyperparams", {}), **options["hyperparams"]}
        return load_run_config(apply_zoo_file(merged), str(config)), None
    if resume is None:
        if not options.get("env_id") or not options.get("task"):
            raise ConfigError(
                "both --env and --task are needed for a new run",
                hint='autoreward run --env CartPole-v1 --task "balance the pole" (or --resume DIR)',
            )
        return load_run_config(apply_zoo_file(options), "options"), None
    run = RunDir.open(resume)
    saved = run.load_config()
    changed = {f for f in fields if f in RunConfig.model_fields and options.get(f) != saved.get(f)}
    refused = sorted(changed - _RESUMABLE)
    if refused:
        raise ConfigError(
            f"cannot change {', '.join('--' + _FIELD_TO_OPTION.get(f, f).replace('_', '-') for f in refused)} "
            f"when resuming {resume}",
            hint="start a new run instead, or resume without those options",
        )
    for f in changed:
        saved[f] = options[f]
    return load_run_config(saved, str(run.config_path)), run


def preflight(cfg: RunConfig) -> None:
    """Everything that can fail fast, before a run directory exists or any work starts: the
    environment id, the task fitness, the LLM provider (missing key, unreachable endpoint)."""
    from autoreward.envs.fitness import compile_fitness
    from autoreward.envs.registry import load_schema
    from autoreward.llm.client import LLMClient
    from autoreward.train.hyperparams import check_training_options, effective_hyperparams

    schema = load_schema(cfg.env_id)
    algo = cfg.algo or schema.train.algo
    hyperparams = effective_hyperparams(schema.train.hyperparams, schema.train.algo, algo,
                                        cfg.hyperparams, cfg.hyperparams_file is None)  # fmt: skip
    check_training_options(algo, hyperparams, schema)
    if cfg.wandb_project:
        from autoreward.train.tblog import require_wandb

        require_wandb()
    if cfg.fitness is not None:
        compile_fitness(cfg.fitness.expression, "the run's fitness")
    if cfg.sandbox == "strict":
        from autoreward.sandbox.worker import isolation, set_policy

        set_policy("strict")
        isolation()  # no container here: one clear error before anything is created
    LLMClient(cfg.model, api_base=cfg.api_base, use_cache=False).preflight()


def run_command(
    console: Console,
    options: dict[str, Any],
    *,
    given: set[str],
    out: Path,
    resume: Path | None,
    report: bool = True,
    config: Path | None = None,
) -> None:
    from autoreward.loop import run_loop
    from autoreward.ui import LiveRunView, RunView, print_run_summary

    cfg, run = build_config(options, given, resume, config)
    preflight(cfg)
    if run is None:
        run = RunDir.create(out, cfg.env_id, cfg.task, cfg.dump())
    else:
        import yaml

        from autoreward.store.atomic import atomic_write_text

        atomic_write_text(run.config_path, yaml.safe_dump(cfg.dump(), sort_keys=False))
    console.print(f"run directory: [bold]{run.path}[/]", soft_wrap=True)
    if cfg.tensorboard:
        console.print(f"TensorBoard: tensorboard --logdir {run.path}", highlight=False, soft_wrap=True)
    view = RunView(env_id=cfg.env_id, task=cfg.task, model=cfg.model, iterations=cfg.iterations)
    with LiveRunView(view, console) as live:
        try:
            result = run_loop(cfg, run, on_event=live)
        except KeyboardInterrupt:
            console.print(
                f"[yellow]interrupted[/]: finished work is kept; continue with "
                f"[bold]autoreward run --resume {run.path}[/]"
            )
            raise
    print_run_summary(console, str(run.path), result)
    if cfg.wandb_project:
        from autoreward.train.tblog import upload_to_wandb

        n = upload_to_wandb(run.path, cfg.wandb_project)
        console.print(f"W&B: {n} job(s) uploaded to project {cfg.wandb_project}", highlight=False)
    if report:
        from autoreward.report import write_run_report

        path = write_run_report(run.path)
        console.print(f"report: [bold]{path}[/]")
