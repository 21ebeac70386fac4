"""Recipes compiled to index gathers over batched MuJoCo arrays (leading dimension: worlds).

The same recipe strings as the CPU extractor (`autoreward.envs.recipes`), resolved by the same
code (`autoreward.envs.mjindex`), read from torch views of MuJoCo Warp's `Data` instead of one
`MjData`. Anything that offers the `BatchArrays` interface can be read: the warp env's views, or
a stack of CPU `MjData` (`MjDataStack`, used to check the gathers against the CPU extractor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from autoreward.envs.mjindex import ARRAYS, array_source
from autoreward.envs.recipes import Recipe, contact_geoms, parse_recipe
from autoreward.errors import ConfigError

Gather = Callable[["BatchArrays", dict[str, Any]], torch.Tensor]
"""Reads one recipe for every world: (W, k) tensor. The dict caches values shared in one read."""


@dataclass
class Contacts:
    """Active contacts of all worlds, in one flat table (MuJoCo Warp's layout)."""

    geom1: torch.Tensor  # (C,) long
    geom2: torch.Tensor  # (C,) long
    world: torch.Tensor  # (C,) long, clamped into [0, W)
    valid: torch.Tensor  # (C,) bool: a real contact (not an unused slot)


class BatchArrays(Protocol):
    """Batched MuJoCo data as torch tensors; `array(name)` is `(W, flat)` of an MjData field."""

    nworld: int
    device: torch.device
    body_mass: torch.Tensor  # (nbody,)

    def array(self, name: str) -> torch.Tensor: ...

    def contacts(self) -> Contacts: ...

    def contact_normal_forces(self) -> torch.Tensor: ...  # (C,), same order as contacts()


UNSUPPORTED = {
    "obs": "the observation is the env's output here, not a source; read the MuJoCo arrays",
    "attr": "there is no gymnasium env object to read attributes from",
    "reward": "the batched env has no built-in reward",
}


def compile_gather(model: Any, text: str, where: str) -> tuple[Gather, bool, tuple[int, ...]]:
    """Compile one recipe: (gather, is fdvel, per-world shape as the CPU extractor gives it:
    () for a scalar, (k,) otherwise). Errors name `where`."""
    r = parse_recipe(text)
    if r.base in UNSUPPORTED:
        raise ConfigError(
            f"{where}: source '{text}' cannot be read by the MuJoCo Warp backend: "
            f"{UNSUPPORTED[r.base]}",
            hint="use MuJoCo sources (qpos:, xpos:, site:, contact:, ...) in the schema",
        )
    if r.base == "com":
        gather, width = _indexed(_com(model), 3, r, text)
        scalar = isinstance(r.index, int)
    elif r.base in ("contact", "contact_force"):
        geoms, other = contact_geoms(model, r, where)
        gather = _contact(geoms, other, force=r.base == "contact_force")
        gather, width = _indexed(gather, len(geoms), r, text)
        scalar = isinstance(r.index, int) or (r.index is None and len(geoms) == 1)
    else:
        src = array_source(model, r.base, r.name, r.index, r.text, where)
        gather, width = _array(src.array, src.index, src.contiguous), int(src.index.size)
        scalar = src.scalar
    return gather, r.fdvel, () if scalar else (width,)


def _array(name: str, index: np.ndarray, contiguous: slice | None) -> Gather:
    if contiguous is not None:
        sl = contiguous
        return lambda view, _cache: view.array(name)[:, sl]
    cached: dict[torch.device, torch.Tensor] = {}

    def read(view: BatchArrays, _cache: dict[str, Any]) -> torch.Tensor:
        idx = cached.get(view.device)
        if idx is None:
            idx = cached[view.device] = torch.as_tensor(index, device=view.device)
        return view.array(name).index_select(1, idx)

    return read


def _indexed(gather: Gather, width: int, r: Recipe, text: str) -> tuple[Gather, int]:
    """Apply the recipe's `[index]` to a gather of `width` values (com, contact)."""
    if r.index is None:
        return gather, width
    picked = np.arange(width)
    try:
        picked = np.atleast_1d(picked[r.index])
    except IndexError:
        raise ConfigError(
            f"source '{text}': index {r.index} is out of range for size {width}"
        ) from None
    if picked.size == 0:
        raise ConfigError(f"source '{text}': the index selects nothing")
    cols = picked.tolist()
    return (lambda view, cache: gather(view, cache)[:, cols]), len(cols)


def _com(model: Any) -> Gather:
    """Whole-model centre of mass: mass-weighted body inertial positions (gymnasium's formula)."""
    total = float(np.sum(model.body_mass))

    def read(view: BatchArrays, cache: dict[str, Any]) -> torch.Tensor:
        if "com" not in cache:
            xipos = view.array("xipos").reshape(view.nworld, -1, 3)
            mass = view.body_mass.to(xipos.dtype).reshape(1, -1, 1)
            cache["com"] = (mass * xipos).sum(dim=1) / total
        return cache["com"]

    return read


def _contact(geoms: list[int], other: int | None, force: bool) -> Gather:
    """Per geom in `geoms`: 1.0 while touching (anything, or `other`), or the summed normal force."""
    key = f"contact:{force}:{geoms}:{other}"
    ids: dict[torch.device, torch.Tensor] = {}

    def read(view: BatchArrays, cache: dict[str, Any]) -> torch.Tensor:
        if key in cache:
            return cache[key]
        if "contacts" not in cache:
            cache["contacts"] = view.contacts()
        c: Contacts = cache["contacts"]
        g = ids.get(view.device)
        if g is None:
            g = ids[view.device] = torch.as_tensor(geoms, device=view.device)
        g1, g2 = c.geom1[:, None], c.geom2[:, None]
        if other is None:
            match = (g1 == g) | (g2 == g)
        else:
            match = ((g1 == g) & (g2 == other)) | ((g2 == g) & (g1 == other))
        match = match & c.valid[:, None]
        if force:
            if "normal_force" not in cache:
                cache["normal_force"] = view.contact_normal_forces()
            values = match.to(cache["normal_force"].dtype) * cache["normal_force"][:, None]
        else:
            values = match.to(torch.float32)
        out = torch.zeros((view.nworld, len(geoms)), dtype=values.dtype, device=view.device)
        out.index_add_(0, c.world, values)
        if not force:
            out = (out > 0).to(values.dtype)
        cache[key] = out
        return out

    return read


def needs_arrays(model: Any, recipes: list[str]) -> set[str]:
    """MjData arrays the recipes read ('contacts' and 'contact_forces' for contact sources)."""
    names: set[str] = set()
    for text in recipes:
        r = parse_recipe(text)
        if r.base in ARRAYS:
            names.add(ARRAYS[r.base][0])
        elif r.base == "com":
            names.add("xipos")
        elif r.base == "contact":
            names.add("contacts")
        elif r.base == "contact_force":
            names |= {"contacts", "contact_forces"}
    return names


class MjDataStack:
    """`BatchArrays` over a list of CPU `MjData` (float64 copies): the reference the warp env's
    gathers are checked against, and a way to run the compiled recipes without MuJoCo Warp."""

    def __init__(self, model: Any, datas: list[Any]) -> None:
        self.model = model
        self.datas = datas
        self.nworld = len(datas)
        self.device = torch.device("cpu")
        self.body_mass = torch.as_tensor(model.body_mass)

    def array(self, name: str) -> torch.Tensor:
        return torch.as_tensor(
            np.stack([np.asarray(getattr(d, name)).reshape(-1) for d in self.datas])
        )

    def contacts(self) -> Contacts:
        rows = [
            (int(c.geom1), int(c.geom2), w) for w, d in enumerate(self.datas) for c in d.contact
        ]
        t = torch.as_tensor(np.array(rows, dtype=np.int64).reshape(-1, 3))
        return Contacts(t[:, 0], t[:, 1], t[:, 2], torch.ones(len(rows), dtype=torch.bool))

    def contact_normal_forces(self) -> torch.Tensor:
        import mujoco

        out, buf = [], np.zeros(6)
        for d in self.datas:
            for k in range(d.ncon):
                mujoco.mj_contactForce(self.model, d, k, buf)
                out.append(float(buf[0]))
        return torch.as_tensor(np.array(out, dtype=np.float64))
