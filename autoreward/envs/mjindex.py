"""Where a MuJoCo recipe's values live: one `MjData` array and flat indices into it.

Both backends read the same numbers the same way: the CPU extractor (`recipes.py`) indexes one
`MjData`, the batched MuJoCo Warp env indexes the same arrays with a leading world dimension.
This module is the one place that turns names (`qpos:rootz`, `xpos:torso`, `cfrc_ext`) into
those indices, so a field means the same thing on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autoreward.errors import ConfigError

# recipe base -> (MjData attribute, kind of the named objects, values per object; 0: per joint)
ARRAYS: dict[str, tuple[str, str, int]] = {
    "qpos": ("qpos", "joint", 0),
    "qvel": ("qvel", "joint", 0),
    "qfrc_actuator": ("qfrc_actuator", "joint", 0),
    "qfrc_constraint": ("qfrc_constraint", "joint", 0),
    "xpos": ("xpos", "body", 3),
    "xquat": ("xquat", "body", 4),
    "xmat": ("xmat", "body", 9),
    "cfrc_ext": ("cfrc_ext", "body", 6),
    "cinert": ("cinert", "body", 10),
    "cvel": ("cvel", "body", 6),
    "site": ("site_xpos", "site", 3),
    "geom": ("geom_xpos", "geom", 3),
}
# dof-indexed arrays (one value per degree of freedom, like qvel)
_DOF_ARRAYS = {"qvel", "qfrc_actuator", "qfrc_constraint"}


@dataclass(frozen=True)
class ArraySource:
    """`array` is an MjData attribute; `index` selects from one world's copy, flattened."""

    array: str
    index: np.ndarray
    scalar: bool

    @property
    def contiguous(self) -> slice | None:
        """The index as a slice when it is a contiguous run, else None."""
        idx = self.index
        if idx.size and np.all(np.diff(idx) == 1):
            return slice(int(idx[0]), int(idx[-1]) + 1)
        return None


def object_id(model: Any, kind: str, name: str, where: str) -> int:
    """The id of a named body/joint/geom/site; a ConfigError lists the names there are."""
    import mujoco

    obj = getattr(mujoco.mjtObj, f"mjOBJ_{kind.upper()}")
    i = mujoco.mj_name2id(model, obj, name)
    if i < 0:
        known = model_names(model, kind)
        raise ConfigError(
            f"{where}: no {kind} named '{name}' in the MuJoCo model",
            hint=f"{kind}s are: {', '.join(known) or '(none named)'}",
        )
    return int(i)


def array_source(
    model: Any, base: str, name: str | None, index: int | slice | None, text: str, where: str
) -> ArraySource:
    """Flat indices (into one world's `MjData.<array>`) of recipe `text` = `base[:name][index]`.

    Without a name the whole array is read (e.g. `cfrc_ext[6:]`: every body but the world).
    """
    attr, kind, width = ARRAYS[base]
    if name is None:
        size = _array_size(model, attr)
        idx = np.arange(size)
    else:
        ids = [object_id(model, kind, n, where) for n in name.split(",")]
        if width == 0:
            dof = base in _DOF_ARRAYS
            adr = model.jnt_dofadr if dof else model.jnt_qposadr
            sizes = {0: (7, 6), 1: (4, 3)}  # free, ball; slide and hinge are (1, 1)
            widths = [sizes.get(int(model.jnt_type[i]), (1, 1))[1 if dof else 0] for i in ids]
            parts = [np.arange(adr[i], adr[i] + w) for i, w in zip(ids, widths, strict=True)]
        else:
            parts = [np.arange(i * width, (i + 1) * width) for i in ids]
        idx = np.concatenate(parts)
    if index is None:
        return ArraySource(attr, idx, scalar=idx.size == 1)
    try:
        picked = np.atleast_1d(idx[index])
    except IndexError:
        raise ConfigError(
            f"source '{text}': index {index} is out of range for size {len(idx)}"
        ) from None
    if picked.size == 0:
        raise ConfigError(f"source '{text}': the index selects nothing")
    return ArraySource(attr, picked, scalar=isinstance(index, int))


def _array_size(model: Any, attr: str) -> int:
    per = {
        "qpos": model.nq,
        "qvel": model.nv,
        "qfrc_actuator": model.nv,
        "qfrc_constraint": model.nv,
    }
    if attr in per:
        return int(per[attr])
    count = {"site_xpos": model.nsite, "geom_xpos": model.ngeom}.get(attr, model.nbody)
    width = {
        "xpos": 3,
        "xquat": 4,
        "xmat": 9,
        "cfrc_ext": 6,
        "cinert": 10,
        "cvel": 6,
        "site_xpos": 3,
        "geom_xpos": 3,
    }[attr]
    return int(count) * width


def model_names(model: Any, kind: str) -> list[str]:
    """Non-empty names of one kind ('body', 'joint', 'geom', 'site', 'actuator') in a model."""
    import mujoco

    obj = getattr(mujoco.mjtObj, f"mjOBJ_{kind.upper()}")
    count = {
        "body": model.nbody,
        "joint": model.njnt,
        "geom": model.ngeom,
        "site": model.nsite,
        "actuator": model.nu,
    }[kind]
    names = (mujoco.mj_id2name(model, obj, i) for i in range(count))
    return [n for n in names if n and n != "world"]
