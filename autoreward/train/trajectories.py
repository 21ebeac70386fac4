"""Trajectory summaries of evaluation episodes for the analyzer, and the stored episodes that
later rewards are re-scored on.

`summarize_trajectories` samples key state fields, the action and the reward components at a
fixed stride and detects events (terminated early, stuck, oscillating, reward/fitness
disagreement, one component dominating); a schema can ask for more detectors
(`trajectory_events`, e.g. `open_world` in `openworld.py`), whose events join these and whose
details are stored under their name. `save_episodes` stores every step's state of the
evaluation episodes in a compressed npz, so `rescore_episodes` can compute what a new reward
would have paid on them, next to `episode_fitness`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.envs.schema import EnvSchema
from autoreward.train.evaluate import EpisodeTrace, EvalResult
from autoreward.types import RewardFn

KEY_FIELD_MAX_SIZE = 3
MAX_KEY_FIELDS = 8
SAMPLES_PER_EPISODE = 20
DOMINANT_SHARE = 0.8
OSCILLATION_CONTINUOUS = 0.5
OSCILLATION_DISCRETE = 0.9
STUCK_RANGE = 0.02


# =========================================================================== summaries


def key_fields(schema: EnvSchema) -> list[str]:
    """State fields worth printing per step: the small ones (at most 3 numbers), schema order."""
    small = [f.name for f in schema.fields if int(np.prod(f.shape or [1])) <= KEY_FIELD_MAX_SIZE]
    return small[:MAX_KEY_FIELDS]


def summarize_trajectories(
    traces: list[EpisodeTrace],
    evaluation: EvalResult,
    schema: EnvSchema,
    episodes: int = 3,
    stride: int | None = None,
    hacking: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `trajectories.json` document for the first `episodes` evaluation episodes.

    `traces` must have been scored (`score_traces`), so fitness and reward terms are filled.
    `hacking` is the statistics' verdict (`stats.json["hacking"]`), repeated as an event.
    """
    fields = key_fields(schema)
    chosen = traces[:episodes]
    longest = max((t.length for t in chosen), default=1)
    step = stride or max(1, math.ceil(longest / SAMPLES_PER_EPISODE))
    discrete = schema.action.n is not None
    rows = evaluation.episodes
    summary_events = _candidate_events(traces, evaluation, hacking)
    analyses = _schema_analyses(traces, evaluation, schema)
    for analysis in analyses:
        summary_events += analysis.events
    out_episodes = []
    for k, trace in enumerate(chosen):
        row = rows[k]
        term_sums = {n: float(v.sum()) for n, v in (trace.terms or {}).items()}
        events = _episode_events(trace, schema, term_sums, discrete)
        events += _disagreement_event(k, evaluation)
        for analysis in analyses:
            events += analysis.episode_events(k)
        out_episodes.append(
            {
                "index": k,
                "seed": trace.seed,
                "length": trace.length,
                "ended_by": row.ended_by,
                "fitness_value": row.fitness_value,
                "success": row.success,
                "env_return": row.env_return,
                "generated_return": row.generated_return,
                "term_sums": term_sums,
                "events": events,
                "samples": _samples(trace, fields, step),
            }
        )
    return {
        "stride": step,
        "fields": fields,
        "fitness_kind": evaluation.fitness_kind,
        "episodes": out_episodes,
        "events": summary_events,
        **{analysis.name: analysis.document() for analysis in analyses},
    }


def _schema_analyses(
    traces: list[EpisodeTrace], evaluation: EvalResult, schema: EnvSchema
) -> list[Any]:
    """The extra event detectors the schema asks for (`trajectory_events`), run over every
    evaluation episode."""
    analyses = []
    if "open_world" in schema.trajectory_events:
        from autoreward.train.openworld import analyze

        analyses.append(analyze(traces, evaluation, schema))
    return analyses


