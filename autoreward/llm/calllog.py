"""Every call remembered: `calls.jsonl` plus `<n>_<role>.prompt.md` / `.answer.md` files."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from autoreward.llm.completion import Completion
from autoreward.llm.messages import Messages, render_messages
from autoreward.store.atomic import append_jsonl, atomic_write_text

_NUMBERED = re.compile(r"^(\d+)_.*\.(prompt|answer)\.md$")


class CallLog:
    """Appends one record per call (answered, cached or failed) to `log_dir/calls.jsonl`.

    Numbers continue after the highest already in the folder, so a resumed run adds to the
    same log instead of overwriting it.
    """

    def __init__(self, log_dir: Path, model: str) -> None:
        self.dir = Path(log_dir)
        self.model = model
        self._lock = threading.Lock()
        self._n = self._last_number()

    @property
    def jsonl(self) -> Path:
        return self.dir / "calls.jsonl"

    def _last_number(self) -> int:
        if not self.dir.is_dir():
            return 0
        numbers = [int(m.group(1)) for p in self.dir.iterdir() if (m := _NUMBERED.match(p.name))]
        return max(numbers, default=0)

    def _next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def record(
        self,
        messages: Messages,
        completion: Completion,
        *,
        temperature: float,
        meta: dict[str, Any] | None,
    ) -> int:
        n = self._next()
        stem = f"{n:04d}_{_safe(completion.role)}"
        prompt_file = self.dir / f"{stem}.prompt.md"
        answer_file = self.dir / f"{stem}.answer.md"
        atomic_write_text(prompt_file, render_messages(messages))
        atomic_write_text(answer_file, completion.text)
        append_jsonl(
            self.jsonl,
            {
                "n": n,
                "time": time.time(),
                "client_model": self.model,
                **completion.model_dump(exclude={"text"}),
                "temperature": temperature,
                "meta": meta or {},
                "prompt_file": prompt_file.name,
                "answer_file": answer_file.name,
                "messages": messages,
                "answer": completion.text,
            },
        )
        return n

    def record_failure(
        self,
        messages: Messages,
        *,
        role: str,
        prompt_hash: str,
        sample_index: int,
        temperature: float,
        meta: dict[str, Any] | None,
        error: str,
    ) -> int:
        n = self._next()
        prompt_file = self.dir / f"{n:04d}_{_safe(role)}.prompt.md"
        atomic_write_text(prompt_file, render_messages(messages))
        append_jsonl(
            self.jsonl,
            {
                "n": n,
                "time": time.time(),
                "client_model": self.model,
                "role": role,
                "prompt_hash": prompt_hash,
                "sample_index": sample_index,
                "temperature": temperature,
                "meta": meta or {},
                "prompt_file": prompt_file.name,
                "messages": messages,
                "error": error,
            },
        )
        return n


def _safe(role: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", role) or "call"
