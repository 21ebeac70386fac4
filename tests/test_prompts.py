"""Prompt templates: loading, versions, rendering and its errors (autoreward.agents.prompts)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autoreward.agents.prompts import (
    TemplateError,
    available_versions,
    load_template,
    prompts_dir,
    render,
)

TEMPLATES = sorted({p.stem.rsplit("_v", 1)[0] for p in prompts_dir().glob("*_v*.md")})
PLACEHOLDER = re.compile(r"\{\{.*?\}\}")

# Each role's prompt carries a sentence no other prompt has; the loop's end-to-end test scripts
# the fake LLM server with rules matching on these.
ROLE_MARKERS = {
    "designer_initial": "# Advice",
    "designer_refine": "# The best reward so far",
    "repair": "was rejected before training",
    "revise": "was sent back before training",
    "critic": "Review this reward function",
    "analyzer": "# Your analysis",
}


def _sample_values(name: str) -> dict[str, str]:
    tmpl = load_template(name)
    return {key: f"<{key.upper()} VALUE>" for key in tmpl.placeholders}


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_the_expected_templates_exist() -> None:
    expected = {
        "designer_initial", "designer_refine", "repair", "revise", "critic", "analyzer",
        "system_designer", "system_critic", "system_analyzer", "reward_contract",
        "critic_feedback", "ranking_evidence", "training_setup", "action_continuous",
        "action_discrete",
    }  # fmt: skip
    assert expected <= set(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_with_its_documented_placeholders(name: str) -> None:
    tmpl = load_template(name)
    assert tmpl.version == f"{name}_v{available_versions(name)[-1]}"
    assert all(desc for desc in tmpl.placeholders.values()), "each placeholder is documented"
    values = _sample_values(name)
    out = tmpl.render(**values)
    assert out.version == tmpl.version
    assert "<!--" not in out.text, "the front matter is stripped"
    assert not PLACEHOLDER.search(out.text), "no placeholder is left over"
    for key, value in values.items():
        assert value in out.text, f"{key} was not inserted"


@pytest.mark.parametrize("name", [n for n in TEMPLATES if load_template(n).placeholders])
def test_a_missing_placeholder_is_an_error_naming_it(name: str) -> None:
    values = _sample_values(name)
    dropped = sorted(values)[0]
    del values[dropped]
    with pytest.raises(TemplateError, match=f"missing value\\(s\\) for {dropped}"):
        render(name, **values)


def test_an_unknown_placeholder_is_an_error_listing_what_the_template_takes() -> None:
    values = _sample_values("repair")
    with pytest.raises(TemplateError, match="unknown placeholder\\(s\\) traceback") as info:
        render("repair", **values, traceback="...")
    assert info.value.hint == "it takes exactly: code, contract, error, schema, task"


def test_an_empty_required_value_is_an_error() -> None:
    values = _sample_values("repair") | {"error": "  "}
    with pytest.raises(TemplateError, match="placeholder 'error' is required but empty"):
        render("repair", **values)


def test_code_with_braces_and_inserted_placeholders_survive_rendering() -> None:
    code = 'def f(s):\n    d = {"a": 1, "b": {"c": 2}}\n    return f"{d}" + "{{task}}"\n'
    values = _sample_values("repair") | {"code": code, "task": "balance the pole"}
    text = render("repair", **values).text
    assert code.rstrip("\n") in text, "the code is inserted verbatim"
    assert text.count("balance the pole") == 1, "a {{...}} inside a value is not expanded"
    # The contract's own code example keeps its single braces.
    contract = render("reward_contract", action_shape="(N, 3) float", action_rule="8. x").text
    assert '{"progress": progress, "alive": alive, "effort": effort}' in contract


def test_optional_sections_appear_only_with_a_value() -> None:
    base = _sample_values("designer_refine")
    empty = {key: None for key in ("analysis_text", "human_feedback", "human_ranking")}
    without = render("designer_refine", **(base | empty)).text
    assert "Feedback from the user" not in without
    assert "ranking of the candidates" not in without
    assert "\n\n\n" not in without, "an omitted section leaves no gap"
    with_feedback = render("designer_refine", **(base | empty | {"human_feedback": "go left"})).text
    assert "## Feedback from the user (give it priority)\n\ngo left\n" in with_feedback


@pytest.mark.parametrize("role", sorted(ROLE_MARKERS))
def test_each_role_prompt_has_a_marker_no_other_prompt_has(role: str) -> None:
    for name in ROLE_MARKERS:
        text = render(name, **_sample_values(name)).text
        assert (ROLE_MARKERS[role] in text) == (name == role), (role, name)


def test_the_designer_prompts_never_mention_the_fitness_expression() -> None:
    for name in ("designer_initial", "designer_refine", "repair", "revise"):
        assert "expression" not in load_template(name).body.lower()


def test_highest_version_is_picked_unless_one_is_asked_for(tmp_path: Path) -> None:
    _write(tmp_path, "greet_v1.md", "<!--\nplaceholders:\n  who: a name\n-->\nHello {{who}}\n")
    _write(tmp_path, "greet_v2.md", "<!--\nplaceholders:\n  who: a name\n-->\nHi {{who}}!\n")
    _write(tmp_path, "greet_v10.md", "<!--\nplaceholders:\n  who: a name\n-->\nHey {{who}}\n")
    assert load_template("greet", directory=tmp_path).version == "greet_v10"
    assert load_template("greet", 2, directory=tmp_path).render(who="Ann").text == "Hi Ann!\n"
    assert load_template("greet_v1", directory=tmp_path).render(who="Bo").text == "Hello Bo\n"


def test_templates_dir_can_be_overridden_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "x_v1.md", "<!--\nplaceholders: {}\n-->\nplain\n")
    monkeypatch.setenv("AUTOREWARD_PROMPTS_DIR", str(tmp_path))
    assert render("x").text == "plain\n"


def test_unknown_template_names_the_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, "alpha_v1.md", "<!--\nplaceholders: {}\n-->\na\n")
    with pytest.raises(TemplateError, match="no prompt template named 'beta'") as info:
        load_template("beta", directory=tmp_path)
    assert info.value.hint == "known templates: alpha"
    with pytest.raises(TemplateError, match="alpha_v3.md does not exist"):
        load_template("alpha", 3, directory=tmp_path)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Hello {{who}}\n", "has no front matter"),
        ("<!--\nrole: x\n-->\nHello\n", "needs a 'placeholders' entry"),
        (
            "<!--\nplaceholders:\n  who: a name\n-->\nHello {{whom}}\n",
            "used but not documented: whom; documented but not used: who",
        ),
        (
            "<!--\nplaceholders: {}\n-->\nHello {{ Who }}\n",
            "malformed placeholder\\(s\\) \\{\\{ Who \\}\\}",
        ),
        (
            "<!--\nplaceholders:\n  a: x\n-->\n{{#a}}open {{a}}\n",
            "section 'a' is never closed",
        ),
        ("<!--\nplaceholders: a, b\n-->\n{{a}}\n", "one per indented line"),
    ],
)
def test_malformed_templates_are_refused_at_load(tmp_path: Path, text: str, error: str) -> None:
    _write(tmp_path, "bad_v1.md", text)
    with pytest.raises(TemplateError, match=error):
        load_template("bad", directory=tmp_path)


def test_descriptions_may_hold_colons_and_wrap(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "d_v1.md",
        "<!--\nplaceholders:\n  best: the best one: code, stats\n    and trajectories\n-->\n{{best}}\n",
    )
    assert load_template("d", directory=tmp_path).placeholders == {
        "best": "the best one: code, stats and trajectories"
    }
