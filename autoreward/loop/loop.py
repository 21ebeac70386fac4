"""The iteration: sample → check → critique → train → analyze → select → feedback.

`run_loop` is the whole algorithm, top to bottom. Everything it decides is written to the run
directory as it goes (atomically), so a killed run resumes with `autoreward run --resume DIR`
and redoes nothing that finished: finished iterations are skipped, designer answers come from
`iter_<i>/proposals.json` or the LLM cache, and trained candidates are never retrained.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autoreward.agents.analyzer import Analyzer
from autoreward.agents.critic import Critic
from autoreward.agents.designer import DesignContext, Designer, Proposal
from autoreward.config import RunConfig
from autoreward.envs.schema import EnvSchema
from autoreward.exec import Executor, make_executor
from autoreward.llm.client import LLMClient
from autoreward.loop import evidence
from autoreward.loop.analysis import analyze_iteration, is_deferred, mark_done
from autoreward.loop.candidates import TrainPlan, train_candidates
from autoreward.loop.screening import screen_candidates
from autoreward.loop.selection import same_candidates, select_best, top_candidates
from autoreward.loop.setup import build_agents_inputs, make_client
from autoreward.loop.tune import tune_best
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
    budget_note: str = ""
    """How the step budget meets the algorithm's rollout, when that is worth saying (budget.py)."""
    tune: dict[str, Any] | None = None
    """`tune/tune.json` when `--tune` ran (loop/tune.py)."""


def run_loop(
    cfg: RunConfig, run: RunDir, on_event: EventFn | None = None, executor: Executor | None = None
) -> LoopResult:
    """Run (or resume) the iterations of `cfg` in `run`. `executor`: a pool shared with other
    runs (batch); None makes one from the config."""
    started = time.time()
    emit = _Emitter(run, on_event)
    if cfg.sandbox == "strict":
        from autoreward.sandbox.worker import set_policy

        set_policy("strict")
    inputs = build_agents_inputs(cfg)  # a bad fitness fails here, before any work
    schema, plan, training = inputs.schema, inputs.plan, inputs.training
    client = make_client(
        cfg,
        run,
        manual_notify=lambda ev: emit(ev["event"], **{k: v for k, v in ev.items() if k != "event"}),
    )
    client.preflight()
    if executor is None:
        executor = make_executor(cfg.executor, workers=cfg.workers or None, address=cfg.ray_address)
    designer = Designer(client, schema, cfg.task, check=_checker(schema),
                        temperature=cfg.temperature, training=training)  # fmt: skip
    critic = Critic(client, schema, cfg.task, training=training) if cfg.critic else None
    analyzer = Analyzer(client, schema, cfg.task, training=training)
    target = cfg.target_fitness if cfg.target_fitness is not None else schema.fitness.target
    emit("run_start", env_id=cfg.env_id, task=cfg.task, model=cfg.model, budget=plan.total_steps,
         budget_note=plan.budget_note, training=inputs.setup.model_dump(mode="json"))  # fmt: skip

    history = run.candidate_records()
    best_so_far = _best(history)
    target_reached = best_so_far is not None and _reached(best_so_far, target)
    iterations_run = 0
    stop_said = False
    for it in range(cfg.iterations):
        if target_reached:
            if not stop_said:  # reached in an earlier session: this one stops at once
                emit("run_stop", **_stop_reason(best_so_far, target, it, cfg.iterations))
            break
        if (run.iter_dir(it) / "done.json").exists():
            iterations_run += 1
            continue
        iterations_run += 1
        emit("iteration_start", iteration=it)
        if it > 0 and is_deferred(run, it - 1):  # the run went on after its last iteration
            emit("phase", phase="analyzing", iteration=it - 1)
            analyze_iteration(run, analyzer, it - 1)
        context = _design_context(run, history, cfg.feedback)

        # ---- 1. designer: K samples, each validated + dry-run, repaired up to twice
        emit("phase", phase="designing")
        proposals = _load_or_propose(run, designer, it, cfg.samples, context, emit)

        # ---- 2. cheap screening before any training: duplicates, ranking consistency, critic
        emit("phase", phase="screening")
        to_train = screen_candidates(run, it, proposals, designer, critic, history, emit)

        # ---- 3. train with successive halving, evaluate on the task fitness
        emit("phase", phase="training")
        train_candidates(executor, plan, {j: run.cand_dir(it, j) for j in to_train}, to_train,
                         it, on_event=emit)  # fmt: skip
        history = run.candidate_records()
        best = _best(history)
        if best is not None:
            _write_best(run, best)
            emit("best", iteration=best.iteration, candidate=best.index, fitness=best.fitness,
                 seeds=len(best.seed_fitness) or 1)  # fmt: skip
        target_reached = best is not None and _reached(best, target)

        # ---- 4. analyzer: every trained candidate, the best and the worst in full; skipped
        # after the last iteration, where no designer reads it (see loop/analysis.py)
        last = it == cfg.iterations - 1 or target_reached
        if last:
            emit("run_stop", **_stop_reason(best, target if target_reached else None, it + 1,
                                            cfg.iterations))  # fmt: skip
            stop_said = True
            emit("analysis_skipped", iteration=it,
                 reason="last iteration: no designer reads it (refine or a resumed run writes it)")  # fmt: skip
        else:
            emit("phase", phase="analyzing")
            analyze_iteration(run, analyzer, it)
        mark_done(run, it, time.time(), deferred=last)
        emit("llm_usage", tokens=client.usage.total_tokens, cost=client.usage.cost,
             **_replay_fields(client))  # fmt: skip
        emit("iteration_end", iteration=it, best_fitness=None if best is None else best.fitness)

    # ---- final: the best of the top few by a multi-seed estimate, reported as mean ± std
    best, final = _final(run, executor, plan, cfg, run.candidate_records(), emit)

    # ---- tuning: Optuna trials over the best reward's named coefficients (--tune N)
    tuned = None
    if cfg.tune > 0 and best is not None:
        emit("phase", phase="tuning coefficients")
        tuned = tune_best(run, executor, plan, best, final, n_trials=cfg.tune,
                          n_seeds=cfg.final_seeds, seed=cfg.seed, check=designer.check,
                          on_event=emit).model_dump(mode="json")  # fmt: skip
    # a resumed run counts the iterations its earlier sessions finished (also when it stops
    # at once because the target was already reached)
    iterations_run = max(iterations_run, sum(
        (run.iter_dir(it) / "done.json").exists() for it in range(cfg.iterations)))  # fmt: skip
    result = LoopResult(
        run_dir=str(run.path),
        best=best,
        iterations_run=iterations_run,
        target_reached=target_reached,
        final=final,
        tokens=client.usage.total_tokens,
        cost=client.usage.cost,
        wall_s=run.wall_time(now=time.time()) or time.time() - started,
        replayed=client.replay_counts,
        budget_note=plan.budget_note,
        tune=tuned,
    )
    atomic_write_json(run.path / "result.json", result.model_dump(mode="json"))
    emit("run_end", best_fitness=None if best is None else best.fitness, wall_s=result.wall_s,
         final_mean=None if final is None else final.get("mean"),
         final_std=None if final is None else final.get("std"), **_replay_fields(client))  # fmt: skip
    return result


