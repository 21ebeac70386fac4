"""Cost of state extraction per env step: raw env vs. env wrapped in SchemaStateWrapper.

Run: .venv/bin/python bench/bench_envs_extract.py [ENV_ID ...]
Prints microseconds per step and the throughput ratio (wrapped / raw; target >= 0.9 for the
whole training loop, where the policy update dominates, so the env-only ratio is a lower bound).
"""

from __future__ import annotations

import sys
import time

import gymnasium as gym

from autoreward.envs.extract import make_env
from autoreward.envs.registry import load_schema

DEFAULT = ["CartPole-v1", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5"]


def _steps_per_second(env: gym.Env, actions: list) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def main(env_ids: list[str]) -> None:
    print(f"{'env':<16} {'raw us/step':>12} {'wrapped':>10} {'extract us':>11} {'ratio':>7}")
    for env_id in env_ids:
        schema = load_schema(env_id)
        raw = gym.make(env_id, **schema.make_kwargs)
        wrapped = make_env(schema)
        raw.action_space.seed(0)
        actions = [raw.action_space.sample() for _ in range(1000)]
        # interleaved best-of runs, so load from other processes hits both sides alike
        r = w = 0.0
        for _ in range(7):
            r = max(r, _steps_per_second(raw, actions))
            w = max(w, _steps_per_second(wrapped, actions))
        print(
            f"{env_id:<16} {1e6 / r:12.1f} {1e6 / w:10.1f} {1e6 / w - 1e6 / r:11.1f} {w / r:7.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
