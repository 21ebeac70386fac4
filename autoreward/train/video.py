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
    stride = max(1, math.ceil(schema.episode_length / max(1, max_frames)))
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
                batch = (
                    obs_normalizer.normalize_obs(obs[None])
                    if obs_normalizer is not None
                    else obs[None]
                )
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
    algo: str,
    model_path: str | Path,
    schema: EnvSchema,
    path: str | Path,
    seed: int,
    obs_normalizer: Any | None = None,
    normalizer_path: str | Path | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> VideoResult:
    """Render in this process; for MuJoCo envs fall back to OSMesa in a fresh process (which
    loads the saved model from `model_path` and the normaliser from `normalizer_path`).

    Never raises: a failure comes back as `VideoResult(ok=False, reason=...)` with a warning.
    """
    result = render_episode(model, schema, path, seed, obs_normalizer, max_frames)
    if result.ok:
        return result
    first = result.reason
    if _is_mujoco(schema) and os.environ.get("MUJOCO_GL") != FALLBACK_BACKEND:
        result = _render_in_subprocess(
            algo, model_path, schema, path, seed, normalizer_path, FALLBACK_BACKEND, max_frames
        )
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
    algo: str,
    model_path: str | Path,
    schema: EnvSchema,
    path: str | Path,
    seed: int,
    normalizer_path: str | Path | None,
    backend: str,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> VideoResult:
    request = {
        "algo": algo,
        "model_path": str(model_path),
        "schema": schema.model_dump(mode="json"),
        "path": str(path),
        "seed": seed,
        "normalizer_path": None if normalizer_path is None else str(normalizer_path),
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


def _main() -> None:
    """`python -m autoreward.train.video` < request JSON: render in this fresh process."""
    from autoreward.train.hyperparams import algo_class

    request = json.loads(sys.stdin.read())
    schema = EnvSchema.model_validate(request["schema"])
    model = algo_class(request["algo"]).load(request["model_path"], device="cpu")
    normalizer = None
    if request.get("normalizer_path"):
        import pickle

        with open(request["normalizer_path"], "rb") as fh:
            normalizer = pickle.load(fh)
    result = render_episode(
        model, schema, request["path"], request["seed"], normalizer, request["max_frames"]
    )
    print(result.model_dump_json())


if __name__ == "__main__":
    _main()
