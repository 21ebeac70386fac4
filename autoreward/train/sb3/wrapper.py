"""`RewardVecEnvWrapper`: replaces a VecEnv's reward with a generated `compute_reward`.

The reward function is called once per vector step on the batched schema states, so its
cost is a few numpy operations per step whatever the number of envs. The base envs must put
their unbatched schema state in `info["ar_state"]` on reset and on every step (the envs
room's `SchemaStateWrapper`); on a terminal step that is the terminal state, and the state
the next transition starts from is the auto-reset's `reset_infos[i]["ar_state"]`.

Per vector step the wrapper does one reward call, one finiteness test and one in-place
update of the episode sums; the statistics are kept by a `RewardLedger` (`ledger.py`, shared
with the rsl-rl backend).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from autoreward.envs.extract import STATE_KEY
from autoreward.sandbox.inputs import frozen_array
from autoreward.sandbox.watchdog import reward_call
from autoreward.train.ledger import EpisodeRecord, RewardLedger
from autoreward.train.reward_output import (
    ENV_REWARD_TERM,
    check_reward_output,
    reward_raised,
    reward_rows,
)
from autoreward.types import RewardFn, State

__all__ = ["ENV_REWARD_TERM", "EpisodeRecord", "RewardVecEnvWrapper", "check_reward_output",
           "reward_raised", "reward_rows"]  # fmt: skip


class RewardVecEnvWrapper(VecEnvWrapper):
    """Swap the env reward for `reward_fn(state, action, next_state)`, batched over the envs.

    Per env and step, `info["env_reward"]` keeps the env's own reward and
    `info["reward_terms"]` the components; when an episode ends, `info["episode_terms"]`
    holds the per-episode component sums, `info["episode_generated_return"]` and
    `info["episode_env_return"]` the two returns. Finished episodes are also appended to
    `episode_log` and per-step component statistics accumulate until `window_stats()` is read.

    `reward_fn=None` passes the env's own reward through as the single component
    `env_reward`, so a baseline run yields the same statistics and info keys.
    """

    def __init__(
        self, venv: VecEnv, reward_fn: RewardFn | None, max_logged_episodes: int = 10_000
    ) -> None:
        super().__init__(venv)
        self.reward_fn = reward_fn
        self.n_calls = 0
        # Reward rows of a step: [total, component 1..K, env reward], each of length N.
        self.ledger = RewardLedger(self.num_envs, max_logged_episodes)
        self.episode_log = self.ledger.episode_log
        self._state: State | None = None
        self._actions: np.ndarray | None = None
        self._stack = _Stacker()

    # ------------------------------------------------------------------ VecEnv API

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        base = self.venv.unwrapped
        if self.reward_fn is not None:
            self._state = self._stack(_states(base.reset_infos, "reset"))
        self.reset_infos = list(base.reset_infos)
        self.ledger.reset_episodes()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        # A private read-only copy: SB3's actions can be views of torch tensors.
        self._actions = frozen_array(actions) if self.reward_fn is not None else None
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, env_rewards, dones, infos = self.venv.step_wait()
        if self.reward_fn is None:
            names = [ENV_REWARD_TERM]
            rows = np.array([env_rewards, env_rewards, env_rewards], dtype=np.float64)
        else:
            names, rows = self._generated_reward(infos, env_rewards)
        self.n_calls += 1
        self.ledger.add(names, rows)

        per_env = rows.T.tolist()
        for i, info in enumerate(infos):
            values = per_env[i]
            info["env_reward"] = values[-1]
            info["reward_terms"] = dict(zip(names, values[1:-1], strict=True))
        if dones.any():
            for done in np.flatnonzero(dones):
                self._finish_episode(int(done), infos[done])
            if self.reward_fn is not None:
                self._restart_from_reset_states(dones)
        if self.reward_fn is not None:
            self.reset_infos = list(self.venv.unwrapped.reset_infos)
        return obs, rows[0].astype(np.float32), dones, infos

    # ------------------------------------------------------------------ statistics

    @property
    def steps_done(self) -> int:
        """Environment steps taken so far (vector steps × envs), as SB3 counts them."""
        return self.n_calls * self.num_envs

    @property
    def term_names(self) -> list[str]:
        """Component names of the latest step, in the order the reward returned them."""
        return self.ledger.term_names

    def window_stats(self, reset: bool = True) -> dict[str, dict[str, float]]:
        """Per-step mean/std/min/max/count of the total (`__total__`) and every component
        since the last reset of the window."""
        return self.ledger.window_stats(reset)

    def pop_episodes(self) -> list[EpisodeRecord]:
        """Finished episodes since the last call (and forget them)."""
        return self.ledger.pop_episodes()

    # ------------------------------------------------------------------ internals

    def _generated_reward(
        self, infos: list[dict[str, Any]], env_rewards: np.ndarray
    ) -> tuple[list[str], np.ndarray]:
        if self._state is None or self._actions is None or self.reward_fn is None:
            raise RuntimeError(
                "RewardVecEnvWrapper.step_wait called before reset() and step_async()"
            )
        next_state = self._stack(_states(infos, "step"))
        try:
            with reward_call(self.steps_done):
                out = self.reward_fn(self._state, self._actions, next_state)
        except Exception as err:
            raise reward_raised(err, self.steps_done) from err
        names, rows = self._sanity_checks(out, env_rewards)
        self._state = next_state
        return names, rows

    def _sanity_checks(self, out: Any, env_rewards: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The reward output as rows [total, components..., env reward]; a `RewardCodeError`
        naming the component and step for a wrong type or shape, NaN or inf."""
        return reward_rows(
            out, self.num_envs, f"at training step {self.steps_done}", extra_row=env_rewards
        )

    def _restart_from_reset_states(self, dones: np.ndarray) -> None:
        """The next transition of an auto-reset env starts from its reset state, not the
        terminal one. Copies first: the reward function was handed these arrays."""
        base = self.venv.unwrapped
        state = {key: value.copy() for key, value in self._state.items()}  # type: ignore[union-attr]
        for i in np.flatnonzero(dones):
            reset_state = _states([base.reset_infos[i]], "auto-reset", first_index=int(i))[0]
            for key, value in reset_state.items():
                state[key][i] = value
        self._state = state

    def _finish_episode(self, i: int, info: dict[str, Any]) -> None:
        record = self.ledger.finish(i, terminated=not info.get("TimeLimit.truncated", False))
        info["episode_terms"] = record.terms
        info["episode_generated_return"] = record.generated_return
        info["episode_env_return"] = record.env_return
        # what SB3's Monitor reports: the logger's rollout/ep_rew_mean is the trained reward's
        info["episode"] = {"r": record.generated_return, "l": record.length}


