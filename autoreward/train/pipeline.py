"""One candidate's job end to end, as three containers and a parent that trusts none of them.

1. **train** (`sb3.trainer.run_train_job`, or `rslrl.trainer.run_warp_train_job` for a job whose
   `backend` is warp): the learner, which never loads reward code; writes only into
   `<out>/train/`: progress, a resumable checkpoint, pickle-free policies at each statistics
   checkpoint. Beside it, with a generated reward, the **reward process** (`rewardproc.serve`,
   its own container started by `rewardhost.RewardProcess`: the code and the field names only,
   nothing writable) answers one request per vector step over a socket pair both inherit. A warp job's
   container also reads MuJoCo Warp's compiled kernels, read-only; a container that runs no
   reward code compiles them first where needed (`envs/warp/cache.py`).
2. **evaluate** (`evaljob.run_eval_job`, no reward code at all): reads the policies
   read-only, measures the task fitness of the final policy and of every checkpoint policy,
   writes `<out>/eval/` (episodes, video).
3. **terms** (`rescore.terms_job`, the reward again): the reward's components on the stored
   evaluation episodes (read-only), for the analyzer; the fitness is already measured.

The parent then reads each container's result as untrusted data (size-capped, validated by
its model, npz without pickles), merges the fitness curve into the training statistics,
builds the trajectory summaries and publishes `train.json`, `eval.json`, `stats.json`,
`trajectories.json`, `episodes.npz`, `policy.npz` and `video.mp4` in `<out>/`. Only the
parent writes there; each container sees nothing of the run but its own folder and inputs.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoreward.sandbox.untrusted import (
    MAX_NPZ_BYTES,
    UntrustedDataError,
    clean_text,
    load_npz,
    parse_model,
    read_capped,
)
from autoreward.sandbox.untrusted import read_json as read_untrusted
from autoreward.store.atomic import atomic_write_bytes, atomic_write_json, read_json
from autoreward.train.evaljob import EPISODES_FILE, VIDEO_FILE, EvalJob, EvalOutcome
from autoreward.train.inputs import (
    INPUTS_DIR,
    InputCopyError,
    checkpoint_copy,
    copy_file,
    input_dir,
    policy_copy,
)
from autoreward.train.job import CurvePoint, StatsPoint, TrainJob, TrainOutcome, TrainResult
from autoreward.train.limits import evaluation_limits, terms_limits, training_limits
from autoreward.train.rewardhost import RewardProcess

if TYPE_CHECKING:
    from autoreward.envs.warp.cache import KernelCache
    from autoreward.sandbox.worker import Limits, WorkerResult

TRAIN_TARGET = "autoreward.train.sb3.trainer:run_train_job"
WARP_TRAIN_TARGET = "autoreward.train.rslrl.trainer:run_warp_train_job"
EVAL_TARGET = "autoreward.train.evaljob:run_eval_job"
TERMS_TARGET = "autoreward.train.rescore:terms_job"
REWARD_TARGET = "autoreward.train.rewardproc:serve"
TRAIN_DIR, EVAL_DIR, TERMS_DIR = "train", "eval", "terms"
MAX_VIDEO_BYTES = 256 * 1024 * 1024
JOB_FILE = "job.json"


def run_pipeline(
    job: TrainJob,
    limits: Limits | None = None,
    *,
    train_target: str | None = None,
    reward_target: str | None = None,
    prior_curve: list[CurvePoint] | None = None,
) -> TrainResult:
    """Train, evaluate and publish one job (see the module docstring); never raises for
    what a container does. `prior_curve`: the fitness curve of the run this job continues
    (default: read from `<out>/train.json` when resuming). `train_target` (default: the
    trainer of the job's backend) and `reward_target` (default: `rewardproc.serve`) exist for
    tests that run hostile code in those containers."""

    out = Path(job.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    job = job.model_copy(update={"out_dir": str(out)})
    if job.schema_data is None:
        # The schema as this process sees it (user schema folders included) travels with the
        # job: the containers hold no envs/ folder.
        from autoreward.envs.registry import load_schema

        job = job.model_copy(
            update={"schema_data": load_schema(job.env_id).model_dump(mode="json")}
        )
    limits = limits or training_limits(job)
    # What rebuilds this candidate's policy later (`autoreward play`, videos): the job
    # without its reward code, written by this process.
    atomic_write_json(
        out / JOB_FILE, job.model_copy(update={"reward_code": None}).model_dump(mode="json")
    )
    if prior_curve is None and job.resume_from:
        prior_curve = [
            CurvePoint.model_validate(p)
            for p in (read_json(out / "train.json") or {}).get("curve", [])
        ]
    try:
        return _stages(job, out, limits, train_target, reward_target, prior_curve)
    finally:
        # The parent-made copies the containers read (checkpoint, policies, episodes).
        shutil.rmtree(out / INPUTS_DIR, ignore_errors=True)


def _stages(
    job: TrainJob,
    out: Path,
    limits: Limits,
    train_target: str | None,
    reward_target: str | None,
    prior_curve: list[CurvePoint] | None,
) -> TrainResult:
    timings: dict[str, float] = {}
    target = train_target or (WARP_TRAIN_TARGET if job.backend == "warp" else TRAIN_TARGET)

    # ---- 1. the training container (a warp job: MuJoCo Warp's kernels compiled beforehand,
    # by a container that runs no reward code, then bound read-only)
    cache = kernel_cache(job, limits) if job.backend == "warp" else None
    if cache is not None:
        timings["kernel_cache_s"] = cache.warm_up_s
    t0 = time.time()
    outcome, failure = _train(job, out, limits, target, cache, reward_target or REWARD_TARGET)
    timings["train_container_s"] = time.time() - t0
    note = cache.note if cache is not None and cache.note else None
    if outcome is None or outcome.status != "ok":
        return _publish_failure(job, out, outcome, failure, timings, note)
    timings.update(startup_s=outcome.startup_s, learn_s=outcome.learn_s)

    # ---- 2. the evaluation container (never sees the reward)
    t0 = time.time()
    done = {p.step for p in prior_curve or [] if p.fitness is not None}
    evaluation, failure = _evaluate(
        job, out, limits, [s for s in outcome.policies if s not in done]
    )
    timings["eval_container_s"] = time.time() - t0
    if evaluation is None or evaluation.evaluation is None:
        return _publish_failure(job, out, outcome, f"evaluation failed: {failure}", timings, note)

    # ---- 3. the reward's components on the evaluation episodes (its own container)
    terms: dict[str, Any] | None = None
    if job.reward_code is not None and not job.reward_terms:
        skipped = (
            "the reward's components on the evaluation episodes were not computed (first rung)"
        )
        note = "; ".join(x for x in [note, skipped] if x)
    elif job.reward_code is not None:
        t0 = time.time()
        terms, terms_note = _terms(job, out)
        note = "; ".join(x for x in [note, terms_note] if x) or None
        timings["terms_container_s"] = time.time() - t0

    # ---- 4. assemble and publish (this process only)
    t0 = time.time()
    result = _publish(job, out, outcome, evaluation, terms, note, prior_curve or [], timings)
    timings["publish_s"] = time.time() - t0
    return result


# =========================================================================== the containers


def _run(target: str, payload: dict[str, Any], limits: Limits, workdir: Path,
         inputs: list[Path], job: TrainJob, env: dict[str, str] | None = None,
         pass_fds: tuple[int, ...] = ()) -> Callable[[], WorkerResult]:  # fmt: skip
    """The container run, to be called (`_learner_result` turns its failure to start into a
    reason)."""
    from autoreward.sandbox.container import env_modules
    from autoreward.sandbox.worker import run_isolated

    return lambda: run_isolated(
        target, payload, limits, workdir=workdir, inputs=inputs, modules=env_modules(job.env_id),
        env=env, pass_fds=pass_fds,
    )  # fmt: skip


def kernel_cache(job: TrainJob, limits: Limits) -> KernelCache | None:
    """MuJoCo Warp's kernel cache for a warp job's training container (read-only), warmed
    first if needed (`envs/warp/cache.py`); None when the job's schema cannot run there (the
    training container then says why)."""
    from autoreward.envs.warp.cache import ensure_kernels
    from autoreward.envs.warp.model import unsupported_reason
    from autoreward.train.runner import load_job_schema

    schema = load_job_schema(job)
    if unsupported_reason(schema) is not None:
        return None
    return ensure_kernels(schema, job.device, limits)


def _train(
    job: TrainJob,
    out: Path,
    limits: Limits,
    target: str,
    cache: KernelCache | None = None,
    reward_target: str = REWARD_TARGET,
) -> tuple[TrainOutcome | None, str | None]:
    workdir = out / TRAIN_DIR
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        inputs, env, job = training_container(job, workdir, cache)
    except InputCopyError as err:
        return None, str(err)
    try:
        # The learner never loads reward code: with a generated reward it gets a socket to
        # the reward process (its own container) instead of the code.
        learner = job.model_copy(update={"out_dir": str(workdir), "reward_code": None})
        payload = {**learner.model_dump(mode="json"), "_started": time.time()}
        if job.reward_code is None:
            return _learner_result(_run(target, payload, limits, workdir, inputs, job, env))
        with RewardProcess(job, limits, reward_target) as reward:
            payload["_reward_link"] = reward.link.to_payload()
            learner_limits = limits.model_copy(update={"reward_call_seconds": 0.0})
            return _learner_result(
                _run(target, payload, learner_limits, workdir, inputs, job, env, reward.fds)
            )
    finally:
        shutil.rmtree(out / INPUTS_DIR / "checkpoint", ignore_errors=True)


def _learner_result(run: Callable[[], WorkerResult]) -> tuple[TrainOutcome | None, str | None]:
    try:
        res = run()
    except Exception as err:  # the worker could not even start
        return None, f"worker did not start: {type(err).__name__}: {err}"
    if res.ok and res.value is not None:
        try:
            return parse_model(res.value, TrainOutcome, "training result"), None
        except UntrustedDataError as err:
            return None, f"worker returned a malformed result: {err}"
    return None, f"worker {res.status}: {res.reason}" if res.reason else f"worker {res.status}"


def training_container(
    job: TrainJob, workdir: Path, cache: KernelCache | None = None
) -> tuple[list[Path], dict[str, str] | None, TrainJob]:
    """What a training container reads besides the system (bound read-only), the variables
    it gets, and the job it runs: a continued checkpoint is a parent-made copy of its regular
    files (`inputs.py`; the folder a job wrote is never resolved or bound), and a warp job's
    kernel cache. InputCopyError when the checkpoint holds a link or is too big."""
    inputs = [cache.path] if cache is not None and cache.path is not None else []
    if job.resume_from:
        copy = checkpoint_copy(job.resume_from, workdir.parent)
        inputs.append(copy)
        job = job.model_copy(update={"resume_from": str(copy)})
    return inputs, (dict(cache.env) if cache is not None and cache.env else None), job


def _evaluate(
    job: TrainJob, out: Path, limits: Limits, steps: list[int]
) -> tuple[EvalOutcome | None, str | None]:

    workdir = out / EVAL_DIR
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    try:
        policies = policy_copy(out / TRAIN_DIR / "policy", out)
    except InputCopyError as err:
        return None, str(err)
    request = EvalJob(
        job=job.model_copy(update={"reward_code": None, "out_dir": str(workdir)}),
        policy_dir=str(policies),
        out_dir=str(workdir),
        checkpoint_steps=steps,
    )
    try:
        res = _run(EVAL_TARGET, request.model_dump(mode="json"), evaluation_limits(limits),
                   workdir, [policies], job)()  # fmt: skip
    except Exception as err:
        return None, f"evaluation worker did not start: {type(err).__name__}: {err}"
    if res.ok and res.value is not None:
        try:
            return parse_model(res.value, EvalOutcome, "evaluation result"), None
        except UntrustedDataError as err:
            return None, str(err)
    return None, f"{res.status}: {res.reason}"


def _terms(job: TrainJob, out: Path) -> tuple[dict[str, Any] | None, str | None]:

    workdir = out / TERMS_DIR
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    try:
        episodes = copy_file(out / EVAL_DIR, EPISODES_FILE, input_dir(out, EPISODES_FILE),
                             MAX_NPZ_BYTES, "the evaluation episodes")  # fmt: skip
    except InputCopyError as err:
        return None, str(err)
    payload = {
        "code": job.reward_code,
        "episodes": str(episodes),
        "out_dir": str(workdir),
        "detail_episodes": job.trajectory_episodes,
    }
    try:
        res = _run(TERMS_TARGET, payload, terms_limits(), workdir, [episodes], job)()
    except Exception as err:
        return None, f"reward components on the evaluation episodes: {err}"
    if not res.ok or res.value is None:
        return None, f"the reward failed on the evaluation episodes: {res.reason or res.status}"
    value = res.value
    try:
        names = [clean_text(n, 80) for n in value["term_names"]][:64]
        returns = [float(x) for x in value["generated_returns"]]
        sums = [{clean_text(k, 80): float(v) for k, v in d.items()} for d in value["term_sums"]]
    except (KeyError, TypeError, ValueError) as err:
        return None, f"malformed reward components: {err}"
    return {"term_names": names, "generated_returns": returns, "term_sums": sums}, None


# =========================================================================== publishing


def _publish(
    job: TrainJob,
    out: Path,
    outcome: TrainOutcome,
    evaluated: EvalOutcome,
    terms: dict[str, Any] | None,
    note: str | None,
    prior_curve: list[CurvePoint],
    timings: dict[str, float],
) -> TrainResult:
    import numpy as np

    from autoreward.train.runner import load_job_schema
    from autoreward.train.stats import build_stats
    from autoreward.train.trajectories import load_traces, summarize_trajectories

    schema = load_job_schema(job)
    evaluation = evaluated.evaluation
    assert evaluation is not None
    fitness_at = {p.step: p.fitness for p in prior_curve if p.fitness is not None}
    fitness_at.update({c.step: c.fitness for c in evaluated.curve})
    history = []
    for point in outcome.history:
        merged = point.model_copy(update={"fitness": fitness_at.get(point.step)})
        history.append(merged.model_dump(mode="json"))
    if terms is not None and len(terms["generated_returns"]) == len(evaluation.episodes):
        for row, ret in zip(evaluation.episodes, terms["generated_returns"], strict=True):
            row.generated_return = ret
        evaluation.generated_return_mean = float(np.mean(terms["generated_returns"]))
    stats = build_stats(history, list(outcome.term_names), schema.fitness.target,
                        evaluation.generated_return_mean,
                        schema.train.deterministic_eval)  # fmt: skip
    episodes_src = out / EVAL_DIR / EPISODES_FILE
    trajectories: dict[str, Any] | None = None
    try:
        load_npz(episodes_src)  # validated before it is published
        traces = load_traces(
            episodes_src,
            evaluation,
            out / TERMS_DIR / "terms.npz" if terms is not None else None,
            terms["term_names"] if terms is not None else None,
        )
        trajectories = summarize_trajectories(
            traces, evaluation, schema, episodes=job.trajectory_episodes, hacking=stats["hacking"]
        )
        atomic_write_bytes(out / EPISODES_FILE, read_capped(episodes_src, MAX_NPZ_BYTES))
    except (UntrustedDataError, ValueError, KeyError) as err:
        note = "; ".join(x for x in [note, f"no trajectories: {err}"] if x)
    if note and trajectories is not None:
        trajectories["events"].append({"kind": "note", "detail": note})

    atomic_write_json(out / "eval.json", evaluation.model_dump(mode="json"))
    atomic_write_json(out / "stats.json", stats)
    if trajectories is not None:
        atomic_write_json(out / "trajectories.json", trajectories)
    # The copy the evaluation container read (made by this process, no link followed).
    final_policy = out / INPUTS_DIR / "policy" / "final.npz"
    if final_policy.is_file() and not final_policy.is_symlink():
        shutil.copyfile(final_policy, out / "policy.npz")
    video_path, video_status = _publish_video(job, out, evaluated)
    if job.tensorboard:
        _tensorboard_fitness(out, evaluated, outcome.steps)

    curve = [
        CurvePoint(
            step=p["step"],
            fitness=p.get("fitness"),
            generated_return=p.get("generated_return"),
            env_return=p.get("env_return"),
            episodes=p.get("episodes", 0),
        )
        for p in history
    ]
    timings.update(eval_s=evaluated.eval_s, curve_s=evaluated.curve_s, video_s=evaluated.video_s)
    result = _result(job, outcome, "ok", timings, curve=curve,
        fitness=evaluation.fitness, fitness_kind=evaluation.fitness_kind,
        fitness_episodes=[e.fitness_value if e.success is None else float(e.success)
                          for e in evaluation.episodes],
        env_return=evaluation.env_return_mean, generated_return=evaluation.generated_return_mean,
        episode_length=evaluation.length_mean, hacking_flag=bool(stats["hacking"]["flagged"]),
        hacking_reason=stats["hacking"]["reason"] if stats["hacking"]["flagged"] else None,
        checkpoint=str(out / TRAIN_DIR / "checkpoint") if outcome.checkpoint else None,
        video=video_path, video_status=video_status,
    )  # fmt: skip
    _write_train_json(out, result, outcome, note)
    return result


def _tensorboard_fitness(out: Path, evaluated: EvalOutcome, final_step: int) -> None:
    """The measured fitness as TensorBoard scalars, beside the training container's own log
    (`<out>/train/tb`): `<out>/tb`, written by this process (only the new points)."""
    from autoreward.train.tblog import TB_DIR, write_scalars

    scalars: dict[int, dict[str, float]] = {c.step: {"checkpoint/fitness": c.fitness}
                                            for c in evaluated.curve}  # fmt: skip
    if evaluated.evaluation is not None:
        scalars.setdefault(final_step, {})["eval/fitness"] = evaluated.evaluation.fitness
    try:
        write_scalars(out / TB_DIR, scalars)
    except Exception:  # noqa: BLE001 (a missing TensorBoard must never fail a trained job)
        pass


def _publish_video(job: TrainJob, out: Path, evaluated: EvalOutcome) -> tuple[str | None, str]:
    if not job.video:
        return None, "not requested"
    video = evaluated.video
    source = out / EVAL_DIR / VIDEO_FILE
    if video is None or not video.ok:
        return None, video.status if video is not None else "no video: not rendered"
    try:
        atomic_write_bytes(out / VIDEO_FILE, read_capped(source, MAX_VIDEO_BYTES))
    except UntrustedDataError:
        return None, "no video: the file is not a plain video file of sensible size"
    return str(out / VIDEO_FILE), video.status


def _publish_failure(
    job: TrainJob,
    out: Path,
    outcome: TrainOutcome | None,
    reason: str | None,
    timings: dict[str, float],
    note: str | None = None,
) -> TrainResult:
    """A failed job still records what it did: steps, and the statistics so far (evidence
    for the analyzer), read from the training container's files when it died."""
    from autoreward.train.stats import build_stats

    history: list[StatsPoint] = list(outcome.history) if outcome is not None else []
    names: list[str] = list(outcome.term_names) if outcome is not None else []
    steps = outcome.steps if outcome is not None else _progress_steps(out)
    if outcome is None:
        history, names = _checkpoint_history(out)
    if history:
        atomic_write_json(
            out / "stats.json", build_stats([p.model_dump(mode="json") for p in history], names)
        )
    why = reason or (outcome.reason if outcome is not None else None) or "training failed"
    base = outcome or TrainOutcome(status="failed", steps=steps)
    result = _result(job, base, "failed", timings, reason=why)
    result.steps = steps
    _write_train_json(out, result, outcome, note)
    return result


