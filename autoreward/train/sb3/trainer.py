"""Train one reward candidate with stable-baselines3: the training container's job.

`run_train_job(payload)` is the worker target of the training container (`pipeline.py` runs
it with the candidate's `train/` folder as the only writable place). It never loads reward
code: the reward is a round trip per vector step to the reward process (`_reward_link` in the
payload; `rewardlink.RemoteReward`), batched over the VecEnv; only `train(job)` called in a
process with `reward_code` (tests, benchmarks) loads it here. This job never measures the
task fitness: that happens afterwards in an evaluation container that never loads the reward
(`evaljob.py`), so nothing this process does can reach its own grade. It never raises for a
bad candidate: a reward that raises, returns NaN or makes training diverge gives
`status: failed` with the reason, and what was recorded up to then is kept.

Files written into `job.out_dir`: `progress.json` (live), `checkpoint/` (resumable: model,
normaliser, replay buffer, statistics history), `policy/step_<n>.npz` at every statistics
checkpoint and `policy/final.npz` (pickle-free weights for the evaluation container). The
`TrainOutcome` goes back as the job's result.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from autoreward.errors import ConfigError
from autoreward.store.atomic import atomic_write_json, read_json, swapped_dir
from autoreward.train.job import TrainJob, TrainOutcome
from autoreward.train.policy_io import FINAL, POLICY_DIR, checkpoint_name
from autoreward.train.run_state import RunState
from autoreward.train.runner import (
    close_reward,
    job_reward,
    load_job_schema,
    reward_process_timing,
    run_attempt,
)
from autoreward.train.sb3.policy import save_policy
from autoreward.train.sb3.replay import load_filled_replay, save_filled_replay
from autoreward.train.tblog import TB_DIR

__all__ = ["CheckpointState", "TrainJob", "TrainOutcome", "run_train_job", "train"]

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
    """Worker entry point: a `TrainJob` as a dict in, a `TrainOutcome` as a dict out."""
    started = float(payload.pop("_started", time.time()))
    link = payload.pop("_reward_link", None)
    return train(TrainJob.model_validate(payload), started, link).model_dump(mode="json")


def train(
    job: TrainJob, started: float | None = None, link: dict[str, Any] | None = None
) -> TrainOutcome:
    """Train and write the checkpoints and policies of one job; failures come back as outcomes."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    return run_attempt(job, lambda: _Run(job, started, link))


