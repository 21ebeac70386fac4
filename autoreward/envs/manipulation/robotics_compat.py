"""gymnasium-robotics 1.4.2 under MuJoCo 4: the one fix its Fetch envs need, in one place.

Its four joint helpers in `gymnasium_robotics.utils.mujoco_utils` (`get/set_joint_qpos/qvel`)
test `model.jnt_type[j] in (mjJNT_HINGE, mjJNT_SLIDE)`; under MuJoCo 4 a numpy int32 no longer
compares equal to the `mjtJoint` enum, so every Fetch env fails at `gym.make` with a bare
`AssertionError`. `import_robotics()` replaces the four helpers with versions that read the joint's
width from its type as a plain `int`. `shim_needed()` checks the upstream helper; tests fail
loudly once a release makes this module unnecessary (delete it then).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from autoreward.errors import ConfigError

# values per joint type (free, ball, slide, hinge) in qpos and in qvel
_QPOS_WIDTH = {int(mujoco.mjtJoint.mjJNT_FREE): 7, int(mujoco.mjtJoint.mjJNT_BALL): 4}
_QVEL_WIDTH = {int(mujoco.mjtJoint.mjJNT_FREE): 6, int(mujoco.mjtJoint.mjJNT_BALL): 3}
HELPERS = ("get_joint_qpos", "get_joint_qvel", "set_joint_qpos", "set_joint_qvel")

_originals: dict[str, Any] = {}


def _joint_slice(model: Any, name: str, velocity: bool) -> slice:
    joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint < 0:
        raise ValueError(f"joint {name!r} is not part of the model")
    kind = int(model.jnt_type[joint])
    if velocity:
        start, width = int(model.jnt_dofadr[joint]), _QVEL_WIDTH.get(kind, 1)
    else:
        start, width = int(model.jnt_qposadr[joint]), _QPOS_WIDTH.get(kind, 1)
    return slice(start, start + width)


def get_joint_qpos(model: Any, data: Any, name: str) -> np.ndarray:
    return data.qpos[_joint_slice(model, name, velocity=False)].copy()


def get_joint_qvel(model: Any, data: Any, name: str) -> np.ndarray:
    return data.qvel[_joint_slice(model, name, velocity=True)].copy()


def set_joint_qpos(model: Any, data: Any, name: str, value: Any) -> None:
    data.qpos[_joint_slice(model, name, velocity=False)] = np.asarray(value)


def set_joint_qvel(model: Any, data: Any, name: str, value: Any) -> None:
    data.qvel[_joint_slice(model, name, velocity=True)] = np.asarray(value)


def import_robotics() -> Any:
    """`gymnasium_robotics` (its envs registered) with the shim applied."""
    try:
        import gymnasium_robotics
        from gymnasium_robotics.utils import mujoco_utils
    except ImportError as err:
        raise ConfigError(
            f"Fetch envs need the 'gymnasium-robotics' package ({err})",
            hint="pip install 'autoreward[manipulation]' (bash scripts/install.sh installs it)",
        ) from err
    if not _originals:
        for helper in HELPERS:
            _originals[helper] = getattr(mujoco_utils, helper)
            setattr(mujoco_utils, helper, globals()[helper])
    return gymnasium_robotics


def shim_needed() -> bool:
    """True while gymnasium-robotics' own joint helper fails on a hinge joint here."""
    import_robotics()
    model = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body><joint name='h' type='hinge'/><geom size='.1'/></body>"
        "</worldbody></mujoco>"
    )
    try:
        _originals["get_joint_qpos"](model, mujoco.MjData(model), "h")
    except AssertionError:
        return True
    return False
