"""Sandbox benchmark (run by hand; prints what was measured in this one run).

0. The parent's own costs: static validation of a reward (target < 5 ms), loading it, and a
   full sandboxed dry run on Hopper-v5 (a few seconds at most).
1. Container start cost: wall time of a trivial job (`_probe:ping`: start the worker, report,
   exit) in every isolation mode this machine allows, median of repeats, interleaved.
2. One training job end to end through its containers (train, evaluate, reward terms):
   wall time per stage, and the training loop's own throughput (steps per CPU-second inside
   the training container) against the same loop run in this process without any container.

    .venv/bin/python bench/bench_sandbox.py [--repeats 7] [--steps 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

HERE = Path(__file__).parent
console = Console()


REWARD = """
import numpy as np


def compute_reward(state, action, next_state):
    forward = next_state["x_velocity"]
    healthy = np.where(next_state["torso_height"] > 0.7, 1.0, 0.0)
    upright = -0.5 * np.square(next_state["torso_angle"])
    ctrl = -1e-3 * np.sum(np.square(action), axis=-1)
    total = forward + healthy + upright + ctrl
    return total, {"forward": forward, "healthy": healthy, "upright": upright, "ctrl": ctrl}
"""


def _ms(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def parent_costs() -> None:
    from autoreward.envs.registry import load_schema
    from autoreward.sandbox.checker import check_reward_isolated
    from autoreward.sandbox.loader import load_reward_fn
    from autoreward.sandbox.validate import validate_code
    from autoreward.sandbox.worker import isolation

    console.print(f"sandbox mode: {isolation().describe()}")
    validate = _ms(lambda: validate_code(REWARD), 200)
    load = _ms(lambda: load_reward_fn(REWARD), 200)
    schema = load_schema("Hopper-v5")
    dry = _ms(lambda: check_reward_isolated(REWARD, schema), 3)
    console.print(f"validate_code, 10-line reward   {validate:8.3f} ms  (target < 5 ms)")
    console.print(f"load_reward_fn (in a worker)    {load:8.3f} ms")
    console.print(f"sandboxed dry run on Hopper-v5  {dry:8.1f} ms")


def start_costs(repeats: int) -> dict[str, float]:
    from autoreward.errors import WorkerError
    from autoreward.sandbox import worker

    modes = []
    for name in worker.MODES:
        os.environ[worker.MODE_ENV_VAR] = name
        try:
            worker.isolation(refresh=True)
            modes.append(name)
        except WorkerError:
            continue
    walls: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(repeats):
        for mode in modes:
            os.environ[worker.MODE_ENV_VAR] = mode
            t0 = time.perf_counter()
            res = worker.run_isolated("autoreward.sandbox._probe:ping", {}, worker.Limits.dry_run())
            walls[mode].append(time.perf_counter() - t0)
            if not res.ok:
                raise RuntimeError(f"{mode}: {res.reason}")
    os.environ.pop(worker.MODE_ENV_VAR, None)
    return {m: statistics.median(v) for m, v in walls.items()}


def one_job(steps: int, root: Path) -> dict[str, float]:
    from autoreward.exec.base import run_job_isolated
    from autoreward.train.job import TrainJob
    from autoreward.train.sb3.trainer import train

    code = (HERE / "rewards" / "cartpole_typical.py").read_text()
    job = TrainJob(env_id="CartPole-v1", out_dir=str(root / "job"), reward_code=code,
                   total_steps=steps, n_checkpoints=10, eval_episodes=5)  # fmt: skip
    t0 = time.perf_counter()
    result = run_job_isolated(job)
    wall = time.perf_counter() - t0
    if result.status != "ok":
        raise RuntimeError(result.reason)
    import json

    inside = json.loads((root / "job" / "train.json").read_text())["steps_per_cpu_s"]
    bare = train(job.model_copy(update={"out_dir": str(root / "bare")}))
    return {"wall_s": wall, **result.timings, "inside_steps_per_cpu_s": inside,
            "bare_steps_per_cpu_s": bare.steps_per_cpu_s}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    console.print(f"cores: {os.cpu_count()}  (other processes on the machine add noise)")
    parent_costs()
    costs = start_costs(args.repeats)
    table = Table(title=f"container start cost (trivial job, median of {args.repeats})")
    table.add_column("mode")
    table.add_column("wall s", justify="right")
    for mode, wall in costs.items():
        table.add_row(mode, f"{wall:.3f}")
    console.print(table)
    with tempfile.TemporaryDirectory(prefix="autoreward-bench-") as tmp:
        job = one_job(args.steps, Path(tmp))
    stages = Table(title=f"one CartPole job of {args.steps:,} PPO steps through its containers")
    stages.add_column("stage")
    stages.add_column("wall s", justify="right")
    for key in ("train_container_s", "startup_s", "learn_s", "eval_container_s",
                "terms_container_s", "publish_s", "wall_s"):  # fmt: skip
        stages.add_row(key, f"{job.get(key, 0.0):.2f}")
    console.print(stages)
    console.print(
        f"training loop inside the container {job['inside_steps_per_cpu_s']:.0f} steps per "
        f"CPU-s vs {job['bare_steps_per_cpu_s']:.0f} in this process without one "
        f"(ratio {job['inside_steps_per_cpu_s'] / job['bare_steps_per_cpu_s']:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
