"""Open-world events of evaluation episodes, for the analyzer (schemas with
`trajectory_events: [open_world]`, e.g. Crafter-v1).

Computed only from the recorded schema state of each evaluation episode (states s_0..s_T)
and its fitness values; no reward code is involved. Per episode: the cause of death and the
health lost to each source, when each material was first seen and first collected, what was
seen but never collected, when a vital first ran out, how the player moved (stuck, local,
exploring; wandering when nothing new was achieved late in the episode), sleep in daylight,
and the step the fitness condition first held. Across episodes: the same, counted.

Steps are counted as actions taken: state index t is the state after t steps. The detectors
read Crafter's field names (`health`, `dist_<thing>`, `ach_<achievement>`, `player_pos`,
`sleeping`, `daylight`, ...); one whose fields a schema lacks is skipped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema
from autoreward.train.evaluate import EpisodeTrace, EvalResult

NOT_VISIBLE = 8.0
"""`dist_<thing>` when nothing of that kind is in view (see the Crafter schema)."""

SIGHTED = ("tree", "water", "stone", "coal", "iron", "diamond", "lava", "cow", "zombie",
           "skeleton", "table", "furnace")  # fmt: skip
COLLECTED_BY = {
    "tree": "collect_wood", "water": "collect_drink", "stone": "collect_stone",
    "coal": "collect_coal", "iron": "collect_iron", "diamond": "collect_diamond",
    "cow": "eat_cow",
}  # fmt: skip
"""What counts as collecting a thing that can be seen: the achievement it raises."""

VITAL_CAUSE = {"food": "starvation", "drink": "thirst", "energy": "exhaustion"}
DAYLIGHT_DAY = 0.5
STILL_MIN_STEPS = 50
LOCAL_RADIUS = 6
STUCK_CELLS = 5


@dataclass
class OpenWorldAnalysis:
    """Per-episode details and counted events of one evaluation."""

    episodes: list[dict[str, Any]]
    events: list[dict[str, Any]]
    summary: dict[str, Any]
    _episode_events: list[list[dict[str, Any]]] = field(default_factory=list)

    name: str = "open_world"

    def episode_events(self, k: int) -> list[dict[str, Any]]:
        return self._episode_events[k] if k < len(self._episode_events) else []

    def document(self) -> dict[str, Any]:
        return {"summary": self.summary, "episodes": self.episodes}


def analyze(
    traces: list[EpisodeTrace], evaluation: EvalResult, schema: EnvSchema
) -> OpenWorldAnalysis:
    """Open-world details of every evaluation episode and the events counted over them."""
    episodes, per_episode = [], []
    for k, trace in enumerate(traces):
        row = evaluation.episodes[k] if k < len(evaluation.episodes) else None
        info = episode_details(trace, schema, success=None if row is None else row.success)
        episodes.append(info)
        per_episode.append(_episode_events(info))
    summary = _summary(episodes)
    return OpenWorldAnalysis(
        episodes=episodes,
        events=_summary_events(summary, len(episodes)),
        summary=summary,
        _episode_events=per_episode,
    )


# =========================================================================== one episode


def episode_details(
    trace: EpisodeTrace, schema: EnvSchema, success: bool | None = None
) -> dict[str, Any]:
    """Everything this module reads from one episode, as JSON-ready values."""
    s = trace.states
    info: dict[str, Any] = {"length": trace.length}
    info["died"] = bool(trace.terminated and "health" in s and s["health"][-1] <= 0)
    if "health" in s:
        info["cause_of_death"] = cause_of_death(s) if info["died"] else None
        info["health_lost"] = health_lost(s)
        info["vital_out_at"] = {
            v: t for v in VITAL_CAUSE if v in s and (t := _first(s[v] <= 0)) is not None
        }
    info["first_seen"] = {
        thing: t
        for thing in SIGHTED
        if f"dist_{thing}" in s and (t := _first(s[f"dist_{thing}"] < NOT_VISIBLE)) is not None
    }
    info["first_collected"] = {
        thing: t
        for thing, ach in COLLECTED_BY.items()
        if f"ach_{ach}" in s and (t := _first(s[f"ach_{ach}"] > s[f"ach_{ach}"][0])) is not None
    }
    info["seen_not_collected"] = [
        t for t in COLLECTED_BY if t in info["first_seen"] and t not in info["first_collected"]
    ]
    if "player_pos" in s:
        info["coverage"] = coverage(s)
        info["last_achievement_at"] = _last_achievement(s)
    if "sleeping" in s and "daylight" in s:
        asleep = s["sleeping"][1:] > 0.5
        day = s["daylight"][1:] >= DAYLIGHT_DAY
        info["sleep"] = {"steps": int(asleep.sum()), "in_daylight": int((asleep & day).sum())}
    info["first_success_at"] = first_success_step(trace, schema) if success else None
    return info


def cause_of_death(s: dict[str, np.ndarray]) -> str:
    """Why health reached 0 on the last step: lava, zombie, skeleton (an arrow), starvation,
    thirst, exhaustion (joined with 'and' when several vitals ran out), or unknown."""
    if "dist_lava" in s and s["dist_lava"][-1] == 0:
        return "lava"
    cause = _damage_source(s, len(s["health"]) - 1)
    if cause == "zombie" and "sleeping" in s and s["sleeping"][-2] > 0.5:
        return "zombie (while asleep)"
    return cause


def health_lost(s: dict[str, np.ndarray]) -> dict[str, int]:
    """Health points lost over the episode, by source (same attribution as the death)."""
    h = s["health"]
    lost: Counter[str] = Counter()
    for t in (np.flatnonzero(h[1:] < h[:-1]) + 1).tolist():
        source = "lava" if "dist_lava" in s and s["dist_lava"][t] == 0 else _damage_source(s, t)
        lost[source] += int(h[t - 1] - h[t])
    return dict(lost.most_common())


def _damage_source(s: dict[str, np.ndarray], t: int) -> str:
    """What took health between states t-1 and t. A zombie or an arrow hits for 2 (a zombie
    for 7 on a sleeper); running out of food, drink or energy costs 1 at a time."""
    drop = float(s["health"][t - 1] - s["health"][t])
    out = [VITAL_CAUSE[v] for v in VITAL_CAUSE if v in s and s[v][t] <= 0]
    zombie = "dist_zombie" in s and min(s["dist_zombie"][t], s["dist_zombie"][t - 1]) <= 1
    arrow = "dist_arrow" in s and s["dist_arrow"][t - 1] <= 2
    skeleton = "dist_skeleton" in s and s["dist_skeleton"][t - 1] < NOT_VISIBLE
    if (zombie or arrow or skeleton) and (drop >= 2 or not out):
        return "zombie" if zombie else "skeleton"
    if out:
        return " and ".join(out)
    return "unknown"


def coverage(s: dict[str, np.ndarray]) -> dict[str, Any]:
    """How the player moved: cells visited, reach, the longest awake stretch in one cell."""
    pos = np.rint(s["player_pos"]).astype(np.int64)
    steps = len(pos) - 1
    cells = len({(int(x), int(y)) for x, y in pos})
    reach = int(np.abs(pos - pos[0]).sum(axis=1).max())
    moved = np.any(pos[1:] != pos[:-1], axis=1)
    awake = s["sleeping"][1:] < 0.5 if "sleeping" in s else np.ones(steps, dtype=bool)
    still_run, still_from = _longest_run(~moved & awake)
    stuck = (steps >= STILL_MIN_STEPS and cells <= STUCK_CELLS) or still_run >= max(
        STILL_MIN_STEPS, steps // 4
    )
    pattern = "stuck" if stuck else "local" if reach <= LOCAL_RADIUS else "exploring"
    return {
        "cells": cells,
        "reach": reach,
        "moving": float(moved.mean()) if steps else 0.0,
        "longest_still": still_run,
        "longest_still_from": still_from,
        "pattern": pattern,
    }


def first_success_step(trace: EpisodeTrace, schema: EnvSchema) -> int | None:
    """The first step at which the episode's fitness condition held (running sum for a
    'sum' fitness, the per-step value otherwise); None without recorded fitness values."""
    spec = schema.fitness
    if trace.fitness_steps is None or spec.kind != "success" or spec.threshold is None:
        return None
    v = np.asarray(trace.fitness_steps, dtype=np.float64)
    if spec.aggregate == "sum":
        v = np.cumsum(v)
    elif spec.aggregate == "mean":
        v = np.cumsum(v) / np.arange(1, len(v) + 1)
    hit = _first(v >= spec.threshold)
    return None if hit is None else hit + 1


def _last_achievement(s: dict[str, np.ndarray]) -> int | None:
    keys = [k for k in s if k.startswith("ach_")]
    if not keys:
        return None
    rising = np.zeros(len(s[keys[0]]) - 1, dtype=bool)
    for k in keys:
        rising |= s[k][1:] > s[k][:-1]
    hits = np.flatnonzero(rising)
    return int(hits[-1]) + 1 if hits.size else None


# =========================================================================== events


def _episode_events(info: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    lost = info.get("health_lost") or {}
    if info["died"]:
        detail = f"died at step {info['length']}: {info['cause_of_death']}"
        if lost:
            detail += " (health lost: " + ", ".join(f"{k} {v}" for k, v in lost.items()) + ")"
        events.append(_event("death", info["length"], detail))
    if info.get("vital_out_at"):
        items = ", ".join(f"{v} at step {t}" for v, t in info["vital_out_at"].items())
        events.append(_event("vital_out", None, f"ran out of {items}"))
    seen, got = info["first_seen"], info["first_collected"]
    if seen:
        events.append(_event("first_seen", None, "first seen: " + _steps_text(seen)))
    events.append(
        _event(
            "first_collected", None, "first collected: " + (_steps_text(got) if got else "nothing")
        )
    )
    if info["seen_not_collected"]:
        events.append(
            _event("seen_not_collected", None,
                   "seen but never collected: " + ", ".join(info["seen_not_collected"]))
        )  # fmt: skip
    cov = info.get("coverage")
    if cov:
        detail = f"movement: {cov['pattern']}, {cov['cells']} cells visited, reached {cov['reach']} cells from the start"
        if cov["longest_still"] >= STILL_MIN_STEPS:
            detail += f"; stood still (awake) {cov['longest_still']} steps from step {cov['longest_still_from']}"
        last = info.get("last_achievement_at")
        if (
            cov["pattern"] == "exploring"
            and info["length"] >= 2 * STILL_MIN_STEPS
            and (last is None or last < info["length"] / 2)
        ):
            detail += (
                "; wandering: nothing achieved after step " + str(last)
                if last is not None
                else "; wandering: nothing achieved all episode"
            )
        events.append(_event("movement", None, detail))
    sleep = info.get("sleep")
    if sleep and sleep["in_daylight"] >= 10:
        events.append(
            _event("slept_in_daylight", None,
                   f"asleep {sleep['in_daylight']} steps in daylight (sleeping through the day), "
                   f"{sleep['steps']} steps asleep in all")
        )  # fmt: skip
    if info.get("first_success_at") is not None:
        events.append(
            _event("first_success", info["first_success_at"],
                   f"fitness condition first held at step {info['first_success_at']}")
        )  # fmt: skip
    return events


def _summary(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(episodes)
    causes = Counter(e["cause_of_death"] for e in episodes if e["died"])
    successes = [e["first_success_at"] for e in episodes if e.get("first_success_at") is not None]

    def steps_by(key: str) -> dict[str, dict[str, float | int]]:
        out: dict[str, dict[str, float | int]] = {}
        for thing in {t for e in episodes for t in e[key]}:
            values = [e[key][thing] for e in episodes if thing in e[key]]
            out[thing] = {"episodes": len(values), "median_step": float(np.median(values))}
        return dict(sorted(out.items(), key=lambda kv: kv[1]["median_step"]))

    patterns = Counter(e["coverage"]["pattern"] for e in episodes if "coverage" in e)
    return {
        "episodes": n,
        "deaths": dict(causes.most_common()),
        "survived": n - sum(causes.values()),
        "first_success": {
            "episodes": len(successes),
            "mean_step": float(np.mean(successes)) if successes else None,
            "median_step": float(np.median(successes)) if successes else None,
        },
        "first_seen": steps_by("first_seen"),
        "first_collected": steps_by("first_collected"),
        "seen_not_collected": dict(
            Counter(t for e in episodes for t in e["seen_not_collected"]).most_common()
        ),
        "movement": dict(patterns.most_common()),
        "slept_in_daylight": sum(
            1 for e in episodes if e.get("sleep") and e["sleep"]["in_daylight"] >= 10
        ),
    }


def _summary_events(summary: dict[str, Any], n: int) -> list[dict[str, Any]]:
    if not n:
        return []
    deaths = summary["deaths"]
    text = f"over {n} evaluation episodes: died in {sum(deaths.values())}"
    if deaths:
        text += " (" + ", ".join(f"{k} {v}" for k, v in deaths.items()) + ")"
    events = [_event("deaths", None, text + f", alive at the end in {summary['survived']}")]
    fs = summary["first_success"]
    if fs["episodes"]:
        events.append(
            _event("time_to_success", None,
                   f"time to first success: mean {fs['mean_step']:.0f} steps, median "
                   f"{fs['median_step']:.0f}, in the {fs['episodes']} successful episodes")
        )  # fmt: skip

    def counted(key: str) -> str:
        items = summary[key].items()
        return ", ".join(f"{t} {v['median_step']:.0f} ({v['episodes']}/{n})" for t, v in items)

    if summary["first_seen"]:
        events.append(
            _event(
                "first_seen", None, "first seen, median step (episodes): " + counted("first_seen")
            )
        )
    events.append(
        _event("first_collected", None,
               "first collected, median step (episodes): " + (counted("first_collected") or "nothing in any episode"))
    )  # fmt: skip
    if summary["seen_not_collected"]:
        events.append(
            _event("seen_not_collected", None,
                   "seen but never collected (episodes): "
                   + ", ".join(f"{t} {c}/{n}" for t, c in summary["seen_not_collected"].items()))
        )  # fmt: skip
    if summary["movement"]:
        events.append(
            _event("movement", None,
                   "movement (episodes): " + ", ".join(f"{k} {v}" for k, v in summary["movement"].items()))
        )  # fmt: skip
    if summary["slept_in_daylight"]:
        events.append(
            _event("slept_in_daylight", None,
                   f"slept through the day (10+ steps asleep in daylight) in {summary['slept_in_daylight']}/{n} episodes")
        )  # fmt: skip
    return events


# =========================================================================== helpers


def _event(kind: str, step: int | None, detail: str) -> dict[str, Any]:
    return {"kind": f"open_world_{kind}", "step": step, "detail": detail}


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _longest_run(mask: np.ndarray) -> tuple[int, int | None]:
    """Length and start step (1-based, as steps taken) of the longest run of True."""
    best, start, run = 0, None, 0
    for i, v in enumerate(mask):
        run = run + 1 if v else 0
        if run > best:
            best, start = run, i - run + 2
    return best, start


def _steps_text(steps: dict[str, int]) -> str:
    return ", ".join(f"{k} at step {v}" for k, v in sorted(steps.items(), key=lambda kv: kv[1]))
