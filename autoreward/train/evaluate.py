"""Deterministic evaluation of a trained policy on the task fitness (never the generated reward).

All M episodes run side by side, one batched `model.predict` per step over the episodes still
running; each episode is seeded (`seed + k`) so evaluations are reproducible. The schema's
state is recorded per step, so the fitness (and, when given, the generated reward) is
computed afterwards over the whole episode in one batched call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from autoreward.envs.extract import STATE_KEY, make_env, stack_states
from autoreward.envs.fitness import FitnessTracker
from autoreward.envs.schema import EnvSchema
from autoreward.types import RewardFn, State

EVAL_SEED_OFFSET = 100_000
"""Evaluation episodes are seeded away from the training envs' seeds."""


@dataclass
class EpisodeTrace:
    """One evaluation episode, step by step: states s_0..s_T, actions a_0..a_{T-1}."""

    seed: int
    states: State
    actions: np.ndarray
    env_rewards: np.ndarray
    terminated: bool
    truncated: bool
    fitness_steps: np.ndarray | None = None
    generated: np.ndarray | None = None
    terms: dict[str, np.ndarray] | None = None

    @property
    def length(self) -> int:
        return len(self.actions)

    def transitions(self) -> tuple[State, np.ndarray, State]:
        """(state, action, next_state) batched over the episode's T steps."""
        return (
            {k: v[:-1] for k, v in self.states.items()},
            self.actions,
            {k: v[1:] for k, v in self.states.items()},
        )


class EpisodeEval(BaseModel):
    index: int
    seed: int
    fitness_value: float = Field(description="The episode's aggregated fitness value.")
    success: bool | None = Field(
        default=None, description="For a success fitness: value >= threshold."
    )
    env_return: float
    generated_return: float | None = None
    length: int
    ended_by: Literal["terminated", "truncated"]


class EvalResult(BaseModel):
    """The task fitness of a policy over M deterministic episodes, plus what happened in them."""

    fitness: float
    fitness_kind: Literal["score", "success"]
    threshold: float | None = None
    episodes: list[EpisodeEval]
    env_return_mean: float
    env_return_std: float
    generated_return_mean: float | None = None
    length_mean: float
    terminated: int = Field(description="Episodes that ended by termination (e.g. fell).")
    truncated: int = Field(description="Episodes that ran into the time limit.")


def aggregate(values: np.ndarray, how: str) -> float:
    """One episode's fitness from its per-step values (the schema's `aggregate`)."""
    if how == "sum":
        return float(values.sum())
    if how == "mean":
        return float(values.mean())
    if how == "final":
        return float(values[-1])
    if how == "max":
        return float(values.max())
    if how == "min":
        return float(values.min())
    raise ValueError(f"unknown fitness aggregate '{how}'")


def run_episodes(
    model: Any,
    schema: EnvSchema,
    episodes: int,
    seed: int,
    obs_normalizer: Any | None = None,
    deterministic: bool = True,
) -> list[EpisodeTrace]:
    """Roll out `episodes` seeded episodes of `model` side by side and record them."""
    envs = [make_env(schema, seed=seed + k) for k in range(episodes)]
    obs: list[Any] = []
    states: list[list[dict[str, Any]]] = []
    actions: list[list[np.ndarray]] = [[] for _ in envs]
    rewards: list[list[float]] = [[] for _ in envs]
    ends: list[tuple[bool, bool]] = [(False, False)] * episodes
    try:
        for k, env in enumerate(envs):
            o, info = env.reset(seed=seed + k)
            obs.append(o)
            states.append([info[STATE_KEY]])
        active = list(range(episodes))
        while active:
            batch = _batch_obs([obs[k] for k in active])
            if obs_normalizer is not None:
                batch = obs_normalizer.normalize_obs(batch)
            acts, _ = model.predict(batch, deterministic=deterministic)
            still = []
            for j, k in enumerate(active):
                action = acts[j]
                o, r, terminated, truncated, info = envs[k].step(action)
                obs[k] = o
                states[k].append(info[STATE_KEY])
                actions[k].append(np.asarray(action))
                rewards[k].append(float(r))
                if terminated or truncated:
                    ends[k] = (bool(terminated), bool(truncated))
                else:
                    still.append(k)
            active = still
    finally:
        for env in envs:
            env.close()
    return [
        EpisodeTrace(
            seed=seed + k,
            states=stack_states(states[k]),
            actions=np.stack(actions[k]),
            env_rewards=np.asarray(rewards[k]),
            terminated=ends[k][0],
            truncated=ends[k][1] and not ends[k][0],
        )
        for k in range(episodes)
    ]


def score_traces(
    traces: list[EpisodeTrace], schema: EnvSchema, reward_fn: RewardFn | None = None
) -> EvalResult:
    """Fill in each trace's fitness (and generated reward) and summarise the evaluation."""
    tracker = FitnessTracker(schema)
    spec = tracker.spec
    rows: list[EpisodeEval] = []
    for k, trace in enumerate(traces):
        s, a, s2 = trace.transitions()
        trace.fitness_steps = tracker.values(s, a, s2)
        value = aggregate(trace.fitness_steps, spec.aggregate)
        tracker.episode_values.append(value)
        generated = None
        if reward_fn is not None:
            total, terms = reward_fn(s, a, s2)
            trace.generated = np.asarray(total, dtype=np.float64)
            trace.terms = {name: np.asarray(v, dtype=np.float64) for name, v in terms.items()}
            generated = float(trace.generated.sum())
        rows.append(
            EpisodeEval(
                index=k,
                seed=trace.seed,
                fitness_value=value,
                success=None if spec.kind != "success" else bool(value >= spec.threshold),  # type: ignore[operator]
                env_return=float(trace.env_rewards.sum()),
                generated_return=generated,
                length=trace.length,
                ended_by="terminated" if trace.terminated else "truncated",
            )
        )
    env_returns = np.array([r.env_return for r in rows])
    gen = [r.generated_return for r in rows if r.generated_return is not None]
    return EvalResult(
        fitness=tracker.result(),
        fitness_kind=spec.kind,
        threshold=spec.threshold,
        episodes=rows,
        env_return_mean=float(env_returns.mean()),
        env_return_std=float(env_returns.std()),
        generated_return_mean=float(np.mean(gen)) if gen else None,
        length_mean=float(np.mean([r.length for r in rows])),
        terminated=sum(r.ended_by == "terminated" for r in rows),
        truncated=sum(r.ended_by == "truncated" for r in rows),
    )


def evaluate_policy(
    model: Any,
    schema: EnvSchema,
    episodes: int,
    seed: int = 0,
    obs_normalizer: Any | None = None,
    reward_fn: RewardFn | None = None,
) -> tuple[EvalResult, list[EpisodeTrace]]:
    """Evaluate `model` over `episodes` seeded episodes on the task fitness (deterministic
    actions unless the schema's `train.deterministic_eval` is false)."""
    traces = run_episodes(
        model, schema, episodes, seed + EVAL_SEED_OFFSET, obs_normalizer,
        deterministic=schema.train.deterministic_eval,
    )  # fmt: skip
    return score_traces(traces, schema, reward_fn), traces


def _batch_obs(obs: list[Any]) -> Any:
    if isinstance(obs[0], dict):
        return {key: np.stack([o[key] for o in obs]) for key in obs[0]}
    return np.stack(obs)
