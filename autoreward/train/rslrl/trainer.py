"""Train one reward candidate with rsl-rl PPO on the batched MuJoCo Warp env: the training
container's job for `--backend warp`.

`run_warp_train_job(payload)` is the worker target (`pipeline.py` picks it for a job whose
`backend` is warp). It takes the same `TrainJob` and returns the same `TrainOutcome` as the SB3
trainer (`sb3/trainer.py`), writes the same files into `job.out_dir` and never measures the task
fitness (the evaluation container does, on the gymnasium env, with the saved actor):

- `progress.json` (live), `checkpoint/` (resumable, `checkpoint.py`: `model.pt` with
  actor, critic and optimiser, `state.json` with the statistics history), `policy/step_<n>.npz` at every
  statistics checkpoint and `policy/final.npz` (pickle-free actor weights, `policy.py`);
- the statistics history: at each of `n_checkpoints` evenly spaced steps, the same
  `checkpoint_point` document as the SB3 path (per-step component statistics, per-episode sums,
  generated and env returns, episode length, terminated fraction);
- `tb/`: per-iteration losses, learning rate, action std and throughput, and the checkpoint
  scalars.

One iteration: `num_steps_per_env` vector steps of all W worlds (the reward called once per
vector step on the host, `env.py`), then rsl-rl's PPO update. Checkpoints fall between
iterations, so the saved policy is exactly the one that collected the steps counted. A bad
candidate (reward error, NaN, divergence) gives `status: failed` with the reason; what was
recorded up to then is kept.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from pathlib import Path
from typing import Any

from autoreward.errors import ConfigError
from autoreward.store.atomic import atomic_write_json
from autoreward.train.job import StatsPoint, TrainJob, TrainOutcome
from autoreward.train.policy_io import FINAL, POLICY_DIR, checkpoint_name
from autoreward.train.rslrl.checkpoint import (
    BACKEND,
    CHECKPOINT_DIR,
    WarpCheckpointState,
    load_warp_checkpoint_state,
    load_warp_model,
    save_warp_checkpoint,
)
from autoreward.train.run_state import RunState
from autoreward.train.runner import (
    close_reward,
    job_reward,
    load_job_schema,
    reward_process_timing,
    run_attempt,
)
from autoreward.train.tblog import TB_DIR


def run_warp_train_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: a `TrainJob` as a dict in, a `TrainOutcome` as a dict out."""
    started = float(payload.pop("_started", time.time()))
    link = payload.pop("_reward_link", None)
    return train_warp(TrainJob.model_validate(payload), started, link).model_dump(mode="json")


def train_warp(
    job: TrainJob, started: float | None = None, link: dict[str, Any] | None = None
) -> TrainOutcome:
    """Train and write the checkpoints and policies of one job; failures come back as outcomes."""
    return run_attempt(job, lambda: _WarpRun(job, started, link))


