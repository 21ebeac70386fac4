"""The training algorithms a run or `train` may ask for, and which action spaces each handles.

Checked in the parent before any work starts (the choice of algorithm and the env's action
space are both known then), so a mismatch is one clear line instead of a failed worker.
"""

from __future__ import annotations

from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError

ALGOS = ("PPO", "SAC", "TD3", "A2C", "DQN")
DISCRETE_ONLY = frozenset({"DQN"})
CONTINUOUS_ONLY = frozenset({"SAC", "TD3"})


def resolve_algo(algo: str | None, schema: EnvSchema, option: str = "--algo") -> str:
    """The algorithm that will train (`algo`, else the schema's default), checked against the
    env's action space."""
    name = (algo or schema.train.algo).upper()
    source = (
        f"{option} {algo}" if algo else f"the {schema.env_id} schema's default algorithm {name}"
    )
    if name not in ALGOS:
        raise ConfigError(f"{source} is not supported", hint=f"use one of {', '.join(ALGOS)}")
    discrete = schema.action.n is not None
    if discrete and name in CONTINUOUS_ONLY:
        raise ConfigError(
            f"{source}: {name} needs continuous (Box) actions, but {schema.env_id} has "
            f"{schema.action.n} discrete actions",
            hint="use PPO, A2C or DQN for discrete actions",
        )
    if not discrete and name in DISCRETE_ONLY:
        raise ConfigError(
            f"{source}: {name} needs discrete actions, but {schema.env_id} has continuous "
            f"actions of shape {tuple(schema.action.shape)}",
            hint="use PPO, SAC, TD3 or A2C for continuous actions",
        )
    return name
