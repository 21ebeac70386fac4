"""`replay:PATH` — answers every call from a recorded transcript, never by guessing.

The matching rule, in order:

1. **Exact**: a recorded line with the same prompt hash and sample index. Every call of a run
   replayed with the recorded config and the recorded numbers matches this way.
2. **By position**: a recorded line made at the same place in the run — same role, sample
   index, iteration, candidate, stage (a repair of a design or of a revision), attempt
   (repair number) and occurrence (n-th such call) — whose prompt was built from the *same
   template files* (equal `template_hash`: sha256 of every template body behind the system and
   user messages) for the *same task and environment schema* (equal `inputs_hash`). Its
   answer is used although the prompt text differs: from the second iteration on, prompts
   carry training numbers (fitness values, component statistics, trajectories) that change
   with a smaller step budget, another seed or another CPU. Such answers are counted apart
   (`Completion.replay == "position"`, `LLMClient.replay_counts`, the run's events and
   summary), never silently.
3. Otherwise an `LLMError` naming the first line where the requested prompt differs from the
   recorded prompt at the same position (or, without one, the closest recorded prompt of the
   same role), and which templates changed. Editing any template file therefore stops a
   replay at the first call that uses it: recorded sessions cannot drift from `prompts/`.

A replay answers the questions the recording asked: a run whose numbers lead it to a call the
recording never made (e.g. a revision the recorded run did not need) also ends with that error.
"""

from __future__ import annotations

import difflib
import threading
from pathlib import Path

from autoreward.errors import LLMError
from autoreward.llm.completion import Answer, ReplayMatch
from autoreward.llm.messages import Messages, render_messages
from autoreward.llm.transcript import CallSite, Slot, TranscriptEntry, read_transcript

_RERECORD = (
    "the prompts changed since the recording (templates, schema or inputs); "
    "re-record with --record PATH and a real model or --model manual"
)


class ReplayProvider:
    """Answers each call from a transcript (see `transcript.py`): by prompt hash and sample
    index, else by position with identical templates; anything else is an `LLMError`."""

    uses_cache = False

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: list[TranscriptEntry] | None = None
        self._index: dict[tuple[str, int], TranscriptEntry] = {}
        self._by_slot: dict[Slot, TranscriptEntry] = {}

    def _load(self) -> list[TranscriptEntry]:
        with self._lock:
            if self._entries is None:
                self._entries = read_transcript(self.path)
                for entry in self._entries:
                    self._index.setdefault(entry.key, entry)
                    if entry.site is not None and entry.site.positioned:
                        slot = entry.site.slot(entry.role, entry.sample_index)
                        self._by_slot.setdefault(slot, entry)
            return self._entries

    @property
    def has_images(self) -> bool:
        """Whether the recorded run sent images (then the replayed run sends them too, so its
        prompts match the recorded ones)."""
        try:
            return any(entry.images for entry in self._load())
        except LLMError:
            return False

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
        site: CallSite | None = None,
    ) -> Answer:
        self._load()
        entry = self._index.get((prompt_hash, sample_index))
        if entry is not None:
            return _answer(entry, "exact")
        at_slot = None
        if site is not None and site.positioned:
            at_slot = self._by_slot.get(site.slot(role, sample_index))
            if at_slot is not None and _same_templates_and_inputs(at_slot.site, site):
                return _answer(at_slot, "position")
        raise self._mismatch(
            render_messages(messages), role, prompt_hash, sample_index, site, at_slot
        )

    def _mismatch(
        self,
        prompt: str,
        role: str,
        phash: str,
        sample_index: int,
        site: CallSite | None,
        at_slot: TranscriptEntry | None,
    ) -> LLMError:
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
        if at_slot is not None:
            compared, which = at_slot.prompt, f"the recorded {role} prompt at the same position"
        else:
            compared = max(
                same_role.values(),
                key=lambda rec: difflib.SequenceMatcher(None, rec.splitlines(), wanted).ratio(),
            )
            which = f"the closest recorded {role} prompt"
        lineno, recorded_line, requested_line = first_difference(compared.splitlines(), wanted)
        why = _why_not_by_position(role, sample_index, site, at_slot)
        return LLMError(
            f"no recorded answer for this {role} prompt in {self.path} (sample {sample_index}, "
            f"hash {phash[:12]}); it first differs from {which} at line {lineno}:\n"
            f"    recorded:  {recorded_line}\n"
            f"    requested: {requested_line}" + (f"\n{why}" if why else ""),
            hint=_RERECORD,
        )


def _answer(entry: TranscriptEntry, how: ReplayMatch) -> Answer:
    return Answer(
        text=entry.answer,
        model=entry.model,
        prompt_tokens=entry.prompt_tokens,
        completion_tokens=entry.completion_tokens,
        cost=0.0,
        replay=how,
    )


def _same_templates_and_inputs(recorded: CallSite | None, wanted: CallSite) -> bool:
    return (
        recorded is not None
        and recorded.template_hash == wanted.template_hash
        and recorded.inputs_hash == wanted.inputs_hash
    )


def _why_not_by_position(
    role: str, sample_index: int, site: CallSite | None, at_slot: TranscriptEntry | None
) -> str:
    """The line saying why the answer recorded at this call's position could not be used."""
    if site is None or not site.positioned:
        return ""
    where = site.describe(role, sample_index)
    if at_slot is None or at_slot.site is None:
        return (
            f"not answered by position either: the recording made no {where} "
            "(this run took another path, e.g. a revision the recorded run did not need)"
        )
    if at_slot.site.template_hash != site.template_hash:
        return (
            f"not answered by position either: the prompt templates changed since the "
            f"recording ({template_changes(at_slot.site.templates, site.templates)})"
        )
    return (
        "not answered by position either: the task or the environment schema differs "
        "from the recording"
    )


def template_changes(recorded: dict[str, str], current: dict[str, str]) -> str:
    """Which templates differ between two stamps (version -> body sha256), as one phrase."""
    edited = sorted(v for v in recorded.keys() & current.keys() if recorded[v] != current[v])
    added = sorted(current.keys() - recorded.keys())
    gone = sorted(recorded.keys() - current.keys())
    parts = []
    if edited:
        parts.append("edited: " + ", ".join(edited))
    if added:
        parts.append("not used by the recording: " + ", ".join(added))
    if gone:
        parts.append("used by the recording only: " + ", ".join(gone))
    return "; ".join(parts) or "template hashes differ"


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
