"""Training-engine benchmark (run by hand; prints ratios measured in this one run).

1. Throughput: PPO steps per CPU-second with a generated reward of typical complexity vs the env's own
   reward, on CartPole-v1 and Hopper-v5 (target >= 0.90). Two baselines: plain SB3 on the
   bare gymnasium env (no autoreward code at all), and the autoreward trainer on the env's
   own reward (same wrappers, reward passed through). Configurations are interleaved and
   repeated; medians are compared, torch on one thread everywhere. Steps are counted per
   CPU-second of the training process (time.process_time) rather than per wall second, so
   other load on the machine does not skew the ratios.
2. Parallel candidates: wall time of K=4 candidates on 2 workers vs 1 (LocalExecutor).
3. Successive halving: 4 CartPole candidates (good, plain, mediocre, bad) trained fully vs
   with halving on 2 workers; steps spent, wall time, best fitness of each, and where a job's
   time goes (training container start-up and learning, evaluation container, reward-terms
   container, publishing; summed over the jobs of each variant, from `train.json` timings).

    .venv/bin/python bench/bench_train.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

HERE = Path(__file__).parent
REWARDS = HERE / "rewards"
console = Console()


def _reward(name: str) -> str:
    return (REWARDS / name).read_text()


# =========================================================================== 1. throughput


def raw_sb3_steps_per_s(env_id: str, steps: int, seed: int) -> float:
    """Plain SB3 PPO on the bare gymnasium env, the schema's hyperparameters."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from autoreward.envs.registry import load_schema
    from autoreward.train.sb3.hyperparams import resolve_hyperparams

    torch.set_num_threads(1)
    schema = load_schema(env_id)
    venv = DummyVecEnv([lambda: gym.make(env_id) for _ in range(schema.train.n_envs)])
    venv.seed(seed)
    policy, kwargs, _ = resolve_hyperparams("PPO", schema.train.hyperparams, venv.action_space)
    model = PPO(policy, venv, seed=seed, verbose=0, device="cpu", **kwargs)
    c0 = time.process_time()
    model.learn(steps)
    cpu = time.process_time() - c0
    venv.close()
    return model.num_timesteps / cpu


def trainer_steps_per_s(
    env_id: str, steps: int, seed: int, reward_code: str | None, out: Path
) -> float:
    """The training container's own loop, in this process (no container start-up, no
    evaluation: those are measured by the halving part)."""
    from autoreward.train.job import TrainJob
    from autoreward.train.sb3.trainer import train

    result = train(
        TrainJob(
            env_id=env_id,
            out_dir=str(out),
            reward_code=reward_code,
            total_steps=steps,
            seed=seed,
            n_checkpoints=1,
            checkpoint_eval_episodes=1,
            eval_episodes=1,
            trajectory_episodes=0,
        )
    )
    if result.status != "ok":
        raise RuntimeError(f"{env_id} training failed: {result.reason}")
    return float(result.steps_per_cpu_s)


def bench_throughput(
    env_id: str, reward: str, steps: int, repeats: int, root: Path
) -> dict[str, Any]:
    runs: dict[str, list[float]] = {"sb3": [], "own": [], "generated": []}
    code = _reward(reward)
    trainer_steps_per_s(env_id, min(steps, 2048), 99, code, root / "warmup")  # imports, caches
    for r in range(repeats):
        runs["sb3"].append(raw_sb3_steps_per_s(env_id, steps, seed=r))
        runs["own"].append(trainer_steps_per_s(env_id, steps, r, None, root / f"{env_id}-own-{r}"))
        runs["generated"].append(
            trainer_steps_per_s(env_id, steps, r, code, root / f"{env_id}-gen-{r}")
        )
        console.print(
            f"  {env_id} repeat {r}: sb3 {runs['sb3'][-1]:.0f}, own {runs['own'][-1]:.0f}, "
            f"generated {runs['generated'][-1]:.0f} steps per CPU-s"
        )
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "env": env_id,
        **{f"{k}_steps_per_s": v for k, v in med.items()},
        "ratio_vs_sb3": med["generated"] / med["sb3"],
        "ratio_vs_own": med["generated"] / med["own"],
    }


# =========================================================================== 2. parallel


def bench_parallel(steps: int, root: Path) -> dict[str, Any]:
    from autoreward.exec import LocalExecutor
    from autoreward.train.job import TrainJob

    code = _reward("cartpole_typical.py")

    def jobs(tag: str) -> list[TrainJob]:
        return [
            TrainJob(
                env_id="CartPole-v1",
                out_dir=str(root / tag / f"c{k}"),
                reward_code=code,
                total_steps=steps,
                seed=k,
                n_checkpoints=2,
                eval_episodes=3,
                label=f"c{k}",
            )
            for k in range(4)
        ]

    walls = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        results = LocalExecutor(workers=workers).map(jobs(f"w{workers}"))
        walls[workers] = time.perf_counter() - t0
        bad = [r.reason for r in results if r.status != "ok"]
        if bad:
            raise RuntimeError(f"parallel bench job failed: {bad[0]}")
        console.print(f"  K=4 on {workers} worker(s): {walls[workers]:.1f} s")
    return {
        "wall_1_worker_s": walls[1],
        "wall_2_workers_s": walls[2],
        "speedup": walls[1] / walls[2],
    }


# =========================================================================== 3. halving


