"""rsl_rl's `VecEnv` (rsl-rl-lib 5.x) over `BatchedMujocoEnv`, with a reward computed on the host.

The reward contract is unchanged from the CPU backend: `reward_fn(state, action, next_state)`
gets numpy dicts with leading dimension W (the schema's named state; `next_state` is the state
after the action, the terminal one where an episode ended) and the actions as the actuators got
them (clipped to the control range), and returns `(total (W,), {component: (W,)})`. Per step the
state is copied to the host once (next and current state in one transfer).

rsl_rl reads `num_envs`, `num_actions`, `max_episode_length`, `episode_length_buf`, `device`,
`cfg`, `get_observations()` and `step()`; observations are a TensorDict with one group,
"policy" (rsl_rl's default for actor and critic). `extras["time_outs"]` marks time-limit ends
(bootstrapped by PPO), `extras["log"]` the mean reward components and termination rates.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from autoreward.envs.warp.env import BatchedMujocoEnv
from autoreward.types import RewardFn, State


class RslRlVecEnv(VecEnv):
    """`env` as an rsl_rl `VecEnv`; `reward_fn` scores every step on the host (numpy)."""

    def __init__(
        self, env: BatchedMujocoEnv, reward_fn: RewardFn, cfg: dict[str, Any] | None = None
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
        """Total time spent copying states to the host (the reward path's transfer cost)."""

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
        state = self._state
        result = self.env.step(applied)
        t0 = time.perf_counter()
        both = (
            torch.cat([result.next_state, self.env.state], dim=0).detach().to("cpu", torch.float64)
        )
        host = both.numpy()
        n = self.num_envs
        next_state = self.env.state_layout.split(host[:n])
        self._state = self.env.state_layout.split(host[n:])
        self.host_copy_seconds += time.perf_counter() - t0
        action_np = applied.detach().to("cpu", torch.float64).numpy()
        total, terms = self.reward_fn(state, action_np, next_state)
        total = np.asarray(total, dtype=np.float64)
        if total.shape != (n,) or not np.all(np.isfinite(total)):
            raise ValueError(
                f"reward must be a finite array of shape ({n},), got shape {total.shape}"
                + ("" if total.shape != (n,) else " with non-finite values")
            )
        rewards = torch.as_tensor(total, dtype=torch.float32, device=self.device)
        log: dict[str, float | torch.Tensor] = {
            f"/reward/{k}": float(np.mean(v)) for k, v in terms.items()
        }
        for i, name in enumerate(self.env.termination_names):
            log[f"/termination/{name}"] = result.terminations[:, i].float().mean()
        extras = {"time_outs": result.truncated & ~result.terminated, "log": log}
        return self.get_observations(), rewards, result.done.long(), extras
