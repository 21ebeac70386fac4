"""What a schema declares for training on the batched MuJoCo Warp backend (rsl-rl-lib PPO).

`WarpTraining` is the `simulation.train` section of a schema: default world counts per device
and the PPO hyperparameters, the flattened form of an Isaac Lab `RslRlOnPolicyRunnerCfg`
(runner, actor/critic MLPs and algorithm settings in one namespace). Every field of
`RslRlHyperparams` is also a `--hyperparams KEY=VALUE` name when training with
`--backend warp`; unknown names are an error. Data only: `train/rslrl/trainer.py` turns them
into rsl-rl's configuration.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoreward.errors import ConfigError

Activation = Literal[
    "elu", "selu", "relu", "crelu", "lrelu", "tanh", "sigmoid", "softplus", "gelu", "swish",
    "mish",
]  # fmt: skip


class RslRlHyperparams(BaseModel):
    """rsl-rl PPO settings (defaults: Isaac Lab's MuJoCo-style locomotion configs)."""

    model_config = ConfigDict(extra="forbid")

    num_steps_per_env: int = Field(default=24, gt=0, description="Steps per world per rollout.")
    actor_hidden_dims: list[int] = Field(
        default_factory=lambda: [256, 128, 64], min_length=1, description="Actor MLP layers."
    )
    critic_hidden_dims: list[int] = Field(
        default_factory=lambda: [256, 128, 64], min_length=1, description="Critic MLP layers."
    )
    activation: Activation = Field(default="elu", description="Hidden-layer activation.")
    init_noise_std: float = Field(
        default=1.0, gt=0, description="Initial std of the Gaussian policy."
    )
    obs_normalization: bool = Field(
        default=True, description="Running mean/std normalisation of observations (in the nets)."
    )
    learning_rate: float = Field(default=1e-3, gt=0, description="Adam learning rate.")
    schedule: Literal["adaptive", "fixed"] = Field(
        default="adaptive", description="adaptive: the learning rate follows desired_kl."
    )
    desired_kl: float = Field(default=0.01, gt=0, description="KL target of the adaptive schedule.")
    num_learning_epochs: int = Field(default=5, gt=0, description="Epochs per update.")
    num_mini_batches: int = Field(default=4, gt=0, description="Minibatches per epoch.")
    clip_param: float = Field(default=0.2, gt=0, description="PPO clip range.")
    entropy_coef: float = Field(default=0.005, ge=0, description="Entropy bonus.")
    value_loss_coef: float = Field(default=1.0, ge=0, description="Value loss weight.")
    use_clipped_value_loss: bool = True
    gamma: float = Field(default=0.99, gt=0, le=1, description="Discount.")
    lam: float = Field(default=0.95, ge=0, le=1, description="GAE lambda.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm.")
    init_at_random_ep_len: bool = Field(
        default=True,
        description="Start the worlds at random points of their first episode, so resets (and "
        "the episode statistics) do not come in lockstep.",
    )


class WarpTraining(BaseModel):
    """`simulation.train`: how this env trains on the batched backend."""

    model_config = ConfigDict(extra="forbid")

    worlds_cpu: int = Field(default=64, gt=0, description="Default worlds on Warp's CPU device.")
    worlds_cuda: int = Field(default=4096, gt=0, description="Default worlds on a GPU.")
    hyperparams: RslRlHyperparams = Field(default_factory=RslRlHyperparams)

    def worlds(self, device: str) -> int:
        return self.worlds_cuda if device.startswith("cuda") else self.worlds_cpu


HYPERPARAM_NAMES = tuple(RslRlHyperparams.model_fields)


def merged_rslrl_hyperparams(
    base: RslRlHyperparams, overrides: dict[str, Any], where: str = "--hyperparams"
) -> RslRlHyperparams:
    """`base` with `overrides` applied key by key; one ConfigError naming every bad key or
    value (with the closest valid name) otherwise."""
    problems = []
    for key in overrides:
        if key not in HYPERPARAM_NAMES:
            close = difflib.get_close_matches(key, HYPERPARAM_NAMES, n=1)
            problems.append(
                f"'{key}' is not an rsl-rl PPO setting"
                + (f" (did you mean '{close[0]}'?)" if close else "")
            )
    if problems:
        raise ConfigError(
            f"{where}: " + "; ".join(problems),
            hint="with --backend warp the hyperparameters are rsl-rl's: "
            + ", ".join(HYPERPARAM_NAMES),
        )
    try:
        return RslRlHyperparams.model_validate({**base.model_dump(), **overrides})
    except ValidationError as err:
        bad = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{where}: {bad}") from None
