"""Batch runs: every task of a suite through the loop, all sharing one worker pool.

    runs/batch-<timestamp>-<suite>/
      batch.yaml            the suite as run, and the options (model, overrides)
      state.json            per task: pending | running | done | failed, attempts, its results row
      events.jsonl          the batch's own events (task start/end, failures with tracebacks)
      tasks/<name>/         the task's run directory (the loop's own layout; resumable)
      reference/<name>/     random.json (a uniformly random policy) and baseline/ (a policy
                            trained on the env's own reward with the task's budget)
      results.md, results.csv, index.sqlite (table batch_results)

Tasks run concurrently in threads; each thread's loop submits its training jobs to the same
`SharedPool`, so at most `workers` jobs train at once whichever task they belong to, and one
task's LLM time overlaps with another's training. A task that fails is recorded with its
reason and the others go on. `run_batch(..., resume=DIR)` skips finished tasks and lets the
loop resume the others from their run directories (the baseline resumes from its job cache).
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml

from autoreward.batch.baselines import (
    BASELINES,
    normalized_score,
    random_policy_fitness,
    sparse_fitness_reward,
)
from autoreward.batch.batchdir import BatchDir
from autoreward.batch.pool import SharedPool
from autoreward.batch.results import BatchResult, TaskRow, llm_usage, rows_of, write_results
from autoreward.batch.suites import Suite, SuiteTask, error_line, task_run_config, task_schema
from autoreward.config import RunConfig, load_run_config
from autoreward.envs.schema import EnvSchema
from autoreward.errors import ConfigError
from autoreward.store.atomic import atomic_write_json, atomic_write_text, read_json
from autoreward.store.rundir import RunDir

EventFn = Callable[[dict[str, Any]], None]


# =========================================================================== running


def run_batch(
    suite: Suite,
    *,
    out: str | Path = "runs",
    tasks: list[str] | None = None,
    executor: Literal["local", "ray"] = "local",
    workers: int = 0,
    ray_address: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    overrides: dict[str, Any] | None = None,
    resume: str | Path | None = None,
    parallel: int = 0,
    on_event: EventFn | None = None,
    pool: Any | None = None,
    preflight: bool = True,
) -> BatchResult:
    """Run the selected tasks of `suite` (all by default); see the module docstring.

    `overrides` (steps, iterations, samples, ...) apply over every task's settings. With
    `resume`, the suite and options saved in that batch directory are used; tasks of `suite`
    it does not hold yet are added. `parallel` caps how many tasks run at once (0: as many as
    the pool has workers, at least 2). `pool` replaces the executor (tests). `preflight`
    checks the LLM provider once (keys, endpoint) before any work starts.
    """
    started = time.time()
    suite.select(tasks)  # unknown task names fail before anything is created
    if preflight:
        _preflight(suite, model, api_base, resume)
    batch, suite, options = _open_or_create(suite, out, resume, model, api_base, overrides)
    selected = suite.select(tasks)
    state = batch.state()["tasks"]
    todo = [t for t in selected if state.get(t.name, {}).get("status") != "done"]

    if pool is None:
        from autoreward.exec import make_executor

        inner = make_executor(executor, workers=workers or None, address=ray_address)
        start = getattr(inner, "_ensure_ray", None)
        if callable(start):  # ray.init must run once, in the main thread, before the task threads
            start()
        slots = getattr(inner, "workers", None) if executor == "local" else (workers or None)
        pool = SharedPool(inner, slots)
    shared = pool if isinstance(pool, SharedPool) else SharedPool(pool, None)
    n_parallel = parallel or max(2, shared.slots or 2)

    def emit(kind: str, **data: Any) -> None:
        if kind != "task_loop":  # the loop's own events are in the task's events.jsonl already
            batch.event(kind, **data)
        if on_event is not None:
            on_event({"event": kind, **data})

    emit("batch_start", batch_dir=str(batch.path), suite=suite.name, tasks=[t.name for t in selected],
         skipped=[t.name for t in selected if t not in todo], parallel=n_parallel)  # fmt: skip
    for t in selected:
        if t not in todo:
            emit(
                "task_state", task=t.name, status="done", skipped=True, **_row_fields(state[t.name])
            )
    runner = _TaskRunner(batch, suite, options, shared, emit, executor, workers, ray_address)
    _import_env_modules(todo)
    try:
        _run_all(runner.run, todo, n_parallel)
    except KeyboardInterrupt:
        emit("batch_interrupted", batch_dir=str(batch.path))
        raise

    # the batch's table holds every task that has a row, not only those this call selected: a
    # resume with --tasks would otherwise overwrite the finished tasks' rows
    every_row = rows_of(batch, suite)
    write_results(batch, suite, every_row)
    names = {t.name for t in selected}
    rows = [r for r in every_row if r.task in names]
    result = BatchResult(
        batch_dir=str(batch.path), suite=suite.name, rows=rows, wall_s=time.time() - started
    )
    emit(
        "batch_end",
        wall_s=result.wall_s,
        done=sum(r.status == "done" for r in rows),
        failed=len(result.failed),
    )
    return result


def _import_env_modules(tasks: list[SuiteTask]) -> None:
    """Import every task's env module here, in one thread, before the task threads start:
    two threads making envs of one gymnasium package at once can see it half-initialised
    ("cannot import name 'CartPoleEnv' from partially initialized module")."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    from autoreward.envs.builtin import register_builtin_envs

    register_builtin_envs()
    for task in tasks:
        try:
            entry = gym.spec(task.env).entry_point
            if isinstance(entry, str):
                load_env_creator(entry)
        except Exception:  # an unknown or broken env fails in its own task, with its reason
            continue


