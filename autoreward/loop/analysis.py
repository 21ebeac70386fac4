"""The analyzer's step of an iteration, and when it runs.

An iteration's analysis is read by the next iteration's designer, and in `autoreward refine`
by the person before they give feedback. So after the last iteration of a run the call is
not made (nobody would read it): `done.json` records `"analysis": "deferred"`, and the
analysis is written later, only if it is read — by the next iteration when the run is resumed
with more iterations, or by `refine` before it shows the iteration. Either way the prompt is
built from the run directory alone, so it is the very prompt the loop would have sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoreward.agents.analyzer import Analysis, Analyzer, sees_images
from autoreward.loop import evidence
from autoreward.loop.frames import candidate_keyframes
from autoreward.store.atomic import atomic_write_json, atomic_write_text, read_json
from autoreward.store.rundir import RunDir

DEFERRED = "deferred"


def analyze_iteration(run: RunDir, analyzer: Analyzer, it: int) -> Analysis | None:
    """Run the analyzer on iteration `it` (every trained candidate compactly, the best and the
    worst in full, never the same one twice) and write `analysis.md`; None when nothing
    trained."""
    records = [r for r in run.candidate_records() if r.iteration == it]
    best, worst = evidence.best_and_worst(records)
    if best is None:
        return None
    frames = None
    if sees_images(analyzer.client):
        length = analyzer.episode_length
        picked = [("The best candidate", best), ("The worst candidate", worst)]
        frames = [
            k
            for title, rec in picked
            if rec is not None
            and (
                k := candidate_keyframes(
                    run.cand_dir(it, rec.index), f"{title} ({rec.index})", length
                )
            )
        ]
    analysis = analyzer.analyze(
        iteration=it,
        best=evidence.candidate_summary(run.cand_dir(it, best.index)),
        worst=None if worst is None else evidence.candidate_summary(run.cand_dir(it, worst.index)),
        fitness_table=evidence.fitness_table(records),
        candidates=evidence.candidates_overview(run, records) or "",
        frames=frames,
    )
    atomic_write_text(run.iter_dir(it) / "analysis.md", analysis.text)
    return analysis


def is_deferred(run: RunDir, it: int) -> bool:
    """The iteration finished without its analysis (it was the last one then)."""
    done = read_json(run.iter_dir(it) / "done.json") or {}
    return done.get("analysis") == DEFERRED and not (run.iter_dir(it) / "analysis.md").exists()


def mark_done(run: RunDir, it: int, t: float, *, deferred: bool) -> None:
    doc: dict[str, Any] = {"iteration": it, "t": t}
    if deferred:
        doc["analysis"] = DEFERRED
    atomic_write_json(run.iter_dir(it) / "done.json", doc)


def write_deferred_analysis(
    run_dir: str | Path, it: int, model: str | None = None, api_base: str | None = None
) -> bool:
    """For `refine`: write iteration `it`'s deferred analysis with the run's own prompts and
    model (or `model` / `api_base`, as refine continues the run); a person reads it before
    giving feedback. False when there was none to write."""
    from autoreward.config import load_run_config
    from autoreward.loop.setup import build_agents_inputs, make_client

    run = RunDir.open(run_dir)
    if not is_deferred(run, it):
        return False
    cfg = load_run_config(run.load_config(), str(run.config_path))
    if model is not None or api_base is not None:
        cfg = cfg.model_copy(
            update={k: v for k, v in {"model": model, "api_base": api_base}.items() if v}
        )
    inputs = build_agents_inputs(cfg)
    client = make_client(cfg, run)
    client.preflight()
    analyzer = Analyzer(client, inputs.schema, cfg.task, training=inputs.training)
    written = analyze_iteration(run, analyzer, it) is not None
    run.event("analysis", iteration=it, deferred=True, written=written, by="refine")
    return written
