"""Measuring a trained policy on the task fitness, in a container that never loads the reward.

`run_eval_job(payload)` is the evaluation container's worker target (`pipeline.py`). Its job
carries no reward code: it rebuilds the policy from the training job's hyperparameters,
loads the pickle-free weights the training container saved (`policy_io.py`), runs the
deterministic, seeded evaluation episodes, scores them with the schema's (or the run's)
fitness, and writes `episodes.npz` (every step, for the analyzer and for re-scoring) and the
video into its own folder. It also scores the policy saved at each statistics checkpoint, so
the learning curve's fitness is measured here too. The reward code that trained the policy
cannot touch any of it: it ran in another process, now gone, that could not see this one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from autoreward.train.evaluate import EvalResult
from autoreward.train.job import TrainJob
from autoreward.train.policies import load_policy
from autoreward.train.policy_io import FINAL, checkpoint_name
from autoreward.train.video import VideoResult

EPISODES_FILE = "episodes.npz"
VIDEO_FILE = "video.mp4"


class EvalJob(BaseModel):
    """What the evaluation container is asked to do (no reward code, by construction)."""

    model_config = ConfigDict(extra="forbid")

    job: TrainJob = Field(description="The training job whose policy is evaluated.")
    policy_dir: str = Field(description="The training container's policy/ folder (read-only).")
    out_dir: str = Field(description="This container's own folder: episodes.npz, video.mp4.")
    checkpoint_steps: list[int] = Field(
        default_factory=list, description="Saved checkpoint policies to score for the curve."
    )
    final: bool = Field(default=True, description="Evaluate policy/final.npz in full.")


class CurveFitness(BaseModel):
    step: int
    fitness: float


class EvalOutcome(BaseModel):
    """What the evaluation container reports; validated by the parent."""

    model_config = ConfigDict(extra="ignore")

    evaluation: EvalResult | None = None
    curve: list[CurveFitness] = Field(default_factory=list, max_length=10_000)
    episodes_file: bool = False
    video: VideoResult | None = None
    eval_s: float = 0.0
    curve_s: float = 0.0
    video_s: float = 0.0


def run_eval_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker target: an `EvalJob` in, an `EvalOutcome` out."""
    request = EvalJob.model_validate(payload)
    if request.job.reward_code is not None:
        raise ValueError("the evaluation container must never be given reward code")
    return evaluate_job(request).model_dump(mode="json")


def evaluate_job(request: EvalJob) -> EvalOutcome:
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    from autoreward.train.evaluate import EVAL_SEED_OFFSET, evaluate_policy
    from autoreward.train.runner import load_job_schema
    from autoreward.train.trajectories import save_episodes

    job = request.job
    torch.set_num_threads(job.torch_threads)
    schema = load_job_schema(job)
    policies = Path(request.policy_dir)
    out = Path(request.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outcome = EvalOutcome()

    t0 = time.time()
    for step in sorted(set(request.checkpoint_steps)):
        path = policies / checkpoint_name(step)
        if not path.exists():
            continue
        model, normalizer = load_policy(job, schema, path)
        evaluation, _ = evaluate_policy(
            model, schema, job.checkpoint_eval_episodes, job.seed, normalizer
        )
        outcome.curve.append(CurveFitness(step=step, fitness=evaluation.fitness))
    outcome.curve_s = time.time() - t0

    if request.final:
        t0 = time.time()
        model, normalizer = load_policy(job, schema, policies / FINAL)
        evaluation, traces = evaluate_policy(model, schema, job.eval_episodes, job.seed, normalizer)
        save_episodes(traces, evaluation, out / EPISODES_FILE)
        outcome.evaluation = evaluation
        outcome.episodes_file = True
        outcome.eval_s = time.time() - t0
        if job.video:
            from autoreward.train.video import record_video

            t0 = time.time()
            outcome.video = record_video(
                model,
                schema,
                out / VIDEO_FILE,
                seed=job.seed + EVAL_SEED_OFFSET,
                obs_normalizer=normalizer,
                policy=(job, policies / FINAL),
                max_frames=job.video_max_frames,
            )
            outcome.video_s = time.time() - t0
    return outcome
