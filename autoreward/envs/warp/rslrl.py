"""rsl_rl's `VecEnv` (rsl-rl-lib 5.x) over `BatchedMujocoEnv`, with a reward computed on the host.

The reward contract is unchanged from the CPU backend: `reward_fn(state, action, next_state)`
gets numpy dicts with leading dimension W (the schema's named state; `next_state` is the state
after the action, the terminal one where an episode ended) and the actions as the actuators got
them (clipped to the control range), and returns `(total (W,), {component: (W,)})`. Per step
everything the reward needs is copied to the host in one transfer (`HostStep`).

rsl_rl reads `num_envs`, `num_actions`, `max_episode_length`, `episode_length_buf`, `device`,
`cfg`, `get_observations()` and `step()`; observations are a TensorDict with one group,
"policy" (rsl_rl's default for actor and critic). `extras["time_outs"]` marks time-limit ends
(bootstrapped by PPO), `extras["log"]` the mean reward components and termination rates.

`score()` is the extension point: the training backend (`train/rslrl/env.py`) overrides it to
check the reward's output, keep the statistics and run the reward under the sandbox watchdog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from autoreward.envs.warp.env import BatchedMujocoEnv, StepResult
from autoreward.types import RewardFn, State


@dataclass
class HostStep:
    """One step as the host sees it (float64 numpy, leading dimension W), from one transfer."""

    next_state: State  # the state after the action (terminal where an episode ended)
    state: State  # the state the next step starts from (after any auto-reset)
    action: np.ndarray  # (W, A) the clipped actions the actuators got
    env_reward: np.ndarray  # (W,) the env's own reward (0 where the schema declares none)
    terminated: np.ndarray  # (W,) bool
    truncated: np.ndarray  # (W,) bool


class RslRlVecEnv(VecEnv):
    """`env` as an rsl_rl `VecEnv`; `reward_fn` scores every step on the host (numpy)."""

    def __init__(
        self, env: BatchedMujocoEnv, reward_fn: RewardFn | None, cfg: dict[str, Any] | None = None
    ):
        self.env = env
        self.reward_fn = reward_fn
        self.num_envs = env.num_envs
        self.num_actions = env.num_actions
        self.max_episode_length = env.max_episode_length
        self.device = env.device
        self.cfg = cfg if cfg is not None else {"env_id": env.schema.env_id, "dt": env.dt}
        self._state: State = env.state_numpy()
        self.host_copy_seconds = 0.0
        """Total time spent copying steps to the host (the reward path's transfer cost)."""

    @property  # type: ignore[override]
    def episode_length_buf(self) -> torch.Tensor:
        return self.env.episode_length_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        # rsl_rl may randomise episode lengths at the start (init_at_random_ep_len)
        self.env.episode_length_buf.copy_(value)

    def get_observations(self) -> TensorDict:
        return TensorDict({"policy": self.env.obs}, batch_size=[self.num_envs], device=self.device)

    def reset(self) -> TensorDict:
        self.env.reset()
        self._state = self.env.state_numpy()
        return self.get_observations()

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        applied = self.env.clip_actions(actions)
        result = self.env.step(applied)
        rewards, log = self.score(applied, result)
        for i, name in enumerate(self.env.termination_names):
            log[f"/termination/{name}"] = result.terminations[:, i].float().mean()
        extras = {"time_outs": result.truncated & ~result.terminated, "log": log}
        return self.get_observations(), rewards, result.done.long(), extras

    def score(
        self, applied: torch.Tensor, result: StepResult
    ) -> tuple[torch.Tensor, dict[str, float | torch.Tensor]]:
        """The step's rewards (W,) on the device and what to log. Here: `reward_fn` on the
        host, its total checked for shape and finiteness."""
        assert self.reward_fn is not None, "RslRlVecEnv needs a reward_fn (or override score)"
        state = self._state
        host = self.host_step(applied, result)
        total, terms = self.reward_fn(state, host.action, host.next_state)
        total = np.asarray(total, dtype=np.float64)
        n = self.num_envs
        if total.shape != (n,) or not np.all(np.isfinite(total)):
            raise ValueError(
                f"reward must be a finite array of shape ({n},), got shape {total.shape}"
                + ("" if total.shape != (n,) else " with non-finite values")
            )
        rewards = torch.as_tensor(total, dtype=torch.float32, device=self.device)
        return rewards, {f"/reward/{k}": float(np.mean(v)) for k, v in terms.items()}

    def host_step(self, applied: torch.Tensor, result: StepResult) -> HostStep:
        """Copy what a host reward needs to the host in one transfer, and move this env's
        current state on to the step's (post-reset) state. Each call returns fresh arrays."""
        t0 = time.perf_counter()
        parts = [
            result.next_state,
            self.env.state,
            applied,
            result.env_reward[:, None],
            result.terminated[:, None],
            result.truncated[:, None],
        ]
        host = torch.cat([p.detach().to(torch.float64) for p in parts], dim=1).cpu().numpy()
        width, a = self.env.state_layout.width, self.num_actions
        layout = self.env.state_layout
        step = HostStep(
            next_state=layout.split(host[:, :width].copy()),
            state=layout.split(host[:, width : 2 * width].copy()),
            action=host[:, 2 * width : 2 * width + a].copy(),
            env_reward=host[:, -3].copy(),
            terminated=host[:, -2] > 0.5,
            truncated=host[:, -1] > 0.5,
        )
        self._state = step.state
        self.host_copy_seconds += time.perf_counter() - t0
        return step
