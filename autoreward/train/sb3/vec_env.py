"""The training VecEnv: N copies of the schema's env, each reporting its schema state.

SB3's `DummyVecEnv` deep-copies every step's infos. The schema state is a fresh dict of
fresh arrays on every step (the extractor copies out of the simulator) and nobody mutates it
afterwards, so `SharedStateInfo` marks it as safe to share instead of copying it, which
keeps the state's cost per step to its extraction. Training on the env's own reward needs
no schema state at all (the fitness is measured on separate evaluation envs), so those envs
are the bare gymnasium envs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from autoreward.envs.extract import STATE_KEY, make_base_env, make_env, policy_view
from autoreward.envs.schema import EnvSchema


class SharedState(dict):  # type: ignore[type-arg]
    """A schema state dict that `copy.deepcopy` shares instead of copying (it is never
    mutated after the step that produced it)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedState:
        return self


class SharedStateInfo(gym.Wrapper):
    """Marks `info["ar_state"]` as a `SharedState` on reset and step."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        info[STATE_KEY] = SharedState(info[STATE_KEY])
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info[STATE_KEY] = SharedState(info[STATE_KEY])
        return obs, reward, terminated, truncated, info


def _schema_env(schema: EnvSchema, seed: int) -> gym.Env:
    return SharedStateInfo(make_env(schema, None, seed))


def _bare_env(schema: EnvSchema, seed: int) -> gym.Env:
    env = policy_view(make_base_env(schema.env_id, schema.make_kwargs, None, schema.episode_length))
    env.action_space.seed(seed)
    return env


def make_training_venv(
    schema: EnvSchema,
    n_envs: int,
    seed: int,
    kind: Literal["dummy", "subproc"] = "dummy",
    schema_state: bool = True,
) -> VecEnv:
    """`n_envs` envs seeded `seed + i`; with `schema_state` each reports `info["ar_state"]`."""
    factory = _schema_env if schema_state else _bare_env
    env_fns: list[Callable[[], gym.Env]] = [
        partial(factory, schema, seed + i) for i in range(n_envs)
    ]
    venv: VecEnv = DummyVecEnv(env_fns) if kind == "dummy" else SubprocVecEnv(env_fns)
    venv.seed(seed)
    return venv
