"""Physical parameters in the schema text: read from the MuJoCo model, declared for the
classic envs (autoreward.envs.physics)."""

from __future__ import annotations

import math

import pytest
import yaml

from autoreward.envs.extract import make_base_env
from autoreward.envs.physics import control_dt, mujoco_physics, physics_lines, read_mujoco
from autoreward.envs.registry import load_schema, load_schema_file, render_schema
from autoreward.errors import ConfigError


def test_hopper_physics_come_from_its_mujoco_model() -> None:
    env = make_base_env("Hopper-v5")
    try:
        mj = read_mujoco(env)
        model = env.unwrapped.model
    finally:
        env.close()
    assert mj is not None
    assert (mj.timestep, mj.frame_skip) == (pytest.approx(0.002), 4)
    assert mj.control_dt == pytest.approx(0.008)
    assert [b for b, _ in mj.bodies] == ["torso", "thigh", "leg", "foot"]
    assert mj.total_mass == pytest.approx(float(model.body_mass.sum()))
    joints = {name: (lo, hi) for name, _, lo, hi in mj.joints}
    assert joints["thigh_joint"] == (pytest.approx(-150 * math.pi / 180), 0.0)
    assert [(j, lo, hi, gear) for _, j, lo, hi, gear in mj.actuators] == [
        ("thigh_joint", -1.0, 1.0, 200.0), ("leg_joint", -1.0, 1.0, 200.0), ("foot_joint", -1.0, 1.0, 200.0),
    ]  # fmt: skip
    geoms = {name: (kind, size) for name, kind, size in mj.geoms}
    assert geoms["thigh_geom"][0] == "capsule" and geoms["thigh_geom"][1][0] == pytest.approx(0.45)


def test_the_schema_text_shows_mujoco_physics_compactly() -> None:
    text = render_schema(load_schema("Hopper-v5"))
    section = text.split("## Physical parameters\n")[1].split("\n## ")[0]
    assert "0.002 s x frame_skip 4 = 0.008 s per env step" in section
    assert "body masses (kg; total 15.82): torso 3.665; thigh 4.058" in section
    assert "thigh_joint [-2.618, 0]" in section and "thigh_joint [-1, 1] x 200" in section
    assert len(section.splitlines()) == 5 and len(section) < 1200


def test_classic_envs_render_their_declared_physics() -> None:
    text = render_schema(load_schema("CartPole-v1"))
    assert "- pole half-length: 0.5 m — pivot to the pole's centre of mass" in text
    assert "- push force: 10 N" in text
    assert "- link lengths: [1, 1] m" in render_schema(load_schema("Acrobot-v1"))
    assert "- maximum torque: 2 N m" in render_schema(load_schema("Pendulum-v1"))
    assert "- engine power: 0.0015" in render_schema(load_schema("MountainCarContinuous-v0"))
    assert "- main engine power: 13" in render_schema(load_schema("LunarLander-v3"))
    assert mujoco_physics(load_schema("CartPole-v1")) is None


@pytest.mark.parametrize(
    ("env_id", "dt"),
    [("CartPole-v1", 0.02), ("Acrobot-v1", 0.2), ("Pendulum-v1", 0.05), ("Hopper-v5", 0.008),
     ("Reacher-v5", 0.02)],
)  # fmt: skip
def test_control_dt(env_id: str, dt: float) -> None:
    assert control_dt(load_schema(env_id)) == pytest.approx(dt)


def test_an_auto_schema_of_a_mujoco_env_gets_its_physics_too() -> None:
    schema = load_schema("Pusher-v5")
    assert schema.auto and not schema.physics
    assert any(line.startswith("- body masses (kg") for line in physics_lines(schema))


def test_a_bad_physics_entry_is_a_clear_schema_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = load_schema("CartPole-v1").model_dump(mode="json")
    data["physics"] = [{"name": "pole mass", "value": 0.1}]
    path = tmp_path / "CartPole-v1.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"physics\.0: missing required key .unit."):
        load_schema_file(path)
