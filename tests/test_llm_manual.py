"""The `manual` provider: prompt files out, answer files (or the terminal) in."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakellm import load_answer
from rich.console import Console

from autoreward.errors import LLMError
from autoreward.llm import LLMClient
from autoreward.llm.manual import ManualProvider
from autoreward.llm.messages import prompt_hash

PROMPT = [
    {"role": "system", "content": "You are a reward designer for reinforcement learning."},
    {"role": "user", "content": "Task: balance the pole in the left half of the track."},
]


Person = Callable[[Path, dict[int, str]], threading.Thread]


def quiet() -> Console:
    return Console(stderr=True, quiet=True)


def answer_when_asked(folder: Path, answers: dict[int, str], stop: threading.Event) -> None:
    """Play the person: answer each prompt_<n>.md that appears with answers[n]."""
    while not stop.is_set():
        for n, text in list(answers.items()):
            if (folder / f"prompt_{n}.md").exists():
                (folder / f"answer_{n}.md").write_text(text, encoding="utf-8")
                del answers[n]
        if not answers:
            return
        time.sleep(0.01)


@pytest.fixture
def person() -> Iterator[Person]:
    threads: list[threading.Thread] = []
    stop = threading.Event()

    def start(folder: Path, answers: dict[int, str]) -> threading.Thread:
        thread = threading.Thread(
            target=answer_when_asked, args=(folder, dict(answers), stop), daemon=True
        )
        thread.start()
        threads.append(thread)
        return thread

    yield start
    stop.set()
    for thread in threads:
        thread.join(5)


def test_prompt_file_is_answered_from_another_thread(tmp_path: Path, person: Person) -> None:
    folder = tmp_path / "run" / "llm" / "manual"
    answer = load_answer("designer_cartpole")
    person(folder, {1: answer})
    client = LLMClient(
        "manual", log_dir=tmp_path / "run" / "llm", manual_poll_interval=0.01, console=quiet()
    )

    done = client.complete(PROMPT, role="designer")

    assert done.text == answer.strip()
    assert done.model == "manual" and done.cost == 0.0
    prompt = (folder / "prompt_1.md").read_text()
    assert "save the model's whole answer, unedited, as `answer_1.md`" in prompt.lower()
    assert "=== system ===\nYou are a reward designer" in prompt
    assert "=== user ===\nTask: balance the pole" in prompt
    assert (tmp_path / "run" / "llm" / "0001_designer.answer.md").read_text() == answer.strip()


def test_samples_get_their_own_files_and_are_cached(tmp_path: Path, person: Person) -> None:
    folder = tmp_path / "manual"
    person(folder, {1: "first", 2: "second", 3: "third"})
    client = LLMClient("manual", manual_dir=folder, manual_poll_interval=0.01, console=quiet())

    done = client.complete_many(PROMPT, 3, role="designer")

    by_file = {n: (folder / f"answer_{n}.md").read_text() for n in (1, 2, 3)}
    assert sorted(c.text for c in done) == sorted(by_file.values())
    texts = [(folder / f"prompt_{n}.md").read_text() for n in (1, 2, 3)]
    assert "The same prompt was written before" not in texts[0]
    assert "The same prompt was written before as prompt_1.md, prompt_2.md" in texts[2]
    again = LLMClient("manual", manual_dir=folder, console=quiet()).complete_many(
        PROMPT, 3, role="designer"
    )
    assert [c.text for c in again] == [c.text for c in done]
    assert all(c.cached for c in again)


def test_different_prompts_with_other_sample_indices_are_not_called_samples(tmp_path: Path) -> None:
    # The critic reviews a different reward for each candidate: never "another sample".
    folder = tmp_path / "manual"
    provider = ManualProvider(folder, poll_interval=0.01, timeout=0.02, console=quiet())
    for k, index in enumerate((0, 2)):
        msgs = [PROMPT[0], {"role": "user", "content": f"Review this reward function number {k}"}]
        with pytest.raises(LLMError, match="no answer"):
            provider.complete(msgs, role="critic", temperature=0.0, sample_index=index,
                              prompt_hash=prompt_hash(msgs))  # fmt: skip
    for n in (1, 2):
        text = (folder / f"prompt_{n}.md").read_text()
        assert "same prompt" not in text and "another independent sample" not in text


def test_resumed_run_reuses_the_prompt_number_and_a_saved_answer(tmp_path: Path) -> None:
    folder = tmp_path / "manual"
    first = ManualProvider(folder, poll_interval=0.01, timeout=0.05, console=quiet())
    phash = prompt_hash(PROMPT)
    with pytest.raises(LLMError, match=r"no answer in .*answer_1\.md after 0\.05 s"):
        first.complete(PROMPT, role="designer", temperature=1.0, sample_index=0, prompt_hash=phash)

    (folder / "answer_1.md").write_text("saved while the run was down\n")
    resumed = ManualProvider(folder, poll_interval=0.01, timeout=0.05, console=quiet())
    answer = resumed.complete(
        PROMPT, role="designer", temperature=1.0, sample_index=0, prompt_hash=phash
    )

    assert answer.text == "saved while the run was down"
    assert sorted(p.name for p in folder.iterdir()) == ["answer_1.md", "prompt_1.md"]


def test_a_new_prompt_after_resume_gets_the_next_number(tmp_path: Path) -> None:
    folder = tmp_path / "manual"
    folder.mkdir()
    (folder / "prompt_1.md").write_text("an older prompt\n")
    (folder / "answer_1.md").write_text("its answer\n")
    provider = ManualProvider(folder, poll_interval=0.01, timeout=0.05, console=quiet())

    with pytest.raises(LLMError, match="answer_2.md"):
        provider.complete(
            PROMPT, role="critic", temperature=1.0, sample_index=0, prompt_hash=prompt_hash(PROMPT)
        )
    assert (folder / "prompt_2.md").exists()


def test_empty_answer_file_is_not_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "manual"
    folder.mkdir()
    (folder / "answer_1.md").write_text("  \n\n")
    messages: list[str] = []
    console = Console(stderr=True, quiet=True)
    console.print = lambda text, **_: messages.append(str(text))  # type: ignore[method-assign]
    provider = ManualProvider(folder, poll_interval=0.01, timeout=0.1, console=console)

    with pytest.raises(LLMError, match="no answer in"):
        provider.complete(
            PROMPT,
            role="designer",
            temperature=1.0,
            sample_index=0,
            prompt_hash=prompt_hash(PROMPT),
        )
    assert any("answer_1.md is empty" in m for m in messages)


def test_answer_typed_in_the_terminal_ends_at_eof_line(tmp_path: Path) -> None:
    folder = tmp_path / "manual"
    typed = iter(["", "Here is the reward.", "```python", "x = 1", "```", "EOF", "never read"])
    provider = ManualProvider(folder, input_fn=lambda _: next(typed), console=quiet())

    answer = provider.complete(
        PROMPT, role="designer", temperature=1.0, sample_index=0, prompt_hash="a" * 64
    )

    assert answer.text == "Here is the reward.\n```python\nx = 1\n```"
    assert (folder / "answer_1.md").read_text() == answer.text + "\n"
    assert next(typed) == "never read"


def test_terminal_ctrl_d_ends_the_answer_and_empty_input_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "manual"
    typed = iter(["EOF", "the answer"])

    def read(_: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    provider = ManualProvider(folder, input_fn=read, console=quiet())
    answer = provider.complete(
        PROMPT, role="designer", temperature=1.0, sample_index=0, prompt_hash="b" * 64
    )
    assert answer.text == "the answer"

    closed = ManualProvider(tmp_path / "other", input_fn=read, console=quiet())
    with pytest.raises(LLMError, match="terminal closed before an answer to prompt_1.md"):
        closed.complete(
            PROMPT, role="designer", temperature=1.0, sample_index=0, prompt_hash="b" * 64
        )


def test_waiting_is_announced_with_absolute_paths_and_the_answer_is_reported(
    tmp_path: Path, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller (the run's live view) is told which prompt waits, where it is and where the
    answer goes — absolute paths, also when the folder was given relative to the cwd."""
    monkeypatch.chdir(tmp_path)
    events: list[dict[str, object]] = []
    person(tmp_path / "manual", {1: "the answer"})
    provider = ManualProvider(Path("manual"), poll_interval=0.01, notify=events.append)
    text = provider.complete(
        PROMPT, role="critic", temperature=0.0, sample_index=0, prompt_hash=prompt_hash(PROMPT)
    )
    assert text.text == "the answer"
    assert events == [
        {"event": "manual_wait", "prompt": 1, "role": "critic",
         "prompt_path": str(tmp_path / "manual" / "prompt_1.md"),
         "answer_path": str(tmp_path / "manual" / "answer_1.md")},
        {"event": "manual_answered", "prompt": 1, "role": "critic"},
    ]  # fmt: skip
    assert (
        f"(the full path: `{tmp_path / 'manual' / 'answer_1.md'}`)"
        in (tmp_path / "manual" / "prompt_1.md").read_text()
    )


