"""A reward's named coefficients: the module-level `COEFFICIENTS` literal, read and rewritten
from the source text alone (pure `ast`, nothing executed).

The contract (shared with the designer prompt):

    COEFFICIENTS = {
        "forward": (1.0, 0.1, 5.0),   # name: (value, low, high)
        "ctrl": (0.001, 0.0, 0.01),
    }

and the reward reads a weight as `COEFFICIENTS[name][0]`. Keys are identifiers of at most
`MAX_NAME` characters, at most `MAX_ENTRIES` entries; each value is a tuple or list of three
numeric literals (a unary minus allowed) with `low <= value <= high` and `low < high`. The
mapping is optional: a reward without it is valid and simply cannot be tuned.

`rewrite_coefficients` replaces only the first number of each tuple, at the position the
parser found it, so comments, layout and the rest of the code stay byte for byte.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping

from pydantic import BaseModel

NAME = "COEFFICIENTS"
MAX_ENTRIES = 16
MAX_NAME = 40


class CoefficientError(ValueError):
    """A `COEFFICIENTS` literal that breaks the contract (the message says how)."""


class Coefficient(BaseModel):
    """One named weight and the range it may be tuned in."""

    name: str
    value: float
    low: float
    high: float


class _Found(BaseModel):
    coefficient: Coefficient
    line: int
    col: int
    end_line: int
    end_col: int
    """Where the value's literal is in the source (1-based lines, UTF-8 byte columns as `ast`)."""


