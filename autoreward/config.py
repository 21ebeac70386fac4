"""Typed run configuration. Each field is documented once and maps one-to-one onto a CLI option."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from autoreward.envs.schema import FitnessSpec
from autoreward.errors import ConfigError
from autoreward.yamlfile import YamlDoc, describe_error, position, read_yaml, require_mapping


class RunConfig(BaseModel):
    """Everything one `autoreward run` needs. Saved as `config.yaml` in the run directory."""

    model_config = ConfigDict(extra="forbid")

    env_id: str = Field(description="Gymnasium id (e.g. Hopper-v5) or module:Class.")
    task: str = Field(description="The goal in natural language, as the designer reads it.")
    model: str = Field(
        default="gpt-4o-mini",
        description="Any litellm model string, `manual`, or `replay:PATH`.",
    )
    api_base: str | None = Field(default=None, description="OpenAI-compatible endpoint URL.")
    iterations: int = Field(default=3, ge=1, description="Designer iterations.")
    samples: int = Field(
        default=4, ge=1, description="Candidate rewards sampled per iteration (K)."
    )
    steps: int | None = Field(
        default=None, ge=1, description="Training steps per candidate; default from the schema."
    )
    algo: Literal["PPO", "SAC", "TD3", "A2C", "DQN"] | None = Field(
        default=None, description="PPO, SAC, TD3, A2C or DQN; default from the schema."
    )
    backend: Literal["sb3", "warp", "auto"] = Field(
        default="sb3",
        description="sb3: stable-baselines3 on the gymnasium env (CPU processes); warp: rsl-rl "
        "PPO on thousands of batched MuJoCo Warp worlds (MuJoCo schemas with a simulation "
        "section; a GPU, or Warp's CPU device for small runs); auto: warp on a GPU where the "
        "schema supports it, else sb3.",
    )
    n_envs: int | None = Field(
        default=None, ge=1, description="Parallel envs per candidate (worlds with backend warp)."
    )
    hyperparams: dict[str, Any] = Field(
        default_factory=dict,
        description="SB3 constructor arguments (plus `policy`, `normalize`) over the schema's "
        "defaults, key by key; RL Zoo spellings accepted. With backend warp: rsl-rl PPO "
        "settings over the schema's simulation.train.hyperparams.",
    )
    hyperparams_file: Path | None = Field(
        default=None,
        description="RL Zoo hyperparameter file; its entry for the env is read into "
        "hyperparams (under the explicit ones), steps and n_envs, in place of the schema's.",
    )
    normalize: bool | None = Field(
        default=None,
        description="Train generated rewards with return normalization (VecNormalize "
        "norm_reward: the total is scaled by a running estimate of the return's spread; "
        "statistics, hacking checks and evaluation stay in the reward's own units). Default: "
        "the schema's train.normalize, else on; false turns it off (sb3 backend only).",
    )
    workers: int = Field(default=0, ge=0, description="Training workers; 0 = one per core.")
    executor: Literal["local", "ray"] = Field(
        default="local", description="Where candidates train."
    )
    ray_address: str | None = Field(default=None, description="Ray cluster address (`auto`).")
    seed: int = Field(default=0, description="Base seed for training and evaluation.")
    eval_episodes: int = Field(default=5, ge=1, description="Evaluation episodes per candidate.")
    halving: bool = Field(default=True, description="Successive halving across candidates.")
    selection_seeds: int = Field(
        default=2,
        ge=1,
        le=9,
        description="Training seeds of every candidate when an iteration has several: the "
        "halving rung and the iteration's best rank them by the mean over these seeds "
        "(candidate training costs this many times the steps; 1 = one seed).",
    )
    rung_fraction: float = Field(
        default=0.25, gt=0, le=1, description="Budget fraction of the first halving rung."
    )
    keep_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Fraction of candidates kept after the first rung."
    )
    critic: bool = Field(default=True, description="Ask the critic before training.")
    final_seeds: int = Field(
        default=3, ge=0, description="Seeds the final best rewards are retrained on (0 = skip)."
    )
    final_candidates: int = Field(
        default=2,
        ge=1,
        description="Top candidates (by screening fitness) retrained on the final seeds; the "
        "best mean over those seeds is the run's best.",
    )
    tune: int = Field(
        default=0,
        ge=0,
        description="Optuna trials over the best reward's COEFFICIENTS after the final seeds "
        "(TPE, pruned on the first halving rung); the tuned reward replaces the best when its "
        "final-seed mean is higher (0 = no tuning).",
    )
    target_fitness: float | None = Field(
        default=None, description="Stop early at this fitness; default from the schema."
    )
    video: bool = Field(default=True, description="Render an evaluation video per candidate.")
    temperature: float = Field(default=1.0, ge=0, description="Designer sampling temperature.")
    feedback: str | None = Field(
        default=None, description="Human feedback given to the designer from the first iteration."
    )
    record: Path | None = Field(default=None, description="Write a replay transcript here.")
    fitness: FitnessSpec | None = Field(
        default=None, description="Task fitness replacing the schema's default (task suites)."
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        default="cpu", description="Torch device for training (cpu, cuda, auto)."
    )
    sandbox: Literal["auto", "strict"] = Field(
        default="auto",
        description="auto: the strongest isolation this machine allows; strict: refuse to run "
        "without a container (bubblewrap).",
    )
    tensorboard: bool = Field(
        default=True, description="TensorBoard logs per training job (<job>/tb)."
    )
    wandb_project: str | None = Field(
        default=None,
        description="Also upload every job's curves to this Weights & Biases project at the end "
        "(needs the wandb package; off by default).",
    )
    worker_timeout_s: float = Field(
        default=3600.0, gt=0, description="Wall-clock limit of one training job."
    )

    @field_validator("algo", mode="before")
    @classmethod
    def _upper_algo(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def dump(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def option_name(field: str) -> str:
    """The command-line option of a RunConfig field (`env_id` -> `--env`)."""
    return "--" + _FIELD_TO_OPTION.get(field, field).replace("_", "-")


_FIELD_TO_OPTION = {"env_id": "env", "target_fitness": "target"}


def load_run_config(
    data: dict[str, object],
    source: str = "options",
    *,
    doc: YamlDoc | None = None,
    from_cli: set[str] | frozenset[str] = frozenset(),
) -> RunConfig:
    """Validate run options. Each problem is named by its command-line option when `source`
    is "options" or the field is in `from_cli`, by `file:line:col` when the YAML `doc` is
    given, else by `source: field`; all problems are reported at once."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        errors = sorted(err.errors(), key=lambda e: position(doc, tuple(e["loc"]), e))
        problems = [_problem(e, source, doc, from_cli) for e in errors]
        if len(problems) == 1:
            raise ConfigError(problems[0]) from err
        head = f"{doc.source}: invalid run config" if doc is not None else "invalid run options"
        raise ConfigError(f"{head}:\n  " + "\n  ".join(problems)) from err


def _problem(e: Any, source: str, doc: YamlDoc | None, from_cli: set[str] | frozenset[str]) -> str:
    loc = tuple(e["loc"])
    if loc and (source == "options" or loc[0] in from_cli) and e["type"] != "extra_forbidden":
        rest = "".join(f".{p}" for p in loc[1:])
        return f"{option_name(str(loc[0]))}{rest}: {str(e['msg']).removeprefix('Value error, ')}"
    if doc is not None:
        return describe_error(e, RunConfig, doc)
    return f"{source}: {describe_error(e, RunConfig, None)}"


def read_run_config_file(path: str | Path) -> tuple[RunConfig, YamlDoc]:
    """A run YAML (`--config`): its RunConfig, and the parsed file for later error messages."""
    doc = read_yaml(
        path,
        what="config file",
        hint="pass a run YAML such as examples/cartpole-left-half/run.yaml",
    )
    data = require_mapping(doc, "run options (env_id, task, ...)")
    return load_run_config(data, str(path), doc=doc), doc


def load_run_config_file(path: str | Path) -> RunConfig:
    return read_run_config_file(path)[0]