class _WarpRun(RunState):
    """The state of one rsl-rl training run on MuJoCo Warp."""

    def __init__(
        self, job: TrainJob, started: float | None, link: dict[str, Any] | None = None
    ) -> None:
        super().__init__(job, started, link)
        self.env: Any = None
        self.runner: Any = None
        self.history: list[dict[str, Any]] = []
        self.term_names: list[str] = []
        self.steps = 0
        self.iteration = 0
        self.overhead_s = 0.0
        self.update_s = 0.0
        self.setup = {"backend": BACKEND}
        self._tb: Any = None
        self._last_progress = 0.0
        self.steps_live = 0

    # ------------------------------------------------------------------ the run, top to bottom

    def execute(self) -> TrainOutcome:
        import torch
        from rsl_rl.runners import OnPolicyRunner

        from autoreward.envs.warp.env import BatchedMujocoEnv
        from autoreward.envs.warp.model import require_simulation
        from autoreward.envs.warp.runtime import resolve_device
        from autoreward.train.rslrl.env import RewardedWarpEnv
        from autoreward.train.rslrl.policy import job_rslrl_hyperparams, runner_config
        from autoreward.train.stats import checkpoint_thresholds

        job = self.job
        schema = load_job_schema(job)
        spec = require_simulation(schema)
        if job.algo not in (None, "PPO"):
            raise ConfigError(f"the warp backend trains PPO (rsl-rl), not {job.algo}",
                              hint="leave algo unset or use --backend sb3")  # fmt: skip
        self.total_steps = job.total_steps or schema.train.total_steps
        hp = job_rslrl_hyperparams(job, schema)
        device = resolve_device(job.device)
        worlds = job.n_envs or spec.train.worlds(device)
        reward_fn, self.reward_sha = job_reward(job, self.link)
        self.reward_fn = reward_fn
        resume = load_warp_checkpoint_state(job.resume_from) if job.resume_from else None
        if resume is not None:
            self._check_resume(resume)
            self.start_step = self.steps = resume.steps
            self.iteration, self.prior_train_s = resume.iteration, resume.train_s
            self.history = list(resume.history)
        if hasattr(reward_fn, "step_offset"):
            reward_fn.step_offset = self.start_step
        seed = job.seed + self.start_step  # a continuation sees fresh episodes
        torch.manual_seed(seed)

        # ---- the env, the reward and rsl-rl's runner
        self.env = BatchedMujocoEnv(schema, worlds, device=device, seed=seed)
        self.venv = RewardedWarpEnv(self.env, reward_fn, self.start_step, self._progress)
        self.device = str(self.env.device)
        with contextlib.redirect_stdout(io.StringIO()):  # rsl-rl prints the networks
            self.runner = OnPolicyRunner(self.venv, runner_config(hp), None, self.device)
        self.runner.current_learning_iteration = self.iteration
        if resume is not None:
            load_warp_model(self.runner.alg, Path(job.resume_from or ""), self.device)
        self.setup = self._setup(hp, worlds)
        thresholds = checkpoint_thresholds(self.total_steps, self.start_step, job.n_checkpoints)

        # ---- train
        t0, c0 = time.time(), time.process_time()
        self.startup_s = t0 - self.started
        self._write_progress("running", force=True)
        if hp.init_at_random_ep_len and self.steps < self.total_steps:
            self.venv.episode_length_buf = torch.randint_like(
                self.venv.episode_length_buf, high=int(self.venv.max_episode_length)
            )
        self.runner.alg.train_mode()
        while self.steps < self.total_steps:
            losses = self._iteration(hp.num_steps_per_env)
            self.steps = self.venv.steps
            self._check_finite()
            self._log_iteration(losses)
            if thresholds and self.steps >= thresholds[0]:
                while thresholds and self.steps >= thresholds[0]:
                    thresholds.pop(0)
                self._checkpoint()
        self.learn_s = time.time() - t0
        self.learn_cpu_s = time.process_time() - c0
        self.setup["timing"] = self._timing()
        self._save(final=True)
        from autoreward.train.rslrl.policy import save_actor

        save_actor(self.runner.alg.get_policy(), self.out / POLICY_DIR / FINAL)
        self.final_policy = True
        return self._outcome("ok")

    def _iteration(self, steps_per_env: int) -> dict[str, float]:
        """One rsl-rl iteration: a rollout of every world, then the PPO update."""
        import torch

        alg, venv = self.runner.alg, self.venv
        with torch.inference_mode():
            obs = venv.get_observations().to(self.device)
            for _ in range(steps_per_env):
                actions = alg.act(obs)
                obs, rewards, dones, extras = venv.step(actions.to(venv.device))
                alg.process_env_step(obs, rewards, dones, extras)
            alg.compute_returns(obs)
        t0 = time.perf_counter()
        losses = alg.update()
        self.update_s += time.perf_counter() - t0
        self.iteration += 1
        return dict(losses)

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint(self) -> None:
        from autoreward.train.stats import checkpoint_point
        from autoreward.train.tblog import checkpoint_scalars

        t0 = time.perf_counter()
        point = checkpoint_point(self.venv.ledger, self.steps)
        self.history.append(point)
        self.term_names = self.venv.ledger.term_names or self.term_names
        self._save(final=False)
        if self.job.tensorboard:
            self._scalars(self.steps, checkpoint_scalars(point))
        self.overhead_s += time.perf_counter() - t0

    def _save(self, final: bool) -> None:
        """`checkpoint/` and the pickle-free policy at this step."""
        from autoreward.train.rslrl.policy import save_actor

        state = WarpCheckpointState(
            steps=self.steps, iteration=self.iteration, env_id=self.job.env_id,
            seed=self.job.seed, worlds=self.env.num_envs, reward_sha256=self.reward_sha,
            history=self.history, term_names=self.term_names,
            train_s=self.prior_train_s + (time.time() - self.started),
        )  # fmt: skip
        save_warp_checkpoint(self.out / CHECKPOINT_DIR, self.runner.alg, state)
        if not final or self.steps not in self.policies:
            policy = self.out / POLICY_DIR / checkpoint_name(self.steps)
            save_actor(self.runner.alg.get_policy(), policy)
            if self.steps not in self.policies:
                self.policies.append(self.steps)

    def _check_resume(self, resume: WarpCheckpointState) -> None:
        if resume.env_id != self.job.env_id:
            raise ConfigError(
                f"checkpoint {self.job.resume_from} is for {resume.env_id}, not {self.job.env_id}"
            )

    def _check_finite(self) -> None:
        import torch

        from autoreward.train.stats import TrainingDiverged

        alg = self.runner.alg
        for model in (alg.actor, alg.critic):
            for name, param in model.named_parameters():
                if not torch.isfinite(param).all():
                    raise TrainingDiverged(
                        f"policy parameter '{name}' became NaN/inf at training step {self.steps}",
                        hint="the reward's scale is probably far too large; keep per-step "
                        "rewards within ~[-10, 10]",
                    )

    # ------------------------------------------------------------------ bookkeeping

    def _progress(self, steps: int) -> None:
        self.steps_live = steps
        self._write_progress("running")

    def _write_progress(self, status: str, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_progress < self.job.progress_every_s:
            return
        self._last_progress = now
        steps = max(self.steps, self.steps_live)
        elapsed = max(now - self.started - self.startup_s, 1e-9)
        latest = self.history[-1] if self.history else {}
        atomic_write_json(
            self.out / "progress.json",
            {"label": self.job.label, "status": status, "steps": steps,
             "total_steps": self.total_steps,
             "steps_per_s": (steps - self.start_step) / elapsed if self.startup_s else 0.0,
             "fitness": None, "generated_return": latest.get("generated_return"),
             "env_return": latest.get("env_return"), "t": now},
        )  # fmt: skip

    def _log_iteration(self, losses: dict[str, float]) -> None:
        if not self.job.tensorboard:
            return
        alg = self.runner.alg
        values = {f"train/{k}_loss": float(v) for k, v in losses.items()}
        values["train/learning_rate"] = float(alg.learning_rate)
        values["train/action_std"] = float(alg.get_policy().output_std.detach().mean())
        elapsed = max(time.time() - self.started - self.startup_s, 1e-9)
        values["time/fps"] = (self.steps - self.start_step) / elapsed
        self._scalars(self.steps, values)

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        from autoreward.train.tblog import ScalarLog

        if self._tb is None:
            self._tb = ScalarLog(self.out / TB_DIR)
        self._tb.write(step, {k: v for k, v in values.items() if math.isfinite(v)})

    def _setup(self, hp: Any, worlds: int) -> dict[str, Any]:
        from autoreward.train.rslrl.policy import describe_policy

        rollout = worlds * hp.num_steps_per_env
        budget = self.total_steps - self.start_step
        trained = math.ceil(budget / rollout) * rollout if budget > 0 else 0
        return {
            "backend": BACKEND,
            "policy": describe_policy(hp),
            "hyperparams": hp.model_dump(),
            "worlds": worlds,
            "compile_s": round(self.env.compile_seconds, 3),
            "budget": {
                "algo": "PPO", "n_envs": worlds, "budget": budget,
                "n_steps": hp.num_steps_per_env, "rollout": rollout,
                "trained_steps": trained, "note": self.job.budget_note,
            },
        }  # fmt: skip

    def _timing(self) -> dict[str, float]:
        """Where the training time went: physics, the host reward path, the PPO update."""
        t = self.venv.timing
        learn = max(self.learn_s, 1e-9)
        return {
            "physics_s": round(t.physics_s, 3),
            "host_reward_s": round(t.host_reward_s, 3),
            "reward_call_s": round(t.reward_call_s, 3),
            "update_s": round(self.update_s, 3),
            "host_reward_share": round(t.host_reward_s / learn, 4),
            "vector_steps": t.steps,
        }

    def failed(self, reason: str) -> TrainOutcome:
        self.learn_s = self.learn_s or (time.time() - self.started)
        if self.venv is not None:
            self.setup["timing"] = self._timing()
        return self._outcome("failed", reason=reason)

    def close(self) -> None:
        close_reward(self.reward_fn)
        if self._tb is not None:
            self._tb.close()
        if self.env is not None:
            self.env.close()

    def _outcome(self, status: str, **fields: Any) -> TrainOutcome:
        if (timing := reward_process_timing(self.reward_fn)) is not None:
            self.setup["reward_process"] = timing
        this_run = max(self.steps - self.start_step, 0)
        pure_s = max(self.learn_s - self.overhead_s, 1e-9)
        return TrainOutcome(
            status=status,  # type: ignore[arg-type]
            algo="PPO",
            steps=self.steps,
            steps_this_run=this_run,
            total_steps=self.total_steps,
            startup_s=self.startup_s,
            learn_s=self.learn_s,
            learn_cpu_s=self.learn_cpu_s,
            checkpoint_overhead_s=self.overhead_s,
            steps_per_s=this_run / pure_s if this_run else 0.0,
            steps_per_cpu_s=this_run / self.learn_cpu_s if this_run and self.learn_cpu_s else 0.0,
            history=[StatsPoint.model_validate(p) for p in self.history],
            term_names=self.term_names,
            policies=sorted(self.policies),
            final_policy=self.final_policy,
            checkpoint=(self.out / CHECKPOINT_DIR / "state.json").exists(),
            device=self.device or "never started",
            setup=self.setup,
            **fields,
        )
