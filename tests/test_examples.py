"""The recorded sessions in `examples/`: they replay end to end with a smaller budget (the
training numbers in the prompts change, the answers are found by position), and an edited
prompt template stops the replay at once with the first differing line."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from autoreward.agents.prompts import (
    PROMPTS_ENV_VAR,
    available_versions,
    load_template,
    prompts_dir,
)
from autoreward.config import load_run_config_file
from autoreward.errors import LLMError
from autoreward.llm.transcript import read_transcript
from autoreward.loop import run_loop
from autoreward.loop.commands import run_command
from autoreward.store.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = ROOT / "examples" / "cartpole-left-half"
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "run.yaml").exists())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_complete_and_recorded_with_the_current_prompts(example: Path) -> None:
    cfg = load_run_config_file(example / "run.yaml")
    assert cfg.fitness is not None and cfg.iterations == 2 and cfg.halving and cfg.video
    entries = read_transcript(example / "transcript.jsonl")
    roles = {e.role for e in entries}
    assert {"designer", "critic", "analyzer"} <= roles
    assert {e.site.iteration for e in entries if e.site} == {0, 1}, "both iterations recorded"
    readme = (example / "README.md").read_text(encoding="utf-8")
    assert "Claude" in readme and "unedited" in readme
    for entry in entries:
        assert entry.site is not None and entry.site.positioned
        for version, body_sha in entry.site.templates.items():
            assert version in readme, f"{example.name}/README.md does not name {version}"
            template = load_template(version)
            name = version.rsplit("_v", 1)[0]
            newest = f"{name}_v{available_versions(name)[-1]}"
            assert version == newest, (
                f"{example.name} was recorded with {version}; the loop now uses {newest}: "
                "re-record it"
            )
            assert template.body_hash == body_sha, (
                f"{example.name} was recorded before {version} was edited: re-record it"
            )


@pytest.mark.expensive
def test_cartpole_example_replays_with_a_smaller_budget(tmp_path: Path) -> None:
    transcript = CARTPOLE / "transcript.jsonl"
    out = io.StringIO()
    options = {
        "model": f"replay:{transcript}", "steps": 2048, "final_seeds": 1, "video": False,
    }  # fmt: skip
    run_command(
        Console(file=out, width=200),
        options,
        given=set(options),
        out=tmp_path,
        resume=None,
        config=CARTPOLE / "run.yaml",
    )

    [run_dir] = list(tmp_path.iterdir())
    result = json.loads((run_dir / "result.json").read_text())
    assert result["best"] is not None and result["best"]["fitness"] is not None
    assert result["iterations_run"] == 2
    assert result["final"]["n_seeds"] == 1
    replayed = result["replayed"]
    recorded = len(read_transcript(transcript))
    # Every prompt states the training budget, and the later ones carry training numbers of
    # the smaller budget: nothing matches exactly, every call is answered by position.
    assert replayed["exact"] == 0 and replayed["position"] == recorded
    assert replayed["exact"] + replayed["position"] == recorded
    calls = [json.loads(x) for x in (run_dir / "llm" / "calls.jsonl").read_text().splitlines()]
    assert {c["role"] for c in calls if c["replay"] == "position"} >= {"designer", "analyzer"}
    assert all(c["cost"] == 0.0 for c in calls)

    text = out.getvalue()
    assert (
        f"replay: {replayed['exact']} answers for identical prompts, {replayed['position']} by position"
        in text
    )
    assert "best: iteration" in text and (run_dir / "report.html").is_file()
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    end = next(e for e in events if e["event"] == "run_end")
    assert end["replayed_by_position"] == replayed["position"]


def test_an_edited_template_stops_the_replay_at_the_first_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(prompts_dir(), prompts)
    newest = f"designer_initial_v{available_versions('designer_initial')[-1]}"
    template = prompts / f"{newest}.md"
    original = (
        "- Keep the number of components small (2 to 6) and give them short meaningful names."
    )
    edited = "- Keep the number of components small (2 to 4) and give them short meaningful names."
    assert template.read_text().count(original) == 1
    template.write_text(template.read_text().replace(original, edited))
    monkeypatch.setenv(PROMPTS_ENV_VAR, str(prompts))

    # the training set-up as recorded (the run's own), so the first line that differs is the
    # edited one
    cfg = load_run_config_file(CARTPOLE / "run.yaml").model_copy(
        update={"model": f"replay:{CARTPOLE / 'transcript.jsonl'}", "video": False}
    )
    run = RunDir.create(tmp_path / "runs", cfg.env_id, cfg.task, cfg.dump())
    with pytest.raises(
        LLMError,
        match=r"no recorded answer for this designer prompt .* it first differs from the "
        r"recorded designer prompt at the same position at line \d+:",
    ) as info:
        run_loop(cfg, run)

    text = str(info.value)
    assert f"recorded:  {original!r}" in text
    assert f"requested: {edited!r}" in text
    assert f"the prompt templates changed since the recording (edited: {newest})" in text
    assert not list(run.path.glob("iter_0/cand_*/train.json")), "nothing was trained"


@pytest.mark.expensive
def test_fetch_reach_example_replays_with_a_smaller_budget(tmp_path: Path) -> None:
    """The manipulation example: Fetch's Dict observation, semantic state and success fitness
    through the whole loop, every LLM answer from the transcript, no key."""
    example = ROOT / "examples" / "fetch-reach"
    transcript = example / "transcript.jsonl"
    # The smallest budget that still runs every call: one PPO rollout per candidate, one
    # training seed, four evaluation episodes (the test is about the loop, not the policy).
    options = {
        "model": f"replay:{transcript}", "steps": 1024, "final_seeds": 1, "video": False,
        "selection_seeds": 1, "eval_episodes": 4,
    }  # fmt: skip
    run_command(
        Console(file=io.StringIO(), width=200),
        options,
        given=set(options),
        out=tmp_path,
        resume=None,
        config=example / "run.yaml",
    )
    [run_dir] = list(tmp_path.iterdir())
    result = json.loads((run_dir / "result.json").read_text())
    assert result["iterations_run"] == 2 and result["final"]["n_seeds"] == 1
    assert 0.0 <= result["best"]["fitness"] <= 1.0
    replayed = result["replayed"]
    assert replayed["exact"] + replayed["position"] == len(read_transcript(transcript))
    evaluation = json.loads((run_dir / "iter_0" / "cand_0" / "eval.json").read_text())
    assert evaluation["fitness_kind"] == "success" and evaluation["length_mean"] == 50.0
    # the smaller budget was the one used: 4 episodes, each ending at the 50-step limit
    assert len(evaluation["episodes"]) == 4 and evaluation["truncated"] == 4
