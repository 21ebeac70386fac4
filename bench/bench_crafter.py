"""Crafter benchmark (run by hand; prints numbers and ratios measured in this one run).

1. World generation: CPU-seconds per `reset` with numba and with numba's JIT disabled
   (`NUMBA_DISABLE_JIT=1`, the same code as without numba installed), and that both
   generate the same worlds.
2. Env throughput, steps per CPU-second under a random policy: Crafter-v1 bare (image render
   skipped), with the schema state (what training with a generated reward steps), the pixel
   observation (CrafterPixels-v1), and crafter.Env itself (renders every step).
3. Training throughput: PPO steps per CPU-second of the autoreward trainer with the default
   observation (MLP), on the env's own reward and on a dense generated reward; and the
   CNN on the pixel observation.
4. Learning (`--learn-steps`, default 100k): the success rate of a suite task
   (`--task`, default collect-wood) over 30 evaluation episodes on fresh worlds, and the
   mean step of its first success, for a hand-written dense reward
   (`rewards/crafter_<task>.py`), the env's own reward, and a random policy.

    .venv/bin/python bench/bench_crafter.py [--quick] [--learn-steps 100000] [--task place-table]
        [--only-learning]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

HERE = Path(__file__).parent
console = Console()

_RESET_PROBE = """
import hashlib, json, time, numpy as np
import autoreward.envs.builtin, gymnasium as gym
env = gym.make("Crafter-v1")
env.reset(seed=0)  # compiles (numba) / warms up
cpu, digest = [], hashlib.sha256()
for seed in range({n}):
    t = time.process_time(); env.reset(seed=100 + seed); cpu.append(time.process_time() - t)
    digest.update(np.ascontiguousarray(env.unwrapped.game._world._mat_map).tobytes())
print(json.dumps({{"cpu": cpu, "worlds": digest.hexdigest()}}))
"""


# =========================================================================== 1. resets


def bench_resets(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, extra in (("numba", {}), ("no_numba", {"NUMBA_DISABLE_JIT": "1"})):
        proc = subprocess.run(
            [sys.executable, "-c", _RESET_PROBE.format(n=n)],
            capture_output=True, text=True, env={**os.environ, **extra}, check=True,
        )  # fmt: skip
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        out[label] = {"median_cpu_s": float(np.median(data["cpu"])), "worlds": data["worlds"]}
        console.print(f"  reset ({label}): median {out[label]['median_cpu_s'] * 1000:.0f} CPU-ms")
    out["same_worlds"] = out["numba"]["worlds"] == out["no_numba"]["worlds"]
    out["speedup"] = out["no_numba"]["median_cpu_s"] / out["numba"]["median_cpu_s"]
    return out


# =========================================================================== 2. env steps


def _steps_per_cpu_s(step_once: Any, reset: Any, steps: int) -> float:
    rng = np.random.default_rng(0)
    reset()
    c0 = time.process_time()
    for _ in range(steps):
        if step_once(int(rng.integers(17))):
            reset()
    return steps / (time.process_time() - c0)


def bench_env_steps(steps: int) -> dict[str, float]:
    import crafter
    import gymnasium as gym

    import autoreward.envs.builtin  # noqa: F401 (registers Crafter-v1)
    from autoreward.envs.extract import make_env
    from autoreward.envs.registry import load_schema

    out: dict[str, float] = {}

    def gym_env(env: Any) -> tuple[Any, Any]:
        def step(a: int) -> bool:
            _, _, term, trunc, _ = env.step(a)
            return bool(term or trunc)

        return step, lambda: env.reset(seed=1)

    out["bare"] = _steps_per_cpu_s(*gym_env(gym.make("Crafter-v1")), steps)
    out["schema_state"] = _steps_per_cpu_s(*gym_env(make_env(load_schema("Crafter-v1"))), steps)
    out["pixels"] = _steps_per_cpu_s(*gym_env(gym.make("CrafterPixels-v1")), steps)
    raw = crafter.Env(seed=1, length=1000)
    out["crafter_env"] = _steps_per_cpu_s(lambda a: bool(raw.step(a)[2]), raw.reset, steps)
    for k, v in out.items():
        console.print(f"  env steps ({k}): {v:.0f} per CPU-s")
    return out


# =========================================================================== 3. training


def _train(env_id: str, steps: int, code: str | None, out: Path, **job: Any) -> dict[str, Any]:
    from autoreward.store.atomic import read_json
    from autoreward.train.job import TrainJob
    from autoreward.train.sb3.trainer import train

    result = train(
        TrainJob(env_id=env_id, out_dir=str(out), reward_code=code, total_steps=steps, **job)
    )
    if result.status != "ok":
        raise RuntimeError(f"{env_id} training failed: {result.reason}")
    return dict(read_json(out / "train.json") or {})


def bench_training(steps: int, root: Path) -> dict[str, float]:
    code = (HERE / "rewards" / "crafter_collect_wood.py").read_text()
    quick = dict(n_checkpoints=1, checkpoint_eval_episodes=1, eval_episodes=1,
                 trajectory_episodes=0)  # fmt: skip
    out = {
        "mlp_env_reward": _train("Crafter-v1", steps, None, root / "own", **quick),
        "mlp_generated": _train("Crafter-v1", steps, code, root / "gen", **quick),
        "cnn_generated": _train("CrafterPixels-v1", steps // 4, code, root / "cnn", **quick),
    }
    rates = {k: float(v["steps_per_cpu_s"]) for k, v in out.items()}
    for k, v in rates.items():
        console.print(f"  PPO training ({k}): {v:.0f} steps per CPU-s")
    rates["generated_vs_env_reward"] = rates["mlp_generated"] / rates["mlp_env_reward"]
    return rates


# =========================================================================== 4. learning


class _RandomPolicy:
    """A uniformly random policy with the `predict` interface of an SB3 model."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, None]:
        return self.rng.integers(0, 17, size=len(obs)), None