def _final(
    run: RunDir,
    executor: Executor,
    plan: TrainPlan,
    cfg: RunConfig,
    history: list[CandidateRecord],
    emit: _Emitter,
) -> tuple[CandidateRecord | None, dict[str, Any] | None]:
    best = _best(history)
    if best is None or cfg.final_seeds <= 0:
        return best, None
    emit("phase", phase="final seeds")
    top = top_candidates(history, cfg.final_candidates)
    saved = read_json(run.best_dir / "final.json")
    if same_candidates(saved, top, cfg.final_seeds):
        final: dict[str, Any] = saved  # type: ignore[assignment]
        chosen = next(
            (r for r in top if (r.iteration, r.index) == (final["iteration"], final["index"])), best
        )
    else:
        picked = select_best(executor, plan, run, history, n_candidates=cfg.final_candidates,
                             n_seeds=cfg.final_seeds, on_event=emit)  # fmt: skip
        assert picked is not None
        chosen, final = picked
        atomic_write_json(run.best_dir / "final.json", final)
    _write_best(run, chosen)
    emit("final", rule=final.get("rule"), changed_best=final.get("changed_best"),
         candidates=[{k: c.get(k) for k in ("iteration", "index", "screening_fitness", "mean", "std", "n_seeds")}
                     for c in final.get("candidates", [])],
         **{k: v for k, v in final.items() if not isinstance(v, (list, dict)) and k not in ("rule", "changed_best")})  # fmt: skip
    return chosen, final


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
    # Nothing trained yet after a whole iteration: the retry prompt (or the first one again,
    # when no candidate was recorded), so ask for fresh samples, never cached answers.
    offset = it * k if context.best_code is None else 0
    proposals = designer.propose(k, iteration=it, context=context, sample_offset=offset)
    proposals += _human_edits(run, designer, it, start=k)
    for p in proposals:
        d = run.cand_dir(it, p.index)
        if p.code:
            atomic_write_text(d / "reward.py", p.code)
        human = [v for v in p.prompt_versions if v.startswith("human edit")]
        origin = {"origin": human[0]} if human else {}
        atomic_write_json(
            d / "check.json", {"ok": p.ok, "error": p.error, "repairs": p.n_repairs, **origin}
        )
        emit(
            "candidate",
            iteration=it,
            candidate=p.index,
            state="checked" if p.ok else "failed",
            reason="" if p.ok else _short(p.error),
        )
    atomic_write_json(path, [p.model_dump(mode="json") for p in proposals])
    return proposals


