"""The warp training backend on Warp's CPU device: rsl-rl PPO on the batched Hopper through
the real containers (`run_job_isolated`), fitness measured like the SB3 path's, continuation,
the read-only kernel cache, reward failures, `autoreward train --backend warp` and a run of the
loop against the local fake LLM server.

Marked expensive. Cost on 2 cores: the kernel warm-up compiles Hopper's MuJoCo Warp kernels once
into the shared cache (~30 s cold, `~/.cache/autoreward/warp`, or `$AUTOREWARD_WARP_CACHE`;
later runs load them); each job then takes ~15 s (three containers); the module ~3 min.
GPU-only checks skip where Warp sees no CUDA device.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mujoco_warp", reason="the optional 'warp' extra is not installed")
pytest.importorskip("rsl_rl", reason="the optional 'warp' extra is not installed")

from autoreward.envs.registry import load_schema  # noqa: E402
from autoreward.exec.base import run_job_isolated  # noqa: E402
from autoreward.train.job import TrainJob  # noqa: E402
from autoreward.train.limits import training_limits  # noqa: E402

pytestmark = pytest.mark.expensive

ROOT = Path(__file__).resolve().parents[1]
REWARD = (ROOT / "bench" / "rewards" / "hopper_typical.py").read_text()
SMALL = {"num_steps_per_env": 8, "actor_hidden_dims": [32, 32], "critic_hidden_dims": [32, 32]}


def _job(out: Path, **over: object) -> TrainJob:
    base: dict = dict(
        env_id="Hopper-v5", out_dir=str(out), reward_code=REWARD, backend="warp",
        total_steps=512, n_envs=16, n_checkpoints=2, hyperparams=SMALL, eval_episodes=2,
        checkpoint_eval_episodes=1, trajectory_episodes=1, video=False, label="warp",
    )  # fmt: skip
    base.update(over)
    return TrainJob.model_validate(base)


def _cuda() -> bool:
    from autoreward.envs.warp.runtime import cuda_available

    return cuda_available()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainJob, object]:
    out = tmp_path_factory.mktemp("warp") / "cand_0"
    job = _job(out, video=True)
    return job, run_job_isolated(job)


def test_a_warp_candidate_trains_and_is_scored_like_an_sb3_one(trained) -> None:
    job, result = trained
    out = Path(job.out_dir)
    assert result.status == "ok", result.reason
    # 2 checkpoints of a 512-step budget in rollouts of 16 worlds x 8 steps
    assert result.steps == 512 and [p.step for p in result.curve] == [256, 512]
    # the fitness is the evaluation container's, on the gymnasium env, per checkpoint too
    assert result.fitness is not None and len(result.fitness_episodes) == job.eval_episodes
    assert all(p.fitness is not None for p in result.curve)
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation["fitness"] == result.fitness and len(evaluation["episodes"]) == 2
    # the reward's components per checkpoint, the env's own return beside the generated one
    stats = json.loads((out / "stats.json").read_text())
    assert stats["components"] == ["forward", "healthy", "upright", "height", "ctrl", "smooth"]
    last = stats["checkpoints"][-1]
    assert set(last["per_step"]) == set(stats["components"]) and last["episodes"] > 0
    assert last["env_return"] is not None and last["generated_return"] != last["env_return"]
    train = json.loads((out / "train.json").read_text())
    assert train["backend"] == "warp" and train["worlds"] == 16 and train["algo"] == "PPO"
    assert train["policy"].startswith("rsl-rl MLP actor [32, 32]")
    assert 0 < train["timing"]["host_reward_share"] < 1 and train["timing"]["vector_steps"] == 32
    assert (out / "policy.npz").is_file() and (out / "trajectories.json").is_file()
    assert sorted(p.name for p in (out / "train" / "policy").iterdir()) == [
        "final.npz", "step_000000000256.npz", "step_000000000512.npz"
    ]  # fmt: skip
    # the terms container re-scored the evaluation episodes with the reward
    assert evaluation["generated_return_mean"] is not None
    assert result.video is not None and Path(result.video).stat().st_size > 0


def test_a_warp_candidate_continues_from_its_checkpoint(trained) -> None:
    """Successive halving's second rung: the same folder, resume_from its checkpoint."""
    job, first = trained
    more = job.model_copy(update={"total_steps": 1024, "resume_from": first.checkpoint,
                                  "video": False})  # fmt: skip
    result = run_job_isolated(more)
    assert result.status == "ok", result.reason
    assert result.steps == 1024 and result.steps_this_run == 512
    # the curve keeps the first rung's points (and their fitness) and adds the new ones
    assert [p.step for p in result.curve] == [256, 512, 768, 1024]
    assert result.curve[0].fitness == first.curve[0].fitness
    state = json.loads((Path(first.checkpoint) / "state.json").read_text())
    assert state["backend"] == "warp" and state["steps"] == 1024 and state["iteration"] == 8


