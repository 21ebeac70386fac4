"""A synthetic run directory in the real on-disk format, for report / refine / export tests.

Files are written with the rooms' own models where they have one (CandidateRecord, Verdict,
TrainResult + CurvePoint, EvalResult, build_stats), so a format change there shows up here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from autoreward.agents.critic import Issue, Verdict
from autoreward.config import RunConfig
from autoreward.store.atomic import append_jsonl, atomic_write_json, atomic_write_text
from autoreward.store.records import CandidateRecord
from autoreward.train.evaluate import EpisodeEval, EvalResult
from autoreward.train.job import CurvePoint, TrainResult

FIXTURES = Path(__file__).parent / "fixtures"
ENV_ID = "CartPole-v1"
TASK = "balance the pole near the centre of the track"

DENSE = (FIXTURES / "rewards" / "cartpole_dense.py").read_text()
UPRIGHT = '''import numpy as np


def compute_reward(state, action, next_state):
    """Upright pole only."""
    angle = next_state["pole_angle"]
    upright = 1.0 - np.abs(angle) / 0.2095
    return upright, {"upright": upright}
'''
CENTRED = DENSE.replace("-0.5 * (x / 2.4) ** 2", "-1.0 * (x / 2.4) ** 2")
ANALYSIS = (
    FIXTURES / "llm" / "analyzer_cartpole.md"
).read_text() + "\n<script>alert('x')</script>\n"


def _final() -> dict[str, Any]:
    """best/final.json as the loop writes it (loop/selection.py): the top two by single-seed
    fitness retrained on two seeds; the top one has the best mean."""

    def est(i: int, j: int, screening: float, values: list[float]) -> dict[str, Any]:
        mean = float(np.mean(values))
        return {"n_seeds": 2, "mean": mean, "std": float(np.std(values)), "iteration": i, "index": j,
                "screening_fitness": screening,
                "per_seed": [{"seed": 1000 * (k + 1), "status": "ok", "fitness": v, "env_return": v,
                              "reason": None} for k, v in enumerate(values)]}  # fmt: skip

    chosen, other = est(1, 0, 480.0, [457.5, 482.5]), est(1, 1, 300.0, [280.0, 290.0])
    return {**chosen, "candidates": [chosen, other], "changed_best": False,
            "rule": "the top 2 candidates by screening fitness, each retrained on the same 2 "
                    "fresh seeds; the highest mean wins (ties: the higher screening fitness)"}  # fmt: skip


def make_run(root: Path, *, video: bytes | None = None, with_result: bool = True) -> Path:
    """Two iterations of CartPole: iteration 0 has a trained, a failed-check and a failed-train
    candidate; iteration 1 a better trained candidate and a duplicate. Returns the run dir."""
    run = root / "20260101-120000-cartpole-v1-balance"
    run.mkdir(parents=True)
    cfg = RunConfig(
        env_id=ENV_ID,
        task=TASK,
        model="openai/fake-model",
        iterations=2,
        samples=3,
        steps=4000,
        final_seeds=2,
    )
    atomic_write_text(run / "config.yaml", yaml.safe_dump(cfg.dump(), sort_keys=False))
    t0 = time.time() - 120
    append_jsonl(run / "events.jsonl", {"t": t0, "event": "run_start", "env_id": ENV_ID})

    # ---- iteration 0
    _trained(
        run, 0, 0, UPRIGHT, fitness=120.0, env_return=120.0, components=["upright"], video=video
    )
    _failed_check(run, 0, 1, "SyntaxError: invalid syntax (line 3)")
    _failed_train(run, 0, 2, DENSE, "ValueError: lookup of an unknown state key")
    atomic_write_text(run / "iter_0" / "analysis.md", ANALYSIS)
    atomic_write_json(run / "iter_0" / "done.json", {"iteration": 0, "t": t0 + 50})

    # ---- iteration 1
    _trained(
        run,
        1,
        0,
        DENSE,
        fitness=480.0,
        env_return=480.0,
        components=["alive", "upright", "centred", "calm"],
        critic=True,
    )
    _trained(
        run,
        1,
        1,
        CENTRED,
        fitness=300.0,
        env_return=300.0,
        components=["alive", "upright", "centred", "calm"],
    )
    d = run / "iter_1" / "cand_2"
    atomic_write_text(d / "reward.py", UPRIGHT)
    CandidateRecord(
        iteration=1,
        index=2,
        status="duplicate",
        reason="same normalised code as an earlier candidate",
    ).save(d)
    atomic_write_text(
        run / "iter_1" / "analysis.md", "The **dense** reward works; keep `centred`.\n"
    )
    atomic_write_json(run / "iter_1" / "done.json", {"iteration": 1, "t": t0 + 100})

    # ---- best, final seeds, LLM log, result
    best = CandidateRecord.load(run / "iter_1" / "cand_0")
    assert best is not None
    atomic_write_text(run / "best" / "reward.py", DENSE)
    atomic_write_json(run / "best" / "candidate.json", best.model_dump(mode="json"))
    atomic_write_json(run / "best" / "final.json", _final())
    _llm_log(run)
    append_jsonl(run / "events.jsonl", {"t": t0 + 110, "event": "run_end", "best_fitness": 480.0})
    if with_result:
        atomic_write_json(
            run / "result.json",
            {
                "run_dir": str(run),
                "best": best.model_dump(mode="json"),
                "iterations_run": 2,
                "target_reached": False,
                "final": {"mean": 470.0, "std": 12.5, "n_seeds": 2},
                "tokens": 5400,
                "cost": 0.0123,
                "wall_s": 110.0,
            },
        )
    return run


def _trained(
    run: Path,
    i: int,
    j: int,
    code: str,
    *,
    fitness: float,
    env_return: float,
    components: list[str],
    video: bytes | None = None,
    critic: bool = False,
) -> None:
    d = run / f"iter_{i}" / f"cand_{j}"
    atomic_write_text(d / "reward.py", code)
    atomic_write_json(d / "check.json", {"ok": True, "error": None, "repairs": 0})
    steps = [400 * k for k in range(1, 11)]
    history = []
    for k, step in enumerate(steps):
        frac = (k + 1) / len(steps)
        history.append(
            {
                "step": step,
                "fitness": fitness * frac,
                "generated_return": 2 * fitness * frac,
                "env_return": env_return * frac,
                "episode_length": env_return * frac,
                "episodes": 4,
                "terminated_fraction": 1 - frac,
                "reward_per_step": {"mean": 1.0, "std": 0.1, "min": 0.5, "max": 1.5},
                "per_step": {
                    n: {"mean": 0.1 * (c + 1) * frac, "std": 0.05, "min": 0.0, "max": 1.0}
                    for c, n in enumerate(components)
                },
                "per_episode": {n: (c + 1) * 10 * frac for c, n in enumerate(components)},
            }
        )
    from autoreward.train.stats import build_stats

    atomic_write_json(d / "stats.json", build_stats(history, components, 500.0))
    result = TrainResult(
        status="ok",
        label=f"iter {i} cand {j}",
        env_id=ENV_ID,
        algo="PPO",
        out_dir=str(d),
        steps=4000,
        steps_this_run=4000,
        total_steps=4000,
        wall_s=12.0,
        steps_per_s=333.0,
        fitness=fitness,
        fitness_episodes=[fitness - 10.0, fitness, fitness + 10.0],
        fitness_kind="score",
        env_return=env_return,
        generated_return=2 * fitness,
        episode_length=env_return,
        curve=[
            CurvePoint(
                step=p["step"],
                fitness=p["fitness"],
                generated_return=p["generated_return"],
                env_return=p["env_return"],
                episodes=p["episodes"],
            )
            for p in history
        ],
        video=str(d / "video.mp4") if video else None,
        video_status="ok (10 frames, rgb_array)" if video else "not requested",
    )
    atomic_write_json(d / "train.json", result.model_dump(mode="json"))
    episodes = [
        EpisodeEval(
            index=k,
            seed=100_000 + k,
            fitness_value=fitness + 10.0 * (k - 1),
            env_return=env_return,
            generated_return=2 * fitness,
            length=int(env_return),
            ended_by="truncated",
        )
        for k in range(3)
    ]
    evaluation = EvalResult(
        fitness=fitness,
        fitness_kind="score",
        episodes=episodes,
        env_return_mean=env_return,
        env_return_std=0.0,
        generated_return_mean=2 * fitness,
        length_mean=env_return,
        terminated=0,
        truncated=3,
    )
    atomic_write_json(d / "eval.json", evaluation.model_dump(mode="json"))
    if video:
        (d / "video.mp4").write_bytes(video)
    verdict_ok = not critic
    if critic:
        verdict = Verdict(
            ok=False,
            issues=[Issue(kind="scale", detail="`alive` <dominates> the return")],
            suggestion="lower alive to 0.2",
            raw="{}",
        )
    else:
        verdict = Verdict(ok=True, raw="{}")
    atomic_write_json(d / "critique.json", verdict.model_dump(mode="json"))
    CandidateRecord(
        iteration=i,
        index=j,
        status="trained",
        fitness=fitness,
        env_return=env_return,
        steps=4000,
        code_hash=f"h{i}{j}",
        critic_verdict="ok" if verdict_ok else "revise",
        revised=[] if verdict_ok else ["critic"],
    ).save(d)


def add_trained(
    run: Path, i: int, j: int, code: str, fitness: float, video: bytes | None = None
) -> None:
    """One more trained candidate (replacing what the folder held), e.g. a third one to rank."""
    d = run / f"iter_{i}" / f"cand_{j}"
    for name in ("candidate.json", "reward.py"):
        (d / name).unlink(missing_ok=True)
    _trained(
        run, i, j, code, fitness=fitness, env_return=fitness, components=["upright"], video=video
    )


def _failed_check(run: Path, i: int, j: int, error: str) -> None:
    d = run / f"iter_{i}" / f"cand_{j}"
    atomic_write_json(d / "check.json", {"ok": False, "error": error, "repairs": 2})
    CandidateRecord(iteration=i, index=j, status="failed_check", reason=error).save(d)


def _failed_train(run: Path, i: int, j: int, code: str, reason: str) -> None:
    d = run / f"iter_{i}" / f"cand_{j}"
    atomic_write_text(d / "reward.py", code)
    atomic_write_json(d / "check.json", {"ok": True, "error": None, "repairs": 0})
    atomic_write_json(
        d / "train.json", {"status": "failed", "reason": reason, "steps": 300, "curve": []}
    )
    CandidateRecord(iteration=i, index=j, status="failed_train", reason=reason, steps=300).save(d)


def mark_replayed(run: Path, *calls: dict[str, Any]) -> None:
    """Append calls answered by position in a replay (`"replay": "position"`) to the log."""
    for c in calls:
        append_jsonl(run / "llm" / "calls.jsonl", {"n": 99, "model": "fake-model", "cached": False,
                                                   "prompt_tokens": 0, "completion_tokens": 0,
                                                   "cost": 0.0, "replay": "position", **c})  # fmt: skip


def defer_analysis(run: Path, iteration: int) -> None:
    """Make `iteration` look like a run's last: no analysis.md, done.json says deferred."""
    (run / f"iter_{iteration}" / "analysis.md").unlink(missing_ok=True)
    done = json.loads((run / f"iter_{iteration}" / "done.json").read_text())
    atomic_write_json(run / f"iter_{iteration}" / "done.json", {**done, "analysis": "deferred"})


