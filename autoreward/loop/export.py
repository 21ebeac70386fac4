"""`autoreward export RUN_DIR --out my_reward.py`: the best reward of a run as a standalone module.

The module is the reward code itself (it imports only numpy/math, so it loads anywhere and
passes the same validation as during the run) under a docstring that says where it came from,
how well it did, which state fields it reads (with units and extraction recipes) and how to
train with it: `autoreward.RewardWrapper(env, "my_reward.py")` from any SB3 or CleanRL script.
"""

from __future__ import annotations

import ast
import datetime as _dt
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoreward import __version__
from autoreward.errors import AutorewardError, ConfigError, RewardCodeError
from autoreward.store.atomic import atomic_write_text, read_json
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir

ENTRY = "compute_reward"


@dataclass
class Exported:
    path: Path
    env_id: str
    source: str
    """Where the code came from, e.g. 'iteration 1, candidate 0'."""
    fields: list[str]
    fitness: float | None


def export_reward(run_dir: str | Path, out: str | Path, candidate: str | None = None) -> Exported:
    """Write the run's best reward (or `candidate` "ITER:CAND") to `out` as a standalone module."""
    run = RunDir.open(run_dir)
    config = run.load_config()
    record, code, where = _pick(run, candidate)
    target = Path(out)
    if target.is_dir():
        raise ConfigError(
            f"--out {target} is a directory", hint=f"name a file, e.g. {target / 'my_reward.py'}"
        )
    if target.suffix != ".py":
        raise ConfigError(
            f"--out {target} must end in .py",
            hint="RewardWrapper and `import` both need a .py file",
        )

    schema, schema_note = _schema(str(config.get("env_id") or ""), config.get("fitness"))
    body, own_doc = _split_docstring(code)
    fields = fields_read(code)
    header = _header(run, config, record, where, schema, schema_note, fields, own_doc, target.name)
    module = f'"""{header}"""\n\n{body.lstrip()}'
    if not module.endswith("\n"):
        module += "\n"

    from autoreward.sandbox.validate import validate_code

    problems = validate_code(module, entry=ENTRY)
    if problems:  # the run's own code passed these checks, so this is a bug in the header
        raise RewardCodeError(
            f"the exported module does not validate: {problems[0]}",
            hint=f"export the code unchanged instead: cp {run.path}/best/reward.py {target}",
        )
    atomic_write_text(target, module)
    return Exported(
        target, str(config.get("env_id")), where, fields, None if record is None else record.fitness
    )


# =========================================================================== what to export


def _pick(run: RunDir, candidate: str | None) -> tuple[CandidateRecord | None, str, str]:
    if candidate is not None:
        m = re.fullmatch(r"\s*(\d+)\s*[:,/]\s*(\d+)\s*", candidate)
        if not m:
            raise ConfigError(
                f"--candidate {candidate!r} is not ITER:CAND",
                hint="e.g. --candidate 1:0 for iteration 1, candidate 0",
            )
        i, j = int(m.group(1)), int(m.group(2))
        folder = run.cand_dir(i, j)
        if not (folder / "reward.py").is_file():
            raise ConfigError(
                f"{folder} has no reward.py",
                hint="pick a candidate listed in the run's report or summary table",
            )
        return (
            CandidateRecord.load(folder),
            (folder / "reward.py").read_text(encoding="utf-8"),
            f"iteration {i}, candidate {j}",
        )
    best_code = run.best_dir / "reward.py"
    if not best_code.is_file():
        raise ConfigError(
            f"{run.path} has no best reward yet (no candidate has trained successfully)",
            hint="let the run finish (autoreward run --resume DIR), or pick one with --candidate ITER:CAND",
        )
    data = read_json(run.best_dir / "candidate.json")
    record = CandidateRecord.model_validate(data) if data else None
    where = (
        "the best candidate"
        if record is None
        else f"iteration {record.iteration}, candidate {record.index}"
    )
    return record, best_code.read_text(encoding="utf-8"), where


def _schema(env_id: str, fitness: Any) -> tuple[Any, str | None]:
    try:
        from autoreward.envs.registry import load_schema

        schema = load_schema(env_id)
    except AutorewardError as err:
        return (
            None,
            f"the schema of {env_id} could not be loaded here ({err.message}); units are not listed",
        )
    if fitness:
        from autoreward.envs.schema import FitnessSpec

        schema = schema.model_copy(update={"fitness": FitnessSpec.model_validate(fitness)})
    return schema, None


def fields_read(code: str) -> list[str]:
    """State fields the reward reads: `state["x"]`, `next_state.get("x")`, in order of first use."""
    tree = ast.parse(code)
    params: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == ENTRY:
            args = [a.arg for a in stmt.args.args]
            params = {args[k] for k in (0, 2) if k < len(args)}
    names = params or {"state", "next_state"}
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
        ):
            key = node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in names
            and node.args
        ):
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.append((key.lineno, key.col_offset, key.value))
    out: list[str] = []
    for _, _, name in sorted(found):
        if name not in out:
            out.append(name)
    return out


def _split_docstring(code: str) -> tuple[str, str | None]:
    """The code without its module docstring (folded into the header), and that docstring."""
    tree = ast.parse(code)
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and first.end_lineno is not None
    ):
        lines = code.splitlines(keepends=True)
        return "".join(lines[first.end_lineno :]), first.value.value.strip()
    return code, None