def test_without_a_listener_the_message_keeps_each_path_on_one_line(
    tmp_path: Path, person: Person
) -> None:
    """Printed to a pipe (80 columns), a long path must stay whole so it can be copied."""
    import io

    from autoreward.output import CliConsole

    folder = tmp_path / ("deeply-nested-run-directory-" * 4) / "llm" / "manual"
    out = io.StringIO()
    person(folder, {1: "ok"})
    provider = ManualProvider(folder, poll_interval=0.01, console=CliConsole(file=out, width=80))
    provider.complete(
        PROMPT, role="designer", temperature=1.0, sample_index=0, prompt_hash="a" * 64
    )
    lines = out.getvalue().splitlines()
    assert f"  1. open {folder / 'prompt_1.md'}" in lines
    assert any(line.endswith(str(folder / "answer_1.md")) for line in lines)
    assert "paste everything below its `---` line into a chat window" in out.getvalue()


def test_stop_waiting_ends_every_poll(tmp_path: Path) -> None:
    """Ctrl-C sets the stop flag: threads polling for answer files end instead of keeping the
    interrupted process alive."""
    from autoreward.llm.manual import allow_waiting, stop_waiting

    provider = ManualProvider(tmp_path, poll_interval=0.01, console=quiet())
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            provider.complete(PROMPT, role="designer", temperature=1.0, sample_index=0,
                              prompt_hash="b" * 64)  # fmt: skip
        except LLMError as err:
            errors.append(err)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.1)
    assert thread.is_alive()
    stop_waiting()
    try:
        thread.join(5)
        assert not thread.is_alive()
        assert len(errors) == 1 and "stopped waiting for" in str(errors[0])
    finally:
        allow_waiting()