def render_trajectories_text(trajectories: dict[str, Any], max_samples: int = 12) -> str:
    """Compact text of the trajectory summaries for a prompt."""
    lines: list[str] = []
    for event in trajectories.get("events", []):
        lines.append(f"! {event['detail']}")
    fields = trajectories.get("fields", [])
    for ep in trajectories.get("episodes", []):
        head = (
            f"Episode {ep['index']}: {ep['length']} steps, ended by {ep['ended_by']}; "
            f"fitness {_fmt(ep['fitness_value'])}, env return {_fmt(ep['env_return'])}"
        )
        if ep.get("generated_return") is not None:
            head += f", generated return {_fmt(ep['generated_return'])}"
        lines.append(head)
        if ep.get("term_sums"):
            lines.append(
                "  component sums: "
                + ", ".join(f"{n} {_fmt(v)}" for n, v in ep["term_sums"].items())
            )
        for event in ep.get("events", []):
            lines.append(f"  event: {event['detail']}")
        samples = ep.get("samples", [])
        if len(samples) > max_samples:
            idx = np.unique(np.linspace(0, len(samples) - 1, max_samples).round().astype(int))
            samples = [samples[i] for i in idx]
        if samples:
            terms = list(samples[0].get("terms", {}))
            lines.append(
                "  t | "
                + " ".join(fields)
                + " | action | reward"
                + (f" ({', '.join(terms)})" if terms else "")
            )
            for s in samples:
                state = " ".join(_fmt_value(s["state"][f]) for f in fields)
                reward = _fmt(s.get("reward"))
                if terms:
                    reward += " (" + ", ".join(_fmt(s["terms"][n]) for n in terms) + ")"
                lines.append(f"  {s['t']} | {state} | {_fmt_value(s['action'])} | {reward}")
    return "\n".join(lines) if lines else "No evaluation episodes were recorded."


# =========================================================================== stored episodes


def save_episodes(traces: list[EpisodeTrace], evaluation: EvalResult, path: str | Path) -> Path:
    """Store every step of the evaluation episodes (states, actions, env rewards, fitness) in
    one npz (no pickles)."""
    arrays: dict[str, np.ndarray] = {
        "n_episodes": np.array(len(traces)),
        "fitness_values": np.array(
            [r.fitness_value for r in evaluation.episodes], dtype=np.float64
        ),
        "env_returns": np.array([r.env_return for r in evaluation.episodes], dtype=np.float64),
    }
    for k, trace in enumerate(traces):
        for name, value in trace.states.items():
            arrays[f"ep{k}.state.{name}"] = np.asarray(value, dtype=np.float32)
        arrays[f"ep{k}.actions"] = np.asarray(trace.actions)
        arrays[f"ep{k}.env_rewards"] = np.asarray(trace.env_rewards, dtype=np.float32)
        if trace.fitness_steps is not None:
            arrays[f"ep{k}.fitness_steps"] = np.asarray(trace.fitness_steps, dtype=np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)
    return path


def load_traces(
    npz_path: str | Path,
    evaluation: EvalResult,
    terms_path: str | Path | None = None,
    term_names: list[str] | None = None,
) -> list[EpisodeTrace]:
    """The stored evaluation episodes as `EpisodeTrace`s (read as untrusted data), with the
    per-step reward and components from `terms.npz` where given (`rescore.terms_job`)."""
    from autoreward.sandbox.untrusted import load_npz

    arrays = load_npz(npz_path)
    terms = load_npz(terms_path) if terms_path is not None and Path(terms_path).exists() else {}
    n = int(arrays["n_episodes"])
    if n != len(evaluation.episodes):
        raise ValueError(f"{npz_path}: {n} episodes, the evaluation has {len(evaluation.episodes)}")
    traces = []
    for k, row in enumerate(evaluation.episodes):
        prefix = f"ep{k}.state."
        states = {
            key[len(prefix) :]: value.astype(np.float64)
            for key, value in arrays.items()
            if key.startswith(prefix)
        }
        actions = arrays[f"ep{k}.actions"]
        trace = EpisodeTrace(
            seed=row.seed,
            states=states,
            actions=actions,
            env_rewards=arrays.get(f"ep{k}.env_rewards", np.zeros(len(actions))).astype(float),
            terminated=row.ended_by == "terminated",
            truncated=row.ended_by == "truncated",
            fitness_steps=arrays.get(f"ep{k}.fitness_steps"),
        )
        total = terms.get(f"ep{k}.total")
        if total is not None and len(total) == trace.length:
            trace.generated = total.astype(np.float64)
            trace.terms = {
                name: terms[f"ep{k}.term{i}"].astype(np.float64)
                for i, name in enumerate(term_names or [])
                if f"ep{k}.term{i}" in terms and len(terms[f"ep{k}.term{i}"]) == trace.length
            }
        traces.append(trace)
    return traces