def _run_all(fn: Callable[[SuiteTask], None], tasks: list[SuiteTask], parallel: int) -> None:
    """`fn` over the tasks in suite order, `parallel` at a time, on daemon threads joined with
    a timeout so Ctrl-C reaches the main thread at once (every task is resumable)."""
    todo: queue.Queue[SuiteTask] = queue.Queue()
    for task in tasks:
        todo.put(task)
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            try:
                next_task = todo.get_nowait()
            except queue.Empty:
                return
            try:
                fn(next_task)  # records its own failures; anything raised here is a bug
            except BaseException as err:
                errors.append(err)

    threads = [
        threading.Thread(target=worker, daemon=True, name=f"task-{i}")
        for i in range(max(1, min(parallel, len(tasks))))
    ]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    if errors:
        raise errors[0]


def _preflight(
    suite: Suite, model: str | None, api_base: str | None, resume: str | Path | None
) -> None:
    """One provider check for the whole batch, so a missing key fails before any training."""
    from autoreward.llm.client import LLMClient

    if resume is not None and model is None:
        _, options = BatchDir.open(resume).load_spec()
        model, api_base = options.get("model"), api_base or options.get("api_base")
    cfg = task_run_config(suite, suite.tasks[0], model=model, api_base=api_base)
    LLMClient(cfg.model, api_base=cfg.api_base, use_cache=False).preflight()


def _open_or_create(
    suite: Suite,
    out: str | Path,
    resume: str | Path | None,
    model: str | None,
    api_base: str | None,
    overrides: dict[str, Any] | None,
) -> tuple[BatchDir, Suite, dict[str, Any]]:
    given = {
        "model": model,
        "api_base": api_base,
        "overrides": {k: v for k, v in (overrides or {}).items() if v is not None},
    }
    if resume is None:
        batch = BatchDir.create(out, suite, given)
        return batch, suite, given
    batch = BatchDir.open(resume)
    saved_suite, options = batch.load_spec()
    if saved_suite.name != suite.name:
        raise ConfigError(
            f"{resume} holds a batch of suite '{saved_suite.name}', not '{suite.name}'",
            hint="pass the suite the batch was started with, or start a new batch",
        )
    changed = [
        t.name for t in suite.tasks
        if t.name in saved_suite.names and saved_suite.task(t.name) != t
    ]  # fmt: skip
    if changed:
        raise ConfigError(
            f"task(s) {', '.join(changed)} changed since {resume} was started",
            hint="start a new batch for the changed tasks (resuming mixes old and new results)",
        )
    if model is not None and options.get("model") not in (None, model):
        raise ConfigError(
            f"cannot change the model from '{options.get('model')}' to '{model}' when resuming {resume}",
            hint="resume without --model, or start a new batch",
        )
    if given["overrides"] and given["overrides"] != options.get("overrides", {}):
        raise ConfigError(
            f"cannot change --steps/--iterations/--samples when resuming {resume} "
            f"(started with {options.get('overrides') or 'none'})",
            hint="resume without them, or start a new batch",
        )
    if api_base is not None:
        options["api_base"] = api_base  # an endpoint may move between sessions
        batch.save_options(options)
    new = [t for t in suite.tasks if t.name not in saved_suite.names]
    if new:
        batch.add_tasks(new)
        saved_suite.tasks.extend(new)
    return batch, saved_suite, options


