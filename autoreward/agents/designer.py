"""The designer: K reward candidates per iteration, each checked and repaired up to twice.

    designer = Designer(client, schema, task, check=check)   # check(code) -> None | error text
    proposals = designer.propose(4, iteration=0, context=None)
    revised = designer.revise(proposals[0], reason, iteration=0, index=0)

`check` is supplied by the loop (static validation + the sandboxed dry run); the designer
never runs reward code itself. The designer sees fitness values, never the fitness code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from autoreward.agents.base import (
    ChatClient,
    Spend,
    call_meta,
    contract,
    inputs_hash,
    messages,
    schema_text,
)
from autoreward.agents.parsing import extract_code
from autoreward.agents.prompts import RenderedPrompt, load_template
from autoreward.errors import AutorewardError, LLMError

if TYPE_CHECKING:
    from autoreward.envs.schema import EnvSchema

CheckFn = Callable[[str], str | None]
SYSTEM = "system_designer"
ENTRY = "compute_reward"
# Long error texts and answers are cut in the middle before they go back into a prompt.
MAX_ERROR_CHARS = 4000
MAX_ANSWER_CHARS = 6000


class DesignContext(BaseModel):
    """What the designer is told about earlier iterations; all empty on the first one."""

    best_code: str | None = None
    best_fitness: float | None = None
    best_fitness_text: str | None = Field(
        default=None,
        description="The best fitness with its spread, e.g. '0.62 ± 0.05 (5 episodes)'.",
    )
    fitness_summary: str | None = Field(
        default=None, description="Fitness of earlier candidates (text table)."
    )
    candidates_overview: str | None = Field(
        default=None, description="Every trained candidate of the last iteration, compactly."
    )
    stats_text: str | None = Field(
        default=None, description="Component statistics of the best reward at checkpoints."
    )
    worst_text: str | None = Field(
        default=None, description="The last iteration's worst trained candidate, in full."
    )
    analysis_text: str | None = Field(
        default=None, description="The analyzer's findings (markdown)."
    )
    failures_text: str | None = Field(
        default=None,
        description="When every candidate of the last iteration failed: their code and reasons.",
    )
    human_feedback: str | None = None
    human_ranking: str | None = Field(
        default=None, description="The user's ranking of candidates (text)."
    )


class Proposal(BaseModel):
    """One candidate: its final code (None when no code was ever extracted) and its history."""

    index: int
    iteration: int = 0
    code: str | None = None
    ok: bool = False
    error: str | None = Field(default=None, description="The last check error when not ok.")
    answers: list[str] = Field(default_factory=list, description="Raw LLM answers, in order.")
    n_repairs: int = 0
    prompt_versions: list[str] = Field(
        default_factory=list, description="Templates used, in order."
    )
    tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    cached_calls: int = 0


class Designer:
    """Writes reward candidates from prompts in `prompts/`; repairs code that fails `check`."""

    def __init__(
        self,
        client: ChatClient,
        schema: EnvSchema | str,
        task: str,
        *,
        check: CheckFn,
        max_repairs: int = 2,
        temperature: float = 1.0,
        training: RenderedPrompt | None = None,
    ) -> None:
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        self.client = client
        self.schema_text = schema_text(schema)
        self.task = task
        self.training = training
        self.contract = contract(None if isinstance(schema, str) else schema.action)
        self.inputs = inputs_hash(task, self.schema_text)
        self.check = check
        self.max_repairs = max_repairs
        self.temperature = temperature

    # ------------------------------------------------------------------ prompts
    def design_prompt(self, context: DesignContext | None = None) -> RenderedPrompt:
        """The first-iteration prompt, the retry prompt after an iteration whose candidates all
        failed, or the refine prompt once there is a best reward."""
        common = {
            "task": self.task,
            "schema": self.schema_text,
            "contract": self.contract,
            "training": self.training,
        }
        if context is None or not context.best_code:
            feedback = context.human_feedback if context else None
            if context is not None and context.failures_text:
                return load_template("designer_retry").render(
                    **common, failures=context.failures_text, human_feedback=feedback
                )
            return load_template("designer_initial").render(**common, human_feedback=feedback)
        return load_template("designer_refine").render(
            **common,
            best_code=context.best_code.strip("\n"),
            best_fitness=context.best_fitness_text or _fmt_fitness(context.best_fitness),
            fitness_summary=context.fitness_summary,
            candidates_overview=context.candidates_overview,
            stats_text=context.stats_text,
            worst=context.worst_text,
            analysis_text=context.analysis_text,
            human_feedback=context.human_feedback,
            human_ranking=context.human_ranking,
        )

    # ------------------------------------------------------------------ public
    def propose(
        self,
        k: int,
        *,
        iteration: int,
        context: DesignContext | None = None,
        first_index: int = 0,
        sample_offset: int = 0,
    ) -> list[Proposal]:
        """`k` candidates, sampled, checked and repaired concurrently (one thread each).

        Candidate `j` uses sample index `j`, so each has its own cache entry and a resumed run
        gets the same answers back. A candidate whose LLM call fails is a failed proposal; only
        when every candidate's first call fails is the `LLMError` raised. `sample_offset` shifts
        the sample indices, for asking the same prompt again for fresh answers.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        prompt = self.design_prompt(context)
        indices = range(first_index, first_index + k)
        with ThreadPoolExecutor(max_workers=k, thread_name_prefix="designer") as pool:
            futures = [
                pool.submit(self._design, prompt, "designer", i, iteration, sample_offset)
                for i in indices
            ]
            results = [f.result() for f in futures]
        if all(isinstance(r, LLMError) for r in results):
            raise results[0]  # type: ignore[misc]
        return [
            r if isinstance(r, Proposal) else _failed_call(i, iteration, prompt, r)
            for i, r in zip(indices, results, strict=True)
        ]

    def revise(
        self,
        proposal_or_code: Proposal | str,
        reason: str | RenderedPrompt,
        *,
        iteration: int,
        index: int,
    ) -> Proposal:
        """Ask for a revised reward (critic issues, or evidence that it inverts the fitness
        ranking of stored episodes); the revision is checked and repaired like a new candidate.
        A failed call gives a failed proposal (the caller keeps the original). A `reason`
        rendered from a template (`Verdict.reason()`) adds that template to the call's stamp."""
        code = proposal_or_code.code if isinstance(proposal_or_code, Proposal) else proposal_or_code
        if not code:
            raise ValueError("revise needs reward code; this proposal has none")
        prompt = load_template("revise").render(
            task=self.task,
            schema=self.schema_text,
            training=self.training,
            contract=self.contract,
            code=code.strip("\n"),
            reason=reason,
        )
        result = self._design(prompt, "revise", index, iteration)
        return (
            result
            if isinstance(result, Proposal)
            else _failed_call(index, iteration, prompt, result)
        )

    # ------------------------------------------------------------------ one candidate
    def _design(
        self, prompt: RenderedPrompt, role: str, index: int, iteration: int, sample_offset: int = 0
    ) -> Proposal | LLMError:
        spend = Spend()
        try:
            text = self._ask(
                prompt,
                role,
                index,
                iteration,
                spend,
                stage=role,
                attempt=0,
                sample_offset=sample_offset,
            )
        except LLMError as err:
            return err
        p = Proposal(
            index=index, iteration=iteration, answers=[text], prompt_versions=[prompt.version]
        )
        code, error = self._extract_and_check(text)
        while error is not None and p.n_repairs < self.max_repairs:
            repair = load_template("repair").render(
                task=self.task,
                schema=self.schema_text,
                contract=self.contract,
                code=_cut(code if code is not None else text, MAX_ANSWER_CHARS),
                error=_cut(error, MAX_ERROR_CHARS),
            )
            p.prompt_versions.append(repair.version)
            p.n_repairs += 1
            try:
                text = self._ask(
                    repair,
                    "repair",
                    index,
                    iteration,
                    spend,
                    stage=role,
                    attempt=p.n_repairs,
                    sample_offset=sample_offset,
                )
            except LLMError as err:
                error = f"the LLM call for repair {p.n_repairs} failed: {err}\nlast check error:\n{error}"
                break
            p.answers.append(text)
            new_code, error = self._extract_and_check(text)
            code = new_code if new_code is not None else code
        p.code, p.ok, p.error = code, error is None, error
        p.tokens, p.cost, p.calls, p.cached_calls = (
            spend.tokens,
            spend.cost,
            spend.calls,
            spend.cached_calls,
        )
        return p

    def _ask(
        self,
        prompt: RenderedPrompt,
        role: str,
        index: int,
        iteration: int,
        spend: Spend,
        *,
        stage: str,
        attempt: int,
        sample_offset: int = 0,
    ) -> str:
        """One call. `stage` (designer or revise) and `attempt` (repair number, 0 for the
        first answer) place it in the run, for replays that match calls by position."""
        completion = self.client.complete(
            messages(SYSTEM, prompt),
            role=role,
            temperature=self.temperature,
            sample_index=index + sample_offset,
            meta=call_meta(
                SYSTEM,
                prompt,
                inputs=self.inputs,
                iteration=iteration,
                candidate=index,
                stage=stage,
                attempt=attempt,
            ),
        )
        spend.add(completion)
        return completion.text

    def _extract_and_check(self, answer: str) -> tuple[str | None, str | None]:
        """(code, None) when the code passes `check`, else (code or None, the exact error)."""
        try:
            code = extract_code(answer, ENTRY)
        except AutorewardError as err:
            return None, str(err)
        return code, self.check_code(code)

    def check_code(self, code: str) -> str | None:
        """None when `code` passes the check (validation and dry run), else the exact error."""
        try:
            return self.check(code)
        except AutorewardError as err:  # a check that raises instead of returning its error
            return str(err)


def _failed_call(index: int, iteration: int, prompt: RenderedPrompt, err: LLMError) -> Proposal:
    return Proposal(
        index=index,
        iteration=iteration,
        ok=False,
        error=f"the LLM call failed: {err}",
        prompt_versions=[prompt.version],
    )


def _fmt_fitness(value: float | None) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return f"{value:.4g}"


def _cut(text: str, limit: int) -> str:
    """Keep the head and the tail (where tracebacks say what failed) of a long text."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"
