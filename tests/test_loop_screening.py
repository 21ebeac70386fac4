"""Screening before training (autoreward.loop.screening): critic reviews go out concurrently,
a revised candidate is reviewed once more, duplicates are decided in proposal order, and
every screened candidate's screen.json says `screened`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from agentfakes import answer, cartpole_check

from autoreward.agents.critic import Critic
from autoreward.agents.designer import Designer, Proposal
from autoreward.agents.parsing import extract_code
from autoreward.llm.completion import Completion
from autoreward.loop.screening import screen_candidates
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir

TASK = "Balance the pole upright."
SCHEMA = "# Environment: CartPole-v1"
GOOD = extract_code(answer("designer_cartpole_1"))
ALIVE = extract_code(answer("designer_cartpole_2"))  # the critic sends this one back
REPAIRED = extract_code(answer("repair_cartpole"))


class SlowCritic:
    """Answers critic calls after a pause (to see them overlap) and revise calls at once."""

    def __init__(self, revise_first: set[str], delay: float = 0.3, always: bool = False) -> None:
        self.revise_first = revise_first
        self.always = always
        self.delay = delay
        self.active = self.peak = 0
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    def complete(self, messages: list[dict[str, Any]], *, role: str, temperature: float | None = None,
                 sample_index: int = 0, meta: dict[str, Any] | None = None) -> Completion:  # fmt: skip
        user = messages[-1]["content"]
        with self.lock:
            self.calls.append((role, dict(meta or {}), user))
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if role == "critic":
                time.sleep(self.delay)
                first = self.always or (meta or {}).get("attempt") == 0
                text = (
                    "critic_revise"
                    if first and any(m in user for m in self.revise_first)
                    else "critic_ok"
                )
            else:
                text = "revise_cartpole"
            return Completion(text=answer(text), model="fake", role=role, prompt_tokens=1,
                              completion_tokens=1, sample_index=sample_index)  # fmt: skip
        finally:
            with self.lock:
                self.active -= 1


def _proposals(*codes: str) -> list[Proposal]:
    return [Proposal(index=j, code=c, ok=True) for j, c in enumerate(codes)]


def test_reviews_overlap_a_revision_is_reviewed_again_and_duplicates_keep_the_first(
    tmp_path: Path,
) -> None:
    run = RunDir(tmp_path)
    client = SlowCritic(revise_first={"alive = 2.0 * np.ones_like(theta)"})
    designer = Designer(client, SCHEMA, TASK, check=cartpole_check)
    critic = Critic(client, SCHEMA, TASK)
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    to_train = screen_candidates(
        run, 0, _proposals(GOOD, ALIVE, REPAIRED, GOOD), designer, critic, [],
        lambda kind, **data: events.append({"event": kind, **data}),
    )  # fmt: skip
    wall = time.monotonic() - started

    assert client.peak >= 3, "the three distinct candidates were reviewed at the same time"
    assert wall < 4 * client.delay, f"{wall:.2f}s: the reviews went out one at a time"
    assert sorted(to_train) == [0, 1, 2]
    dup = CandidateRecord.load(run.cand_dir(0, 3))
    assert dup is not None and dup.status == "duplicate"
    # candidate 1: reviewed, revised, reviewed again (attempt 1); its revision is what trains
    reviews = [m for role, m, _ in client.calls if role == "critic" and m["candidate"] == 1]
    assert sorted(m["attempt"] for m in reviews) == [0, 1]
    assert to_train[1] == extract_code(answer("revise_cartpole"))
    critique = json.loads((run.cand_dir(0, 1) / "critique.json").read_text())
    assert not critique["ok"] and critique["after_revision"]["ok"] and len(critique["reviews"]) == 2
    for j in (0, 1, 2):
        screened = json.loads((run.cand_dir(0, j) / "screen.json").read_text())
        assert screened["status"] == "screened" and screened["reason"] == ""
        assert screened["critic_reviews"] == (2 if j == 1 else 1)
    assert (run.cand_dir(0, 1) / "reward.py").read_text() == to_train[1]


def test_a_candidate_still_sent_back_after_one_revision_trains_as_revised(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    client = SlowCritic(revise_first={"compute_reward"}, delay=0.0, always=True)  # always "revise"
    designer = Designer(client, SCHEMA, TASK, check=cartpole_check)
    to_train = screen_candidates(run, 0, _proposals(ALIVE), designer, Critic(client, SCHEMA, TASK),
                                 [], lambda kind, **data: None)  # fmt: skip
    rec = json.loads((run.cand_dir(0, 0) / "screen.json").read_text())
    assert rec["critic_reviews"] == 2 and rec["critic_verdict"] == "revise"
    assert rec["revised"] == ["critic"], "one revision at most"
    assert to_train[0] == extract_code(answer("revise_cartpole"))
