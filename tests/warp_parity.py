"""Step the batched MuJoCo Warp env beside gymnasium's own env and measure how far they differ.

Each world `i` mirrors a gymnasium env `i` (with the schema's state wrapper). Both start from
the same state (gymnasium's reset state is copied into the world) and take the same actions.
Before every step the world is put back onto the gymnasium env's physical state
(`set_state(..., new_episode=False)`: the finite differences keep their memory), so every
comparison is one env step from the same state. A free-running comparison would measure chaos:
float32 MuJoCo Warp and float64 MuJoCo drift apart within tens of steps in contact-rich envs.
When a gymnasium episode ends, the env resets and the world is put onto its new start state.
Where the schema declares the env's own reward (`simulation.reward`), the step reward is
compared too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from autoreward.envs.extract import STATE_KEY, make_env
from autoreward.envs.registry import load_schema
from autoreward.envs.schema import EnvSchema
from autoreward.envs.warp.env import BatchedMujocoEnv

RTOL = 1e-3  # relative tolerance of every compared value


@dataclass
class Quantity:
    """One compared quantity (an observation term or a state field) over every world-step."""

    atol: float
    worst: float = 0.0  # max |warp - gym| - RTOL * |gym|
    max_abs: float = 0.0  # max |warp - gym|
    bad: int = 0  # world-steps with some value outside atol + RTOL * |gym|
    total: int = 0

    def add(self, warp: np.ndarray, gym: np.ndarray) -> None:
        """`warp`, `gym`: (W, k) values of this quantity."""
        excess = np.abs(warp - gym) - RTOL * np.abs(gym)
        excess = np.where(np.isnan(excess), np.inf, excess)
        self.worst = max(self.worst, float(excess.max(initial=0.0)))
        self.max_abs = max(
            self.max_abs, float(np.nan_to_num(np.abs(warp - gym), nan=np.inf).max(initial=0.0))
        )
        self.bad += int(np.sum(np.any(excess > self.atol, axis=1)))
        self.total += len(warp)

    @property
    def bad_fraction(self) -> float:
        return self.bad / max(self.total, 1)


@dataclass
class ParityReport:
    env_id: str
    steps: int
    quantities: dict[str, Quantity] = field(default_factory=dict)
    termination_mismatch: int = 0
    terminations: int = 0  # gymnasium terminations seen
    world_steps: int = 0

    def worst(self, limit: float) -> list[str]:
        """Quantities whose share of out-of-tolerance world-steps exceeds `limit`, explained."""
        return [
            f"{name}: {q.bad}/{q.total} world-steps beyond atol {q.atol:g} + {RTOL:g}*|gym| "
            f"(worst excess {q.worst:.3g})"
            for name, q in self.quantities.items()
            if q.bad_fraction > limit
        ]


def _atol(name: str, unit: str) -> float:
    """Absolute tolerance per quantity: float32 physics, one env step; forces are in newtons."""
    if unit == "N":
        return 0.5
    if unit == "bool":
        return 0.5  # a contact flag must match exactly (0 or 1)
    return 1e-3


def run_parity(
    env_id: str, nworld: int = 4, steps: int = 30, seed: int = 0, cone: str | None = None
) -> ParityReport:
    """`cone`: run both sides with this friction cone instead of the model's."""
    schema = load_schema(env_id)
    envs = [make_env(schema, seed=seed + i) for i in range(nworld)]
    if cone is not None:
        import mujoco

        assert schema.simulation is not None
        schema.simulation.cone = cone  # type: ignore[assignment]
        value = {
            "pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL,
            "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC,
        }[cone]
        for e in envs:
            e.unwrapped.model.opt.cone = value
    warp = BatchedMujocoEnv(schema, nworld, seed=seed)
    report = ParityReport(env_id, steps)
    obs_terms = warp._obs_terms.slices  # named slices of the observation
    for name in obs_terms:
        report.quantities[f"obs.{name}"] = Quantity(atol=1e-3 if "force" not in name else 0.05)
    for f in schema.fields:
        report.quantities[f"state.{f.name}"] = Quantity(atol=_atol(f.name, f.unit))
    if warp.reward_names:  # the env's own reward, declared in simulation.reward
        report.quantities["reward"] = Quantity(atol=1e-3)
    try:
        starts = [e.reset(seed=seed + i) for i, e in enumerate(envs)]
        _sync(warp, envs, new_episode=True)
        _compare_obs(report, obs_terms, warp.obs, np.stack([o for o, _ in starts]))
        _compare_state(report, schema, warp.state_numpy(), [i[STATE_KEY] for _, i in starts])
        rng = np.random.default_rng(seed)
        low, high = np.asarray(schema.action.low), np.asarray(schema.action.high)
        for _ in range(steps):
            _sync(warp, envs, new_episode=False)
            actions = rng.uniform(low, high, size=(nworld, *schema.action.shape))
            outs = [e.step(a) for e, a in zip(envs, actions, strict=True)]
            result = warp.step(torch.as_tensor(actions, dtype=torch.float32))
            g_obs = np.stack([o[0] for o in outs])
            g_term = np.array([o[2] for o in outs])
            _compare_obs(report, obs_terms, result.terminal_obs, g_obs)
            _compare_state(
                report, schema, warp.state_numpy(result.next_state), [o[4][STATE_KEY] for o in outs]
            )
            if warp.reward_names:
                g_reward = np.array([[o[1]] for o in outs], dtype=np.float64)
                w_reward = result.env_reward.numpy().astype(np.float64)[:, None]
                report.quantities["reward"].add(w_reward, g_reward)
            report.termination_mismatch += int(np.sum(result.terminated.numpy() != g_term))
            report.terminations += int(g_term.sum())
            report.world_steps += nworld
            ended = [i for i, o in enumerate(outs) if o[2] or o[3]]
            for i in ended:
                envs[i].reset()
            if ended:
                _sync(warp, envs, new_episode=True, worlds=ended)
    finally:
        for e in envs:
            e.close()
        warp.close()
    return report


def _sync(
    warp: BatchedMujocoEnv, envs: list, new_episode: bool, worlds: list[int] | None = None
) -> None:
    sel = list(range(len(envs))) if worlds is None else worlds
    data = [envs[i].unwrapped.data for i in sel]
    warp.set_state(
        np.stack([d.qpos for d in data]),
        np.stack([d.qvel for d in data]),
        np.stack([d.qacc_warmstart for d in data]),
        worlds=sel,
        new_episode=new_episode,
    )


def _compare_obs(
    report: ParityReport, slices: dict[str, slice], warp_obs: torch.Tensor, gym_obs: np.ndarray
) -> None:
    w = warp_obs.numpy().astype(np.float64)
    assert w.shape == gym_obs.shape, f"observation shape {w.shape} vs gymnasium {gym_obs.shape}"
    for name, sl in slices.items():
        report.quantities[f"obs.{name}"].add(w[:, sl], gym_obs[:, sl])


def _compare_state(
    report: ParityReport,
    schema: EnvSchema,
    warp_state: dict[str, np.ndarray],
    gym_states: list[dict],
) -> None:
    for f in schema.fields:
        g = np.stack([np.asarray(s[f.name], dtype=np.float64) for s in gym_states])
        w = warp_state[f.name]
        assert w.shape == g.shape, f"{f.name}: shape {w.shape} vs gymnasium {g.shape}"
        report.quantities[f"state.{f.name}"].add(w.reshape(len(w), -1), g.reshape(len(g), -1))