def _human_edits(run: RunDir, designer: Designer, it: int, start: int) -> list[Proposal]:
    """Rewards the person edited by hand after iteration `it - 1` (`feedback.json` "edits",
    written by `autoreward studio`): candidates `start`, `start + 1`, ... of iteration `it`,
    through the designer's own check (validation and the sandboxed dry run)."""
    if it == 0:
        return []
    feedback = read_json(run.iter_dir(it - 1) / "feedback.json") or {}
    out = []
    for n, edit in enumerate(feedback.get("edits") or []):
        code = str(edit.get("code") or "")
        error = designer.check_code(code)
        out.append(
            Proposal(
                index=start + n,
                iteration=it,
                code=code,
                ok=error is None,
                error=error,
                prompt_versions=[
                    f"human edit of iteration {it - 1} candidate {edit.get('candidate')}"
                ],
            )
        )
    return out


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


def _best(history: list[CandidateRecord]) -> CandidateRecord | None:
    trained = [r for r in history if r.status == "trained" and r.fitness is not None]
    return max(trained, key=lambda r: (r.fitness, r.steps, -r.iteration)) if trained else None


def _stop_reason(
    best: CandidateRecord | None, target: float | None, done: int, iterations: int
) -> dict[str, Any]:
    """Why the iterations end, for the run log: the target reached (by which candidate, at
    which value; `target` None when it was not), or every iteration run."""
    if target is not None and best is not None and best.fitness is not None:
        return {
            "reason": "target",
            "text": f"target {target:g} reached by iteration {best.iteration} candidate "
            f"{best.index} at fitness {best.fitness:.4g} (after {done} of {iterations} iterations)",
            "iteration": best.iteration,
            "candidate": best.index,
            "fitness": best.fitness,
        }
    text = f"all {iterations} iterations ran"
    if best is not None and best.fitness is not None:
        text += (
            f"; best fitness {best.fitness:.4g} (iteration {best.iteration} candidate {best.index})"
        )
    return {"reason": "iterations", "text": text}


def _reached(best: CandidateRecord, target: float | None) -> bool:
    return target is not None and best.fitness is not None and best.fitness >= target


def _design_context(
    run: RunDir, history: list[CandidateRecord], feedback: str | None
) -> DesignContext:
    """Everything the designer is told, derived from the run directory alone (so a resumed
    run builds the very same prompt and hits the LLM cache)."""
    best = _best(history)
    if best is None:
        latest = max((r.iteration for r in history), default=None)
        failed = [r for r in history if r.iteration == latest]
        return DesignContext(
            human_feedback=feedback, failures_text=evidence.failures_text(run, failed)
        )
    last = max(r.iteration for r in history)
    # The latest human feedback stays in force until the person gives new feedback.
    human: dict[str, Any] = next(
        (f for i in range(last, -1, -1) if (f := read_json(run.iter_dir(i) / "feedback.json"))), {}
    )
    bd = run.cand_dir(best.iteration, best.index)
    recent = [r for r in history if r.iteration == last]
    _, worst = evidence.best_and_worst(recent)
    if worst is not None and (worst.iteration, worst.index) == (best.iteration, best.index):
        worst = None
    return DesignContext(
        best_code=(bd / "reward.py").read_text(),
        best_fitness=best.fitness,
        best_fitness_text=evidence.fitness_text(best, bd)
        + f" (iteration {best.iteration}, candidate {best.index}"
        + (")" if len(best.seed_fitness) > 1 else ", one training seed)"),
        fitness_summary=evidence.fitness_table(recent),
        candidates_overview=evidence.candidates_overview(run, recent),
        stats_text=evidence.stats_text(bd),
        worst_text=None
        if worst is None
        else evidence.candidate_summary(run.cand_dir(worst.iteration, worst.index)),
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