def _result(
    job: TrainJob, outcome: TrainOutcome, status: str, timings: dict[str, float], **fields: Any
) -> TrainResult:
    return TrainResult(
        status=status,  # type: ignore[arg-type]
        label=job.label,
        env_id=job.env_id,
        algo=outcome.algo or job.algo or "",
        seed=job.seed,
        out_dir=job.out_dir,
        steps=outcome.steps,
        steps_this_run=outcome.steps_this_run,
        total_steps=outcome.total_steps or job.total_steps or 0,
        wall_s=sum(v for k, v in timings.items() if k.endswith("container_s")),
        steps_per_s=outcome.steps_per_s,
        timings={k: round(v, 3) for k, v in timings.items()},
        **fields,
    )


def _write_train_json(
    out: Path, result: TrainResult, outcome: TrainOutcome | None, note: str | None
) -> None:
    extra: dict[str, Any] = {}
    if outcome is not None:
        extra = {
            **_plain(outcome.setup),
            "learn_s": outcome.learn_s,
            "learn_cpu_s": outcome.learn_cpu_s,
            "checkpoint_overhead_s": outcome.checkpoint_overhead_s,
            "steps_per_cpu_s": outcome.steps_per_cpu_s,
            "resumed_from_steps": outcome.steps - outcome.steps_this_run,
            "n_envs": outcome.n_envs,
            "device": outcome.device,  # the one torch trained on
            "device_requested": result_device(result),
        }
    if note:
        extra["note"] = note
    atomic_write_json(out / "train.json", {**result.model_dump(mode="json"), **extra})


