"""What the analyzer and the next designer read (autoreward.loop.evidence, loop.analysis):
every trained candidate compactly, the best and the worst in full and never the same one
twice, a pruned candidate with its rivals' scores at the rung, fitness with its spread."""

from __future__ import annotations

from pathlib import Path

from agentfakes import ScriptedClient, answer
from runfakes import make_run

from autoreward.agents.analyzer import Analyzer
from autoreward.loop import evidence
from autoreward.loop.analysis import analyze_iteration, is_deferred, mark_done
from autoreward.store.records import CandidateRecord, RungOutcome, RungRival
from autoreward.store.rundir import RunDir


def _prune(run: RunDir, i: int, j: int) -> None:
    rec = CandidateRecord.load(run.cand_dir(i, j))
    assert rec is not None
    rec.status = "pruned"
    rec.rung = RungOutcome(
        steps=1000, fitness=0.008, fitness_se=0.002, kept=False, why="pruned: below cand 0",
        rivals=[RungRival(index=0, fitness=0.0136, fitness_se=0.003, kept=True),
                RungRival(index=2, fitness=0.025, kept=True)],
    )  # fmt: skip
    rec.save(run.cand_dir(i, j))


def test_the_brief_of_a_candidate_has_its_spread_components_and_episode_ends(
    tmp_path: Path,
) -> None:
    run = RunDir(make_run(tmp_path))
    brief = evidence.candidate_brief(run.cand_dir(1, 0))
    lines = brief.splitlines()
    assert lines[0] == ("- iter 1 cand 0 · trained · 4,000 steps · fitness 480 ± 5.8 (standard error "
                        "over 3 episodes) · env return 480")  # fmt: skip
    assert (
        "components (sum per training episode, first → last checkpoint): alive 1 → 10" in lines[1]
    )
    assert "evaluation: 0 of 3 episodes terminated early, 3 ran into the time limit" in lines[2]


def test_a_fitness_over_several_training_seeds_is_shown_as_their_mean(tmp_path: Path) -> None:
    # The held-out MountainCar analyzer read "fitness 0.074 ± 0.061 (standard error over 5
    # episodes)" beside trajectories scoring 0.1: the mean of two seeds with one seed's spread.
    run = RunDir(make_run(tmp_path))
    rec = CandidateRecord.load(run.cand_dir(1, 0))
    assert rec is not None
    rec.fitness, rec.seed_fitness = 400.0, [480.0, 320.0]
    rec.save(run.cand_dir(1, 0))
    expected = (
        "fitness 400, the mean of 2 training seeds (480, 320); the evaluation details shown are "
        "the first seed's (480; standard error 5.8 over its 3 episodes)"
    )
    assert expected in evidence.candidate_brief(run.cand_dir(1, 0)).splitlines()[0]
    assert expected in evidence.candidate_summary(run.cand_dir(1, 0))
    rec.fitness, rec.seed_fitness = 480.0, [480.0]  # one seed: its value and its spread
    rec.save(run.cand_dir(1, 0))
    assert evidence.fitness_text(rec, run.cand_dir(1, 0)) == (
        "480 ± 5.8 (standard error over 3 episodes)"
    )


def test_a_pruned_candidate_arrives_with_its_rivals_at_the_rung(tmp_path: Path) -> None:
    run = RunDir(make_run(tmp_path))
    _prune(run, 1, 1)
    brief = evidence.candidate_brief(run.cand_dir(1, 1))
    assert ("halving rung 1 (1,000 steps): 0.008 ± 0.002, pruned; rivals at that rung: "
            "cand 0 0.0136 ± 0.003 (kept), cand 2 0.025 (kept)") in brief  # fmt: skip
    assert "cand 0 0.0136 ± 0.003 (kept)" in evidence.candidate_summary(run.cand_dir(1, 1))


def test_best_and_worst_are_never_the_same_candidate(tmp_path: Path) -> None:
    run = RunDir(make_run(tmp_path))
    it0 = [r for r in run.candidate_records() if r.iteration == 0]
    best, worst = evidence.best_and_worst(it0)  # one trained candidate in iteration 0
    assert best is not None and best.index == 0 and worst is None
    it1 = [r for r in run.candidate_records() if r.iteration == 1]
    best, worst = evidence.best_and_worst(it1)
    assert (best.index, worst.index) == (0, 1)  # type: ignore[union-attr]


def test_the_analyzer_sees_every_trained_candidate_and_the_best_and_worst_once(
    tmp_path: Path,
) -> None:
    run = RunDir(make_run(tmp_path))
    client = ScriptedClient({("analyzer", 0): [answer("analyzer_cartpole_balance")] * 2})
    analyzer = Analyzer(client, "# Environment: CartPole-v1", "balance")
    analyze_iteration(run, analyzer, 0)
    analyze_iteration(run, analyzer, 1)
    one, two = (c.user for c in client.calls)
    # iteration 0: one trained candidate, shown in full once, no worst section
    assert one.count("Reward code:") == 1 and "# The worst candidate" not in one
    # iteration 1: both trained candidates compactly, then the best and the worst in full
    overview = two.split("# Every trained candidate, compactly")[1].split("# The best candidate")[0]
    assert "- iter 1 cand 0 · trained" in overview and "- iter 1 cand 1 · trained" in overview
    assert "iter 1 cand 2" not in overview  # the duplicate never trained
    assert two.count("Reward code:") == 2
    best = two.split("# The best candidate, in full")[1].split("# The worst candidate, in full")[0]
    worst = two.split("# The worst candidate, in full")[1]
    assert "candidate 0: status trained" in best and "candidate 1: status trained" in worst
    assert (run.iter_dir(1) / "analysis.md").read_text() == answer(
        "analyzer_cartpole_balance"
    ).strip() + "\n"


def test_done_json_records_a_deferred_analysis(tmp_path: Path) -> None:
    run = RunDir(make_run(tmp_path))
    (run.iter_dir(1) / "analysis.md").unlink()
    mark_done(run, 1, 0.0, deferred=True)
    assert is_deferred(run, 1)
    (run.iter_dir(1) / "analysis.md").write_text("written later")
    assert not is_deferred(run, 1)
    mark_done(run, 0, 0.0, deferred=False)
    assert not is_deferred(run, 0)
