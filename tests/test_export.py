"""`autoreward export`: a standalone reward module that RewardWrapper (and plain Python) can use."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from runfakes import DENSE, make_run
from typer.testing import CliRunner

from autoreward import RewardWrapper
from autoreward.cli import app
from autoreward.errors import ConfigError
from autoreward.loop.export import export_reward, fields_read
from autoreward.sandbox.validate import validate_code


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_export_writes_a_documented_standalone_module(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "my_reward.py"
    done = export_reward(run_dir, out)
    assert done.path == out and done.source == "iteration 1, candidate 0" and done.fitness == 480.0
    text = out.read_text()
    assert validate_code(text) == []
    assert _imports(out) == {"numpy"}  # nothing from autoreward at top level
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert doc.startswith("Reward for CartPole-v1: balance the pole near the centre of the track")
    assert str(run_dir.resolve()) in doc
    assert (
        "Fitness 480 after 4,000 training steps" in doc
        and "Retrained on 2 seeds: 470 ± 12.5." in doc
    )
    assert "pole_angle [rad, scalar, source obs[2]]" in doc
    assert "cart_position [m, scalar, source obs[0]]" in doc
    assert "pole_angular_velocity [rad/s, scalar, source obs[3]]" in doc
    assert "cart_velocity" not in doc  # not read by this reward
    assert "Reward components: alive, upright, centred, calm." in doc
    assert 'env = RewardWrapper(gym.make("CartPole-v1"), "my_reward.py")' in doc
    assert '"""Dense CartPole reward: alive bonus' in text  # the code is exported unchanged
    assert "def compute_reward(state, action, next_state):" in text


def test_a_module_docstring_of_the_code_joins_the_header(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "best" / "reward.py").write_text('"""Keeps the cart near x = 0."""\n' + DENSE)
    text = export_reward(run_dir, tmp_path / "r.py").path.read_text()
    assert validate_code(text) == []
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "The designer's note: Keeps the cart near x = 0." in doc
    assert text.count('"""Keeps the cart') == 0


def test_exported_module_works_without_autoreward(run_dir: Path, tmp_path: Path) -> None:
    out = export_reward(run_dir, tmp_path / "standalone.py").path
    spec = importlib.util.spec_from_file_location("standalone", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = {
        k: np.zeros(2)
        for k in ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
    }
    total, terms = module.compute_reward(state, np.zeros(2), state)
    assert total.shape == (2,) and set(terms) == {"alive", "upright", "centred", "calm"}
    np.testing.assert_allclose(total, 2.0)


def test_exported_module_wraps_cartpole(run_dir: Path, tmp_path: Path) -> None:
    out = export_reward(run_dir, tmp_path / "my_reward.py").path
    env = RewardWrapper(gym.make("CartPole-v1"), str(out))
    _, info = env.reset(seed=0)
    state = info["ar_state"]
    steps = 0
    terminated = truncated = False
    while not (terminated or truncated) and steps < 50:
        _, reward, terminated, truncated, info = env.step(steps % 2)
        nxt = info["ar_state"]
        angle, x = float(nxt["pole_angle"]), float(nxt["cart_position"])
        expected = (
            1.0
            + (1.0 - abs(angle) / 0.2095)
            - 0.5 * (x / 2.4) ** 2
            - 0.01 * abs(float(nxt["pole_angular_velocity"]))
        )
        assert reward == pytest.approx(expected)
        assert info["env_reward"] == 1.0
        assert set(info["reward_terms"]) == {"alive", "upright", "centred", "calm"}
        state, steps = nxt, steps + 1
    assert steps > 5 and state is not None
    env.close()


def test_exported_module_trains_with_sb3(run_dir: Path, tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    out = export_reward(run_dir, tmp_path / "my_reward.py").path
    env = RewardWrapper(gym.make("CartPole-v1"), str(out))
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    assert model.num_timesteps >= 128


def test_export_a_chosen_candidate(run_dir: Path, tmp_path: Path) -> None:
    done = export_reward(run_dir, tmp_path / "r.py", candidate="0:0")
    assert done.source == "iteration 0, candidate 0"
    doc = ast.get_docstring(ast.parse(done.path.read_text())) or ""
    assert "Fitness 120 after 4,000 training steps" in doc and "Retrained" not in doc
    assert done.fields == ["pole_angle"]


def test_export_errors_say_what_to_do(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--candidate 'one' is not ITER:CAND"):
        export_reward(run_dir, tmp_path / "r.py", candidate="one")
    with pytest.raises(ConfigError, match=r"cand_1 has no reward.py"):
        export_reward(run_dir, tmp_path / "r.py", candidate="0:1")  # failed its checks: no code
    with pytest.raises(ConfigError, match=r"must end in .py"):
        export_reward(run_dir, tmp_path / "r.txt")
    with pytest.raises(ConfigError, match=r"is a directory"):
        export_reward(run_dir, tmp_path)
    with pytest.raises(ConfigError, match=r"is not a run directory \(no config.yaml\)"):
        export_reward(tmp_path, tmp_path / "r.py")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.yaml").write_text("env_id: CartPole-v1\ntask: balance\n")
    with pytest.raises(
        ConfigError, match=r"has no best reward yet \(no candidate has trained successfully\)"
    ):
        export_reward(fresh, tmp_path / "r.py")


def test_header_text_cannot_break_the_module(run_dir: Path, tmp_path: Path) -> None:
    cfg = run_dir / "config.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["task"] = 'balance """ the __class__ \\ pole'
    cfg.write_text(yaml.safe_dump(data))
    out = export_reward(run_dir, tmp_path / "r.py").path
    assert validate_code(out.read_text()) == []
    assert "balance ''' the _class_ / pole" in (ast.get_docstring(ast.parse(out.read_text())) or "")


def test_fields_read_finds_subscripts_and_get() -> None:
    code = (
        "def compute_reward(s, a, s2):\n"
        "    other = {'z': 1}\n"
        "    return s2['b'] + s.get('a') + s2['b'] + other['z'], {}\n"
    )
    assert fields_read(code) == ["b", "a"]
    assert fields_read(DENSE) == ["pole_angle", "cart_position", "pole_angular_velocity"]


def test_cli_export(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli_reward.py"
    result = CliRunner().invoke(app, ["export", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert out.is_file() and "iteration 1, candidate 0 of CartPole-v1" in output
    assert 'RewardWrapper(gym.make("CartPole-v1")' in output
    bad = CliRunner().invoke(app, ["export", str(run_dir), "--out", str(out), "--candidate", "x"])
    assert bad.exit_code == 2 and "is not ITER:CAND" in " ".join(bad.output.split())
