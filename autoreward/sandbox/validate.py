"""Static (AST) validation of untrusted reward code and fitness expressions.

Nothing here executes the code: it is parsed with `ast` and walked once. The rules, each
reported as a `Violation(line, col, construct, why)` the LLM can act on:

- imports: only `numpy` (and `numpy.linalg`) and `math`, absolute, no `*`;
- attribute chains rooted at a numpy/math module name are checked against an allow-list of
  pure array/math functions (no file I/O, ctypes, process or test helpers); the module
  object itself may not be passed around or rebound, so the allow-list cannot be sidestepped;
- any other attribute: nothing starting with `_`, and a deny-list of escape routes
  (`format`, frame/generator internals, `tofile`, `ctypes`, ...);
- no dunder names or dunder strings anywhere, no dangerous builtins (`open`, `exec`,
  `eval`, `getattr`, `type`, ...); builtins outside `SAFE_BUILTINS` are reported statically
  rather than failing later with a NameError;
- no classes, `global`/`nonlocal`, `async`, generators (`yield`); module level holds only
  imports, constants and function definitions;
- the entry function exists at module level and takes exactly 3 positional parameters.

The loader (`loader.py`) backs these rules at run time with restricted builtins, and the
worker (`worker.py`) contains whatever gets past both.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SOURCE_CHARS = 20_000

ALLOWED_MODULES = {"numpy": ("numpy",), "numpy.linalg": ("numpy", "linalg"), "math": ("math",)}

SAFE_BUILTINS: frozenset[str] = frozenset(
    {
        "abs", "all", "any", "bool", "complex", "dict", "divmod", "enumerate", "filter",
        "float", "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "next",
        "pow", "print", "range", "reversed", "round", "set", "slice", "sorted", "str", "sum",
        "tuple", "zip", "True", "False", "None", "Ellipsis", "NotImplemented",
        "ArithmeticError", "AssertionError", "Exception", "FloatingPointError", "IndexError",
        "KeyError", "LookupError", "NotImplementedError", "OverflowError", "RuntimeError",
        "StopIteration", "TypeError", "ValueError", "ZeroDivisionError",
    }
)  # fmt: skip
"""Builtins reward code may use (`print` is accepted and discarded by the loader)."""

_BANNED_NAMES: dict[str, str] = {
    "open": "file access is not allowed in reward code",
    "exec": "dynamic code execution is not allowed",
    "eval": "dynamic code execution is not allowed",
    "compile": "dynamic code execution is not allowed",
    "globals": "namespace introspection can reach the interpreter's builtins",
    "locals": "namespace introspection can reach the interpreter's builtins",
    "vars": "namespace introspection can reach the interpreter's builtins",
    "dir": "namespace introspection can reach the interpreter's builtins",
    "getattr": "dynamic attribute access bypasses these checks; write obj.name",
    "setattr": "dynamic attribute access bypasses these checks; write obj.name = value",
    "delattr": "dynamic attribute access bypasses these checks",
    "hasattr": "dynamic attribute access bypasses these checks",
    "type": "type() reaches class internals; use isinstance()",
    "object": "class internals are not needed in reward code",
    "super": "class internals are not needed in reward code",
    "input": "interactive functions are not available in a worker",
    "breakpoint": "interactive functions are not available in a worker",
    "help": "interactive functions are not available in a worker",
    "exit": "the reward function must return, not exit the process",
    "quit": "the reward function must return, not exit the process",
    "memoryview": "raw memory access is not allowed",
}

# Pure array/math functions, constants and dtypes reachable as `np.<name>`. Every numpy ufunc
# is added below (ufuncs compute on arrays and cannot touch files or processes).
_NUMPY_ALLOWED: frozenset[str] = frozenset(
    {
        # creation
        "array", "asarray", "asanyarray", "ascontiguousarray", "copy", "zeros", "zeros_like",
        "ones", "ones_like", "full", "full_like", "empty", "empty_like", "arange", "linspace",
        "logspace", "geomspace", "eye", "identity", "diag", "diagonal", "diagflat", "tri",
        "tril", "triu", "meshgrid",
        # shape and indexing
        "reshape", "ravel", "squeeze", "expand_dims", "stack", "hstack", "vstack", "dstack",
        "column_stack", "concatenate", "concat", "split", "array_split", "tile", "repeat",
        "transpose", "swapaxes", "moveaxis", "broadcast_to", "broadcast_arrays", "atleast_1d",
        "atleast_2d", "atleast_3d", "flip", "fliplr", "flipud", "roll", "rot90", "take",
        "take_along_axis", "put_along_axis", "choose", "compress", "where", "select",
        "piecewise", "extract", "nonzero", "argwhere", "flatnonzero", "searchsorted",
        "digitize", "unique", "sort", "argsort", "partition", "argpartition", "lexsort", "pad",
        "append", "insert", "delete", "shape", "ndim", "size", "apply_along_axis",
        # reductions and statistics
        "sum", "prod", "mean", "average", "median", "std", "var", "min", "max", "amin", "amax",
        "ptp", "argmin", "argmax", "cumsum", "cumprod", "nansum", "nanmean", "nanmax",
        "nanmin", "nanstd", "nanvar", "nanmedian", "nanargmax", "nanargmin", "nanprod",
        "nancumsum", "nancumprod", "percentile", "quantile", "nanpercentile", "nanquantile",
        "all", "any", "count_nonzero", "diff", "ediff1d", "gradient", "trapezoid", "trapz",
        "cumulative_sum", "cumulative_prod", "histogram", "bincount", "cov", "corrcoef",
        # linear algebra and products
        "linalg", "cross", "dot", "vdot", "inner", "outer", "tensordot", "einsum", "kron",
        "trace", "convolve", "correlate", "polyfit", "polyval",
        # elementwise helpers that are not ufuncs
        "interp", "clip", "round", "around", "nan_to_num", "isclose", "allclose",
        "array_equal", "array_equiv", "real", "imag", "angle", "sinc", "i0", "unwrap",
        "isscalar", "isreal", "iscomplex", "real_if_close",
        # dtypes and numeric limits
        "errstate", "result_type", "promote_types", "can_cast", "finfo", "iinfo", "dtype",
        "ndarray", "generic", "number", "floating", "integer", "signedinteger",
        "unsignedinteger", "bool", "bool_", "int8", "int16", "int32", "int64", "uint8",
        "uint16", "uint32", "uint64", "intp", "float16", "float32", "float64", "double",
        "complex64", "complex128", "issubdtype",
        # constants
        "pi", "e", "inf", "nan", "newaxis", "euler_gamma",
    }
)  # fmt: skip
_UFUNC_METHODS = frozenset({"reduce", "accumulate", "reduceat", "outer", "at"})
_LINALG_ALLOWED: frozenset[str] = frozenset(
    {
        "cholesky", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh",
        "inv", "lstsq", "matmul", "matrix_norm", "matrix_power", "matrix_rank",
        "matrix_transpose", "multi_dot", "norm", "outer", "pinv", "qr", "slogdet", "solve",
        "svd", "svdvals", "tensordot", "tensorinv", "tensorsolve", "trace", "vecdot",
        "vector_norm", "LinAlgError",
    }
)  # fmt: skip
_MATH_ALLOWED = frozenset(n for n in dir(math) if not n.startswith("_"))


def _numpy_ufuncs() -> frozenset[str]:
    import numpy as np

    return frozenset(
        n for n in dir(np) if not n.startswith("_") and isinstance(getattr(np, n), np.ufunc)
    )


_NUMPY_UFUNCS = _numpy_ufuncs()

_NUMPY_WHY: dict[str, str] = {
    **dict.fromkeys(
        ["load", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt",
         "fromfile", "fromregex", "memmap", "DataSource", "tofile", "open_memmap", "rec",
         "recfromtxt", "recfromcsv", "lib", "format"],
        "numpy file I/O is not allowed in reward code",
    ),
    **dict.fromkeys(["ctypeslib", "f2py", "distutils", "testing", "show_config", "show_runtime",
                     "info", "source", "who", "core", "char", "emath", "dtypes"],
                    "numpy internals, ctypes and tooling are not allowed in reward code"),
    **dict.fromkeys(["frombuffer", "fromstring", "fromiter", "object_", "void", "str_",
                     "bytes_", "record", "recarray"],
                    "turns raw bytes into arrays of any type (object pointers included); "
                    "build arrays from numbers with np.array/np.zeros"),
    **dict.fromkeys(["frompyfunc", "vectorize"],
                    "wraps arbitrary Python callables; write vectorised numpy instead"),
    "random": "rewards must be deterministic; np.random is not allowed",
}  # fmt: skip

# Attributes refused on any object: escape routes through strings, frames, generators, arrays.
_DENIED_ATTRS: dict[str, str] = {
    **dict.fromkeys(["format", "format_map"],
                    "str.format can reach attributes through its template; use an f-string"),
    **dict.fromkeys(["gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "ag_frame",
                     "ag_code", "f_globals", "f_locals", "f_builtins", "f_back", "f_code",
                     "tb_frame", "tb_next", "func_globals", "func_code", "mro"],
                    "interpreter internals can escape the sandbox"),
    **dict.fromkeys(["tofile", "dump", "dumps", "load", "loads", "save", "fromfile", "ctypes",
                     "ctypeslib", "lib", "environ", "system", "popen", "from_file",
                     "untyped_storage", "storage", "data_ptr", "numpy", "tolist_file"],
                    "file, process and ctypes access is not allowed in reward code"),
    **dict.fromkeys(["data", "__array_interface__", "__array_struct__", "stride_tricks",
                     "as_strided", "strides"],
                    "raw memory access (memoryviews, strides, array interfaces) is not allowed"),
    **dict.fromkeys(["base", "setflags", "flags", "resize", "put", "itemset", "byteswap",
                     "getfield", "setfield", "view"],
                    "reaches or changes the memory behind an input array; compute new arrays"),
}  # fmt: skip

_DUNDER_TEXT = re.compile(r"__\w+__")

# ---- byte-to-object routes: where numpy takes a dtype, and which dtypes reward code may name.
# A dtype turns bytes into values; an object dtype turns them into pointers (arbitrary memory,
# then the real builtins). Reward code only ever needs numeric dtypes written literally.
_NUMERIC_DTYPE_NAMES = frozenset(
    {
        "bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
        "uint64", "intp", "uintp", "float16", "float32", "float64", "double", "single", "half",
        "complex64", "complex128", "int", "float", "complex",
    }
)  # fmt: skip
_NUMERIC_DTYPE_TEXT = re.compile(
    r"[<>=|]?(?:[?bhilqBHILQefdgFDG]|b1|[iu][1248]|f[248]|c(?:8|16)|"
    r"(?:u?int|float|complex|bool)(?:8|16|32|64|128)?|bool_|double|single|half|intp|uintp)"
)
_BUILTIN_DTYPES = frozenset({"float", "int", "bool", "complex"})
_DTYPE_POSITION: dict[str, int] = {
    **dict.fromkeys(["array", "asarray", "asanyarray", "ascontiguousarray", "zeros", "ones",
                     "empty", "zeros_like", "ones_like", "empty_like", "identity"], 1),
    **dict.fromkeys(["full", "full_like", "sum", "prod", "mean", "std", "var", "cumsum",
                     "cumprod", "nansum", "nanmean", "nanstd", "nanvar", "nanprod",
                     "nancumsum", "nancumprod"], 2),
    **dict.fromkeys(["arange", "eye", "tri"], 3),
    "geomspace": 4,
    **dict.fromkeys(["linspace", "logspace"], 5),
    "dtype": 0,
}  # fmt: skip
"""Zero-based position of the dtype argument of numpy functions called positionally."""
_METHOD_DTYPE_POSITION: dict[str, int] = {
    "astype": 0, "sum": 1, "prod": 1, "mean": 1, "std": 1, "var": 1, "cumsum": 1,
    "cumprod": 1, "reduce": 2, "accumulate": 2, "reduceat": 3, "trace": 3,
}  # fmt: skip
_RAW_MEMORY_KEYWORDS = {
    "buffer": "arrays over a raw buffer can reinterpret bytes as object pointers",
    "offset": "offsets into raw memory are not allowed",
    "strides": "hand-made strides read memory outside the array",
    "like": "dispatches to another object's array protocol",
    "signature": "ufunc loop signatures choose dtypes behind the dtype rules",
}
_ISINSTANCE_ONLY = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy", "generic")})
"""numpy classes reward code may name only in isinstance()/np.issubdtype() (and np.dtype
with a literal numeric dtype): called, `np.ndarray(shape, dtype, buffer)` turns bytes into
objects."""

_MODULE_LEVEL_OK = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.Assign,
    ast.AnnAssign,
    ast.Pass,
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: where it is, the offending construct, and why it is refused."""

    line: int
    col: int
    construct: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}, col {self.col}: {self.construct}: {self.why}"