def test_the_env_reward_baseline_and_a_schema_without_one(tmp_path: Path) -> None:
    result = run_job_isolated(_job(tmp_path / "baseline", reward_code=None, total_steps=256))
    assert result.status == "ok", result.reason
    stats = json.loads((tmp_path / "baseline" / "stats.json").read_text())
    assert stats["components"] == ["env_reward"]
    point = stats["checkpoints"][-1]
    assert point["generated_return"] == pytest.approx(point["env_return"])

    data = load_schema("Hopper-v5").model_dump(mode="json")
    data["simulation"]["reward"] = []
    bare = run_job_isolated(_job(tmp_path / "bare", reward_code=None, schema_data=data))
    assert bare.status == "failed" and "declares no reward of its own" in (bare.reason or "")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return np.zeros(3), {}", r"total has shape \(3,\), expected \(16,\)"),
        ('bad = next_state["torso_height"] / 0.0\n    return bad, {"bad": bad}',
         r"non-finite reward at training step 16: component 'bad'"),
        ('next_state["torso_height"][0] = 1.0\n    return np.zeros(16), {}',
         r"compute_reward raised ValueError at training step 16: assignment destination is "
         r"read-only"),
    ],
)  # fmt: skip
def test_a_bad_reward_fails_the_job_with_its_reason(
    body: str, message: str, tmp_path: Path
) -> None:
    """In-process (the training container's code, without the container): the checks the SB3
    wrapper makes, on read-only copies."""
    from autoreward.train.rslrl.trainer import train_warp

    code = f"import numpy as np\n\n\ndef compute_reward(state, action, next_state):\n    {body}\n"
    outcome = train_warp(_job(tmp_path, reward_code=code, total_steps=256))
    assert outcome.status == "failed"
    assert outcome.reason is not None and __import__("re").search(message, outcome.reason)


def test_training_containers_read_the_kernel_cache_but_cannot_write_it(tmp_path: Path) -> None:
    from autoreward.envs.warp.cache import MARKERS, cache_key, cache_root
    from autoreward.sandbox.worker import isolation, run_isolated
    from autoreward.train.pipeline import kernel_cache, training_container

    job = _job(tmp_path / "cand")
    cache = kernel_cache(job, training_limits(job))
    assert cache is not None
    if cache.path is None:
        pytest.skip(f"no shared cache in this sandbox mode: {cache.note}")
    key = cache_key(load_schema("Hopper-v5"), "cpu")
    assert (cache_root() / MARKERS / f"{key}.json").is_file()
    work = tmp_path / "cand" / "train"
    work.mkdir(parents=True)
    inputs, env = training_container(job, work, cache)
    assert cache.path in inputs and env == {"WARP_CACHE_PATH": str(cache.path)}
    code = textwrap.dedent(
        """
        import glob, os
        root = os.environ["WARP_CACHE_PATH"]
        objects = glob.glob(os.path.join(root, "*", "*", "*"))
        result = {"readable": len(objects)}
        for name, path in {"new": os.path.join(root, "planted.o"), "existing": objects[0]}.items():
            try:
                with open(path, "ab") as fh:
                    fh.write(b"x")
                result[name] = "written"
            except OSError as err:
                result[name] = type(err).__name__
        """
    )
    res = run_isolated("autoreward.sandbox._probe:unrestricted", {"code": code},
                       training_limits(job), workdir=work, inputs=inputs, env=env)  # fmt: skip
    assert res.ok and res.value is not None, (res.status, res.reason, res.stderr_tail[-1000:])
    assert res.value["readable"] > 0, isolation().describe()
    assert res.value["new"] != "written" and res.value["existing"] != "written"
    assert not (cache.path / "planted.o").exists()


