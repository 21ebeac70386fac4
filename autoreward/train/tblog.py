"""TensorBoard scalars of the statistics checkpoints: fitness, returns and reward components.

Each training job logs into its own `<job folder>/tb/`: stable-baselines3's logger writes its
own curves there (`rollout/ep_rew_mean` of the trained reward, `train/*` losses, `time/fps`),
and `ScalarLog` adds one point per statistics checkpoint. `tensorboard --logdir runs/` then
shows every candidate of every run, each named by its path
(`<run>/iter_0/cand_1/tb`, `train-.../reward/tb`).

The functions take plain data (`{step: {tag: value}}`) and a folder, so whatever process
computes a checkpoint's numbers can write them (`write_scalars`). Tags:

| tag | value at a checkpoint |
|---|---|
| `checkpoint/fitness` | task fitness of a short deterministic evaluation |
| `checkpoint/generated_return`, `checkpoint/env_return` | mean training-episode returns (trained reward, env's own) |
| `checkpoint/episode_length`, `checkpoint/terminated_fraction` | of the training episodes since the last checkpoint |
| `checkpoint/reward_per_step` | mean per-step value of the trained reward |
| `reward_episode/<component>` | mean per-episode sum of each reward component |
| `reward_step/<component>` | mean per-step value of each reward component |
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TB_DIR = "tb"
"""The TensorBoard folder inside a job's output folder."""

_POINT_TAGS = {
    "fitness": "checkpoint/fitness",
    "generated_return": "checkpoint/generated_return",
    "env_return": "checkpoint/env_return",
    "episode_length": "checkpoint/episode_length",
    "terminated_fraction": "checkpoint/terminated_fraction",
}


def checkpoint_scalars(point: Mapping[str, Any]) -> dict[str, float]:
    """The tags of one statistics checkpoint (a `stats.json` checkpoint entry); missing or
    non-finite values are left out."""
    out: dict[str, float] = {}
    for key, tag in _POINT_TAGS.items():
        _put(out, tag, point.get(key))
    total = point.get("reward_per_step")
    if isinstance(total, Mapping):
        _put(out, "checkpoint/reward_per_step", total.get("mean"))
    for name, value in (point.get("per_episode") or {}).items():
        _put(out, f"reward_episode/{name}", value)
    for name, value in (point.get("per_step") or {}).items():
        if isinstance(value, Mapping):
            _put(out, f"reward_step/{name}", value.get("mean"))
    return out


def _put(out: dict[str, float], tag: str, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        out[tag] = float(value)


class ScalarLog:
    """An open TensorBoard event file in `log_dir`; `write(step, {tag: value})` per point."""

    def __init__(self, log_dir: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def write(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, global_step=int(step))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def write_scalars(log_dir: str | Path, scalars: Mapping[int, Mapping[str, float]]) -> Path:
    """Write `{step: {tag: value}}` as one TensorBoard event file in `log_dir`; returns it."""
    log = ScalarLog(log_dir)
    try:
        for step in sorted(scalars):
            log.write(step, scalars[step])
    finally:
        log.close()
    return log.log_dir


def read_scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag under `log_dir` as `(step, value)` pairs in step order (TensorBoard's own
    reader)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0}, purge_orphaned_data=False)
    acc.Reload()
    # The reader takes a folder's files in name order, and a name ends in a per-process counter
    # compared as text (".10" before ".9"): points of several files come back out of step order.
    return {
        tag: [
            (e.step, e.value) for e in sorted(acc.Scalars(tag), key=lambda e: (e.step, e.wall_time))
        ]
        for tag in acc.Tags()["scalars"]
    }


# --------------------------------------------------------------------------- Weights & Biases


def require_wandb() -> None:
    """A ConfigError when `--wandb` is asked for but the package is not installed."""
    import importlib.util

    from autoreward.errors import ConfigError

    if importlib.util.find_spec("wandb") is None:
        raise ConfigError(
            "--wandb needs the wandb package, which is not installed",
            hint="pip install wandb (and wandb login), or leave --wandb out",
        )


def upload_to_wandb(root: str | Path, project: str, group: str | None = None) -> int:
    """One W&B run per job folder under `root` that has a TensorBoard log: its scalars, step by
    step, and its `train.json` policy and hyperparameters as the config. Runs in the calling
    process (the training workers have no network); returns the number of runs uploaded."""
    import json

    import wandb

    root = Path(root)
    count = 0
    # A job's training container logs into <job>/train/tb, the parent its measured fitness
    # into <job>/tb: one W&B run holds both.
    logs: dict[Path, list[Path]] = {}
    for tb in sorted(root.rglob(TB_DIR)):
        if tb.is_dir() and not tb.is_symlink():
            owner = tb.parent.parent if tb.parent.name == "train" else tb.parent
            logs.setdefault(owner, []).append(tb)
    for job, dirs in logs.items():
        scalars: dict[str, list[tuple[int, float]]] = {}
        for tb in dirs:
            for tag, points in read_scalars(tb).items():
                scalars.setdefault(tag, []).extend(points)
        if not scalars:
            continue
        train = job / "train.json"
        record = json.loads(train.read_text()) if train.exists() else {}
        config = {
            k: record.get(k) for k in ("env_id", "algo", "seed", "policy", "hyperparams", "n_envs")
        }
        name = str(job.relative_to(root)) if job != root else root.name
        run = wandb.init(project=project, group=group or root.name, name=name, config=config)
        by_step: dict[int, dict[str, float]] = {}
        for tag, points in scalars.items():
            for step, value in points:
                by_step.setdefault(step, {})[tag] = value
        for step in sorted(by_step):
            run.log(by_step[step], step=step)
        run.finish()
        count += 1
    return count
