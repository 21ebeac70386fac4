"""Cost of the sandbox: static validation, loading, one isolated job, a full dry run.

Run: .venv/bin/python bench/bench_sandbox.py
Targets: validation < 5 ms per candidate; worker start-up small next to a training job
(seconds to minutes); a dry run of a few seconds at most. Prints milliseconds and ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from autoreward.envs.registry import load_schema
from autoreward.sandbox.checker import check_reward_isolated
from autoreward.sandbox.loader import load_reward_fn
from autoreward.sandbox.validate import validate_code
from autoreward.sandbox.worker import Limits, isolation, run_isolated

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


def _ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    print(f"sandbox mode: {isolation().describe()}")
    validate = _ms(lambda: validate_code(REWARD), 200)
    big = REWARD + "\n".join(f"C{i} = {i}.0" for i in range(1200))
    validate_big = _ms(lambda: validate_code(big), 20)
    load = _ms(lambda: load_reward_fn(REWARD), 200)
    ping = _ms(lambda: run_isolated("autoreward.sandbox._probe:ping", {}, Limits.dry_run()), 10)
    schema = load_schema("Hopper-v5")
    dry = _ms(lambda: check_reward_isolated(REWARD, schema), 3)
    print(
        f"validate_code, 10-line reward      {validate:8.3f} ms   (target < 5 ms: {validate / 5:.2f}x)"
    )
    print(f"validate_code, {len(big):>6} characters   {validate_big:8.3f} ms")
    print(f"load_reward_fn                     {load:8.3f} ms")
    print(f"isolated job round trip (ping)     {ping:8.1f} ms")
    print(f"isolated dry run on Hopper-v5      {dry:8.1f} ms   ({dry / ping:.1f}x a bare job)")


if __name__ == "__main__":
    main()