def _llm_log(run: Path) -> None:
    calls: list[dict[str, Any]] = [
        {
            "role": "designer",
            "meta": {"iteration": 0},
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "cost": 0.003,
        },
        {
            "role": "critic",
            "meta": {"iteration": 0},
            "prompt_tokens": 400,
            "completion_tokens": 100,
            "cost": 0.001,
        },
        {
            "role": "analyzer",
            "meta": {"iteration": 0},
            "prompt_tokens": 600,
            "completion_tokens": 200,
            "cost": 0.002,
        },
        {
            "role": "designer",
            "meta": {"iteration": 1},
            "prompt_tokens": 1500,
            "completion_tokens": 600,
            "cost": 0.004,
        },
        {
            "role": "designer",
            "meta": {"iteration": 1},
            "prompt_tokens": 1500,
            "completion_tokens": 600,
            "cost": 0.0,
            "cached": True,
        },
        {
            "role": "analyzer",
            "meta": {"iteration": 1},
            "prompt_tokens": 400,
            "completion_tokens": 100,
            "cost": 0.0023,
        },
    ]
    for n, c in enumerate(calls, 1):
        append_jsonl(
            run / "llm" / "calls.jsonl", {"n": n, "model": "fake-model", "cached": False, **c}
        )


def tiny_mp4(path: Path, frames: int = 6) -> bytes:
    """A real (tiny) H.264 mp4 so the browser has something to show."""
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=5, macro_block_size=1) as w:
        for k in range(frames):
            img = np.zeros((32, 48, 3), dtype=np.uint8)
            img[:, : 8 * (k + 1)] = (30, 160, 60)
            w.append_data(img)
    return path.read_bytes()


def read_calls(run: Path) -> list[dict[str, Any]]:
    path = run / "llm" / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
