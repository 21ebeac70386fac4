"""Finding schemas by id, close-match errors, and the text the LLM sees."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.envs.registry import load_schema, render_schema, schema_dir
from autoreward.errors import UnknownEnvError


def test_unknown_id_names_close_matches() -> None:
    with pytest.raises(UnknownEnvError, match="unknown environment 'Hoper-v5'") as err:
        load_schema("Hoper-v5")
    assert "did you mean Hopper-v5" in str(err.value)


def test_wrong_case_suggests_the_right_id() -> None:
    with pytest.raises(UnknownEnvError, match="did you mean CartPole-v1"):
        load_schema("cartpole-v1")


def test_hopeless_id_points_to_envs_list() -> None:
    with pytest.raises(UnknownEnvError, match="autoreward envs list"):
        load_schema("zzzzzzzzzzzzzzzz")


def test_render_never_shows_fitness_code_or_sources() -> None:
    s = load_schema("Hopper-v5")
    text = render_schema(s)
    assert s.fitness.expression not in text
    assert "fdvel:" not in text and "qpos:" not in text
    assert s.fitness.description in text
    for f in s.fields:
        assert f"| {f.name} |" in text
    assert "| joint_angles | (N, 3) | rad |" in text
    assert "`action`: float array, shape (N, 3), each in [-1, 1]." in text


def test_render_discrete_action_and_hints() -> None:
    text = render_schema(load_schema("CartPole-v1"))
    assert "integer array, shape (N,), values 0..1" in text
    assert "## Notes for reward design" in text


# --------------------------------------------------------------------------- deprecated and unbuildable ids


def test_a_deprecated_id_names_its_successor() -> None:
    with pytest.raises(UnknownEnvError, match="'Taxi-v3' is deprecated in gymnasium") as err:
        load_schema("Taxi-v3")
    assert "hint: use Taxi-v4" in str(err.value)


def test_suggestions_are_only_ids_that_can_be_made_here() -> None:
    import gymnasium as gym

    assert "Hopper-v2" in gym.registry and "Ant-v3" in gym.registry  # mujoco-py era, not buildable
    with pytest.raises(UnknownEnvError) as err:
        load_schema("Hopper-v1")
    hint = err.value.hint or ""
    assert "Hopper-v5" in hint and "Hopper-v2" not in hint and "Hopper-v3" not in hint
    with pytest.raises(UnknownEnvError, match="cannot make 'Ant-v3' here") as err:
        load_schema("Ant-v3")
    assert "Ant-v5" in (err.value.hint or "") and "Ant-v2" not in (err.value.hint or "")


# --------------------------------------------------------------------------- the user's own schema folders


def _user_schema(folder: Path, env_id: str, description: str) -> Path:
    data = yaml.safe_load((schema_dir() / "CartPole-v1.yaml").read_text())
    data.update(env_id=env_id, description=description)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{env_id}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_user_schemas_add_to_the_shipped_ones_and_win_on_the_same_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoreward.envs.registry import is_shipped, list_schemas, overridden_schemas

    mine = _user_schema(tmp_path / "mine", "CartPole-v1", "My own CartPole description.")
    _user_schema(tmp_path / "mine", "CartPoleLeft-v0", "Another one.")
    monkeypatch.setenv("AUTOREWARD_ENVS_DIR", str(tmp_path / "mine"))
    assert {"CartPoleLeft-v0", "CartPole-v1", "Hopper-v5"} <= set(list_schemas())
    assert load_schema("CartPole-v1").description == "My own CartPole description."
    assert load_schema("Hopper-v5").env_id == "Hopper-v5"  # shipped ones still there
    assert overridden_schemas() == {"CartPole-v1": mine}
    assert not is_shipped("CartPole-v1") and is_shipped("Hopper-v5")

    result = CliRunner().invoke(app, ["envs", "show", "CartPole-v1"])
    assert result.exit_code == 0 and "My own CartPole description." in result.output
    assert f"note: using {mine} in place of the shipped CartPole-v1 schema" in " ".join(
        result.output.split()
    )
    listing = CliRunner().invoke(app, ["envs", "list"])
    assert "CartPoleLeft-v0" in listing.output and "takes the place of the shipped" in " ".join(
        listing.output.split()
    )


def test_user_schemas_travel_to_the_worker_as_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autoreward.config import RunConfig
    from autoreward.loop.candidates import TrainPlan

    _user_schema(tmp_path, "CartPole-v1", "Mine.")
    monkeypatch.setenv("AUTOREWARD_ENVS_DIR", str(tmp_path))
    plan = TrainPlan.from_config(
        RunConfig(env_id="CartPole-v1", task="x"), load_schema("CartPole-v1")
    )
    assert plan.schema_data is not None and plan.schema_data["description"] == "Mine."
    monkeypatch.delenv("AUTOREWARD_ENVS_DIR")
    shipped = TrainPlan.from_config(
        RunConfig(env_id="CartPole-v1", task="x"), load_schema("CartPole-v1")
    ).schema_data
    # every job carries its schema (the worker's container has no envs/ folder)
    assert shipped is not None and shipped["description"] != "Mine."


def test_a_missing_user_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoreward.errors import ConfigError

    monkeypatch.setenv("AUTOREWARD_ENVS_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="AUTOREWARD_ENVS_DIR: .*nope is not a folder"):
        load_schema("CartPole-v1")
