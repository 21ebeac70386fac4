"""The batched MuJoCo backend: thousands of worlds of a schema's MuJoCo model on MuJoCo Warp.

`BatchedMujocoEnv` (env.py) is the generic env, driven by the schema's `simulation` section;
`RslRlVecEnv` (rslrl.py) is rsl_rl's `VecEnv` on top of it. Needs the optional `warp` extra
(mujoco-warp, warp-lang; rsl-rl-lib for the adapter); importing this package does not import
them.
"""

from __future__ import annotations

from autoreward.envs.warp.model import require_simulation, unsupported_reason

__all__ = ["require_simulation", "unsupported_reason"]
