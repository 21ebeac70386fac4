"""`manual` — a person carries each prompt to a chat window and brings the answer back.

Each prompt goes to `prompt_<n>.md` in the manual folder; the answer is read from
`answer_<n>.md` beside it (polled), or typed into the terminal when `input_fn` is given.
A prompt already written there (same text, same sample) keeps its number, so a resumed run
picks up answers saved while it was down.

A person must be told where each prompt is and what to do: with `notify`, the provider
reports `manual_wait` (prompt number, role, the absolute prompt and answer paths) and
`manual_answered` events, and the caller shows them (the run's live view lists every pending
prompt); without it, the same message is printed, unwrapped so the paths can be copied.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from autoreward.errors import LLMError
from autoreward.llm.completion import Answer
from autoreward.llm.messages import Messages, image_name, message_images, render_messages
from autoreward.llm.transcript import CallSite
from autoreward.store.atomic import atomic_write_bytes, atomic_write_text

_STOP = threading.Event()


def stop_waiting() -> None:
    """Make every provider stop waiting for answer files (Ctrl-C): the threads polling for
    them end with an LLMError, so the interrupted run can exit instead of waiting for ever."""
    _STOP.set()


def allow_waiting() -> None:
    """Undo `stop_waiting` (a new command starts)."""
    _STOP.clear()


_HEADER = re.compile(r"^<!-- autoreward manual prompt (\d+) hash=([0-9a-f]{64}) sample=(\d+) -->")
_PROMPT_FILE = re.compile(r"^prompt_(\d+)\.md$")


class ManualProvider:
    """Writes `prompt_<n>.md` and waits for `answer_<n>.md` (or reads the terminal)."""

    uses_cache = True

    def __init__(
        self,
        dir: Path,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        input_fn: Callable[[str], str] | None = None,
        console: Console | None = None,
        notify: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.dir = Path(dir).absolute()
        self.notify = notify
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.input_fn = input_fn
        self.console = console or Console(stderr=True)
        self._lock = threading.Lock()
        self._terminal = threading.Lock()
        self._known: dict[tuple[str, int], int] | None = None
        self._last = 0

    def preflight(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LLMError(
                f"cannot create the manual prompt folder {self.dir}: {err.strerror}"
            ) from err

    # ------------------------------------------------------------------ numbering
    def _scan(self) -> dict[tuple[str, int], int]:
        known: dict[tuple[str, int], int] = {}
        if self.dir.is_dir():
            for path in self.dir.iterdir():
                if not (m := _PROMPT_FILE.match(path.name)):
                    continue
                self._last = max(self._last, int(m.group(1)))
                with path.open(encoding="utf-8") as fh:
                    header = _HEADER.match(fh.readline())
                if header:
                    known[(header.group(2), int(header.group(3)))] = int(header.group(1))
        return known

    def _number_for(self, prompt_hash: str, sample_index: int) -> tuple[int, bool, list[int]]:
        """The prompt's number, whether its file must be written, and the numbers of other
        samples of the very same prompt written before it."""
        with self._lock:
            if self._known is None:
                self._known = self._scan()
            key = (prompt_hash, sample_index)
            if key in self._known:
                n, fresh = self._known[key], False
            else:
                self._last += 1
                self._known[key] = n = self._last
                fresh = True
            twins = sorted(
                m
                for (h, s), m in self._known.items()
                if h == prompt_hash and s != sample_index and m < n
            )
            return n, fresh, twins

    # ------------------------------------------------------------------ answering
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
        n, fresh, twins = self._number_for(prompt_hash, sample_index)
        prompt_path = self.dir / f"prompt_{n}.md"
        answer_path = self.dir / f"answer_{n}.md"
        if fresh or not prompt_path.exists():
            text = self._render(n, messages, role, sample_index, prompt_hash, answer_path, twins)
            atomic_write_text(prompt_path, text)
        existing = _read_answer(answer_path)
        if existing:
            return Answer(text=existing, model="manual")
        if self.input_fn is not None:
            return Answer(
                text=self._from_terminal(n, role, prompt_path, answer_path), model="manual"
            )
        self._announce(
            {"event": "manual_wait", "prompt": n, "role": role,
             "prompt_path": str(prompt_path), "answer_path": str(answer_path)}
        )  # fmt: skip
        text = self._poll(answer_path)
        self._announce({"event": "manual_answered", "prompt": n, "role": role})
        return Answer(text=text, model="manual")

    def _announce(self, ev: dict[str, Any]) -> None:
        if self.notify is not None:
            self.notify(ev)
        elif ev["event"] == "manual_wait":
            self.console.print(
                f"[bold cyan]manual[/] {escape(ev['role'])} prompt {ev['prompt']} is waiting for "
                f"your answer:\n  1. open [bold]{escape(ev['prompt_path'])}[/]\n"
                "  2. paste everything below its `---` line into a chat window (a new chat for each "
                "prompt)\n"
                "  3. save the model's whole answer, unedited, as\n"
                f"     [bold]{escape(ev['answer_path'])}[/]",
                highlight=False,
                soft_wrap=True,
            )

    def _render(
        self,
        n: int,
        messages: Messages,
        role: str,
        sample_index: int,
        prompt_hash: str,
        answer_path: Path,
        twins: list[int],
    ) -> str:
        # Said only when this exact prompt really was written before as another sample (the
        # critic and revise prompts of different candidates differ, whatever their index).
        again = (
            f"The same prompt was written before as {', '.join(f'prompt_{m}.md' for m in twins)}: "
            "this is another independent sample, so use a new chat and do not reuse that answer.\n"
            if twins
            else ""
        )
        images = self._write_images(messages)
        attach = (
            f"This prompt comes with {len(images)} image(s), saved in this folder as "
            + ", ".join(f"`{name}`" for name in images)
            + ": attach them to the chat message in that order (the text marks each one's place "
            "as `[image k: name]`).\n"
            if images
            else ""
        )
        return (
            f"<!-- autoreward manual prompt {n} hash={prompt_hash} sample={sample_index} -->\n"
            f"# Prompt {n} ({role})\n\n"
            "Paste everything below the line into a chat window with the model of your choice "
            "(a new chat for each prompt).\n"
            f"{attach}"
            f"Save the model's whole answer, unedited, as `{answer_path.name}` in this folder:\n"
            f"`{answer_path.parent}`\n"
            f"(the full path: `{answer_path}`)\n"
            f"autoreward is waiting for that file.\n{again}\n"
            "---\n\n"
            f"{render_messages(messages)}"
        )

    def _write_images(self, messages: Messages) -> list[str]:
        """Write the chat's inline images beside the prompt, named by content hash."""
        names = []
        for png in message_images(messages):
            self.dir.mkdir(parents=True, exist_ok=True)
            name = image_name(png)
            path = self.dir / name
            if not path.exists():
                atomic_write_bytes(path, png)
            names.append(name)
        return names

    def _poll(self, answer_path: Path) -> str:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        warned_empty = False
        last_seen: tuple[int, int] | None = None
        while True:
            try:
                stat = answer_path.stat()
            except FileNotFoundError:
                stat = None
            if stat is not None:
                seen = (stat.st_size, stat.st_mtime_ns)
                # Accept a file only once it stopped changing for one poll (an editor may
                # still be writing it).
                if seen == last_seen:
                    text = _read_answer(answer_path)
                    if text:
                        return text
                    if not warned_empty:
                        self.console.print(
                            f"[yellow]manual[/] {escape(str(answer_path))} is empty; "
                            "waiting for the answer text",
                            highlight=False,
                            soft_wrap=True,
                        )
                        warned_empty = True
                last_seen = seen
            if _STOP.is_set() or not threading.main_thread().is_alive():
                raise LLMError(
                    f"stopped waiting for {answer_path}",
                    hint="save the model's answer there and resume the run with --resume DIR",
                )
            if deadline is not None and time.monotonic() > deadline:
                raise LLMError(
                    f"no answer in {answer_path} after {self.timeout:g} s",
                    hint="save the model's answer there and resume the run with --resume DIR",
                )
            time.sleep(self.poll_interval)

    def _from_terminal(self, n: int, role: str, prompt_path: Path, answer_path: Path) -> str:
        assert self.input_fn is not None
        with self._terminal:
            existing = _read_answer(answer_path)
            if existing:
                return existing
            self.console.print(
                f"[bold cyan]manual[/] {escape(role)} prompt {n} is in "
                f"[bold]{escape(str(prompt_path))}[/]\n"
                "  paste the model's answer below; finish with a line holding only EOF (or Ctrl-D)",
                highlight=False,
                soft_wrap=True,
            )
            while True:
                lines: list[str] = []
                closed = False
                while True:
                    try:
                        line = self.input_fn("")
                    except EOFError:
                        closed = True
                        break
                    if line.strip() == "EOF":
                        break
                    lines.append(line)
                text = "\n".join(lines).strip()
                if text:
                    atomic_write_text(answer_path, text + "\n")
                    return text
                if closed:
                    raise LLMError(
                        f"the terminal closed before an answer to {prompt_path.name} was given",
                        hint=f"save the answer as {answer_path} and resume the run with --resume DIR",
                    )
                self.console.print("[yellow]manual[/] empty answer; paste the answer, then EOF")


def _read_answer(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