def test_autoreward_train_with_the_warp_backend(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from autoreward.cli import app

    reward = tmp_path / "reward.py"
    reward.write_text(REWARD)
    out = tmp_path / "out"
    args = ["train", str(reward), "--env", "Hopper-v5", "--backend", "warp", "--steps", "256",
            "--n-envs", "16", "--eval-episodes", "2", "--no-video", "--out", str(out),
            "--hyperparams", "num_steps_per_env=8", "--hyperparams", "actor_hidden_dims=[32, 32]",
            "--hyperparams", "critic_hidden_dims=[32, 32]"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "rsl-rl on MuJoCo Warp, 16 worlds" in res.output and "warp" in res.output
    result = json.loads((out / "reward" / "train.json").read_text())
    assert result["status"] == "ok" and result["fitness"] is not None
    assert "backend: warp" in (out / "train.yaml").read_text()
    bad = CliRunner().invoke(app, [*args[:6], "--algo", "SAC", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "--algo SAC does not apply with --backend warp" in bad.output


def test_a_run_of_the_loop_trains_its_candidates_on_warp(fake_llm, tmp_path: Path) -> None:
    from fakellm import MODEL, load_answer

    from autoreward.config import RunConfig
    from autoreward.loop import run_loop
    from autoreward.store.rundir import RunDir

    fake_llm.add_rule("Review this reward function", load_answer("critic_ok"), repeat_last=True)
    fake_llm.add_rule("# Advice", load_answer("designer_hopper_1"),
                      load_answer("designer_hopper_2"), repeat_last=True)  # fmt: skip
    cfg = RunConfig(
        env_id="Hopper-v5", task="hop forward", model=MODEL, api_base=fake_llm.url + "/v1",
        iterations=1, samples=2, steps=512, n_envs=8, workers=2, eval_episodes=2, final_seeds=0,
        video=False, backend="warp", hyperparams=SMALL,
    )  # fmt: skip
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    result = run_loop(cfg, run)
    records = sorted(run.candidate_records(), key=lambda r: r.index)
    assert sorted(r.status for r in records) == ["pruned", "trained"], [r.reason for r in records]
    kept = next(r for r in records if r.status == "trained")
    pruned = next(r for r in records if r.status == "pruned")
    assert kept.steps == 512 and pruned.steps == 128  # the rung, then its continuation
    assert result.best is not None and result.best.fitness is not None
    train = json.loads((run.cand_dir(0, kept.index) / "train.json").read_text())
    assert train["backend"] == "warp" and train["resumed_from_steps"] == 128
    prompt = next(run.llm_dir.glob("*designer*.prompt.md")).read_text()
    assert "PPO (rsl-rl, on the batched MuJoCo Warp simulator)" in prompt
    assert "num_steps_per_env = 8" in prompt


def test_the_designer_fixtures_for_hopper_are_valid_rewards() -> None:
    from agentfakes import answer

    from autoreward.agents.parsing import extract_code
    from autoreward.envs.extract import sample_transitions
    from autoreward.sandbox.loader import load_reward_fn

    state, action, next_state = sample_transitions(load_schema("Hopper-v5"), n=32, seed=0)
    for name in ("designer_hopper_1", "designer_hopper_2"):
        total, terms = load_reward_fn(extract_code(answer(name)))(state, action, next_state)
        assert total.shape == (32,) and np.all(np.isfinite(total))
        np.testing.assert_allclose(sum(terms.values()), total)


@pytest.mark.skipif("not _cuda()", reason="Warp sees no CUDA device")
def test_a_warp_job_trains_on_the_gpu(tmp_path: Path) -> None:
    result = run_job_isolated(_job(tmp_path, device="cuda", n_envs=1024, total_steps=16_384))
    assert result.status == "ok", result.reason
    train = json.loads((tmp_path / "train.json").read_text())
    assert train["device"].startswith("cuda") and train["timing"]["host_reward_share"] < 0.5