# =========================================================================== the header


def _header(
    run: RunDir,
    config: dict[str, Any],
    record: CandidateRecord | None,
    where: str,
    schema: Any,
    schema_note: str | None,
    fields: list[str],
    own_doc: str | None,
    file_name: str,
) -> str:
    env_id = str(config.get("env_id") or "?")
    task = str(config.get("task") or "")
    lines = [f"Reward for {env_id}: {task}", ""]
    stamp = _dt.datetime.now().strftime("%Y-%m-%d")
    lines += [
        f"Exported by autoreward {__version__} on {stamp} from {where} of the run",
        f"{run.path.resolve()}",
        "",
    ]
    if own_doc:
        lines += ["The designer's note: " + own_doc, ""]

    lines += ["Fitness", "-------"]
    if schema is not None:
        spec = schema.fitness
        lines += _wrap(
            f"Measured on the task fitness ({spec.kind}), not on this reward: {spec.description}"
        )
    lines += _performance(run, record)
    lines.append("")

    lines += ["State fields read", "-----------------"]
    lines += _wrap(
        "compute_reward(state, action, next_state) takes dicts of numpy arrays with a leading "
        "batch dimension N (N = 1 for one env) and returns (total, components), both of shape (N,)."
    )
    lines.append("")
    if not fields:
        lines.append("(no state field is read by name)")
    for name in fields:
        lines += _field_lines(schema, name)
    if schema_note:
        lines += _wrap(schema_note)
    components = _components(run, record)
    if components:
        lines += ["", f"Reward components: {', '.join(components)}."]
    lines.append("")

    lines += ["How the state is built", "----------------------"]
    lines += _wrap(
        f"The state is what autoreward's schema of {env_id} extracts from the live environment "
        f"(`autoreward envs show {env_id}` prints it; each field's `source` above is its recipe, "
        "e.g. obs[2] is observation index 2). RewardWrapper does that extraction for you, so the "
        "reward can replace the env's own in any SB3 or CleanRL script:"
    )
    lines += ["", *_usage(env_id, schema, file_name), ""]
    lines += _wrap(
        'info["env_reward"] keeps the env\'s own reward and info["reward_terms"] the components. '
        "This file imports only numpy and math: without autoreward, build the state dicts from "
        "the sources above and call compute_reward yourself."
    )
    text = "\n".join(lines).rstrip() + "\n"
    return _docstring_safe(text)


def _performance(run: RunDir, record: CandidateRecord | None) -> list[str]:
    if record is None or record.fitness is None:
        return ["This candidate has no recorded fitness."]
    line = f"Fitness {record.fitness:.4g} after {record.steps:,} training steps"
    if record.env_return is not None:
        line += f" (env's own return {record.env_return:.4g})"
    lines = [line + "."]
    best = read_json(run.best_dir / "candidate.json") or {}
    final = read_json(run.best_dir / "final.json") or {}
    is_best = (best.get("iteration"), best.get("index")) == (record.iteration, record.index)
    final_of = (final.get("iteration", record.iteration), final.get("index", record.index))
    if is_best and final_of == (record.iteration, record.index) and final.get("mean") is not None:
        n = final.get("n_seeds", "?")
        lines.append(
            f"Retrained on {n} seed{'' if n == 1 else 's'}: {float(final['mean']):.4g} ± "
            f"{float(final.get('std') or 0.0):.3g}."
        )
    return lines


def _field_lines(schema: Any, name: str) -> list[str]:
    if schema is None:
        return [f"  {name}"]
    try:
        f = schema.field(name)
    except KeyError:
        return [f"  {name}: not in the {schema.env_id} schema"]
    shape = "scalar" if not f.shape else "shape (" + ", ".join(str(d) for d in f.shape) + ")"
    head = f"  {name} [{f.unit}, {shape}, source {f.source}]"
    return [
        head,
        *textwrap.wrap(f.description, 88, initial_indent="      ", subsequent_indent="      "),
    ]


def _components(run: RunDir, record: CandidateRecord | None) -> list[str]:
    if record is None:
        return []
    stats = read_json(run.cand_dir(record.iteration, record.index) / "stats.json") or {}
    return [str(c) for c in stats.get("components") or []]


def _usage(env_id: str, schema: Any, file_name: str) -> list[str]:
    kwargs = dict(getattr(schema, "make_kwargs", None) or {})
    make_args = ", ".join([f'"{env_id}"', *(f"{k}={v!r}" for k, v in kwargs.items())])
    lines = [
        "    import gymnasium as gym",
        "    from stable_baselines3 import PPO",
        "    from autoreward import RewardWrapper",
        "",
    ]
    if ":" in env_id:  # a module:Class env: make it your way, name its schema explicitly
        lines.append(f'    env = RewardWrapper(make_my_env(), "{file_name}", schema="{env_id}")')
    else:
        lines.append(f'    env = RewardWrapper(gym.make({make_args}), "{file_name}")')
    lines.append('    PPO("MlpPolicy", env).learn(100_000)')
    return lines


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, 92) or [""]


def _docstring_safe(text: str) -> str:
    # no closing quotes, no escapes, no dunder names (the validator refuses those in strings)
    text = text.replace("\\", "/").replace('"""', "'''")
    return re.sub(r"__(\w+)__", r"_\1_", text)
