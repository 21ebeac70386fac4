"""Shipped YAML schemas: they load, are complete, and validation errors are specific."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from autoreward.envs.registry import list_schemas, load_schema, load_schema_file, schema_dir
from autoreward.envs.schema import EnvSchema, FitnessSpec
from autoreward.errors import ConfigError

REQUIRED = [
    "CartPole-v1",
    "MountainCarContinuous-v0",
    "Acrobot-v1",
    "Pendulum-v1",
    "LunarLander-v3",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Reacher-v5",
    "Swimmer-v5",
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Humanoid-v5",
]
MUJOCO = [e for e in REQUIRED if e.endswith("-v5")]


def test_every_required_env_has_a_shipped_schema() -> None:
    assert set(REQUIRED) <= set(list_schemas())


@pytest.mark.parametrize("env_id", REQUIRED)
def test_shipped_schema_is_complete(env_id: str) -> None:
    s = load_schema(env_id)
    assert s.env_id == env_id and not s.auto
    for f in s.fields:
        assert f.name and f.unit and f.description and f.source
    assert s.action.description and s.episode_length > 0
    assert s.train.total_steps > 0 and s.fitness.target is not None
    assert "next_state" in s.fitness.expression


@pytest.mark.parametrize("env_id", MUJOCO)
def test_mujoco_schemas_read_named_model_parts(env_id: str) -> None:
    """Hidden quantities come from named bodies/joints/geoms/sites, not observation indices."""
    sources = [f.source for f in load_schema(env_id).fields]
    assert [s for s in sources if s.startswith("obs")] == []


def _write(folder: Path, data: dict) -> Path:
    path = folder / f"{data['env_id']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cartpole_data() -> dict:
    return yaml.safe_load((schema_dir() / "CartPole-v1.yaml").read_text())


def test_duplicate_field_names_are_rejected(tmp_path: Path) -> None:
    data = _cartpole_data()
    data["fields"].append(dict(data["fields"][0]))
    with pytest.raises(ConfigError, match="duplicate state field name 'cart_position'"):
        load_schema_file(_write(tmp_path, data))


def test_unknown_key_names_its_location(tmp_path: Path) -> None:
    data = _cartpole_data()
    data["fields"][1]["units"] = "m"
    with pytest.raises(ConfigError, match=r"CartPole-v1.yaml: invalid schema:") as err:
        load_schema_file(_write(tmp_path, data))
    # the line and column of the key, the list item it is in, the keys allowed there
    assert re.search(
        r"CartPole-v1.yaml:\d+:\d+: fields\.1: unknown key 'units' \(allowed: name, shape, unit, "
        r"description, source, hidden\); did you mean 'unit'\?",
        str(err.value),
    ), str(err.value)


def test_success_fitness_needs_threshold() -> None:
    with pytest.raises(ValueError, match="needs a 'threshold'"):
        FitnessSpec(kind="success", expression="next_state['x']", description="d")


def test_env_id_must_match_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _cartpole_data()
    (tmp_path / "Other-v0.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("AUTOREWARD_ENVS_DIR", str(tmp_path))
    assert "Other-v0" in list_schemas() and "CartPole-v1" in list_schemas()  # added, not replaced
    with pytest.raises(ConfigError, match="env_id is 'CartPole-v1', expected 'Other-v0'"):
        load_schema("Other-v0")


def test_load_schema_returns_independent_copies() -> None:
    a = load_schema("CartPole-v1")
    a.fields.clear()
    assert isinstance(load_schema("CartPole-v1"), EnvSchema)
    assert load_schema("CartPole-v1").fields


def test_every_shipped_schema_survives_the_json_trip_to_a_worker() -> None:
    """A job's schema travels to its container as JSON; `.inf` bounds (Hopper's healthy
    height) must not come back as null (a real failure: every Hopper candidate of a batch)."""
    import json

    from autoreward.envs.registry import list_schemas, load_schema
    from autoreward.envs.schema import EnvSchema

    for env_id in list_schemas():
        schema = load_schema(env_id)
        again = EnvSchema.model_validate(json.loads(json.dumps(schema.model_dump(mode="json"))))
        assert again == schema, env_id


def test_every_shipped_schema_survives_a_train_job_dump() -> None:
    """The real trip: the schema rides in `TrainJob.schema_data`, a plain dict the job's own
    JSON dump writes `inf` into as null; the worker must read it back as the same schema."""
    from autoreward.train.job import TrainJob

    for env_id in list_schemas():
        schema = load_schema(env_id)
        job = TrainJob(env_id=env_id, out_dir="/tmp/x", schema_data=schema.model_dump(mode="json"))
        back = TrainJob.model_validate_json(job.model_dump_json())
        assert back.schema_data is not None
        assert EnvSchema.model_validate(back.schema_data) == schema, env_id
