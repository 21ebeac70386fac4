"""The reward contract fits the action space it is shown with, and the training setup reaches
the prompts (autoreward.agents.base: contract, training_prompt)."""

from __future__ import annotations

import re

import pytest
from agentfakes import ScriptedClient, answer, cartpole_check

from autoreward.agents.base import contract
from autoreward.agents.designer import Designer
from autoreward.envs.registry import load_schema
from autoreward.envs.schema import ActionSpec
from autoreward.sandbox.checker import check_reward

EXAMPLE = re.compile(r'`"effort": (.+?)`')


def _effort_reward(expr: str) -> str:
    return (
        "import numpy as np\n\n"
        "def compute_reward(state, action, next_state):\n"
        f"    effort = {expr}\n"
        '    return effort, {"effort": effort}\n'
    )


def _example(env_id: str) -> str:
    text = contract(load_schema(env_id).action).text
    [example] = EXAMPLE.findall(text)
    return example


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "Hopper-v5", "Pendulum-v1"])
def test_the_contract_example_passes_the_real_dry_run_for_its_action_space(env_id: str) -> None:
    schema = load_schema(env_id)
    report = check_reward(_effort_reward(_example(env_id)), schema, n_states=16)
    assert report.ok, report.failure_text()


def test_the_continuous_example_is_wrong_for_discrete_actions_and_is_not_shown_there() -> None:
    schema = load_schema("CartPole-v1")
    old = "-0.001 * np.sum(action ** 2, axis=-1)"
    report = check_reward(_effort_reward(old), schema, n_states=16)
    assert not report.ok, "summing a (N,) action over axis -1 adds up the envs"
    text = contract(schema.action).text
    assert "np.sum(action" not in text
    assert "integer array of shape `(N,)`: one choice in `0..1`" in text
    assert "# action: np.ndarray of shape (N,) integer" in text


def test_continuous_examples_reduce_each_envs_own_axes() -> None:
    def effort(shape: list[int]) -> str:
        [ex] = EXAMPLE.findall(
            contract(ActionSpec(shape=shape, low=-1, high=1, description="a")).text
        )
        return ex

    assert effort([3]) == "-0.001 * np.sum(action ** 2, axis=-1)"
    assert effort([]) == "-0.001 * action ** 2"
    assert effort([2, 4]) == "-0.001 * np.sum(action ** 2, axis=(1, 2))"
    assert "shape `(N, 2, 4)`" in contract(ActionSpec(shape=[2, 4], description="a")).text


def test_the_designer_shows_the_contract_of_its_schema() -> None:
    client = ScriptedClient({("designer", 0): [answer("designer_cartpole_1")]})
    Designer(client, load_schema("CartPole-v1"), "balance", check=cartpole_check).propose(
        1, iteration=0
    )
    [call] = client.calls
    assert "integer array of shape `(N,)`" in call.user
    assert {"reward_contract_v3", "action_discrete_v1"} <= call.templates
