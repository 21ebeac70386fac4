"""What the reward process costs, for `bench_train.py` and `bench_warp_train.py`.

- `round_trip(env_id, code, n)`: wall microseconds per reward call of a batch of `n` real
  transitions, in-process (the 0.1.x path: read-only copies, the call, `reward_rows`) beside the
  round trip to a real reward container (`RemoteReward` + `reward_rows`), medians of blocks.
- `learner_steps_per_s(job, kind)`: learning steps per wall second of the training loop in this
  process, with the env's own reward (`own`), the reward loaded in process (`inprocess`), or
  through a real reward container (`remote`). Wall seconds, because the remote reward's CPU time
  is another process's; other load on the machine makes these noisy.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np


def _transitions(
    env_id: str, n: int
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    from autoreward.envs.extract import public_state, sample_transitions
    from autoreward.envs.registry import load_schema

    schema = load_schema(env_id)
    s, a, s2 = sample_transitions(schema, n=n, seed=0)
    return public_state(schema, s), a, public_state(schema, s2)


def round_trip(
    env_id: str, code: str, n: int, calls: int = 400, blocks: int = 5
) -> dict[str, float]:
    from autoreward.sandbox.inputs import frozen_array, frozen_copy
    from autoreward.sandbox.loader import load_reward_fn
    from autoreward.sandbox.worker import Limits
    from autoreward.train.job import TrainJob
    from autoreward.train.pipeline import REWARD_TARGET
    from autoreward.train.reward_output import reward_rows
    from autoreward.train.rewardhost import RewardProcess
    from autoreward.train.rewardlink import RemoteReward

    s, a, s2 = _transitions(env_id, n)
    fn = load_reward_fn(code)

    def local() -> None:
        reward_rows(fn(frozen_copy(s), frozen_array(a), frozen_copy(s2)), n, "bench")

    job = TrainJob(env_id=env_id, out_dir="/nonexistent", reward_code=code)
    with RewardProcess(job, Limits(reward_share_limit=0.0), REWARD_TARGET) as rp:
        link = rp.link
        link.fd = os.dup(link.fd)  # the client owns (and closes) its own descriptor
        remote = RemoteReward.connect(link)

        def far() -> None:
            reward_rows(remote(s, a, s2), n, "bench")

        out = {
            "inprocess_us": _per_call(local, calls, blocks),
            "remote_us": _per_call(far, calls, blocks),
        }
        remote.close()
    out["extra_us"] = out["remote_us"] - out["inprocess_us"]
    return out


def _per_call(fn: Any, calls: int, blocks: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(times)


def learner_steps_per_s(job: Any, kind: str, backend: str = "sb3") -> dict[str, Any]:
    """One training run of `job` in this process; `kind`: own | inprocess | remote."""
    from autoreward.sandbox.worker import Limits
    from autoreward.train.pipeline import REWARD_TARGET
    from autoreward.train.rewardhost import RewardProcess

    if backend == "warp":
        from autoreward.train.rslrl.trainer import train_warp as train
    else:
        from autoreward.train.sb3.trainer import train

    if kind == "own":
        outcome = train(job.model_copy(update={"reward_code": None}))
        timing = None
    elif kind == "inprocess":
        outcome = train(job)
        timing = None
    else:
        limits = Limits(reward_share_limit=0.0)  # measure, never stop
        with RewardProcess(job, limits, REWARD_TARGET) as rp:
            link = rp.link.to_payload()
            link["fd"] = os.dup(link["fd"])
            outcome = train(job.model_copy(update={"reward_code": None}), None, link)
        timing = outcome.setup.get("reward_process")
    if outcome.status != "ok":
        raise RuntimeError(f"{job.env_id} {kind}: {outcome.reason}")
    return {"steps_per_s": float(outcome.steps_per_s), "learn_s": outcome.learn_s,
            "reward_process": timing, "setup": outcome.setup}  # fmt: skip


def state_extraction_us(env_id: str, steps: int = 2000) -> dict[str, float]:
    """CPU microseconds per env step (this process's CPU time, which other load skews less):
    the bare gymnasium step vs the step with the schema state extracted (`SchemaStateWrapper`,
    what a generated reward needs and the env's own reward skips)."""
    import gymnasium as gym

    from autoreward.envs.extract import make_env
    from autoreward.envs.registry import load_schema

    schema = load_schema(env_id)
    out = {}
    for name, env in (("bare_us", gym.make(env_id)), ("with_state_us", make_env(schema))):
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        actions = [env.action_space.sample() for _ in range(64)]
        t0 = time.process_time()
        for k in range(steps):
            _, _, term, trunc, _ = env.step(actions[k % 64])
            if term or trunc:
                env.reset(seed=int(rng.integers(1 << 30)))
        out[name] = (time.process_time() - t0) / steps * 1e6
        env.close()
    out["extraction_us"] = out["with_state_us"] - out["bare_us"]
    return out