def rescore_episodes(npz_path: str | Path, reward_fn: RewardFn) -> list[float]:
    """The return `reward_fn` would have paid on each stored evaluation episode. Runs the
    reward in this process: only ever call it inside a sandbox worker for untrusted code
    (`rescore.rescore_job`)."""
    from autoreward.sandbox.untrusted import load_npz
    from autoreward.train.rescore import call_on_episode, episode_transitions

    return [
        float(call_on_episode(reward_fn, k, s, a, s2)[0].sum())
        for k, (s, a, s2) in enumerate(episode_transitions(load_npz(npz_path)))
    ]


def episode_fitness(npz_path: str | Path) -> list[float]:
    """The task fitness value of each stored evaluation episode (same order as `rescore_episodes`)."""
    from autoreward.sandbox.untrusted import load_npz

    return [float(v) for v in load_npz(npz_path)["fitness_values"]]


# =========================================================================== events


def _samples(trace: EpisodeTrace, fields: list[str], stride: int) -> list[dict[str, Any]]:
    steps = list(range(0, trace.length, stride))
    if trace.length - 1 not in steps and trace.length > 0:
        steps.append(trace.length - 1)
    out = []
    for t in steps:
        sample: dict[str, Any] = {
            "t": t,
            "state": {f: _round(trace.states[f][t]) for f in fields if f in trace.states},
            "action": _round(trace.actions[t]),
            "fitness_step": None if trace.fitness_steps is None else _round(trace.fitness_steps[t]),
        }
        if trace.generated is not None:
            sample["reward"] = _round(trace.generated[t])
            sample["terms"] = {n: _round(v[t]) for n, v in (trace.terms or {}).items()}
        out.append(sample)
    return out


