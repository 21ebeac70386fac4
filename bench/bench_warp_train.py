"""The warp training backend beside the SB3 path, measured in one run; prints one table.

Run: .venv/bin/python bench/bench_warp_train.py [--device cpu|cuda] [--env Hopper-v5 Ant-v5]
         [--quick] [--cold] [--nworld 1024 4096] [--share-worlds 4096]

Every training number comes from real jobs through the real containers (`run_job_isolated`:
train, evaluate, terms), as a run trains its candidates; SB3 jobs use the schema's defaults
(4 gymnasium envs, CPU), warp jobs the schema's `simulation.train` (rsl-rl PPO, W worlds).

1. Kernels: the trusted warm-up that compiles MuJoCo Warp's kernels into the shared read-only
   cache (`--cold`: into a fresh cache, so the compile is counted).
2. Env throughput: one batched step of W worlds (`bench_warp_env.warp_row`), env steps/s,
   beside the gymnasium env of the SB3 path.
3. Reward path: at `--share-worlds` worlds, the host reward path of one vector step (transfer
   to the host, read-only copies, the reward call, its checks, statistics, rewards back on the
   device) beside the physics step; and its share of training time in the throughput jobs.
4. PPO training steps/s (learning only: the container's start and the evaluation excluded),
   with a generated reward (`bench/rewards/<env>_typical.py`) and with the env's own reward,
   per backend: the generated/built-in ratio (target >= 0.9) and warp/sb3.
5. One Hopper candidate of 1M steps, wall time of its three containers. A backend whose budget
   here is smaller (`--candidate-steps`, and SB3's always on a GPU machine, where 1M SB3 steps
   take tens of minutes) is projected: fixed cost (start, evaluation) + learning time x 1M /
   steps, and marked "projected".

`--quick` is the CPU smoke run (small worlds and budgets; a minute or two with warm kernels).
`bench/gpu_check.sh` runs the GPU numbers.
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

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
REWARDS = HERE / "rewards"
MILLION = 1_000_000
REWARD_FILES = {"Hopper-v5": "hopper_typical.py", "Ant-v5": "ant_typical.py"}


def _reward(env_id: str) -> str:
    return (REWARDS / REWARD_FILES[env_id]).read_text()


def job(out: Path, env_id: str, backend: str, code: str | None, steps: int, **over: Any) -> Any:
    from autoreward.train.job import TrainJob

    base: dict[str, Any] = dict(
        env_id=env_id, out_dir=str(out), reward_code=code, backend=backend, total_steps=steps,
        eval_episodes=1, checkpoint_eval_episodes=1, n_checkpoints=1, trajectory_episodes=0,
        video=False, tensorboard=False, label=f"{env_id} {backend}",
    )  # fmt: skip
    base.update(over)
    return TrainJob.model_validate(base)


def run(j: Any) -> tuple[Any, dict[str, Any]]:
    """A job through the real pipeline; (result, its train.json)."""
    import json

    from autoreward.exec.base import run_job_isolated

    result = run_job_isolated(j)
    if result.status != "ok":
        raise SystemExit(f"{j.label} failed: {result.reason}")
    return result, json.loads((Path(j.out_dir) / "train.json").read_text())


# =========================================================================== measurements


def warm_kernels(env_id: str, device: str) -> float:
    from autoreward.envs.registry import load_schema
    from autoreward.envs.warp.cache import ensure_kernels
    from autoreward.sandbox.worker import Limits

    started = time.perf_counter()
    cache = ensure_kernels(load_schema(env_id), device, Limits(gpu=device != "cpu"))
    if cache.path is None:
        print(f"note: {cache.note}")
    return time.perf_counter() - started


def reward_path(env_id: str, worlds: int, device: str, steps: int) -> dict[str, float]:
    """Per vector step at `worlds`: physics ms, host reward path ms, reward call ms."""
    import torch

    from autoreward.envs.registry import load_schema
    from autoreward.envs.warp.env import BatchedMujocoEnv
    from autoreward.sandbox.loader import load_reward_fn
    from autoreward.train.rslrl.env import RewardedWarpEnv

    env = BatchedMujocoEnv(load_schema(env_id), worlds, device=device, seed=0)
    venv = RewardedWarpEnv(env, load_reward_fn(_reward(env_id)))
    gen = torch.Generator(device=env.device).manual_seed(0)
    for k in range(steps + 2):
        if k == 2:  # the first steps warm up allocations
            venv.timing = type(venv.timing)()
        venv.step(torch.rand((worlds, env.num_actions), generator=gen, device=env.device) * 2 - 1)
    t = venv.timing
    env.close()
    return {
        "physics_ms": 1e3 * t.physics_s / t.steps,
        "host_ms": 1e3 * t.host_reward_s / t.steps,
        "call_ms": 1e3 * t.reward_call_s / t.steps,
    }


def throughput(
    root: Path,
    env_id: str,
    backend: str,
    steps: int,
    worlds: int | None,
    device: str,
    repeat: int,
    per_cpu_second: bool,
) -> dict[str, Any]:
    """Learning steps/s with the generated and with the env's own reward, interleaved over
    `repeat` rounds (medians). `per_cpu_second` (a CPU-only comparison): steps per CPU-second
    of the training container, which load from other processes skews less; else per wall
    second (a GPU's time is not CPU time)."""
    values: dict[str, list[float]] = {"generated": [], "builtin": []}
    shares: list[float] = []
    out: dict[str, Any] = {}
    for r in range(repeat):
        for kind, code in (("generated", _reward(env_id)), ("builtin", None)):
            extra: dict[str, Any] = {"device": device, "seed": r}
            if backend == "warp" and worlds:
                extra["n_envs"] = worlds
            result, train = run(job(root / f"{env_id}-{backend}-{kind}-{r}", env_id, backend,
                                    code, steps, **extra))  # fmt: skip
            per_cpu = per_cpu_second and train.get("steps_per_cpu_s")
            values[kind].append(float(per_cpu or result.steps_per_s))
            if kind == "generated":
                shares.append(float((train.get("timing") or {}).get("host_reward_share") or 0))
            out["worlds"] = (train.get("budget") or {}).get("n_envs")
    for kind, v in values.items():
        out[kind] = statistics.median(v)
    out["generated_share"] = statistics.median(shares) if shares else None
    return out


def candidate(
    root: Path, backend: str, steps: int, worlds: int | None, device: str
) -> dict[str, Any]:
    """One Hopper candidate as a run trains it (10 checkpoints, 5 + 3 x 10 evaluation
    episodes); wall seconds of its containers, projected to 1M steps when `steps` is less."""
    extra: dict[str, Any] = {"device": device, "eval_episodes": 5, "checkpoint_eval_episodes": 3,
                             "n_checkpoints": 10, "trajectory_episodes": 3}  # fmt: skip
    if backend == "warp" and worlds:
        extra["n_envs"] = worlds
    result, train = run(job(root / f"candidate-{backend}", "Hopper-v5", backend,
                            _reward("Hopper-v5"), steps, **extra))  # fmt: skip
    learn = float(train["learn_s"])
    fixed = result.wall_s - learn
    projected = result.steps < MILLION
    wall = fixed + learn * MILLION / max(result.steps, 1) if projected else result.wall_s
    return {"wall_s": wall, "projected": projected, "steps": result.steps,
            "measured_s": result.wall_s, "fitness": result.fitness}  # fmt: skip


# =========================================================================== the table


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (the warp backend's device)")
    p.add_argument("--env", nargs="+", default=["Hopper-v5"], choices=sorted(REWARD_FILES))
    p.add_argument("--quick", action="store_true", help="CPU smoke numbers (small budgets)")
    p.add_argument("--cold", action="store_true", help="compile into a fresh kernel cache")
    p.add_argument("--nworld", nargs="+", type=int, help="env-throughput world counts")
    p.add_argument("--share-worlds", type=int, default=4096)
    p.add_argument("--warp-worlds", type=int, help="worlds of the warp training jobs")
    p.add_argument("--warp-steps", type=int, help="steps of each warp throughput job")
    p.add_argument("--sb3-steps", type=int, help="steps of each SB3 throughput job")
    p.add_argument("--candidate-steps", type=int, help="warp candidate budget (default 1M on GPU)")
    p.add_argument("--sb3-candidate-steps", type=int, help="SB3 candidate budget (projected)")
    p.add_argument("--repeat", type=int, default=1, help="interleaved throughput rounds")
    args = p.parse_args()
    gpu = args.device.startswith("cuda")
    quick = args.quick or not gpu
    nworld = args.nworld or ([64, 512] if quick else [1024, 4096, 16384])
    warp_worlds = args.warp_worlds or (64 if quick else 4096)
    warp_steps = args.warp_steps or (6_144 if args.quick else 30_720 if not gpu else 2_000_000)
    sb3_steps = args.sb3_steps or (2_048 if args.quick else 8_192)
    cand_steps = args.candidate_steps or (6_144 if args.quick else 30_720 if not gpu else MILLION)
    sb3_cand = args.sb3_candidate_steps or (2_048 if args.quick else 8_192)
    share_steps = 3 if not gpu else 50
    import torch

    torch.set_num_threads(1)  # the in-process measurements, as a training job runs (torch_threads)
    if args.cold:
        os.environ["AUTOREWARD_WARP_CACHE"] = tempfile.mkdtemp(prefix="autoreward-warp-cold-")
    from autoreward.envs.warp.cache import KERNELS, cache_root

    started = time.time()
    rows: list[tuple[str, str, str, str]] = []  # metric, warp, sb3, ratio

    def add(metric: str, warp: str, sb3: str = "", ratio: str = "") -> None:
        rows.append((metric, warp, sb3, ratio))
        print(f"  {metric}: {warp}" + (f" | sb3 {sb3}" if sb3 else "") + (f" ({ratio})" if ratio else ""),
              flush=True)  # fmt: skip

    root = Path(tempfile.mkdtemp(prefix="bench-warp-train-"))
    for env_id in args.env:
        print(f"{env_id}:", flush=True)
        add(f"{env_id} kernel warm-up ({'cold compile' if args.cold else 'cache as found'}), s",
            f"{warm_kernels(env_id, args.device):.1f}")  # fmt: skip
        # the in-process measurements read the kernels the warm-up compiled (nothing to write)
        os.environ["WARP_CACHE_PATH"] = str(cache_root() / KERNELS)
        from bench_warp_env import gym_steps_per_second, warp_row

        gym = gym_steps_per_second(env_id, 1000, 2)
        for n in nworld:
            r = warp_row(env_id, n, args.device, 2)
            add(f"{env_id} env steps/s, {n} worlds", f"{r['steps_per_s']:,.0f}", f"{gym:,.0f}",
                f"x{r['steps_per_s'] / gym:.1f} vs one gymnasium env")  # fmt: skip
        path = reward_path(env_id, args.share_worlds, args.device, share_steps)
        add(f"{env_id} host reward path, {args.share_worlds} worlds, ms/step",
            f"{path['host_ms']:.2f} (call {path['call_ms']:.2f})", "",
            f"{100 * path['host_ms'] / (path['host_ms'] + path['physics_ms']):.1f}% of a step "
            f"({path['physics_ms']:.1f} ms physics)")  # fmt: skip
        warp = throughput(root, env_id, "warp", warp_steps, warp_worlds, args.device,
                          args.repeat, not gpu)  # fmt: skip
        sb3 = throughput(root, env_id, "sb3", sb3_steps, None, "cpu", args.repeat, not gpu)
        unit = "steps/s" if gpu else "steps per CPU-s"
        for kind in ("generated", "builtin"):
            add(f"{env_id} PPO {unit}, {kind} reward", f"{warp[kind]:,.0f} ({warp['worlds']} worlds)",
                f"{sb3[kind]:,.0f} ({sb3['worlds']} envs)", f"warp/sb3 x{warp[kind] / sb3[kind]:.1f}")  # fmt: skip
        add(f"{env_id} generated/built-in {unit}", f"{warp['generated'] / warp['builtin']:.2f}",
            f"{sb3['generated'] / sb3['builtin']:.2f}", "target >= 0.90")  # fmt: skip
        add(f"{env_id} host reward path share of training", f"{100 * (warp['generated_share'] or 0):.1f}%",
            "", "target <= 10%")  # fmt: skip
    print("Hopper-v5 candidate:", flush=True)
    w = candidate(root, "warp", cand_steps, warp_worlds, args.device)
    s = candidate(root, "sb3", sb3_cand, None, "cpu")

    def wall(c: dict[str, Any]) -> str:
        tag = (
            f" projected from {c['steps']:,} steps ({c['measured_s']:.0f} s)"
            if c["projected"]
            else ""
        )
        return f"{c['wall_s']:,.0f} s{tag}"

    add(
        "Hopper-v5 1M-step candidate, wall",
        wall(w),
        wall(s),
        f"sb3/warp x{s['wall_s'] / w['wall_s']:.1f}",
    )

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"warp backend ({args.device}) beside SB3 (CPU), {time.time() - started:.0f} s",
                  title_justify="left")  # fmt: skip
    for name, justify in (("metric", "left"), ("warp", "right"), ("sb3", "right"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    Console(width=200).print(table)
    print(f"(one run; load average {load:.1f}; SB3 jobs on CPU with the schema's 4 envs; "
          f"jobs under {root})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
