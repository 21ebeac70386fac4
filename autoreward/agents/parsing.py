"""Getting code and JSON out of LLM answers (markdown prose around fenced blocks)."""

from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass
from typing import Any

from autoreward.errors import AutorewardError, RewardCodeError

_OPEN_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n`]*$")
_PY_LANGS = {"", "python", "py", "python3", "py3", "numpy"}
_CODE_START = re.compile(r"^(import |from \w[\w.]* import |def |@|[A-Z_][A-Z0-9_]* *=)")


class AnswerFormatError(AutorewardError):
    """An LLM answer without the structured part (JSON) it was asked for."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its language tag (lower-case, '' if none) and its text."""

    lang: str
    text: str
    terminated: bool


def fenced_blocks(answer: str) -> list[Block]:
    """All fenced blocks (``` or ~~~, any length >= 3), in order; an unclosed last one runs to the end."""
    blocks: list[Block] = []
    lines = answer.splitlines()
    i = 0
    while i < len(lines):
        m = _OPEN_FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        close = re.compile(
            r"^[ \t]{0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$"
        )
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        blocks.append(Block(lang=lang, text="\n".join(lines[i + 1 : j]), terminated=j < len(lines)))
        i = j + 1
    return blocks


def _defines(src: str, entry: str) -> bool:
    return (
        re.search(r"(?m)^[ \t]*(async[ \t]+)?def[ \t]+" + re.escape(entry) + r"[ \t]*\(", src)
        is not None
    )


def _parses(src: str) -> ast.Module | None:
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError):
        return None


def extract_code(answer: str, entry: str = "compute_reward") -> str:
    """The Python source in an LLM answer that defines `entry`.

    Order of preference: the last fenced python block defining `entry` (with top-level helpers
    it calls merged in from the other python blocks); the whole answer when it is bare code;
    bare code after prose. Broken code is returned as is, so the caller's check reports the
    real error. No code at all raises `RewardCodeError`.
    """
    blocks = [b for b in fenced_blocks(answer) if b.lang in _PY_LANGS]
    defining = [b for b in blocks if _defines(b.text, entry)]
    if defining:
        chosen = defining[-1]
        others = [b.text for b in blocks if b is not chosen]
        return _merge_helpers(chosen.text, others).strip("\n") + "\n"
    if _defines(answer, entry):
        bare = _bare_code(answer, entry)
        if bare is not None:
            return bare.strip("\n") + "\n"
    raise RewardCodeError(
        f"the answer has no python code block defining {entry}",
        hint=f"answer with one ```python block that contains the complete `def {entry}(state, action, next_state):`",
    )


def _bare_code(answer: str, entry: str) -> str | None:
    """Code written without fences: the whole answer, or from the first code line to the last one that parses."""
    if _parses(answer) is not None:
        return answer
    lines = answer.splitlines()
    def_line = next(i for i, line in enumerate(lines) if _defines(line, entry))
    start = def_line
    # Walk back over the imports / constants / helpers written just before the entry.
    for i in range(def_line - 1, -1, -1):
        line = lines[i]
        if _CODE_START.match(line):
            start = i
        elif line.strip() == "" or line.startswith((" ", "\t", "#")):
            continue
        else:
            break
    for end in range(len(lines), def_line, -1):
        candidate = "\n".join(lines[start:end])
        if _parses(candidate) is not None:
            return candidate
    # Nothing parses: hand back from the start of the code to the end so the check shows the error.
    return "\n".join(lines[start:])


def _merge_helpers(main: str, others: list[str]) -> str:
    """Prepend top-level definitions from other blocks for names `main` uses but does not
    define, following what those definitions need in turn (in their original order)."""
    tree = _parses(main)
    if tree is None or not others:
        return main
    available: dict[str, tuple[int, str, bool]] = {}  # name -> (order, source, is_import)
    order = 0
    for other in others:
        other_tree = _parses(other)
        for node in other_tree.body if other_tree is not None else []:
            segment = ast.get_source_segment(other, node)
            order += 1
            if segment is None:
                continue
            is_import = isinstance(node, (ast.Import, ast.ImportFrom))
            for name in _bound_names(node):
                available.setdefault(name, (order, segment, is_import))
    defined = _top_level_names(tree)
    todo = sorted(_free_names(tree))
    chosen: dict[int, tuple[str, bool]] = {}
    while todo:
        name = todo.pop()
        if name in defined or name not in available:
            continue
        defined.add(name)
        pos, segment, is_import = available[name]
        chosen[pos] = (segment, is_import)
        sub = None if is_import else _parses(segment)
        if sub is not None:
            todo.extend(_free_names(sub))
    if not chosen:
        return main
    ordered = [chosen[pos] for pos in sorted(chosen)]
    imports = [seg for seg, is_import in ordered if is_import]
    helpers = [seg for seg, is_import in ordered if not is_import]
    parts = (["\n".join(imports)] if imports else []) + helpers + [main.strip("\n")]
    return "\n\n\n".join(parts)


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        names |= _bound_names(node)
    return names


def _free_names(tree: ast.Module) -> set[str]:
    """Names loaded somewhere but bound nowhere in the module (and not builtins)."""
    loaded: set[str] = set()
    bound: set[str] = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound


def extract_json(answer: str) -> dict[str, Any]:
    """The JSON object in an answer: a ```json block, else any fenced block, else the first {...}.

    Trailing commas before `}` or `]` are tolerated. Raises `AnswerFormatError` saying what was found.
    """
    blocks = fenced_blocks(answer)
    candidates = [b.text for b in blocks if b.lang == "json"]
    candidates += [
        b.text for b in blocks if b.lang not in ("json",) and b.text.lstrip().startswith("{")
    ]
    candidates += _brace_objects(answer)
    if not candidates:
        raise AnswerFormatError(
            "the answer has no JSON object (no ```json block and no {...} in the text)",
            hint='answer with a ```json block holding one object, e.g. {"verdict": "ok", "issues": []}',
        )
    first_error: str | None = None
    for text in candidates:
        try:
            value = _loads_lenient(text)
        except json.JSONDecodeError as err:
            first_error = first_error or f"{err.msg} at line {err.lineno} column {err.colno}"
            continue
        if isinstance(value, dict):
            return value
        first_error = first_error or f"expected a JSON object, got {type(value).__name__}"
    raise AnswerFormatError(
        f"the answer's JSON could not be read: {first_error}",
        hint="answer with a ```json block holding one valid JSON object",
    )


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _loads_lenient(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        fixed = _TRAILING_COMMA.sub(r"\1", text)
        if fixed == text:
            raise
        return json.loads(fixed)


def _brace_objects(text: str) -> list[str]:
    """Balanced {...} spans at top level, in order (string-aware)."""
    spans: list[str] = []
    depth = 0
    start = -1
    in_string = False
    escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth > 0:
            in_string = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans
