"""A code hash that ignores what does not change behaviour, to drop duplicate candidates.

Comments, whitespace, docstrings, type annotations and the names of function arguments and
local variables do not count; names of globals, functions, attributes, keyword arguments and
string contents (dict keys) do.
"""

from __future__ import annotations

import ast
import hashlib

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def normalized_code_hash(src: str) -> str:
    """sha256 hex digest of the normalised AST of `src` (of its stripped lines if it does not parse)."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        lines = (line.strip() for line in src.splitlines())
        text = "\n".join(line for line in lines if line and not line.startswith("#"))
        return hashlib.sha256(("unparsed\n" + text).encode()).hexdigest()
    tree = _Normalizer().visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, _FUNCS):
            _rename_locals(node)
    dump = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()


class _Normalizer(ast.NodeTransformer):
    """Drops docstrings / bare string statements and annotations."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                kept = [s for s in body if not _is_bare_string(s)]
                if not kept and name == "body":
                    kept = [ast.Pass()]
                setattr(node, name, kept)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        node.type_comment = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        node.type_comment = None
        return self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        node.returns = None
        node.type_comment = None
        return self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return self.generic_visit(ast.Assign(targets=[node.target], value=node.value, lineno=0))


def _is_bare_string(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _rename_locals(func: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    """Rename the function's arguments and locals (nested scopes included) canonically.

    Runs on every function; an already-renamed name is left alone, so a nested function
    handled after its parent keeps the parent's numbering.
    """
    declared_outer: set[str] = set()
    bound: set[str] = set()
    for node in _walk_inside(func):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_outer.update(node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, _FUNCS + (ast.ClassDef,)) and node is not func:
            bound.add(node.name)
    local = {n for n in bound - declared_outer if not n.startswith("local#")}
    mapping: dict[str, str] = {}

    def canon(name: str) -> str:
        if name not in local:
            return name
        if name not in mapping:
            mapping[name] = f"local#{len(mapping)}"
        return mapping[name]

    for node in _walk_inside(func):
        if isinstance(node, ast.arg):
            node.arg = canon(node.arg)
        elif isinstance(node, ast.Name):
            node.id = canon(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            node.name = canon(node.name)
        elif isinstance(node, _FUNCS + (ast.ClassDef,)) and node is not func:
            node.name = canon(node.name)


def _walk_inside(func: ast.AST) -> list[ast.AST]:
    """Depth-first, in field order (deterministic for equal structures), excluding decorators."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [func]
    while stack:
        node = stack.pop()
        out.append(node)
        children = [
            c
            for name, value in ast.iter_fields(node)
            if not (node is func and name == "decorator_list")
            for c in (value if isinstance(value, list) else [value])
            if isinstance(c, ast.AST)
        ]
        stack.extend(reversed(children))
    return out
