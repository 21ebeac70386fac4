"""Throughput of the batched MuJoCo Warp env beside the CPU gymnasium env, in one run.

Run: .venv/bin/python bench/bench_warp_env.py [--env Hopper-v5 Ant-v5] [--nworld 1 64 512 2048]
         [--device cpu|cuda] [--copy-worlds 4096] [--cold]

Per env it prints: the gymnasium v5 env with the schema's state extraction (the SB3 path, one
process), then the batched env at each world count: milliseconds per `reset`, `step` and
`state_numpy` call and env steps per second (worlds x steps / time). `--copy-worlds` times the
host copy of the state (`state_numpy`) at that many worlds next to one step. `--cold` compiles
the kernels into a fresh cache and reports the compile time per env. Results are best-of
(`--repeat`), so load from other processes on a shared machine hurts the numbers less.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import torch

from autoreward.envs.extract import make_env
from autoreward.envs.registry import load_schema


def _best(fn: Callable[[], None], calls: int, repeat: int, sync: Callable[[], None]) -> float:
    """Best-of-`repeat` seconds per call of `fn` (each timing: `calls` calls)."""
    best = float("inf")
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def gym_steps_per_second(env_id: str, steps: int, repeat: int) -> float:
    schema = load_schema(env_id)
    env = make_env(schema, seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    best = 0.0
    for _ in range(repeat):
        env.reset(seed=0)
        start = time.perf_counter()
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        best = max(best, steps / (time.perf_counter() - start))
    env.close()
    return best


def warp_row(
    env_id: str, nworld: int, device: str, repeat: int, calls: int | None = None
) -> dict[str, float]:
    """Build a batched env and time its calls; `calls` per timing of `step` (default: fewer
    where one step is long); `state_numpy` is cheap and always timed over 50 calls."""
    from autoreward.envs.warp.env import BatchedMujocoEnv

    started = time.perf_counter()
    env = BatchedMujocoEnv(load_schema(env_id), nworld, device=device, seed=0)
    build = time.perf_counter() - started
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    gen = torch.Generator(device=env.device).manual_seed(0)

    def actions() -> torch.Tensor:
        return torch.rand((nworld, env.num_actions), generator=gen, device=env.device) * 2 - 1

    calls = calls or max(2, min(200, 4096 // nworld))
    for _ in range(3):  # warm up: first launches, torch allocations
        env.step(actions())
    step = _best(lambda: env.step(actions()), calls, repeat, sync)
    state = _best(lambda: env.state_numpy(), 50, max(repeat, 3), sync)
    reset = _best(env.reset, max(2, calls // 4), repeat, sync)
    env.close()
    return {
        "build_s": build,
        "compile_s": env.compile_seconds,
        "reset_ms": 1e3 * reset,
        "step_ms": 1e3 * step,
        "state_ms": 1e3 * state,
        "steps_per_s": nworld / step,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", nargs="+", default=["Hopper-v5"])
    p.add_argument("--nworld", nargs="+", type=int, default=[1, 64, 512, 2048])
    p.add_argument("--device", default="cpu")
    p.add_argument("--copy-worlds", type=int, default=4096, help="0: skip the host-copy row")
    p.add_argument("--gym-steps", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cold", action="store_true", help="compile into a fresh kernel cache")
    args = p.parse_args()
    if args.cold:
        os.environ["WARP_CACHE_PATH"] = tempfile.mkdtemp(prefix="warp-cold-")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, load average {load:.1f}"
        + (f", cold kernel cache {os.environ['WARP_CACHE_PATH']}" if args.cold else "")
    )
    header = (
        f"{'env':<26} {'backend':<18} {'worlds':>6} {'reset ms':>9} {'step ms':>9} "
        f"{'state ms':>9} {'env steps/s':>12} {'vs gym':>7}"
    )
    print(header)
    print("-" * len(header))
    for env_id in args.env:
        gym_rate = gym_steps_per_second(env_id, args.gym_steps, args.repeat)
        print(
            f"{env_id:<26} {'gymnasium (CPU)':<18} {1:>6} {'':>9} {1e3 / gym_rate:9.3f} "
            f"{'':>9} {gym_rate:12.0f} {1.0:7.2f}"
        )
        compile_s = None
        for n in args.nworld:
            r = warp_row(env_id, n, args.device, args.repeat)
            compile_s = r["compile_s"] if compile_s is None else compile_s
            print(
                f"{'':<26} {'mujoco-warp ' + args.device:<18} {n:>6} {r['reset_ms']:9.2f} "
                f"{r['step_ms']:9.2f} {r['state_ms']:9.3f} {r['steps_per_s']:12.0f} "
                f"{r['steps_per_s'] / gym_rate:7.2f}"
            )
        if args.copy_worlds:
            r = warp_row(env_id, args.copy_worlds, args.device, 1, calls=2)
            share = r["state_ms"] / r["step_ms"]
            print(
                f"{'':<26} {'host copy':<18} {args.copy_worlds:>6} {'':>9} {r['step_ms']:9.2f} "
                f"{r['state_ms']:9.3f} {'':>12} {'':>7}  state_numpy = {100 * share:.2f}% of a step"
            )
        print(
            f"{'':<26} first env build: kernels {'compiled' if args.cold else 'loaded'} in "
            f"{compile_s:.1f} s"
        )
    print(
        f"(step ms: one batched step of all worlds incl. auto-reset; state ms: state_numpy(), "
        f"the named state copied to the host as float64; {args.repeat} repeats, best)"
    )


if __name__ == "__main__":
    main()
