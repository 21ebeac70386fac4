"""MuJoCo Warp's compiled kernels, shared by training containers that may only read them.

Warp compiles every kernel on first use (tens of seconds per model on the CPU device, ~30 s on
a GPU) into its cache (`WARP_CACHE_PATH`). A training container's HOME is a private throw-away
folder, so each job would compile again; and a cache a job could write would let reward code
plant machine code that later jobs load and run. So the cache lives outside every container
(`cache_root()`: `$AUTOREWARD_WARP_CACHE`, default `~/.cache/autoreward/warp`) and is filled by a
trusted step that runs no reward code: before the first warp job of a schema and device,
`ensure_kernels` runs `warm_job` (build the schema's batched env, step it once: every kernel the
training uses compiles) in a container whose only writable folder is `kernels/`. Training
containers then get `kernels/` bound read-only, with `WARP_CACHE_PATH` pointing at it.

The kernels depend on the model, the schema's sources (e.g. whether contact forces are read),
the device kind and the library versions, not on the number of worlds (measured: the same 42
modules serve 8 and 4096 Hopper worlds), so one warm-up per (`cache_key`) serves every job.
A marker per key (`warmed/<key>.json`, written by the parent) says it is done.

Only where the job cannot write the cache is it shared (`shareable`: a container binds it
read-only; a job running as another uid cannot write a folder it does not own). Elsewhere (the
weak sandbox modes, same uid and no container) nothing is shared: each job compiles privately.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoreward.envs.schema import EnvSchema
from autoreward.store.atomic import atomic_write_json, read_json

if TYPE_CHECKING:
    from autoreward.sandbox.worker import Limits

ENV_VAR = "AUTOREWARD_WARP_CACHE"
WARP_ENV = "WARP_CACHE_PATH"
WARM_TARGET = "autoreward.envs.warp.cache:warm_job"
KERNELS, MARKERS = "kernels", "warmed"


@dataclass(frozen=True)
class KernelCache:
    """What a training container gets: `path` bound read-only and `env` set, or nothing
    (`path` None) with the reason (`note`) when the cache cannot be shared safely here."""

    path: Path | None
    env: dict[str, str]
    note: str = ""
    warm_up_s: float = 0.0


def cache_root() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "autoreward" / "warp")


def cache_key(schema: EnvSchema, device: str) -> str:
    """What the compiled kernels depend on: the schema's simulation and sources, the model
    file's contents, the device kind and the library versions."""
    from autoreward.envs.warp.model import model_path, require_simulation

    spec = require_simulation(schema)
    versions = {name: _version(name) for name in ("warp-lang", "mujoco-warp", "mujoco")}
    doc = {
        "simulation": spec.model_dump(mode="json", exclude={"train", "notes"}),
        "fields": [f.source for f in schema.fields],
        "model": hashlib.sha256(model_path(spec, schema.env_id).read_bytes()).hexdigest(),
        "device": "cuda" if device.startswith("cuda") else "cpu",
        "versions": versions,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]


def shareable() -> tuple[bool, str]:
    """Whether a training job here cannot write a cache bound into it (and why not)."""
    from autoreward.sandbox.worker import isolation

    mode = isolation()
    if mode.private_filesystem or mode.runs_as_nobody:
        return True, ""
    return False, (
        f"sandbox mode '{mode.name}' runs jobs as your user without a container, so a job could "
        "write a shared kernel cache: each warp job compiles its kernels privately (install "
        "bubblewrap for a shared read-only cache)"
    )


def ensure_kernels(schema: EnvSchema, device: str, limits: Limits) -> KernelCache:
    """The shared cache with this schema's kernels compiled (warming it first when needed);
    never raises: a failed warm-up leaves the job to compile privately, with the reason."""
    ok, why = shareable()
    if not ok:
        return KernelCache(None, {}, why)
    root = cache_root()
    kernels, marker = root / KERNELS, root / MARKERS / f"{cache_key(schema, device)}.json"
    kernels.mkdir(parents=True, exist_ok=True)
    marker.parent.mkdir(parents=True, exist_ok=True)
    env = {WARP_ENV: str(kernels)}
    started = time.time()
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one warm-up at a time; the others then find it done
        if read_json(marker) is None:
            failure = _warm(schema, device, limits, kernels, env)
            if failure is not None:
                return KernelCache(None, {}, f"kernel warm-up failed: {failure}")
            atomic_write_json(marker, {"env_id": schema.env_id, "device": device, "t": time.time()})
    return KernelCache(kernels, env, warm_up_s=time.time() - started)


def _warm(
    schema: EnvSchema, device: str, limits: Limits, kernels: Path, env: dict[str, str]
) -> str | None:
    from autoreward.sandbox.worker import run_isolated

    payload = {"schema": schema.model_dump(mode="json"), "device": device}
    warm_limits = limits.model_copy(update={"reward_call_seconds": 0.0, "wall_seconds": 1800.0})
    try:
        res = run_isolated(WARM_TARGET, payload, warm_limits, workdir=kernels, env=env)
    except Exception as err:  # the sandbox could not start
        return f"{type(err).__name__}: {err}"
    return None if res.ok else f"{res.status}: {res.reason}"


def warm_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker target (no reward code): compile every kernel a training job of this schema uses,
    by building its batched env and stepping it once, into `WARP_CACHE_PATH`."""
    import torch

    from autoreward.envs.warp.env import BatchedMujocoEnv

    schema = EnvSchema.model_validate(payload["schema"])
    env = BatchedMujocoEnv(schema, 2, device=str(payload.get("device", "cpu")))
    env.step(torch.zeros(env.num_envs, env.num_actions, device=env.device))
    env.check_overflow()
    env.close()
    return {"compile_seconds": env.compile_seconds, "device": str(env.device)}


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"
