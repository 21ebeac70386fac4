"""Reading gymnasium env docstrings: `## Section` texts and `| Num | ... |` tables.

Gymnasium documents envs in markdown inside the class docstring. What the LLM should read of
a section is its prose and its lists; code blocks (run instructions, `gym.make(...)` examples),
doctest lines, HTML anchors and link targets are dropped, as is the sentence that introduces
a dropped code block ("To run the heuristic:"). Lists stay lists: one item per line in a
description (`block`), `; `-separated in a table cell (`inline`).
"""

from __future__ import annotations

import re
import textwrap

MAX_TEXT = 1200
_HEADING = re.compile(r"^\s*#+\s+(.*?)\s*$")
_ITEM = re.compile(r"^(?:[-*+]|\d+\.)\s+")


def section_lines(doc: str, title: str) -> list[str]:
    """The raw (dedented) lines of a `## title` section, up to the next heading outside code."""
    lines = textwrap.dedent(_drop_first_line_indent(doc)).splitlines()
    out: list[str] | None = None
    fenced = False
    for line in lines:
        if line.strip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading and out is not None:
            break
        if heading and heading.group(1).strip().lower() == title.lower():
            out = []
        elif out is not None:
            out.append(line)
    return out or []


def _drop_first_line_indent(doc: str) -> str:
    # a docstring's first line carries no indentation, the rest do: dedent them together
    first, _, rest = doc.partition("\n")
    return (
        textwrap.dedent(rest) if not first.strip() else first.strip() + "\n" + textwrap.dedent(rest)
    )


def doc_section(doc: str, title: str, inline: bool = True) -> str:
    """The cleaned text of a `## title` section, or ''."""
    return clean_text(section_lines(doc, title), inline=inline)


def clean_text(lines: list[str], inline: bool = True, limit: int = MAX_TEXT) -> str:
    """Markdown lines as prose for the LLM: code, doctests and markup dropped, lists kept."""
    blocks: list[list[str]] = []  # each block: a paragraph (one entry) or list items
    para: list[str] = []
    items: list[str] = []
    fenced = False
    item_indent = 0
    base = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    preformatted = False
    in_table = False

    def close() -> None:
        nonlocal para, items
        if para:
            blocks.append([" ".join(para)])
        if items:
            blocks.append(["- " + i for i in items])
        para, items = [], []

    for raw in lines:
        line = raw.strip()
        if line.startswith("```"):
            if not fenced:
                _drop_intro(para, items)
            fenced = not fenced
            continue
        if fenced or line.startswith(">>>"):
            continue
        line = _strip_markup(line)
        if not line:
            close()
            preformatted = in_table = False
            continue
        indent = len(raw) - len(raw.lstrip())
        starts_block = not para and not items
        if preformatted or (starts_block and indent >= base + 4 and not _ITEM.match(line)):
            if not preformatted and blocks and len(blocks[-1]) == 1:
                _drop_intro(blocks[-1], [])  # an indented (code) block, e.g. an ASCII map
                if not blocks[-1]:
                    blocks.pop()
            preformatted = True
            continue
        if line.startswith("|") and line.endswith("|"):
            if not inline:
                close()
                if in_table:
                    blocks[-1].append(line)
                else:
                    blocks.append([line])
                in_table = True
            continue
        in_table = False
        if _ITEM.match(line):
            if para:
                blocks.append([" ".join(para)])
                para = []
            items.append(_ITEM.sub("", line))
            item_indent = indent
        elif items and not para and indent > item_indent:
            items[-1] += " " + line  # a wrapped list item
        else:
            if items:
                close()
            para.append(line)
    close()
    text = _join(blocks, inline)
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return text


def _drop_intro(para: list[str], items: list[str]) -> None:
    """Drop the sentence that introduces a code block ('To run the heuristic:')."""
    target = items if items and not para else para
    if not target or not target[-1].rstrip().endswith(":"):
        return
    sentences = re.split(r"(?<=[.!?])\s+", target[-1])
    kept = " ".join(sentences[:-1]).strip()
    if kept:
        target[-1] = kept
    else:
        target.pop()


def _join(blocks: list[list[str]], inline: bool) -> str:
    if not inline:
        return "\n\n".join("\n".join(b) for b in blocks).strip()
    parts: list[str] = []
    for b in blocks:
        if b[0].startswith("- "):
            text = ""
            for item in (i[2:].rstrip(".;") for i in b):
                text += ("" if not text else " " if text.endswith(":") else "; ") + item
            text += "."
            if parts and parts[-1].endswith(":"):
                parts[-1] += " " + text
                continue
            parts.append(text)
        else:
            parts.append(b[0])
    return " ".join(parts).strip()


def _strip_markup(text: str) -> str:
    """Drop HTML tags and comments, markdown images and link targets."""
    text = re.sub(r"<!--.*?-->", "", text)
    text = re.sub(r"</?[a-zA-Z][^>]*>", "", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\s*\[(\d+)\]", "", text)  # reference marks like [1]
    return re.sub(r"\s+", " ", text).strip()


def doc_table(doc: str, column: str) -> list[dict[str, str]]:
    """Rows of the first markdown table whose header has 'Num' and `column` ('Observation')."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        cells = _cells(line)
        if cells and cells[0] == "Num" and column in cells:
            rows = []
            for row_line in lines[i + 1 :]:
                row = _cells(row_line)
                if not row:
                    break
                if all(set(c) <= set("-: ") for c in row):
                    continue
                rows.append(dict(zip(cells, row + [""] * (len(cells) - len(row)), strict=False)))
            return rows
    return []


def _cells(line: str) -> list[str]:
    s = line.strip()
    if not (s.startswith("|") and s.endswith("|")):
        return []
    return [c.strip() for c in s[1:-1].split("|")]


def tile_legend(doc: str) -> dict[str, str]:
    """Letters of a grid map the docstring explains (`- "H" for a tile with a hole`)."""
    return {m.group(1): m.group(2).strip().rstrip(".")
            for m in re.finditer(r'^\s*[-*]\s*"(\w)"\s+for\s+(.+)$', doc, re.M)}  # fmt: skip
