"""The `autoreward` command line: typer + rich. Commands parse options and call the rooms."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import typer.rich_utils

from autoreward import __version__
from autoreward.cli_support import (
    ALGOS_HELP,
    DEBUG_FLAG,
    SANDBOX_FLAG,
    BackendOpt,
    Command,
    DeviceOpt,
    FitnessAggregateOpt,
    FitnessDescriptionOpt,
    FitnessKindOpt,
    FitnessOpt,
    FitnessThresholdOpt,
    Group,
    apply_sandbox,
    apply_sandbox_binds,
    errors,
    fitness_options,
    set_debug,
)
from autoreward.output import CliConsole

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MUJOCO_GL", "egl")
if not sys.stdout.isatty() and typer.rich_utils.MAX_WIDTH is None:
    # --help in a pipe: wide enough that no option name is cut to "…" (a terminal keeps its own)
    typer.rich_utils.MAX_WIDTH = 120

app = typer.Typer(
    name="autoreward",
    cls=Group,
    help="LLM-written dense reward functions, checked, sandboxed and proven by training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
envs_app = typer.Typer(
    cls=Group,
    help="Environment schemas: what the LLM reads about an environment.",
    no_args_is_help=True,
)
app.add_typer(envs_app, name="envs")

console = CliConsole()

# Training options shared by `run` and `train`.
HyperparamsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--hyperparams",
        metavar="KEY=VALUE",
        help="SB3 hyperparameter, repeatable (n_steps=256, learning_rate=lin_3e-4, "
        "'policy_kwargs={net_arch: [64, 64]}'); over the schema's, a --hyperparams-file's and "
        "--config's. With --backend warp: rsl-rl PPO settings (num_steps_per_env=32, "
        "'actor_hidden_dims=[128, 128]', learning_rate=5e-4, ...).",
    ),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        help="SB3 policy: MlpPolicy, CnnPolicy or MultiInputPolicy (default: from the "
        "observation space)."
    ),
]
HyperparamsFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="RL Zoo hyperparameter file (e.g. ppo.yml): its entry for the env replaces the "
        "schema's hyperparameters."
    ),
]
TensorboardOpt = Annotated[
    bool,
    typer.Option(help="TensorBoard logs in every job folder: tensorboard --logdir runs/."),
]
WandbOpt = Annotated[
    str | None,
    typer.Option(
        "--wandb",
        metavar="PROJECT",
        help="Also upload every job's curves to this Weights & Biases project at the end "
        "(needs wandb).",
    ),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"autoreward {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option(DEBUG_FLAG, help="Show full tracebacks (before or after the command name)."),
    ] = False,
    sandbox: Annotated[
        str | None,
        typer.Option(
            SANDBOX_FLAG,
            envvar="AUTOREWARD_SANDBOX",
            help="Isolation of reward code: auto (the strongest this machine allows) or strict "
            "(a bubblewrap container, or refuse to run); before or after the command name.",
        ),
    ] = None,
    sandbox_bind: Annotated[
        list[Path] | None,
        typer.Option(
            "--sandbox-bind",
            help="A folder to bind read-only into every container (repeatable; none by "
            "default: the current directory, your script's folder and PYTHONPATH are not "
            "visible to workers). Before the command name.",
        ),
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    set_debug(debug)
    with errors():
        apply_sandbox(sandbox)
        apply_sandbox_binds(sandbox_bind or [])


# --------------------------------------------------------------------------- envs


@envs_app.command("list", cls=Command)
def envs_list() -> None:
    """List the shipped environment schemas."""
    from autoreward.envs.commands import list_envs

    with errors():
        list_envs(console)


@envs_app.command("show", cls=Command)
def envs_show(
    env_id: Annotated[str, typer.Argument(help="Gymnasium id (e.g. Hopper-v5) or module:Class.")],
) -> None:
    """Print an environment's schema exactly as the LLM will see it."""
    from autoreward.envs.commands import show_env

    with errors():
        show_env(console, env_id)


# --------------------------------------------------------------------------- check


@app.command(cls=Command)
def check(
    reward_file: Annotated[Path, typer.Argument(help="Python file defining compute_reward.")],
    env: Annotated[str, typer.Option("--env", help="Environment id.")],
    states: Annotated[int, typer.Option(min=1, help="States sampled for the dry run.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for sampling states.")] = 0,
) -> None:
    """Validate a reward file and dry-run it in the sandbox on states from the real env."""
    from autoreward.sandbox.commands import check_command

    with errors():
        code = check_command(console, reward_file, env, n_states=states, seed=seed)
    raise typer.Exit(code=code)


# --------------------------------------------------------------------------- run


