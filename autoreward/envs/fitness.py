"""Fitness: how trained policies are judged, separately from any generated reward.

A `FitnessSpec.expression` is a numpy expression over batched `state`, `action`,
`next_state` returning shape (N,). It is validated (only those names and `np`; no attribute
starting with an underscore; plus the sandbox's expression rules) and compiled with no
builtins. `FitnessTracker` evaluates it every vector step, aggregates per episode and turns
the finished episodes into one number.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema, FitnessSpec
from autoreward.errors import AutorewardError, RewardCodeError
from autoreward.types import State

FitnessFn = Callable[[State, np.ndarray, State], np.ndarray]
ALLOWED_NAMES = frozenset({"state", "action", "next_state", "np"})


def check_expression(expr: str) -> list[str]:
    """Problems with a fitness expression (empty list when it is acceptable)."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as err:
        return [f"syntax error at column {err.offset}: {err.msg}"]
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ALLOWED_NAMES:
            problems.append(
                f"column {node.col_offset}: name '{node.id}' is not allowed "
                f"(only {', '.join(sorted(ALLOWED_NAMES))})"
            )
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            problems.append(f"column {node.col_offset}: attribute '{node.attr}' is private")
        elif isinstance(node, (ast.Lambda, ast.NamedExpr)):
            problems.append(f"column {node.col_offset}: {type(node).__name__} is not allowed")
    problems.extend(_sandbox_violations(expr))
    return problems


def _sandbox_violations(expr: str) -> list[str]:
    try:
        from autoreward.sandbox.validate import validate_expression
    except ImportError:  # the sandbox room is optional for this check; ours above still runs
        return []
    return [str(v) for v in validate_expression(expr, names=ALLOWED_NAMES - {"np"})]


def compile_fitness(expr: str, context: str = "fitness") -> FitnessFn:
    """Validate and compile a fitness expression into fn(state, action, next_state) -> (N,)."""
    problems = check_expression(expr)
    if problems:
        raise RewardCodeError(
            f"{context}: invalid fitness expression '{expr}': " + "; ".join(problems),
            hint="use only numpy (np.) and the dicts state / action / next_state",
        )
    code = compile(ast.parse(expr.strip(), mode="eval"), f"<{context}>", "eval")
    scope: dict[str, Any] = {"__builtins__": {}, "np": np}

    def fitness(state: State, action: np.ndarray, next_state: State) -> np.ndarray:
        local = {"state": state, "action": action, "next_state": next_state}
        with np.errstate(all="ignore"):  # non-finite results are reported by the caller
            return np.asarray(eval(code, scope, local), dtype=np.float64)  # noqa: S307 (validated)

    return fitness


class FitnessTracker:
    """Per-episode aggregation of a fitness over a vector of N envs.

    Call `step` once per vector step with batched dicts and the done flags (terminated or
    truncated); finished episodes land in `episode_values`; `result()` is the fitness.
    """

    def __init__(self, schema_or_spec: EnvSchema | FitnessSpec) -> None:
        if isinstance(schema_or_spec, EnvSchema):
            self.spec = schema_or_spec.fitness
            context = f"{schema_or_spec.env_id} fitness"
        else:
            self.spec = schema_or_spec
            context = "fitness"
        self._context = context
        self._fn = compile_fitness(self.spec.expression, context)
        self._acc: np.ndarray | None = None
        self._count: np.ndarray | None = None
        self.episode_values: list[float] = []

    def values(self, state: State, action: np.ndarray, next_state: State) -> np.ndarray:
        """The per-step fitness values, checked to be finite with shape (N,)."""
        n = len(np.asarray(action))
        out = self._fn(state, action, next_state)
        if out.shape != (n,):
            raise RewardCodeError(
                f"{self._context}: expression returned shape {out.shape}, expected ({n},)"
            )
        if not np.all(np.isfinite(out)):
            raise RewardCodeError(f"{self._context}: expression returned non-finite values")
        return out

    def step(self, state: State, action: np.ndarray, next_state: State, dones: np.ndarray) -> None:
        v = self.values(state, action, next_state)
        if self._acc is None or self._count is None:
            self._acc = np.full(v.shape, _START[self.spec.aggregate])
            self._count = np.zeros(v.shape, dtype=np.int64)
        agg = self.spec.aggregate
        if agg in ("sum", "mean"):
            self._acc += v
        elif agg == "final":
            self._acc = v.copy()
        elif agg == "max":
            np.maximum(self._acc, v, out=self._acc)
        else:
            np.minimum(self._acc, v, out=self._acc)
        self._count += 1
        for i in np.flatnonzero(np.asarray(dones, dtype=bool)):
            value = self._acc[i] / self._count[i] if agg == "mean" else self._acc[i]
            self.episode_values.append(float(value))
            self._acc[i] = _START[agg]
            self._count[i] = 0

    def result(self) -> float:
        """Mean episode aggregate (score) or fraction of episodes >= threshold (success)."""
        if not self.episode_values:
            raise AutorewardError(
                f"{self._context}: no finished episodes to score",
                hint="evaluate for at least one full episode",
            )
        values = np.asarray(self.episode_values)
        if self.spec.kind == "success":
            return float(np.mean(values >= self.spec.threshold))
        return float(np.mean(values))


_START = {"sum": 0.0, "mean": 0.0, "final": 0.0, "max": -np.inf, "min": np.inf}


# =========================================================================== wording

VAGUE_PHRASES = (
    "nearly", "almost", "roughly", "approximately", "about", "around", "close to", "near",
    "still", "slowly", "quickly", "softly", "gently", "steady", "stable", "balanced", "upright",
    "level", "small", "little", "far", "reaches", "stays up", "on its back", "right side up",
    "on the pad", "on the track", "at rest", "in place",
)  # fmt: skip
"""Words that promise a threshold: a success description using one should give it in numbers."""
_NUMBER_WINDOW = 90


def vague_phrases(description: str) -> list[str]:
    """Vague success words in a fitness description with no number near them in the same
    sentence ("stays nearly still" needs "(|velocity| < 0.05 m/s)"; "within 0.3 rad of upright"
    has its number)."""
    text = " ".join(description.lower().split())
    found: list[str] = []
    for phrase in VAGUE_PHRASES:
        for m in re.finditer(r"\b" + re.escape(phrase) + r"\b", text):
            after = re.split(r"\.(?!\d)", text[m.end() : m.end() + _NUMBER_WINDOW])[0]
            before = re.split(r"\.(?!\d)", text[max(0, m.start() - 30) : m.start()])[-1]
            if not re.search(r"\d", after + before) and phrase not in found:
                found.append(phrase)
    return found
