"""A task fitness given by the user in place of the schema's (a suite task, a run YAML's
`fitness:` block, or `--fitness` on the command line), and the checks it gets before any work:
the expression rules of `fitness.py`, and that every `state["..."]` it reads is a field of
the env's schema.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from typing import Any

from pydantic import ValidationError

from autoreward.envs.schema import EnvSchema, FitnessSpec
from autoreward.errors import ConfigError

OPTION_OF = {
    "expression": "--fitness",
    "kind": "--fitness-kind",
    "aggregate": "--fitness-aggregate",
    "threshold": "--fitness-threshold",
    "description": "--fitness-description",
}


def fitness_from_options(
    parts: dict[str, Any], base: FitnessSpec | None, *, default_description: str | None = None
) -> FitnessSpec | None:
    """The fitness the command-line options describe. `parts` holds the options given
    (keys of OPTION_OF); with `--fitness` they make a new fitness (kind `score`, aggregate
    `sum` unless given), without it they change `base` (the config's or the schema's).
    `default_description` fills a missing description (None: it is required)."""
    if not parts:
        return base
    if "expression" in parts:
        data: dict[str, Any] = {"kind": "score", "aggregate": "sum", **parts}
    elif base is not None:
        data = {**base.model_dump(), **parts}
    else:
        raise ConfigError(
            f"{', '.join(OPTION_OF[k] for k in parts)} without --fitness: there is no fitness to change"
        )
    if not data.get("description"):
        if default_description is None:
            raise ConfigError(
                "--fitness needs --fitness-description: the designer reads that text (never the "
                "expression) to learn how success is judged",
                hint='e.g. --fitness-description "distance travelled forward, in metres"',
            )
        data["description"] = default_description
    try:
        return FitnessSpec.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = [str(p) for p in e["loc"]]
            msg = str(e["msg"]).removeprefix("Value error, ")
            if "threshold" in msg:  # the model-level rule: success needs a threshold
                loc = ["threshold"]
            option = OPTION_OF.get(loc[0], loc[0]) if loc else "--fitness"
            problems.append(f"{option}: {msg}")
        raise ConfigError("; ".join(problems)) from err


def fitness_field_refs(expression: str) -> list[tuple[str, str]]:
    """The `(dict, key)` pairs an expression reads, e.g. `("next_state", "x_velocity")`."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return []
    refs: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("state", "next_state")
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            ref = (node.value.id, node.slice.value)
            if ref not in refs:
                refs.append(ref)
    return refs


def unknown_field_problems(spec: FitnessSpec, schema: EnvSchema) -> list[str]:
    """State fields the fitness reads that the env's schema does not have."""
    available = [f.name for f in schema.fields]
    problems = []
    for dict_name, key in fitness_field_refs(spec.expression):
        if key not in available:
            close = difflib.get_close_matches(key, available, n=1)
            maybe = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                f"fitness reads {dict_name}[\"{key}\"] but {schema.env_id} has no field '{key}'{maybe}; "
                f"available: {', '.join(available)}"
            )
    return problems


def check_custom_fitness(spec: FitnessSpec, schema: EnvSchema, context: str) -> None:
    """Raise one clear error for a fitness that breaks the expression rules or reads fields
    the env does not have."""
    from autoreward.envs.fitness import compile_fitness

    compile_fitness(spec.expression, context)
    problems = unknown_field_problems(spec, schema)
    if problems:
        raise ConfigError(f"{context}: " + "; ".join(problems))


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _literal_number(node: ast.expr) -> float | None:
    """The value of a numeric literal (unary minus allowed), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _literal_number(node.operand)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return None if isinstance(node.value, bool) else float(node.value)
    return None


def expression_thresholds(expression: str) -> list[float]:
    """The numbers the expression compares against (`x < 0.5`, `0.45 <= p`), in order of
    appearance, without repeats; 0 is left out (a sign test needs no number in words)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return []
    located: list[tuple[int, int, float]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                value = _literal_number(side)
                if value is not None and value != 0.0:
                    located.append((side.lineno, side.col_offset, value))
    found: list[float] = []
    for _, _, value in sorted(located):
        if value not in found:
            found.append(value)
    return found


def _mentions(text: str, value: float) -> bool:
    for m in _NUMBER.finditer(text):
        try:
            number = float(m.group(0))
        except ValueError:
            continue
        if math.isclose(abs(number), abs(value), rel_tol=1e-9, abs_tol=1e-12):
            return True
    return False


def undescribed_thresholds(spec: FitnessSpec) -> list[str]:
    """Warnings for thresholds the fitness uses that its description never states: the
    designer reads only the description ("joints nearly still" for
    `norm(joint_velocities) < 0.5` leaves it guessing what "nearly" means)."""
    return [
        f"the fitness description does not state {value:g}, a threshold its expression "
        f"compares against: the designer reads only the description, so write the number in "
        f"it (with its unit) or the reward will guess where the boundary is"
        for value in expression_thresholds(spec.expression)
        if not _mentions(spec.description, value)
    ]