@app.command(cls=Command)
def run(
    ctx: typer.Context,
    env: Annotated[
        str | None, typer.Option("--env", help="Environment id, e.g. Hopper-v5.")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="The goal in natural language.")
    ] = None,
    model: Annotated[
        str, typer.Option(help="litellm model string, `manual`, or `replay:PATH`.")
    ] = "gpt-4o-mini",
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL.")] = None,
    iterations: Annotated[int, typer.Option(min=1, help="Designer iterations.")] = 3,
    samples: Annotated[int, typer.Option(min=1, help="Candidate rewards per iteration (K).")] = 4,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Training steps per candidate (default: schema).")
    ] = None,
    algo: Annotated[str | None, typer.Option(help=ALGOS_HELP)] = None,
    n_envs: Annotated[
        int | None, typer.Option(min=1, help="Parallel envs per candidate (warp: worlds).")
    ] = None,
    backend: BackendOpt = "sb3",
    workers: Annotated[int, typer.Option(min=0, help="Training workers (0 = one per core).")] = 0,
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address, e.g. auto.")] = None,
    seed: Annotated[int, typer.Option(help="Base seed.")] = 0,
    eval_episodes: Annotated[
        int, typer.Option(min=1, help="Evaluation episodes per candidate.")
    ] = 5,
    halving: Annotated[bool, typer.Option(help="Successive halving across candidates.")] = True,
    critic: Annotated[bool, typer.Option(help="Ask the critic before training.")] = True,
    final_seeds: Annotated[
        int, typer.Option(min=0, help="Seeds to retrain the best rewards on (0 = skip).")
    ] = 3,
    final_candidates: Annotated[
        int,
        typer.Option(
            min=1, help="Top candidates retrained on the final seeds; the best mean wins."
        ),
    ] = 2,
    selection_seeds: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="Training seeds per candidate when an iteration has several; the halving "
            "rung and the iteration's best use their mean (costs this many times the steps).",
        ),
    ] = 2,
    tune: Annotated[
        int,
        typer.Option(
            min=0,
            help="Optuna trials over the best reward's COEFFICIENTS after the final seeds "
            "(0 = none).",
        ),
    ] = 0,
    normalize: Annotated[
        bool | None,
        typer.Option(
            "--normalize/--no-normalize",
            help="Return normalization of generated rewards (default: the schema's, else on).",
        ),
    ] = None,
    target: Annotated[
        float | None, typer.Option(help="Stop early at this fitness (default: schema).")
    ] = None,
    video: Annotated[bool, typer.Option(help="Render an evaluation video per candidate.")] = True,
    feedback: Annotated[str | None, typer.Option(help="Human feedback for the designer.")] = None,
    record: Annotated[
        Path | None, typer.Option(help="Write a replay transcript of every LLM call.")
    ] = None,
    device: DeviceOpt = "cpu",
    hyperparams: HyperparamsOpt = None,
    policy: PolicyOpt = None,
    hyperparams_file: HyperparamsFileOpt = None,
    tensorboard: TensorboardOpt = True,
    wandb: WandbOpt = None,
    out: Annotated[Path, typer.Option(help="Where run directories are created.")] = Path("runs"),
    resume: Annotated[
        Path | None, typer.Option(help="Continue a killed run from its directory.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML file of run options (e.g. a task-specific fitness); command-line options win."
        ),
    ] = None,
    report: Annotated[bool, typer.Option(help="Write report.html at the end.")] = True,
    fitness: FitnessOpt = None,
    fitness_kind: FitnessKindOpt = None,
    fitness_aggregate: FitnessAggregateOpt = None,
    fitness_threshold: FitnessThresholdOpt = None,
    fitness_description: FitnessDescriptionOpt = None,
) -> None:
    """Generate, check, train and iterate reward functions for one goal."""
    from autoreward.loop.commands import run_command

    given = {
        name for name in ctx.params
        if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
    }  # fmt: skip
    from autoreward.train.sb3.hyperparams import parse_assignments

    with errors():
        parsed = parse_assignments(hyperparams or [], policy)
    options = dict(
        env_id=env, task=task, model=model, api_base=api_base, iterations=iterations,
        samples=samples, steps=steps, algo=algo, n_envs=n_envs, backend=backend, workers=workers,
        executor=executor, ray_address=ray_address, seed=seed, eval_episodes=eval_episodes,
        halving=halving, critic=critic, final_seeds=final_seeds,
        final_candidates=final_candidates, target_fitness=target, tune=tune, normalize=normalize,
        selection_seeds=selection_seeds,
        video=video, feedback=feedback, record=record, device=device,
        hyperparams=parsed, hyperparams_file=hyperparams_file, tensorboard=tensorboard,
        wandb_project=wandb,
    )  # fmt: skip
    fitness_parts = fitness_options(
        expression=fitness, kind=fitness_kind, aggregate=fitness_aggregate,
        threshold=fitness_threshold, description=fitness_description,
    )  # fmt: skip
    with errors():
        run_command(
            console, options, given=given, out=out, resume=resume, report=report, config=config,
            fitness=fitness_parts,
        )  # fmt: skip


