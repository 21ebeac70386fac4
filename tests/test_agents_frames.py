"""Eyes for the analyzer: keyframes of the best and worst evaluation episodes reach a model
that sees images (as content parts through the fake server, as files for `manual`, kept by
record / replay); a text-only model gets the plain prompt."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fakellm import FakeLLMServer

from autoreward.agents.analyzer import Analyzer, Keyframes
from autoreward.llm.client import LLMClient
from autoreward.llm.manual import ManualProvider
from autoreward.llm.messages import image_name, image_part, prompt_hash, render_messages, text_part
from autoreward.llm.transcript import images_dir, read_transcript
from autoreward.loop.frames import candidate_keyframes

ANALYSIS = (
    "## Failure causes\n\n- it leans\n\n## Changes for the next iteration\n\n- penalise lean\n"
)


def _png(value: int) -> bytes:
    import imageio.v2 as imageio

    buf = io.BytesIO()
    imageio.imwrite(buf, np.full((8, 8, 3), value, dtype=np.uint8), format="png")
    return buf.getvalue()


FRAMES = [
    Keyframes(label="The best candidate (0): 2 frames", captions=["frame 1: step 0", "frame 2: step 500 (final state)"], images=[_png(10), _png(200)]),
    Keyframes(label="The worst candidate (1): 1 frame", captions=["frame 1: step 0"], images=[_png(90)]),
]  # fmt: skip


def _analyze(client: LLMClient) -> None:
    Analyzer(client, "# Environment: CartPole-v1", "balance").analyze(
        iteration=0, best="best text", worst="worst text", fitness_table="t", candidates="c",
        frames=FRAMES,
    )  # fmt: skip


def test_image_parts_are_named_by_content_in_the_rendered_prompt() -> None:
    chat = [{"role": "user", "content": [text_part("look"), image_part(_png(1))]}]
    assert render_messages(chat) == f"=== user ===\nlook\n[image 1: {image_name(_png(1))}]\n"
    other = [{"role": "user", "content": [text_part("look"), image_part(_png(2))]}]
    assert prompt_hash(chat) != prompt_hash(other), "the pixels are part of the prompt hash"


def test_a_vision_model_receives_the_frames_as_image_content_parts(
    fake_llm: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LLMClient, "sees_images", property(lambda self: True))
    fake_llm.enqueue(ANALYSIS)
    record = tmp_path / "t.jsonl"
    _analyze(LLMClient(**fake_llm.client_kwargs(), use_cache=False, record_path=record))
    [request] = fake_llm.chat_requests
    content = request.body["messages"][-1]["content"]
    assert isinstance(content, list) and content[0]["type"] == "text"
    assert "# Keyframes" in content[0]["text"] and "The worst candidate (1)" in content[0]["text"]
    urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert len(urls) == 3 and all(u.startswith("data:image/png;base64,") for u in urls)
    texts = [p["text"] for p in content if p["type"] == "text"]
    assert "frame 2: step 500 (final state)" in texts
    # the transcript names the images and keeps them beside it
    [entry] = read_transcript(record)
    assert entry.images == [image_name(f) for k in FRAMES for f in k.images]
    assert sorted(p.name for p in images_dir(record).iterdir()) == sorted(set(entry.images))
    assert f"[image 3: {image_name(_png(90))}]" in entry.prompt


def test_a_text_only_model_gets_the_prompt_without_frames(fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(ANALYSIS)
    client = LLMClient(**fake_llm.client_kwargs(), use_cache=False)
    assert client.sees_images is False  # litellm does not know openai/fake-model as vision
    _analyze(client)
    [request] = fake_llm.chat_requests
    content = request.body["messages"][-1]["content"]
    assert isinstance(content, str) and "Keyframes" not in content


def test_manual_writes_the_images_beside_the_prompt_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "manual"
    client = LLMClient("manual", manual_dir=folder, manual_poll_interval=0.01, use_cache=False)
    assert client.sees_images
    assert isinstance(client.provider, ManualProvider)
    (folder).mkdir()
    (folder / "answer_1.md").write_text(ANALYSIS)
    _analyze(client)
    prompt = (folder / "prompt_1.md").read_text()
    names = [image_name(f) for k in FRAMES for f in k.images]
    assert "comes with 3 image(s), saved in this folder as" in prompt
    for name in names:
        assert f"`{name}`" in prompt and (folder / name).read_bytes().startswith(b"\x89PNG")


def test_replay_of_a_transcript_with_images_sends_them_again(
    fake_llm: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "t.jsonl"
    monkeypatch.setattr(LLMClient, "sees_images", property(lambda self: True))
    fake_llm.enqueue(ANALYSIS)
    _analyze(LLMClient(**fake_llm.client_kwargs(), use_cache=False, record_path=record))
    monkeypatch.undo()
    replay = LLMClient(f"replay:{record}")
    assert replay.sees_images
    _analyze(replay)  # the same prompt, images included: answered exactly
    assert replay.replay_counts == {"exact": 1, "position": 0}


def test_old_transcripts_without_images_still_read(tmp_path: Path) -> None:
    import hashlib

    prompt = "=== user ===\nhi\n"
    line = {"role": "analyzer", "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(),
            "prompt": prompt, "answer": "a", "model": "m"}  # fmt: skip
    (tmp_path / "old.jsonl").write_text(json.dumps(line) + "\n")
    [entry] = read_transcript(tmp_path / "old.jsonl")
    assert entry.images == []
    assert LLMClient(f"replay:{tmp_path / 'old.jsonl'}").sees_images is False


def test_keyframes_of_a_video_are_labelled_with_step_fitness_and_terms(tmp_path: Path) -> None:
    import imageio.v2 as imageio

    with imageio.get_writer(
        tmp_path / "video.mp4", fps=10, codec="libx264", macro_block_size=1
    ) as w:
        for k in range(11):
            w.append_data(np.full((32, 48, 3), k * 20, dtype=np.uint8))  # type: ignore[attr-defined]
    (tmp_path / "job.json").write_text(json.dumps({"video_max_frames": 10}))
    samples = [{"t": t, "terms": {"up": 1.0, "effort": -0.1 * t}} for t in (0, 50, 100)]
    episode = {"length": 100, "fitness_value": 0.5, "ended_by": "truncated",
               "term_sums": {"up": 100.0, "effort": -3.0}, "samples": samples}  # fmt: skip
    (tmp_path / "trajectories.json").write_text(json.dumps({"episodes": [episode]}))
    frames = candidate_keyframes(tmp_path, "The best candidate (0)", episode_length=100, n=3)
    assert frames is not None and len(frames.images) == 3
    assert "fitness 0.5" in frames.label and "up 100" in frames.label
    assert frames.captions[0] == "frame 1: step 0; reward terms at step 0: up 1, effort -0"
    assert frames.captions[1].startswith("frame 2: step 50; reward terms at step 50: up 1")
    assert frames.captions[2].startswith("frame 3: step 100 (final state)")
    assert all(png.startswith(b"\x89PNG") for png in frames.images)
    assert candidate_keyframes(tmp_path / "none", "x", 100) is None


def test_keyframes_of_a_video_that_is_another_episode_say_so(tmp_path: Path) -> None:
    """A policy that samples its actions (Crafter's) plays another episode for the video than
    the first evaluation episode: its frames must not get that episode's steps and terms."""
    import imageio.v2 as imageio

    with imageio.get_writer(
        tmp_path / "video.mp4", fps=10, codec="libx264", macro_block_size=1
    ) as w:
        for k in range(283):  # 282 steps at stride 1, then the final state
            w.append_data(np.full((16, 16, 3), k % 250, dtype=np.uint8))  # type: ignore[attr-defined]
    (tmp_path / "job.json").write_text(json.dumps({"video_max_frames": 1000}))
    samples = [{"t": t, "terms": {"wood": 1.0}} for t in (0, 94, 188)]
    episode = {"length": 188, "fitness_value": 1.0, "ended_by": "terminated",
               "term_sums": {"wood": 1.0}, "samples": samples}  # fmt: skip
    (tmp_path / "trajectories.json").write_text(json.dumps({"episodes": [episode]}))
    frames = candidate_keyframes(tmp_path, "The worst candidate (2)", episode_length=1000, n=4)
    assert frames is not None
    assert "rendered for its video (282 steps), a rollout of its own" in frames.label
    assert frames.captions == ["frame 1: step 0", "frame 2: step 94", "frame 3: step 188",
                               "frame 4: step 282 (final state)"]  # fmt: skip