def result_device(result: TrainResult) -> str:
    """The device the job asked for (from its train.json's job; 'cpu' unless set)."""
    saved = read_json(Path(result.out_dir) / JOB_FILE) or {}
    return str(saved.get("device", "cpu"))


def _plain(value: Any, depth: int = 0) -> Any:
    """Worker-reported settings as plain JSON values (strings cleaned, depth bounded)."""
    if depth > 4:
        return None
    if isinstance(value, dict):
        return {clean_text(k, 80): _plain(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value[:200]]
    if isinstance(value, str):
        return clean_text(value, 500)
    return value if isinstance(value, (int, float, bool, type(None))) else clean_text(value, 200)


def _progress_steps(out: Path) -> int:
    try:
        data = read_untrusted(out / TRAIN_DIR / "progress.json", 64 * 1024)
        return max(0, int(data.get("steps") or 0))
    except (UntrustedDataError, AttributeError, TypeError, ValueError):
        return 0


def _checkpoint_history(out: Path) -> tuple[list[StatsPoint], list[str]]:
    try:
        data = read_untrusted(out / TRAIN_DIR / "checkpoint" / "state.json", root=out / TRAIN_DIR)
        points = [parse_model(p, StatsPoint) for p in data.get("history", [])]
        names = [clean_text(n, 80) for n in data.get("term_names", [])][:64]
        return points, names
    except (UntrustedDataError, AttributeError, TypeError):
        return [], []
