"""HTML fragments: highlighted code, unified diffs, simple markdown, embedded videos.

Every piece of text that came from a run (LLM answers, reward code, reasons) is escaped here
before it becomes markup; the template marks these fragments safe and escapes everything else.
"""

from __future__ import annotations

import base64
import difflib
import html
import math
import os
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

EMBED_VIDEO_MAX_BYTES = 5 * 1024 * 1024
"""Videos up to this size are embedded in the report; larger ones are linked."""
EMBED_VIDEO_TOTAL_BYTES = 60 * 1024 * 1024
"""Embedded videos in all, so a report with many candidates stays openable."""

try:  # rich depends on pygments, so it is normally there; plain <pre> otherwise
    from pygments import highlight as _highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import DiffLexer, PythonLexer

    _FORMATTER = HtmlFormatter(cssclass="highlight", nowrap=False)
except ImportError:  # pragma: no cover - depends on the environment
    _highlight = None


def pygments_css() -> str:
    if _highlight is None:  # pragma: no cover
        return ""
    return str(_FORMATTER.get_style_defs(".highlight"))


def code_block(code: str) -> Markup:
    if _highlight is None:  # pragma: no cover
        return Markup(f'<pre class="highlight">{html.escape(code)}</pre>')
    return Markup(_highlight(code, PythonLexer(), _FORMATTER))


def diff_block(old: str, new: str, old_name: str, new_name: str) -> Markup | None:
    """A unified diff of `old` → `new`; None when they are identical."""
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name, n=2
        )
    )
    if not lines:
        return None
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if _highlight is None:  # pragma: no cover
        return Markup(f'<pre class="highlight">{html.escape(text)}</pre>')
    return Markup(_highlight(text, DiffLexer(), _FORMATTER))


_FENCE = re.compile(r"^```")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")


def markdown(text: str) -> Markup:
    """A small, safe markdown subset: headings, lists, fenced code, `code`, **bold**, paragraphs.

    The text is escaped first, so an LLM answer can never inject markup into the report.
    """
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    code: list[str] | None = None

    def flush_para() -> None:
        if para:
            out.append("<p>" + " ".join(_inline(p) for p in para) + "</p>")
            para.clear()

    def flush_list() -> None:
        nonlocal list_tag
        if items:
            out.append(
                f"<{list_tag}>"
                + "".join(f"<li>{_inline(i)}</li>" for i in items)
                + f"</{list_tag}>"
            )
            items.clear()
        list_tag = ""

    for line in text.splitlines():
        if code is not None:
            if _FENCE.match(line.strip()):
                out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        if _FENCE.match(line.strip()):
            flush_para()
            flush_list()
            code = []
            continue
        if not line.strip():
            flush_para()
            flush_list()
            continue
        if m := _HEADING.match(line):
            flush_para()
            flush_list()
            level = min(len(m.group(1)) + 3, 6)  # the report's own headings come first
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            continue
        bullet, numbered = _BULLET.match(line), _NUMBERED.match(line)
        if bullet or numbered:
            flush_para()
            tag = "ul" if bullet else "ol"
            if list_tag and list_tag != tag:
                flush_list()
            list_tag = tag
            items.append((bullet or numbered).group(1))  # type: ignore[union-attr]
            continue
        if items:  # a continuation line of the last list item
            items[-1] += " " + line.strip()
            continue
        para.append(line.strip())
    if code is not None:  # an unclosed fence: show what there is
        out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
    flush_para()
    flush_list()
    return Markup("\n".join(out))


def inline_markdown(text: str) -> Markup:
    """One line of text with `code` and **bold**, escaped."""
    return Markup(_inline(text))


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            escaped = html.escape(part)
            escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
            out.append(escaped)
    return "".join(out)


class VideoEmbedder:
    """Embeds small videos as data URIs until a total budget is spent; links the rest."""

    def __init__(
        self,
        report_dir: Path,
        max_bytes: int = EMBED_VIDEO_MAX_BYTES,
        total_bytes: int = EMBED_VIDEO_TOTAL_BYTES,
    ) -> None:
        self.report_dir = report_dir
        self.max_bytes = max_bytes
        self.left = total_bytes

    def __call__(self, path: Path) -> Markup:
        size = path.stat().st_size
        rel = html.escape(_relative(path, self.report_dir), quote=True)
        if size <= self.max_bytes and size <= self.left:
            self.left -= size
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return Markup(
                f'<video class="video" controls muted loop preload="metadata" '
                f'src="data:video/mp4;base64,{data}"></video>'
            )
        why = (
            "too large to embed"
            if size > self.max_bytes
            else "embedding budget of this report spent"
        )
        return Markup(
            f'<video class="video" controls muted preload="none" src="{rel}"></video>'
            f'<p class="note">video {size / 1e6:.1f} MB ({why}): <a href="{rel}">{html.escape(_relative(path, self.report_dir))}</a></p>'
        )


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_uri()


def fmt(x: Any) -> str:
    """A number to 4 significant digits for the report ("" for None, text as is)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "" if x is None else str(x)
    if math.isnan(v):
        return "nan"
    return f"{v:.4g}"


def clip(text: str, n: int) -> str:
    """Whitespace collapsed, cut with an ellipsis at `n` characters."""
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"
