"""The reward dry run: small `check_*` functions over states sampled from the real env.

Built like Gymnasium's env checker: each check returns a `CheckItem` (pass / warn / fail) whose
message says what was expected, what came back, and how to fix it. Hard failures stop the
sequence (there is nothing to measure on a reward that does not return arrays); soft problems
are warnings the critic and designer read.

`check_reward` runs in-process and is meant for the isolated worker (it executes the code);
`check_reward_isolated` is what everyone else calls: the static check in the parent (it never
executes anything), then `check_job` in a worker under `Limits.dry_run()`.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from autoreward.envs.schema import EnvSchema
from autoreward.errors import RewardCodeError
from autoreward.sandbox.inputs import frozen_array, frozen_copy
from autoreward.sandbox.loader import REWARD_FILENAME, load_reward_fn
from autoreward.sandbox.untrusted import (
    MAX_COMPONENTS,
    UntrustedDataError,
    UntrustedStr,
    clean_text,
    component_name_problem,
    parse_model,
)
from autoreward.sandbox.validate import validate_code
from autoreward.sandbox.watchdog import reward_call
from autoreward.sandbox.worker import Limits, WorkerResult, run_isolated
from autoreward.types import RewardFn, State

CHECK_TARGET = "autoreward.sandbox.checker:check_job"
CALL_DEADLINE_S = 5.0
HUGE_SCALE = 1e3
SLOW_MS = 5.0
SUM_RTOL, SUM_ATOL = 1e-5, 1e-6
_TIMING_CALLS, _TIMING_BUDGET_S = 20, 1.0

CheckStatus = Literal["pass", "warn", "fail"]


class CheckItem(BaseModel):
    """One check: its name, outcome and a message (expected X, got Y, how to fix)."""

    name: UntrustedStr
    status: CheckStatus
    message: UntrustedStr


class ComponentStats(BaseModel):
    """Statistics of one reward component (or the total) over the sampled states."""

    mean: float
    std: float
    min: float
    max: float


class CheckReport(BaseModel):
    """The dry run's verdict; saved as `check.json` next to each candidate's `reward.py`."""

    ok: bool
    env_id: str = ""
    n_states: int = 0
    checks: list[CheckItem] = Field(default_factory=list)
    components: dict[UntrustedStr, ComponentStats] = Field(
        default_factory=dict, max_length=MAX_COMPONENTS
    )
    total: ComponentStats | None = None
    ms_per_call: float | None = None
    isolation: str = ""

    @field_validator("components", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """The names as the worker sent them (before cleaning): a report naming components
        `check` refuses is not a passing report, whoever wrote it."""
        if isinstance(value, dict):
            if len(value) > MAX_COMPONENTS:
                raise ValueError(f"at most {MAX_COMPONENTS} components, got {len(value)}")
            for name in value:
                problem = component_name_problem(str(name))
                if problem:
                    raise ValueError(problem)
        return value

    @property
    def failures(self) -> list[CheckItem]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[CheckItem]:
        return [c for c in self.checks if c.status == "warn"]

    def failure_text(self) -> str:
        """The failed checks, one line each (what the designer is told to fix)."""
        return "\n".join(f"{c.name}: {c.message}" for c in self.failures)

    def summary_text(self) -> str:
        """Failures and warnings, one line each ('' when everything passed)."""
        return "\n".join(
            f"[{c.status}] {c.name}: {c.message}" for c in self.checks if c.status != "pass"
        )


class _Stop(Exception):
    """A hard failure: later checks have nothing to work on."""


class _CallTimeout(BaseException):
    """Raised inside reward code when one call overruns its deadline."""


# =========================================================================== entry points


def check_reward(
    src: str,
    schema: EnvSchema,
    n_states: int = 64,
    seed: int = 0,
    entry: str = "compute_reward",
    transitions: tuple[State, np.ndarray, State] | None = None,
    deadline_s: float = CALL_DEADLINE_S,
) -> CheckReport:
    """Validate, load and dry-run `src` on `n_states` transitions of the real env.

    Executes the code: call it inside the worker (or use `check_reward_isolated`).
    `transitions` replaces sampling (tests, or states the caller already has).
    """
    run = _Run(src, schema, entry, deadline_s)
    try:
        run.check_static()
        fn = run.check_load()
        state, action, next_state = run.check_sample(n_states, seed, transitions)
        out = run.check_call(fn, state, action, next_state)
        total, terms = run.check_structure(out, len(action), state)
        run.check_finite(total, terms)
        run.check_terms_sum(total, terms)
        run.check_ranges(total, terms)
        run.check_inputs_untouched(fn, state, action, next_state)
        run.check_determinism(fn, state, action, next_state, total, terms)
        run.check_batch_independence(fn, state, action, next_state, total)
        run.check_action_sensitivity(fn, state, action, next_state, total, terms, seed)
        run.check_state_sensitivity(fn, state, action, next_state, total, seed)
        run.check_speed(fn, state, action, next_state)
    except _Stop:
        pass
    return run.report()


def check_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker target: `check_reward` on `{src, schema, n_states, seed, entry}`."""
    schema = EnvSchema.model_validate(payload["schema"])
    report = check_reward(
        payload["src"],
        schema,
        n_states=int(payload.get("n_states", 64)),
        seed=int(payload.get("seed", 0)),
        entry=str(payload.get("entry", "compute_reward")),
        deadline_s=float(payload.get("deadline_s", CALL_DEADLINE_S)),
    )
    return report.model_dump(mode="json")


