"""Prompt templates from the top-level `prompts/` folder: loading, versions, rendering.

Syntax (also in `prompts/README.md`): a leading HTML comment (front matter) documents the
placeholders and is stripped; `{{name}}` inserts a value; `{{#name}} ... {{/name}}` is kept
only when `name` has a non-empty value. Single braces are plain text, so code in templates
needs no escaping. Values are inserted in one pass and never expanded themselves.

Every rendered prompt carries the templates it was built from (`RenderedPrompt.templates`:
version -> sha256 of the template body), including those of `RenderedPrompt` values inserted
into it; `template_stamp` turns them into the `template_hash` a replay transcript records, so
a replay can tell "same templates, other training numbers" from "the prompts were edited".
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from autoreward.errors import ConfigError

PROMPTS_ENV_VAR = "AUTOREWARD_PROMPTS_DIR"

_NAME = r"[a-z_][a-z0-9_]*"
_FRONT_MATTER = re.compile(r"\A\s*<!--(.*?)-->[ \t]*\n?", re.DOTALL)
_TAG = re.compile(r"\{\{\s*([#/]?)\s*(" + _NAME + r")\s*\}\}")
_ANY_BRACES_TAG = re.compile(r"\{\{[^{}\n]*\}\}")
# A section tag alone on its line takes its line break with it, so omitted sections leave no gap.
_LONE_SECTION_TAG = re.compile(r"(?m)^[ \t]*(\{\{\s*[#/]\s*" + _NAME + r"\s*\}\})[ \t]*\n")
_FILE_NAME = re.compile(r"^(" + _NAME + r")_v(\d+)\.md$")


class TemplateError(ConfigError):
    """A prompt template that cannot be found, is malformed, or is rendered with bad values."""


@dataclass(frozen=True)
class RenderedPrompt:
    """The text sent to the LLM, the template version it came from, and every template that
    went into it (version -> sha256 of the body; its own and those of inserted prompts)."""

    text: str
    version: str
    templates: Mapping[str, str] = field(default_factory=dict)


def template_stamp(*prompts: RenderedPrompt) -> dict[str, Any]:
    """The call metadata that pins the templates behind a chat's messages: `templates`
    (version -> body sha256, sorted) and `template_hash` (sha256 over those pairs)."""
    merged: dict[str, str] = {}
    for prompt in prompts:
        merged.update(prompt.templates)
    ordered = dict(sorted(merged.items()))
    joined = "".join(f"{version} {digest}\n" for version, digest in ordered.items())
    return {
        "templates": ordered,
        "template_hash": hashlib.sha256(joined.encode("utf-8")).hexdigest(),
    }


@dataclass(frozen=True)
class Template:
    """One parsed template file. `version` is the file stem, e.g. 'designer_initial_v1'."""

    name: str
    version: str
    path: Path
    body: str
    placeholders: dict[str, str] = field(default_factory=dict)
    sections: frozenset[str] = frozenset()

    @property
    def body_hash(self) -> str:
        """sha256 of the body (the file minus its front-matter comment): what reaches the LLM."""
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    @property
    def required(self) -> frozenset[str]:
        """Placeholders that need a non-empty value (those used outside every section)."""
        return frozenset(self.placeholders) - self.sections

    def render(self, **values: object) -> RenderedPrompt:
        """Fill the placeholders; every documented one must be passed, no other. A
        `RenderedPrompt` value inserts its text and adds its templates to the result's."""
        missing = sorted(set(self.placeholders) - set(values))
        unknown = sorted(set(values) - set(self.placeholders))
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing value(s) for {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown placeholder(s) {', '.join(unknown)}")
            raise TemplateError(
                f"prompt template '{self.version}': {'; '.join(parts)}",
                hint=f"it takes exactly: {', '.join(sorted(self.placeholders)) or '(nothing)'}",
            )
        texts: dict[str, str] = {}
        templates = {self.version: self.body_hash}
        for key, value in values.items():
            if isinstance(value, RenderedPrompt):
                templates.update(value.templates)
                value = value.text
            text = "" if value is None else str(value).strip("\n")
            if key in self.required and not text.strip():
                raise TemplateError(
                    f"prompt template '{self.version}': placeholder '{key}' is required but empty",
                    hint="pass a non-empty value, or make it an optional {{#section}} in the template",
                )
            texts[key] = text
        return RenderedPrompt(
            text=_fill(self.body, texts), version=self.version, templates=templates
        )


def _fill(body: str, values: dict[str, str]) -> str:
    out: list[str] = []
    pos = 0
    skipping: str | None = None
    for m in _TAG.finditer(body):
        kind, key = m.group(1), m.group(2)
        if skipping is None:
            out.append(body[pos : m.start()])
        pos = m.end()
        if kind == "#":
            if skipping is None and not values[key].strip():
                skipping = key
        elif kind == "/":
            if skipping == key:
                skipping = None
        elif skipping is None:
            out.append(values[key])
    out.append(body[pos:])
    return "".join(out).strip() + "\n"


def prompts_dir() -> Path:
    """The template folder: $AUTOREWARD_PROMPTS_DIR, else `prompts/` at the repository root."""
    env = os.environ.get(PROMPTS_ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "prompts"


def available_versions(name: str, directory: Path | None = None) -> list[int]:
    """Version numbers present for a template name, ascending."""
    folder = directory or prompts_dir()
    found = []
    for path in folder.glob(f"{name}_v*.md"):
        m = _FILE_NAME.match(path.name)
        if m and m.group(1) == name:
            found.append(int(m.group(2)))
    return sorted(found)


def load_template(
    name: str, version: int | None = None, *, directory: Path | None = None
) -> Template:
    """Load `name_vN.md`: the highest N unless `version` is given (or `name` ends in `_vN`)."""
    folder = directory or prompts_dir()
    m = re.fullmatch(r"(" + _NAME + r")_v(\d+)", name)
    if m and version is None:
        name, version = m.group(1), int(m.group(2))
    if version is None:
        versions = available_versions(name, folder)
        if not versions:
            known = sorted(
                {p.group(1) for f in folder.glob("*.md") if (p := _FILE_NAME.match(f.name))}
            )
            raise TemplateError(
                f"no prompt template named '{name}' in {folder}",
                hint=f"known templates: {', '.join(known) or '(none)'}",
            )
        version = versions[-1]
    return _parse(folder / f"{name}_v{version}.md", name, f"{name}_v{version}")


def render(name: str, /, **values: object) -> RenderedPrompt:
    """Load the newest version of template `name` and render it."""
    return load_template(name).render(**values)


@lru_cache(maxsize=128)
def _read(path: Path, mtime_ns: int) -> str:
    return path.read_text(encoding="utf-8")


def _parse(path: Path, name: str, version: str) -> Template:
    if not path.is_file():
        raise TemplateError(
            f"prompt template file {path} does not exist",
            hint=f"versions of '{name}' present: {available_versions(name, path.parent) or 'none'}",
        )
    raw = _read(path, path.stat().st_mtime_ns)
    fm = _FRONT_MATTER.match(raw)
    if fm is None:
        raise TemplateError(
            f"prompt template {path} has no front matter",
            hint="start the file with <!--, a 'placeholders:' line, one indented 'name: what it holds' line each, then -->",
        )
    documented = _documented_placeholders(fm.group(1), path)
    body = _LONE_SECTION_TAG.sub(r"\1", raw[fm.end() :])
    used, sections = _scan(body, path)
    if set(documented) != used:
        undocumented = sorted(used - set(documented))
        unused = sorted(set(documented) - used)
        raise TemplateError(
            f"prompt template {path}: documented placeholders differ from those used"
            + (f"; used but not documented: {', '.join(undocumented)}" if undocumented else "")
            + (f"; documented but not used: {', '.join(unused)}" if unused else ""),
            hint="keep the front matter's 'placeholders' in step with the body",
        )
    return Template(
        name=name,
        version=version,
        path=path,
        body=body,
        placeholders=documented,
        sections=frozenset(sections),
    )


def _documented_placeholders(front: str, path: Path) -> dict[str, str]:
    """The `placeholders:` list of the front matter: indented `name: description` lines.

    Read line by line rather than as YAML, so descriptions may contain colons.
    """
    found: dict[str, str] | None = None
    inside = False
    last: str | None = None
    for line in front.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            key, _, value = line.partition(":")
            inside = key.strip() == "placeholders"
            if inside:
                found = {}
                if value.strip() not in ("", "{}", "none"):
                    raise TemplateError(
                        f"prompt template {path}: write the placeholders one per indented line",
                        hint="placeholders:\n  name: what it holds   (or 'placeholders: {}')",
                    )
            continue
        if not inside or found is None:
            continue
        name, sep, desc = line.strip().partition(":")
        if sep and re.fullmatch(_NAME, name.strip()):
            last = name.strip()
            found[last] = desc.strip()
        elif last is not None:
            found[last] += " " + line.strip()  # a description wrapped onto the next line
        else:
            raise TemplateError(
                f"prompt template {path}: cannot read placeholder line {line.strip()!r}"
            )
    if found is None:
        raise TemplateError(
            f"prompt template {path}: front matter needs a 'placeholders' entry",
            hint="write 'placeholders: {}' for a template without placeholders",
        )
    return found


def _scan(body: str, path: Path) -> tuple[set[str], set[str]]:
    used: set[str] = set()
    sections: set[str] = set()
    open_section: str | None = None
    for m in _TAG.finditer(body):
        kind, key = m.group(1), m.group(2)
        used.add(key)
        if kind == "#":
            if open_section is not None:
                raise TemplateError(
                    f"prompt template {path}: section '{key}' opened inside section '{open_section}'",
                    hint="sections cannot be nested",
                )
            open_section = key
            sections.add(key)
        elif kind == "/":
            if open_section != key:
                raise TemplateError(
                    f"prompt template {path}: '{{{{/{key}}}}}' closes a section that is not open"
                )
            open_section = None
    if open_section is not None:
        raise TemplateError(f"prompt template {path}: section '{open_section}' is never closed")
    leftovers = [t for t in _ANY_BRACES_TAG.findall(_TAG.sub("", body))]
    if leftovers:
        raise TemplateError(
            f"prompt template {path}: malformed placeholder(s) {', '.join(leftovers)}",
            hint="placeholders are {{lower_case_name}}",
        )
    return used, sections
