"""How often one training seed picks differently from two (issue 20, item 3). Run by hand.

Four hand-written CartPole rewards of different quality (bench/rewards/ and a test fixture)
are one "iteration": `loop/seeds.py`'s successive halving trains them on two seeds (the rung,
then the survivors on both), through the normal local executor. Repeated over several base
seeds, it prints, per repetition, the survivors and the best by the run seed alone and by the
mean of the two seeds, and the steps each rule spent (the single-seed rule's steps are those of
the run seed's jobs: what the same halving costs on one seed).

    .venv/bin/python bench/bench_selection_seeds.py --steps 8192 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from autoreward.config import RunConfig  # noqa: E402
from autoreward.envs.registry import load_schema  # noqa: E402
from autoreward.exec import make_executor  # noqa: E402
from autoreward.loop.candidates import TrainPlan  # noqa: E402
from autoreward.loop.seeds import seeded_halving  # noqa: E402

HERE = Path(__file__).parent
REWARDS = {
    "typical": HERE / "rewards" / "cartpole_typical.py",
    "alive_only": HERE / "rewards" / "cartpole_alive_only.py",
    "centre_only": HERE / "rewards" / "cartpole_centre_only.py",
    "dense": HERE.parent / "tests" / "fixtures" / "rewards" / "cartpole_dense.py",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--task", default="keep the pole upright near the centre of the track")
    ap.add_argument("--fitness", default=None, help="a fitness expression (default: schema's)")
    ap.add_argument("--steps", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--start", type=int, default=0, help="first repetition (base seed 7 x it)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    names = list(REWARDS)
    codes = [REWARDS[n].read_text() for n in names]
    executor = make_executor("local", workers=args.workers)
    schema = load_schema(args.env)
    differs = rung_differs = 0
    spent_two = spent_one = 0
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.start, args.start + args.repeats):
            cfg = RunConfig(env_id=args.env, task=args.task, steps=args.steps, samples=4,
                            seed=rep * 7, eval_episodes=5, video=False)  # fmt: skip
            plan = TrainPlan.from_config(cfg, schema)
            jobs = [
                plan.job(Path(tmp) / f"r{rep}" / n, c, label=n)
                for n, c in zip(names, codes, strict=True)
            ]
            out = seeded_halving(executor, jobs, 2, rung_fraction=plan.rung_fraction,
                                 keep_fraction=plan.keep_fraction)  # fmt: skip
            c = out.choice
            one = sum(
                (r[0].steps if i in out.halving.survivors else out.halving.rung_steps)
                for i, r in enumerate(out.per_seed)
            )
            spent_two += out.halving.steps_spent
            spent_one += one
            differs += c.best != c.best_single_seed
            rung_differs += set(c.survivors) != set(c.survivors_single_seed)
            fits = [
                ", ".join(f"{x.fitness:.3g}" if x.fitness is not None else "–" for x in r)
                for r in out.per_seed
            ]
            print(
                f"repeat {rep} (seeds {out.seeds}): "
                + "; ".join(f"{n} [{f}]" for n, f in zip(names, fits, strict=True))
                + f" | kept 2 seeds {[names[i] for i in c.survivors]}, 1 seed "
                f"{[names[i] for i in c.survivors_single_seed]} | best 2 seeds "
                f"{None if c.best is None else names[c.best]}, 1 seed "
                f"{None if c.best_single_seed is None else names[c.best_single_seed]} | "
                f"steps {out.halving.steps_spent:,} vs {one:,}",
                flush=True,
            )
    print(f"best differs in {differs}/{args.repeats}; rung survivors differ in "
          f"{rung_differs}/{args.repeats}; steps {spent_two:,} (2 seeds) vs {spent_one:,} "
          f"(1 seed): x{spent_two / max(1, spent_one):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
