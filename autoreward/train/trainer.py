"""Train one reward candidate with stable-baselines3 and evaluate it on the task fitness.

`run_train_job(payload)` is the isolated worker's target
(`run_isolated("autoreward.train.trainer:run_train_job", job.model_dump(), limits)`), so the
untrusted reward code runs in-process inside that worker, batched over the VecEnv. It never
raises for a bad candidate: a reward that raises, returns NaN, or makes training diverge
gives `status: failed` with the reason, and whatever was recorded up to then is kept.

Files written into `job.out_dir`:
`progress.json` (live), `train.json`, `eval.json`, `stats.json`, `trajectories.json`,
`episodes.npz` (every step of the evaluation episodes, for re-scoring), `model.zip`,
`checkpoint/` (resumable: model, normaliser, replay buffer, statistics history), `video.mp4`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from autoreward.errors import AutorewardError, ConfigError
from autoreward.store.atomic import atomic_write_json, read_json
from autoreward.train.job import CurvePoint, TrainJob, TrainResult
from autoreward.train.replay import load_filled_replay, save_filled_replay

__all__ = ["CheckpointState", "TrainJob", "TrainResult", "run_train_job", "train"]

CHECKPOINT_DIR = "checkpoint"
REPLAY_FILE = "replay_buffer.npz"


class CheckpointState(BaseModel):
    """`checkpoint/state.json`: what a continuation needs besides the SB3 files."""

    steps: int
    algo: str
    env_id: str
    seed: int
    n_envs: int
    reward_sha256: str | None
    history: list[dict[str, Any]] = Field(default_factory=list)
    term_names: list[str] = Field(default_factory=list)
    normalizer: bool = False
    replay_buffer: bool = Field(
        default=False, description="replay_buffer.npz holds the filled part of the buffer."
    )
    train_s: float = Field(default=0.0, description="Wall seconds spent training so far, all runs.")


def run_train_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: a `TrainJob` as a dict in, a `TrainResult` as a dict out."""
    return train(TrainJob.model_validate(payload)).model_dump(mode="json")