def check_reward_isolated(
    src: str,
    schema: EnvSchema | str,
    limits: Limits | None = None,
    n_states: int = 64,
    seed: int = 0,
    entry: str = "compute_reward",
    deadline_s: float | None = None,
) -> CheckReport:
    """The dry run in an isolated worker; hostile code never runs in this process.

    `schema` may be an env id (looked up with `load_schema`). Whatever the worker does, a
    `CheckReport` comes back; a worker that times out or is killed is a failed check.
    `deadline_s` bounds one reward call (default: 5 s, at most a quarter of the wall limit).
    """
    if isinstance(schema, str):
        from autoreward.envs.registry import load_schema

        schema = load_schema(schema)
    static = _static_item(src, entry)
    if static.status == "fail":
        return CheckReport(ok=False, env_id=schema.env_id, n_states=n_states, checks=[static])
    limits = (limits or Limits.dry_run()).model_copy(update={"reward_call_unit": "call"})
    deadline = deadline_s or min(CALL_DEADLINE_S, limits.wall_seconds / 4)
    if 0 < limits.reward_call_seconds <= deadline:
        # The watchdog is the backstop; the per-call deadline gives the clearer message first.
        limits = limits.model_copy(update={"reward_call_seconds": deadline + 1.0})
    payload = {
        "src": src,
        "schema": schema.without_fitness().model_dump(mode="json"),  # reward code runs there
        "n_states": n_states,
        "seed": seed,
        "entry": entry,
        "deadline_s": deadline,
    }
    threads = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = run_isolated(CHECK_TARGET, payload, limits, env=threads)
    report: CheckReport | None = None
    if result.ok and result.value is not None:
        try:
            report = parse_model(result.value, CheckReport, "the dry run's report")
        except UntrustedDataError as err:
            result = result.model_copy(update={"ok": False, "status": "error", "reason": str(err)})
    if report is None:
        report = CheckReport(
            ok=False,
            env_id=schema.env_id,
            n_states=n_states,
            checks=[static, _sandbox_item(result, limits, entry)],
        )
    report.isolation = result.isolation
    return report


# =========================================================================== the checks


