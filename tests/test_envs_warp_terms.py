"""The schemas' `simulation` sections checked against gymnasium without MuJoCo Warp.

The batched backend's compiled gathers read any `BatchArrays`; here they read a stack of the
gymnasium envs' own `MjData` (float64), so the declared observation, terminations, state and
reset draws must reproduce gymnasium's exactly (or in distribution). No kernel compiles.
"""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch
import yaml
from pydantic import ValidationError

from autoreward.envs.extract import STATE_KEY, make_env
from autoreward.envs.registry import load_schema, schema_dir
from autoreward.envs.schema import EnvSchema, ResetTerm, SimulationSpec, TerminationTerm
from autoreward.envs.warp.gather import MjDataStack
from autoreward.envs.warp.model import load_model, require_simulation, unsupported_reason
from autoreward.envs.warp.terms import (
    CompiledObservation,
    CompiledReset,
    CompiledState,
    CompiledTerminations,
)
from autoreward.errors import ConfigError

WARP_ENVS = [
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Humanoid-v5",
    "Swimmer-v5",
    "Reacher-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
]


def _compiled(schema: EnvSchema, model: mujoco.MjModel, dt: float):
    spec = require_simulation(schema)
    return (
        CompiledState(model, schema.fields, dt, schema.env_id),
        CompiledObservation(model, spec.observation, schema.env_id),
        CompiledTerminations(model, spec.terminations, schema.env_id),
    )


@pytest.mark.parametrize("env_id", WARP_ENVS)
def test_declared_terms_reproduce_gymnasium(env_id: str) -> None:
    """Observation, terminations and state, read by the compiled gathers from gymnasium's own
    MjData, equal what gymnasium and the CPU extractor return, at every step and reset."""
    schema = load_schema(env_id)
    envs = [make_env(schema, seed=i) for i in range(3)]
    model = envs[0].unwrapped.model
    assert require_simulation(schema).frame_skip == envs[0].unwrapped.frame_skip
    state_c, obs_c, term_c = _compiled(schema, model, envs[0].unwrapped.dt)

    def read(datas):
        view, cache = MjDataStack(model, datas), {}
        return view, cache, state_c.read(view, cache)

    datas = [e.unwrapped.data for e in envs]
    starts = [e.reset(seed=i) for i, e in enumerate(envs)]
    view, cache, raw = read(datas)
    _same(obs_c.read(view, cache), np.stack([o for o, _ in starts]), "reset observation")
    _same_state(schema, state_c, state_c.start(raw), [i[STATE_KEY] for _, i in starts])
    rng = np.random.default_rng(0)
    ended_total = 0
    high = envs[0].action_space.high
    for _ in range(120):  # random full-scale torques: the robots fall, episodes end
        outs = [e.step(high * rng.choice([-1.0, 1.0], size=high.shape)) for e in envs]
        view, cache, raw = read(datas)
        _same(obs_c.read(view, cache), np.stack([o[0] for o in outs]), "observation")
        _same_state(schema, state_c, state_c.step(raw), [o[4][STATE_KEY] for o in outs])
        ends = term_c.read(view, cache).any(dim=1).numpy()
        assert ends.tolist() == [bool(o[2]) for o in outs]
        ended = [i for i, o in enumerate(outs) if o[2] or o[3]]
        ended_total += len(ended)
        for i in ended:
            envs[i].reset()
        if ended:
            mask = torch.zeros(len(envs), dtype=torch.bool)
            mask[ended] = True
            view, cache, raw = read(datas)
            state_c.start(raw, mask)
    if require_simulation(schema).terminations:
        assert ended_total > 0, "the rollout should cover terminations"
    for e in envs:
        e.close()


def _same(got: torch.Tensor, want: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12, err_msg=what)


def _same_state(schema: EnvSchema, compiled: CompiledState, flat: torch.Tensor, want: list) -> None:
    got = compiled.layout.split(flat.numpy())
    for f in schema.fields:
        ref = np.stack([np.asarray(s[f.name], dtype=np.float64) for s in want])
        np.testing.assert_allclose(got[f.name], ref, rtol=1e-12, atol=1e-12, err_msg=f.name)


@pytest.mark.parametrize("env_id", WARP_ENVS)
def test_reset_draws_match_gymnasium_in_distribution(env_id: str) -> None:
    """Per coordinate of qpos and qvel: same deciles and spread as gymnasium's own resets."""
    schema = load_schema(env_id)
    env = gym.make(env_id)
    data = env.unwrapped.data
    ours = CompiledReset(env.unwrapped.model, require_simulation(schema).reset, env_id)
    gen = torch.Generator().manual_seed(0)
    qpos, qvel = (x.double().numpy() for x in ours.sample(4000, gen, torch.device("cpu")))
    theirs_q, theirs_v = [], []
    for k in range(400):
        env.reset(seed=k)
        theirs_q.append(data.qpos.copy())
        theirs_v.append(data.qvel.copy())
    for name, a, b in (("qpos", qpos, np.array(theirs_q)), ("qvel", qvel, np.array(theirs_v))):
        qa, qb = (np.quantile(x, [0.1, 0.5, 0.9], axis=0) for x in (a, b))
        width = qb[2] - qb[0]
        assert np.all(np.abs(qa - qb) <= 0.15 * width + 1e-7), f"{name}: deciles {qa} vs {qb}"
        sa, sb = a.std(0), b.std(0)
        constant = sb < 1e-9
        assert np.all(sa[constant] < 1e-6), f"{name}: constant coordinates stay constant"
        ratio = sa[~constant] / sb[~constant]
        assert np.all((ratio > 0.8) & (ratio < 1.25)), f"{name}: std ratio {ratio.round(2)}"
    env.close()


