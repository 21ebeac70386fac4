"""The command line as a newcomer meets it: every expected failure is one clean `error:` line
(missing files, folders of the wrong kind, bad option values), `--debug` works before or after
the command name, and `--help` says the same thing as the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from runfakes import make_run
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [["run"], ["batch"], ["refine"], ["report"], ["export"], ["train"], ["check"],
            ["envs"], ["envs", "list"], ["envs", "show"]]  # fmt: skip


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def one_error(output: str) -> str:
    """The error line (and its hint), asserting there is no traceback."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, output
    return lines[0]


# --------------------------------------------------------------------------- missing files


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty"
    empty.mkdir()
    batch = tmp_path / "batch"
    (batch / "tasks" / "cartpole").mkdir(parents=True)
    (batch / "batch.yaml").write_text("suite: {}\n")
    train = tmp_path / "train-x"
    (train / "reward").mkdir(parents=True)
    (train / "train.yaml").write_text("env_id: CartPole-v1\n")
    return {"missing": tmp_path / "nothere", "empty": empty, "batch": batch, "train": train,
            "file": tmp_path / "notes.txt"}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--config", "{missing}.yaml"], "error: config file {missing}.yaml does not exist"),
        (["run", "--config", "{empty}"], "error: config file {empty} is a directory, not a YAML file"),
        (["run", "--resume", "{missing}"], "error: {missing} does not exist"),
        (["run", "--resume", "{empty}"], "error: {empty} is not a run directory (no config.yaml)"),
        (["run", "--resume", "{batch}"], "error: {batch} is a batch directory, not a run directory "
                                         "(its tasks' runs are under {batch}/tasks/: cartpole)"),
        (["export", "{train}"], "error: {train} is the output folder of `autoreward train`, not a run directory"),
        (["refine", "{missing}"], "error: {missing} does not exist"),
        (["export", "{missing}"], "error: {missing} does not exist"),
        (["report", "{missing}"], "error: {missing} does not exist"),
        (["report", "{empty}"], "error: {empty} is not a folder autoreward wrote"),
        (["train", "{missing}.py", "--env", "CartPole-v1"], "error: reward file {missing}.py does not exist"),
        (["check", "{missing}.py", "--env", "CartPole-v1"], "error: reward file not found: {missing}.py"),
        (["batch", "{missing}.yaml"], "error: no suite file '{missing}.yaml'"),
        (["batch", "--resume", "{empty}"], "error: {empty} is not a batch directory (no batch.yaml)"),
        (["run", "--env", "CartPole-v1", "--task", "x", "--model", "manual", "--out", "{file}"],
         "error: --out {file} is a file, not a directory"),
    ],
)  # fmt: skip
def test_missing_or_wrong_paths_are_one_clean_line(
    places: dict[str, Path], args: list[str], expected: str
) -> None:
    places["file"].write_text("x")
    code, out = invoke(*(a.format(**places) for a in args))
    assert code == 2
    assert one_error(out) == expected.format(**places)


def test_a_misspelled_config_key_points_at_its_line_and_lists_the_allowed_ones(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("env_id: CartPole-v1\ntask: x\nstpes: 100\n")
    code, out = invoke("run", "--config", str(cfg))
    assert code == 2
    line = one_error(out)
    assert line.startswith(f"error: {cfg}:3:1: unknown key 'stpes' (allowed: env_id, task, model,")
    assert line.endswith("; did you mean 'steps'?")


def test_bad_option_values_name_the_option_typed(tmp_path: Path) -> None:
    code, out = invoke("train", str(tmp_path / "r.py"), "--env", "CartPole-v1", "--steps", "0")
    assert code == 2 and "Invalid value for '--steps'" in out and "total_steps" not in out
    code, out = invoke("run", "--env", "CartPole-v1", "--task", "x", "--executor", "slurm",
                       "--model", "manual", "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and one_error(out) == "error: --executor: Input should be 'local' or 'ray'"
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- --debug


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path: Path, where: str) -> None:
    tail = ["run", "--config", str(tmp_path / "nothere.yaml")]
    args = ["--debug", *tail] if where == "before" else [*tail, "--debug"]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError)
    assert "does not exist" in str(result.exception)
    # and the next command without it is one clean line again
    code, out = invoke(*tail)
    assert code == 2 and one_error(out).startswith("error: config file")


def test_debug_after_a_subcommand_of_a_group() -> None:
    result = CliRunner().invoke(app, ["envs", "show", "NoSuchEnv-v0", "--debug"])
    assert type(result.exception).__name__ == "UnknownEnvError"


# --------------------------------------------------------------------------- --help


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_lists_debug_and_no_bool_placeholders(command: list[str]) -> None:
    code, out = invoke(*command, "--help")
    assert code == 0, out
    assert "<bool>" not in out
    assert "--debug" in out


def test_algorithms_are_the_same_in_the_readme_and_every_help() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    phrase = "PPO, SAC, TD3, A2C, or DQN (discrete actions only)"
    assert phrase in readme
    for command in ("run", "train"):
        _, out = invoke(command, "--help")
        assert phrase in " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split()), command


def test_every_readme_option_of_run_exists() -> None:
    _, out = invoke("run", "--help")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Options map one-to-one") : readme.index("The run directory")]
    for option in set(re.findall(r"`(--[a-z][a-z-]*)", section)):
        assert option in out, option


# --------------------------------------------------------------------------- piped output


def test_piped_paths_are_never_wrapped(tmp_path: Path) -> None:
    run = make_run(tmp_path / ("a-rather-long-folder-name-" * 4))
    target = run.parent / "exported_reward_with_a_long_name.py"
    code, out = invoke("export", str(run), "--out", str(target))
    assert code == 0, out
    assert f"wrote {target} (" in out
    assert f'"{target}")' in out


def test_one_ctrl_c_ends_a_run_waiting_for_manual_answers(tmp_path: Path) -> None:
    """The designer's K samples wait in threads for answer files; one Ctrl-C must end the
    process (exit 130) instead of leaving it waiting for those files."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "autoreward.cli", "run", "--env", "CartPole-v1", "--task", "x",
         "--model", "manual", "--samples", "3", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(list(tmp_path.glob("*/llm/manual/prompt_*.md"))) < 3:
        time.sleep(0.2)
    assert len(list(tmp_path.glob("*/llm/manual/prompt_*.md"))) == 3
    os.kill(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out.decode()
    assert "autoreward run --resume" in out.decode()
