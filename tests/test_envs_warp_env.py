"""The batched MuJoCo Warp env on Warp's CPU device: parity with gymnasium, auto-reset, time
limits, buffer overflow, the host state copy and rsl_rl's VecEnv.

Marked expensive: the first env of each model compiles MuJoCo Warp's kernels (tens of seconds
per model on a cold cache, `~/.cache/warp`; later processes load them). GPU-only checks skip
where Warp sees no CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp", reason="the optional 'warp' extra is not installed")

from warp_parity import run_parity  # noqa: E402

from autoreward.envs.registry import load_schema  # noqa: E402
from autoreward.envs.warp.env import NON_FINITE, BatchedMujocoEnv  # noqa: E402
from autoreward.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.expensive

PARITY_ENVS = [
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Humanoid-v5",
    "Swimmer-v5",
    "Reacher-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
]
MAX_BAD = 0.02  # share of world-steps a quantity may fall outside its tolerance (contact onsets)


def _assert_parity(env_id: str, **kwargs) -> None:
    report = run_parity(env_id, **kwargs)
    assert report.termination_mismatch == 0, f"{report.termination_mismatch} termination flips"
    problems = report.worst(MAX_BAD)
    assert not problems, f"{env_id}: " + "; ".join(problems)


@pytest.mark.parametrize("env_id", PARITY_ENVS)
def test_one_step_parity_with_gymnasium(env_id: str) -> None:
    """Observation terms, every state field and termination agree with the gymnasium v5 env
    after each step from the same state and action (float32 vs float64 physics)."""
    _assert_parity(env_id)


def test_ant_parity_with_an_elliptic_friction_cone() -> None:
    """Ant's contacts, contact forces and observation agree once friction is isotropic."""
    _assert_parity("Ant-v5", cone="elliptic")


@pytest.mark.xfail(
    strict=True,
    reason="MuJoCo Warp 4.0 orients a steep capsule's contact frame differently from MuJoCo; "
    "with a pyramidal cone the friction differs (envs/Ant-v5.yaml, notes). If this passes, "
    "MuJoCo Warp changed: drop the note and this xfail.",
)
def test_ant_parity_with_its_pyramidal_friction_cone() -> None:
    _assert_parity("Ant-v5")


@pytest.fixture(scope="module")
def hopper() -> BatchedMujocoEnv:
    return BatchedMujocoEnv(load_schema("Hopper-v5"), 8, seed=3)


def test_auto_reset_starts_new_episodes_at_once(hopper: BatchedMujocoEnv) -> None:
    env = hopper
    env.reset()
    layout = env.state_layout
    qpos0 = torch.as_tensor(env.model.qpos0, dtype=torch.float32)
    push = torch.tensor([[1.0, -1.0, 1.0]]).repeat(env.num_envs, 1)
    for _ in range(200):
        result = env.step(push)
        if result.terminated.any():
            break
    done = result.terminated
    assert done.any() and not result.truncated.any()
    terminal = layout.split(result.next_state)
    height_or_tilt = result.terminations[:, 1] | result.terminations[:, 2]
    assert torch.all(height_or_tilt[done])
    assert torch.all(
        (terminal["torso_height"][done] <= 0.7) | (terminal["torso_angle"][done].abs() >= 0.2)
    )
    current = layout.split(env.state)
    assert torch.all(env.episode_length_buf[done] == 0)
    assert torch.all(env.episode_length_buf[~done] > 0)
    assert torch.all(current["x_velocity"][done] == 0)  # finite differences restart
    qpos = env._qpos[done]
    assert torch.all((qpos - qpos0).abs() <= 0.005 + 1e-6)  # the declared reset noise
    expected_obs = torch.cat([env._qpos[:, 1:], env._qvel.clamp(-10, 10)], dim=1)
    assert torch.allclose(env.obs, expected_obs)  # observation of the new episode
    assert torch.equal(env.obs[~done], result.terminal_obs[~done])
    assert NON_FINITE == env.termination_names[-1] and not result.terminations[:, -1].any()


def test_graph_replay_steps_exactly_like_direct_launches() -> None:
    """The captured graphs (Warp's CPU graphs here) give bit-identical physics, contacts,
    contact forces and resets to launching every kernel from Python."""
    schema = load_schema("Hopper-v5")
    fast, slow = (BatchedMujocoEnv(schema, 4, seed=7, graphs=g) for g in (True, False))
    assert fast._graphs and not slow._graphs
    gen = torch.Generator().manual_seed(0)
    resets = 0
    for _ in range(25):
        actions = torch.rand((4, 3), generator=gen) * 2 - 1
        a, b = fast.step(actions), slow.step(actions)
        assert torch.equal(a.next_state, b.next_state) and torch.equal(a.obs, b.obs)
        resets += int(a.done.sum())
    assert resets > 0 and fast.state_numpy()["foot_contact_force"].max() > 0


def test_time_limit_truncates_every_world() -> None:
    env = BatchedMujocoEnv(load_schema("Swimmer-v5"), 3, max_episode_length=3)
    zero = torch.zeros(3, env.num_actions)
    flags = [env.step(zero).truncated.tolist() for _ in range(4)]
    assert flags == [[False] * 3, [False] * 3, [True] * 3, [False] * 3]
    assert env.episode_length_buf.tolist() == [1, 1, 1]


