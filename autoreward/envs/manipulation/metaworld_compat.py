"""Meta-World 3.0.0 under MuJoCo 4: the one fix it needs, in one place.

`SawyerMocapBase.reset_mocap_welds` writes an 11-number weld row (MuJoCo 3's `eq_data`
width) into MuJoCo 4's 12-slot `eq_data`, so every env raises `ValueError: could not broadcast
input array from shape (11,) into shape (12,)` while it is built. `import_metaworld()` replaces that
method with one that writes the same 11 numbers into the first 11 slots and leaves the 12th
(MuJoCo 4's weld torque scale, already set by the MJCF compiler) alone. metaworld 3.1.x pins
`mujoco==3.3.0`, so it cannot be installed beside mujoco 4 at all.

`shim_needed()` checks the upstream method on a live model; tests fail loudly once a
Meta-World release makes this module unnecessary (delete it then).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from autoreward.errors import ConfigError

# Meta-World's weld parameters: anchor (3), relative pose (7: pos 3, quat 4), torque scale.
WELD_DATA = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])

_applied: dict[str, Any] = {}


def import_metaworld() -> Any:
    """`metaworld` with the shim applied; a clear error naming the extra when it is missing."""
    try:
        import metaworld
        from metaworld.sawyer_xyz_env import SawyerMocapBase
    except ImportError as err:
        raise ConfigError(
            f"Meta-World envs need the 'metaworld' package ({err})",
            hint="pip install 'autoreward[manipulation]' (bash scripts/install.sh installs it)",
        ) from err
    if "original" not in _applied:
        _applied["original"] = SawyerMocapBase.reset_mocap_welds
        SawyerMocapBase.reset_mocap_welds = reset_mocap_welds  # type: ignore[method-assign]
    return metaworld


def reset_mocap_welds(self: Any) -> None:
    """Meta-World's weld reset, writing only the slots its 11 numbers fill."""
    model = self.model
    if model.nmocap == 0 or model.eq_data is None:
        return
    for i in range(model.eq_data.shape[0]):
        if model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
            model.eq_data[i, : len(WELD_DATA)] = WELD_DATA


def upstream_reset_mocap_welds() -> Any:
    """Meta-World's own method, as shipped (the shim keeps it)."""
    import_metaworld()
    return _applied["original"]


def shim_needed() -> bool:
    """True while Meta-World's own weld reset fails on this MuJoCo (the shim is needed)."""
    original = upstream_reset_mocap_welds()
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    env = ALL_V3_ENVIRONMENTS["reach-v3"]()
    try:
        original(env)
    except ValueError:
        return True
    finally:
        env.close()
    return False