# --------------------------------------------------------------------------- batch


@app.command(cls=Command)
def batch(
    suite: Annotated[
        str | None, typer.Argument(help="Suite YAML, or a shipped suite name (classic, ...).")
    ] = None,
    tasks: Annotated[
        str | None, typer.Option(help="Comma-separated task names (default: all).")
    ] = None,
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    workers: Annotated[
        int, typer.Option(min=0, help="Training workers shared by all tasks (0 = one per core).")
    ] = 0,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address, e.g. auto.")] = None,
    model: Annotated[
        str | None, typer.Option(help="litellm model string, `manual`, or `replay:PATH`.")
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL.")] = None,
    out: Annotated[Path, typer.Option(help="Where the batch directory is created.")] = Path("runs"),
    resume: Annotated[
        Path | None, typer.Option(help="Continue a batch from its directory.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Training steps per candidate, for every task.")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option(min=1, help="Designer iterations, for every task.")
    ] = None,
    samples: Annotated[
        int | None, typer.Option(min=1, help="Candidates per iteration, for every task.")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Training backend for every task: sb3, warp or auto (auto: the MuJoCo tasks on "
            "warp where a GPU is present, the others on sb3; default: the suite's)."
        ),
    ] = None,
    parallel: Annotated[
        int, typer.Option(min=0, help="Tasks run at once (0 = as many as workers, at least 2).")
    ] = 0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the suite and list its tasks; train nothing.")
    ] = False,
) -> None:
    """Run every task of a suite (one worker pool for all) and write a results table."""
    from autoreward.batch.commands import batch_command

    with errors():
        code = batch_command(
            console, suite, tasks=tasks, executor=executor, workers=workers, ray_address=ray_address,
            model=model, api_base=api_base, out=out, resume=resume, parallel=parallel, dry_run=dry_run,
            overrides={"steps": steps, "iterations": iterations, "samples": samples,
                       "backend": backend},
        )  # fmt: skip
    raise typer.Exit(code=code)


# --------------------------------------------------------------------------- train


@app.command(cls=Command)
def train(
    ctx: typer.Context,
    reward_file: Annotated[Path, typer.Argument(help="Python file defining compute_reward.")],
    env: Annotated[
        str | None,
        typer.Option("--env", help="Environment id, e.g. CartPole-v1 (or env_id from --config)."),
    ] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Training steps (default: schema).")
    ] = None,
    algo: Annotated[str | None, typer.Option(help=ALGOS_HELP)] = None,
    n_envs: Annotated[
        int | None, typer.Option(min=1, help="Parallel envs (default: schema; warp: worlds).")
    ] = None,
    backend: BackendOpt = "sb3",
    seed: Annotated[int, typer.Option(help="Seed for training and evaluation.")] = 0,
    baseline: Annotated[
        str | None, typer.Option(help="`env`: also train on the env's own reward, side by side.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: runs/train-...).")
    ] = None,
    video: Annotated[bool, typer.Option(help="Render an evaluation video.")] = True,
    eval_episodes: Annotated[int, typer.Option(min=1, help="Evaluation episodes.")] = 10,
    device: DeviceOpt = "cpu",
    hyperparams: HyperparamsOpt = None,
    policy: PolicyOpt = None,
    hyperparams_file: HyperparamsFileOpt = None,
    tensorboard: TensorboardOpt = True,
    wandb: WandbOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="A run YAML (as for `autoreward run --config`): its env_id, fitness, steps, algo, "
            "backend, n_envs, seed, eval_episodes, video and device apply; command-line options "
            "win."
        ),
    ] = None,
    fitness: FitnessOpt = None,
    fitness_kind: FitnessKindOpt = None,
    fitness_aggregate: FitnessAggregateOpt = None,
    fitness_threshold: FitnessThresholdOpt = None,
    fitness_description: FitnessDescriptionOpt = None,
) -> None:
    """Train one reward in an isolated worker and print its evaluation on the task fitness."""
    from autoreward.train.commands import TrainOptions, train_command
    from autoreward.train.sb3.hyperparams import parse_assignments

    given = {
        name for name in ctx.params
        if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
    }  # fmt: skip
    with errors():
        options = TrainOptions.build(
            given=given, config=config, env_id=env, steps=steps, algo=algo, n_envs=n_envs,
            backend=backend, seed=seed, eval_episodes=eval_episodes, video=video, device=device,
            hyperparams=parse_assignments(hyperparams or [], policy),
            hyperparams_file=str(hyperparams_file) if hyperparams_file else None,
            tensorboard=tensorboard, wandb_project=wandb,
            fitness=fitness_options(
                expression=fitness, kind=fitness_kind, aggregate=fitness_aggregate,
                threshold=fitness_threshold, description=fitness_description,
            ),
        )  # fmt: skip
        code = train_command(console, reward_file, options, baseline=baseline, out=out)
    raise typer.Exit(code=code)