def _states(infos: Any, when: str, first_index: int = 0) -> list[dict[str, Any]]:
    try:
        return [info[STATE_KEY] for info in infos]
    except KeyError:
        missing = next(i for i, info in enumerate(infos) if STATE_KEY not in info) + first_index
        raise RuntimeError(
            f"env {missing} gave no info['{STATE_KEY}'] on {when}; build the envs with "
            "autoreward.envs.extract.make_env so SchemaStateWrapper provides the schema state"
        ) from None


class _Stacker:
    """Batch per-env state dicts (float64, leading dimension N): the same result as
    `autoreward.envs.extract.stack_states`, faster. Scalar fields are gathered in one
    `np.array` call into a column-major block whose columns become the fields. The arrays
    are read-only: a reward that writes into its inputs fails loudly instead of silently
    changing the state the next transition starts from."""

    def __init__(self) -> None:
        self._layout: tuple[list[str], list[str]] | None = None

    def __call__(self, states: list[dict[str, Any]]) -> State:
        first = states[0]
        if self._layout is None or len(self._layout[0]) + len(self._layout[1]) != len(first):
            keys = list(first)
            self._layout = (
                [k for k in keys if np.ndim(first[k]) == 0],
                [k for k in keys if np.ndim(first[k]) > 0],
            )
        scalars, arrays = self._layout
        out: State = {}
        if scalars:
            block = np.array([[s[k] for k in scalars] for s in states], dtype=np.float64, order="F")
            block.flags.writeable = False
            for j, key in enumerate(scalars):
                out[key] = block[:, j]
        for key in arrays:
            value = np.array([s[key] for s in states], dtype=np.float64)
            value.flags.writeable = False
            out[key] = value
        return out
