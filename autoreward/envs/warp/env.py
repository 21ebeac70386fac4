"""`BatchedMujocoEnv`: W worlds of one schema's MuJoCo model stepped together on MuJoCo Warp.

One generic class for every MuJoCo schema: the model, frame skip, contact buffers, policy
observation, reset draws and terminations come from the schema's `simulation` section, the
named `state` from its fields. Per step: the action goes to the actuators (clipped to their
control range, as MuJoCo would), the physics runs `frame_skip` steps, the state and
observation are read by compiled gathers (the terminal ones, before any reset), the
terminations and the time limit are checked, and finished worlds start a new episode at once
(auto-reset). Everything stays on the device as torch tensors; `state_numpy` copies the named
state to the host in one transfer, for reward code written in numpy.

The env knows nothing of rewards or training; `rslrl.py` puts rsl_rl's `VecEnv` on top.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autoreward.envs.schema import EnvSchema
from autoreward.envs.warp.gather import needs_arrays
from autoreward.envs.warp.model import action_bounds, load_model, require_simulation
from autoreward.envs.warp.runtime import import_warp, resolve_device
from autoreward.envs.warp.terms import (
    CompiledObservation,
    CompiledReset,
    CompiledReward,
    CompiledState,
    CompiledTerminations,
    StateLayout,
)
from autoreward.envs.warp.views import WarpArrays
from autoreward.errors import ConfigError

NON_FINITE = "non_finite_physics"
"""Built-in termination: a world whose qpos or qvel is NaN/inf ends its episode (and restarts)."""


@dataclass
class StepResult:
    """One batched step. Tensors live on the env's device; W = number of worlds."""

    obs: torch.Tensor  # (W, D) the next policy input: after the auto-reset where an episode ended
    terminated: torch.Tensor  # (W,) bool: a termination term fired
    truncated: torch.Tensor  # (W,) bool: the episode reached its time limit
    next_state: torch.Tensor  # (W, F) flat state after the action, before any auto-reset
    terminal_obs: torch.Tensor  # (W, D) observation after the action, before any auto-reset
    terminations: torch.Tensor  # (W, T) bool, one column per name in `termination_names`
    reward_terms: torch.Tensor  # (W, K) the env's own reward terms (`reward_names`); K may be 0

    @property
    def done(self) -> torch.Tensor:
        return self.terminated | self.truncated

    @property
    def env_reward(self) -> torch.Tensor:
        """(W,) the env's own reward: the sum of its terms (0 where the schema declares none)."""
        return self.reward_terms.sum(dim=1)


