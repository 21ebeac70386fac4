"""The iteration: sample → check → critique → train → analyze → select → feedback.

`run_loop` is the whole algorithm, top to bottom. Everything it decides is written to the run
directory as it goes (atomically), so a killed run resumes with `autoreward run --resume DIR`
and redoes nothing that finished: finished iterations are skipped, designer answers come from
`iter_<i>/proposals.json` or the LLM cache, and trained candidates are never retrained.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autoreward.agents.analyzer import Analyzer
from autoreward.agents.critic import Critic
from autoreward.agents.dedup import normalized_code_hash
from autoreward.agents.designer import DesignContext, Designer, Proposal
from autoreward.config import RunConfig
from autoreward.envs.fitness import compile_fitness
from autoreward.envs.registry import load_schema
from autoreward.envs.schema import EnvSchema
from autoreward.exec import Executor, make_executor
from autoreward.llm.client import LLMClient
from autoreward.loop import evidence
from autoreward.loop.candidates import TrainPlan, train_candidates, train_final_seeds
from autoreward.store.atomic import atomic_write_json, atomic_write_text, read_json
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir

EventFn = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)


class LoopResult(BaseModel):
    run_dir: str
    best: CandidateRecord | None
    iterations_run: int
    target_reached: bool
    final: dict[str, Any] | None
    tokens: int
    cost: float
    wall_s: float
    replayed: dict[str, int] | None = None
    """For a `replay:` model: answers found by exact prompt and by position (see llm/replay.py)."""


def run_loop(
    cfg: RunConfig, run: RunDir, on_event: EventFn | None = None, executor: Executor | None = None
) -> LoopResult:
    """Run (or resume) the iterations of `cfg` in `run`. `executor`: a pool shared with other
    runs (batch); None makes one from the config."""
    started = time.time()
    emit = _Emitter(run, on_event)
    schema = load_schema(cfg.env_id)
    if cfg.fitness is not None:
        compile_fitness(cfg.fitness.expression, "the run's fitness")  # clear error before any work
        schema = schema.model_copy(update={"fitness": cfg.fitness})
    client = LLMClient(
        cfg.model,
        api_base=cfg.api_base,
        cache_dir=run.cache_dir,
        log_dir=run.llm_dir,
        record_path=cfg.record,
        manual_notify=lambda ev: emit(ev["event"], **{k: v for k, v in ev.items() if k != "event"}),
    )
    client.preflight()
    if executor is None:
        executor = make_executor(cfg.executor, workers=cfg.workers or None, address=cfg.ray_address)
    designer = Designer(
        client, schema, cfg.task, check=_checker(schema), temperature=cfg.temperature
    )
    critic = Critic(client, schema, cfg.task) if cfg.critic else None
    analyzer = Analyzer(client, schema, cfg.task)
    plan = TrainPlan.from_config(cfg, schema)
    target = cfg.target_fitness if cfg.target_fitness is not None else schema.fitness.target
    emit("run_start", env_id=cfg.env_id, task=cfg.task, model=cfg.model, budget=plan.total_steps)

    history = run.candidate_records()
    best_so_far = _best(history)
    target_reached = best_so_far is not None and _reached(best_so_far, target)
    iterations_run = 0
    for it in range(cfg.iterations):
        if target_reached:
            break
        if (run.iter_dir(it) / "done.json").exists():
            iterations_run += 1
            continue
        iterations_run += 1
        emit("iteration_start", iteration=it)
        context = _design_context(run, history, cfg.feedback)

        # ---- 1. designer: K samples, each validated + dry-run, repaired up to twice
        emit("phase", phase="designing")
        proposals = _load_or_propose(run, designer, it, cfg.samples, context, emit)

        # ---- 2. cheap screening before any training: duplicates, ranking consistency, critic
        emit("phase", phase="screening")
        to_train: dict[int, str] = {}
        seen = {r.code_hash for r in history if r.code_hash}
        for p in proposals:
            d = run.cand_dir(it, p.index)
            screened = read_json(d / "screen.json")
            if screened is not None:  # screened (maybe trained) before a resume
                to_train[p.index] = (d / "reward.py").read_text(encoding="utf-8")
                seen.add(screened.get("code_hash", ""))
                continue
            if CandidateRecord.load(d) is not None:  # rejected before a resume
                continue
            code = _screen(run, it, p, designer, critic, history, seen, emit)
            if code is not None:
                to_train[p.index] = code

        # ---- 3. train with successive halving, evaluate on the task fitness
        emit("phase", phase="training")
        records = train_candidates(
            executor,
            plan,
            {j: run.cand_dir(it, j) for j in to_train},
            to_train,
            it,
            on_event=emit,
        )
        history = run.candidate_records()
        best = _best(history)
        if best is not None:
            _write_best(run, best)
            emit("best", iteration=best.iteration, candidate=best.index, fitness=best.fitness)

        # ---- 4. analyzer: what went wrong with the best and the worst, what to change
        emit("phase", phase="analyzing")
        trained = [r for r in records if r.fitness is not None]
        if trained:
            analysis = analyzer.analyze(
                iteration=it,
                best=evidence.candidate_summary(run.cand_dir(it, max(trained, key=_fit).index)),
                worst=evidence.candidate_summary(run.cand_dir(it, min(trained, key=_fit).index)),
                fitness_table=evidence.fitness_table(records),
            )
            atomic_write_text(run.iter_dir(it) / "analysis.md", analysis.text)
        atomic_write_json(run.iter_dir(it) / "done.json", {"iteration": it, "t": time.time()})
        emit("llm_usage", tokens=client.usage.total_tokens, cost=client.usage.cost,
             **_replay_fields(client))  # fmt: skip
        emit("iteration_end", iteration=it, best_fitness=None if best is None else best.fitness)
        target_reached = best is not None and _reached(best, target)

    # ---- final: retrain the best reward on several seeds, report mean ± std
    best = _best(history)
    final = None
    if best is not None and cfg.final_seeds > 0:
        emit("phase", phase="final seeds")
        final = read_json(run.best_dir / "final.json")
        if final is None or (final.get("iteration"), final.get("index")) != (
            best.iteration,
            best.index,
        ):
            final = train_final_seeds(
                executor,
                plan,
                run.cand_dir(best.iteration, best.index),
                run.best_dir,
                cfg.final_seeds,
                on_event=emit,
            )
            final.update(iteration=best.iteration, index=best.index)
            atomic_write_json(run.best_dir / "final.json", final)
        emit("final", **{k: v for k, v in final.items() if not isinstance(v, (list, dict))})
    result = LoopResult(
        run_dir=str(run.path),
        best=best,
        iterations_run=iterations_run,
        target_reached=target_reached,
        final=final,
        tokens=client.usage.total_tokens,
        cost=client.usage.cost,
        wall_s=time.time() - started,
        replayed=client.replay_counts,
    )
    atomic_write_json(run.path / "result.json", result.model_dump(mode="json"))
    emit("run_end", best_fitness=None if best is None else best.fitness, wall_s=result.wall_s,
         **_replay_fields(client))  # fmt: skip
    return result


# =========================================================================== steps


def _load_or_propose(
    run: RunDir, designer: Designer, it: int, k: int, context: DesignContext, emit: _Emitter
) -> list[Proposal]:
    path = run.iter_dir(it) / "proposals.json"
    saved = read_json(path)
    if saved is not None:
        return [Proposal.model_validate(p) for p in saved]
    for j in range(k):
        emit("candidate", iteration=it, candidate=j, state="designing")
    # Nothing trained yet after a whole iteration: the same first prompt again, so ask for fresh
    # samples instead of the cached answers that all failed.
    offset = it * k if context.best_code is None else 0
    proposals = designer.propose(k, iteration=it, context=context, sample_offset=offset)
    for p in proposals:
        d = run.cand_dir(it, p.index)
        if p.code:
            atomic_write_text(d / "reward.py", p.code)
        atomic_write_json(d / "check.json", {"ok": p.ok, "error": p.error, "repairs": p.n_repairs})
        emit(
            "candidate",
            iteration=it,
            candidate=p.index,
            state="checked" if p.ok else "failed",
            reason="" if p.ok else _short(p.error),
        )
    atomic_write_json(path, [p.model_dump(mode="json") for p in proposals])
    return proposals


def _screen(
    run: RunDir,
    it: int,
    p: Proposal,
    designer: Designer,
    critic: Critic | None,
    history: list[CandidateRecord],
    seen: set[str],
    emit: _Emitter,
) -> str | None:
    """Duplicates, ranking consistency against stored episodes, critic. Returns code to train."""
    d = run.cand_dir(it, p.index)
    rec = CandidateRecord(iteration=it, index=p.index, status="failed_check")
    if not p.ok or not p.code:
        rec.reason = p.error or "no code"
        rec.save(d)
        return None
    code = p.code
    rec.code_hash = normalized_code_hash(code)
    if rec.code_hash in seen:
        rec.status, rec.reason = "duplicate", "same normalised code as an earlier candidate"
        rec.save(d)
        emit("candidate", iteration=it, candidate=p.index, state="duplicate", reason=rec.reason)
        return None

    # From the second iteration on: the new reward must rank stored episodes like the fitness does.
    episodes = evidence.stored_episodes(run, history)
    if episodes:
        rho, proof = evidence.rescore(episodes, code)
        rec.ranking_rho = None if math.isnan(rho) else rho
        if proof is not None:
            emit(
                "candidate",
                iteration=it,
                candidate=p.index,
                state="designing",
                note=f"inverts fitness ranking (rho={rho:.2f}); revising",
            )
            revised = designer.revise(p, proof, iteration=it, index=p.index)
            rec.revised.append("ranking")
            if revised.ok and revised.code:
                code = revised.code
                rho, _ = evidence.rescore(episodes, code)
                rec.ranking_rho = None if math.isnan(rho) else rho

    if critic is not None:
        emit("candidate", iteration=it, candidate=p.index, state="critic")
        verdict = critic.review(code, iteration=it, index=p.index)
        atomic_write_json(d / "critique.json", verdict.model_dump(mode="json"))
        rec.critic_verdict = "ok" if verdict.ok else "revise"
        if not verdict.ok:
            revised = designer.revise(code, verdict.reason(), iteration=it, index=p.index)
            rec.revised.append("critic")
            if revised.ok and revised.code:
                code = revised.code

    rec.code_hash = normalized_code_hash(code)
    if rec.code_hash in seen:
        rec.status, rec.reason = "duplicate", "revision duplicates an earlier candidate"
        rec.save(d)
        return None
    seen.add(rec.code_hash)
    atomic_write_text(d / "reward.py", code)
    atomic_write_json(d / "screen.json", rec.model_dump(mode="json"))
    emit("candidate", iteration=it, candidate=p.index, state="queued")
    return code


# =========================================================================== helpers


class _Emitter:
    def __init__(self, run: RunDir, on_event: EventFn | None) -> None:
        self.run, self.on_event = run, on_event

    def __call__(self, kind: str, **data: Any) -> None:
        self.run.event(kind, **data)
        if self.on_event is not None:
            try:
                self.on_event({"event": kind, **data})
            except Exception:  # a display problem must never stop a run
                log.exception("event observer failed on %s", kind)


def _checker(schema: EnvSchema) -> Callable[[str], str | None]:
    from autoreward.sandbox.checker import check_reward_isolated

    def check(code: str) -> str | None:
        report = check_reward_isolated(code, schema)
        return None if report.ok else report.failure_text()

    return check


def _replay_fields(client: LLMClient) -> dict[str, int]:
    """Event fields saying how a replay answered so far (none for other models)."""
    counts = client.replay_counts
    if counts is None:
        return {}
    return {"replayed_exact": counts["exact"], "replayed_by_position": counts["position"]}


def _fit(r: CandidateRecord) -> float:
    return float("-inf") if r.fitness is None else r.fitness


def _best(history: list[CandidateRecord]) -> CandidateRecord | None:
    trained = [r for r in history if r.status == "trained" and r.fitness is not None]
    return max(trained, key=lambda r: (r.fitness, r.steps, -r.iteration)) if trained else None


def _reached(best: CandidateRecord, target: float | None) -> bool:
    return target is not None and best.fitness is not None and best.fitness >= target


def _design_context(
    run: RunDir, history: list[CandidateRecord], feedback: str | None
) -> DesignContext:
    """Everything the designer is told, derived from the run directory alone (so a resumed
    run builds the very same prompt and hits the LLM cache)."""
    best = _best(history)
    ctx = DesignContext(human_feedback=feedback)
    if best is None:
        return ctx
    last = max(r.iteration for r in history)
    # The latest human feedback stays in force until the person gives new feedback.
    human: dict[str, Any] = next(
        (f for i in range(last, -1, -1) if (f := read_json(run.iter_dir(i) / "feedback.json"))), {}
    )
    bd = run.cand_dir(best.iteration, best.index)
    return DesignContext(
        best_code=(bd / "reward.py").read_text(),
        best_fitness=best.fitness,
        fitness_summary=evidence.fitness_table([r for r in history if r.iteration == last]),
        stats_text=evidence.stats_text(bd),
        analysis_text=_read_text(run.iter_dir(last) / "analysis.md"),
        human_feedback="\n\n".join(x for x in [feedback, human.get("text")] if x) or None,
        human_ranking=human.get("ranking_text"),
    )


def _write_best(run: RunDir, best: CandidateRecord) -> None:
    src = run.cand_dir(best.iteration, best.index)
    atomic_write_text(run.best_dir / "reward.py", (src / "reward.py").read_text())
    atomic_write_json(run.best_dir / "candidate.json", best.model_dump(mode="json"))


def _read_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def _short(text: str | None, n: int = 80) -> str:
    text = (text or "").strip().splitlines()[0] if text else ""
    return text if len(text) <= n else text[: n - 1] + "…"
