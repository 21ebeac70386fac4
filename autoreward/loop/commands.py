"""`autoreward run`: build the config, open or create the run directory, drive the loop with a
live view, print the summary and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from autoreward.config import (
    RunConfig,
    load_run_config,
    option_name,
    read_run_config_file,
)
from autoreward.envs.schema import FitnessSpec
from autoreward.errors import ConfigError, LLMError
from autoreward.llm.client import REPLAY_PREFIX
from autoreward.store.rundir import RunDir
from autoreward.train.sb3.zoo import apply_zoo_file

# CLI option name -> RunConfig field, where they differ.
_OPTION_TO_FIELD = {
    "env": "env_id",
    "target": "target_fitness",
    "policy": "hyperparams",
    "wandb": "wandb_project",
}
_FIELD_TO_OPTION = {f: o for o, f in _OPTION_TO_FIELD.items()}
# What may change when a run is resumed (more iterations, a new feedback text, where to record,
# which model writes the next iterations).
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
    "tune",
    "model",
    "api_base",
}


def build_config(
    options: dict[str, Any],
    given: set[str],
    resume: Path | None,
    config: Path | None = None,
    fitness: dict[str, Any] | None = None,
) -> tuple[RunConfig, RunDir | None]:
    """The run's config: CLI options, over a --config file, or the saved config of a resumed run
    (where only a few options may change). `fitness`: the --fitness* options given."""
    fields = {_OPTION_TO_FIELD.get(n, n) for n in given} & set(RunConfig.model_fields)
    if config is not None:
        if resume is not None:
            raise ConfigError(
                "--config and --resume cannot be combined",
                hint="a resumed run keeps its config.yaml",
            )
        base_cfg, doc = read_run_config_file(config)
        base = base_cfg.model_dump(mode="json", exclude_unset=True)
        merged = {**base, **{f: v for f, v in options.items() if f in fields}}
        if "hyperparams" in fields:  # command-line hyperparameters over the file's, key by key
            merged["hyperparams"] = {**base.get("hyperparams", {}), **options["hyperparams"]}
        cfg = load_run_config(apply_zoo_file(merged), str(config), doc=doc, from_cli=fields)
        return _with_paths(_with_fitness(cfg, fitness), config.parent), None
    if resume is None:
        if not options.get("env_id") or not options.get("task"):
            raise ConfigError(
                "both --env and --task are needed for a new run",
                hint='autoreward run --env CartPole-v1 --task "balance the pole" (or --resume DIR, or --config run.yaml)',
            )
        cfg = load_run_config(apply_zoo_file(options), "options")
        return _with_paths(_with_fitness(cfg, fitness), None), None
    run = RunDir.open(resume)
    if fitness:
        raise ConfigError(
            f"cannot change the fitness when resuming {resume}",
            hint="its candidates were judged by the saved one; start a new run instead",
        )
    saved = run.load_config()
    changed = {f for f in fields if options.get(f) != saved.get(f)}
    refused = sorted(changed - _RESUMABLE)
    if refused:
        raise ConfigError(
            f"cannot change {', '.join(option_name(f) for f in refused)} when resuming {resume}",
            hint="start a new run instead, or resume without those options",
        )
    for f in changed:
        saved[f] = options[f]
    cfg = load_run_config(saved, str(run.config_path), from_cli=changed)
    return _with_paths(cfg, None, run), run


def _with_fitness(cfg: RunConfig, parts: dict[str, Any] | None) -> RunConfig:
    """Apply --fitness* options over the config's fitness (or the schema's)."""
    if not parts:
        return cfg
    from autoreward.envs.custom_fitness import fitness_from_options

    base: FitnessSpec | None = cfg.fitness
    if base is None and "expression" not in parts:
        from autoreward.envs.registry import load_schema

        base = load_schema(cfg.env_id).fitness
    return cfg.model_copy(update={"fitness": fitness_from_options(parts, base)})


def _with_paths(cfg: RunConfig, config_dir: Path | None, run: RunDir | None = None) -> RunConfig:
    """Paths saved in config.yaml are absolute, so the run resumes (and `refine` continues it)
    from any directory: the `replay:` transcript and the `--record` file."""
    update: dict[str, Any] = {}
    if cfg.model.startswith(REPLAY_PREFIX) and cfg.model != REPLAY_PREFIX:
        path = Path(cfg.model[len(REPLAY_PREFIX) :]).expanduser()
        found = _find_file(path, config_dir, run)
        if found is None:
            places = ", ".join(str(p) for p in _search_roots(config_dir, run))
            raise LLMError(
                f"replay transcript {path} does not exist"
                + ("" if path.is_absolute() else f" (looked in {places})"),
                hint="pass --model replay:/absolute/path.jsonl, or another model such as "
                "--model gpt-4o-mini or --model manual",
            )
        update["model"] = REPLAY_PREFIX + str(found)
    if cfg.record is not None and not cfg.record.is_absolute():
        update["record"] = Path.cwd() / cfg.record
    return cfg.model_copy(update=update) if update else cfg


def _search_roots(config_dir: Path | None, run: RunDir | None) -> list[Path]:
    roots = [Path.cwd()]
    if config_dir is not None:
        roots.append(config_dir.resolve())
    if run is not None:  # a run recorded with a relative path: the folder `runs/` was made in
        roots.append(run.path.resolve().parent.parent)
    return roots


def _find_file(path: Path, config_dir: Path | None, run: RunDir | None) -> Path | None:
    if path.is_absolute():
        return path if path.is_file() else None
    for root in _search_roots(config_dir, run):
        if (root / path).is_file():
            return (root / path).resolve()
    return None


def preflight(cfg: RunConfig) -> RunConfig:
    """Everything that can fail fast, before a run directory exists or any work starts: the
    environment id, the task fitness, the backend and the algorithm for the env's actions, the
    device, the LLM provider (missing key, unreachable endpoint). Returns the config with
    `device: auto` and `backend: auto` resolved to what training will use."""
    from autoreward.envs.custom_fitness import check_custom_fitness
    from autoreward.envs.registry import load_schema
    from autoreward.llm.client import LLMClient
    from autoreward.train.algos import resolve_algo
    from autoreward.train.backends import resolve_backend, warp_setup
    from autoreward.train.device import resolve_device
    from autoreward.train.sb3.hyperparams import check_training_options, effective_hyperparams

    schema = load_schema(cfg.env_id)
    if cfg.fitness is not None:
        check_custom_fitness(cfg.fitness, schema, "the run's fitness")
    backend, device = resolve_backend(cfg.backend, schema, resolve_device(cfg.device))
    if backend == "warp":  # rsl-rl settings, worlds; options that do not apply are errors
        warp_setup(schema, algo=cfg.algo, steps=cfg.steps, n_envs=cfg.n_envs,
                   hyperparams=cfg.hyperparams, hyperparams_file=cfg.hyperparams_file,
                   device=device)  # fmt: skip
    else:
        algo = resolve_algo(cfg.algo, schema)
        hyperparams = effective_hyperparams(schema.train.hyperparams, schema.train.algo, algo,
                                            cfg.hyperparams, cfg.hyperparams_file is None)  # fmt: skip
        check_training_options(algo, hyperparams, schema)
    if cfg.wandb_project:
        from autoreward.train.tblog import require_wandb

        require_wandb()
    if cfg.sandbox == "strict":
        from autoreward.sandbox.worker import isolation, set_policy

        set_policy("strict")
        isolation()  # no container here: one clear error before anything is created
    LLMClient(cfg.model, api_base=cfg.api_base, use_cache=False).preflight()
    resolved = {"device": device, "backend": backend}
    changed = {k: v for k, v in resolved.items() if getattr(cfg, k) != v}
    return cfg.model_copy(update=changed) if changed else cfg


def run_command(
    console: Console,
    options: dict[str, Any],
    *,
    given: set[str],
    out: Path,
    resume: Path | None,
    report: bool = True,
    config: Path | None = None,
    fitness: dict[str, Any] | None = None,
) -> None:
    from autoreward.loop import run_loop
    from autoreward.ui import LiveRunView, RunView, print_run_summary

    cfg, run = build_config(options, given, resume, config, fitness)
    cfg = preflight(cfg)
    if cfg.fitness is not None:
        from autoreward.envs.custom_fitness import undescribed_thresholds

        for warning in undescribed_thresholds(cfg.fitness):
            console.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False, soft_wrap=True)
    if run is None:
        run = RunDir.create(out, cfg.env_id, cfg.task, cfg.dump())
    else:
        import yaml

        from autoreward.store.atomic import atomic_write_text

        atomic_write_text(run.config_path, yaml.safe_dump(cfg.dump(), sort_keys=False))
    console.print(f"run directory: [bold]{run.path}[/]", soft_wrap=True)
    if cfg.tensorboard:
        console.print(
            f"TensorBoard: tensorboard --logdir {run.path}", highlight=False, soft_wrap=True
        )
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