def test_buffer_overflow_is_an_error_naming_the_setting() -> None:
    schema = load_schema("Hopper-v5")
    schema.simulation.njmax = 2  # type: ignore[union-attr]  # the foot contact alone needs 4 rows
    env = BatchedMujocoEnv(schema, 2)
    with pytest.raises(ConfigError, match=r"out of buffer space in 2 of 2 worlds.*njmax = 2"):
        for _ in range(50):
            env.step(torch.zeros(2, 3))


def test_state_numpy_is_a_fresh_float64_copy(hopper: BatchedMujocoEnv) -> None:
    env = hopper
    state = env.state_numpy()
    schema = env.schema
    assert list(state) == [f.name for f in schema.fields]
    for f in schema.fields:
        assert state[f.name].shape == (env.num_envs, *f.shape) and state[f.name].dtype == np.float64
    state["torso_x"][:] = 123.0
    assert not np.any(env.state_numpy()["torso_x"] == 123.0)
    np.testing.assert_allclose(state["joint_angles"], env._qpos[:, 3:6].double().numpy())


def test_set_state_moves_the_physics(hopper: BatchedMujocoEnv) -> None:
    env = hopper
    qpos = np.tile(env.model.qpos0, (2, 1))
    qpos[:, 1] = [1.0, 1.1]
    obs = env.set_state(qpos, np.zeros((2, 6)), worlds=[0, 5])
    assert obs[[0, 5], 0].tolist() == pytest.approx([1.0, 1.1])
    assert env.state_numpy()["torso_height"][[0, 5]].tolist() == pytest.approx([1.0, 1.1])
    with pytest.raises(ValueError, match=r"actions must have shape \(8, 3\)"):
        env.step(torch.zeros(8, 2))
    with pytest.raises(ValueError, match=r"qvel must have shape \(2, 6\) for the 2 selected"):
        env.set_state(qpos, np.zeros((3, 6)), worlds=[0, 5])


def test_rsl_rl_vec_env_contract(hopper: BatchedMujocoEnv) -> None:
    pytest.importorskip("rsl_rl")
    from rsl_rl.env import VecEnv

    from autoreward.envs.warp.rslrl import RslRlVecEnv

    seen = {}

    def reward(state, action, next_state):
        seen.update(state=state, action=action, next_state=next_state)
        forward = next_state["x_velocity"]
        ctrl = -1e-3 * np.sum(action**2, axis=-1)
        return forward + ctrl, {"forward": forward, "ctrl": ctrl}

    venv = RslRlVecEnv(hopper, reward)
    assert isinstance(venv, VecEnv)
    obs = venv.reset()
    assert obs["policy"].shape == (8, 11) and venv.num_actions == 3
    before = hopper.state_numpy()
    actions = torch.full((8, 3), 2.0)  # beyond the control range: clipped to 1
    obs, rewards, dones, extras = venv.step(actions)
    assert np.array_equal(seen["action"], np.ones((8, 3)))
    np.testing.assert_array_equal(seen["state"]["torso_x"], before["torso_x"])
    want = seen["next_state"]["x_velocity"] - 3e-3
    np.testing.assert_allclose(rewards.numpy(), want, rtol=1e-6)
    assert dones.dtype == torch.long and extras["time_outs"].dtype == torch.bool
    assert set(extras["log"]) >= {"/reward/forward", "/reward/ctrl", "/termination/torso_too_low"}
    assert venv.host_copy_seconds > 0

    def bad(state, action, next_state):
        return np.zeros(3), {}

    with pytest.raises(ValueError, match=r"reward must be a finite array of shape \(8,\)"):
        RslRlVecEnv(hopper, bad).step(actions)


def test_rsl_rl_runner_drives_the_env() -> None:
    """rsl_rl's own PPO runner collects rollouts and updates on the batched env."""
    pytest.importorskip("rsl_rl")
    from rsl_rl.runners import OnPolicyRunner

    from autoreward.envs.warp.rslrl import RslRlVecEnv

    env = BatchedMujocoEnv(load_schema("InvertedPendulum-v5"), 16, seed=0)
    venv = RslRlVecEnv(env, lambda s, a, n: (np.ones(16), {"alive": np.ones(16)}))
    cfg = {
        "num_steps_per_env": 8,
        "save_interval": 1000,
        "obs_groups": {},
        "algorithm": {"class_name": "PPO", "num_learning_epochs": 1, "num_mini_batches": 2},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [16],
            "distribution_cfg": {"class_name": "GaussianDistribution"},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [16]},
    }
    runner = OnPolicyRunner(venv, cfg, log_dir=None, device="cpu")
    runner.learn(num_learning_iterations=2)
    assert runner.current_learning_iteration == 1


@pytest.mark.skipif(
    not __import__("warp").is_cuda_available(), reason="needs a CUDA device (Warp sees none)"
)
def test_cuda_graphs_step_like_the_cpu_device() -> None:
    schema = load_schema("Hopper-v5")
    cpu = BatchedMujocoEnv(schema, 4, seed=0)
    gpu = BatchedMujocoEnv(schema, 4, device="cuda", seed=0)
    qpos, qvel = cpu._qpos.numpy().copy(), cpu._qvel.numpy().copy()
    gpu.set_state(qpos, qvel)
    cpu.set_state(qpos, qvel)
    actions = torch.rand(4, 3) * 2 - 1
    for _ in range(5):
        a, b = cpu.step(actions), gpu.step(actions.cuda())
    torch.testing.assert_close(b.next_state.cpu(), a.next_state, rtol=1e-3, atol=1e-4)
    assert gpu._graphs, "the hot paths run as captured CUDA graphs"
    assert isinstance(gpu.state_numpy()["torso_x"], np.ndarray)
