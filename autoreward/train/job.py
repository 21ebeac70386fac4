"""What a training job asks for (`TrainJob`) and what it reports (`TrainResult`).

Kept free of torch/SB3 imports so executors and the loop can build jobs cheaply; the job is
JSON-serialised into the isolated worker, which runs `autoreward.train.sb3.trainer:run_train_job`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from autoreward.sandbox.untrusted import UntrustedStr, clean_text

Algo = Literal["PPO", "SAC", "TD3", "A2C", "DQN"]
Backend = Literal["sb3", "warp"]
"""sb3: stable-baselines3 on gymnasium (CPU); warp: rsl-rl PPO on the batched MuJoCo Warp env."""
MAX_COMPONENTS = 64
"""A reward with more components than this is reported as failed (the statistics would be noise)."""


class TrainJob(BaseModel):
    """One training run of one reward (or of the env's own reward when `reward_code` is None)."""

    model_config = ConfigDict(extra="forbid")

    env_id: str = Field(
        description="Gymnasium id or module:Class; its schema is loaded in the worker."
    )
    out_dir: str = Field(description="Where train.json, eval.json, stats.json, model.zip, ... go.")
    reward_code: str | None = Field(
        default=None,
        description="Source defining compute_reward; None trains on the env's own reward.",
    )
    schema_data: dict[str, Any] | None = Field(
        default=None,
        description="An EnvSchema as a dict (e.g. an auto-schema); None loads it by env_id.",
    )
    backend: Backend = Field(
        default="sb3",
        description="Training backend: sb3 (stable-baselines3 on gymnasium) or warp (rsl-rl PPO "
        "on the batched MuJoCo Warp env; `n_envs` are worlds, `hyperparams` rsl-rl settings).",
    )
    algo: Algo | None = Field(
        default=None, description="SB3 algorithm; None takes the schema default (warp: PPO)."
    )
    total_steps: int | None = Field(
        default=None,
        gt=0,
        description="Environment steps in all; when resuming, training continues up to this count.",
    )
    n_envs: int | None = Field(
        default=None, gt=0, description="Parallel envs; None takes the schema default."
    )
    seed: int = Field(
        default=0, description="Seeds the policy, the training envs and the evaluation."
    )
    hyperparams: dict[str, Any] = Field(
        default_factory=dict,
        description="SB3 constructor arguments (plus policy, normalize), merged over the "
        "schema's defaults when `schema_hyperparams`.",
    )
    schema_hyperparams: bool = Field(
        default=True,
        description="Merge the schema's default hyperparameters (for its default algorithm) "
        "under `hyperparams`; False when `hyperparams` is already the complete set.",
    )
    tensorboard: bool = Field(default=True, description="Write TensorBoard logs to <out_dir>/tb.")
    budget_note: str = Field(
        default="",
        description="How the caller fitted the rollout to the budget (budget.py); train.json repeats it.",
    )
    eval_episodes: int = Field(
        default=5, gt=0, description="Final deterministic evaluation episodes."
    )
    checkpoint_eval_episodes: int = Field(
        default=3, gt=0, description="Evaluation episodes at each statistics checkpoint."
    )
    n_checkpoints: int = Field(
        default=10, gt=0, description="Evenly spaced statistics checkpoints."
    )
    trajectory_episodes: int = Field(
        default=3, ge=0, description="Eval episodes summarised for the analyzer."
    )
    video: bool = Field(default=False, description="Render one evaluation episode to video.mp4.")
    reward_terms: bool = Field(
        default=True,
        description="Compute the reward's components on the evaluation episodes (its own "
        "container) for the trajectory summaries; the first halving rung skips it.",
    )
    video_max_frames: int = Field(
        default=250, gt=0, description="Frames in the video at most (every k-th step is rendered)."
    )
    resume_from: str | None = Field(
        default=None,
        description="A checkpoint directory written by an earlier job to continue from.",
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    torch_threads: int = Field(default=1, gt=0, description="torch.set_num_threads in the worker.")
    vec_env: Literal["dummy", "subproc"] = Field(
        default="dummy",
        description="DummyVecEnv (one process) or SubprocVecEnv (one process per env).",
    )
    progress_every_s: float = Field(
        default=1.0, gt=0, description="How often progress.json is rewritten."
    )
    label: str = Field(
        default="", description="A name for progress displays (e.g. 'iter 0 cand 2')."
    )

    @property
    def path(self) -> Path:
        return Path(self.out_dir)


class CurvePoint(BaseModel):
    """The learning curve at one statistics checkpoint."""

    step: int
    fitness: float | None
    generated_return: float | None = Field(
        description="Mean training-episode return of the trained reward."
    )
    env_return: float | None = Field(
        description="Mean training-episode return of the env's own reward."
    )
    episodes: int = Field(description="Training episodes finished since the previous checkpoint.")


class TrainResult(BaseModel):
    """What a job reports; also written (with more detail) to `train.json` in its out_dir."""

    status: Literal["ok", "failed"]
    reason: UntrustedStr | None = None
    label: str = ""
    env_id: str = ""
    algo: str = ""
    seed: int = 0
    out_dir: str = ""
    steps: int = Field(
        default=0, description="Environment steps trained in all (including resumed ones)."
    )
    steps_this_run: int = Field(
        default=0, description="Steps trained by this job (excluding resumed ones)."
    )
    total_steps: int = 0
    wall_s: float = 0.0
    steps_per_s: float = 0.0
    fitness: float | None = None
    fitness_episodes: list[float] = Field(
        default_factory=list,
        description="Per-episode contributions to `fitness` (a score's episode values, a success "
        "fitness's 0/1 outcomes): their spread is the evaluation noise.",
    )
    fitness_kind: str | None = None
    env_return: float | None = None
    generated_return: float | None = None
    episode_length: float | None = None
    curve: list[CurvePoint] = Field(default_factory=list)
    hacking_flag: bool = False
    hacking_reason: UntrustedStr | None = None
    checkpoint: str | None = Field(
        default=None, description="Directory to resume from (resume_from)."
    )
    video: str | None = None
    video_status: UntrustedStr | None = None
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Wall seconds per stage: train container, learning, evaluation, ...",
    )

    @classmethod
    def failure(cls, job: TrainJob, reason: str, **extra: Any) -> TrainResult:
        return cls(
            status="failed",
            reason=reason,
            label=job.label,
            env_id=job.env_id,
            algo=job.algo or "",
            seed=job.seed,
            out_dir=job.out_dir,
            total_steps=job.total_steps or 0,
            **extra,
        )


def _clean_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {clean_text(k, 80): v for k, v in list(value.items())[: MAX_COMPONENTS + 1]}
    return value


class StatsPoint(BaseModel):
    """One statistics checkpoint as the training container reports it (untrusted numbers:
    validated here; `fitness` is filled in by the parent from the evaluation container)."""

    model_config = ConfigDict(extra="ignore")

    step: int = Field(ge=0)
    fitness: float | None = None
    generated_return: float | None = None
    env_return: float | None = None
    episode_length: float | None = None
    episodes: int = Field(default=0, ge=0)
    terminated_fraction: float | None = None
    reward_per_step: dict[str, float] | None = None
    per_step: dict[str, dict[str, float]] = Field(default_factory=dict)
    per_episode: dict[str, float] = Field(default_factory=dict)

    _keys = field_validator("per_step", "per_episode", mode="before")(
        classmethod(lambda cls, v: _clean_keys(v))
    )


class TrainOutcome(BaseModel):
    """What the training container reports (`trainer.run_train_job`); the parent validates it
    and combines it with the evaluation container's fitness into a `TrainResult`."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["ok", "failed"]
    reason: UntrustedStr | None = None
    algo: str = ""
    steps: int = Field(default=0, ge=0)
    steps_this_run: int = Field(default=0, ge=0)
    total_steps: int = Field(default=0, ge=0)
    startup_s: float = Field(default=0.0, description="Container start to the first step.")
    learn_s: float = 0.0
    learn_cpu_s: float = 0.0
    checkpoint_overhead_s: float = 0.0
    steps_per_s: float = 0.0
    steps_per_cpu_s: float = 0.0
    history: list[StatsPoint] = Field(default_factory=list, max_length=10_000)
    term_names: list[UntrustedStr] = Field(default_factory=list, max_length=MAX_COMPONENTS)
    policies: list[int] = Field(
        default_factory=list, description="Steps with a saved policy (policy/step_<n>.npz)."
    )
    final_policy: bool = Field(default=False, description="policy/final.npz was written.")
    checkpoint: bool = Field(default=False, description="checkpoint/ is resumable.")
    device: str = "cpu"
    n_envs: int = Field(default=0, ge=0, description="Parallel envs the job trained on.")
    setup: dict[str, Any] = Field(
        default_factory=dict, description="Policy, hyperparameters and budget, for train.json."
    )