def validate_code(src: str, entry: str = "compute_reward") -> list[Violation]:
    """Every rule `src` breaks (empty when it may be loaded); never executes `src`."""
    tree, problem = _parse(src, "exec")
    if tree is None:
        return [problem] if problem else []
    assert isinstance(tree, ast.Module)
    checker = _Checker(tree)
    for stmt in tree.body:
        if not isinstance(stmt, _MODULE_LEVEL_OK) and not _is_docstring(stmt):
            checker.add(
                stmt,
                f"module-level {_stmt_name(stmt)}",
                "module level may hold only imports, constants and function "
                "definitions; put computation inside the function",
            )
    checker.visit(tree)
    checker.violations.extend(_check_entry(tree, entry))
    return sorted(checker.violations, key=lambda v: (v.line, v.col))


def validate_expression(expr: str, names: Iterable[str] | None = None) -> list[Violation]:
    """Rules broken by a single expression (a fitness expression).

    `np`, `numpy` and `math` are available without an import; when `names` is given, any
    other free name must be one of them (or a safe builtin).
    """
    tree, problem = _parse(expr.strip(), "eval")
    if tree is None:
        return [problem] if problem else []
    checker = _Checker(
        tree, implicit_modules={"np": ("numpy",), "numpy": ("numpy",), "math": ("math",)}
    )
    checker.visit(tree)
    if names is not None:
        allowed = set(names) | set(checker.modules) | SAFE_BUILTINS | checker.bound
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Name)
                and node.id not in allowed
                and not node.id.startswith("_")
            ):
                if node.id in _BANNED_NAMES or hasattr(builtins, node.id):
                    continue  # reported by the checker with a specific reason
                checker.add(
                    node,
                    f"name '{node.id}'",
                    f"unknown name; available: {', '.join(sorted(set(names)))}, np, math",
                )
    return sorted(checker.violations, key=lambda v: (v.line, v.col))


