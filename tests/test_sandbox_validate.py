"""Static validation of reward code: every rule, with the message the LLM gets back."""

from __future__ import annotations

import pytest

from autoreward.sandbox.validate import (
    MAX_SOURCE_CHARS,
    Violation,
    validate_code,
    validate_expression,
)

GOOD = '''
"""Hop forward, stay upright, do not waste torque."""
import math
import numpy as np
from numpy import linalg as la
from numpy.linalg import norm

TARGET_Z = 1.25


def _upright(z):
    return np.exp(-np.square(z - TARGET_Z))


def compute_reward(state, action, next_state):
    fwd = np.clip(next_state["torso_vx"], -5.0, 5.0)
    up = _upright(next_state["torso_z"])
    ctrl = -1e-3 * np.sum(np.square(action), axis=-1)
    spread = la.norm(action, axis=-1) * 0.0 + norm(action, axis=-1) * 0.0
    cummax = np.maximum.accumulate(np.abs(action), axis=-1)[:, -1] * 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(up > 0, fwd / up, 0.0) * 0.0
    angle = math.pi * 0.0 + float(len(action)) * 0.0
    total = fwd + up + ctrl + spread + cummax + ratio + angle
    terms = {k: v for k, v in zip(["forward", "upright", "ctrl"], [fwd, up, ctrl])}
    return total, terms
'''


def _one(src: str) -> Violation:
    found = validate_code(src)
    assert len(found) == 1, found
    return found[0]


def _body(line: str) -> str:
    return f"import numpy as np\n\ndef compute_reward(state, action, next_state):\n    {line}\n"


def test_a_realistic_reward_passes() -> None:
    assert validate_code(GOOD) == []


@pytest.mark.parametrize(
    ("line", "construct", "why"),
    [
        ("import os", "import os", "only numpy and math"),
        ("import numpy.random as r", "import numpy.random", "only numpy and math"),
        ("from os import path", "from os import", "only numpy and math"),
        ("from . import x", "from . import", "only numpy and math"),
        ("from numpy import *", "from numpy import *", "explicitly"),
        ("from numpy import load", "from numpy import load", "file I/O"),
        ("x = open('/etc/passwd')", "name 'open'", "file access"),
        ("x = eval('1')", "name 'eval'", "dynamic code execution"),
        ("x = exec", "name 'exec'", "dynamic code execution"),
        ("x = compile", "name 'compile'", "dynamic code execution"),
        ("x = getattr(action, 'shape')", "name 'getattr'", "dynamic attribute access"),
        ("x = globals()", "name 'globals'", "namespace introspection"),
        ("x = vars()", "name 'vars'", "namespace introspection"),
        ("x = type(action)", "name 'type'", "isinstance"),
        ("x = breakpoint", "name 'breakpoint'", "interactive"),
        ("x = id(action)", "builtin 'id'", "not available"),
        ("x = __import__", "name '__import__'", "dunder names"),
        ("x = action.__class__", "attribute '.__class__'", "dunder attributes"),
        ("x = action._private", "attribute '._private'", "private"),
        ("x = np._core", "np._core", "private"),
        ("x = np.load('a.npy')", "np.load", "file I/O"),
        ("x = np.fromfile('a')", "np.fromfile", "file I/O"),
        ("x = np.lib.npyio", "np.lib.npyio", "file I/O"),
        ("x = np.memmap", "np.memmap", "file I/O"),
        ("x = np.DataSource", "np.DataSource", "file I/O"),
        ("x = np.ctypeslib.as_array", "np.ctypeslib.as_array", "ctypes"),
        ("x = np.testing", "np.testing", "tooling"),
        ("x = np.show_config()", "np.show_config", "tooling"),
        ("x = np.frompyfunc(abs, 1, 1)", "np.frompyfunc", "vectorised numpy"),
        ("x = np.random.rand(3)", "np.random.rand", "deterministic"),
        ("x = np.polynomial", "np.polynomial", "allow-list"),
        ("x = np.sqrt.types", "np.sqrt.types", "ufunc methods"),
        ("x = np", "module 'np' used as a value", "passed around"),
        ("x = np.linalg", "module 'np.linalg' used as a value", "passed around"),
        ("np = 3", "assignment to 'np'", "rebinding"),
        ("x = action.tofile('x')", "attribute '.tofile'", "file, process"),
        ("x = action.ctypes", "attribute '.ctypes'", "ctypes"),
        ("x = '{0}'.format(action)", "attribute '.format'", "f-string"),
        ("x = ['__subclasses__']", "string '__subclasses__'", "dunder names in strings"),
        ("x = (i for i in action).gi_frame", "attribute '.gi_frame'", "interpreter internals"),
        ("global T", "global", "mutable global state"),
        ("class A: pass", "class A", "classes are not needed"),
        ("yield action", "yield", "generators"),
        ("x = lambda __a: __a", "parameter '__a'", "dunder"),
        ("x = abs(x=1, __y=2)", "keyword '__y'", "dunder"),
    ],
)
def test_each_rule_names_line_construct_and_why(line: str, construct: str, why: str) -> None:
    found = validate_code(_body(line))
    assert found, f"expected a violation for {line!r}"
    v = found[0]
    assert v.line == 4
    assert construct in v.construct
    assert why in v.why
    assert str(v).startswith("line 4, col ")