class BatchedMujocoEnv:
    """`num_envs` worlds of `schema`'s MuJoCo model on MuJoCo Warp (`device`: cpu, cuda, auto).

    `graphs=False` launches every kernel from Python instead of replaying captured graphs
    (same results, for debugging; on the CPU device about 100x slower at small world counts).
    """

    def __init__(
        self,
        schema: EnvSchema,
        num_envs: int,
        device: str = "cpu",
        seed: int = 0,
        max_episode_length: int | None = None,
        overflow_check_every: int | None = None,
        graphs: bool = True,
    ) -> None:
        import mujoco

        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
        spec = require_simulation(schema)
        self._wp, self._mjw = import_warp()
        wp, mjw = self._wp, self._mjw
        self.schema = schema
        self.num_envs = num_envs
        self.device = torch.device(resolve_device(device))
        self._cuda = self.device.type == "cuda"
        self._wp_device = wp.get_device(str(self.device))
        self._wp_stream = self._wp_device.stream if self._cuda else None
        self.model = load_model(schema)
        mjm = self.model
        self.frame_skip = spec.frame_skip
        self.dt = float(mjm.opt.timestep) * spec.frame_skip
        limit = max_episode_length or schema.episode_length
        if limit is None:
            raise ConfigError(
                f"{schema.env_id}: the batched backend needs a time limit (episode_length)"
            )
        self.max_episode_length = int(limit)
        self.nconmax, self.njmax = spec.nconmax, spec.njmax
        where = f"{schema.env_id} (MuJoCo Warp backend)"
        self._state = CompiledState(mjm, schema.fields, self.dt, where)
        self._obs_terms = CompiledObservation(mjm, spec.observation, where)
        self._terms = CompiledTerminations(mjm, spec.terminations, where)
        self._reset_terms = CompiledReset(mjm, spec.reset, where)
        self._reward = CompiledReward(mjm, spec.reward, self._state.layout, where)
        self.termination_names = [*self._terms.names, NON_FINITE]
        self.reward_names = list(self._reward.names)
        """The env's own reward terms (`simulation.reward`); empty: the schema declares none."""
        recipes = [f.source for f in schema.fields] + [t.source for t in spec.observation]
        recipes += [t.source for t in spec.reward if t.source not in ("action", "healthy")]
        recipes = [r for r in recipes if not r.startswith("state:")]
        recipes += [t.minus for t in spec.observation if t.minus]
        recipes += [s for t in spec.terminations for s in t.sources]
        self._rne = "cfrc_ext" in needs_arrays(mjm, recipes)  # contact forces on bodies

        with self._on_warp():
            self._m = mjw.put_model(mjm)
            self._m.opt.warn_overflow = 0  # reported by check_overflow, with the schema to fix
            mjd = mujoco.MjData(mjm)
            mujoco.mj_forward(mjm, mjd)
            self._d = mjw.put_data(
                mjm, mjd, nworld=num_envs, nconmax=spec.nconmax, njmax=spec.njmax
            )
        self._view = WarpArrays(wp, mjw, self._m, self._d, mjm, self.device, self._launch)
        a = self._view.array
        self._qpos, self._qvel, self._ctrl = a("qpos"), a("qvel"), a("ctrl")
        self._warmstart, self._cfrc_ext = a("qacc_warmstart"), a("cfrc_ext")
        self._overflow_src = wp.to_torch(self._d.overflow)
        self._overflow = torch.zeros(num_envs, dtype=torch.int32, device=self.device)
        self._overflow_every = overflow_check_every or (64 if self._cuda else 1)
        solver_limits = int(mjw.OverflowType.ITERATIONS) | int(mjw.OverflowType.LS_ITERATIONS)
        self._capacity_bits = ~solver_limits  # dropped contacts/constraints, not solver limits
        self._steps_since_check = 0
        low, high = action_bounds(schema, mjm)
        self._low = torch.as_tensor(low, dtype=torch.float32, device=self.device)
        self._high = torch.as_tensor(high, dtype=torch.float32, device=self.device)
        self._mask = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._mask_wp = wp.from_torch(self._mask)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)

        started = time.perf_counter()
        self._graphs: dict[str, Any] = {}
        self._warm_up(graphs)
        self.compile_seconds = time.perf_counter() - started
        """Wall time of the first physics step and forward: kernel compilation (or cache load)."""
        self._obs = torch.zeros((num_envs, self.num_obs), device=self.device)
        self._current = torch.zeros((num_envs, self.state_layout.width), device=self.device)
        self.reset()

    # ------------------------------------------------------------------ interface

    @property
    def num_obs(self) -> int:
        return self._obs_terms.size

    @property
    def num_actions(self) -> int:
        return int(self.model.nu)

    @property
    def state_layout(self) -> StateLayout:
        return self._state.layout

    @property
    def obs(self) -> torch.Tensor:
        """The current observation (W, D): the policy's next input."""
        return self._obs

    @property
    def state(self) -> torch.Tensor:
        """The current flat state (W, F): the `state` of the next step (`state_layout` names it)."""
        return self._current

    def reset(self) -> torch.Tensor:
        """Start a new episode in every world; returns the observation."""
        self._restart(None)
        return self._obs

    def clip_actions(self, actions: Any) -> torch.Tensor:
        """`actions` on the device, float32, clipped to the actuators' control range (what
        MuJoCo applies, and what the reward sees)."""
        a = torch.as_tensor(actions, device=self.device, dtype=torch.float32)
        if a.shape != (self.num_envs, self.num_actions):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, {self.num_actions}), got {tuple(a.shape)}"
            )
        return torch.maximum(torch.minimum(a, self._high), self._low)

    def step(self, actions: torch.Tensor) -> StepResult:
        """Apply `actions` (W, num_actions), step the physics, auto-reset finished worlds."""
        applied = self.clip_actions(actions)
        self._ctrl.copy_(applied)
        self._launch("physics", self._physics)
        self._collect_overflow()
        cache: dict[str, Any] = {}
        next_state = self._state.step(self._state.read(self._view, cache))
        terminal_obs = self._obs_terms.read(self._view, cache)
        finite = torch.isfinite(self._qpos).all(dim=1) & torch.isfinite(self._qvel).all(dim=1)
        terms = torch.cat([self._terms.read(self._view, cache), ~finite[:, None]], dim=1)
        terminated = terms.any(dim=1)
        rewards = self._reward.read(self._view, cache, next_state, applied, terminated)
        self.episode_length_buf += 1
        truncated = self.episode_length_buf >= self.max_episode_length
        done = terminated | truncated
        self._obs, self._current = terminal_obs, next_state
        if self._cuda or bool(done.any()):  # on CUDA: no host sync, the masked reset is cheap
            self._restart(done)
        return StepResult(
            self._obs, terminated, truncated, next_state, terminal_obs, terms, rewards
        )

    def state_numpy(self, flat: torch.Tensor | None = None) -> dict[str, np.ndarray]:
        """The named state (default: the current one) as float64 numpy arrays with leading dim W,
        copied from the device in one transfer. Each call returns fresh arrays."""
        src = self._current if flat is None else flat
        host = src.detach().to("cpu", torch.float64).numpy()
        return self.state_layout.split(host)

    def set_state(
        self,
        qpos: Any,
        qvel: Any,
        qacc_warmstart: Any | None = None,
        worlds: Any | None = None,
        new_episode: bool = True,
    ) -> torch.Tensor:
        """Put worlds (a bool mask or index list; default all) into a given physical state, like
        gymnasium's `set_state` (then `mj_forward`). `new_episode`: their episode restarts
        (length 0, finite differences from here); otherwise only the physics moves. Rows of
        `qpos` (nq) and `qvel` (nv) are given for the selected worlds. Returns the observation."""
        mask = self._world_mask(worlds)
        rows = mask.nonzero().reshape(-1)
        for name, dst, src in (
            ("qpos", self._qpos, qpos),
            ("qvel", self._qvel, qvel),
            ("qacc_warmstart", self._warmstart, qacc_warmstart),
        ):
            if src is None:
                continue
            value = torch.as_tensor(np.asarray(src), dtype=torch.float32, device=self.device)
            if value.shape != (len(rows), dst.shape[1]):
                raise ValueError(
                    f"{name} must have shape ({len(rows)}, {dst.shape[1]}) for the {len(rows)} "
                    f"selected worlds, got {tuple(value.shape)}"
                )
            dst[rows] = value
        self._launch("forward", self._forward)
        cache: dict[str, Any] = {}
        raw = self._state.read(self._view, cache)
        obs = self._obs_terms.read(self._view, cache)
        self._obs = torch.where(mask[:, None], obs, self._obs)
        if new_episode:
            self._current = torch.where(mask[:, None], self._state.start(raw, mask), self._current)
            self.episode_length_buf[mask] = 0
        else:  # the finite differences describe the last step: keep them
            fresh = torch.where(self._state.fd_mask(self.device)[None, :], self._current, raw)
            self._current = torch.where(mask[:, None], fresh, self._current)
        return self._obs

    def check_overflow(self) -> None:
        """Raise if any world ran out of contact or constraint buffer since the last check."""
        self._steps_since_check = 0
        bad = self._overflow != 0
        if not bool(bad.any()):
            return
        flags = _or_all(self._overflow)
        mjw = self._mjw
        what = []
        if flags & (int(mjw.OverflowType.NEFC) | int(mjw.OverflowType.NJMAX_NNZ)):
            what.append(f"constraint rows (nefc > njmax = {self.njmax}): raise simulation.njmax")
        if flags & (int(mjw.OverflowType.BROADPHASE) | int(mjw.OverflowType.NARROWPHASE)):
            what.append(
                f"contacts (more than nconmax = {self.nconmax} per world on average): "
                "raise simulation.nconmax"
            )
        rest = flags & ~(
            int(mjw.OverflowType.NEFC)
            | int(mjw.OverflowType.NJMAX_NNZ)
            | int(mjw.OverflowType.BROADPHASE)
            | int(mjw.OverflowType.NARROWPHASE)
        )
        if rest:
            what.append(f"other MuJoCo Warp buffers (overflow bits {rest:#x})")
        self._overflow.zero_()
        raise ConfigError(
            f"{self.schema.env_id}: MuJoCo Warp ran out of buffer space in {int(bad.sum())} of "
            f"{self.num_envs} worlds, so contacts or constraints were dropped: " + "; ".join(what),
            hint=f"edit the simulation section of envs/{self.schema.env_id}.yaml",
        )

    def close(self) -> None:
        self._graphs.clear()

    # ------------------------------------------------------------------ internals

    def _restart(self, mask: torch.Tensor | None) -> None:
        """New episodes in the worlds of `mask` (None: all): reset the data, draw the initial
        state, recompute the kinematics, read the first observation and state."""
        if mask is None:
            self._mask.fill_(True)
        else:
            self._mask.copy_(mask)
        self._launch("reset", self._reset_data)
        m = self._mask[:, None]
        qpos, qvel = self._reset_terms.sample(self.num_envs, self._generator, self.device)
        self._qpos.copy_(torch.where(m, qpos, self._qpos))
        self._qvel.copy_(torch.where(m, qvel, self._qvel))
        # MuJoCo's mj_resetData clears cfrc_ext and mj_forward does not compute it: gymnasium's
        # first observation has zero body contact forces.
        self._cfrc_ext.masked_fill_(m, 0.0)
        self._launch("forward", self._forward)
        cache: dict[str, Any] = {}
        start = self._state.start(self._state.read(self._view, cache), self._mask)
        obs = self._obs_terms.read(self._view, cache)
        self._obs = torch.where(m, obs, self._obs)
        self._current = torch.where(m, start, self._current)
        self.episode_length_buf.masked_fill_(self._mask, 0)

    def _physics(self) -> None:
        for _ in range(self.frame_skip):
            self._mjw.step(self._m, self._d)
        if self._rne:
            self._mjw.rne_postconstraint(self._m, self._d)

    def _forward(self) -> None:
        self._mjw.forward(self._m, self._d)

    def _reset_data(self) -> None:
        self._mjw.reset_data(self._m, self._d, reset=self._mask_wp)

    def _warm_up(self, graphs: bool) -> None:
        """Compile (or load) every kernel now, then capture the hot paths as graphs (CUDA graphs,
        or Warp's CPU graphs: a replay skips the Python cost of ~350 launches per physics step)."""
        programs = {
            "physics": self._physics,
            "forward": self._forward,
            "reset": self._reset_data,
            "contact_forces": self._view.compute_contact_forces,
        }
        for fn in programs.values():
            self._run(fn)
        if graphs:
            wp = self._wp
            for name, fn in programs.items():
                with self._on_warp(), wp.ScopedCapture(device=self._wp_device) as capture:
                    fn()
                self._graphs[name] = capture.graph

    def _launch(self, name: str, fn: Callable[[], None]) -> None:
        """Run a program: its captured graph when there is one."""
        graph = self._graphs.get(name)
        if graph is None:
            self._run(fn)
        else:
            self._run(lambda: self._wp.capture_launch(graph))

    def _run(self, fn: Callable[[], None]) -> None:
        with self._on_warp():
            fn()

    @contextmanager
    def _on_warp(self) -> Iterator[None]:
        """Warp launches on this env's device; on CUDA ordered after the pending torch work, and
        torch's later work after them (events, no host synchronisation)."""
        wp = self._wp
        if not self._cuda:
            with wp.ScopedDevice(self._wp_device):
                yield
            return
        torch_stream = wp.stream_from_torch(torch.cuda.current_stream(self.device))
        assert self._wp_stream is not None
        self._wp_stream.wait_stream(torch_stream)
        with wp.ScopedDevice(self._wp_device), wp.ScopedStream(self._wp_stream):
            yield
        torch_stream.wait_stream(self._wp_stream)

    def _collect_overflow(self) -> None:
        self._overflow |= self._overflow_src & self._capacity_bits
        self._steps_since_check += 1
        if self._steps_since_check >= self._overflow_every:
            self.check_overflow()

    def _world_mask(self, worlds: Any | None) -> torch.Tensor:
        if worlds is None:
            return torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        w = torch.as_tensor(np.asarray(worlds), device=self.device)
        if w.dtype == torch.bool:
            return w
        mask = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        mask[w.long()] = True
        return mask


def _or_all(x: torch.Tensor) -> int:
    out = 0
    for v in torch.unique(x).tolist():
        out |= int(v)
    return out