# --------------------------------------------------------------------------- internals


def _parse(src: str, mode: str) -> tuple[ast.AST | None, Violation | None]:
    if len(src) > MAX_SOURCE_CHARS:
        return None, Violation(
            1,
            0,
            f"program of {len(src)} characters",
            f"longer than the {MAX_SOURCE_CHARS}-character limit; "
            "a reward function should be short",
        )
    if not src.strip():
        return None, Violation(1, 0, "empty program", "no code to check")
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for "\d": not our concern
            warnings.simplefilter("ignore")
            return ast.parse(src, mode=mode), None
    except SyntaxError as err:
        return None, Violation(
            err.lineno or 1, max((err.offset or 1) - 1, 0), "syntax error", err.msg
        )
    except (ValueError, RecursionError, MemoryError) as err:
        why = "nested too deeply to parse" if isinstance(err, RecursionError) else str(err)
        return None, Violation(1, 0, "unparsable program", why)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _stmt_name(node: ast.AST) -> str:
    return {
        "For": "for loop",
        "While": "while loop",
        "If": "if statement",
        "Expr": "expression",
        "Try": "try statement",
        "With": "with statement",
    }.get(type(node).__name__, type(node).__name__)


def _check_entry(tree: ast.Module, entry: str) -> list[Violation]:
    defs = [s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == entry]
    if not defs:
        return [
            Violation(
                1,
                0,
                f"missing {entry}",
                f"define `def {entry}(state, action, next_state):` at module level",
            )
        ]
    fn = defs[-1]
    a = fn.args
    positional = len(a.posonlyargs) + len(a.args)
    required_kw = [k.arg for k, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None]
    if positional != 3 or a.vararg is not None or required_kw:
        return [
            Violation(
                fn.lineno,
                fn.col_offset,
                f"def {entry}(...)",
                f"expected 3 positional parameters (state, action, next_state), "
                f"got {positional}"
                + (" plus *args" if a.vararg else "")
                + (f" plus required keyword-only {required_kw}" if required_kw else ""),
            )
        ]
    return []


