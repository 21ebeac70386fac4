"""Python-literal strings of RL Zoo hyperparameter files, parsed without `eval`.

RL Zoo writes some values as Python source, e.g.
`policy_kwargs: "dict(net_arch=dict(pi=[64], vf=[64]), activation_fn=nn.Tanh, ortho_init=False)"`
and evaluates them. Here the string is parsed with `ast` and only data is accepted: numbers,
strings, booleans, None, lists, tuples, `{...}` dicts with string keys, `dict(key=value, ...)`
calls, unary minus, and dotted names (`nn.Tanh`, `th.optim.Adam`), which are kept as the
strings they spell; what a name means is decided later by the key it is given to, against an
allow-list (`hyperparams.resolve_class`). Nothing is imported or executed here.
"""

from __future__ import annotations

import ast
from typing import Any

from autoreward.errors import ConfigError

_HINT = (
    "write plain data: numbers, strings, lists, dict(key=value, ...) and names such as "
    'nn.Tanh; e.g. "dict(net_arch=[64, 64], activation_fn=nn.Tanh)"'
)


def parse_literal(text: str, where: str = "value") -> Any:
    """The data a Python-literal string spells; a ConfigError naming `where` otherwise."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ConfigError(
            f"{where}: {text!r} is not valid Python syntax ({err.msg})", hint=_HINT
        ) from None
    return _value(tree.body, where, text)


def _value(node: ast.expr, where: str, text: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float, str, bool, type(None))
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _value(node.operand, where, text)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    elif isinstance(node, (ast.List, ast.Tuple)):
        return [_value(e, where, text) for e in node.elts]
    elif isinstance(node, ast.Dict):
        out: dict[str, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                break
            out[key.value] = _value(value, where, text)
        else:
            return out
    elif isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            if all(k.arg is not None for k in node.keywords):
                return {str(k.arg): _value(k.value, where, text) for k in node.keywords}
    elif isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        if name is not None:
            return name
    snippet = ast.get_source_segment(text.strip(), node) or ast.dump(node)[:60]
    raise ConfigError(f"{where}: {snippet!r} in {text!r} is not plain data", hint=_HINT)


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))
