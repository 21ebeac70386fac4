"""Env-reward baseline before/after the RL Zoo defaults of the shipped schemas (issue 20, item 1).

Run by hand; it trains the env's own reward (no generated code) with the `train:` section of
a schema at a git revision (`--before`, default `main`) and with the working tree's, on the
same seeds and budget, through the normal local executor, and prints the evaluation's env
return and task fitness of each. Budgets default to the schema's; `--steps` caps them (say so
when you quote the numbers: the zoo's scores are at its own, larger budgets).

    .venv/bin/python bench/bench_zoo_defaults.py CartPole-v1 Acrobot-v1 --seeds 0 1 --steps 100000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("MUJOCO_GL", "egl")

from autoreward.envs.registry import load_schema  # noqa: E402
from autoreward.envs.schema import EnvSchema  # noqa: E402
from autoreward.exec import make_executor  # noqa: E402
from autoreward.train.budget import fit_rollout  # noqa: E402
from autoreward.train.job import TrainJob  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# RL Zoo's published mean episode return (benchmark.md, PPO unless the schema trains SAC;
# v3 MuJoCo envs, one run each, at the zoo's own budget).
ZOO_SCORE = {
    "CartPole-v1": ("PPO 100k", 500.0),
    "Acrobot-v1": ("PPO 1M", -73.5),
    "LunarLander-v3": ("PPO 1M (v2)", 242.1),
    "Pendulum-v1": ("SAC 20k", -157.0),
    "MountainCarContinuous-v0": ("SAC 50k", 94.7),
    "Hopper-v5": ("PPO 1M (v3)", 2410.4),
    "Walker2d-v5": ("PPO 1M (v3)", 3478.8),
    "HalfCheetah-v5": ("PPO 1M (v3)", 5819.1),
    "Ant-v5": ("PPO 1M (v3)", 1327.2),
    "Swimmer-v5": ("PPO 1M (v3)", 281.6),
    "Humanoid-v5": ("SAC 2M (v3)", 6232.3),
}


def schema_at(env_id: str, rev: str | None) -> EnvSchema:
    if rev is None:
        return load_schema(env_id)
    text = subprocess.run(
        ["git", "show", f"{rev}:envs/{env_id}.yaml"], cwd=ROOT, check=True,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return EnvSchema.model_validate(yaml.safe_load(text))


def job(schema: EnvSchema, steps: int | None, seed: int, out: Path) -> TrainJob:
    total = min(steps or schema.train.total_steps, schema.train.total_steps)
    params, _ = fit_rollout(schema.train.algo, schema.train.hyperparams, schema.train.n_envs, total)
    return TrainJob(
        env_id=schema.env_id, out_dir=str(out), reward_code=None, algo=schema.train.algo,
        total_steps=total, n_envs=schema.train.n_envs, seed=seed, eval_episodes=10,
        video=False, hyperparams=params, schema_hyperparams=False, tensorboard=False,
        schema_data=schema.model_dump(mode="json"), label=f"{schema.env_id} seed {seed}",
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("envs", nargs="+")
    ap.add_argument("--before", default="main", help="git revision of the old schemas")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=None, help="cap on the schema's budget")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    executor = make_executor("local", workers=args.workers)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for env_id in args.envs:
            row: dict[str, Any] = {"env": env_id}
            for which, rev in (("before", args.before), ("after", None)):
                schema = schema_at(env_id, rev)
                jobs = [job(schema, args.steps, s, Path(tmp) / env_id / which / str(s))
                        for s in args.seeds]  # fmt: skip
                started = time.time()
                results = executor.map(jobs)
                returns = [r.env_return for r in results if r.env_return is not None]
                fits = [r.fitness for r in results if r.fitness is not None]
                row["steps"] = jobs[0].total_steps
                row[which] = {
                    "env_return": returns, "fitness": fits, "wall_s": round(time.time() - started),
                    "failed": [r.reason for r in results if r.status != "ok"],
                }  # fmt: skip
            row["zoo"] = ZOO_SCORE.get(env_id)
            rows.append(row)
            print(_line(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _ms(values: list[float]) -> str:
    if not values:
        return "failed"
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


def _line(row: dict[str, Any]) -> str:
    zoo = row["zoo"]
    b, a = row["before"], row["after"]
    return (
        f"| {row['env']} | {row['steps']:,} | {_ms(b['env_return'])} | {_ms(a['env_return'])} | "
        f"{'' if zoo is None else f'{zoo[1]:g} ({zoo[0]})'} | {b['wall_s']} s / {a['wall_s']} s |"
    )


if __name__ == "__main__":
    main()
