"""`autoreward play`: watch a trained policy — new evaluation episodes and a video, on demand.

The policy is rebuilt in an evaluation container, like every fitness measurement: from the
candidate's pickle-free weights (`train/policy/final.npz`) and the job that trained it
(`job.json`, no reward code), so playing a policy never loads its reward nor unpickles
anything a worker wrote. Accepts a run directory (its best candidate, or `--candidate 1/2`),
a candidate folder, or an `autoreward train` output folder.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from autoreward.errors import ConfigError
from autoreward.store.atomic import read_json
from autoreward.train.job import TrainJob

POLICY = Path("train") / "policy" / "final.npz"


class PlayResult(BaseModel):
    folder: str
    fitness: float | None
    fitness_kind: str | None
    episodes: list[dict[str, object]]
    video: str | None
    video_status: str


def find_candidate(target: Path, candidate: str | None = None) -> Path:
    """The folder holding the policy to play (see the module docstring)."""
    target = Path(target)
    if not target.is_dir():
        raise ConfigError(f"{target} is not a folder", hint="pass a run, candidate or train folder")
    if candidate is not None:
        it, sep, cand = candidate.partition("/")
        if not sep or not it.isdigit() or not cand.isdigit():
            raise ConfigError(
                f"--candidate {candidate!r} is not ITERATION/CANDIDATE", hint="e.g. --candidate 1/2"
            )
        folder = target / f"iter_{int(it)}" / f"cand_{int(cand)}"
    elif (target / POLICY).is_file():
        folder = target
    elif (target / "best" / "candidate.json").is_file():
        best = read_json(target / "best" / "candidate.json") or {}
        folder = target / f"iter_{best.get('iteration')}" / f"cand_{best.get('index')}"
    elif (target / "reward" / POLICY).is_file():  # an `autoreward train` folder
        folder = target / "reward"
    else:
        raise ConfigError(
            f"{target} holds no trained policy (no best/candidate.json, no {POLICY})",
            hint="pass a run directory, one of its iter_<i>/cand_<j> folders, or a train folder",
        )
    if not (folder / POLICY).is_file() or not (folder / "job.json").is_file():
        raise ConfigError(
            f"{folder} has no trained policy to play ({POLICY} and job.json)",
            hint="the candidate may have failed or been trained by an older version",
        )
    return folder


def play(
    folder: Path, *, episodes: int = 3, video: bool = True, seed: int | None = None
) -> PlayResult:
    """Run `episodes` new evaluation episodes of the folder's policy in an evaluation
    container (and film one); the outputs go to `<folder>/play-<timestamp>/`."""
    from autoreward.sandbox.container import env_modules
    from autoreward.sandbox.untrusted import UntrustedDataError, parse_model
    from autoreward.sandbox.worker import run_isolated
    from autoreward.train.evaljob import EvalJob, EvalOutcome
    from autoreward.train.limits import evaluation_limits, training_limits
    from autoreward.train.pipeline import EVAL_TARGET

    folder = folder.resolve()  # the container sees absolute paths only
    job = TrainJob.model_validate(read_json(folder / "job.json"))
    out = folder / f"play-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    updates: dict[str, object] = {"eval_episodes": episodes, "video": video, "reward_code": None}
    if seed is not None:
        updates["seed"] = seed
    job = job.model_copy(update={**updates, "out_dir": str(out)})
    policies = folder / POLICY.parent
    request = EvalJob(job=job, policy_dir=str(policies), out_dir=str(out))
    res = run_isolated(
        EVAL_TARGET,
        request.model_dump(mode="json"),
        evaluation_limits(training_limits(job)),
        workdir=out,
        inputs=[policies],
        modules=env_modules(job.env_id),
    )
    if not res.ok or res.value is None:
        raise ConfigError(f"playing the policy failed: {res.status}: {res.reason}")
    try:
        outcome = parse_model(res.value, EvalOutcome, "play result")
    except UntrustedDataError as err:
        raise ConfigError(f"playing the policy failed: {err}") from None
    ev = outcome.evaluation
    clip = out / "video.mp4"
    shown = outcome.video is not None and outcome.video.ok and clip.is_file()
    return PlayResult(
        folder=str(out),
        fitness=None if ev is None else ev.fitness,
        fitness_kind=None if ev is None else ev.fitness_kind,
        episodes=[] if ev is None else [e.model_dump() for e in ev.episodes],
        video=str(clip) if shown else None,
        video_status="not requested"
        if not video
        else (outcome.video.status if outcome.video else "no video"),
    )


def play_command(
    console: Console,
    target: Path,
    candidate: str | None = None,
    episodes: int = 3,
    video: bool = True,
    seed: int | None = None,
) -> int:
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    folder = find_candidate(target, candidate)
    console.print(Text(f"playing {folder} ({episodes} episodes) in the sandbox ..."))
    result = play(folder, episodes=episodes, video=video, seed=seed)
    table = Table(
        title=f"{result.fitness_kind or ''} fitness {result.fitness}", title_justify="left"
    )
    for col in ("episode", "seed", "fitness value", "env return", "length", "ended by"):
        table.add_column(col, justify="right" if col != "ended by" else "left")
    for e in result.episodes:
        table.add_row(str(e["index"]), str(e["seed"]), f"{e['fitness_value']:.4g}",
                      f"{e['env_return']:.4g}", str(e["length"]), str(e["ended_by"]))  # fmt: skip
    console.print(table)
    console.print(Text(f"video: {result.video or result.video_status}"))
    console.print(Text(f"files: {result.folder}"))
    return 0