def test_reacher_target_is_uniform_in_a_disc_and_at_rest() -> None:
    schema = load_schema("Reacher-v5")
    model = load_model(schema)
    ours = CompiledReset(model, require_simulation(schema).reset, "Reacher-v5")
    qpos, qvel = ours.sample(20000, torch.Generator().manual_seed(1), torch.device("cpu"))
    r2 = (qpos[:, 2:] ** 2).sum(1)
    assert float(r2.max()) < 0.2**2
    assert float(r2.mean()) == pytest.approx(0.2**2 / 2, rel=0.03)  # uniform in the disc
    assert torch.all(qvel[:, 2:] == 0)
    assert float(qvel[:, :2].abs().max()) <= 0.005


@pytest.mark.parametrize("env_id", WARP_ENVS)
def test_contact_buffers_leave_room(env_id: str) -> None:
    """nconmax/njmax hold at least twice the contacts and constraint rows seen in long
    random-policy rollouts on MuJoCo (falls included: episodes do not end on termination)."""
    spec = require_simulation(load_schema(env_id))
    env = gym.make(env_id).unwrapped
    model, data = env.model, env.data
    rng = np.random.default_rng(0)
    ncon = nefc = 0
    for episode in range(2):
        env.reset(seed=episode)
        for _ in range(300):
            data.ctrl[:] = rng.uniform(*model.actuator_ctrlrange.T)
            for _ in range(env.frame_skip):
                mujoco.mj_step(model, data)
                ncon, nefc = max(ncon, data.ncon), max(nefc, data.nefc)
    assert spec.nconmax >= 2 * ncon and spec.njmax >= 2 * nefc, (ncon, nefc)


def test_schema_without_simulation_is_refused_clearly() -> None:
    schema = load_schema("CartPole-v1")
    assert "no 'simulation' section" in (unsupported_reason(schema) or "")
    with pytest.raises(ConfigError, match="MuJoCo Warp backend cannot run CartPole-v1") as err:
        require_simulation(schema)
    assert "SB3 backend" in (err.value.hint or "")


def test_pgs_model_needs_a_solver_override() -> None:
    schema = load_schema("Humanoid-v5")
    assert require_simulation(schema).solver == "newton"
    assert load_model(schema).opt.solver == mujoco.mjtSolver.mjSOL_NEWTON
    schema.simulation.solver = None  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="uses the PGS solver"):
        load_model(schema)


def test_action_bounds_must_be_the_control_range() -> None:
    schema = load_schema("Hopper-v5")
    schema.action.high = 2.0
    with pytest.raises(ConfigError, match="differ from the model's control range"):
        load_model(schema)


def test_missing_model_file_names_both_places() -> None:
    schema = load_schema("Hopper-v5")
    schema.simulation.model = "hoppr.xml"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="'hoppr.xml' is neither in gymnasium's MuJoCo assets"):
        load_model(schema)


def test_sources_the_backend_cannot_read_are_named() -> None:
    schema = load_schema("Hopper-v5")
    model = load_model(schema)
    schema.fields[0].source = "obs[0]"
    with pytest.raises(ConfigError, match="field 'torso_x'.*cannot be read by the MuJoCo Warp"):
        CompiledState(model, schema.fields, 0.008, "Hopper-v5")
    schema = load_schema("Hopper-v5")
    schema.fields[0].shape = [2]
    with pytest.raises(ConfigError, match=r"'torso_x' declares shape \[2\] but its source gives"):
        CompiledState(model, schema.fields, 0.008, "Hopper-v5")


def test_bad_terms_are_explained() -> None:
    model = load_model(load_schema("Hopper-v5"))
    obs = SimulationSpec.model_validate(
        {**_hopper_simulation(), "observation": [{"name": "v", "source": "fdvel:qpos:rootx"}]}
    ).observation
    with pytest.raises(ConfigError, match="'fdvel:' needs the previous step"):
        CompiledObservation(model, obs, "Hopper-v5")
    disc = [ResetTerm(name="d", target="qpos[0:3]", distribution="disc", radius=0.1)]
    with pytest.raises(
        ConfigError, match="'disc' draw needs exactly 2 coordinates, the target has 3"
    ):
        CompiledReset(model, disc, "Hopper-v5")
    bad = [TerminationTerm(name="t", source="qpos:knee", healthy_range=(0, 1))]
    with pytest.raises(ConfigError, match="no joint named 'knee'"):
        CompiledTerminations(model, bad, "Hopper-v5")


def _hopper_simulation() -> dict:
    data = yaml.safe_load((schema_dir() / "Hopper-v5.yaml").read_text())
    return data["simulation"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"reset": [{"name": "a", "target": "qpos", "distribution": "uniform", "low": 0}]},
            "a 'uniform' reset needs high",
        ),
        (
            {
                "reset": [
                    {"name": "a", "target": "qpos", "distribution": "normal", "std": 1, "low": 0}
                ]
            },
            "a 'normal' reset takes no low",
        ),
        (
            {
                "reset": [
                    {"name": "a", "target": "xpos:torso", "distribution": "constant", "value": 0}
                ]
            },
            "String should match pattern",
        ),
        (
            {"terminations": [{"name": "t", "source": "qpos", "healthy_range": [1, 0]}]},
            "low < high",
        ),
        (
            {"observation": [{"name": "a", "source": "qpos"}, {"name": "a", "source": "qvel"}]},
            "duplicate term name",
        ),
        ({"observation": [{"name": "a", "source": "qpos", "clip": [1, -1]}]}, "low < high"),
        ({"solver": "pgs"}, "Input should be 'newton' or 'cg'"),
    ],
)
def test_simulation_section_validation(edit: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimulationSpec.model_validate({**_hopper_simulation(), **edit})
