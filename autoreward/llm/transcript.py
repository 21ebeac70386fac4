"""Replay transcripts: JSONL, one answered prompt per line.

Each line holds the role, the prompt hash, the full canonical prompt text (for diffs when a
prompt no longer matches), the answer, the model that wrote it, its tokens, the sample index,
and the call's `site`: where in the run it was made (iteration, candidate, stage, attempt,
occurrence), which prompt templates built it (`templates`: version -> body sha256, and their
combined `template_hash`) and what the run is about (`inputs_hash`: the task and the schema). `LLMClient(record_path=...)` writes them; `ReplayProvider`
reads them (see `replay.py` for how a call is matched to a line).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoreward.errors import LLMError
from autoreward.store.atomic import append_jsonl, atomic_write_bytes

Slot = tuple[Any, ...]


class CallSite(BaseModel):
    """Where in a run a call is made, and from which prompt templates.

    The agents pass `iteration`, `candidate`, `stage` (designer or revise: which request a
    repair belongs to), `attempt` (repair number, 0 for a first answer) and the template stamp
    in the call's `meta`, with `inputs_hash` (the task and the schema text); the client adds
    `occurrence`: how many calls with the same role, sample index and position this client
    made before (a candidate can be revised twice).
    """

    model_config = ConfigDict(frozen=True)

    iteration: int | None = None
    candidate: int | None = None
    stage: str | None = None
    attempt: int = 0
    occurrence: int = 0
    template_hash: str = ""
    templates: dict[str, str] = Field(default_factory=dict)
    inputs_hash: str = ""

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None, occurrence: int = 0) -> CallSite:
        meta = meta or {}
        return cls(
            iteration=_int_or_none(meta.get("iteration")),
            candidate=_int_or_none(meta.get("candidate")),
            stage=None if meta.get("stage") is None else str(meta["stage"]),
            attempt=_int_or_none(meta.get("attempt")) or 0,
            occurrence=occurrence,
            template_hash=str(meta.get("template_hash") or ""),
            templates={str(k): str(v) for k, v in (meta.get("templates") or {}).items()},
            inputs_hash=str(meta.get("inputs_hash") or ""),
        )

    @property
    def positioned(self) -> bool:
        """Whether the call can be matched by position: it says where it was made, which
        templates built it and for which task (calls made outside the loop carry none)."""
        return bool(self.template_hash and self.inputs_hash) and self.iteration is not None

    def slot(self, role: str, sample_index: int) -> Slot:
        """The call's position, without the templates."""
        return (
            role,
            sample_index,
            self.iteration,
            self.candidate,
            self.stage,
            self.attempt,
            self.occurrence,
        )

    def describe(self, role: str, sample_index: int) -> str:
        parts = [f"iteration {self.iteration}"]
        if self.candidate is not None:
            parts.append(f"candidate {self.candidate}")
        if self.stage is not None and self.stage != role:
            parts.append(f"{self.stage} stage")
        if self.attempt:
            parts.append(f"attempt {self.attempt}")
        if self.occurrence:
            parts.append(f"call {self.occurrence + 1}")
        parts.append(f"sample {sample_index}")
        return f"{role} call at " + ", ".join(parts)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


class TranscriptEntry(BaseModel):
    role: str
    prompt_hash: str
    prompt: str
    answer: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sample_index: int = 0
    site: CallSite | None = None
    images: list[str] = Field(
        default_factory=list,
        description="File names (content hashes) of the prompt's images, kept in the folder "
        "`images_dir(transcript)` beside the transcript; absent in text-only transcripts.",
    )

    @property
    def key(self) -> tuple[str, int]:
        return (self.prompt_hash, self.sample_index)


def read_transcript(path: Path) -> list[TranscriptEntry]:
    """Parse a transcript; a bad line is an `LLMError` naming the file and line number."""
    path = Path(path)
    if not path.is_file():
        raise LLMError(
            f"replay transcript {path} does not exist",
            hint="record one with --record PATH on a run with a real model (or --model manual)",
        )
    entries: list[TranscriptEntry] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = TranscriptEntry.model_validate(json.loads(line))
        except json.JSONDecodeError as err:
            raise LLMError(
                f"replay transcript {path} line {lineno} is not valid JSON: {err.msg}"
            ) from err
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise LLMError(
                f"replay transcript {path} line {lineno}: field {where!r}: {first['msg']}"
            ) from err
        actual = hashlib.sha256(entry.prompt.encode("utf-8")).hexdigest()
        if actual != entry.prompt_hash:
            raise LLMError(
                f"replay transcript {path} line {lineno}: prompt_hash does not match the prompt text "
                f"(the line was edited by hand?)",
                hint="re-record the transcript instead of editing prompts in it",
            )
        entries.append(entry)
    return entries


def images_dir(transcript: Path) -> Path:
    """Where a transcript keeps its prompts' images: `<name>.images/` beside it."""
    return Path(transcript).with_name(Path(transcript).stem + ".images")


class TranscriptRecorder:
    """Appends every answer a run used to a transcript, once per (prompt hash, sample index)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: set[tuple[str, int]] = set()
        if self.path.is_file():
            self._seen = {entry.key for entry in read_transcript(self.path)}

    def record(self, entry: TranscriptEntry, images: list[bytes] | None = None) -> bool:
        """Append `entry` unless its key is already recorded; True when written. `images`
        (the prompt's, in order) are written to `images_dir(path)` under `entry.images`."""
        with self._lock:
            if entry.key in self._seen:
                return False
            if images:
                folder = images_dir(self.path)
                folder.mkdir(parents=True, exist_ok=True)
                for name, png in zip(entry.images, images, strict=True):
                    if not (folder / name).exists():
                        atomic_write_bytes(folder / name, png)
            append_jsonl(self.path, entry.model_dump(exclude_none=True))
            self._seen.add(entry.key)
            return True
