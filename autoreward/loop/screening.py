"""Cheap screening of an iteration's proposals before any training: duplicates, the ranking
check against stored episodes, and the critic — one review, a revision when it asks for one,
and one more review of that revision.

Duplicates are decided in proposal order (the first of two equal rewards is kept); the rest
of each candidate's screening runs concurrently (one thread per candidate, as the designer's
samples do), so the critic's round trips overlap instead of adding up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from autoreward.agents.critic import Critic, Verdict
from autoreward.agents.dedup import normalized_code_hash
from autoreward.agents.designer import Designer, Proposal
from autoreward.loop import evidence
from autoreward.store.atomic import atomic_write_json, atomic_write_text, read_json
from autoreward.store.records import CandidateRecord
from autoreward.store.rundir import RunDir

EventFn = Callable[..., None]
MAX_CRITIC_REVIEWS = 2
"""A candidate is reviewed at most this often: once, and once more after a revision."""


@dataclass
class _Screened:
    proposal: Proposal
    record: CandidateRecord
    code: str


def screen_candidates(
    run: RunDir,
    it: int,
    proposals: list[Proposal],
    designer: Designer,
    critic: Critic | None,
    history: list[CandidateRecord],
    emit: EventFn,
) -> dict[int, str]:
    """The code to train per candidate index. Writes `candidate.json` for rejected candidates
    and `screen.json` (status `screened`) plus the final `reward.py` for the others."""
    to_train: dict[int, str] = {}
    seen = {r.code_hash for r in history if r.code_hash}
    todo: list[_Screened] = []
    for p in proposals:
        d = run.cand_dir(it, p.index)
        screened = read_json(d / "screen.json")
        if screened is not None:  # screened (maybe trained) before a resume
            to_train[p.index] = (d / "reward.py").read_text(encoding="utf-8")
            seen.add(screened.get("code_hash", ""))
            continue
        if CandidateRecord.load(d) is not None:  # rejected before a resume
            continue
        rec = CandidateRecord(iteration=it, index=p.index, status="failed_check")
        if not p.ok or not p.code:
            rec.reason = p.error or "no code"
            rec.save(d)
            continue
        rec.code_hash = normalized_code_hash(p.code)
        if rec.code_hash in seen:
            _duplicate(run, rec, "same normalised code as an earlier candidate", emit)
            continue
        seen.add(rec.code_hash)
        todo.append(_Screened(p, rec, p.code))

    episodes = evidence.stored_episodes(run, history)
    if todo:
        with ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="screen") as pool:
            list(pool.map(lambda s: _review(run, it, s, designer, critic, episodes, emit), todo))

    for s in todo:  # in proposal order, so the first of two equal revisions is kept
        rec = s.record
        new_hash = normalized_code_hash(s.code)
        if new_hash != rec.code_hash and new_hash in seen:
            rec.code_hash = new_hash
            _duplicate(run, rec, "revision duplicates an earlier candidate", emit)
            continue
        seen.add(new_hash)
        rec.code_hash, rec.status, rec.reason = new_hash, "screened", ""
        d = run.cand_dir(it, rec.index)
        atomic_write_text(d / "reward.py", s.code)
        atomic_write_json(d / "screen.json", rec.model_dump(mode="json"))
        emit("candidate", iteration=it, candidate=rec.index, state="queued")
        to_train[rec.index] = s.code
    return to_train


def _review(
    run: RunDir,
    it: int,
    s: _Screened,
    designer: Designer,
    critic: Critic | None,
    episodes: list[str],
    emit: EventFn,
) -> None:
    """Ranking check (from the second iteration on), then the critic; updates `s` in place."""
    rec, j = s.record, s.record.index
    if episodes:
        rho, proof = evidence.rescore(episodes, s.code)
        rec.ranking_rho = None if math.isnan(rho) else rho
        if proof is not None:
            emit("candidate", iteration=it, candidate=j, state="designing",
                 note=f"inverts fitness ranking (rho={rho:.2f}); revising")  # fmt: skip
            revised = designer.revise(s.proposal, proof, iteration=it, index=j)
            rec.revised.append("ranking")
            if revised.ok and revised.code:
                s.code = revised.code
                rho, _ = evidence.rescore(episodes, s.code)
                rec.ranking_rho = None if math.isnan(rho) else rho
    if critic is None:
        return
    reviews: list[Verdict] = []
    while len(reviews) < MAX_CRITIC_REVIEWS:
        emit("candidate", iteration=it, candidate=j, state="critic")
        verdict = critic.review(s.code, iteration=it, index=j, review=len(reviews))
        reviews.append(verdict)
        if verdict.ok or len(reviews) == MAX_CRITIC_REVIEWS:
            break
        revised = designer.revise(s.code, verdict.reason(), iteration=it, index=j)
        rec.revised.append("critic")
        if not (revised.ok and revised.code):
            break  # the revision failed its checks: the reviewed code trains as it was
        s.code = revised.code
    rec.critic_verdict = "ok" if reviews[-1].ok else "revise"
    rec.critic_reviews = len(reviews)
    atomic_write_json(run.cand_dir(it, j) / "critique.json", critique_document(reviews))


def critique_document(reviews: list[Verdict]) -> dict[str, Any]:
    """`critique.json`: the first review at the top level (what a revision answered), every
    review in order under `reviews`, and `after_revision` for the review of the revision."""
    doc: dict[str, Any] = reviews[0].model_dump(mode="json")
    doc["reviews"] = [v.model_dump(mode="json") for v in reviews]
    if len(reviews) > 1:
        doc["after_revision"] = reviews[-1].model_dump(mode="json")
    return doc


def _duplicate(run: RunDir, rec: CandidateRecord, reason: str, emit: EventFn) -> None:
    rec.status, rec.reason = "duplicate", reason
    rec.save(run.cand_dir(rec.iteration, rec.index))
    emit(
        "candidate", iteration=rec.iteration, candidate=rec.index, state="duplicate", reason=reason
    )
