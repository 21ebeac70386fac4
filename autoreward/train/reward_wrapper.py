"""`RewardWrapper`: a generated reward as a plain gymnasium wrapper, for your own scripts.

    import gymnasium as gym
    from autoreward import RewardWrapper

    env = RewardWrapper(gym.make("Hopper-v5"), "runs/.../best/reward.py")
    # SB3, CleanRL, ...: the reward is now the generated one;
    # info["env_reward"] keeps the env's own, info["reward_terms"] the components.

The wrapper reads the schema state exactly as training did (the envs room's extractor) and
calls `compute_reward` with a batch of one. The code is validated and loaded with restricted
builtins (`load_reward_fn`), but runs in your process: only wrap code you trust or checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from autoreward.envs.extract import STATE_KEY, SchemaStateWrapper
from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError
from autoreward.train.reward_output import check_reward_output


def read_reward_source(reward: str | Path) -> str:
    """`reward` is reward code, or a path to a .py file holding it."""
    if isinstance(reward, str) and "compute_reward" in reward and "\n" in reward:
        return reward
    path = Path(reward)
    if not path.is_file():
        raise ConfigError(
            f"reward file {path} does not exist",
            hint="pass the path of a reward.py (e.g. runs/<run>/best/reward.py) or the code itself",
        )
    return path.read_text(encoding="utf-8")


class RewardWrapper(gym.Wrapper):
    """Replace `env`'s reward with `compute_reward` from `reward` (a file path or code).

    `schema` is an `EnvSchema`, an env id, or None for the schema of `env.spec.id`.
    Adds `info["ar_state"]`, `info["env_reward"]` and `info["reward_terms"]`.
    """

    def __init__(
        self, env: gym.Env, reward: str | Path, schema: EnvSchema | str | None = None
    ) -> None:
        from autoreward.sandbox.loader import load_reward_fn

        resolved = _resolve_schema(env, schema)
        super().__init__(SchemaStateWrapper(env, resolved))
        self.schema = resolved
        self.reward_fn = load_reward_fn(read_reward_source(reward))
        self._state: dict[str, Any] | None = None
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._state = info[STATE_KEY]
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        next_state = info[STATE_KEY]
        self._steps += 1
        out = self.reward_fn(
            _batch_of_one(self._state), np.asarray(action)[None], _batch_of_one(next_state)
        )
        total, terms = check_reward_output(out, 1, f"at step {self._steps}")
        self._state = next_state
        info["env_reward"] = float(env_reward)
        info["reward_terms"] = {name: float(value[0]) for name, value in terms.items()}
        return obs, float(total[0]), terminated, truncated, info


def _batch_of_one(state: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64)[None] for k, v in state.items()}


def _resolve_schema(env: gym.Env, schema: EnvSchema | str | None) -> EnvSchema:
    if isinstance(schema, EnvSchema):
        return schema
    from autoreward.envs.registry import load_schema

    env_id = schema or (env.spec.id if env.spec is not None else None)
    if env_id is None:
        raise ConfigError(
            "cannot tell which schema this env has (it has no spec id)",
            hint="pass schema=load_schema('<env id>') or the env id",
        )
    return load_schema(env_id)
