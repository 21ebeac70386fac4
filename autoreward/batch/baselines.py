"""What a task's fitness is measured against, and the normalized scores that name them:

- a uniformly random policy (the normalization's 0);
- a policy trained on the env's own reward with the task's budget (`env`);
- a policy trained on the task fitness itself used as a sparse reward, same budget (`sparse`):
  the baseline a user tries next when the env's reward asks for something else — for a novel
  goal the env-reward baseline often scores like random, which leaves its normalized score
  undefined. `sparse_fitness_reward` writes that reward as a plain reward module, so it trains
  through the normal `TrainJob(reward_code=...)` path (sandboxed like any candidate).
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema

BASELINES = {"env": "env-reward baseline", "sparse": "sparse-fitness baseline"}
# A baseline whose fitness is closer to random than this fraction of the fitness scale (the
# largest of ours, the baseline and random, in absolute value) is degenerate: dividing by that
# gap measures noise (a sparse baseline of 0.0007 against random 0.0 once gave a score of 145).
DEGENERATE_FRACTION = 0.02

# =========================================================================== scoring


def normalized_score(
    ours: float | None,
    baseline: float | None,
    random: float | None,
    rel_tol: float = 1e-6,
    name: str = "env-reward baseline",
) -> tuple[float | None, str]:
    """Human-normalized score `(ours - random) / (baseline - random)`, and a note.

    0 is a random policy, 1 is the baseline (`name`) trained with the same budget. It is None
    (with the reason in the note) when a number is missing or when the baseline does not beat
    random: a denominator of about 0 has no scale, one within noise of random (a gap under
    `DEGENERATE_FRACTION` of the fitness scale) flags the baseline as degenerate, and a
    negative one would flip the sign.
    """
    if ours is None:
        return None, "no fitness for our reward"
    if baseline is None:
        return None, f"no {name}"
    if random is None:
        return None, "no random-policy fitness"
    gap = baseline - random
    if abs(gap) <= rel_tol * max(1.0, abs(baseline), abs(random)):
        return None, f"{name} scores the same as random: no scale to normalize by"
    scale = max(abs(ours), abs(baseline), abs(random))
    if abs(gap) < DEGENERATE_FRACTION * scale:
        return None, (
            f"{name} is degenerate: {baseline:.4g} is within noise of random ({random:.4g}; a gap "
            f"under {DEGENERATE_FRACTION:.0%} of the fitness scale {scale:.4g}), so a ratio "
            "against it would be meaningless"
        )
    if gap < 0:
        return None, f"{name} scores below random on this fitness: normalization undefined"
    return (ours - random) / gap, ""


# =========================================================================== sparse fitness


_SPARSE_MODULE = """# The task fitness used as a sparse reward (the batch's sparse-fitness baseline).
# {rule}
import numpy as np


def compute_reward(state, action, next_state):
    n = len(action)
    value = np.broadcast_to(np.asarray({now}, dtype=np.float64), (n,))
{body}    return reward, {{"fitness": reward}}
"""


def sparse_fitness_reward(schema: EnvSchema) -> tuple[str | None, str]:
    """The reward module that pays the task fitness itself, and the rule it follows (or None
    and the reason when the fitness reads fields reward code never sees).

    Per kind and aggregate, a return whose maximisation maximises the fitness:
    - `sum`: the per-step value times the episode length — the fitness an episode would score
      if every step were like this one, so rewards are in the fitness's own units per step (the
      return is the fitness times a constant; for `success`, the sum the threshold applies to);
    - `final` (an expression of `next_state` only): the change of the value over the step,
      `f(next_state) - f(state)`, whose sum is the final value minus the initial one; for
      `success`, the change of the indicator `f >= threshold`;
    - `max` / `min` with a threshold (`success`): 1 for each step at or above the threshold
      (reaching it, or staying there);
    - otherwise (`mean`, a `score` max/min, a `final` that reads `state` or `action`): the
      per-step value (the time average the fitness reports, or its closest per-step proxy).

    A constant factor leaves the best policy as it is; it is chosen so that rewards are of the
    fitness's own scale per step (reward scale matters to PPO's value function and to SAC's
    entropy trade-off). Indicators are 0 or 1.
    """
    spec = schema.fitness
    keys = _state_keys(spec.expression)
    hidden = sorted(k for k in keys if _is_hidden(schema, k))
    if hidden:
        return None, (f"the fitness reads {', '.join(hidden)}, which reward code never sees (the "
                      "sparse-fitness baseline would be the env-reward baseline)")  # fmt: skip
    expr = " ".join(spec.expression.split())
    thr = spec.threshold
    length = schema.episode_length
    body, rule = "    reward = value.copy()\n", "per-step value (time average as a per-step proxy)"
    if spec.aggregate == "sum" and length:
        body = f"    reward = {float(length)!r} * value\n"
        rule = f"{length} x per-step value (the episode sum, times the episode length)"
    elif spec.aggregate == "final" and _names(spec.expression) <= {
        "next_state",
        "np",
        "numpy",
        "math",
    }:
        before = _on_state(spec.expression)
        body = f"    before = np.broadcast_to(np.asarray({before}, dtype=np.float64), (n,))\n"
        if spec.kind == "success" and thr is not None:
            body += f"    reward = (value >= {thr!r}).astype(np.float64) - (before >= {thr!r}).astype(np.float64)\n"
            rule = f"change of the success indicator (value >= {thr:g}) over each step"
        else:
            body += "    reward = value - before\n"
            rule = "change of the value over each step (sums to final minus initial value)"
    elif spec.aggregate in ("max", "min") and spec.kind == "success" and thr is not None:
        body = f"    reward = (value >= {thr!r}).astype(np.float64)\n"
        rule = f"1 per step with value >= {thr:g}"
    return _SPARSE_MODULE.format(
        rule=f"{spec.kind}/{spec.aggregate}: {rule}", now=expr, body=body
    ), rule


def _state_keys(expr: str) -> set[str]:
    tree = ast.parse(expr.strip(), mode="eval")
    return {
        n.slice.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)
        and n.value.id in ("state", "next_state") and isinstance(n.slice, ast.Constant)
        and isinstance(n.slice.value, str)
    }  # fmt: skip


def _names(expr: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(expr.strip(), mode="eval")) if isinstance(n, ast.Name)}


def _on_state(expr: str) -> str:
    """The expression with `next_state` read from `state` (the value before the step)."""

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.Name(id="state", ctx=node.ctx) if node.id == "next_state" else node

    return ast.unparse(Rename().visit(ast.parse(expr.strip(), mode="eval")))


def _is_hidden(schema: EnvSchema, key: str) -> bool:
    try:
        return schema.field(key).hidden
    except KeyError:
        return False


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