class _Run(RunState):
    """The state of one SB3 training run."""

    def __init__(
        self, job: TrainJob, started: float | None, link: dict[str, Any] | None = None
    ) -> None:
        super().__init__(job, started, link)
        self.stats_cb: Any = None
        self.wrapper: Any = None
        self.model: Any = None
        self.normalizer: Any = None
        self.algo = job.algo or ""
        self.n_envs = 0

    # ------------------------------------------------------------------ the run, top to bottom

    def execute(self) -> TrainOutcome:
        from stable_baselines3.common.callbacks import BaseCallback, CallbackList

        from autoreward.train.sb3.callbacks import (
            NanGuardCallback,
            ProgressCallback,
            SaveCheckpointCallback,
            StatsCallback,
            TensorBoardCheckpointCallback,
        )

        job = self.job
        schema = load_job_schema(job)
        self.algo = job.algo or schema.train.algo
        self.total_steps = job.total_steps or schema.train.total_steps
        n_envs = job.n_envs or schema.train.n_envs
        self.n_envs = n_envs
        reward_fn, self.reward_sha = job_reward(job, self.link)
        self.reward_fn = reward_fn
        resume = load_checkpoint_state(job.resume_from) if job.resume_from else None
        if resume is not None:
            self._check_resume(resume)
            self.start_step = resume.steps
            self.prior_train_s = resume.train_s
        if hasattr(reward_fn, "step_offset"):
            reward_fn.step_offset = self.start_step

        # ---- environments and model
        from autoreward.train.device import resolve_device

        resolve_device(job.device, "device")  # SB3 would fall back to the CPU without a word
        seed = job.seed + self.start_step  # a continuation sees fresh episodes
        self.venv, self.wrapper, self.normalizer, self.model, self.setup = build_training(
            job, schema, self.algo, n_envs, seed, reward_fn, resume
        )
        model, normalizer = self.model, self.normalizer
        self.device = str(model.device)

        def save(final: bool = False) -> None:
            save_checkpoint(
                self.out / CHECKPOINT_DIR,
                model,
                normalizer,
                self._state(model, n_envs),
                replay_buffer=final,
            )
            step = int(model.num_timesteps)
            save_policy(model, normalizer, self.out / POLICY_DIR / checkpoint_name(step))
            if step not in self.policies:
                self.policies.append(step)

        on_checkpoint: BaseCallback = SaveCheckpointCallback(save)
        if job.tensorboard:
            tb_points = TensorBoardCheckpointCallback(
                self.out / TB_DIR, lambda: self.stats_cb.latest
            )
            on_checkpoint = CallbackList([on_checkpoint, tb_points])
        self.stats_cb = StatsCallback(
            self.wrapper,
            lambda: None,  # the fitness is measured by the evaluation container
            total_steps=self.total_steps,
            start_step=self.start_step,
            n_checkpoints=job.n_checkpoints,
            history=resume.history if resume else None,
            callback_on_checkpoint=on_checkpoint,
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
        self.startup_s = t0 - self.started
        remaining = self.total_steps - self.start_step
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=CallbackList([NanGuardCallback(), self.stats_cb, progress]),
                reset_num_timesteps=resume is None,
            )
        self.learn_s = time.time() - t0
        self.learn_cpu_s = time.process_time() - c0
        save(final=True)
        save_policy(model, normalizer, self.out / POLICY_DIR / FINAL)
        self.final_policy = True
        return self._outcome("ok", steps=int(model.num_timesteps))

    # ------------------------------------------------------------------ bookkeeping

    def failed(self, reason: str) -> TrainOutcome:
        self.learn_s = self.learn_s or (time.time() - self.started)
        steps = self.start_step
        if self.stats_cb is not None and self.stats_cb.model is not None:
            steps = int(self.stats_cb.model.num_timesteps)
        return self._outcome("failed", reason=reason, steps=steps)

    def close(self) -> None:
        close_reward(self.reward_fn)
        if self.venv is not None:
            try:
                self.venv.close()
            except Exception:  # closing a broken SubprocVecEnv must not mask the real result
                pass

    def _outcome(self, status: str, **fields: Any) -> TrainOutcome:
        if (timing := reward_process_timing(self.reward_fn)) is not None:
            self.setup["reward_process"] = timing
        steps = int(fields.pop("steps", 0))
        this_run = max(steps - self.start_step, 0)
        overhead = self.stats_cb.overhead_s if self.stats_cb is not None else 0.0
        overhead_cpu = self.stats_cb.overhead_cpu_s if self.stats_cb is not None else 0.0
        pure_s = max(self.learn_s - overhead, 1e-9)
        pure_cpu_s = max(self.learn_cpu_s - overhead_cpu, 1e-9)
        history = self.stats_cb.history if self.stats_cb is not None else []
        return TrainOutcome(
            status=status,  # type: ignore[arg-type]
            algo=self.algo,
            steps=steps,
            steps_this_run=this_run,
            total_steps=self.total_steps,
            startup_s=self.startup_s,
            learn_s=self.learn_s,
            learn_cpu_s=self.learn_cpu_s,
            checkpoint_overhead_s=overhead,
            steps_per_s=this_run / pure_s if this_run else 0.0,
            # steps per CPU-second of this process: comparable across runs on a busy machine
            steps_per_cpu_s=this_run / pure_cpu_s if this_run and self.learn_cpu_s else 0.0,
            history=history,
            term_names=self.wrapper.term_names if self.wrapper is not None else [],
            policies=sorted(self.policies),
            final_policy=self.final_policy,
            checkpoint=(self.out / CHECKPOINT_DIR / "state.json").exists(),
            device=self.device or "never started",
            n_envs=self.n_envs,
            setup=self.setup,
            **fields,
        )

    def _state(self, model: Any, n_envs: int) -> CheckpointState:
        return CheckpointState(
            steps=int(model.num_timesteps),
            algo=self.algo,
            env_id=self.job.env_id,
            seed=self.job.seed,
            n_envs=n_envs,
            reward_sha256=self.reward_sha,
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


# =========================================================================== building blocks


def build_training(
    job: TrainJob,
    schema: Any,
    algo: str,
    n_envs: int,
    seed: int,
    reward_fn: Any,
    resume: CheckpointState | None,
) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """(venv, reward wrapper, VecNormalize or None, model, what was set up): the model's env
    is the outermost; the last is recorded in train.json (policy, hyperparams, budget)."""
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    from autoreward.train.budget import describe_rollout
    from autoreward.train.sb3.hyperparams import algo_class, job_hyperparams, resolve_hyperparams
    from autoreward.train.sb3.vec_env import make_training_venv
    from autoreward.train.sb3.wrapper import RewardVecEnvWrapper

    set_random_seed(seed)
    base = make_training_venv(schema, n_envs, seed, job.vec_env, schema_state=reward_fn is not None)
    wrapper = RewardVecEnvWrapper(base, reward_fn)

    raw = job_hyperparams(job, schema, algo)
    policy, kwargs, norm_kwargs = resolve_hyperparams(
        algo, raw, wrapper.action_space, wrapper.observation_space
    )
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
    else:
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
    if job.tensorboard:
        from stable_baselines3.common.logger import configure

        model.set_logger(configure(str(job.path / TB_DIR), ["tensorboard"]))
    budget = (job.total_steps or schema.train.total_steps) - (resume.steps if resume else 0)
    actual = {k: getattr(model, k) for k in ("n_steps", "batch_size") if hasattr(model, k)}
    setup = {
        "policy": _policy_alias(cls, model),
        "hyperparams": raw,
        "budget": describe_rollout(algo, {**raw, **actual}, n_envs, budget).model_dump()
        | ({"note": job.budget_note} if job.budget_note else {}),
    }
    return base, wrapper, normalizer, model, setup


def _policy_alias(cls: Any, model: Any) -> str:
    for alias, policy_cls in cls.policy_aliases.items():
        if type(model.policy) is policy_cls:
            return str(alias)
    return type(model.policy).__name__


def save_checkpoint(
    directory: Path,
    model: Any,
    normalizer: Any,
    state: CheckpointState,
    replay_buffer: bool = False,
) -> Path:
    """Write a checkpoint directory next to the old one, then swap it in (never half-written)."""
    with swapped_dir(directory) as fresh:
        model.save(fresh / "model.zip")
        state.normalizer = normalizer is not None
        if normalizer is not None:
            normalizer.save(str(fresh / "vecnormalize.pkl"))
        replay = getattr(model, "replay_buffer", None)
        state.replay_buffer = bool(
            replay_buffer and replay is not None and save_filled_replay(replay, fresh / REPLAY_FILE)
        )
        atomic_write_json(fresh / "state.json", state.model_dump(mode="json"))
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
