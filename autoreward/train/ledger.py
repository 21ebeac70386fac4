"""`RewardLedger`: the reward statistics of a batch of training envs, for any backend.

Both training backends feed it one block of reward rows per vector step — rows[0] the total,
rows[1 + k] component k, rows[-1] the env's own reward, each of length N — and the done flags.
It keeps the per-episode sums (finished episodes become `EpisodeRecord`s) and the per-step
statistics of a window (mean/std/min/max per row), reduced in blocks of `FOLD_EVERY` steps so
a vector step costs one append and one in-place add. `StatsCallback` (SB3) and the rsl-rl
trainer read the same statistics from it (`stats.checkpoint_point`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

FOLD_EVERY = 256
"""Vector steps of reward rows kept before they are folded into the window statistics."""

TOTAL = "__total__"
"""The key of the total in `window_stats`."""


@dataclass
class EpisodeRecord:
    """One finished training episode."""

    generated_return: float
    env_return: float | None
    length: int
    terms: dict[str, float] = field(default_factory=dict)
    terminated: bool = False


class RewardLedger:
    """Episode sums and window statistics of N envs' reward rows (see the module docstring).

    `env_reward=False`: the last row holds no env reward (a backend without one): episodes
    then report `env_return` None.
    """

    def __init__(
        self, num_envs: int, max_logged_episodes: int = 10_000, env_reward: bool = True
    ) -> None:
        self.num_envs = num_envs
        self.env_reward = env_reward
        self.episode_log: deque[EpisodeRecord] = deque(maxlen=max_logged_episodes)
        self._term_names: list[str] = []
        self._episode_sums = np.zeros((2, num_envs))
        self._episode_lengths = np.zeros(num_envs, dtype=np.int64)
        self._pending: list[np.ndarray] = []
        self._reset_window()

    @property
    def term_names(self) -> list[str]:
        """Component names of the latest step, in the order the reward returned them."""
        return list(self._term_names)

    def reset_episodes(self) -> None:
        """Every env starts a new episode (after a reset of the whole batch)."""
        self._episode_sums[:] = 0.0
        self._episode_lengths[:] = 0

    def add(self, names: list[str], rows: np.ndarray) -> None:
        """One vector step: `rows` is (len(names) + 2, N) as in the module docstring."""
        if names != self._term_names:
            self._adopt_terms(names)
        self._pending.append(rows)
        if len(self._pending) >= FOLD_EVERY:
            self._fold()
        self._episode_sums += rows
        self._episode_lengths += 1

    def finish(self, i: int, terminated: bool) -> EpisodeRecord:
        """Env `i`'s episode ended with the step just added: record it, start a new one."""
        sums = self._episode_sums[:, i].tolist()
        record = EpisodeRecord(
            generated_return=sums[0],
            env_return=sums[-1] if self.env_reward else None,
            length=int(self._episode_lengths[i]),
            terms=dict(zip(self._term_names, sums[1:-1], strict=True)),
            terminated=terminated,
        )
        self.episode_log.append(record)
        self._episode_sums[:, i] = 0.0
        self._episode_lengths[i] = 0
        return record

    def window_stats(self, reset: bool = True) -> dict[str, dict[str, float]]:
        """Per-step mean/std/min/max/count of the total (`TOTAL`) and every component since
        the last reset of the window."""
        self._fold()
        out: dict[str, dict[str, float]] = {}
        count = self._w_count
        if count:
            for row, name in enumerate([TOTAL, *self._term_names]):
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

    def _adopt_terms(self, names: list[str]) -> None:
        """Components changed (first step, or a reward whose keys vary): resize accumulators."""
        self._fold()
        old = {name: row for row, name in enumerate(self._term_names, start=1)}
        sums = np.zeros((len(names) + 2, self.num_envs))
        sums[0], sums[-1] = self._episode_sums[0], self._episode_sums[-1]
        for row, name in enumerate(names, start=1):
            if name in old:
                sums[row] = self._episode_sums[old[name]]
        self._episode_sums = sums
        self._term_names = names
        self._reset_window()

    def _reset_window(self) -> None:
        rows = len(self._term_names) + 2
        self._pending = []
        self._w_count = 0
        self._w_sum = np.zeros(rows)
        self._w_sumsq = np.zeros(rows)
        self._w_min = np.full(rows, np.inf)
        self._w_max = np.full(rows, -np.inf)

    def _fold(self) -> None:
        if not self._pending:
            return
        block = np.concatenate(self._pending, axis=1)
        self._pending = []
        self._w_count += block.shape[1]
        self._w_sum += block.sum(axis=1)
        self._w_sumsq += np.einsum("ij,ij->i", block, block)
        np.minimum(self._w_min, block.min(axis=1), out=self._w_min)
        np.maximum(self._w_max, block.max(axis=1), out=self._w_max)
