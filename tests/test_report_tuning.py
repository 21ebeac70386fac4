"""The run report's coefficient-tuning section, from tune/tune.json as loop/tune.py writes it."""

from __future__ import annotations

from pathlib import Path

from runfakes import make_run

from autoreward.agents.coefficients import Coefficient
from autoreward.loop.tune import TrialRecord, TuneRecord
from autoreward.report import write_run_report
from autoreward.store.atomic import atomic_write_json


def _tune(run: Path, record: TuneRecord) -> None:
    atomic_write_json(run / "tune" / "tune.json", record.model_dump(mode="json"))


def test_the_report_shows_the_trials_and_whether_the_tuned_reward_won(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    trials = [
        TrialRecord(number=0, params={"upright": 0.2}, state="original", fitness=0.41),
        TrialRecord(
            number=1,
            params={"upright": 3.1},
            state="complete",
            rung_fitness=0.3,
            fitness=0.93,
            steps=4000,
        ),  # fmt: skip
        TrialRecord(
            number=2, params={"upright": 0.05}, state="pruned", rung_fitness=0.02, steps=1000
        ),  # fmt: skip
        TrialRecord(
            number=3,
            params={"upright": 1.0},
            state="failed",
            reason="<script>alert(1)</script> NaN",
        ),  # fmt: skip
    ]
    _tune(run, TuneRecord(
        status="done", iteration=1, index=0, n_trials=3, pruner="successive halving",
        coefficients=[Coefficient(name="upright", value=0.2, low=0.0, high=4.0)],
        trials=trials, best=trials[1], final={"mean": 0.9, "std": 0.02, "n_seeds": 2},
        baseline_mean=0.47, chosen=True, steps_spent=5000, wall_s=120.0,
    ))  # fmt: skip
    html = write_run_report(run).read_text()
    section = html[html.index('id="tuning"') : html.index('id="llm-cost"')]
    assert 'href="#tuning"' in html
    assert "3 Optuna trials (TPE) over the coefficients upright" in section
    assert (
        "Best trial 1: single-seed fitness 0.93; on the final seeds 0.9 ± 0.02 (2 seeds)" in section
    )
    assert "against 0.47 for the reward before tuning: it replaced the best reward." in section
    assert (
        section.count("<tr") == 5 and "upright=3.1" in section and "5,000 training steps" in section
    )
    assert "<script>alert" not in section and "&lt;script&gt;" in section


def test_a_skipped_tuning_says_why_and_an_untuned_run_has_no_section(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    assert 'id="tuning"' not in write_run_report(run).read_text()
    _tune(run, TuneRecord(status="skipped", iteration=1, index=0,
                          reason="the best reward declares no COEFFICIENTS: nothing to tune"))  # fmt: skip
    html = write_run_report(run).read_text()
    assert "Not tuned (iteration 1, candidate 0): the best reward declares no COEFFICIENTS" in html
