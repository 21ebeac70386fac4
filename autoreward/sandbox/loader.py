"""Loading validated reward code into a callable, with restricted builtins.

`load_reward_fn` runs `validate_code` first and refuses anything it reports; only then is the
code executed, in a fresh module namespace whose `__builtins__` holds `SAFE_BUILTINS` and an
`__import__` that hands out numpy and math only. This is the second layer: it turns anything
the static rules missed into a NameError/ImportError. It is not a security boundary on its
own (CPython cannot be sandboxed in-process); untrusted code is loaded inside the isolated
worker (`worker.py`).
"""

from __future__ import annotations

import builtins
import importlib
import math
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from autoreward.errors import RewardCodeError
from autoreward.sandbox.validate import (
    ALLOWED_MODULES,
    SAFE_BUILTINS,
    Violation,
    validate_code,
    validate_expression,
)
from autoreward.types import RewardFn

REWARD_FILENAME = "<reward>"

for _lazy in ("numpy._core._methods", "numpy._core._internal", "numpy.linalg"):
    try:  # modules numpy imports on first use of array methods: loaded before reward code runs
        importlib.import_module(_lazy)
    except ImportError:
        pass
"""Filename of loaded reward code in tracebacks (the checker looks for it)."""


def _restricted_import(
    name: str,
    globals: Mapping[str, Any] | None = None,  # noqa: A002 (the __import__ signature)
    locals: Mapping[str, Any] | None = None,  # noqa: A002
    fromlist: Iterable[str] | None = (),
    level: int = 0,
) -> Any:
    if level == 0 and name.startswith("numpy._") and name in sys.modules:
        # numpy's own lazy imports (`x.max()` imports numpy._core._methods on first use)
        # run with the caller's builtins, i.e. these; what reward code itself may import is
        # decided by the static check.
        return sys.modules[name] if fromlist else sys.modules["numpy"]
    if level != 0 or name not in ALLOWED_MODULES:
        raise ImportError(f"only numpy and math may be imported in reward code, not '{name}'")
    module = importlib.import_module(name)
    return module if fromlist else importlib.import_module(name.split(".")[0])


_discard_print = types.FunctionType(
    compile("def print(*args, **kwargs):\n    return None", "<print>", "exec").co_consts[0],
    {"__builtins__": {}},
)
"""`print` in reward code is accepted and dropped (it would flood the worker's log). Its
globals hold nothing: a program that reached them would otherwise find the real builtins."""


def safe_builtins() -> dict[str, Any]:
    """A fresh builtins dict for reward code: `SAFE_BUILTINS`, numpy/math-only import."""
    table: dict[str, Any] = {n: getattr(builtins, n) for n in SAFE_BUILTINS if hasattr(builtins, n)}
    table["print"] = _discard_print
    table["__import__"] = _restricted_import
    return table


def _violations_error(what: str, violations: list[Violation]) -> RewardCodeError:
    listing = "\n".join(f"  - {v}" for v in violations)
    return RewardCodeError(
        f"{what} was rejected by the static check ({len(violations)} problem"
        f"{'s' if len(violations) != 1 else ''}):\n{listing}",
        hint="only numpy and math, no file/process/introspection APIs, no dunder names",
    )


def reject_invalid(src: str, entry: str = "compute_reward", what: str = "reward code") -> None:
    """Raise `RewardCodeError` listing every static violation of `src`; never executes it
    (what the parent process does with reward code: parse it, nothing more)."""
    violations = validate_code(src, entry)
    if violations:
        raise _violations_error(what, violations)


def load_reward_fn(src: str, entry: str = "compute_reward") -> RewardFn:
    """Validate `src` and return its `entry` function; raises `RewardCodeError` on any problem.

    The error lists every violation (line, construct, why), or the exception raised while the
    module body ran.
    """
    violations = validate_code(src, entry)
    if violations:
        raise _violations_error("reward code", violations)
    namespace: dict[str, Any] = {"__builtins__": safe_builtins(), "__name__": "reward_code"}
    try:
        code = compile(src, REWARD_FILENAME, "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 (validated above; runs inside the worker)
    except Exception as err:
        raise RewardCodeError(
            f"reward code failed while loading: {type(err).__name__}: {err}",
            hint="module level should only import numpy/math and define constants and functions",
        ) from err
    fn = namespace.get(entry)
    if not callable(fn):
        raise RewardCodeError(f"reward code defines no callable '{entry}'")
    return fn  # type: ignore[no-any-return]


ExpressionFn = Callable[..., Any]


def load_expression(expr: str, names: Iterable[str]) -> ExpressionFn:
    """Validate a single expression over `names` and compile it into `fn(**values)`.

    `np` and `math` are available inside the expression; builtins are the safe subset.
    """
    allowed = tuple(names)
    violations = validate_expression(expr, allowed)
    if violations:
        raise _violations_error(f"expression {expr!r}", violations)
    code = compile(expr.strip(), "<expression>", "eval", dont_inherit=True)
    scope = MappingProxyType({"__builtins__": safe_builtins(), "np": np, "numpy": np, "math": math})

    def evaluate(**values: Any) -> Any:
        unknown = set(values) - set(allowed)
        if unknown:
            raise TypeError(f"unexpected names {sorted(unknown)}; expected {list(allowed)}")
        return eval(code, dict(scope), values)  # noqa: S307 (validated above)

    return evaluate
