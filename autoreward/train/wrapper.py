"""`RewardVecEnvWrapper`: replaces a VecEnv's reward with a generated `compute_reward`.

The reward function is called once per vector step on the batched schema states, so its
cost is a few numpy operations per step whatever the number of envs. The base envs must put
their unbatched schema state in `info["ar_state"]` on reset and on every step (the envs
room's `SchemaStateWrapper`); on a terminal step that is the terminal state, and the state
the next transition starts from is the auto-reset's `reset_infos[i]["ar_state"]`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from autoreward.envs.extract import STATE_KEY, stack_states
from autoreward.errors import RewardCodeError
from autoreward.types import RewardFn, State

ENV_REWARD_TERM = "env_reward"
"""The single component name used when the wrapper passes the env's own reward through."""


@dataclass
class EpisodeRecord:
    """One finished training episode, as seen by the wrapper."""

    generated_return: float
    env_return: float
    length: int
    terms: dict[str, float] = field(default_factory=dict)
    terminated: bool = False


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

    def __init__(self, venv: VecEnv, reward_fn: RewardFn | None, max_logged_episodes: int = 10_000) -> None:
        super().__init__(venv)
        self.reward_fn = reward_fn
        self.n_calls = 0
        self.episode_log: deque[EpisodeRecord] = deque(maxlen=max_logged_episodes)
        self._state: State | None = None
        self._actions: np.ndarray | None = None
        self._term_names: list[str] = []
        self._episode_sums = np.zeros((2, self.num_envs))  # rows: total, env reward, terms...
        self._episode_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._reset_window()

    # ------------------------------------------------------------------ VecEnv API

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        base = self.venv.unwrapped
        if self.reward_fn is not None:
            self._state = stack_states([self._ar_state(info, i, "reset") for i, info in enumerate(base.reset_infos)])
        self.reset_infos = list(base.reset_infos)
        self._episode_sums[:] = 0.0
        self._episode_lengths[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, env_rewards, dones, infos = self.venv.step_wait()
        env_rewards = np.asarray(env_rewards, dtype=np.float64)
        if self.reward_fn is None:
            total = env_rewards
            terms = {ENV_REWARD_TERM: env_rewards}
        else:
            total, terms = self._generated_reward(infos)
        self.n_calls += 1

        names = list(terms)
        if names != self._term_names:
            self._adopt_terms(names)
        matrix = np.empty((len(names) + 2, self.num_envs))
        matrix[0] = total
        matrix[1] = env_rewards
        for row, name in enumerate(names, start=2):
            matrix[row] = terms[name]
        self._update_window(matrix)
        self._episode_sums += matrix
        self._episode_lengths += 1

        per_step = matrix.T.tolist()
        for i, info in enumerate(infos):
            values = per_step[i]
            info["env_reward"] = values[1]
            info["reward_terms"] = dict(zip(names, values[2:], strict=True))
            if dones[i]:
                self._finish_episode(i, info)

        if self.reward_fn is not None:
            base = self.venv.unwrapped
            done_idx = np.flatnonzero(dones)
            if len(done_idx):
                # The next transition starts from the auto-reset state, not the terminal one.
                # Copy first: the reward function was handed these arrays as next_state.
                state = {key: value.copy() for key, value in self._state.items()}  # type: ignore[union-attr]
                for i in done_idx:
                    reset_state = self._ar_state(base.reset_infos[i], int(i), "auto-reset")
                    for key, value in reset_state.items():
                        state[key][i] = value
                self._state = state
            self.reset_infos = list(base.reset_infos)
        return obs, total.astype(np.float32), dones, infos

    # ------------------------------------------------------------------ statistics

    @property
    def steps_done(self) -> int:
        """Environment steps taken so far (vector steps × envs), as SB3 counts them."""
        return self.n_calls * self.num_envs

    @property
    def term_names(self) -> list[str]:
        """Component names of the latest step, in the order the reward returned them."""
        return list(self._term_names)

    def window_stats(self, reset: bool = True) -> dict[str, dict[str, float]]:
        """Per-step mean/std/min/max/count of the total (`__total__`) and every component
        since the last reset of the window."""
        out: dict[str, dict[str, float]] = {}
        names = ["__total__", "__env__", *self._term_names]
        count = self._w_count
        for row, name in enumerate(names):
            if row == 1 or count == 0 or row >= len(self._w_sum):
                continue
            mean = self._w_sum[row] / count
            var = max(self._w_sumsq[row] / count - mean * mean, 0.0)
            out[name] = {
                "mean": float(mean),
                "std": float(np.sqrt(var)),
                "min": float(self._w_min[row]),
                "max": float(self._w_max[row]),
                "count": int(count),
            }
        if reset:
            self._reset_window()
        return out

    def pop_episodes(self) -> list[EpisodeRecord]:
        """Finished episodes since the last call (and forget them)."""
        episodes = list(self.episode_log)
        self.episode_log.clear()
        return episodes

    # ------------------------------------------------------------------ internals

    def _generated_reward(self, infos: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self._state is None:
            raise RuntimeError("RewardVecEnvWrapper.step_wait called before reset()")
        next_state = stack_states([self._ar_state(info, i, "step") for i, info in enumerate(infos)])
        try:
            out = self.reward_fn(self._state, self._actions, next_state)  # type: ignore[misc]
        except Exception as err:
            raise RewardCodeError(
                f"compute_reward raised {type(err).__name__} at training step {self.steps_done}: {err}",
                hint="the reward must work on every batched state the env reaches during training",
            ) from err
        total, terms = self._sanity_checks(out)
        self._state = next_state
        return total, terms

    def _sanity_checks(self, out: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Check the reward output: a (total, terms) pair of finite float arrays of shape (N,)."""
        return check_reward_output(out, self.num_envs, f"at training step {self.steps_done}")

    def _ar_state(self, info: dict[str, Any], env_index: int, when: str) -> dict[str, Any]:
        try:
            return info[STATE_KEY]
        except KeyError:
            raise RuntimeError(
                f"env {env_index} gave no info['ar_state'] on {when}; build the envs with "
                "autoreward.envs.extract.make_env so SchemaStateWrapper provides the schema state"
            ) from None

    def _adopt_terms(self, names: list[str]) -> None:
        """Components changed (first step, or a reward whose keys vary): resize accumulators."""
        old = {name: row for row, name in enumerate(self._term_names, start=2)}
        sums = np.zeros((len(names) + 2, self.num_envs))
        sums[:2] = self._episode_sums[:2]
        for row, name in enumerate(names, start=2):
            if name in old:
                sums[row] = self._episode_sums[old[name]]
        self._episode_sums = sums
        self._term_names = names
        self._reset_window()

    def _finish_episode(self, i: int, info: dict[str, Any]) -> None:
        sums = self._episode_sums[:, i].tolist()
        terms = dict(zip(self._term_names, sums[2:], strict=True))
        record = EpisodeRecord(
            generated_return=sums[0],
            env_return=sums[1],
            length=int(self._episode_lengths[i]),
            terms=terms,
            terminated=not info.get("TimeLimit.truncated", False),
        )
        info["episode_terms"] = terms
        info["episode_generated_return"] = record.generated_return
        info["episode_env_return"] = record.env_return
        self.episode_log.append(record)
        self._episode_sums[:, i] = 0.0
        self._episode_lengths[i] = 0

    def _reset_window(self) -> None:
        rows = len(self._term_names) + 2
        self._w_count = 0
        self._w_sum = np.zeros(rows)
        self._w_sumsq = np.zeros(rows)
        self._w_min = np.full(rows, np.inf)
        self._w_max = np.full(rows, -np.inf)

    def _update_window(self, matrix: np.ndarray) -> None:
        self._w_count += matrix.shape[1]
        self._w_sum += matrix.sum(axis=1)
        self._w_sumsq += np.einsum("ij,ij->i", matrix, matrix)
        np.minimum(self._w_min, matrix.min(axis=1), out=self._w_min)
        np.maximum(self._w_max, matrix.max(axis=1), out=self._w_max)


def check_reward_output(out: Any, n: int, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`(total, terms)` as float64 arrays of shape (n,), or a `RewardCodeError` naming the
    offending component and `where` (e.g. "at training step 2400")."""
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise RewardCodeError(
            f"compute_reward must return (total, terms_dict), got {type(out).__name__} {where}",
            hint="return total, {'name': array, ...}",
        )
    raw_total, raw_terms = out
    total = _as_batch(raw_total, "total", where, n)
    terms = {str(name): _as_batch(value, f"component '{name}'", where, n) for name, value in raw_terms.items()}
    for name, value in terms.items():
        if not np.isfinite(value).all():
            raise RewardCodeError(
                f"compute_reward returned a non-finite reward {where}: component '{name}' is "
                f"NaN/inf for env(s) {np.flatnonzero(~np.isfinite(value)).tolist()}",
                hint="guard divisions, logs and exps (e.g. np.clip, + 1e-8) so every component stays finite",
            )
    if not np.isfinite(total).all():
        raise RewardCodeError(
            f"compute_reward returned a non-finite reward {where}: the total is NaN/inf for env(s) "
            f"{np.flatnonzero(~np.isfinite(total)).tolist()} although every component is finite",
            hint="compute the total as the sum of the components",
        )
    return total, terms


def _as_batch(value: Any, what: str, where: str, n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise RewardCodeError(
            f"compute_reward {what} is not numeric ({type(value).__name__}) {where}",
            hint="every value must be a float array of shape (N,)",
        ) from err
    if arr.shape != (n,):
        raise RewardCodeError(
            f"compute_reward {what} has shape {arr.shape}, expected ({n},) (one value per env) {where}",
            hint="reduce over feature axes with axis=-1 and keep the leading batch dimension N",
        )
    return arr
