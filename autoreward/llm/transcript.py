"""Replay transcripts: JSONL, one answered prompt per line.

Each line holds the role, the prompt hash, the full canonical prompt text (for diffs when a
prompt no longer matches), the answer, the model that wrote it, its tokens and the sample
index. `LLMClient(record_path=...)` writes them; `ReplayProvider` reads them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from pydantic import BaseModel, ValidationError

from autoreward.errors import LLMError
from autoreward.store.atomic import append_jsonl


class TranscriptEntry(BaseModel):
    role: str
    prompt_hash: str
    prompt: str
    answer: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sample_index: int = 0

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


class TranscriptRecorder:
    """Appends every answer a run used to a transcript, once per (prompt hash, sample index)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: set[tuple[str, int]] = set()
        if self.path.is_file():
            self._seen = {entry.key for entry in read_transcript(self.path)}

    def record(self, entry: TranscriptEntry) -> bool:
        """Append `entry` unless its key is already recorded; True when written."""
        with self._lock:
            if entry.key in self._seen:
                return False
            append_jsonl(self.path, entry.model_dump())
            self._seen.add(entry.key)
            return True