def train(job: TrainJob) -> TrainResult:
    """Train, evaluate and write every artifact of one job; failures come back as results."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    torch.set_num_threads(job.torch_threads)
    out = job.path
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(job)
    try:
        result = run.execute()
    except AutorewardError as err:
        result = run.failed(str(err))
    except Exception as err:  # a bad candidate must never take the caller down
        result = run.failed(f"{type(err).__name__}: {err}")
    finally:
        run.close()
    atomic_write_json(out / "train.json", {**result.model_dump(mode="json"), **run.extra})
    atomic_write_json(
        out / "progress.json",
        {
            "label": job.label,
            "status": result.status,
            "steps": result.steps,
            "total_steps": result.total_steps,
            "fitness": result.fitness,
            "t": time.time(),
        },
    )
    return result


class _Run:
    """The state of one training run, so a failure at any point can report what was done."""

    def __init__(self, job: TrainJob) -> None:
        self.job = job
        self.out = job.path
        self.started = time.time()
        self.venv: Any = None
        self.stats_cb: Any = None
        self.wrapper: Any = None
        self.start_step = 0
        self.prior_train_s = 0.0
        self.learn_s = 0.0
        self.learn_cpu_s = 0.0
        self.algo = job.algo or ""
        self.total_steps = job.total_steps or 0
        self.device: str | None = None
        self.extra: dict[str, Any] = {}

    # ------------------------------------------------------------------ the run, top to bottom

    def execute(self) -> TrainResult:
        from stable_baselines3.common.callbacks import CallbackList

        from autoreward.train.evaluate import EVAL_SEED_OFFSET, evaluate_policy
        from autoreward.train.stats import (
            NanGuardCallback,
            ProgressCallback,
            SaveCheckpointCallback,
            StatsCallback,
            build_stats,
        )
        from autoreward.train.trajectories import save_episodes, summarize_trajectories

        job = self.job
        schema = load_job_schema(job)
        self.algo = job.algo or schema.train.algo
        self.total_steps = job.total_steps or schema.train.total_steps
        n_envs = job.n_envs or schema.train.n_envs
        reward_fn = _load_reward(job.reward_code)
        resume = load_checkpoint_state(job.resume_from) if job.resume_from else None
        if resume is not None:
            self._check_resume(resume)
            self.start_step = resume.steps
            self.prior_train_s = resume.train_s

        # ---- environments and model
        from autoreward.train.device import resolve_device

        resolve_device(job.device, "device")  # SB3 would fall back to the CPU without a word
        seed = job.seed + self.start_step  # a continuation sees fresh episodes
        self.venv, self.wrapper, normalizer, model = build_training(
            job, schema, self.algo, n_envs, seed, reward_fn, resume
        )
        self.device = str(model.device)

        def checkpoint_fitness() -> float | None:
            evaluation, _ = evaluate_policy(
                model, schema, job.checkpoint_eval_episodes, job.seed, normalizer
            )
            return evaluation.fitness

        def save(final: bool = False) -> None:
            save_checkpoint(
                self.out / CHECKPOINT_DIR,
                model,
                normalizer,
                self._state(model, n_envs),
                replay_buffer=final,
            )

        self.stats_cb = StatsCallback(
            self.wrapper,
            checkpoint_fitness,
            total_steps=self.total_steps,
            start_step=self.start_step,
            n_checkpoints=job.n_checkpoints,
            history=resume.history if resume else None,
            callback_on_checkpoint=SaveCheckpointCallback(save),
        )
        progress = ProgressCallback(
            self.out / "progress.json",
            self.total_steps,
            self.stats_cb,
            job.progress_every_s,
            job.label,
        )

        # ---- train
        t0, c0 = time.time(), time.process_time()
        remaining = self.total_steps - self.start_step
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=CallbackList([NanGuardCallback(), self.stats_cb, progress]),
                reset_num_timesteps=resume is None,
            )
        self.learn_s = time.time() - t0
        self.learn_cpu_s = time.process_time() - c0
        model.save(self.out / "model.zip")
        save(final=True)

        # ---- evaluate on the task fitness; statistics, trajectories, stored episodes, video
        evaluation, traces = evaluate_policy(
            model, schema, job.eval_episodes, job.seed, normalizer, reward_fn
        )
        atomic_write_json(self.out / "eval.json", evaluation.model_dump(mode="json"))
        stats = build_stats(self.stats_cb.history, self.wrapper.term_names, schema.fitness.target)
        atomic_write_json(self.out / "stats.json", stats)
        trajectories = summarize_trajectories(
            traces, evaluation, schema, episodes=job.trajectory_episodes, hacking=stats["hacking"]
        )
        atomic_write_json(self.out / "trajectories.json", trajectories)
        save_episodes(traces, evaluation, self.out / "episodes.npz")

        video_path, video_status = None, "not requested"
        if job.video:
            from autoreward.train.video import record_video

            video = record_video(
                model,
                self.algo,
                self.out / "model.zip",
                schema,
                self.out / "video.mp4",
                seed=job.seed + EVAL_SEED_OFFSET,
                obs_normalizer=normalizer,
                normalizer_path=self._normalizer_path(normalizer),
                max_frames=job.video_max_frames,
            )
            video_path, video_status = video.path, video.status

        steps = int(model.num_timesteps)
        return self._result(
            "ok",
            steps=steps,
            fitness=evaluation.fitness,
            fitness_kind=evaluation.fitness_kind,
            env_return=evaluation.env_return_mean,
            generated_return=evaluation.generated_return_mean,
            episode_length=evaluation.length_mean,
            hacking_flag=bool(stats["hacking"]["flagged"]),
            hacking_reason=stats["hacking"]["reason"] if stats["hacking"]["flagged"] else None,
            checkpoint=str(self.out / CHECKPOINT_DIR),
            video=video_path,
            video_status=video_status,
        )

    # ------------------------------------------------------------------ bookkeeping

    def failed(self, reason: str) -> TrainResult:
        self.learn_s = self.learn_s or (time.time() - self.started)
        steps = self.start_step
        if self.stats_cb is not None and self.stats_cb.model is not None:
            steps = int(self.stats_cb.model.num_timesteps)
            from autoreward.train.stats import build_stats

            # what was recorded before the failure is still evidence for the analyzer
            atomic_write_json(
                self.out / "stats.json",
                build_stats(self.stats_cb.history, self.wrapper.term_names if self.wrapper else []),
            )
        return self._result("failed", reason=reason, steps=steps)

    def close(self) -> None:
        if self.venv is not None:
            try:
                self.venv.close()
            except Exception:  # closing a broken SubprocVecEnv must not mask the real result
                pass

    def _result(self, status: str, **fields: Any) -> TrainResult:
        steps = int(fields.pop("steps", 0))
        this_run = max(steps - self.start_step, 0)
        overhead = self.stats_cb.overhead_s if self.stats_cb is not None else 0.0
        overhead_cpu = self.stats_cb.overhead_cpu_s if self.stats_cb is not None else 0.0
        pure_s = max(self.learn_s - overhead, 1e-9)
        pure_cpu_s = max(self.learn_cpu_s - overhead_cpu, 1e-9)
        self.extra = {
            "resumed_from_steps": self.start_step,
            "learn_s": self.learn_s,
            "checkpoint_overhead_s": overhead,
            "learn_cpu_s": self.learn_cpu_s,
            # steps per CPU-second of this process: comparable across runs on a busy machine
            "steps_per_cpu_s": this_run / pure_cpu_s if this_run and self.learn_cpu_s else 0.0,
            "train_s_total": self.prior_train_s + self.learn_s,
            "reward_sha256": _sha(self.job.reward_code),
            "n_envs": self.job.n_envs,
            "torch_threads": self.job.torch_threads,
            "device": self.device,  # the one torch trained on; None when it never started
            "device_requested": self.job.device,
        }
        return TrainResult(
            status=status,  # type: ignore[arg-type]
            label=self.job.label,
            env_id=self.job.env_id,
            algo=self.algo,
            seed=self.job.seed,
            out_dir=str(self.out),
            steps=steps,
            steps_this_run=this_run,
            total_steps=self.total_steps,
            wall_s=time.time() - self.started,
            steps_per_s=this_run / pure_s if this_run else 0.0,
            curve=curve_from_history(self.stats_cb.history if self.stats_cb else []),
            **fields,
        )

    def _state(self, model: Any, n_envs: int) -> CheckpointState:
        return CheckpointState(
            steps=int(model.num_timesteps),
            algo=self.algo,
            env_id=self.job.env_id,
            seed=self.job.seed,
            n_envs=n_envs,
            reward_sha256=_sha(self.job.reward_code),
            history=list(self.stats_cb.history),
            term_names=self.wrapper.term_names,
            train_s=self.prior_train_s + (time.time() - self.started),
        )

    def _check_resume(self, resume: CheckpointState) -> None:
        if resume.algo != self.algo:
            raise ConfigError(
                f"cannot continue a {resume.algo} checkpoint with {self.algo} ({self.job.resume_from})",
                hint="leave algo unset or use the checkpoint's algorithm",
            )
        if resume.env_id != self.job.env_id:
            raise ConfigError(
                f"checkpoint {self.job.resume_from} is for {resume.env_id}, not {self.job.env_id}"
            )

    def _normalizer_path(self, normalizer: Any) -> Path | None:
        return None if normalizer is None else self.out / CHECKPOINT_DIR / "vecnormalize.pkl"


# =========================================================================== building blocks


def load_job_schema(job: TrainJob) -> Any:
    from autoreward.envs.registry import load_schema
    from autoreward.envs.schema import EnvSchema

    if job.schema_data is not None:
        return EnvSchema.model_validate(job.schema_data)
    return load_schema(job.env_id)


def build_training(
    job: TrainJob,
    schema: Any,
    algo: str,
    n_envs: int,
    seed: int,
    reward_fn: Any,
    resume: CheckpointState | None,
) -> tuple[Any, Any, Any, Any]:
    """(venv, reward wrapper, VecNormalize or None, model): the model's env is the outermost."""
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    from autoreward.train.hyperparams import algo_class, resolve_hyperparams
    from autoreward.train.vec_env import make_training_venv
    from autoreward.train.wrapper import RewardVecEnvWrapper

    set_random_seed(seed)
    base = make_training_venv(schema, n_envs, seed, job.vec_env, schema_state=reward_fn is not None)
    wrapper = RewardVecEnvWrapper(base, reward_fn)

    raw = dict(schema.train.hyperparams) if algo == schema.train.algo else {}
    raw.update(job.hyperparams)
    policy, kwargs, norm_kwargs = resolve_hyperparams(algo, raw, wrapper.action_space)
    cls = algo_class(algo)
    normalizer = None
    venv: Any = wrapper
    if resume is not None:
        ckpt = Path(job.resume_from or "")
        if resume.normalizer:
            normalizer = VecNormalize.load(str(ckpt / "vecnormalize.pkl"), wrapper)
            venv = normalizer
        model = cls.load(ckpt / "model.zip", env=venv, device=job.device)
        model.set_random_seed(seed)
        replay = getattr(model, "replay_buffer", None)
        if resume.replay_buffer and replay is not None and (ckpt / REPLAY_FILE).exists():
            load_filled_replay(replay, ckpt / REPLAY_FILE)
        return base, wrapper, normalizer, model
    if norm_kwargs is not None:
        norm_kwargs.setdefault("gamma", kwargs.get("gamma", 0.99))
        normalizer = VecNormalize(wrapper, **norm_kwargs)
        venv = normalizer
    try:
        model = cls(policy, venv, seed=seed, device=job.device, verbose=0, **kwargs)
    except TypeError as err:
        raise ConfigError(
            f"bad {algo} hyperparameters {sorted(kwargs)}: {err}",
            hint="hyperparams are stable-baselines3 constructor arguments of the chosen algorithm",
        ) from err
    return base, wrapper, normalizer, model