def bench_halving(steps: int, root: Path) -> dict[str, Any]:
    from autoreward.exec import LocalExecutor
    from autoreward.train.halving import successive_halving
    from autoreward.train.job import TrainJob

    names = [
        "cartpole_typical.py",
        "cartpole_alive_only.py",
        "cartpole_centre_only.py",
        "cartpole_falls.py",
    ]

    def jobs(tag: str) -> list[TrainJob]:
        return [
            TrainJob(
                env_id="CartPole-v1",
                out_dir=str(root / tag / name[:-3]),
                reward_code=_reward(name),
                total_steps=steps,
                seed=0,
                n_checkpoints=8,
                eval_episodes=5,
                label=name[:-3],
            )
            for name in names
        ]

    executor = LocalExecutor(workers=2)
    t0 = time.perf_counter()
    full = executor.map(jobs("full"))
    full_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    halved = successive_halving(executor, jobs("halving"), rung_fraction=0.25, keep_fraction=0.5)
    halving_wall = time.perf_counter() - t0
    for label, results in (("full", full), ("halving", halved.results)):
        for r in results:
            if r.status != "ok":
                console.print(f"  [red]{label}: {r.label} failed[/]: {r.reason}", markup=True)
        console.print(
            "  "
            + label
            + ": "
            + ", ".join(
                f"{r.label} {r.fitness if r.fitness is not None else r.status}" for r in results
            )
        )
    return {
        "stages_full": _stages(full),
        "stages_halving": _stages(
            list(halved.first_rung) + [halved.results[i] for i in halved.survivors]
        ),
        "best_fitness_full": max(r.fitness or 0.0 for r in full),
        "best_fitness_halving": max(r.fitness or 0.0 for r in halved.results),
        "steps_full": sum(r.steps_this_run for r in full),
        "steps_halving": halved.steps_spent,
        "steps_saved_fraction": 1 - halved.steps_spent / sum(r.steps_this_run for r in full),
        "survivors": [names[i][:-3] for i in halved.survivors],
        "wall_full_s": full_wall,
        "wall_halving_s": halving_wall,
    }


STAGES = ("startup_s", "learn_s", "eval_container_s", "terms_container_s", "publish_s")


def _stages(results: list[Any]) -> dict[str, float]:
    """Wall seconds per stage, summed over the jobs (train container = start-up + learning +
    saving; the rest of it is `train_container_s` minus the two)."""
    out = {k: 0.0 for k in (*STAGES, "train_container_s")}
    for r in results:
        for k in out:
            out[k] += float(r.timings.get(k, 0.0))
    out["saving_s"] = out["train_container_s"] - out["startup_s"] - out["learn_s"]
    return out


# =========================================================================== main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller budgets (a smoke run, noisier ratios)"
    )
    parser.add_argument(
        "--only", choices=["throughput", "parallel", "halving"], help="run one part"
    )
    args = parser.parse_args()
    parts = {args.only} if args.only else {"throughput", "parallel", "halving"}
    scale = 0.25 if args.quick else 1.0
    console.print(f"cores: {os.cpu_count()}  (other processes on the machine add noise)")
    with tempfile.TemporaryDirectory(prefix="autoreward-bench-") as tmp:
        root = Path(tmp)
        rows, par, halving = [], None, None
        if "throughput" in parts:
            console.print("[bold]1. throughput[/] (median of interleaved repeats)")
            rows = [
                bench_throughput(
                    "CartPole-v1", "cartpole_typical.py", int(30_000 * scale), 3, root
                ),
                bench_throughput("Hopper-v5", "hopper_typical.py", int(16_384 * scale), 3, root),
            ]
        if "parallel" in parts:
            console.print("[bold]2. K=4 candidates, 2 workers vs 1[/]")
            par = bench_parallel(int(16_000 * scale), root)
        if "halving" in parts:
            console.print("[bold]3. successive halving[/]")
            halving = bench_halving(int(40_000 * scale), root)
    report(rows, par, halving)
    return 0


def report(
    rows: list[dict[str, Any]], par: dict[str, Any] | None, halving: dict[str, Any] | None
) -> None:
    table = Table(title="training throughput (PPO, steps per CPU-second)")
    for col in (
        "env",
        "plain SB3",
        "env's own reward",
        "generated reward",
        "gen / SB3",
        "gen / own",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["env"],
            f"{r['sb3_steps_per_s']:.0f}",
            f"{r['own_steps_per_s']:.0f}",
            f"{r['generated_steps_per_s']:.0f}",
            f"{r['ratio_vs_sb3']:.2f}",
            f"{r['ratio_vs_own']:.2f}",
        )
    if rows:
        console.print(table)
    if par:
        console.print(
            f"K=4 candidates: 1 worker {par['wall_1_worker_s']:.1f} s, 2 workers {par['wall_2_workers_s']:.1f} s "
            f"→ speed-up {par['speedup']:.2f}x"
        )
    if halving:
        stages = Table(title="where the jobs' time goes (wall seconds, summed over jobs)")
        for col in ("variant", "container start-up", "learning", "saving", "evaluation",
                    "reward terms", "publishing"):  # fmt: skip
            stages.add_column(col, justify="right")
        for name in ("full", "halving"):
            st = halving[f"stages_{name}"]
            stages.add_row(name, *(f"{st[k]:.1f}" for k in ("startup_s", "learn_s", "saving_s",
                           "eval_container_s", "terms_container_s", "publish_s")))  # fmt: skip
        console.print(stages)
        console.print(
            f"successive halving: {halving['steps_halving']:,} steps vs {halving['steps_full']:,} training all fully "
            f"(saved {halving['steps_saved_fraction']:.0%}); best fitness {halving['best_fitness_halving']:.3g} vs "
            f"{halving['best_fitness_full']:.3g}; survivors {', '.join(halving['survivors'])}; "
            f"wall {halving['wall_halving_s']:.0f} s vs {halving['wall_full_s']:.0f} s"
        )


if __name__ == "__main__":
    sys.exit(main())
