"""The schema's state fields and `simulation` terms, compiled once for the batched env.

- `CompiledState`: the named `state` the reward sees (same names, shapes, units as on CPU),
  one flat (W, F) tensor per read plus its `StateLayout`; `fdvel:` fields keep the previous
  reading per world.
- `CompiledObservation`: the policy observation, concatenated named terms.
- `CompiledTerminations`: one boolean column per named term (True: the episode ends).
- `CompiledReset`: draws the initial `qpos`/`qvel` of the worlds that start an episode.
- `CompiledReward`: the env's own reward, one column per named term (their sum is the reward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autoreward.envs.mjindex import array_source
from autoreward.envs.recipes import parse_recipe
from autoreward.envs.schema import (
    ObservationTerm,
    ResetTerm,
    RewardTerm,
    StateField,
    TerminationTerm,
)
from autoreward.envs.warp.gather import BatchArrays, Gather, compile_gather
from autoreward.errors import ConfigError


@dataclass(frozen=True)
class StateLayout:
    """Where each named field lives in the flat (W, F) state: columns and per-world shape."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    width: int

    def split(self, flat: Any) -> dict[str, Any]:
        """Named views (numpy or torch) of a flat (W, F) array: (W,) for scalars, (W, *shape)."""
        out = {}
        n = flat.shape[0]
        for name, shape, start in zip(self.names, self.shapes, self.offsets, strict=True):
            size = math.prod(shape)
            col = flat[:, start : start + size]
            out[name] = col.reshape(n) if not shape else col.reshape(n, *shape)
        return out