def _numbers(fitness: float, open_world: dict[str, Any]) -> dict[str, Any]:
    first = open_world["summary"]["first_success"]
    return {"rate": fitness, "first_success_step_mean": first["mean_step"],
            "deaths": open_world["summary"]["deaths"]}  # fmt: skip


def _random(schema: Any, episodes: int) -> dict[str, Any]:
    from autoreward.train.evaluate import evaluate_policy
    from autoreward.train.openworld import analyze

    evaluation, traces = evaluate_policy(_RandomPolicy(0), schema, episodes, seed=0)
    return _numbers(evaluation.fitness, analyze(traces, evaluation, schema).document())


def bench_learning(task: str, steps: int, episodes: int, root: Path) -> dict[str, Any]:
    from autoreward.batch.suites import load_suite, task_schema
    from autoreward.store.atomic import read_json

    schema = task_schema(load_suite("open-world").task(task))
    code = (HERE / "rewards" / f"crafter_{task.replace('-', '_')}.py").read_text()
    job = dict(schema_data=schema.model_dump(mode="json"), eval_episodes=episodes,
               n_checkpoints=4, checkpoint_eval_episodes=3, trajectory_episodes=3)  # fmt: skip
    out: dict[str, Any] = {}
    for label, reward in (("dense_reward", code), ("env_reward", None)):
        t0 = time.time()
        train = _train("Crafter-v1", steps, reward, root / label, **job)
        trajectories = read_json(root / label / "trajectories.json") or {}
        out[label] = {**_numbers(train["fitness"], trajectories["open_world"]),
                      "wall_s": time.time() - t0, "steps_per_cpu_s": train["steps_per_cpu_s"]}  # fmt: skip
        console.print(f"  {label}: {out[label]}")
    out["random"] = _random(schema, episodes)
    console.print(f"  random: {out['random']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small counts (a smoke run).")
    parser.add_argument("--learn-steps", type=int, default=100_000)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--task", default="collect-wood", help="open-world suite task")
    parser.add_argument("--only-learning", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="Keep the training runs here.")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-crafter-"))
    results: dict[str, Any] = {}
    if not args.only_learning:
        console.rule("1. world generation (reset)")
        results["resets"] = bench_resets(3 if args.quick else 10)
        console.rule("2. env steps, random policy")
        results["env_steps"] = bench_env_steps(1000 if args.quick else 5000)
        console.rule("3. PPO training throughput (8 envs)")
        results["training"] = bench_training(4096 if args.quick else 20480, root / "throughput")
    steps = 4096 if args.quick else args.learn_steps
    console.rule(f"4. learning: {args.task} after {steps} steps")
    results["learning"] = bench_learning(args.task, steps, 3 if args.quick else args.episodes,
                                         root / "learning")  # fmt: skip
    console.print_json(json.dumps(results, default=float))
    console.print(f"runs kept in {root}")


if __name__ == "__main__":
    main()