def _episode_events(
    trace: EpisodeTrace, schema: EnvSchema, term_sums: dict[str, float], discrete: bool
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    if trace.terminated and (schema.episode_length is None or trace.length < schema.episode_length):
        events.append(
            {
                "kind": "terminated_early",
                "step": trace.length,
                "detail": f"terminated at step {trace.length}"
                + (f" of {schema.episode_length}" if schema.episode_length else "")
                + " (the env's terminal condition)",
            }
        )
    stuck_from = _stuck_from(trace)
    if stuck_from is not None:
        events.append(
            {
                "kind": "stuck",
                "step": stuck_from,
                "detail": f"state nearly constant from step {stuck_from} to the end ({trace.length - stuck_from} steps)",
            }
        )
    # sampled evaluation actions change from step to step by design: not a sign of oscillation
    rate = _switch_rate(trace.actions, discrete) if schema.train.deterministic_eval else None
    limit = OSCILLATION_DISCRETE if discrete else OSCILLATION_CONTINUOUS
    if rate is not None and rate > limit:
        what = "action changes" if discrete else "actions flip sign"
        events.append(
            {
                "kind": "oscillating",
                "step": None,
                "detail": f"{what} on {rate:.0%} of steps (oscillating)",
            }
        )
    magnitude = sum(abs(v) for v in term_sums.values())
    if len(term_sums) >= 2 and magnitude > 0:
        name, value = max(term_sums.items(), key=lambda kv: abs(kv[1]))
        share = abs(value) / magnitude
        if share > DOMINANT_SHARE:
            events.append(
                {
                    "kind": "component_dominates",
                    "step": None,
                    "detail": f"component '{name}' is {share:.0%} of the reward magnitude this episode",
                }
            )
    return events


def _stuck_from(trace: EpisodeTrace) -> int | None:
    """Start of the final stretch (at least 20 steps and a fifth of the episode) in which every
    state value stays within 2% of its range over the whole episode; None if there is none."""
    flat = np.concatenate([v.reshape(len(v), -1) for v in trace.states.values()], axis=1)
    window = max(20, len(flat) // 5)
    if len(flat) < 2 * window:
        return None
    spread = flat.max(axis=0) - flat.min(axis=0)
    moving = spread > 1e-9
    if not moving.any():
        return 0
    tail = flat[::-1, moving]
    tail_spread = np.maximum.accumulate(tail) - np.minimum.accumulate(tail)
    calm = np.all(tail_spread < STUCK_RANGE * spread[moving], axis=1)
    still = int(np.argmin(calm)) if not calm.all() else len(calm)  # leading run of True
    return len(flat) - still if still >= window else None


def _switch_rate(actions: np.ndarray, discrete: bool) -> float | None:
    if len(actions) < 10:
        return None
    if discrete:
        flat = actions.reshape(len(actions), -1)
        return float(np.mean(np.any(flat[1:] != flat[:-1], axis=1)))
    flat = actions.reshape(len(actions), -1).astype(float)
    signs = np.sign(flat)
    flips = (signs[1:] * signs[:-1]) < 0
    return float(flips.mean())


def _disagreement_event(k: int, evaluation: EvalResult) -> list[dict[str, Any]]:
    """Episode k earned a top-half generated return but a bottom-half fitness."""
    rows = evaluation.episodes
    gen = [r.generated_return for r in rows]
    if len(rows) < 3 or any(g is None for g in gen):
        return []
    g = np.array(gen, dtype=float)
    f = np.array([r.fitness_value for r in rows], dtype=float)
    if np.ptp(g) <= 1e-9 * max(1.0, np.abs(g).max()) or np.ptp(f) <= 1e-9 * max(
        1.0, np.abs(f).max()
    ):
        return []
    if g[k] > np.median(g) and f[k] < np.median(f):
        return [
            {
                "kind": "reward_hacking_suspected",
                "step": None,
                "detail": f"high generated return ({g[k]:.3g}, median {np.median(g):.3g}) "
                f"with low fitness ({f[k]:.3g}, median {np.median(f):.3g})",
            }
        ]
    return []


def _candidate_events(
    traces: list[EpisodeTrace], evaluation: EvalResult, hacking: dict[str, Any] | None
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    if hacking and hacking.get("flagged"):
        events.append(
            {
                "kind": "reward_hacking_suspected",
                "detail": f"during training: {hacking.get('reason')}",
            }
        )
    rows = evaluation.episodes
    gen = [r.generated_return for r in rows]
    if len(rows) >= 3 and all(g is not None for g in gen):
        rho = _spearman(
            np.array(gen, dtype=float), np.array([r.fitness_value for r in rows], dtype=float)
        )
        if rho is not None and rho < -0.3:
            events.append(
                {
                    "kind": "reward_hacking_suspected",
                    "detail": f"across evaluation episodes more generated reward goes with lower fitness (Spearman rho {rho:.2f})",
                }
            )
    return events


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = x.argsort(kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):  # average ranks of ties
        mask = x == value
        ranks[mask] = ranks[mask].mean()
    return ranks


def _round(value: Any) -> Any:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return float(f"{float(arr):.4g}")
    return [float(f"{v:.4g}") for v in arr.ravel()]


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}"


def _fmt_value(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ",".join(f"{x:.3g}" for x in v) + "]"
    return f"{v:.3g}" if isinstance(v, float) else str(v)
