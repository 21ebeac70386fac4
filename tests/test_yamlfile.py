"""Every YAML a person writes gets the same errors: file:line:col, the keys allowed there, a
close match for a typo, all problems at once (run configs, fitness blocks, env schemas)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from autoreward.config import RunConfig, load_run_config_file
from autoreward.envs.registry import load_schema, schema_dir
from autoreward.envs.schema import EnvSchema, FitnessSpec, StateField
from autoreward.errors import ConfigError
from autoreward.yamlfile import model_at


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_run_config_typos_point_at_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "run.yaml", """
        env_id: CartPole-v1
        task: stay left
        stpes: 2048
        fitness:
          kind: score
          expresion: next_state['cart_position'] < 0
          description: left half
        """)  # fmt: skip
    with pytest.raises(ConfigError) as err:
        load_run_config_file(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"{path}: invalid run config:"
    assert lines[1].startswith(f"  {path}:3:1: unknown key 'stpes' (allowed: env_id, task, model")
    assert lines[1].endswith("; did you mean 'steps'?")
    assert lines[2] == f"  {path}:5:3: fitness: missing required key 'expression'"
    assert lines[3] == (
        f"  {path}:6:3: fitness: unknown key 'expresion' (allowed: kind, expression, aggregate, "
        "threshold, target, description); did you mean 'expression'?"
    )


def test_a_bad_value_names_the_key_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "run.yaml", "env_id: CartPole-v1\ntask: x\niterations: 0\n")
    with pytest.raises(
        ConfigError,
        match=rf"^{path}:3:13: iterations: Input should be greater than or equal to 1$",
    ):
        load_run_config_file(path)


def test_yaml_syntax_errors_have_a_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "run.yaml", "env_id: CartPole-v1\ntask: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:3:1: not valid YAML"):
        load_run_config_file(path)
    write(tmp_path, "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping of run options"):
        load_run_config_file(tmp_path / "list.yaml")


def test_a_users_env_schema_gets_the_same_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load((schema_dir() / "CartPole-v1.yaml").read_text())
    data["fields"][2]["descripton"] = data["fields"][2].pop("description")
    data["episode_lenght"] = data.pop("episode_length")
    folder = tmp_path / "envs"
    folder.mkdir()
    (folder / "CartPole-v1.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("AUTOREWARD_ENVS_DIR", str(folder))
    with pytest.raises(ConfigError) as err:
        load_schema("CartPole-v1")
    text = str(err.value)
    assert text.startswith(f"{folder / 'CartPole-v1.yaml'}: invalid schema:")
    assert "fields.2: missing required key 'description'" in text
    assert "fields.2: unknown key 'descripton'" in text and "did you mean 'description'?" in text
    assert "unknown key 'episode_lenght'" in text and "did you mean 'episode_length'?" in text


def test_model_at_follows_optional_and_list_fields() -> None:
    assert model_at(RunConfig, ()) is RunConfig
    assert model_at(RunConfig, ("fitness",)) is FitnessSpec
    assert model_at(EnvSchema, ("fields", 3)) is StateField
    assert model_at(EnvSchema, ("fields",)) is None  # the list itself is not a mapping
    assert model_at(RunConfig, ("steps",)) is None