class _TaskRunner:
    """Runs one task: random policy, env-reward baseline (alongside), the loop, the row."""

    def __init__(
        self, batch: BatchDir, suite: Suite, options: dict[str, Any], pool: SharedPool,
        emit: Callable[..., None], executor: str, workers: int, ray_address: str | None,
    ) -> None:  # fmt: skip
        self.batch, self.suite, self.options, self.pool, self.emit = (
            batch,
            suite,
            options,
            pool,
            emit,
        )
        self.exec_options = {"executor": executor, "workers": workers, "ray_address": ray_address}

    def run(self, task: SuiteTask) -> None:
        from autoreward.loop import run_loop

        started = time.time()
        prev = self.batch.state()["tasks"].get(task.name, {})
        row = TaskRow(task=task.name, env_id=task.env)
        entry = self.batch.update_task(
            task.name, status="running", attempts=int(prev.get("attempts", 0)) + 1,
            started=started, row=row.model_dump(mode="json"),
        )  # fmt: skip
        self.emit("task_state", task=task.name, status="running", attempt=entry["attempts"])
        baseline: dict[str, Any] = {}
        baseline_thread: threading.Thread | None = None
        try:
            schema = task_schema(task)
            row.fitness_kind = schema.fitness.kind
            cfg = self._config(task)
            run = self._run_dir(task, cfg)
            self.emit("task_phase", task=task.name, phase="random policy")
            row.random_fitness = self._random(task, schema, cfg)["fitness"]
            self.emit(
                "task_state", task=task.name, status="running", random_fitness=row.random_fitness
            )
            if self.suite.defaults.baseline or self.suite.defaults.sparse_baseline:
                baseline_thread = threading.Thread(
                    target=self._baseline, args=(task, schema, cfg, baseline), daemon=True,
                    name=f"baseline-{task.name}",
                )  # fmt: skip
                baseline_thread.start()

            def forward(ev: dict[str, Any]) -> None:
                self.emit("task_loop", task=task.name, loop=ev)

            result = run_loop(cfg, run, on_event=forward, executor=self.pool.for_task(task.name))
            row.iterations = result.iterations_run
            if result.best is not None:
                row.best_fitness = result.best.fitness
                if result.final and result.final.get("mean") is not None:
                    row.final_fitness = float(result.final["mean"])
                    row.final_std = float(result.final.get("std") or 0.0)
                    row.final_seeds = int(result.final.get("n_seeds") or 0)
                row.target_reached = _reached(row.ours, cfg.target_fitness, schema.fitness.target)
                row.status = "done"
            else:
                row.status, row.reason = "failed", _no_candidate_reason(run)
        except Exception as err:
            row.status, row.reason = "failed", error_line(err)
            self.emit(
                "task_error", task=task.name, error=row.reason, traceback=traceback.format_exc()
            )
        finally:
            if baseline_thread is not None:
                self.emit("task_phase", task=task.name, phase="waiting for baseline")
                baseline_thread.join()
            score_row(row, baseline)
            run_path = self.batch.task_dir(task.name)
            row.run_dir = str(run_path) if run_path.exists() else ""
            if run_path.exists():
                row.tokens, row.cost = llm_usage(run_path)
            row.wall_s = _earlier_wall(prev, run_path) + (time.time() - started)
            self.batch.update_task(
                task.name, status=row.status, finished=time.time(), row=row.model_dump(mode="json")
            )
            self.emit(
                "task_state",
                task=task.name,
                status=row.status,
                **_row_fields({"row": row.model_dump()}),
            )
            self._write_partial_results()

    # ------------------------------------------------------------------ steps

    def _config(self, task: SuiteTask) -> RunConfig:
        run_path = self.batch.task_dir(task.name)
        if (run_path / "config.yaml").exists():  # resuming: the saved config is the truth
            saved = RunDir(run_path).load_config()
            saved.update({k: v for k, v in self.exec_options.items() if v is not None})
            if self.options.get("api_base"):
                saved["api_base"] = self.options["api_base"]
            return load_run_config(saved, str(run_path / "config.yaml"))
        cfg = task_run_config(
            self.suite, task, model=self.options.get("model"), api_base=self.options.get("api_base"),
            overrides=self.options.get("overrides"),
        )  # fmt: skip
        return cfg.model_copy(update={k: v for k, v in self.exec_options.items() if v is not None})

    def _run_dir(self, task: SuiteTask, cfg: RunConfig) -> RunDir:
        run = RunDir(self.batch.task_dir(task.name))
        run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.config_path, yaml.safe_dump(cfg.dump(), sort_keys=False))
        return run

    def _random(self, task: SuiteTask, schema: EnvSchema, cfg: RunConfig) -> dict[str, Any]:
        """Cached in `reference/<task>/random.json` while the fitness and episodes match."""
        path = self.batch.reference_dir(task.name) / "random.json"
        episodes = self.suite.defaults.random_episodes
        saved = read_json(path)
        if (
            saved is not None
            and saved.get("expression") == schema.fitness.expression
            and saved.get("aggregate") == schema.fitness.aggregate
            and saved.get("episodes") == episodes
            and saved.get("seed") == cfg.seed
        ):
            return dict(saved)
        out = random_policy_fitness(schema, episodes, cfg.seed)
        atomic_write_json(path, out)
        return out

    def _baseline(
        self, task: SuiteTask, schema: EnvSchema, cfg: RunConfig, out: dict[str, Any]
    ) -> None:
        """Train the two baselines with the candidates' plan (budget, algo, seed) through the
        shared pool, side by side: the env's own reward (`reference/<task>/baseline/`) and the
        task fitness as a sparse reward (`reference/<task>/sparse/`, a plain reward module).
        Their job caches make them resumable. `out[kind]` gets `fitness` or `note`."""
        from autoreward.loop.candidates import ResumableExecutor, TrainPlan

        out.update(env={}, sparse={})
        try:
            self.emit("task_phase", task=task.name, phase="baselines queued", baseline=True)
            plan = TrainPlan.from_config(cfg, schema)
            ref = self.batch.reference_dir(task.name)
            data = schema.model_dump(mode="json")
            jobs, kinds = [], []
            if self.suite.defaults.baseline:
                jobs.append(
                    plan.job(ref / "baseline", None, label=f"{task.name} env-reward baseline")
                )
                kinds.append("env")
            code, rule = sparse_fitness_reward(schema)
            if self.suite.defaults.sparse_baseline:
                out["sparse"]["rule"] = rule
            if self.suite.defaults.sparse_baseline and code is None:
                out["sparse"]["note"] = f"no sparse-fitness baseline: {rule}"
            elif self.suite.defaults.sparse_baseline and code is not None:
                atomic_write_text(ref / "sparse_reward.py", code)
                jobs.append(
                    plan.job(ref / "sparse", code, label=f"{task.name} sparse-fitness baseline")
                )
                kinds.append("sparse")
            jobs = [j.model_copy(update={"schema_data": data}) for j in jobs]

            def progress(i: int, info: dict[str, Any]) -> None:
                self.emit("task_baseline", task=task.name, baseline=kinds[i], steps=info.get("steps", 0),
                          total_steps=info.get("total_steps", 0))  # fmt: skip

            results = ResumableExecutor(self.pool.for_task(task.name)).map(
                jobs, on_progress=progress
            )
            for kind, result in zip(kinds, results, strict=True):
                if result.status == "ok" and result.fitness is not None:
                    out[kind]["fitness"] = result.fitness
                else:
                    out[kind]["note"] = f"{BASELINES[kind]} failed: {result.reason or 'no fitness'}"
        except KeyboardInterrupt:  # Ctrl-C: the batch stops; its job caches make it resumable
            return
        except Exception as err:  # the baselines must never take the task down
            for kind in ("env", "sparse"):
                out[kind].setdefault("note", f"{BASELINES[kind]} failed: {error_line(err)}")
        for kind in kinds_of(self.suite):
            self.emit("task_baseline", task=task.name, baseline=kind, fitness=out[kind].get("fitness"),
                      note=out[kind].get("note", ""))  # fmt: skip

    def _write_partial_results(self) -> None:
        with self.batch._lock:
            write_results(self.batch, self.suite, rows_of(self.batch, self.suite))


