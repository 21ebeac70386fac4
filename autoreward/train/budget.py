"""The step budget against PPO/A2C's rollout size (and off-policy warm-up).

SB3's on-policy algorithms always collect whole rollouts of `n_steps × n_envs` steps, so
`learn(2048)` with PPO's default `n_steps=2048` on 4 envs trains 8192 steps. `fit_rollout`
decides what happens instead, once per run and before any job, so every job of a run (the
first rung of successive halving, its continuation, the final seeds) uses the same rollout:

- a rollout larger than the smallest budget a job gets is shrunk to fit it: `n_steps` becomes
  the largest value with `n_steps × n_envs <= budget` whose rollout `batch_size` divides (or,
  when no such value is left, `batch_size` shrinks to the whole rollout);
- a rollout that fits is kept; the steps it overshoots a budget by (less than one rollout)
  are stated, not hidden;
- an off-policy `learning_starts` at or above the budget is stated (no gradient step).

The `note` is what the command line, `train.json` and the run summary say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

# stable-baselines3's defaults, for budgets whose hyperparameters leave them out.
_SB3_N_STEPS = {"PPO": 2048, "A2C": 5}
_SB3_BATCH = {"PPO": 64}
_SB3_LEARNING_STARTS = {"SAC": 100, "TD3": 100, "DQN": 100}


class RolloutFit(BaseModel):
    """How a budget meets the algorithm's rollout; recorded in `train.json` as `budget`."""

    algo: str
    n_envs: int
    budget: int
    n_steps: int | None = None
    batch_size: int | None = None
    rollout: int | None = None
    shrunk_from: dict[str, int] = {}
    note: str = ""

    @property
    def notable(self) -> bool:
        """Something to tell the user: a shrunk rollout, an overshoot, a warm-up too long."""
        return (
            bool(self.shrunk_from)
            or self.trained_steps() != self.budget
            or (not self.rollout and bool(self.note))
        )

    def trained_steps(self, budget: int | None = None) -> int:
        """Steps SB3 will train for `budget` (default: the fitted one): whole rollouts."""
        want = self.budget if budget is None else budget
        if not self.rollout:
            return want
        return math.ceil(want / self.rollout) * self.rollout


def fit_rollout(
    algo: str, hyperparams: Mapping[str, Any], n_envs: int, budget: int, label: str = ""
) -> tuple[dict[str, Any], RolloutFit]:
    """`(hyperparams with n_steps/batch_size fitted, what was done)` for the smallest `budget`
    any job of the run trains (e.g. the first rung of successive halving, named by `label`)."""
    algo = algo.upper()
    params = dict(hyperparams)
    shrunk: dict[str, int] = {}
    if algo in _SB3_N_STEPS:
        n_steps = int(params.get("n_steps", _SB3_N_STEPS[algo]))
        batch = params.get("batch_size", _SB3_BATCH.get(algo))
        if n_steps * n_envs > budget:
            new_steps, new_batch = _shrink(n_steps, batch, n_envs, budget)
            shrunk["n_steps"] = n_steps
            if new_batch != batch and batch is not None:
                shrunk["batch_size"] = int(batch)
                params["batch_size"] = new_batch
            params["n_steps"] = new_steps
    fit = describe_rollout(algo, params, n_envs, budget)
    if shrunk:
        fit.shrunk_from = shrunk
        fit.note = _rollout_note(fit, label)
    return params, fit


def describe_rollout(
    algo: str, hyperparams: Mapping[str, Any], n_envs: int, budget: int
) -> RolloutFit:
    """How `budget` meets the rollout of these hyperparameters, changing nothing."""
    algo = algo.upper()
    fit = RolloutFit(algo=algo, n_envs=n_envs, budget=budget)
    if algo in _SB3_N_STEPS:
        fit.n_steps = int(hyperparams.get("n_steps", _SB3_N_STEPS[algo]))
        batch = hyperparams.get("batch_size", _SB3_BATCH.get(algo))
        fit.batch_size = None if batch is None else int(batch)
        fit.rollout = fit.n_steps * n_envs
        fit.note = _rollout_note(fit)
    elif algo in _SB3_LEARNING_STARTS:
        starts = int(hyperparams.get("learning_starts", _SB3_LEARNING_STARTS[algo]))
        if starts >= budget:
            fit.note = (f"{algo} learning_starts={starts:,} is not below the budget of "
                        f"{budget:,} steps: no gradient step will be taken")  # fmt: skip
    return fit


# Fewer rollouts than this at the first halving rung and its ranking is mostly noise.
MIN_RUNG_ROLLOUTS = 4


def rung_note(fit: RolloutFit) -> str:
    """A warning when the first halving rung (`fit.budget`) holds only a few rollouts, each one
    policy update: candidates are then ranked on nearly untrained policies. Empty otherwise."""
    if not fit.rollout:
        return ""
    k = fit.trained_steps() // fit.rollout
    if k >= MIN_RUNG_ROLLOUTS:
        return ""
    what = "1 rollout, one policy update" if k == 1 else f"{k} rollouts, {k} policy updates"
    shape = f"{fit.rollout:,} steps ({fit.n_envs} envs × n_steps {fit.n_steps})"
    return (f"the first halving rung ({fit.trained_steps():,} steps) trains {what} of {shape}: "
            "its ranking is mostly noise; more --steps or a smaller n_steps "
            "(--hyperparams n_steps=...) gives it more")  # fmt: skip


def _shrink(n_steps: int, batch: Any, n_envs: int, budget: int) -> tuple[int, int | None]:
    most = max(budget // n_envs, 2 if n_envs == 1 else 1)  # PPO needs a rollout of 2 or more
    if batch is None:
        return most, None
    batch = int(batch)
    for steps in range(most, 0, -1):
        if (steps * n_envs) % batch == 0:
            return steps, batch
    return most, most * n_envs  # the rollout is smaller than one minibatch: one minibatch


def _rollout_note(fit: RolloutFit, label: str = "") -> str:
    shape = f"rollouts of {fit.rollout:,} steps ({fit.n_envs} envs × n_steps {fit.n_steps})"
    if fit.shrunk_from:
        was = ", ".join(f"{k} {v}" for k, v in fit.shrunk_from.items())
        now = f"n_steps {fit.n_steps}" + (
            f", batch_size {fit.batch_size}" if "batch_size" in fit.shrunk_from else ""
        )
        budget = label or f"the budget of {fit.budget:,} steps"
        return f"{fit.algo} {shape}: {was} shrunk to {now} so one rollout fits {budget}"
    over = fit.trained_steps() - fit.budget
    if over:
        return (f"{fit.algo} trains whole {shape}: {fit.trained_steps():,} steps for a budget "
                f"of {fit.budget:,} (+{over:,})")  # fmt: skip
    return f"{fit.algo} {shape}"