def _bound_name(node: ast.AST) -> str | None:
    """The name `node` binds, if any (scope-insensitive, deliberately conservative)."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return node.id
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.alias):
        return node.asname or node.name.split(".")[0]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return node.name
    return None


class _Checker(ast.NodeVisitor):
    def __init__(
        self, tree: ast.AST, implicit_modules: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        self.violations: list[Violation] = []
        self.modules: dict[str, tuple[str, ...]] = dict(implicit_modules or {})
        self.bound: set[str] = set()
        self.from_numpy: dict[str, tuple[str, ...]] = {}
        for node in ast.walk(tree):  # one pass: module aliases and every bound name
            name = _bound_name(node)
            if name:
                self.bound.add(name)
            if isinstance(node, ast.Import):
                for a in node.names:
                    path = ALLOWED_MODULES.get(a.name)
                    if path is not None:
                        self.modules[a.asname or a.name.split(".")[0]] = (
                            path if a.asname else path[:1]
                        )
            elif (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and node.module in ALLOWED_MODULES
            ):
                base = ALLOWED_MODULES[node.module]
                for a in node.names:
                    if base == ("numpy",) and a.name == "linalg":
                        self.modules[a.asname or a.name] = ("numpy", "linalg")
                    elif base[0] == "numpy":
                        self.from_numpy[a.asname or a.name] = (*base, a.name)
        self.class_refs_ok: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "isinstance" and len(node.args) == 2:
                kinds = node.args[1]
                refs = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
                self.class_refs_ok.update(id(r) for r in refs)
            elif self._numpy_path(func) == ("numpy", "issubdtype"):
                self.class_refs_ok.update(id(a) for a in node.args)
            elif self._numpy_path(func) == ("numpy", "dtype"):
                self.class_refs_ok.add(id(func))

    def add(self, node: ast.AST, construct: str, why: str) -> None:
        self.violations.append(
            Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0), construct, why)
        )

    # ---- imports

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name not in ALLOWED_MODULES:
                self.add(node, f"import {a.name}", "only numpy and math may be imported")
            elif a.asname and a.asname.startswith("_"):
                self.add(node, f"import {a.name} as {a.asname}", "names may not start with '_'")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = "." * node.level + (node.module or "")
        if node.level or node.module not in ALLOWED_MODULES:
            self.add(node, f"from {mod} import ...", "only numpy and math may be imported")
            return
        path = ALLOWED_MODULES[node.module]
        for a in node.names:
            if a.name == "*":
                self.add(node, f"from {mod} import *", "import the names you use explicitly")
                continue
            if (a.asname or a.name).startswith("_"):
                self.add(node, f"from {mod} import {a.name}", "names may not start with '_'")
                continue
            why = _module_attr_problem(path, (a.name,))
            if (*path, a.name) in _ISINSTANCE_ONLY:
                why = (f"import {path[0]} as np and write np.{a.name} (only inside isinstance or "
                       "np.issubdtype)")  # fmt: skip
            if why:
                self.add(node, f"from {mod} import {a.name}", why)

    # ---- names and attributes

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("__"):
            self.add(node, f"name '{name}'", "dunder names reach interpreter internals")
        elif name in self.modules:
            if isinstance(node.ctx, ast.Load):
                self.add(
                    node,
                    f"module '{name}' used as a value",
                    f"use {name}.<function> directly; the module object may not be passed around",
                )
            else:
                self.add(node, f"assignment to '{name}'", "rebinding a module name is not allowed")
        elif name in _BANNED_NAMES and name not in self.bound:
            self.add(node, f"name '{name}'", _BANNED_NAMES[name])
        elif (
            isinstance(node.ctx, ast.Load)
            and name not in SAFE_BUILTINS
            and name not in self.bound
            and hasattr(builtins, name)
        ):
            self.add(
                node,
                f"builtin '{name}'",
                "not available in reward code; use numpy/math or the safe builtins "
                "(abs, min, max, sum, len, range, zip, float, ...)",
            )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = [node.attr]
        base: ast.expr = node.value
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        chain.reverse()
        if isinstance(base, ast.Name) and base.id in self.modules:
            dotted = ".".join([base.id, *chain])
            if any(part.startswith("_") for part in chain):
                self.add(node, dotted, "private and dunder attributes are not allowed")
            elif self.modules[base.id] + tuple(chain) == ALLOWED_MODULES["numpy.linalg"]:
                self.add(
                    node,
                    f"module '{dotted}' used as a value",
                    f"use {dotted}.<function> directly; the module object may not be passed around",
                )
            elif (
                self.modules[base.id] + tuple(chain) in _ISINSTANCE_ONLY
                and id(node) not in self.class_refs_ok
            ):
                self.add(
                    node,
                    dotted,
                    "numpy classes may be named only in isinstance()/np.issubdtype() "
                    "(called, np.ndarray(shape, dtype, buffer) turns bytes into objects); "
                    "build arrays with np.array/np.zeros",
                )
            else:
                why = _module_attr_problem(self.modules[base.id], tuple(chain))
                if why:
                    self.add(node, dotted, why)
            return  # the whole chain is judged; do not report its inner links again
        attr = node.attr
        if attr.startswith("_"):
            self.add(node, f"attribute '.{attr}'", "private and dunder attributes are not allowed")
        elif attr in _DENIED_ATTRS:
            self.add(node, f"attribute '.{attr}'", _DENIED_ATTRS[attr])
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if isinstance(text, str) and _DUNDER_TEXT.search(text):
            self.add(node, f"string {text[:40]!r}", "dunder names in strings are an escape route")

    # ---- calls: where a dtype or raw memory can be given

    def _numpy_path(self, node: ast.expr) -> tuple[str, ...] | None:
        """The numpy/math path `node` names (`np.add.reduce` -> numpy, add, reduce)."""
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        if node.id in self.modules:
            return self.modules[node.id] + tuple(reversed(chain))
        if node.id in self.from_numpy:
            return self.from_numpy[node.id] + tuple(reversed(chain))
        return None

    def visit_Call(self, node: ast.Call) -> None:
        path = self._numpy_path(node.func)
        position: int | None = None
        if path is not None and path[0] == "numpy":
            if len(path) == 2:
                position = _DTYPE_POSITION.get(path[1])
            elif len(path) == 3 and path[1] in _NUMPY_UFUNCS:
                position = _METHOD_DTYPE_POSITION.get(path[2])
        elif path is None and isinstance(node.func, ast.Attribute):
            position = _METHOD_DTYPE_POSITION.get(node.func.attr)
        if position is not None or path is not None:
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    self.add(arg, "*arguments to a numpy call",
                             "write the arguments out (a starred list can hide a dtype)")  # fmt: skip
        if position is not None and position < len(node.args):
            self._check_dtype(node.args[position])
        for kw in node.keywords:
            if kw.arg is None:
                self.add(kw.value, "**arguments in a call",
                         "write keyword arguments out (a ** dict can hide dtype= or buffer=)")  # fmt: skip
            elif kw.arg == "dtype":
                self._check_dtype(kw.value)
            elif kw.arg in _RAW_MEMORY_KEYWORDS:
                self.add(kw, f"keyword '{kw.arg}='", _RAW_MEMORY_KEYWORDS[kw.arg])
        self.generic_visit(node)

    def _check_dtype(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and (
            node.value is None
            or (isinstance(node.value, str) and _NUMERIC_DTYPE_TEXT.fullmatch(node.value))
        ):
            return
        if isinstance(node, ast.Name) and node.id in _BUILTIN_DTYPES and node.id not in self.bound:
            return
        if isinstance(node, ast.Attribute) and node.attr == "dtype":
            return  # the dtype of an array the code already has
        path = self._numpy_path(node)
        if path is not None and len(path) == 2 and path[1] in _NUMERIC_DTYPE_NAMES:
            return
        self.add(
            node,
            f"dtype {_source(node)}",
            "expected a numeric dtype written out (np.float64, 'float32', float, x.dtype); "
            "object, structured and computed dtypes can turn bytes into objects",
        )

    # ---- definitions and arguments

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name.startswith("__"):
            self.add(node, f"def {node.name}", "dunder names reach interpreter internals")
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        if node.arg.startswith("__"):
            self.add(node, f"parameter '{node.arg}'", "dunder names reach interpreter internals")
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg and node.arg.startswith("__"):
            self.add(node, f"keyword '{node.arg}'", "dunder names reach interpreter internals")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name and node.name.startswith("__"):
            self.add(node, f"except ... as {node.name}", "dunder names reach interpreter internals")
        self.generic_visit(node)

    # ---- constructs reward code never needs

    def _refuse(self, node: ast.AST, construct: str, why: str) -> None:
        self.add(node, construct, why)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._refuse(node, f"class {node.name}", "classes are not needed; use functions and dicts")

    def visit_Global(self, node: ast.Global) -> None:
        self._refuse(node, "global", "reward code must not keep mutable global state")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._refuse(node, "nonlocal", "reward code must not keep mutable closure state")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._refuse(node, f"async def {node.name}", "async code is not allowed")

    def visit_Await(self, node: ast.Await) -> None:
        self._refuse(node, "await", "async code is not allowed")

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._refuse(node, "async for", "async code is not allowed")

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._refuse(node, "async with", "async code is not allowed")

    def visit_Yield(self, node: ast.Yield) -> None:
        self._refuse(node, "yield", "generators are not allowed; return arrays")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self._refuse(node, "yield from", "generators are not allowed; return arrays")

    def visit_Match(self, node: ast.Match) -> None:
        # Class patterns read arbitrary attributes by keyword (`case C(__class__=x)`), out of
        # sight of the attribute rules; reward code never needs `match`.
        self._refuse(node, "match statement", "not allowed in reward code; use if/elif")

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:
            if attr.startswith("_") or attr in _DENIED_ATTRS:
                self.add(node, f"pattern attribute '{attr}'", "reaches interpreter internals")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check_targets(node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_targets([node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_targets([node.target])
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        self._check_targets(node.targets)
        self.generic_visit(node)

    def _check_targets(self, targets: list[ast.expr]) -> None:
        """Assigning to attributes changes shared objects: a module's functions
        (`np.mean = fake` would fake every later computation in the process), an array's
        memory or flags. Reward code assigns names and subscripts of its own arrays only."""
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
                    self.add(
                        node,
                        f"assignment to attribute '.{node.attr}'",
                        "attributes may not be assigned or deleted in reward code "
                        "(it would change shared objects such as numpy itself); use local names",
                    )


def _source(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def _module_attr_problem(path: tuple[str, ...], chain: tuple[str, ...]) -> str | None:
    """Why `<module at path>.<chain>` is refused, or None when it is on the allow-list."""
    full = path + chain
    if full[0] == "math":
        if len(full) == 2 and full[1] in _MATH_ALLOWED:
            return None
        return f"'{'.'.join(full)}' is not a math function or constant"
    rest = full[1:]  # below numpy
    if not rest:
        return None
    head = rest[0]
    if head == "linalg":
        if len(rest) == 1 or (len(rest) == 2 and rest[1] in _LINALG_ALLOWED):
            return None
        return f"'numpy.{'.'.join(rest)}' is not on the numpy.linalg allow-list"
    if head in _NUMPY_UFUNCS:
        if len(rest) == 1 or (len(rest) == 2 and rest[1] in _UFUNC_METHODS):
            return None
        return f"'numpy.{'.'.join(rest)}': only ufunc methods {sorted(_UFUNC_METHODS)} are allowed"
    if head in _NUMPY_ALLOWED and len(rest) == 1:
        return None
    if head in _NUMPY_WHY:
        return _NUMPY_WHY[head]
    if head in _NUMPY_ALLOWED:
        return f"'numpy.{'.'.join(rest)}': attributes of numpy.{head} are not on the allow-list"
    return (
        f"'numpy.{head}' is not on the allow-list of pure array/math functions; "
        "use common numpy math (np.sqrt, np.clip, np.linalg.norm, ...)"
    )
