"""Zero-copy torch views of MuJoCo Warp's batched `Data` (the `BatchArrays` the gathers read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from autoreward.envs.warp.gather import Contacts

_CONSTRAINT = 1  # mjw.ContactType.CONSTRAINT: a contact of the physics (not a collision sensor)


class WarpArrays:
    """`array(name)` is a (W, flat) torch view of `Data.<name>`; contacts come from the flat
    contact table (all worlds), valid up to `nacon`; normal forces via `mjw.contact_force`."""

    def __init__(
        self,
        wp: Any,
        mjw: Any,
        m: Any,
        d: Any,
        mjm: Any,
        device: torch.device,
        launch: Callable[[str, Callable[[], None]], None],
    ) -> None:
        self._wp, self._mjw, self._m, self._d = wp, mjw, m, d
        self._launch = launch  # runs a named warp program (its graph when captured), in order
        self.nworld = int(d.nworld)
        self.device = device
        self.body_mass = torch.as_tensor(
            np.asarray(mjm.body_mass), dtype=torch.float32, device=device
        )
        self._views: dict[str, torch.Tensor] = {}
        n = int(d.naconmax)
        self._slots = torch.arange(n, device=device)
        self._ids = wp.array(np.arange(n, dtype=np.int32), dtype=wp.int32, device=d.qpos.device)
        self._force = wp.zeros(n, dtype=wp.spatial_vector, device=d.qpos.device)
        self._force_t = wp.to_torch(self._force)
        c = d.contact
        self._geom, self._world = wp.to_torch(c.geom), wp.to_torch(c.worldid)
        self._type, self._nacon = wp.to_torch(c.type), wp.to_torch(d.nacon)

    def array(self, name: str) -> torch.Tensor:
        view = self._views.get(name)
        if view is None:
            view = self._wp.to_torch(getattr(self._d, name)).reshape(self.nworld, -1)
            self._views[name] = view
        return view

    def contacts(self) -> Contacts:
        valid = (self._slots < self._nacon[0]) & ((self._type & _CONSTRAINT) != 0)
        geom = self._geom.long()
        world = self._world.long().clamp(0, self.nworld - 1)
        return Contacts(geom[:, 0], geom[:, 1], world, valid)

    def contact_normal_forces(self) -> torch.Tensor:
        """Normal force of every contact slot (contact frame, first component), like
        `mj_contactForce`; needs the constraint forces of the last step."""
        self._launch("contact_forces", self.compute_contact_forces)
        return self._force_t[:, 0]

    def compute_contact_forces(self) -> None:
        self._mjw.contact_force(self._m, self._d, self._ids, False, self._force)