def kinds_of(suite: Suite) -> list[str]:
    """The baselines a suite trains."""
    return [
        k
        for k, on in (("env", suite.defaults.baseline), ("sparse", suite.defaults.sparse_baseline))
        if on
    ]


def score_row(row: TaskRow, baselines: dict[str, Any]) -> None:
    """Fill a row's baselines and its normalized score against each (named), with notes."""
    env, sparse = baselines.get("env") or {}, baselines.get("sparse") or {}
    row.baseline_fitness, row.sparse_fitness = env.get("fitness"), sparse.get("fitness")
    row.sparse_rule = sparse.get("rule", "")
    notes: list[str] = []
    if row.status == "done":
        row.normalized, env_note = normalized_score(
            row.ours, row.baseline_fitness, row.random_fitness, name=BASELINES["env"]
        )
        row.normalized_sparse, sparse_note = normalized_score(
            row.ours, row.sparse_fitness, row.random_fitness, name=BASELINES["sparse"]
        )
        if row.ours is not None and row.random_fitness is not None:
            row.over_random = row.ours - row.random_fitness
        notes += [x for x in (env_note, sparse_note) if x]
        if row.final_fitness is not None and (row.normalized, row.normalized_sparse) != (
            None,
            None,
        ):
            notes.append("ours = final-seed mean")
    notes += [x for x in (env.get("note", ""), sparse.get("note", "")) if x and x not in notes]
    row.note = "; ".join(notes)