def test_math_allow_list_and_unknown_math_name() -> None:
    ok = (
        "import math\ndef compute_reward(s, a, n):\n    return math.atan2(1.0, 2.0) + math.pi, {}\n"
    )
    assert validate_code(ok) == []
    v = _one("import math\ndef compute_reward(s, a, n):\n    return math.os, {}\n")
    assert v.construct == "math.os" and "not a math function" in v.why


def test_module_level_may_only_hold_imports_constants_and_functions() -> None:
    src = "import numpy as np\nwhile True:\n    pass\ndef compute_reward(s, a, n):\n    return 0, {}\n"
    v = _one(src)
    assert (v.line, v.construct) == (2, "module-level while loop")
    assert "inside the function" in v.why


def test_entry_must_exist_with_three_positional_parameters() -> None:
    v = _one("import numpy as np\ndef reward(s, a, n):\n    return 0, {}\n")
    assert v.construct == "missing compute_reward"
    v = _one("def compute_reward(state, action):\n    return 0, {}\n")
    assert "expected 3 positional parameters" in v.why and "got 2" in v.why
    v = _one("def compute_reward(*args):\n    return 0, {}\n")
    assert "plus *args" in v.why
    assert validate_code("def my_fn(a, b, c=None):\n    return 0, {}\n", entry="my_fn") == []


def test_async_entry_is_refused() -> None:
    found = validate_code("async def compute_reward(s, a, n):\n    return 0, {}\n")
    assert any("async" in v.why for v in found)