def has_coefficients(src: str) -> bool:
    """Whether `src` assigns `COEFFICIENTS` at module level (well-formed or not)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return False
    return bool(_assignments(tree))


def parse_coefficients(src: str) -> list[Coefficient]:
    """The reward's coefficients in source order; empty when it declares none. A declaration
    that breaks the contract is a `CoefficientError` naming what was expected."""
    return [f.coefficient for f in _find(src)]


def rewrite_coefficients(src: str, values: Mapping[str, float]) -> str:
    """`src` with the first number of each named tuple replaced by `values[name]` (names not
    given keep their value). A value outside its declared range, an unknown name or a
    non-finite value is a `CoefficientError`."""
    found = {f.coefficient.name: f for f in _find(src)}
    unknown = sorted(set(values) - set(found))
    if unknown:
        raise CoefficientError(
            f"unknown coefficient(s) {', '.join(unknown)}; the reward declares "
            f"{', '.join(found) or 'none'}"
        )
    lines = src.splitlines(keepends=True)
    edits = []
    for name, value in values.items():
        f = found[name]
        c = f.coefficient
        value = float(value)
        if not math.isfinite(value) or not c.low <= value <= c.high:
            raise CoefficientError(
                f"coefficient {name!r}: expected a value in [{c.low:g}, {c.high:g}], got {value!r}"
            )
        text = format_value(value)
        if not c.low <= float(text) <= c.high:  # rounding crossed a bound: write it exactly
            text = repr(value)
        edits.append((f, text))
    for f, text in sorted(edits, key=lambda e: (e[0].line, e[0].col), reverse=True):
        _replace(lines, f, text)
    return "".join(lines)


def format_value(value: float) -> str:
    """A short float literal that reads back as the value to 6 significant digits."""
    return repr(float(f"{value:.6g}"))


# =========================================================================== parsing


def _assignments(tree: ast.Module) -> list[ast.Assign | ast.AnnAssign]:
    out: list[ast.Assign | ast.AnnAssign] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == NAME for t in stmt.targets):
                out.append(stmt)
        elif isinstance(stmt, ast.AnnAssign):
            if isinstance(stmt.target, ast.Name) and stmt.target.id == NAME:
                out.append(stmt)
    return out


def _find(src: str) -> list[_Found]:
    try:
        tree = ast.parse(src)
    except SyntaxError as err:
        raise CoefficientError(
            f"the reward does not parse: {err.msg} (line {err.lineno})"
        ) from None
    stmts = _assignments(tree)
    if not stmts:
        return []
    if len(stmts) > 1:
        lines = ", ".join(str(s.lineno) for s in stmts)
        raise CoefficientError(
            f"{NAME} is assigned {len(stmts)} times (lines {lines}); expected once"
        )
    stmt = stmts[0]
    if isinstance(stmt, ast.Assign) and len(stmt.targets) != 1:
        raise CoefficientError(f"line {stmt.lineno}: assign {NAME} on its own (`{NAME} = {{...}}`)")
    node = stmt.value
    if not isinstance(node, ast.Dict):
        got = "nothing" if node is None else type(node).__name__
        raise CoefficientError(
            f"line {stmt.lineno}: {NAME} must be a dict literal "
            f'{{"name": (value, low, high), ...}}, got {got}'
        )
    if len(node.keys) > MAX_ENTRIES:
        raise CoefficientError(
            f"{NAME} has {len(node.keys)} entries; at most {MAX_ENTRIES} may be tuned"
        )
    found: list[_Found] = []
    seen: set[str] = set()
    for key, value in zip(node.keys, node.values, strict=True):
        name = _key(key, stmt.lineno)
        if name in seen:
            raise CoefficientError(f"{NAME}: {name!r} appears twice")
        seen.add(name)
        found.append(_entry(name, value))
    return found


def _key(key: ast.expr | None, line: int) -> str:
    if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
        where = getattr(key, "lineno", line)
        raise CoefficientError(f"line {where}: {NAME} keys must be string literals, got "
                               f"{'**' if key is None else ast.unparse(key)}")  # fmt: skip
    name = key.value
    if not name.isidentifier() or len(name) > MAX_NAME:
        raise CoefficientError(
            f"{NAME} key {name!r}: expected an identifier of at most {MAX_NAME} characters"
        )
    return name


def _entry(name: str, node: ast.expr) -> _Found:
    shape = f"{NAME}[{name!r}]: expected (value, low, high) as three numbers"
    if not isinstance(node, (ast.Tuple, ast.List)) or len(node.elts) != 3:
        raise CoefficientError(f"{shape}, got {ast.unparse(node)}")
    value, low, high = (_number(e, shape) for e in node.elts)
    if not low < high:
        raise CoefficientError(
            f"{NAME}[{name!r}]: expected low < high, got low {low:g}, high {high:g}"
        )
    if not low <= value <= high:
        raise CoefficientError(
            f"{NAME}[{name!r}]: expected low <= value <= high, got {value:g} outside "
            f"[{low:g}, {high:g}]"
        )
    first = node.elts[0]
    assert first.end_lineno is not None and first.end_col_offset is not None
    return _Found(
        coefficient=Coefficient(name=name, value=value, low=low, high=high),
        line=first.lineno, col=first.col_offset,
        end_line=first.end_lineno, end_col=first.end_col_offset,
    )  # fmt: skip


def _number(node: ast.expr, shape: str) -> float:
    sign = 1.0
    inner = node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        inner = node.operand
    if (
        not isinstance(inner, ast.Constant)
        or isinstance(inner.value, bool)
        or not isinstance(inner.value, (int, float))
    ):
        raise CoefficientError(f"{shape} (numeric literals), got {ast.unparse(node)}")
    number = sign * float(inner.value)
    if not math.isfinite(number):
        raise CoefficientError(f"{shape} (finite), got {ast.unparse(node)}")
    return number


def _replace(lines: list[str], f: _Found, text: str) -> None:
    """Replace the span of `f` (byte columns, as `ast` reports them) with `text`."""
    first = lines[f.line - 1].encode("utf-8")
    last = lines[f.end_line - 1].encode("utf-8")
    joined = first[: f.col] + text.encode("utf-8") + last[f.end_col :]
    lines[f.line - 1 : f.end_line] = [joined.decode("utf-8")]