class _Run:
    def __init__(self, src: str, schema: EnvSchema, entry: str, deadline_s: float) -> None:
        self.src, self.schema, self.entry, self.deadline_s = src, schema, entry, deadline_s
        self.items: list[CheckItem] = []
        self.components: dict[str, ComponentStats] = {}
        self.total: ComponentStats | None = None
        self.ms_per_call: float | None = None
        self.n = 0
        self.calls = 0

    # ---- bookkeeping

    def add(self, name: str, status: CheckStatus, message: str) -> None:
        self.items.append(CheckItem(name=name, status=status, message=message))

    def stop(self, name: str, message: str) -> _Stop:
        self.add(name, "fail", message)
        return _Stop(message)

    def report(self) -> CheckReport:
        return CheckReport(
            ok=all(i.status != "fail" for i in self.items),
            env_id=self.schema.env_id,
            n_states=self.n,
            checks=self.items,
            components=self.components,
            total=self.total,
            ms_per_call=self.ms_per_call,
        )

    def call(self, fn: RewardFn, state: State, action: np.ndarray, next_state: State) -> Any:
        """One call on private copies of the inputs, under the per-call deadline."""
        self.calls += 1
        with _deadline(self.deadline_s), reward_call(self.calls):
            return fn(frozen_copy(state), frozen_array(action), frozen_copy(next_state))

    def call_or_stop(self, name: str, fn: RewardFn, *args: Any) -> Any:
        try:
            return self.call(fn, *args)
        except (Exception, _CallTimeout) as err:
            raise self.stop(name, _describe_exception(err, self.src, self.entry, args[0])) from None

    # ---- static and loading

    def check_static(self) -> None:
        item = _static_item(self.src, self.entry)
        self.items.append(item)
        if item.status == "fail":
            raise _Stop(item.message)

    def check_load(self) -> RewardFn:
        try:
            with _deadline(self.deadline_s), reward_call(0):
                fn = load_reward_fn(self.src, self.entry)
        except (Exception, _CallTimeout) as err:
            raise self.stop("load", _describe_exception(err, self.src, "loading", None)) from None
        self.add("load", "pass", f"loaded {self.entry} with restricted builtins")
        return fn

    def check_sample(
        self, n: int, seed: int, given: tuple[State, np.ndarray, State] | None
    ) -> tuple[State, np.ndarray, State]:
        if given is None:
            from autoreward.envs.extract import public_state, sample_transitions

            try:
                state, action, next_state = sample_transitions(self.schema, n=n, seed=seed)
            except Exception as err:
                raise self.stop(
                    "sample", f"could not sample states from {self.schema.env_id}: {err}"
                ) from None
            state = public_state(self.schema, state)
            next_state = public_state(self.schema, next_state)
        else:
            state, action, next_state = given
        self.n = len(action)
        self.add("sample", "pass", f"{self.n} transitions from a random policy (seed {seed})")
        return state, action, next_state

    # ---- the first call and what it returns

    def check_call(self, fn: RewardFn, state: State, action: np.ndarray, next_state: State) -> Any:
        out = self.call_or_stop("call", fn, state, action, next_state)
        self.add("call", "pass", f"{self.entry}(state, action, next_state) returned")
        return out

    def check_structure(
        self, out: Any, n: int, state: State
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[1], dict)):
            got = type(out).__name__ + (
                f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""
            )
            raise self.stop(
                "return type",
                f"expected (total, terms) with terms a dict of named components, got {got}; "
                'end with `return total, {"name": component, ...}`',
            )
        self.add("return type", "pass", "a (total, terms) pair")
        total = self._array("total", out[0], n)
        if len(out[1]) > MAX_COMPONENTS:
            raise self.stop(
                "components",
                f"expected at most {MAX_COMPONENTS} components, got {len(out[1])}; "
                "merge related terms (training keeps statistics for every component)",
            )
        terms = {}
        for key, value in out[1].items():
            if not isinstance(key, str):
                raise self.stop(
                    "components", f"component names must be strings, got {clean_text(key, 80)}"
                )
            problem = component_name_problem(key)
            if problem:
                raise self.stop("components", problem)
            terms[key] = self._array(f"component '{key}'", value, n)
        if not terms:
            self.add("components", "warn", "no components: the analyzer will only see the total; "
                     "return the terms that make up the reward")  # fmt: skip
        else:
            self.add("components", "pass", f"{len(terms)} components: {', '.join(terms)}")
        self.add("shapes and dtypes", "pass", f"total and every component have shape ({n},), float")
        return total, terms

    def _array(self, what: str, value: Any, n: int) -> np.ndarray:
        try:
            arr = np.asarray(value)
        except Exception as err:
            raise self.stop("shapes and dtypes", f"{what} is not array-like: {err}") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise self.stop("shapes and dtypes", f"{what} has dtype {arr.dtype}, expected float; "
                            "return numeric numpy arrays")  # fmt: skip
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise self.stop("shapes and dtypes", f"{what} is complex ({arr.dtype}), expected float")
        if arr.shape != (n,):
            raise self.stop("shapes and dtypes", f"{what} has shape {arr.shape}, expected ({n},) "
                            f"(one value per env){_shape_hint(arr.shape, n)}")  # fmt: skip
        return arr.astype(np.float64)

    def check_finite(self, total: np.ndarray, terms: dict[str, np.ndarray]) -> None:
        bad = [
            f"{name}: {int(np.sum(~np.isfinite(arr)))}/{arr.size} non-finite"
            for name, arr in [("total", total), *terms.items()]
            if not np.all(np.isfinite(arr))
        ]
        if bad:
            raise self.stop("finite", "NaN or inf in " + "; ".join(bad) +
                            " (guard divisions and logs: np.maximum(x, 1e-8), np.clip)")  # fmt: skip
        self.add("finite", "pass", "no NaN or inf")

    def check_terms_sum(self, total: np.ndarray, terms: dict[str, np.ndarray]) -> None:
        if not terms:
            return
        summed = np.sum(list(terms.values()), axis=0)
        tol = SUM_ATOL + SUM_RTOL * np.abs(total)
        gap = np.abs(summed - total)
        if np.any(gap > tol):
            i = int(np.argmax(gap))
            self.add("terms sum to total", "fail",
                     f"sum of components differs from total by up to {gap[i]:.4g} (state {i}: "
                     f"total {total[i]:.6g}, sum {summed[i]:.6g}); return every weighted term "
                     "that goes into the total as a component")  # fmt: skip
        else:
            self.add("terms sum to total", "pass", "components add up to the total")

    def check_ranges(self, total: np.ndarray, terms: dict[str, np.ndarray]) -> None:
        self.total = _stats(total)
        self.components = {name: _stats(arr) for name, arr in terms.items()}
        problems = []
        for name, arr in [("total", total), *terms.items()]:
            peak = float(np.max(np.abs(arr)))
            if peak > HUGE_SCALE:
                problems.append(f"{name} reaches {peak:.3g} (> {HUGE_SCALE:g}): large rewards "
                                "destabilise value learning; scale it down")  # fmt: skip
        for name, arr in terms.items():
            if self.n > 1 and np.ptp(arr) == 0.0:
                problems.append(f"'{name}' is {arr[0]:.4g} in all {self.n} sampled states: fine for "
                                "an alive bonus, otherwise it never varies and shapes nothing")  # fmt: skip
        if self.n > 1 and np.ptp(total) == 0.0:
            problems.append(f"the total is constant ({total[0]:.4g}): it gives no learning signal")
        if problems:
            self.add("value ranges", "warn", "; ".join(problems))
        else:
            self.add("value ranges", "pass", f"total in [{total.min():.3g}, {total.max():.3g}]")

    # ---- behaviour across calls

    def check_inputs_untouched(
        self, fn: RewardFn, state: State, action: np.ndarray, next_state: State
    ) -> None:
        s, a, ns = frozen_copy(state), frozen_array(action), frozen_copy(next_state)
        self.calls += 1
        try:
            with _deadline(self.deadline_s), reward_call(self.calls):
                fn(s, a, ns)
        except (Exception, _CallTimeout) as err:
            raise self.stop(
                "inputs untouched", _describe_exception(err, self.src, self.entry, state)
            ) from None
        changed = [f"state['{k}']" for k in state if not _same(state[k], s.get(k))]
        changed += [f"next_state['{k}']" for k in next_state if not _same(next_state[k], ns.get(k))]
        changed += ["action"] if not _same(action, a) else []
        if set(s) != set(state) or set(ns) != set(next_state):
            changed.append("the keys of state/next_state")
        if changed:
            self.add("inputs untouched", "fail", f"{self.entry} modified {', '.join(changed)} in place; "
                     "the trainer reuses these arrays: compute new arrays instead")  # fmt: skip
        else:
            self.add("inputs untouched", "pass", "state, action and next_state are not modified")

    def check_determinism(self, fn: RewardFn, state: State, action: np.ndarray, next_state: State,
                          total: np.ndarray, terms: dict[str, np.ndarray]) -> None:  # fmt: skip
        again = self.call_or_stop("deterministic", fn, state, action, next_state)
        try:
            total2 = np.asarray(again[0], dtype=np.float64)
            same = _same(total, total2) and all(
                _same(v, np.asarray(again[1][k], dtype=np.float64)) for k, v in terms.items()
            )
        except Exception:
            same = False
        if same:
            self.add("deterministic", "pass", "same inputs give the same outputs")
        else:
            self.add("deterministic", "fail", "a second call on the same inputs gave different outputs; "
                     "rewards must not depend on hidden state or randomness")  # fmt: skip

    def check_batch_independence(self, fn: RewardFn, state: State, action: np.ndarray,
                                 next_state: State, total: np.ndarray) -> None:  # fmt: skip
        k = max(1, self.n // 4)
        if self.n < 2:
            return
        part = self.call_or_stop(
            "batch independence", fn, _rows(state, k), action[:k], _rows(next_state, k)
        )
        try:
            sub = np.asarray(part[0], dtype=np.float64)
            ok = sub.shape == (k,) and np.allclose(sub, total[:k], rtol=1e-6, atol=1e-9)
        except Exception:
            ok = False
        if ok:
            self.add(
                "batch independence",
                "pass",
                f"the first {k} envs score the same alone as in the batch",
            )
        else:
            self.add("batch independence", "warn", f"the first {k} envs score differently when called "
                     "without the others (normalising over the batch?); N changes between training and "
                     "evaluation, so each env's reward should depend on that env only")  # fmt: skip

    def check_action_sensitivity(self, fn: RewardFn, state: State, action: np.ndarray,
                                 next_state: State, total: np.ndarray, terms: dict[str, np.ndarray],
                                 seed: int) -> None:  # fmt: skip
        spec = self.schema.action
        if spec.low is None or spec.high is None:
            self.add(
                "action sensitivity", "pass", "skipped: discrete actions act through next_state"
            )
            return
        rng = np.random.default_rng(seed + 1)
        low = np.broadcast_to(np.asarray(spec.low, dtype=np.float64), action.shape[1:])
        high = np.broadcast_to(np.asarray(spec.high, dtype=np.float64), action.shape[1:])
        other = rng.uniform(low, high, size=action.shape).astype(action.dtype)
        out = self.call_or_stop("action sensitivity", fn, state, other, next_state)
        try:
            moved = [k for k, v in terms.items() if not _close(v, out[1][k])]
            moved += [] if moved or _close(total, out[0]) else ["the total"]
        except (KeyError, TypeError, IndexError):
            moved = ["its output structure"]
        if moved:
            self.add(
                "action sensitivity", "pass", "reacts to the action through " + ", ".join(moved)
            )
        else:
            self.add("action sensitivity", "warn", "no component reacts to the action (with next_state "
                     "held fixed); a small control cost (e.g. -0.001 * np.sum(action**2, axis=-1)) "
                     "usually helps continuous control")  # fmt: skip

    def check_state_sensitivity(self, fn: RewardFn, state: State, action: np.ndarray,
                                next_state: State, total: np.ndarray, seed: int) -> None:  # fmt: skip
        if self.n < 2:
            return
        perm = np.random.default_rng(seed + 2).permutation(self.n)
        shuffled = self.call_or_stop(
            "state sensitivity", fn, _take(state, perm), action, _take(next_state, perm)
        )
        if _close(total, np.asarray(shuffled[0], dtype=np.float64)):
            self.add("state sensitivity", "warn", "the total does not change when the states are "
                     "shuffled: it ignores the state, so it cannot reward progress on the task")  # fmt: skip
        else:
            self.add("state sensitivity", "pass", "depends on the state")

    def check_speed(
        self, fn: RewardFn, state: State, action: np.ndarray, next_state: State
    ) -> None:
        times = []
        budget = time.perf_counter() + _TIMING_BUDGET_S
        for _ in range(_TIMING_CALLS):
            s, a, ns = frozen_copy(state), frozen_array(action), frozen_copy(next_state)
            self.calls += 1
            start = time.perf_counter()
            try:
                with _deadline(self.deadline_s), reward_call(self.calls):
                    fn(s, a, ns)
            except (Exception, _CallTimeout) as err:
                raise self.stop(
                    "speed", _describe_exception(err, self.src, self.entry, state)
                ) from None
            times.append(time.perf_counter() - start)
            if time.perf_counter() > budget:
                break
        self.ms_per_call = round(1000 * float(np.median(times)), 4)
        msg = f"{self.ms_per_call:.3g} ms per call on {self.n} states"
        if self.ms_per_call > SLOW_MS:
            self.add("speed", "warn", msg + f" (> {SLOW_MS:g} ms: Python loops over the batch? "
                     "vectorise with numpy)")  # fmt: skip
        else:
            self.add("speed", "pass", msg)


# =========================================================================== helpers


def _static_item(src: str, entry: str) -> CheckItem:
    violations = validate_code(src, entry)
    if violations:
        listing = "\n".join(str(v) for v in violations[:12])
        more = f" (+{len(violations) - 12} more)" if len(violations) > 12 else ""
        return CheckItem(name="static", status="fail", message=listing + more)
    return CheckItem(name="static", status="pass", message="only numpy/math, no unsafe constructs")


def _sandbox_item(result: WorkerResult, limits: Limits, entry: str) -> CheckItem:
    what = {
        "timeout": f"the dry run did not finish within {limits.wall_seconds:g} s (an endless loop in {entry}?)",
        "memory": f"the dry run ran out of memory: {result.reason} (huge arrays in {entry}?)",
        "killed": f"the dry run was killed: {result.reason}",
        "crashed": f"the dry run crashed: {result.reason}",
        "error": f"the dry run failed: {result.reason}",
    }.get(result.status, f"the dry run failed ({result.status}): {result.reason}")
    return CheckItem(name="sandbox", status="fail", message=what)


def _describe_exception(err: BaseException, src: str, entry: str, state: State | None) -> str:
    if isinstance(err, _CallTimeout):
        return f"{entry} did not return within the {err.args[0]:g} s limit for one call (an endless loop?)"
    if isinstance(err, RewardCodeError):
        text, tb = err.message, (err.__cause__.__traceback__ if err.__cause__ else None)
    else:
        text, tb = f"{entry} raised {type(err).__name__}: {err}", err.__traceback__
    lines = src.splitlines()
    frames = [f for f in traceback.extract_tb(tb) if f.filename == REWARD_FILENAME]
    if frames and frames[-1].lineno and 0 < frames[-1].lineno <= len(lines):
        line = frames[-1].lineno
        text += f" (line {line}: `{lines[line - 1].strip()}`)"
    if isinstance(err, KeyError) and state is not None:
        text += f"; state keys are: {', '.join(sorted(state))}"
    if isinstance(err, ValueError) and "read-only" in str(err):
        text += ("; state, action and next_state are read-only: compute new arrays "
                 "(y = x * 2.0) instead of changing them in place (x *= 2.0)")  # fmt: skip
    return text


def _shape_hint(shape: tuple[int, ...], n: int) -> str:
    if shape == ():
        return "; a scalar: build it from the batched arrays, e.g. np.full(N, c) or np.ones_like(x) * c"
    if shape == (n, 1):
        return "; drop the trailing axis, e.g. x[:, 0] or np.sum(x, axis=-1)"
    if len(shape) == 2 and shape[0] == n:
        return "; reduce the per-env vector, e.g. np.sum(x, axis=-1) or np.linalg.norm(x, axis=-1)"
    return ""


def _stats(arr: np.ndarray) -> ComponentStats:
    return ComponentStats(
        mean=float(arr.mean()), std=float(arr.std()), min=float(arr.min()), max=float(arr.max())
    )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except (TypeError, ValueError):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _close(a: Any, b: Any) -> bool:
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    except (TypeError, ValueError):
        return False


def _rows(state: State, k: int) -> State:
    return {key: value[:k] for key, value in state.items()}


def _take(state: State, idx: np.ndarray) -> State:
    return {key: value[idx] for key, value in state.items()}


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise `_CallTimeout` inside the block after `seconds` (main thread only; else no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise _CallTimeout(seconds)

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