def test_syntax_errors_and_oversized_programs() -> None:
    v = _one("def compute_reward(s, a, n)\n    return 0\n")
    assert v.construct == "syntax error" and v.line == 1
    v = _one("x = 1\n" * (MAX_SOURCE_CHARS // 6 + 1))
    assert "character limit" in v.why
    v = _one("   \n")
    assert v.construct == "empty program"
    v = _one("x = " + "(" * 300 + ")" * 300 + "\ndef compute_reward(s, a, n):\n    return 0, {}\n")
    assert v.line == 1


def test_shadowing_a_module_through_a_parameter_does_not_unlock_it() -> None:
    src = "import numpy as np\ndef compute_reward(np, a, n):\n    return np.load('x'), {}\n"
    assert any(v.construct == "np.load" for v in validate_code(src))


def test_user_names_that_shadow_unsafe_builtins_are_fine() -> None:
    src = "def compute_reward(state, action, next_state):\n    id = 3\n    return id, {}\n"
    assert validate_code(src) == []


def test_validate_expression_checks_names_and_rules() -> None:
    names = {"state", "action", "next_state"}
    assert validate_expression("np.mean(next_state['x'] > 1.0) + math.pi", names) == []
    (v,) = validate_expression("next_state['x'] + foo", names)
    assert v.construct == "name 'foo'" and "available: action, next_state, state" in v.why
    (v,) = validate_expression("np.load('x')")
    assert v.construct == "np.load"
    (v,) = validate_expression("open('x')", names)
    assert v.construct == "name 'open'"
    (v,) = validate_expression("x = 1")
    assert v.construct == "syntax error"


# Byte-to-object routes (issue 17): each of these turns chosen bytes into object pointers, or
# reaches the raw memory that would let a program do so. One test per route and spelling.
_BYTES = "b'\\x00' * 8"


@pytest.mark.parametrize(
    ("line", "construct"),
    [
        (f"x = np.ndarray((1,), dtype='O', buffer={_BYTES})[0]", "np.ndarray"),
        (f"x = np.ndarray((1,), 'O', {_BYTES})", "np.ndarray"),
        ("f = np.ndarray", "np.ndarray"),
        ("x = np.zeros(1, dtype='O')", "dtype 'O'"),
        ("x = np.zeros(1, dtype='|O')", "dtype '|O'"),
        ("x = np.zeros(1, dtype='object')", "dtype 'object'"),
        ("x = np.zeros(1, dtype=object)", "dtype object"),
        ("x = np.zeros(1, dtype=np.object_)", "dtype np.object_"),
        ("x = np.zeros(1, dtype=np.dtype('O'))", "dtype np.dtype('O')"),
        ("x = np.dtype('O')", "dtype 'O'"),
        ("x = np.zeros(1, 'O')", "dtype 'O'"),
        ("x = np.array([1], 'O')", "dtype 'O'"),
        ("x = np.full(1, 0, 'O')", "dtype 'O'"),
        ("x = np.zeros(1, dtype=[('a', 'O')])", "dtype [('a', 'O')]"),
        ("x = np.zeros(1, dtype={'names': ['a'], 'formats': ['O']})", "dtype {"),
        ("d = 'O'\n    x = np.zeros(1, dtype=d)", "dtype d"),
        ("x = np.zeros(1, dtype='NO'[1])", "dtype 'NO'[1]"),
        ("x = action.astype('O')", "dtype 'O'"),
        ("x = action.astype(np.void)", "dtype np.void"),
        ("x = action.sum(0, 'O')", "dtype 'O'"),
        ("x = np.add.reduce(action, 0, 'O')", "dtype 'O'"),
        ("x = np.zeros(1, **{'dtype': 'O'})", "**arguments"),
        ("x = np.zeros(*[1, 'O'])", "*arguments"),
        (f"x = np.frombuffer({_BYTES}, dtype=np.int64)", "np.frombuffer"),
        ("x = np.fromiter([1], float)", "np.fromiter"),
        ("x = action.view(np.int64)", "attribute '.view'"),
        ("x = action.data", "attribute '.data'"),
        ("x = action.data.cast('B')", "attribute '.data'"),
        ("x = action.strides", "attribute '.strides'"),
        ("x = action.__array_interface__", "attribute '.__array_interface__'"),
        ("x = np.lib.stride_tricks.as_strided(action)", "np.lib.stride_tricks.as_strided"),
        ("x = np.asarray(action, like=action)", "keyword 'like='"),
        ("x = abs(1, buffer=action)", "keyword 'buffer='"),
        ("x = np.add(action, 1, signature='OO->O')", "keyword 'signature='"),
        ("x = np.object_", "np.object_"),
    ],
)
def test_byte_to_object_routes_are_refused(line: str, construct: str) -> None:
    src = _body(line)
    found = validate_code(src)
    assert any(construct in v.construct for v in found), found


def test_numpy_from_import_of_array_classes_is_refused() -> None:
    src = "from numpy import ndarray\n\ndef compute_reward(state, action, next_state):\n    return 0, {}\n"
    assert any("from numpy import ndarray" in v.construct for v in validate_code(src))


@pytest.mark.parametrize(
    "line",
    [
        "x = np.zeros(3, dtype=np.float32)",
        "x = np.zeros(3, 'float32')",
        "x = np.asarray(action, dtype=float)",
        "x = action.astype(np.float64)",
        "x = action.astype('<f8')",
        "x = np.zeros_like(action, dtype=action.dtype)",
        "x = isinstance(action, np.ndarray)",
        "x = isinstance(action, (np.ndarray, np.generic))",
        "x = np.issubdtype(action.dtype, np.floating)",
        "x = np.dtype('float32')",
        "x = np.sum(action, axis=0, dtype=np.float64)",
        "x = np.linspace(0, 1, 5, True, False, 'f8')",
    ],
)
def test_numeric_dtypes_and_isinstance_stay_allowed(line: str) -> None:
    assert validate_code(_body(line)) == []
