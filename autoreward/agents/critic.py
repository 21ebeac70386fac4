"""The critic: an LLM review of a checked reward before it is trained (a JSON verdict).

The critic never blocks the run: an answer that cannot be read, or a failed call, counts as
"ok" with a warning recorded in the verdict.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from autoreward.agents.base import Reviewer, Spend, call_meta, messages
from autoreward.agents.parsing import extract_json
from autoreward.agents.prompts import RenderedPrompt, load_template, render
from autoreward.errors import AutorewardError, LLMError

IssueKind = Literal[
    "wrong_sign", "unbounded", "farmable", "missing_success_bonus", "scale", "other"
]
ISSUE_KINDS: tuple[str, ...] = IssueKind.__args__  # type: ignore[attr-defined]
SYSTEM = "system_critic"


class Issue(BaseModel):
    kind: IssueKind
    detail: str


class Verdict(BaseModel):
    """`ok` False means "revise": send the reward back to the designer once with `reason()`."""

    ok: bool
    issues: list[Issue] = Field(default_factory=list)
    suggestion: str = ""
    raw: str = Field(default="", description="The critic's answer as written.")
    warning: str | None = Field(
        default=None, description="Why the answer was not used, when it was not."
    )
    prompt_version: str = ""
    tokens: int = 0
    cost: float = 0.0
    cached: bool = False

    def reason(self) -> RenderedPrompt:
        """The issues as the reason of a revise request (rendered from `critic_feedback_vN`)."""
        issues = "\n".join(f"- {i.kind}: {i.detail}" for i in self.issues) or "- (no issue listed)"
        return render("critic_feedback", issues=issues, suggestion=self.suggestion or None)


def parse_verdict(answer: str) -> Verdict:
    """Read the critic's JSON verdict; raises `AutorewardError` saying what is wrong with it."""
    data = extract_json(answer)
    verdict = str(data.get("verdict", "")).strip().lower()
    if verdict not in ("ok", "revise"):
        raise AutorewardError(
            f'the critic\'s verdict must be "ok" or "revise", got {data.get("verdict")!r}'
        )
    raw_issues = data.get("issues") or []
    if not isinstance(raw_issues, list):
        raise AutorewardError(
            f"the critic's 'issues' must be a list, got {type(raw_issues).__name__}"
        )
    issues = [_issue(item) for item in raw_issues]
    suggestion = data.get("suggestion") or ""
    return Verdict(
        ok=verdict == "ok",
        issues=issues,
        suggestion=suggestion if isinstance(suggestion, str) else str(suggestion),
        raw=answer,
    )


def _issue(item: Any) -> Issue:
    if isinstance(item, str):
        return Issue(kind="other", detail=item)
    if not isinstance(item, dict):
        return Issue(kind="other", detail=str(item))
    kind = str(item.get("kind", "other")).strip().lower()
    detail = str(item.get("detail") or item.get("description") or "").strip()
    if kind not in ISSUE_KINDS:
        return Issue(kind="other", detail=f"[{kind}] {detail}".strip())
    return Issue(kind=kind, detail=detail)  # type: ignore[arg-type]


class Critic(Reviewer):
    """Reviews reward code against the task and schema; see `critic_vN.md` for what it checks."""

    def review(self, code: str, *, iteration: int, index: int, review: int = 0) -> Verdict:
        """One review of `code`. `review` counts earlier reviews of the same candidate (0 for
        the first, 1 for the review of its revision), to place the call in the run.

        Every candidate's prompt holds its own code, so each call is sample 0 of its prompt:
        the candidate index goes into the call's site, not into the sample index."""
        prompt = load_template("critic").render(
            task=self.task, schema=self.schema_text, training=self.training,
            contract=self.contract, code=code.strip("\n"),
        )  # fmt: skip
        spend = Spend()
        try:
            completion = self.client.complete(
                messages(SYSTEM, prompt),
                role="critic",
                temperature=self.temperature,
                sample_index=0,
                meta=call_meta(
                    SYSTEM,
                    prompt,
                    inputs=self.inputs,
                    iteration=iteration,
                    candidate=index,
                    stage="critic",
                    attempt=review,
                ),  # fmt: skip
            )
        except LLMError as err:
            return Verdict(
                ok=True,
                warning=f"critic call failed, reward not reviewed: {err}",
                prompt_version=prompt.version,
            )
        spend.add(completion)
        try:
            verdict = parse_verdict(completion.text)
        except AutorewardError as err:
            verdict = Verdict(
                ok=True,
                raw=completion.text,
                warning=f"critic answer not understood, treated as ok: {err.message}",
            )
        verdict.prompt_version = prompt.version
        verdict.tokens, verdict.cost, verdict.cached = (
            spend.tokens,
            spend.cost,
            bool(spend.cached_calls),
        )
        return verdict
