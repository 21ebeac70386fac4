"""`report.html` for the output folder of `autoreward train`: what was trained (train.yaml),
the evaluation of the reward and of the env-reward baseline side by side, and per job its
learning curve, reward components, video and code. Self-contained, like the run report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup

from autoreward.report import plots
from autoreward.report.candidates import eval_line, training_line, video_note
from autoreward.report.data import CandidateView, load_candidate
from autoreward.report.fragments import VideoEmbedder, code_block, pygments_css
from autoreward.report.pages import REPORT_NAME, now_text, page_env
from autoreward.store.atomic import atomic_write_text

TRAIN_SPEC = "train.yaml"
JOB_FOLDERS = {"reward": None, "baseline": "env reward (baseline)"}
"""Job subfolders `autoreward train` writes, and their labels (None: the reward's file name)."""


def is_train_dir(path: Path) -> bool:
    """An `autoreward train` output folder: train.yaml, or (older folders) reward/train.json."""
    return (path / TRAIN_SPEC).is_file() or (path / "reward" / "train.json").is_file()


@dataclass
class TrainFolderView:
    path: Path
    spec: dict[str, Any]
    jobs: list[tuple[str, CandidateView]]
    problems: list[str] = field(default_factory=list)


def load_train_folder(path: str | Path) -> TrainFolderView:
    root = Path(path)
    problems: list[str] = []
    spec: dict[str, Any] = {}
    if (root / TRAIN_SPEC).is_file():
        try:
            loaded = yaml.safe_load((root / TRAIN_SPEC).read_text(encoding="utf-8"))
            spec = loaded if isinstance(loaded, dict) else {}
        except (OSError, yaml.YAMLError) as err:
            problems.append(f"{TRAIN_SPEC} could not be read ({type(err).__name__})")
    jobs = []
    for k, (name, label) in enumerate(JOB_FOLDERS.items()):
        folder = root / name
        if not folder.is_dir():
            continue
        view = load_candidate(folder, 0, k)
        problems.extend(f"{name}/{p}" for p in view.problems)
        reward_file = str(spec.get("reward_file") or "")
        jobs.append((label or (Path(reward_file).name if reward_file else "reward"), view))
    return TrainFolderView(root, spec, jobs, problems)


def write_train_report(path: str | Path) -> Path:
    """Write `<folder>/report.html` for an `autoreward train` folder and return its path."""
    view = load_train_folder(path)
    out = view.path / REPORT_NAME
    page = page_env().get_template("train.html").render(**_context(view, VideoEmbedder(view.path)))
    atomic_write_text(out, page)
    return out


def _context(view: TrainFolderView, embed: VideoEmbedder) -> dict[str, Any]:
    from autoreward.report.fragments import fmt as _fmt

    s = view.spec
    first_train = (view.jobs[0][1].train or {}) if view.jobs else {}
    env_id = str(s.get("env_id") or first_train.get("env_id") or "?")
    fitness = s.get("fitness") or {}
    summary = [
        ("environment", env_id),
        ("reward file", s.get("reward_file") or "(not recorded)"),
        ("algorithm", s.get("algo") or first_train.get("algo") or "?"),
        ("budget", f"{int(s['steps']):,} steps" if s.get("steps") else "(not recorded)"),
        ("seed", s.get("seed", "?")),
        ("device", s.get("device") or "(not recorded)"),
    ]
    if fitness:
        source = (
            "a custom fitness" if s.get("fitness_source") == "custom" else "the schema's fitness"
        )
        summary.append(
            ("task fitness", f"{fitness.get('kind')} ({source}): {fitness.get('description', '')}")
        )
    if s.get("config"):
        summary.append(("run YAML", s["config"]))
    jobs = []
    for label, c in view.jobs:
        jobs.append({
            "anchor": f"job-{c.folder.name}",
            "label": label,
            "status": _status(c),
            "reason": (c.train or {}).get("reason") or "",
            "hacking": c.hacking,
            "training": training_line(c),
            "evaluation": eval_line(c),
            "curve": plots.learning_curve(c.curve()) if c.curve() else None,
            "components": plots.component_plot(c.stats) if c.stats else None,
            "video": embed(c.video) if c.video is not None else None,
            "video_note": video_note(c),
            "code": code_block(c.code) if c.code else None,
            "problems": c.problems,
        })  # fmt: skip
    table = [
        ("task fitness", [_fmt(c.fitness) for _, c in view.jobs]),
        ("env return", [_fmt((c.evaluation or {}).get("env_return_mean")) for _, c in view.jobs]),
        ("generated return", [_fmt((c.train or {}).get("generated_return")) for _, c in view.jobs]),
        ("episode length", [_fmt((c.train or {}).get("episode_length")) for _, c in view.jobs]),
        ("steps", [f"{c.steps:,}" for _, c in view.jobs]),
        ("device", [str((c.train or {}).get("device") or "–") for _, c in view.jobs]),
    ]
    return {
        "title": f"autoreward train · {env_id}",
        "env_id": env_id,
        "path": str(view.path),
        "summary": [_Row(k, v) for k, v in summary],
        "jobs": jobs,
        "table": table,
        "problems": view.problems,
        "generated": now_text(),
        "pygments_css": Markup(pygments_css()),
    }


def _status(c: CandidateView) -> str:
    if not c.train:
        return "pending"
    return "trained" if c.train.get("status") == "ok" else "failed_train"


@dataclass
class _Row:
    label: str
    value: Any
