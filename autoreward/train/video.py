"""One evaluation episode rendered headless to an mp4 (imageio + ffmpeg).

MuJoCo renders through the backend in `MUJOCO_GL` (EGL by default, set before MuJoCo is
imported). The OpenGL platform is fixed per process, so when the in-process attempt fails
the episode is re-rendered in a fresh Python process with `MUJOCO_GL=osmesa`. Where nothing
renders, the result says why and training carries on.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from autoreward.envs.extract import make_env
from autoreward.envs.schema import EnvSchema

FALLBACK_BACKEND = "osmesa"
DEFAULT_MAX_FRAMES = 250


class VideoResult(BaseModel):
    ok: bool
    path: str | None = None
    frames: int = 0
    backend: str | None = None
    reason: str | None = None

    @property
    def status(self) -> str:
        return (
            f"ok ({self.frames} frames, {self.backend})" if self.ok else f"no video: {self.reason}"
        )


def render_episode(
    model: Any,
    schema: EnvSchema,
    path: str | Path,
    seed: int,
    obs_normalizer: Any | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> VideoResult:
    """Roll out one deterministic episode with rgb_array rendering and write it to `path`.

    At most about `max_frames` frames: every k-th step is rendered (k from the schema's
    episode length) and the frame rate divided by k, so the video keeps real time. Software
    OpenGL renders a MuJoCo frame in ~0.1-0.2 s, so this bounds the cost of a video."""
    import imageio.v2 as imageio

    path = Path(path)
    backend = os.environ.get("MUJOCO_GL") if _is_mujoco(schema) else "rgb_array"
    try:
        env = make_env(schema, render_mode="rgb_array", seed=seed)
    except Exception as err:  # a renderer that cannot even be created
        return VideoResult(ok=False, backend=backend, reason=f"{type(err).__name__}: {err}")
    frames = 0
    length = schema.episode_length or 1000  # no time limit: assume a long episode
    stride = max(1, math.ceil(length / max(1, max_frames)))
    try:
        rate = max(1, round(float(env.metadata.get("render_fps") or 30) / stride))
        obs, _ = env.reset(seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        with imageio.get_writer(
            tmp, fps=rate, codec="libx264", quality=7, macro_block_size=1
        ) as writer:

            def grab() -> None:
                frame = env.render()
                if frame is None:
                    raise RuntimeError("env.render() returned None in rgb_array mode")
                writer.append_data(np.asarray(frame))  # type: ignore[attr-defined]

            done, t = False, 0
            while not done:
                if t % stride == 0:
                    grab()
                    frames += 1
                batch = _one(obs)
                if obs_normalizer is not None:
                    batch = obs_normalizer.normalize_obs(batch)
                action, _ = model.predict(batch, deterministic=schema.train.deterministic_eval)
                obs, _, terminated, truncated, _ = env.step(action[0])
                done, t = terminated or truncated, t + 1
            grab()  # the final state
            frames += 1
        tmp.replace(path)
    except Exception as err:
        return VideoResult(
            ok=False, backend=backend, frames=frames, reason=f"{type(err).__name__}: {err}"
        )
    finally:
        env.close()
    return VideoResult(ok=True, path=str(path), frames=frames, backend=backend)


def record_video(
    model: Any,
    schema: EnvSchema,
    path: str | Path,
    seed: int,
    obs_normalizer: Any | None = None,
    policy: tuple[Any, str | Path] | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> VideoResult:
    """Render in this process; for MuJoCo envs fall back to OSMesa in a fresh process, which
    rebuilds the policy from `policy` = (its `TrainJob`, its pickle-free weights file).

    Never raises: a failure comes back as `VideoResult(ok=False, reason=...)` with a warning.
    """
    result = render_episode(model, schema, path, seed, obs_normalizer, max_frames)
    if result.ok:
        return result
    first = result.reason
    if (
        policy is not None
        and _is_mujoco(schema)
        and os.environ.get("MUJOCO_GL") != FALLBACK_BACKEND
    ):
        result = _render_in_subprocess(policy, schema, path, seed, FALLBACK_BACKEND, max_frames)
        if result.ok:
            return result
        result.reason = (
            f"{os.environ.get('MUJOCO_GL')}: {first}; {FALLBACK_BACKEND}: {result.reason}"
        )
    warnings.warn(f"no video for {schema.env_id}: {result.reason}", RuntimeWarning, stacklevel=2)
    return result


def _is_mujoco(schema: EnvSchema) -> bool:
    from autoreward.envs.recipes import MUJOCO_BASES

    if any(
        f.source.removeprefix("fdvel:").split(":")[0].split("[")[0] in MUJOCO_BASES
        for f in schema.fields
    ):
        return True
    try:
        import gymnasium as gym

        entry = str(gym.spec(schema.env_id).entry_point)
    except Exception:
        return False
    return "mujoco" in entry


def _render_in_subprocess(
    policy: tuple[Any, str | Path],
    schema: EnvSchema,
    path: str | Path,
    seed: int,
    backend: str,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> VideoResult:
    job, weights = policy
    request = {
        "job": job.model_dump(mode="json"),
        "weights": str(weights),
        "schema": schema.model_dump(mode="json"),
        "path": str(path),
        "seed": seed,
        "max_frames": max_frames,
    }
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "autoreward.train.video"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as err:
        return VideoResult(
            ok=False, backend=backend, reason=f"could not start a render process: {err}"
        )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return VideoResult(ok=False, backend=backend, reason=tail[0])
    return VideoResult.model_validate_json(lines[-1])


def _one(obs: Any) -> Any:
    """A batch of one observation (a Dict observation batches per key)."""
    if isinstance(obs, dict):
        return {key: np.asarray(value)[None] for key, value in obs.items()}
    return np.asarray(obs)[None]


def _main() -> None:
    """`python -m autoreward.train.video` < request JSON: render in this fresh process."""
    from autoreward.train.job import TrainJob
    from autoreward.train.policies import load_policy

    request = json.loads(sys.stdin.read())
    schema = EnvSchema.model_validate(request["schema"])
    job = TrainJob.model_validate(request["job"])
    model, normalizer = load_policy(job, schema, Path(request["weights"]))
    result = render_episode(
        model, schema, request["path"], request["seed"], normalizer, request["max_frames"]
    )
    print(result.model_dump_json())


if __name__ == "__main__":
    _main()
