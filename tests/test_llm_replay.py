"""`replay:PATH`: record through the fake server, replay with no server, fail loudly on drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakellm import FakeLLMServer, load_answer

from autoreward.errors import LLMError
from autoreward.llm import LLMClient
from autoreward.llm.messages import prompt_hash, render_messages
from autoreward.llm.replay import first_difference

DESIGNER = [
    {"role": "system", "content": "You are a reward designer.\nWrite numpy code only."},
    {
        "role": "user",
        "content": "Task: balance the pole in the left half.\nSchema:\n- cart_position (m)\n- pole_angle (rad)",
    },
]
ANALYZER = [
    {"role": "system", "content": "You analyse training results."},
    {"role": "user", "content": "Best fitness 0.4; left_half mean 0.52."},
]


def record_session(server: FakeLLMServer, tmp_path: Path) -> tuple[Path, list[str]]:
    server.add_rule("reward designer", load_answer("designer_cartpole"), "a second design")
    server.add_rule("analyse training", load_answer("analyzer_cartpole"))
    path = tmp_path / "session.jsonl"
    client = LLMClient(**server.client_kwargs(), cache_dir=tmp_path / "cache", record_path=path)
    designs = client.complete_many(DESIGNER, 2, role="designer")
    analysis = client.complete(ANALYZER, role="analyzer")
    return path, [d.text for d in designs] + [analysis.text]


def test_recorded_session_replays_without_a_server(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    path, texts = record_session(fake_llm, tmp_path)
    fake_llm.stop()

    replay = LLMClient(f"replay:{path}", log_dir=tmp_path / "llm")
    replay.preflight()
    designs = replay.complete_many(DESIGNER, 2, role="designer")
    analysis = replay.complete(ANALYZER, role="analyzer")

    assert [d.text for d in designs] + [analysis.text] == texts
    assert all(d.model == "fake-model" and d.cost == 0.0 and not d.cached for d in designs)
    assert designs[0].completion_tokens == len(texts[0].split())
    assert (tmp_path / "llm" / "calls.jsonl").read_text().count("\n") == 3


def test_transcript_lines_hold_the_documented_fields(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    path, _ = record_session(fake_llm, tmp_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]

    analyzer = next(line for line in lines if line["role"] == "analyzer")
    assert analyzer["prompt"] == render_messages(ANALYZER)
    assert analyzer["prompt_hash"] == prompt_hash(ANALYZER)
    assert analyzer["answer"] == load_answer("analyzer_cartpole")
    assert set(analyzer) >= {"model", "prompt_tokens", "completion_tokens", "sample_index"}


def test_changed_prompt_names_the_first_differing_line(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    path, _ = record_session(fake_llm, tmp_path)
    edited = [
        DESIGNER[0],
        {"role": "user", "content": DESIGNER[1]["content"].replace("(rad)", "(degrees)")},
    ]

    replay = LLMClient(f"replay:{path}")
    with pytest.raises(LLMError, match=r"closest recorded designer prompt at line 9:") as info:
        replay.complete(edited, role="designer")

    text = str(info.value)
    assert "recorded:  '- pole_angle (rad)'" in text
    assert "requested: '- pole_angle (degrees)'" in text
    assert "re-record with --record PATH" in text


def test_more_samples_than_recorded_is_an_error(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    path, _ = record_session(fake_llm, tmp_path)
    replay = LLMClient(f"replay:{path}")

    with pytest.raises(LLMError, match=r"holds samples 0-1 of this designer prompt, not sample 2"):
        replay.complete_many(DESIGNER, 3, role="designer")


def test_role_missing_from_transcript(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    path, _ = record_session(fake_llm, tmp_path)
    critic = [{"role": "user", "content": "Review this reward."}]

    with pytest.raises(
        LLMError, match=r"has no critic prompts \(roles recorded: analyzer, designer\)"
    ):
        LLMClient(f"replay:{path}").complete(critic, role="critic")


def test_missing_and_malformed_transcripts(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match=r"replay transcript .*nope\.jsonl does not exist"):
        LLMClient(f"replay:{tmp_path / 'nope.jsonl'}").preflight()

    bad = tmp_path / "bad.jsonl"
    good = {
        "role": "designer",
        "prompt": "p",
        "prompt_hash": prompt_hash_of("p"),
        "answer": "a",
        "model": "m",
    }
    bad.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(LLMError, match=r"bad\.jsonl line 2 is not valid JSON"):
        LLMClient(f"replay:{bad}").preflight()

    bad.write_text(json.dumps({**good, "answer": None}) + "\n")
    with pytest.raises(LLMError, match=r"bad\.jsonl line 1: field 'answer'"):
        LLMClient(f"replay:{bad}").preflight()

    bad.write_text(json.dumps({**good, "prompt": "edited by hand"}) + "\n")
    with pytest.raises(LLMError, match=r"line 1: prompt_hash does not match the prompt text"):
        LLMClient(f"replay:{bad}").preflight()

    with pytest.raises(LLMError, match=r"needs a transcript path"):
        LLMClient("replay:")


def prompt_hash_of(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_first_difference_handles_length_changes() -> None:
    assert first_difference(["a", "b"], ["a", "c"]) == (2, "'b'", "'c'")
    assert first_difference(["a"], ["a", "extra"]) == (2, "<end of prompt>", "'extra'")
    assert first_difference(["a", "gone"], ["a"]) == (2, "'gone'", "<end of prompt>")