# --------------------------------------------------------------------------- report, export


@app.command(cls=Command)
def report(
    path: Annotated[
        Path,
        typer.Argument(
            help="A run directory, a batch directory, or the output folder of `autoreward train`."
        ),
    ],
) -> None:
    """Write a self-contained report.html for a run, a batch or a train folder; print its path."""
    from autoreward.report import write_report

    with errors():
        out = write_report(path)
    console.print(f"report: [bold]{out}[/]")


@app.command(cls=Command)
def export(
    run_dir: Annotated[Path, typer.Argument(help="The run directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The module to write.")] = Path(
        "my_reward.py"
    ),
    candidate: Annotated[
        str | None, typer.Option(help="ITER:CAND instead of the best, e.g. 1:0.")
    ] = None,
) -> None:
    """Write the run's best reward as a standalone module for autoreward.RewardWrapper."""
    from autoreward.loop.export import export_reward

    with errors():
        done = export_reward(run_dir, out, candidate=candidate)
    console.print(f"wrote [bold]{done.path}[/] ({done.source} of {done.env_id})")
    console.print(
        f'use it: env = autoreward.RewardWrapper(gym.make("{done.env_id}"), "{done.path}")',
        highlight=False, markup=False,
    )  # fmt: skip


@app.command(cls=Command)
def play(
    target: Annotated[
        Path,
        typer.Argument(
            help="A run directory (its best candidate), an iter_<i>/cand_<j> folder, or the "
            "output folder of `autoreward train`."
        ),
    ],
    candidate: Annotated[
        str | None, typer.Option(help="ITERATION/CANDIDATE of a run instead of its best, e.g. 1/2.")
    ] = None,
    episodes: Annotated[int, typer.Option(min=1, help="New evaluation episodes to play.")] = 3,
    video: Annotated[bool, typer.Option(help="Film one episode to video.mp4.")] = True,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the episodes (default: the evaluation's).")
    ] = None,
) -> None:
    """Watch a trained policy: new episodes, their fitness, and a video (in the sandbox)."""
    from autoreward.train.play import play_command

    with errors():
        code = play_command(
            console, target, candidate=candidate, episodes=episodes, video=video, seed=seed
        )
    raise typer.Exit(code=code)


# --------------------------------------------------------------------------- refine


@app.command(cls=Command)
def refine(
    run_dir: Annotated[Path, typer.Argument(help="The run directory to steer.")],
    feedback: Annotated[
        str | None, typer.Option(help="Feedback for one turn without asking (for scripts).")
    ] = None,
    rank: Annotated[
        str | None,
        typer.Option(
            help="Ranking of the last iteration's candidates, best first, e.g. 2,0,1 (one turn)."
        ),
    ] = None,
    iterations_per_turn: Annotated[
        int,
        typer.Option(
            min=1, help="Iterations run after each turn (the feedback reaches the first)."
        ),
    ] = 1,
    max_turns: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many turns.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model for the next iterations (litellm string, `manual`, `replay:PATH`); "
            "default: the run's own."
        ),
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL.")] = None,
) -> None:
    """Show the best reward, ask for feedback and a ranking, run the next iteration; repeat."""
    from autoreward.loop.refine import refine_session

    with errors():
        refine_session(
            console, run_dir, feedback=feedback, rank=rank,
            iterations_per_turn=iterations_per_turn, max_turns=max_turns,
            model=model, api_base=api_base,
        )  # fmt: skip


# --------------------------------------------------------------------------- studio


@app.command(cls=Command)
def studio(
    runs_dir: Annotated[
        Path, typer.Argument(help="The folder holding run and batch directories.")
    ] = Path("runs"),
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Anything but loopback serves the studio beyond this "
            "machine (with a warning): the URL then starts training runs for whoever holds it."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the printed URL in a browser.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model for the next iterations (litellm string, `manual`, `replay:PATH`); "
            "default: each run's own."
        ),
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL.")] = None,
) -> None:
    """A local web page to watch runs and steer them: rank candidates, give feedback, edit a
    reward, run the next iteration (the same feedback files as `refine`)."""
    from autoreward.studio import serve

    with errors():
        serve(
            runs_dir,
            host=host,
            port=port,
            open_browser=open_browser,
            model=model,
            api_base=api_base,
            say=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True),
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
