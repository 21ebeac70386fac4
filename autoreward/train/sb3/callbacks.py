"""The SB3 trainer's callbacks: statistics checkpoints (`StatsCallback`, which fires its child
on each checkpoint, as SB3's `EvalCallback` does on a new best), the NaN guard, the
resumable checkpoint, the TensorBoard scalars of each checkpoint and the live `progress.json`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from autoreward.store.atomic import atomic_write_json
from autoreward.train.sb3.wrapper import RewardVecEnvWrapper
from autoreward.train.stats import TrainingDiverged, checkpoint_point, checkpoint_thresholds
from autoreward.train.tblog import ScalarLog, checkpoint_scalars


class StatsCallback(BaseCallback):
    """Records a statistics checkpoint each time training passes the next of `n_checkpoints`
    evenly spaced step counts between `start_step` and `total_steps`; then fires the child
    callback (e.g. `SaveCheckpointCallback`), as SB3's `EvalCallback` does on a new best."""

    def __init__(
        self,
        wrapper: RewardVecEnvWrapper,
        evaluate: Callable[[], float | None],
        total_steps: int,
        start_step: int = 0,
        n_checkpoints: int = 10,
        history: list[dict[str, Any]] | None = None,
        callback_on_checkpoint: BaseCallback | None = None,
    ) -> None:
        super().__init__()
        self.wrapper = wrapper
        self.evaluate = evaluate
        self.thresholds = checkpoint_thresholds(total_steps, start_step, n_checkpoints)
        self.history: list[dict[str, Any]] = list(history or [])
        self.callback_on_checkpoint = callback_on_checkpoint
        self.overhead_s = 0.0  # wall time in checkpoint evaluations and saves, not training
        self.overhead_cpu_s = 0.0  # the same in CPU time of this process
        if callback_on_checkpoint is not None:
            callback_on_checkpoint.parent = self

    def _init_callback(self) -> None:
        if self.callback_on_checkpoint is not None:
            self.callback_on_checkpoint.init_callback(self.model)

    def _on_training_end(self) -> None:
        if self.callback_on_checkpoint is not None:
            self.callback_on_checkpoint.on_training_end()

    def _on_step(self) -> bool:
        if self.thresholds and self.num_timesteps >= self.thresholds[0]:
            while self.thresholds and self.num_timesteps >= self.thresholds[0]:
                self.thresholds.pop(0)
            self.record_checkpoint()
        return True

    def record_checkpoint(self) -> dict[str, Any]:
        t0, c0 = time.perf_counter(), time.process_time()
        point = checkpoint_point(self.wrapper, int(self.num_timesteps), self.evaluate())
        self.history.append(point)
        if self.callback_on_checkpoint is not None:
            self.callback_on_checkpoint.on_step()
        self.overhead_s += time.perf_counter() - t0
        self.overhead_cpu_s += time.process_time() - c0
        return point

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.history[-1] if self.history else None


class NanGuardCallback(BaseCallback):
    """Stops training with a clear reason when the policy's parameters stop being finite
    (a reward far too large usually does that). Checked at the end of every rollout."""

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        import torch

        for name, param in self.model.policy.named_parameters():
            if not torch.isfinite(param).all():
                raise TrainingDiverged(
                    f"policy parameter '{name}' became NaN/inf at training step {self.num_timesteps}",
                    hint="the reward's scale is probably far too large; keep per-step rewards within ~[-10, 10]",
                )


class SaveCheckpointCallback(BaseCallback):
    """Writes a resumable checkpoint (model, normaliser, replay buffer, statistics history)."""

    def __init__(self, save: Callable[[], None]) -> None:
        super().__init__()
        self.save = save

    def _on_step(self) -> bool:
        self.save()
        return True


class TensorBoardCheckpointCallback(BaseCallback):
    """Adds each statistics checkpoint to the job's TensorBoard log (`tblog.ScalarLog`); a
    child of `StatsCallback`, reading the point it just recorded through `latest`."""

    def __init__(self, log_dir: Path, latest: Callable[[], dict[str, Any] | None]) -> None:
        super().__init__()
        self.log_dir = log_dir
        self.latest = latest
        self._log: Any = None

    def _on_step(self) -> bool:
        point = self.latest()
        if point is not None:
            if self._log is None:
                self._log = ScalarLog(self.log_dir)
            self._log.write(int(point["step"]), checkpoint_scalars(point))
        return True

    def _on_training_end(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class ProgressCallback(BaseCallback):
    """Rewrites a small `progress.json` at most every `every_s` seconds for live views."""

    def __init__(
        self,
        path: Path,
        total_steps: int,
        stats: StatsCallback,
        every_s: float = 1.0,
        label: str = "",
    ) -> None:
        super().__init__()
        self.path = path
        self.total_steps = total_steps
        self.stats = stats
        self.every_s = every_s
        self.label = label
        self._last = 0.0
        self._t0 = time.time()
        self._start_steps = 0

    def _on_training_start(self) -> None:
        self._t0 = time.time()
        self._start_steps = self.num_timesteps
        self.write("running")

    def _on_step(self) -> bool:
        now = time.time()
        if now - self._last >= self.every_s:
            self._last = now
            self.write("running")
        return True

    def write(self, status: str) -> None:
        latest = self.stats.latest or {}
        elapsed = max(time.time() - self._t0, 1e-9)
        atomic_write_json(
            self.path,
            {
                "label": self.label,
                "status": status,
                "steps": int(self.num_timesteps),
                "total_steps": self.total_steps,
                "steps_per_s": (self.num_timesteps - self._start_steps) / elapsed,
                "fitness": latest.get("fitness"),
                "generated_return": latest.get("generated_return"),
                "env_return": latest.get("env_return"),
                "t": time.time(),
            },
        )
