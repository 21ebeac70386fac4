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


# --------------------------------------------------------------------------- by position
# From iteration 1 on, prompts carry training numbers; a replay with another budget gets the
# recorded answer for the same place in the run, provided the templates and the task are equal.


def refine_prompt(fitness: str) -> list[dict[str, str]]:
    return [
        DESIGNER[0],
        {
            "role": "user",
            "content": f"Task: left half.\nBest fitness so far: {fitness}\nImprove it.",
        },
    ]


def site_meta(**over: object) -> dict[str, object]:
    meta: dict[str, object] = {
        "iteration": 1, "candidate": 0, "stage": "designer", "attempt": 0,
        "prompt_version": "designer_refine_v1",
        "templates": {"designer_refine_v1": "a" * 64, "system_designer_v1": "b" * 64},
        "template_hash": "t" * 64, "inputs_hash": "i" * 64,
    }  # fmt: skip
    meta.update(over)
    return meta


def record_refine(server: FakeLLMServer, tmp_path: Path) -> Path:
    server.add_rule("Improve it.", "answer for candidate 0", "answer for candidate 1")
    path = tmp_path / "session.jsonl"
    client = LLMClient(**server.client_kwargs(), use_cache=False, record_path=path)
    client.complete(refine_prompt("0.41"), role="designer", sample_index=0, meta=site_meta())
    client.complete(
        refine_prompt("0.41"), role="designer", sample_index=1, meta=site_meta(candidate=1)
    )
    return path


def test_transcript_lines_carry_the_call_site(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    path = record_refine(fake_llm, tmp_path)
    first = json.loads(path.read_text().splitlines()[0])
    assert first["site"] == {
        "iteration": 1, "candidate": 0, "stage": "designer", "attempt": 0, "occurrence": 0,
        "template_hash": "t" * 64, "inputs_hash": "i" * 64,
        "templates": {"designer_refine_v1": "a" * 64, "system_designer_v1": "b" * 64},
    }  # fmt: skip


def test_other_training_numbers_are_answered_by_position_and_counted(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    path = record_refine(fake_llm, tmp_path)
    fake_llm.stop()
    replay = LLMClient(f"replay:{path}", log_dir=tmp_path / "llm")
    assert replay.replay_counts == {"exact": 0, "position": 0}

    same = replay.complete(refine_prompt("0.41"), role="designer", sample_index=0, meta=site_meta())
    other = replay.complete(
        refine_prompt("0.17"), role="designer", sample_index=1, meta=site_meta(candidate=1)
    )

    assert (same.text, same.replay) == ("answer for candidate 0", "exact")
    assert (other.text, other.replay) == ("answer for candidate 1", "position")
    assert replay.replay_counts == {"exact": 1, "position": 1}
    assert replay.usage.replayed_by_position == 1
    logged = [json.loads(x) for x in (tmp_path / "llm" / "calls.jsonl").read_text().splitlines()]
    assert [x["replay"] for x in logged] == ["exact", "position"], "never silent: in the log too"


def test_a_changed_template_is_never_answered_by_position(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    path = record_refine(fake_llm, tmp_path)
    edited = site_meta(
        templates={"designer_refine_v1": "c" * 64, "system_designer_v1": "b" * 64},
        template_hash="u" * 64,
    )
    replay = LLMClient(f"replay:{path}")
    with pytest.raises(
        LLMError, match=r"differs from the recorded designer prompt at the same position at line 7:"
    ) as info:
        replay.complete(refine_prompt("0.17"), role="designer", meta=edited)

    text = str(info.value)
    assert "recorded:  'Best fitness so far: 0.41'" in text
    assert "requested: 'Best fitness so far: 0.17'" in text
    assert "prompt templates changed since the recording (edited: designer_refine_v1)" in text


def test_another_task_is_never_answered_by_position(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    path = record_refine(fake_llm, tmp_path)
    replay = LLMClient(f"replay:{path}")
    with pytest.raises(LLMError, match=r"the task or the environment schema differs"):
        replay.complete(
            refine_prompt("0.17"), role="designer", meta=site_meta(inputs_hash="j" * 64)
        )


def test_a_call_the_recording_never_made_is_an_error(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    path = record_refine(fake_llm, tmp_path)
    replay = LLMClient(f"replay:{path}")
    with pytest.raises(
        LLMError,
        match=r"closest recorded designer prompt at line 7:(.|\n)*the recording made no "
        r"designer call at iteration 2, candidate 0, sample 0",
    ):
        replay.complete(refine_prompt("0.17"), role="designer", meta=site_meta(iteration=2))


def test_repeated_calls_at_one_position_match_in_order(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    """A candidate revised twice (ranking, then critic) makes two revise calls at one place."""
    fake_llm.add_rule("Revise", "first revision", "second revision")
    path = tmp_path / "session.jsonl"
    recorder = LLMClient(**fake_llm.client_kwargs(), use_cache=False, record_path=path)
    meta = site_meta(stage="revise", prompt_version="revise_v1")
    for reason in ("ranking inverted", "critic issues"):
        recorder.complete(
            [{"role": "user", "content": f"Revise: {reason} (rho -0.52)"}], role="revise", meta=meta
        )
    sites = [json.loads(line)["site"]["occurrence"] for line in path.read_text().splitlines()]
    assert sites == [0, 1]

    replay = LLMClient(f"replay:{path}")
    answers = [
        replay.complete(
            [{"role": "user", "content": f"Revise: {reason} (rho -0.61)"}], role="revise", meta=meta
        )
        for reason in ("ranking inverted", "critic issues")
    ]
    assert [(a.text, a.replay) for a in answers] == [
        ("first revision", "position"),
        ("second revision", "position"),
    ]


def test_calls_without_a_site_are_matched_exactly_only(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    path = record_refine(fake_llm, tmp_path)
    replay = LLMClient(f"replay:{path}")
    no_stamp = {k: v for k, v in site_meta().items() if k not in ("template_hash", "inputs_hash")}
    with pytest.raises(LLMError, match=r"closest recorded designer prompt at line 7") as info:
        replay.complete(refine_prompt("0.17"), role="designer", meta=no_stamp)
    assert "by position" not in str(info.value)
    assert LLMClient("openai/x").replay_counts is None
