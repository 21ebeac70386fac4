"""`RewardedWarpEnv`: the batched MuJoCo Warp env as the rsl-rl trainer sees it, with the
candidate's reward called on the host exactly as on the SB3 path.

Per vector step (W worlds): one transfer of the state, the next state, the actions and the
env's own reward to the host (`RslRlVecEnv.host_step`); the reward called once on private,
read-only copies (`sandbox/inputs.py`) inside the watchdog's `reward_call`; its output checked
like `RewardVecEnvWrapper` checks it (`reward_rows`: shape (W,), finite, errors naming the
component and step); the rows [total, components, env reward] and the finished episodes go
into a `RewardLedger`, the statistics both backends report. `reward_fn=None` trains on the
env's own reward (the schema's `simulation.reward`), reported as the one component
`env_reward`, as on the SB3 path.

Timing (`timing`): the host reward path (transfer, copies, call, checks, the rewards back on
the device) apart from the physics, so its share of training time can be measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tensordict import TensorDict

from autoreward.envs.warp.env import BatchedMujocoEnv, StepResult
from autoreward.envs.warp.rslrl import RslRlVecEnv
from autoreward.errors import ConfigError
from autoreward.sandbox.inputs import frozen_array, frozen_copy
from autoreward.sandbox.watchdog import reward_call
from autoreward.train.ledger import RewardLedger
from autoreward.train.reward_output import ENV_REWARD_TERM, reward_raised, reward_rows
from autoreward.types import RewardFn


@dataclass
class StepTiming:
    """Wall seconds spent per part of the env steps of a run."""

    physics_s: float = 0.0
    """The env's step (physics, gathers, terminations, auto-reset), synchronised on a GPU."""
    host_reward_s: float = 0.0
    """The host reward path: transfer, read-only copies, the reward call, checks, statistics."""
    reward_call_s: float = 0.0
    """The reward function alone (inside `host_reward_s`)."""
    steps: int = 0
    """Vector steps timed."""


class RewardedWarpEnv(RslRlVecEnv):
    """`env` with `reward_fn` (None: the env's own reward) as an rsl_rl `VecEnv`.

    `start_step`: env steps trained before this run (a continuation), so error messages and
    the watchdog count steps as the whole training does. `on_step(steps)` is called after
    every vector step with the env steps trained so far (progress display)."""

    def __init__(
        self,
        env: BatchedMujocoEnv,
        reward_fn: RewardFn | None,
        start_step: int = 0,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        if reward_fn is None and not env.reward_names:
            raise ConfigError(
                f"{env.schema.env_id} declares no reward of its own for the MuJoCo Warp backend, "
                "so there is no env reward to train on (or to report beside a generated one)",
                hint="add simulation.reward terms to the schema (see envs/Hopper-v5.yaml), or use "
                "--backend sb3 for --baseline env",
            )
        super().__init__(env, reward_fn)
        self.ledger = RewardLedger(env.num_envs, env_reward=bool(env.reward_names))
        self.steps = start_step
        self.on_step = on_step
        self.timing = StepTiming()
        self._cuda = env.device.type == "cuda"
        self._last_host_s = 0.0

    def reset(self) -> TensorDict:
        obs = super().reset()
        self.ledger.reset_episodes()
        return obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        t0 = time.perf_counter()
        out = super().step(actions)
        self.steps += self.num_envs
        self.timing.steps += 1
        self.timing.physics_s += time.perf_counter() - t0 - self._last_host_s
        if self.on_step is not None:
            self.on_step(self.steps)
        return out

    def score(
        self, applied: torch.Tensor, result: StepResult
    ) -> tuple[torch.Tensor, dict[str, float | torch.Tensor]]:
        if self._cuda:  # the physics is asynchronous: let it finish before timing the host path
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        if self.reward_fn is None:
            names, rows, terminated, done = self._env_reward(result)
        else:
            names, rows, terminated, done = self._generated(applied, result)
        self.ledger.add(names, rows)
        for i in np.flatnonzero(done):
            self.ledger.finish(int(i), terminated=bool(terminated[i]))
        rewards = torch.as_tensor(rows[0], dtype=torch.float32, device=self.device)
        self._last_host_s = time.perf_counter() - t0
        self.timing.host_reward_s += self._last_host_s
        return rewards, {}

    def _generated(
        self, applied: torch.Tensor, result: StepResult
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        assert self.reward_fn is not None
        state = frozen_copy(self._state)
        host = self.host_step(applied, result)
        action, next_state = frozen_array(host.action), frozen_copy(host.next_state)
        step = self.steps + self.num_envs  # the step count once this step is done, as SB3's
        t0 = time.perf_counter()
        try:
            with reward_call(step):
                out = self.reward_fn(state, action, next_state)
        except Exception as err:
            raise reward_raised(err, step) from err
        self.timing.reward_call_s += time.perf_counter() - t0
        names, rows = reward_rows(
            out, self.num_envs, f"at training step {step}", extra_row=host.env_reward
        )
        return names, rows, host.terminated, host.terminated | host.truncated

    def _env_reward(
        self, result: StepResult
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """The env's own reward as the single component `env_reward` (no state copy)."""
        flags = torch.stack(
            [result.env_reward.double(), result.terminated.double(), result.truncated.double()]
        )
        env_reward, terminated, truncated = flags.cpu().numpy()
        terminated, truncated = terminated > 0.5, truncated > 0.5
        rows = np.stack([env_reward, env_reward, env_reward])
        return [ENV_REWARD_TERM], rows, terminated, terminated | truncated
