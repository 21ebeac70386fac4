"""Keyframes of a candidate's evaluation episode, for an analyzer that can see images.

The evaluation container renders one deterministic evaluation episode (the first, seed
`job.seed + EVAL_SEED_OFFSET`) to `video.mp4` when `video: true`. A few evenly spaced frames
of it go to a vision-capable analyzer beside its numbers, each labelled with its step, the
reward's terms at the nearest recorded step and the episode's fitness. The video is decoded
with imageio (ffmpeg); frames are shrunk so that a prompt stays small.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from autoreward.agents.analyzer import Keyframes
from autoreward.store.atomic import read_json

KEYFRAMES = 4
MAX_SIDE = 256
VIDEO_FILE = "video.mp4"
_MAX_VIDEO_BYTES = 200 * 1024 * 1024


def candidate_keyframes(
    cand_dir: Path, title: str, episode_length: int | None, n: int = KEYFRAMES
) -> Keyframes | None:
    """`n` evenly spaced frames of the candidate's evaluation video (the first and the last
    included) with their captions; None when there is no readable video."""
    video = Path(cand_dir) / VIDEO_FILE
    if not video.is_file() or video.is_symlink() or video.stat().st_size > _MAX_VIDEO_BYTES:
        return None
    try:
        frames = _read_frames(video)
    except Exception:  # a broken or unreadable video: the analyzer goes without frames
        return None
    if not frames:
        return None
    picks = sorted({round(i * (len(frames) - 1) / max(1, n - 1)) for i in range(n)})
    job = read_json(Path(cand_dir) / "job.json") or {}
    stride = _video_stride(episode_length, job.get("video_max_frames"))
    traj = read_json(Path(cand_dir) / "trajectories.json") or {}
    episodes = traj.get("episodes") or []
    episode = episodes[0] if episodes and isinstance(episodes[0], dict) else {}
    length = episode.get("length")
    # The video is its own rollout: the first evaluation episode only when its frame count says
    # so (a policy that samples its actions, e.g. Crafter's, plays another episode there).
    same = isinstance(length, int) and math.ceil(length / stride) + 1 == len(frames)
    last_step = length if same else _final_step(len(frames), stride)
    if same:
        head = [f"{title}: {len(picks)} frames of its first evaluation episode"]
    elif episode:
        head = [
            f"{title}: {len(picks)} frames of the episode rendered for its video ({last_step} "
            "steps), a rollout of its own and not its first evaluation episode, whose numbers "
            "follow"
        ]
    else:
        head = [f"{title}: {len(picks)} frames of its evaluation video ({last_step} steps)"]
    if episode:
        head.append(
            f"(length {length} steps, fitness {_num(episode.get('fitness_value'))}, "
            f"ended by {episode.get('ended_by', '?')}; reward term sums {_terms(episode.get('term_sums'))})"
        )
    captions, images = [], []
    for k, idx in enumerate(picks):
        last = idx == len(frames) - 1
        step = last_step if last else idx * stride
        caption = f"step {step}" + (" (final state)" if last else "")
        sample = None
        if same and isinstance(step, int):
            sample = _nearest_sample(episode.get("samples") or [], step)
        if sample is not None:
            caption += f"; reward terms at step {sample.get('t')}: {_terms(sample.get('terms'))}"
        captions.append(f"frame {k + 1}: {caption}")
        images.append(_png(frames[idx]))
    return Keyframes(label=" ".join(head), captions=captions, images=images)


def _read_frames(path: Path) -> list[np.ndarray]:
    import imageio.v2 as imageio

    reader = imageio.get_reader(path)
    try:
        return [np.asarray(frame) for frame in reader.iter_data()]
    finally:
        reader.close()


def _png(frame: np.ndarray) -> bytes:
    import imageio.v2 as imageio

    h, w = frame.shape[:2]
    step = max(1, math.ceil(max(h, w) / MAX_SIDE))
    small = np.ascontiguousarray(frame[::step, ::step, :3]).astype(np.uint8)
    buf = io.BytesIO()
    imageio.imwrite(buf, small, format="png")  # type: ignore[arg-type]
    return buf.getvalue()


def _final_step(n_frames: int, stride: int) -> str:
    """The step of a video's final frame from its frame count: exact at stride 1, else the
    range it lies in (a frame every `stride` steps, then the final state)."""
    high = (n_frames - 1) * stride
    return str(high) if stride == 1 else f"{max(0, high - stride + 1)}-{high}"


def _video_stride(episode_length: int | None, max_frames: object) -> int:
    from autoreward.train.video import DEFAULT_MAX_FRAMES

    limit = max_frames if isinstance(max_frames, int) and max_frames > 0 else DEFAULT_MAX_FRAMES
    return max(1, math.ceil((episode_length or 1000) / limit))


def _nearest_sample(samples: list[object], step: int) -> dict | None:
    rows = [s for s in samples if isinstance(s, dict) and isinstance(s.get("t"), int)]
    if not rows:
        return None
    return min(rows, key=lambda s: abs(int(s["t"]) - step))


def _terms(terms: object) -> str:
    if not isinstance(terms, dict) or not terms:
        return "none recorded"
    return ", ".join(f"{k} {_num(v)}" for k, v in terms.items())


def _num(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "?"
