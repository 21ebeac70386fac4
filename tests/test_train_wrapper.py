"""RewardVecEnvWrapper: batched reward calls, info keys, episode sums, auto-reset states."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from autoreward.errors import RewardCodeError
from autoreward.train.sb3.wrapper import ENV_REWARD_TERM, RewardVecEnvWrapper, check_reward_output


class CounterEnv(gym.Env):
    """Deterministic: state t counts steps in the episode, the episode ends at t == length,
    the env's own reward is 10 per step; `ep` counts resets."""

    observation_space = spaces.Box(-np.inf, np.inf, (1,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length: int = 3) -> None:
        self.length = length
        self.t = 0
        self.ep = -1

    def _state(self) -> dict[str, Any]:
        return {"t": float(self.t), "ep": float(self.ep)}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.t, self.ep = 0, self.ep + 1
        return np.array([0.0], dtype=np.float32), {"ar_state": self._state()}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        obs = np.array([self.t], dtype=np.float32)
        return obs, 10.0, self.t >= self.length, False, {"ar_state": self._state()}


class Recorder:
    """A reward that logs every batched call: progress is next t minus t (always 1 within an
    episode), plus a constant bonus; two components."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]] = []

    def __call__(self, state: dict, action: np.ndarray, next_state: dict) -> tuple:
        self.calls.append(({k: v.copy() for k, v in state.items()}, action.copy(), next_state))
        progress = next_state["t"] - state["t"]
        bonus = 0.5 * np.ones_like(progress)
        return progress + bonus, {"progress": progress, "bonus": bonus}


def _venv(lengths: list[int]) -> DummyVecEnv:
    return DummyVecEnv([lambda n=n: CounterEnv(n) for n in lengths])


def test_one_batched_call_per_vector_step_and_info_keys() -> None:
    reward = Recorder()
    env = RewardVecEnvWrapper(_venv([3, 4]), reward)
    env.reset()
    _, rewards, _, infos = env.step(np.array([0, 1]))
    assert len(reward.calls) == 1
    state, action, next_state = reward.calls[0]
    assert state["t"].shape == (2,) and next_state["t"].tolist() == [1.0, 1.0]
    assert action.tolist() == [0, 1]
    assert rewards.dtype == np.float32 and rewards.tolist() == [1.5, 1.5]
    for info in infos:
        assert info["env_reward"] == 10.0
        assert info["reward_terms"] == {"progress": 1.0, "bonus": 0.5}
        assert sum(info["reward_terms"].values()) == pytest.approx(1.5)


def test_auto_reset_next_transition_starts_from_reset_state() -> None:
    reward = Recorder()
    env = RewardVecEnvWrapper(_venv([3, 4]), reward)
    env.reset()
    for _ in range(9):
        env.step(np.array([0, 0]))
    for state, _, next_state in reward.calls:
        # never a transition from a terminal state: t always advances by exactly one
        assert (next_state["t"] - state["t"]).tolist() == [1.0, 1.0]
        assert (next_state["ep"] == state["ep"]).all()
    # env 0 (length 3) finished episodes at calls 3 and 6: the terminal state is seen as next_state
    assert reward.calls[2][2]["t"][0] == 3.0
    assert reward.calls[3][0]["t"][0] == 0.0 and reward.calls[3][0]["ep"][0] == 1.0


def test_episode_terms_are_per_episode_sums() -> None:
    env = RewardVecEnvWrapper(_venv([3, 4]), Recorder())
    env.reset()
    finished: list[tuple[int, dict]] = []
    for _ in range(8):
        _, _, dones, infos = env.step(np.array([0, 0]))
        for i in np.flatnonzero(dones):
            assert "episode_terms" not in infos[1 - i] or dones[1 - i]
            finished.append((int(i), infos[i]))
    by_env = {i: info for i, info in finished}
    assert by_env[0]["episode_terms"] == {"progress": 3.0, "bonus": 1.5}
    assert by_env[1]["episode_terms"] == {"progress": 4.0, "bonus": 2.0}
    assert by_env[0]["episode_generated_return"] == pytest.approx(4.5)
    assert by_env[0]["episode_env_return"] == pytest.approx(30.0)
    records = env.pop_episodes()
    assert [r.length for r in records] == [3, 4, 3, 4, 3][: len(records)]
    assert all(r.terminated for r in records)
    assert env.pop_episodes() == []


def test_window_stats_per_component() -> None:
    def reward(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        t = next_state["t"]
        return t, {"t": t}

    env = RewardVecEnvWrapper(_venv([3]), reward)
    env.reset()
    for _ in range(3):
        env.step(np.array([0]))
    stats = env.window_stats()
    assert stats["t"] == pytest.approx(
        {"mean": 2.0, "std": np.sqrt(2 / 3), "min": 1.0, "max": 3.0, "count": 3}
    )
    assert stats["__total__"]["mean"] == pytest.approx(2.0)
    assert env.window_stats() == {}  # reset after reading


def test_env_reward_passes_through_without_reward_fn() -> None:
    env = RewardVecEnvWrapper(_venv([2]), None)
    env.reset()
    _, rewards, _, infos = env.step(np.array([0]))
    assert rewards.tolist() == [10.0]
    assert infos[0]["reward_terms"] == {ENV_REWARD_TERM: 10.0}
    _, _, dones, infos = env.step(np.array([0]))
    assert dones[0] and infos[0]["episode_terms"] == {ENV_REWARD_TERM: 20.0}


def test_nan_component_names_component_and_step() -> None:
    def reward(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        ok = np.ones(len(action))
        bad = np.where(next_state["t"] >= 2, np.nan, 0.0)
        return ok + bad, {"ok": ok, "speed": bad}

    env = RewardVecEnvWrapper(_venv([5, 5]), reward)
    env.reset()
    env.step(np.array([0, 0]))
    with pytest.raises(
        RewardCodeError,
        match=r"non-finite reward at training step 2: component 'speed' is NaN/inf for env\(s\) \[0, 1\]",
    ):
        env.step(np.array([0, 0]))


def test_wrong_shape_and_exceptions_are_reward_code_errors() -> None:
    def scalar(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        return 1.0, {"alive": 1.0}

    env = RewardVecEnvWrapper(_venv([3, 3]), scalar)
    env.reset()
    with pytest.raises(RewardCodeError, match=r"total has shape \(\), expected \(2,\)"):
        env.step(np.array([0, 0]))

    def raises(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        return state["missing"], {}

    env = RewardVecEnvWrapper(_venv([3]), raises)
    env.reset()
    with pytest.raises(RewardCodeError, match="compute_reward raised KeyError at training step 0"):
        env.step(np.array([0]))


def test_check_reward_output_rejects_non_tuple() -> None:
    with pytest.raises(RewardCodeError, match=r"must return \(total, terms_dict\), got ndarray"):
        check_reward_output(np.zeros(2), 2, "here")


def test_missing_ar_state_says_how_to_fix() -> None:
    class Plain(CounterEnv):
        def reset(self, **kwargs: Any) -> tuple[Any, dict]:
            obs, _ = super().reset(**kwargs)
            return obs, {}

    env = RewardVecEnvWrapper(DummyVecEnv([Plain]), Recorder())
    with pytest.raises(RuntimeError, match="no info\\['ar_state'\\] on reset; build the envs with"):
        env.reset()


def test_subproc_vec_env_auto_reset() -> None:
    reward = Recorder()
    venv = SubprocVecEnv([lambda: CounterEnv(2), lambda: CounterEnv(3)], start_method="fork")
    env = RewardVecEnvWrapper(venv, reward)
    try:
        env.reset()
        for _ in range(7):
            env.step(np.array([0, 0]))
    finally:
        env.close()
    for state, _, next_state in reward.calls:
        assert (next_state["t"] - state["t"]).tolist() == [1.0, 1.0]


def test_reward_writing_into_its_inputs_fails_loudly() -> None:
    def mutates(state: dict, action: np.ndarray, next_state: dict) -> tuple:
        t = next_state["t"]
        t *= 2.0
        return t, {"t": t}

    env = RewardVecEnvWrapper(_venv([3]), mutates)
    env.reset()
    with pytest.raises(
        RewardCodeError,
        match="compute_reward raised ValueError at training step 0: output array is read-only",
    ):
        env.step(np.array([0]))
