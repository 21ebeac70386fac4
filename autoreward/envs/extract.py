"""From a live gymnasium env to the named state dict its schema promises.

`make_env` wraps the env in `SchemaStateWrapper`, which puts the unbatched state dict into
`info["ar_state"]` on every `reset` and `step`. On a terminal step that is the terminal state:
the wrapper sits directly on the env, inside any vector env, so it runs before an auto-reset.
`stack_states` batches per-env dicts (leading dimension N); `sample_transitions` draws
transitions from a random policy on the real env, for dry runs of reward code.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvCreator

from autoreward.envs.envids import close_env_ids
from autoreward.envs.recipes import StateExtractor
from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError, UnknownEnvError
from autoreward.types import State

STATE_KEY = "ar_state"


class SchemaStateWrapper(gym.Wrapper):
    """Adds `info["ar_state"]`: the schema's state fields, read from the live env."""

    def __init__(self, env: gym.Env, schema: EnvSchema, seed: int | None = None) -> None:
        super().__init__(env)
        self.schema = schema
        self.extractor = StateExtractor(schema.fields, env, context=schema.env_id)
        self._first_seed = seed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is None and self._first_seed is not None:
            seed = self._first_seed
        self._first_seed = None
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, STATE_KEY: self.extractor.reset(obs)}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        state = self.extractor.step(obs, float(reward))
        return obs, reward, terminated, truncated, {**info, STATE_KEY: state}


def make_base_env(
    env_id: str,
    make_kwargs: dict[str, Any] | None = None,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
) -> gym.Env:
    """`gym.make` for a registered id, or import and register a `module:Class` entry point."""
    kwargs = dict(make_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if ":" in env_id:
        cls = load_entry_point(env_id)
        spec_id = "autoreward/" + re.sub(r"[^A-Za-z0-9_]", "_", env_id) + "-v0"
        spec = gym.envs.registration.EnvSpec(
            id=spec_id,
            entry_point=cast(EnvCreator, cls),
            max_episode_steps=max_episode_steps,
            disable_env_checker=True,
        )
        return gym.make(spec, **kwargs)
    from autoreward.envs.builtin import register_builtin_envs

    register_builtin_envs()
    if env_id not in gym.registry:
        raise UnknownEnvError(f"'{env_id}' is not a registered gymnasium id")
    try:
        return gym.make(env_id, **kwargs)
    except TypeError as err:
        raise ConfigError(f"{env_id}: bad make_kwargs {kwargs}: {err}") from err
    except (ImportError, gym.error.Error) as err:  # registered, but not buildable here
        others = close_env_ids(env_id)
        raise UnknownEnvError(
            f"cannot make '{env_id}' here: {' '.join(str(err).split())}",
            hint="ids that can be made here: " + ", ".join(others) if others else None,
        ) from err


def load_entry_point(entry: str) -> type:
    """Import `module:Class` and check that it is a gymnasium Env class."""
    module_name, _, attr = entry.partition(":")
    if not module_name or not attr:
        raise UnknownEnvError(f"'{entry}' is not a 'module:Class' entry point")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UnknownEnvError(
            f"cannot import module '{module_name}' for env '{entry}': {err}",
            hint="check the module is installed and on PYTHONPATH",
        ) from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UnknownEnvError(
                f"module '{module_name}' has no attribute '{attr}' (env '{entry}')"
            )
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, gym.Env)):
        raise UnknownEnvError(f"'{entry}' is not a gymnasium.Env subclass")
    return obj


def make_env(schema: EnvSchema, render_mode: str | None = None, seed: int | None = None) -> gym.Env:
    """The schema's env (with its make_kwargs) wrapped in `SchemaStateWrapper`.

    `seed` seeds the action space and the first `reset` that is called without a seed.
    """
    env = make_base_env(schema.env_id, schema.make_kwargs, render_mode, schema.episode_length)
    wrapped = SchemaStateWrapper(env, schema, seed=seed)
    if seed is not None:
        wrapped.action_space.seed(seed)
    return policy_view(wrapped)


def policy_view(env: gym.Env) -> gym.Env:
    """The env as a policy sees it. stable-baselines3 takes no Tuple observation, so a Tuple
    (e.g. Blackjack's three Discretes) is flattened, one-hot for its Discrete parts; the schema
    state is read below this wrapper, from the env's own observation."""
    if isinstance(env.observation_space, gym.spaces.Tuple):
        return gym.wrappers.FlattenObservation(env)
    return env


def stack_states(states: list[dict[str, Any]]) -> State:
    """Batch per-env state dicts into arrays with leading dimension N = len(states)."""
    if not states:
        raise ValueError("stack_states needs at least one state")
    keys = states[0].keys()
    return {k: np.stack([np.asarray(s[k], dtype=np.float64) for s in states]) for k in keys}


def public_state(schema: EnvSchema, state: State) -> State:
    """`state` without the schema's hidden fields (those exist for the fitness only and must
    not reach reward code)."""
    hidden = {f.name for f in schema.fields if f.hidden}
    return {k: v for k, v in state.items() if k not in hidden} if hidden else state


def sample_transitions(
    schema: EnvSchema, n: int = 64, seed: int = 0
) -> tuple[State, np.ndarray, State]:
    """`n` transitions (state, action, next_state) from a uniform random policy.

    Episodes are reset when they end, so the batch mixes early and late states; the action
    array has shape (n, *action_shape) and the action space's dtype.
    """
    if n < 1:
        raise ValueError(f"sample_transitions needs n >= 1, got {n}")
    env = make_env(schema, seed=seed)
    try:
        _, info = env.reset(seed=seed)
        state = info[STATE_KEY]
        states, actions, next_states = [], [], []
        for _ in range(n):
            action = env.action_space.sample()
            _, _, terminated, truncated, info = env.step(action)
            states.append(state)
            actions.append(np.asarray(action))
            next_states.append(info[STATE_KEY])
            if terminated or truncated:
                _, info = env.reset()
            state = info[STATE_KEY]
    finally:
        env.close()
    return stack_states(states), np.stack(actions), stack_states(next_states)
