"""Reading a person's YAML file into a pydantic model, with errors that point into the file.

Every YAML a user writes (run configs, suites, env schemas) goes through here, so a typo gets
the same answer everywhere: `run.yaml:3:1: unknown key 'stpes' (allowed: env_id, task, ...);
did you mean 'steps'?`, and a wrong value `run.yaml:5:12: iterations: Input should be
greater than or equal to 1`. Every problem of a file is reported at once.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from autoreward.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Subject = Callable[[tuple[Any, ...]], tuple[str, tuple[Any, ...]]]
"""Maps an error location to (a prefix such as "task 'a': ", the rest of the location)."""


@dataclass
class YamlDoc:
    """A parsed YAML document and its node tree (for line and column numbers)."""

    source: str
    data: Any
    root: yaml.Node | None


def read_yaml(path: str | Path, *, what: str = "file", hint: str | None = None) -> YamlDoc:
    """Read and parse a YAML file; a missing or unreadable file or bad YAML is one ConfigError
    naming the file (and the line and column of a syntax error)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} {p} does not exist", hint=hint)
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a directory, not a YAML file", hint=hint)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {what} {p}: {err}") from err
    return parse_yaml(text, str(p))


def parse_yaml(text: str, source: str) -> YamlDoc:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(
            f"{where}: not valid YAML: {problem}", hint="check indentation and quoting"
        ) from err
    return YamlDoc(source, data, root)


def require_mapping(doc: YamlDoc, expected: str) -> dict[str, Any]:
    """The document's top-level mapping (an empty file is an empty mapping)."""
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"{doc.source}: expected a mapping of {expected} at the top level, "
            f"got {type(doc.data).__name__}"
        )
    return doc.data


def validate(
    model: type[M], doc: YamlDoc, what: str, *, data: Any = None, subject: Subject | None = None
) -> M:
    """`model.model_validate(data or doc.data)`; every validation problem as file:line:col."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except ValidationError as err:
        problems = describe_errors(err, model, doc, subject=subject)
        raise ConfigError(f"{doc.source}: invalid {what}:\n  " + "\n  ".join(problems)) from err


def describe_errors(
    err: ValidationError,
    model: type[BaseModel],
    doc: YamlDoc | None,
    *,
    subject: Subject | None = None,
    prefix: tuple[Any, ...] = (),
) -> list[str]:
    """One line per problem of `err` (raised validating `model`); `prefix` is where the model
    sits inside the document (e.g. ("fitness",) for a fitness block of a run config); in the
    order they appear in the file."""
    errors = sorted(err.errors(), key=lambda e: position(doc, prefix + tuple(e["loc"]), e))
    return [describe_error(e, model, doc, subject=subject, prefix=prefix) for e in errors]


def position(doc: YamlDoc | None, loc: tuple[Any, ...], e: Any = None) -> tuple[int, int]:
    """(line, column) of the node an error is about, for sorting; (0, 0) when unknown."""
    key_node = e is not None and e["type"] == "extra_forbidden"
    node = node_at(doc.root, loc, key_node=key_node) if doc is not None else None
    return (0, 0) if node is None else (node.start_mark.line, node.start_mark.column)


def describe_error(
    e: Any,
    model: type[BaseModel],
    doc: YamlDoc | None,
    *,
    subject: Subject | None = None,
    prefix: tuple[Any, ...] = (),
) -> str:
    loc = tuple(e["loc"])
    extra = e["type"] == "extra_forbidden"
    where = location(doc, prefix + loc, key_node=extra) if doc is not None else ""
    head, rest = subject(loc) if subject is not None else ("", loc)
    lead = f"{where}: {head}" if where else head
    path = rest if head else prefix + rest
    if extra:
        owner = model_at(model, loc[:-1])
        allowed = list(owner.model_fields) if owner is not None else []
        parent = ".".join(str(p) for p in path[:-1])
        text = f"{lead}{parent + ': ' if parent else ''}unknown key '{loc[-1]}'"
        if allowed:
            text += f" (allowed: {', '.join(allowed)})"
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                text += f"; did you mean '{close[0]}'?"
        return text
    if e["type"] == "missing" and path:
        parent = ".".join(str(p) for p in path[:-1])
        return f"{lead}{parent + ': ' if parent else ''}missing required key '{path[-1]}'"
    field_path = ".".join(str(p) for p in path)
    msg = str(e["msg"]).removeprefix("Value error, ")
    return f"{lead}{field_path + ': ' if field_path else ''}{msg}"


def location(doc: YamlDoc, loc: tuple[Any, ...], *, key_node: bool = False) -> str:
    """`file:line:col` of the node at `loc` (the key itself when `key_node`), else the file."""
    node = node_at(doc.root, loc, key_node=key_node)
    if node is None:
        return doc.source
    return f"{doc.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def node_at(
    root: yaml.Node | None, loc: tuple[Any, ...], *, key_node: bool = False
) -> yaml.Node | None:
    """The YAML node at a pydantic error location, or the deepest existing one above it (the
    key's node for the last step when `key_node`, so an unknown key points at itself)."""
    node = root
    for depth, step in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(step):
                    node = k if (last and key_node) else v
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(node.value):
                return node
            node = node.value[step]
        else:
            return node
    return node


def model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc` inside `model` (a list index or
    dict key steps into the item type); None when `loc` leads outside models."""
    current: type[BaseModel] = model
    steps = list(loc)
    while steps:
        info = current.model_fields.get(str(steps.pop(0)))
        if info is None:
            return None
        inner, keyed = _inner_model(info.annotation)
        if inner is None or (keyed and not steps):
            return None
        if keyed:
            steps.pop(0)
        current = inner
    return current


def _inner_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model inside an annotation (`X`, `X | None`, `list[X]`, `dict[str, X]`) and whether
    a list index or dict key comes before it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found[0] is not None:
                return found
    elif origin in (list, dict):
        args = typing.get_args(annotation)
        inner, _ = _inner_model(args[-1]) if args else (None, False)
        return inner, inner is not None
    return None, False
