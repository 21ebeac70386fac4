"""`replay:PATH` — answers every call from a recorded transcript, never by guessing."""

from __future__ import annotations

import difflib
import threading
from pathlib import Path

from autoreward.errors import LLMError
from autoreward.llm.completion import Answer
from autoreward.llm.messages import Messages, render_messages
from autoreward.llm.transcript import TranscriptEntry, read_transcript

_RERECORD = (
    "the prompts changed since the recording (templates, schema or inputs); "
    "re-record with --record PATH and a real model or --model manual"
)


class ReplayProvider:
    """Looks each prompt up by (prompt hash, sample index) in a transcript (see `transcript.py`).

    A prompt that is not there is an `LLMError` naming the first line where it differs from
    the closest recorded prompt of the same role.
    """

    uses_cache = False

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: list[TranscriptEntry] | None = None
        self._index: dict[tuple[str, int], TranscriptEntry] = {}

    def _load(self) -> dict[tuple[str, int], TranscriptEntry]:
        with self._lock:
            if self._entries is None:
                self._entries = read_transcript(self.path)
                for entry in self._entries:
                    self._index.setdefault(entry.key, entry)
            return self._index

    def preflight(self) -> None:
        if not self._load():
            raise LLMError(f"replay transcript {self.path} holds no answers", hint=_RERECORD)

    def complete(
        self,
        messages: Messages,
        *,
        role: str,
        temperature: float,
        sample_index: int,
        prompt_hash: str,
    ) -> Answer:
        entry = self._load().get((prompt_hash, sample_index))
        if entry is None:
            raise self._mismatch(render_messages(messages), role, prompt_hash, sample_index)
        return Answer(
            text=entry.answer,
            model=entry.model,
            prompt_tokens=entry.prompt_tokens,
            completion_tokens=entry.completion_tokens,
            cost=0.0,
        )

    def _mismatch(self, prompt: str, role: str, phash: str, sample_index: int) -> LLMError:
        entries = self._entries or []
        samples = sorted(e.sample_index for e in entries if e.prompt_hash == phash)
        if samples:
            return LLMError(
                f"replay transcript {self.path} holds samples {_ranges(samples)} of this {role} "
                f"prompt, not sample {sample_index}",
                hint=f"ask for at most {len(samples)} samples, or re-record with more",
            )
        same_role = {e.prompt_hash: e.prompt for e in entries if e.role == role}
        if not same_role:
            roles = ", ".join(sorted({e.role for e in entries})) or "none"
            return LLMError(
                f"replay transcript {self.path} has no {role} prompts (roles recorded: {roles})",
                hint=_RERECORD,
            )
        wanted = prompt.splitlines()
        closest = max(
            same_role.values(),
            key=lambda rec: difflib.SequenceMatcher(None, rec.splitlines(), wanted).ratio(),
        )
        lineno, recorded_line, requested_line = first_difference(closest.splitlines(), wanted)
        return LLMError(
            f"no recorded answer for this {role} prompt in {self.path} (sample {sample_index}, "
            f"hash {phash[:12]}); it first differs from the closest recorded {role} prompt "
            f"at line {lineno}:\n"
            f"    recorded:  {recorded_line}\n"
            f"    requested: {requested_line}",
            hint=_RERECORD,
        )


def first_difference(recorded: list[str], requested: list[str]) -> tuple[int, str, str]:
    """1-based number of the first differing line and both versions of it (shown with repr,
    cut to 160 characters; `<end of prompt>` where one prompt is shorter)."""
    for i in range(max(len(recorded), len(requested))):
        a = recorded[i] if i < len(recorded) else None
        b = requested[i] if i < len(requested) else None
        if a != b:
            return i + 1, _show(a), _show(b)
    return len(recorded) + 1, "<end of prompt>", "<end of prompt>"


def _show(line: str | None) -> str:
    if line is None:
        return "<end of prompt>"
    text = repr(line)
    return text if len(text) <= 160 else text[:157] + "..."


def _ranges(values: list[int]) -> str:
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}" if len(values) > 1 else str(values[0])
    return ", ".join(map(str, values))
