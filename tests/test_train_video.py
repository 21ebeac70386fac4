"""Headless evaluation videos: produced for CartPole, a clear failure where rendering fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np
import pytest

from autoreward.envs.registry import load_schema
from autoreward.train import video as video_module
from autoreward.train.video import record_video, render_episode


class LeanPolicy:
    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64), None


def test_cartpole_video_is_written(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    result = render_episode(LeanPolicy(), load_schema("CartPole-v1"), path, seed=0, max_frames=50)
    assert result.ok, result.reason
    # every 10th of the (up to) 500 steps, plus the final state
    assert 2 <= result.frames <= 51 and result.backend == "rgb_array"
    reader = imageio.get_reader(path)
    try:
        frame = reader.get_data(0)
        assert frame.ndim == 3 and frame.shape[2] == 3
        assert reader.count_frames() == result.frames
        assert reader.get_meta_data()["fps"] == 5  # 50 fps / 10: still real time
    finally:
        reader.close()


def test_no_renderer_is_a_warning_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_make_env(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no OpenGL context")

    monkeypatch.setattr(video_module, "make_env", broken_make_env)
    with pytest.warns(
        RuntimeWarning, match="no video for CartPole-v1: RuntimeError: no OpenGL context"
    ):
        result = record_video(LeanPolicy(), load_schema("CartPole-v1"), tmp_path / "v.mp4", seed=0)
    assert not result.ok and not (tmp_path / "v.mp4").exists()
    assert result.status == "no video: RuntimeError: no OpenGL context"


def test_fallback_renders_in_a_fresh_process(tmp_path: Path) -> None:
    """The fallback path (used when the in-process OpenGL backend fails): a new Python
    process rebuilds the policy from its pickle-free weights and renders a MuJoCo episode
    with the given backend."""
    from autoreward.train.job import TrainJob
    from autoreward.train.sb3.policy import build_policy_model, save_policy

    schema = load_schema("Hopper-v5")
    job = TrainJob(env_id="Hopper-v5", out_dir=str(tmp_path), schema_data=schema.model_dump())
    save_policy(build_policy_model(job, schema), None, tmp_path / "policy.npz")
    result = video_module._render_in_subprocess(
        (job, tmp_path / "policy.npz"),
        schema,
        tmp_path / "video.mp4",
        seed=0,
        backend="egl",
        max_frames=10,
    )
    assert result.ok, result.reason
    assert result.backend == "egl" and 2 <= result.frames <= 11
    assert (tmp_path / "video.mp4").stat().st_size > 1000
