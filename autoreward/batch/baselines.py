"""What a task's fitness is measured against: a uniformly random policy, and the normalized
score of our reward between random and a policy trained on the env's own reward."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema

# =========================================================================== scoring


def normalized_score(
    ours: float | None, baseline: float | None, random: float | None, rel_tol: float = 1e-6
) -> tuple[float | None, str]:
    """Human-normalized score `(ours - random) / (baseline - random)`, and a note.

    0 is a random policy, 1 is the env's own reward trained with the same budget. It is None
    (with the reason in the note) when a number is missing or when the baseline does not beat
    random: a denominator of about 0 has no scale, and a negative one would flip the sign.
    """
    if ours is None:
        return None, "no fitness for our reward"
    if baseline is None:
        return None, "no env-reward baseline"
    if random is None:
        return None, "no random-policy fitness"
    gap = baseline - random
    if abs(gap) <= rel_tol * max(1.0, abs(baseline), abs(random)):
        return None, "env-reward baseline scores the same as random: no scale to normalize by"
    if gap < 0:
        return (
            None,
            "env-reward baseline scores below random on this fitness: normalization undefined",
        )
    return (ours - random) / gap, ""


class _RandomPolicy:
    """Uniform random actions with `predict`'s signature (for `run_episodes`)."""

    def __init__(self, space: Any, seed: int) -> None:
        self.space = space
        self.space.seed(seed)

    def predict(self, obs: Any, deterministic: bool = True) -> tuple[np.ndarray, None]:
        n = len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
        return np.stack([np.asarray(self.space.sample()) for _ in range(n)]), None


def random_policy_fitness(schema: EnvSchema, episodes: int = 10, seed: int = 0) -> dict[str, Any]:
    """The fitness of a uniformly random policy over `episodes` seeded episodes, in-process
    (env stepping and the validated fitness expression only; no training, no reward code)."""
    from autoreward.envs.extract import make_env
    from autoreward.train.evaluate import EVAL_SEED_OFFSET, run_episodes, score_traces

    probe = make_env(schema)
    space = probe.action_space
    probe.close()
    traces = run_episodes(_RandomPolicy(space, seed), schema, episodes, seed + EVAL_SEED_OFFSET)
    ev = score_traces(traces, schema)
    return {
        "fitness": ev.fitness,
        "fitness_kind": ev.fitness_kind,
        "episodes": episodes,
        "seed": seed,
        "env_return_mean": ev.env_return_mean,
        "length_mean": ev.length_mean,
        "expression": schema.fitness.expression,
        "aggregate": schema.fitness.aggregate,
    }
