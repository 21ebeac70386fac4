"""The analyzer: why the trained policies failed, and what to change in the next reward.

It reads text rendered by the train room (component statistics, trajectory summaries) and
fitness values; its markdown answer goes into the next designer prompt. A failed call gives an
empty analysis with a warning: the next iteration simply goes without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from autoreward.agents.base import Reviewer, Spend, call_meta, messages
from autoreward.agents.prompts import load_template
from autoreward.errors import LLMError
from autoreward.llm.messages import image_part, text_part

SYSTEM = "system_analyzer"

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$|^\s*\*\*(.+?)\*\*:?\s*$")
_BULLET = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$")


@dataclass(frozen=True)
class Keyframes:
    """Frames of one evaluation episode (PNG bytes) and the text that labels them, in order
    (made by `autoreward.loop.frames`)."""

    label: str
    captions: list[str]
    images: list[bytes]


class Analysis(BaseModel):
    text: str = Field(description="The analyzer's answer (markdown), as written.")
    causes: list[str] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)
    warning: str | None = None
    prompt_version: str = ""
    tokens: int = 0
    cost: float = 0.0


def parse_analysis(text: str) -> tuple[list[str], list[str]]:
    """Bullets under "## Failure causes" and "## Changes for the next iteration" (headings
    matched case-insensitively, by prefix: "Changes for the next iteration:" also counts)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        h = _HEADING.match(line)
        if h:
            title = (h.group(1) or h.group(2)).strip().rstrip(":").lower()
            if title.startswith("failure cause"):
                current = sections.setdefault("causes", [])
            elif title.startswith("changes"):
                current = sections.setdefault("changes", [])
            else:
                current = None
            continue
        if current is None:
            continue
        b = _BULLET.match(line)
        if b:
            current.append(b.group(1).strip())
        elif line.strip() and current and line.startswith((" ", "\t")):
            current[-1] += " " + line.strip()  # continuation of a wrapped bullet
    return sections.get("causes", []), sections.get("changes", [])


class Analyzer(Reviewer):
    def analyze(
        self,
        *,
        iteration: int,
        best: str,
        worst: str | None,
        fitness_table: str,
        candidates: str,
        frames: list[Keyframes] | None = None,
    ) -> Analysis:
        """`candidates`: every trained candidate compactly; `best` and `worst` in full
        (`worst` None when only one candidate trained: never the same candidate twice).
        `frames` (keyframes of the best and the worst episodes) are attached only when the
        client's model sees images; a text-only model gets the prompt without them."""
        shown = [f for f in frames or [] if f.images] if sees_images(self.client) else []
        prompt = load_template("analyzer").render(
            task=self.task,
            schema=self.schema_text,
            training=self.training,
            fitness_table=fitness_table,
            candidates=candidates,
            best=best,
            worst=worst,
            frames="\n".join(f"- {f.label}" for f in shown) or None,
        )
        chat = messages(SYSTEM, prompt)
        if shown:
            chat[-1]["content"] = with_images(prompt.text, shown)
        spend = Spend()
        try:
            completion = self.client.complete(
                chat,
                role="analyzer",
                temperature=self.temperature,
                sample_index=0,
                meta=call_meta(SYSTEM, prompt, inputs=self.inputs, iteration=iteration),
            )
        except LLMError as err:
            return Analysis(
                text="", warning=f"analyzer call failed: {err}", prompt_version=prompt.version
            )
        spend.add(completion)
        causes, changes = parse_analysis(completion.text)
        warning = None
        if not causes and not changes:
            warning = (
                "the analysis has no '## Failure causes' / '## Changes for the next iteration' "
                "bullets; its text is passed on as is"
            )
        return Analysis(
            text=completion.text.strip() + "\n",
            causes=causes,
            changes=changes,
            warning=warning,
            prompt_version=prompt.version,
            tokens=spend.tokens,
            cost=spend.cost,
        )


def sees_images(client: object) -> bool:
    """Whether the client's model takes images (`LLMClient.sees_images`; fakes: no)."""
    return bool(getattr(client, "sees_images", False))


def with_images(text: str, frames: list[Keyframes]) -> list[dict[str, Any]]:
    """The user message as content parts: the prompt text, then per episode its label and
    each caption followed by its frame."""
    parts: list[dict[str, Any]] = [text_part(text)]
    for f in frames:
        parts.append(text_part(f.label))
        for caption, png in zip(f.captions, f.images, strict=True):
            parts += [text_part(caption), image_part(png)]
    return parts
