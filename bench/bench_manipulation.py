"""Manipulation benchmark (run by hand; prints numbers measured in this one run).

1. Env throughput, random actions, steps per second of one env: the Meta-World tasks through
   `MetaWorldEnv` (metaworld 3.0.0 + the MuJoCo 4 shim) bare and with the schema state
   (what training with a generated reward steps), and the Fetch tasks through `FetchEnv`;
   with `--envpool`, EnvPool's C++ Meta-World for the same tasks (needs `envpool` installed,
   which the project does not depend on).
2. Training cost (`--train-steps N`, 0 skips): SB3 SAC and PPO on the env's own (expert)
   reward for `--tasks`, wall seconds per training and the success rate (success at any step)
   over `--episodes` evaluation episodes on fresh task variations.

3. `--warp`: whether MuJoCo Warp (the `warp` extra, CPU device here) runs Meta-World's Sawyer
   model (mocap weld, mesh collisions): kernel compile time and the largest qpos difference
   from CPU MuJoCo after a few steps from the same state.

    .venv/bin/python bench/bench_manipulation.py [--train-steps 20000] [--tasks reach drawer-open]
        [--envpool] [--warp] [--skip-throughput]
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

from autoreward.envs.builtin import FETCH_TASKS, register_builtin_envs
from autoreward.envs.extract import make_env
from autoreward.envs.registry import load_schema


def throughput(env: gym.Env, steps: int, seed: int = 0) -> float:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - start)


def _envpool_id(task: str) -> str:
    """EnvPool's name of a Meta-World task: reach -> MetaWorld/Reach-v3."""
    return "MetaWorld/" + "".join(p.capitalize() for p in task.split("-")) + "-v3"


def envpool_throughput(task: str, steps: int, num_envs: int) -> float:
    import envpool  # type: ignore[import-not-found]

    env = envpool.make_gymnasium(_envpool_id(task), num_envs=num_envs)
    env.reset()
    act = np.random.default_rng(0).uniform(-1, 1, (num_envs, 4)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(steps // num_envs):
        env.step(act)
    return steps / (time.perf_counter() - start)


def success_rate(model: object, env_id: str, episodes: int) -> float:
    env = gym.make(env_id)
    hits = 0
    for ep in range(episodes):
        obs, _ = env.reset(seed=10_000 + ep)
        done, hit = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)  # type: ignore[attr-defined]
            obs, _, term, trunc, info = env.step(action)
            hit = max(hit, float(info.get("success", info.get("is_success", 0.0))))
            done = term or trunc
        hits += hit > 0.5
    return hits / episodes


def train(algo: str, env_id: str, steps: int, episodes: int) -> tuple[float, float, float]:
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.env_util import make_vec_env

    if algo == "SAC":
        model = SAC("MlpPolicy", gym.make(env_id), seed=0, learning_starts=1000, device="cpu")
    else:
        venv = make_vec_env(env_id, n_envs=8, seed=0)
        model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, seed=0, device="cpu")
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, success_rate(model, env_id, episodes)


def warp_parity(task: str, steps: int = 6) -> None:
    import mujoco
    import mujoco_warp as mjw
    import warp as wp

    from autoreward.envs.manipulation.metaworld_env import MetaWorldEnv

    env = MetaWorldEnv(f"{task}-v3")
    env.reset(seed=0)
    m, d = env.model, env.data
    wp.init()
    with wp.ScopedDevice("cpu"):
        model = mjw.put_model(m)
        data = mjw.put_data(m, d, nworld=2, nconmax=200, njmax=800)
        start = time.perf_counter()
        mjw.step(model, data)
        compile_s = time.perf_counter() - start
        for _ in range(steps - 1):
            mjw.step(model, data)
        ref = mujoco.MjData(m)
        ref.qpos[:], ref.qvel[:], ref.ctrl[:] = d.qpos, d.qvel, d.ctrl
        ref.mocap_pos[:], ref.mocap_quat[:] = d.mocap_pos, d.mocap_quat
        for _ in range(steps):
            mujoco.mj_step(m, ref)
        diff = np.abs(data.qpos.numpy()[0] - ref.qpos).max()
    print(
        f"  {task}: first step (kernel compile) {compile_s:.0f} s, max |qpos warp - cpu| "
        f"after {steps} steps {diff:.1e}"
    )


def env_throughput(args: argparse.Namespace) -> None:
    print("\n1. env throughput, random actions, steps/s of one env")
    for task in args.tasks:
        env_id = f"MetaWorld-{task}-v3"
        bare = throughput(gym.make(env_id), args.steps)
        schema = throughput(make_env(load_schema(env_id)), args.steps)
        print(f"  {env_id:28s} bare {bare:6.0f}   with schema state {schema:6.0f}")
        if args.envpool:
            for n in (1, 8):
                rate = envpool_throughput(task, args.steps, n)
                print(f"  envpool {_envpool_id(task)}, {n} env(s): {rate:6.0f}")
    for task in FETCH_TASKS:
        env_id = f"Fetch-{task}-v4"
        bare = throughput(gym.make(env_id), args.steps)
        schema = throughput(make_env(load_schema(env_id)), args.steps)
        print(f"  {env_id:28s} bare {bare:6.0f}   with schema state {schema:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--train-steps", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=["reach", "drawer-open"])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--envpool", action="store_true")
    parser.add_argument("--warp", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    register_builtin_envs()
    import torch

    torch.set_num_threads(1)
    print(f"CPU cores visible: {os.cpu_count()} (numbers from one run on a shared machine)")
    if not args.skip_throughput:
        env_throughput(args)
    if args.warp:
        print("\n3. MuJoCo Warp (CPU device) on the Sawyer model")
        warp_parity(args.tasks[-1])
    if args.train_steps:
        print(f"\n2. training on the expert reward, {args.train_steps} steps, 1 torch thread")
        for task in args.tasks:
            env_id = f"MetaWorld-{task}-v3"
            for algo in ("PPO", "SAC"):
                wall, cpu, rate = train(algo, env_id, args.train_steps, args.episodes)
                print(
                    f"  {env_id:28s} {algo}: {wall:6.0f} s wall, {args.train_steps / cpu:5.0f} "
                    f"steps per CPU-s, success {rate:.2f} over {args.episodes} episodes",
                    flush=True,
                )


if __name__ == "__main__":
    main()