class CompiledState:
    """The schema's fields as gathers; `step` and `start` apply the finite differences."""

    def __init__(self, model: Any, fields: list[StateField], dt: float, where: str) -> None:
        self._gathers: list[Gather] = []
        fd_cols: list[np.ndarray] = []
        shapes, offsets, offset = [], [], 0
        for f in fields:
            here = f"{where}: field '{f.name}' (source '{f.source}')"
            gather, fd, natural = compile_gather(model, f.source, here)
            shape = tuple(f.shape)
            size = math.prod(shape)
            if natural != shape and not (len(shape) >= 2 and math.prod(natural) == size):
                raise ConfigError(
                    f"{where}: state field '{f.name}' declares shape {list(shape)} but its source "
                    f"gives shape {list(natural)}",
                    hint="fix 'shape' (or the index in 'source') in the schema YAML",
                )
            self._gathers.append(gather)
            if fd:
                fd_cols.append(np.arange(offset, offset + size))
            shapes.append(shape)
            offsets.append(offset)
            offset += size
        self.layout = StateLayout(
            tuple(f.name for f in fields), tuple(shapes), tuple(offsets), offset
        )
        self.dt = dt
        self._fd = np.concatenate(fd_cols) if fd_cols else np.zeros(0, dtype=np.int64)
        self._fd_t: torch.Tensor | None = None
        self._prev: torch.Tensor | None = None

    def read(self, view: BatchArrays, cache: dict[str, Any]) -> torch.Tensor:
        """The raw readings, (W, F): `fdvel:` columns still hold positions."""
        return torch.cat([g(view, cache).reshape(view.nworld, -1) for g in self._gathers], dim=1)

    def step(self, raw: torch.Tensor) -> torch.Tensor:
        """The state after a step: `fdvel:` columns become (now - previous) / dt."""
        if not self._fd.size:
            return raw
        fd = self._fd_columns(raw.device)
        now = raw[:, fd]
        prev = self._prev if self._prev is not None else now
        out = raw.clone()
        out[:, fd] = (now - prev) / self.dt
        self._prev = now
        return out

    def start(self, raw: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The state at an episode start (worlds in `mask`, or all): velocities are 0 and the
        finite differences restart from here. Rows outside `mask` are returned unchanged."""
        if not self._fd.size:
            return raw
        fd = self._fd_columns(raw.device)
        now = raw[:, fd]
        if self._prev is None or mask is None:
            self._prev = now.clone()
        else:
            self._prev = torch.where(mask[:, None], now, self._prev)
        out = raw.clone()
        out[:, fd] = 0.0
        return out

    def fd_mask(self, device: torch.device) -> torch.Tensor:
        """(F,) bool: the columns of `fdvel:` fields."""
        mask = torch.zeros(self.layout.width, dtype=torch.bool, device=device)
        mask[self._fd_columns(device)] = True
        return mask

    def _fd_columns(self, device: torch.device) -> torch.Tensor:
        if self._fd_t is None or self._fd_t.device != device:
            self._fd_t = torch.as_tensor(self._fd, device=device)
        return self._fd_t


_FUNCTIONS = {"identity": lambda x: x, "sin": torch.sin, "cos": torch.cos}


class CompiledObservation:
    """The policy observation: each term is `clip(fn(source - minus))`, flattened, in order."""

    def __init__(self, model: Any, terms: list[ObservationTerm], where: str) -> None:
        self._terms: list[tuple[Gather, Gather | None, Any, tuple[float, float] | None]] = []
        self.slices: dict[str, slice] = {}
        offset = 0
        for t in terms:
            here = f"{where}: observation term '{t.name}'"
            gather, width = _plain(model, t.source, here)
            minus = None
            if t.minus is not None:
                minus, other = _plain(model, t.minus, here)
                if other != width:
                    raise ConfigError(
                        f"{here}: 'source' gives {width} values but 'minus' gives {other}"
                    )
            self._terms.append((gather, minus, _FUNCTIONS[t.fn], t.clip))
            self.slices[t.name] = slice(offset, offset + width)
            offset += width
        self.size = offset

    def read(self, view: BatchArrays, cache: dict[str, Any]) -> torch.Tensor:
        parts = []
        for gather, minus, fn, clip in self._terms:
            x = gather(view, cache).reshape(view.nworld, -1)
            if minus is not None:
                x = x - minus(view, cache).reshape(view.nworld, -1)
            x = fn(x)
            if clip is not None:
                x = x.clamp(clip[0], clip[1])
            parts.append(x)
        return torch.cat(parts, dim=1)


class CompiledTerminations:
    """(W, T) booleans, one column per named term: True where that term ends the episode."""

    def __init__(self, model: Any, terms: list[TerminationTerm], where: str) -> None:
        self.names = [t.name for t in terms]
        self._terms = []
        for t in terms:
            here = f"{where}: termination '{t.name}'"
            gathers = [_plain(model, s, here)[0] for s in t.sources]
            self._terms.append((gathers, t.healthy_range, t.closed))

    def read(self, view: BatchArrays, cache: dict[str, Any]) -> torch.Tensor:
        if not self._terms:
            return torch.zeros((view.nworld, 0), dtype=torch.bool, device=view.device)
        cols = []
        for gathers, (low, high), closed in self._terms:
            v = torch.cat([g(view, cache).reshape(view.nworld, -1) for g in gathers], dim=1)
            healthy = (v >= low) & (v <= high) if closed else (v > low) & (v < high)
            cols.append(~healthy.all(dim=1))  # NaN compares False: never healthy
        return torch.stack(cols, dim=1)


class CompiledReset:
    """Draws episode-start `qpos` (W, nq) and `qvel` (W, nv): the model's initial values (qpos0,
    zero velocity), then each named term in order."""

    def __init__(self, model: Any, terms: list[ResetTerm], where: str) -> None:
        self.qpos0 = np.asarray(model.qpos0, dtype=np.float64).copy()
        self.nv = int(model.nv)
        self._terms: list[tuple[ResetTerm, str, np.ndarray]] = []
        for t in terms:
            r = parse_recipe(t.target)
            here = f"{where}: reset term '{t.name}' (target '{t.target}')"
            if r.fdvel:
                raise ConfigError(f"{here}: a reset target cannot be 'fdvel:'")
            src = array_source(model, r.base, r.name, r.index, r.text, here)
            if t.distribution == "disc" and src.index.size != 2:
                raise ConfigError(
                    f"{here}: a 'disc' draw needs exactly 2 coordinates, the target has "
                    f"{src.index.size}"
                )
            self._terms.append((t, r.base, src.index))

    def sample(
        self, nworld: int, generator: torch.Generator, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        kw: dict[str, Any] = {"generator": generator, "device": device, "dtype": torch.float32}
        qpos = torch.as_tensor(self.qpos0, dtype=torch.float32, device=device).repeat(nworld, 1)
        qvel = torch.zeros((nworld, self.nv), dtype=torch.float32, device=device)
        for t, base, index in self._terms:
            target = qpos if base == "qpos" else qvel
            idx = torch.as_tensor(index, device=device)
            shape = (nworld, int(index.size))
            if t.distribution == "uniform":
                draw = t.low + (t.high - t.low) * torch.rand(shape, **kw)  # type: ignore[operator]
            elif t.distribution == "normal":
                draw = t.std * torch.randn(shape, **kw)  # type: ignore[operator]
            elif t.distribution == "disc":
                u = torch.rand((nworld, 2), **kw)
                radius = t.radius * torch.sqrt(u[:, 0])  # type: ignore[operator]
                angle = 2 * math.pi * u[:, 1]
                draw = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
            else:
                draw = torch.full(shape, float(t.value), dtype=torch.float32, device=device)  # type: ignore[arg-type]
            if t.operation == "add":
                draw = target[:, idx] + draw
            target[:, idx] = draw
        return qpos, qvel


_REWARD_FUNCTIONS = {"identity": lambda x: x, "square": torch.square, "abs": torch.abs}


class CompiledReward:
    """(W, K) values, one column per named term: `weight * sum(fn(clip(source)))` after a step.
    Sources: `state:NAME` (columns of the flat next state), `action`, `healthy`, a recipe."""

    def __init__(
        self, model: Any, terms: list[RewardTerm], layout: StateLayout, where: str
    ) -> None:
        self.names = [t.name for t in terms]
        self._terms: list[tuple[Any, float, Any, tuple[float, float] | None]] = []
        columns = dict(zip(layout.names, zip(layout.offsets, layout.shapes, strict=True),
                           strict=True))  # fmt: skip
        for t in terms:
            here = f"{where}: reward term '{t.name}'"
            source: Any
            if t.source in ("action", "healthy"):
                source = t.source
            elif t.source.startswith("state:"):
                name = t.source[len("state:") :]
                if name not in columns:
                    raise ConfigError(f"{here}: the schema has no state field '{name}'")
                start, shape = columns[name]
                source = slice(start, start + math.prod(shape))
            else:
                source = _plain(model, t.source, here)[0]
            self._terms.append((source, t.weight, _REWARD_FUNCTIONS[t.fn], t.clip))

    def read(
        self,
        view: BatchArrays,
        cache: dict[str, Any],
        next_state: torch.Tensor,
        actions: torch.Tensor,
        terminated: torch.Tensor,
    ) -> torch.Tensor:
        if not self._terms:
            return torch.zeros((view.nworld, 0), device=view.device)
        cols = []
        for source, weight, fn, clip in self._terms:
            if source == "action":
                x = actions
            elif source == "healthy":
                x = (~terminated).float()[:, None]
            elif isinstance(source, slice):
                x = next_state[:, source]
            else:
                x = source(view, cache).reshape(view.nworld, -1)
            if clip is not None:
                x = x.clamp(clip[0], clip[1])
            cols.append(weight * fn(x).sum(dim=1))
        return torch.stack(cols, dim=1)


def _plain(model: Any, text: str, where: str) -> tuple[Gather, int]:
    """A recipe read as it is now (no `fdvel:`): its gather and number of values per world."""
    gather, fd, natural = compile_gather(model, text, f"{where} (source '{text}')")
    if fd:
        raise ConfigError(
            f"{where}: 'fdvel:' needs the previous step and is only allowed in state fields"
        )
    return gather, math.prod(natural)