def save_checkpoint(
    directory: Path,
    model: Any,
    normalizer: Any,
    state: CheckpointState,
    replay_buffer: bool = False,
) -> Path:
    """Write a checkpoint directory next to the old one, then swap it in (never half-written)."""
    fresh = directory.with_name(directory.name + ".new")
    if fresh.exists():
        shutil.rmtree(fresh)
    fresh.mkdir(parents=True)
    model.save(fresh / "model.zip")
    state.normalizer = normalizer is not None
    if normalizer is not None:
        normalizer.save(str(fresh / "vecnormalize.pkl"))
    replay = getattr(model, "replay_buffer", None)
    state.replay_buffer = bool(
        replay_buffer and replay is not None and save_filled_replay(replay, fresh / REPLAY_FILE)
    )
    atomic_write_json(fresh / "state.json", state.model_dump(mode="json"))
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(fresh, directory)
    return directory


def load_checkpoint_state(path: str | Path) -> CheckpointState:
    directory = Path(path)
    data = read_json(directory / "state.json")
    if data is None or not (directory / "model.zip").exists():
        raise ConfigError(
            f"no checkpoint at {directory} (expected state.json and model.zip)",
            hint="resume_from takes the checkpoint/ directory of an earlier training job",
        )
    return CheckpointState.model_validate(data)


def curve_from_history(history: list[dict[str, Any]]) -> list[CurvePoint]:
    return [
        CurvePoint(
            step=p["step"],
            fitness=p.get("fitness"),
            generated_return=p.get("generated_return"),
            env_return=p.get("env_return"),
            episodes=p.get("episodes", 0),
        )
        for p in history
    ]


def _load_reward(code: str | None) -> Any:
    if code is None:
        return None
    from autoreward.sandbox.loader import load_reward_fn

    return load_reward_fn(code)


def _sha(code: str | None) -> str | None:
    return None if code is None else hashlib.sha256(code.encode()).hexdigest()
