"""Fitness gained per CPU-hour by `--tune` (issue 20, item 4). Run by hand, at a tiny scale.

A hand-written reward with named COEFFICIENTS for the CartPole "left half" goal of
examples/cartpole-left-half (weights chosen plausibly, not tuned) is the run's best: it is
trained on the run seed and on the final seeds, then `loop/tune.py` runs N trials and retrains
the best trial on the same final seeds. It prints the final-seed mean before and after, and the
CPU time the tuning's learning took: steps over the steps per CPU-second the trial jobs report
in their `train.json` (`steps_per_cpu_s`; evaluation and container start-up are not counted).

To set this against "one more LLM iteration", run the recorded example for one and for two
iterations at the same --steps and compare its final means and CPU time (see the note printed).

    .venv/bin/python bench/bench_tune.py --steps 8192 --trials 6
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("MUJOCO_GL", "egl")

from autoreward.config import RunConfig  # noqa: E402
from autoreward.envs.registry import load_schema  # noqa: E402
from autoreward.exec import make_executor  # noqa: E402
from autoreward.loop.candidates import ResumableExecutor, TrainPlan, summarize_seeds  # noqa: E402
from autoreward.loop.selection import final_seeds  # noqa: E402
from autoreward.loop.tune import tune_best  # noqa: E402
from autoreward.sandbox.checker import check_reward_isolated  # noqa: E402
from autoreward.store.atomic import atomic_write_text  # noqa: E402
from autoreward.store.records import CandidateRecord  # noqa: E402
from autoreward.store.rundir import RunDir  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cartpole-left-half" / "run.yaml"
REWARD = """import numpy as np

COEFFICIENTS = {
    "alive": (1.0, 0.0, 2.0),
    "left": (0.3, 0.0, 3.0),
    "upright": (0.5, 0.0, 2.0),
    "drift": (0.1, 0.0, 2.0),
}


def compute_reward(state, action, next_state):
    c = COEFFICIENTS
    x = next_state["cart_position"]
    alive = c["alive"][0] * np.ones_like(x)
    left = c["left"][0] * np.tanh(-2.0 * x)
    upright = c["upright"][0] * (1.0 - np.abs(next_state["pole_angle"]) / 0.2095)
    drift = -c["drift"][0] * np.abs(next_state["cart_velocity"])
    return alive + left + upright + drift, {"alive": alive, "left": left, "upright": upright,
                                           "drift": drift}
"""


def steps_per_cpu_s(folder: Path) -> float:
    """The mean learning speed of the jobs under `folder` (each one's train.json)."""
    speeds = []
    for path in folder.rglob("train.json"):
        try:
            value = float(json.loads(path.read_text()).get("steps_per_cpu_s") or 0.0)
        except (OSError, ValueError, AttributeError):
            continue
        if value > 0:
            speeds.append(value)
    return sum(speeds) / len(speeds) if speeds else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8192)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--final-seeds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    example = yaml.safe_load(EXAMPLE.read_text())
    cfg = RunConfig(env_id=example["env_id"], task=example["task"], fitness=example["fitness"],
                    steps=args.steps, samples=1, eval_episodes=5, video=False,
                    final_seeds=args.final_seeds)  # fmt: skip
    schema = load_schema(cfg.env_id).model_copy(update={"fitness": cfg.fitness})
    plan = TrainPlan.from_config(cfg, schema)
    runner = ResumableExecutor(make_executor("local", workers=args.workers))
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(Path(tmp), cfg.env_id, cfg.task, cfg.dump())
        atomic_write_text(run.cand_dir(0, 0) / "reward.py", REWARD)
        t0 = time.time()
        first = runner.map([plan.job(run.cand_dir(0, 0), REWARD, label="original")])[0]
        seeds = final_seeds(plan, args.final_seeds)
        base = summarize_seeds(seeds, runner.map([
            plan.job(run.best_dir / "final" / f"seed_{s}", REWARD, label=f"seed {s}", seed=s)
            for s in seeds
        ]))  # fmt: skip
        t1 = time.time()
        best = CandidateRecord(iteration=0, index=0, status="trained", fitness=first.fitness,
                               steps=first.steps)  # fmt: skip
        final = {"iteration": 0, "index": 0, **base}
        record = tune_best(run, runner.inner, plan, best, final, n_trials=args.trials,
                           n_seeds=args.final_seeds, seed=0,
                           check=lambda code: (lambda r: None if r.ok else r.failure_text())(
                               check_reward_isolated(code, schema)),
                           on_event=lambda kind, **data: None)  # fmt: skip
        speed = steps_per_cpu_s(run.path / "tune")
    tuned = (record.final or {}).get("mean")
    print(f"original: run seed {first.fitness:.3f}, final seeds {base['mean']:.3f} ± {base['std']:.3f} "
          f"({t1 - t0:.0f} s wall)")  # fmt: skip
    for t in record.trials:
        print(f"  trial {t.number} {t.state}: {t.params} rung {t.rung_fitness} fitness {t.fitness}")
    if tuned is not None and record.best is not None:
        gain = tuned - base["mean"]
        steps = record.steps_spent + args.final_seeds * plan.total_steps
        cpu = steps / speed if speed else float("nan")
        print(f"tuned (trial {record.best.number}): final seeds {tuned:.3f} ± "
              f"{record.final['std']:.3f}; gain {gain:+.3f} for {steps:,} steps (trials and "
              f"final seeds), about {cpu:.0f} learning CPU-s at {speed:.0f} steps/CPU-s "
              f"({gain / (cpu / 3600):+.2f} fitness per CPU-hour); chosen: {record.chosen}; "
              f"wall {time.time() - t1:.0f} s")  # fmt: skip
    else:
        print(f"no tuned result: {record.reason}")
    print(
        "one more LLM iteration, for comparison: autoreward run --config "
        f"{EXAMPLE} --model replay:{EXAMPLE.parent / 'transcript.jsonl'} --steps "
        f"{args.steps} --iterations 1, then --resume with --iterations 2"
    )


if __name__ == "__main__":
    main()
