"""Typed run configuration. Each field is documented once and maps one-to-one onto a CLI option."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from autoreward.envs.schema import FitnessSpec
from autoreward.errors import ConfigError


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
    n_envs: int | None = Field(default=None, ge=1, description="Parallel envs per candidate.")
    hyperparams: dict[str, Any] = Field(
        default_factory=dict,
        description="SB3 constructor arguments (plus `policy`, `normalize`) over the schema's "
        "defaults, key by key; RL Zoo spellings accepted.",
    )
    hyperparams_file: Path | None = Field(
        default=None,
        description="RL Zoo hyperparameter file; its entry for the env is read into "
        "hyperparams (under the explicit ones), steps and n_envs, in place of the schema's.",
    )
    workers: int = Field(default=0, ge=0, description="Training workers; 0 = one per core.")
    executor: Literal["local", "ray"] = Field(
        default="local", description="Where candidates train."
    )
    ray_address: str | None = Field(default=None, description="Ray cluster address (`auto`).")
    seed: int = Field(default=0, description="Base seed for training and evaluation.")
    eval_episodes: int = Field(default=5, ge=1, description="Evaluation episodes per candidate.")
    halving: bool = Field(default=True, description="Successive halving across candidates.")
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
        description="Top candidates (by single-seed fitness) retrained on the final seeds; the "
        "best mean over those seeds is the run's best.",
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


def load_run_config(data: dict[str, object], source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{source}: {where}: {first['msg']}") from err


def load_run_config_file(path: str | Path) -> RunConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    return load_run_config(data, str(path))