def _reached(ours: float | None, *targets: float | None) -> bool | None:
    target = next((t for t in targets if t is not None), None)
    return None if target is None or ours is None else ours >= target


def _row_fields(entry: dict[str, Any]) -> dict[str, Any]:
    row = entry.get("row") or {}
    return {k: row.get(k) for k in ("best_fitness", "final_fitness", "final_std", "baseline_fitness",
                                    "sparse_fitness", "random_fitness", "normalized", "normalized_sparse",
                                    "iterations", "tokens", "cost", "wall_s", "reason")}  # fmt: skip


def _earlier_wall(prev: dict[str, Any], run_path: Path) -> float:
    """Wall time of earlier attempts: their recorded total, plus, for an attempt that was
    killed (still 'running'), the time from its start to the last event its run wrote."""
    wall = float((prev.get("row") or {}).get("wall_s") or 0.0)
    if prev.get("status") == "running" and prev.get("started"):
        events = RunDir(run_path).events() if run_path.exists() else []
        if events:
            wall += max(0.0, float(events[-1].get("t", 0.0)) - float(prev["started"]))
    return wall


def _no_candidate_reason(run: RunDir) -> str:
    """Why a run has no trained candidate, from its candidate records."""
    records = run.candidate_records()
    if not records:
        return "no candidate got past the designer (no reward code was produced)"
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.status] = counts.get(rec.status, 0) + 1
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    first = next((r.reason for r in records if r.reason), "")
    return f"all {len(records)} candidates failed ({summary})" + (
        f"; e.g. {first}" if first else ""
    )
