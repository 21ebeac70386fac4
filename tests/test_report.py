"""report.html for run and batch directories: sections, notes for missing files, escaping,
self-containment, LLM cost, and rendering in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakellm import MODEL, FakeLLMServer, load_answer
from runfakes import make_run, mark_replayed, tiny_mp4
from typer.testing import CliRunner

from autoreward.cli import app
from autoreward.errors import ConfigError
from autoreward.report import write_batch_report, write_report, write_run_report
from autoreward.report.fragments import VideoEmbedder, markdown

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Elements(HTMLParser):
    """Every element's tag, id and classes, plus the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, str | None, set[str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.elements.append((tag, a.get("id"), set((a.get("class") or "").split())))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def ids(self) -> set[str]:
        return {i for _, i, _ in self.elements if i}

    def count(self, tag: str, cls: str) -> int:
        return sum(1 for t, _, c in self.elements if t == tag and cls in c)

    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(html: str) -> _Elements:
    p = _Elements()
    p.feed(html)
    return p


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path, video=tiny_mp4(tmp_path / "v.mp4"))


def _section(html: str, anchor: str) -> str:
    """The HTML of the element with id `anchor` up to the next candidate or iteration."""
    start = html.index(f'id="{anchor}"')
    end = min(
        (i for i in (html.find("<article", start + 1), html.find("<section", start + 1)) if i > 0),
        default=len(html),
    )
    return html[start:end]


def test_run_report_has_every_section(run_dir: Path) -> None:
    path = write_run_report(run_dir)
    assert path == run_dir / "report.html"
    dom = parse(path.read_text())
    assert {"summary", "llm-cost", "iter-0", "iter-1", "iter-1-cand-0"} <= dom.ids()
    assert dom.count("section", "iteration") == 2
    assert dom.count("article", "candidate") == 6
    assert dom.count("details", "diff") == 6
    assert dom.count("figure", "curve") == 6
    assert dom.count("div", "analysis") == 2
    assert dom.count("table", "candidates") == 2


def test_summary_header_reads_the_run(run_dir: Path) -> None:
    html = write_run_report(run_dir).read_text()
    summary = parse(_section(html, "summary")).plain()
    assert "CartPole-v1" in summary and "balance the pole near the centre" in summary
    assert "openai/fake-model" in summary
    assert (
        "470 ± 12.5 over 2 seeds (fresh training seeds; screening 480) — "
        "iteration 1, candidate 0 (4,000 steps)" in summary
    )
    assert "iter 1 cand 1: 285 ± 5 over 2 seeds (screening 300)" in summary
    assert "the highest mean wins" in summary
    assert "5,400 tokens, $0.0123 (6 calls, 1 from cache)" in summary
    assert "1 min 50 s" in summary  # run_start → run_end in events.jsonl
    assert "2 finished of 2 started" in summary and "3 trained of 6" in summary


def test_report_is_self_contained(run_dir: Path) -> None:
    html = write_run_report(run_dir).read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "url(http" not in html and "@import" not in html
    images = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(images) == 6  # a learning curve and a component plot for each trained candidate
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert html.count('src="data:video/mp4;base64,') == 1  # the one candidate with a video


def test_text_from_the_run_is_escaped(run_dir: Path) -> None:
    html = write_run_report(run_dir).read_text()
    assert "<script>alert" not in html
    assert "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</p>" in html
    assert "<dominates>" not in html and "&lt;dominates&gt;" in html
    # the analyzer's markdown is rendered: headings (## under the report's h3), a list, code
    analysis = _section(html, "iter-0").split('class="analysis"')[1]
    assert (
        "<h5>What went wrong</h5>" in analysis and "<ol>" in analysis and "<pre><code>" in analysis
    )


def test_diff_is_against_the_best_of_earlier_iterations(run_dir: Path) -> None:
    html = write_run_report(run_dir).read_text()
    cand = parse(_section(html, "iter-1-cand-0")).plain()
    assert "diff against the previous best (iteration 0, candidate 0)" in cand
    assert "best so far (iter 0 cand 0)" in cand and "+++ iter 1 cand 0" in cand
    first = parse(_section(html, "iter-0-cand-0")).plain()
    assert "first iteration: there is no previous best to compare with" in first
    duplicate = parse(_section(html, "iter-1-cand-2")).plain()
    assert "identical to the previous best (iter 0 cand 0)" in duplicate


def test_critic_verdict_and_training_lines(run_dir: Path) -> None:
    html = write_run_report(run_dir).read_text()
    cand = parse(_section(html, "iter-1-cand-0")).plain()
    assert "Critic: revise (the reward was revised after this review)" in cand
    assert "scale" in cand and "lower alive to 0.2" in cand
    assert "training: PPO · 4,000 steps · 12 s · 333 steps/s" in cand
    assert "score fitness 480 over 3 episodes" in cand


def test_missing_files_render_as_notes(run_dir: Path) -> None:
    (run_dir / "iter_1" / "cand_1" / "train.json").write_text("{ cut by a kill")
    (run_dir / "iter_1" / "cand_1" / "stats.json").unlink()
    (run_dir / "result.json").unlink()
    html = write_run_report(run_dir).read_text()
    failed_check = parse(_section(html, "iter-0-cand-1")).plain()
    assert "no learning curve: the candidate was not trained (failed check)" in failed_check
    assert "no video: the candidate was not trained" in failed_check
    assert "No reward code was saved for this candidate." in failed_check
    broken = parse(_section(html, "iter-1-cand-1")).plain()
    assert "train.json could not be read (JSONDecodeError" in broken
    assert "no component statistics: train.json is missing" in broken
    failed_train = parse(_section(html, "iter-0-cand-2")).plain()
    assert "ValueError: lookup of an unknown state key" in failed_train


def test_unfinished_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "iter_0" / "cand_0").mkdir(parents=True)
    (run / "config.yaml").write_text("env_id: CartPole-v1\ntask: balance\niterations: 2\n")
    (run / "iter_0" / "cand_0" / "reward.py").write_text("import numpy as np\n")
    html = write_report(run).read_text()
    dom = parse(html)
    text = dom.plain()
    assert "pending" in text and "not finished" in text
    assert "No analysis for this iteration yet." in text
    assert "no candidate trained successfully" in text
    assert "No LLM calls were logged" in text


def test_llm_cost_per_iteration(run_dir: Path) -> None:
    html = write_run_report(run_dir).read_text()
    cost = parse(html[html.index('id="llm-cost"') :]).plain()
    assert "iteration 0 3 0 0 2,800 $0.0060 designer 1, critic 1, analyzer 1" in cost
    assert "iteration 1 3 1 0 2,600 $0.0063 designer 2, analyzer 1" in cost
    assert "total 6 1 0 5,400 $0.0123" in cost
    it0 = parse(_section(html, "iter-0")).plain()
    assert "LLM: 3 calls (0 cached), 2,800 tokens, $0.0060" in it0


def test_feedback_is_shown_under_its_iteration(run_dir: Path) -> None:
    (run_dir / "iter_0" / "feedback.json").write_text(
        '{"text": "keep the cart <centred>", "ranking": [0, 2], "ranking_text": "0 first, then 2"}'
    )
    html = write_run_report(run_dir).read_text()
    it0 = parse(_section(html, "iter-0")).plain()
    assert "Human feedback after this iteration keep the cart <centred>" in it0
    assert "Ranking (best first): 0 first, then 2" in it0


def test_large_videos_are_linked_not_embedded(tmp_path: Path) -> None:
    video = tmp_path / "iter_0" / "cand_0" / "video.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"x" * 100)
    linked = str(VideoEmbedder(tmp_path, max_bytes=10)(video))
    assert 'src="iter_0/cand_0/video.mp4"' in linked and "too large to embed" in linked
    budget = VideoEmbedder(tmp_path, max_bytes=1000, total_bytes=150)
    assert "base64" in str(budget(video))
    assert "embedding budget of this report spent" in str(budget(video))


def test_markdown_subset_escapes_and_renders() -> None:
    out = str(markdown("# Title\n- a `x<1`\n- **b**\n\n<b>raw</b>\n```\n<i>code</i>\n```"))
    assert "<h4>Title</h4>" in out
    assert "<ul><li>a <code>x&lt;1</code></li><li><strong>b</strong></li></ul>" in out
    assert "<p>&lt;b&gt;raw&lt;/b&gt;</p>" in out
    assert "<pre><code>&lt;i&gt;code&lt;/i&gt;</code></pre>" in out


def _batch(tmp_path: Path) -> Path:
    batch = tmp_path / "batch"
    make_run(batch / "tasks")
    (batch / "tasks" / "20260101-120000-cartpole-v1-balance").rename(
        batch / "tasks" / "cartpole-balance"
    )
    (batch / "tasks" / "acrobot-swing").mkdir()  # a task that failed before its run started
    with (batch / "results.csv").open("w", newline="") as fh:  # the columns autoreward.batch writes
        w = csv.writer(fh)
        w.writerow(["task", "env_id", "status", "fitness_kind", "best_fitness", "final_fitness",
                    "baseline_fitness", "random_fitness", "normalized", "note", "iterations", "tokens",
                    "cost", "wall_s", "reason", "run_dir"])  # fmt: skip
        w.writerow(["cartpole-balance", "CartPole-v1", "done", "score", "480.00000000000006", "470",
                    "500", "22.5", "0.9581", "", "2", "15029", "0.0123", "110.4", "",
                    str(batch / "tasks" / "cartpole-balance")])  # fmt: skip
        w.writerow(["acrobot-swing", "Acrobot-v1", "failed", "", "", "", "-90", "-500", "", "", "0",
                    "0", "0", "3.2", "LLMError: unreachable", ""])  # fmt: skip
    return batch


def test_batch_report_links_each_task(tmp_path: Path) -> None:
    batch = _batch(tmp_path)
    path = write_report(batch)
    assert path == batch / "report.html"
    html = path.read_text()
    dom = parse(html)
    assert {"summary", "results"} <= dom.ids()
    results = parse(html[html.index('id="results"') :]).plain()
    assert (
        "cartpole-balance CartPole-v1 done score 480 470 500 22.5 0.9581 2 15,029 0.0123 110.4"
        in results
    )
    assert "acrobot-swing Acrobot-v1 failed -90 -500 0 0 0 3.2 LLMError: unreachable" in results
    assert "run_dir" not in results  # the task name links to its report instead
    assert '<a href="tasks/cartpole-balance/report.html">cartpole-balance</a>' in html
    assert (batch / "tasks" / "cartpole-balance" / "report.html").is_file()
    assert "data:image/png;base64," in html  # fitness per task chart


def test_batch_without_results_yet(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    (batch / "tasks" / "a").mkdir(parents=True)
    html = write_batch_report(batch).read_text()
    assert "No results table yet" in html and "(no run directory)" in html


def test_report_of_something_else_says_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a folder autoreward wrote") as err:
        write_report(tmp_path)
    assert "holding config.yaml" in str(err.value) and "`autoreward train`" in str(err.value)
    with pytest.raises(ConfigError, match="missing does not exist"):
        write_report(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="notes.txt is a file, not a directory"):
        write_report(tmp_path / "notes.txt")


def test_cli_report(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output and (run_dir / "report.html").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and f"error: {tmp_path / 'nothing'} does not exist\n" in bad.output


# --------------------------------------------------------------------------- headless Chromium


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    path = write_run_report(run_dir)
    done = _chromium(tmp_path, "--dump-dom", path.resolve().as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    assert {"summary", "llm-cost", "iter-0", "iter-1"} <= dom.ids()
    assert dom.count("section", "iteration") == 2
    assert dom.count("article", "candidate") == 6
    assert dom.count("details", "diff") == 6
    assert dom.count("figure", "curve") == 6
    assert dom.count("div", "analysis") == 2
    assert dom.count("video", "video") == 1
    shot = tmp_path / "report.png"
    done = _chromium(
        tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", path.resolve().as_uri()
    )
    assert shot.is_file() and shot.stat().st_size > 20_000, done.stderr[-2000:]


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)"
)
def test_batch_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    path = write_batch_report(_batch(tmp_path))
    done = _chromium(tmp_path, "--dump-dom", path.resolve().as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    assert {"summary", "results"} <= dom.ids()
    assert dom.count("table", "results") == 1


@pytest.mark.expensive
def test_report_of_a_real_tiny_run(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    """A real run (fake LLM server, sandboxed checks, PPO on CartPole with a video) reported."""
    from autoreward.config import RunConfig
    from autoreward.loop import run_loop
    from autoreward.store.rundir import RunDir

    fake_llm.add_rule(
        "diagnoses trained policies", load_answer("analyzer_cartpole"), repeat_last=True
    )
    fake_llm.add_rule("careful reviewer", load_answer("critic_ok"), repeat_last=True)
    fake_llm.add_rule("# Advice", load_answer("designer_cartpole_1"), load_answer("designer_cartpole_2"),
                      repeat_last=True)  # fmt: skip
    cfg = RunConfig(
        env_id="CartPole-v1",
        task="Balance the pole upright.",
        model=MODEL,
        api_base=fake_llm.url + "/v1",
        iterations=1,
        samples=2,
        steps=2048,
        workers=2,
        eval_episodes=2,
        final_seeds=0,
        video=True,
        halving=False,
    )
    run = RunDir.create(tmp_path, cfg.env_id, cfg.task, cfg.dump())
    run_loop(cfg, run)
    html = write_report(run.path).read_text()
    dom = parse(html)
    assert dom.count("article", "candidate") == 2 and dom.count("div", "analysis") == 1
    assert html.count("data:image/png;base64,") == 4  # a curve and a component plot each
    assert html.count('src="data:video/mp4;base64,') == 2
    cost = parse(html[html.index('id="llm-cost"') :]).plain()
    assert "iteration 0" in cost and "designer" in cost and "critic" in cost
    # one iteration: no analyzer call (no designer reads it); the report says why
    assert "analyzer" not in cost
    assert "this was the run's last iteration, where no designer reads one" in parse(html).plain()
    if CHROMIUM is not None:
        done = _chromium(tmp_path, "--dump-dom", (run.path / "report.html").resolve().as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        rendered = parse(done.stdout)
        assert {"summary", "llm-cost", "iter-0"} <= rendered.ids()
        assert rendered.count("video", "video") == 2


def test_texts_replayed_by_position_are_marked_in_the_report(run_dir: Path) -> None:
    mark_replayed(run_dir, {"role": "analyzer", "meta": {"iteration": 1}},
                  {"role": "critic", "meta": {"iteration": 1, "candidate": 0}},
                  {"role": "designer", "meta": {"iteration": 1, "candidate": 1}})  # fmt: skip
    html = write_run_report(run_dir).read_text()
    text = " ".join(parse(html).plain().split())
    assert "3 LLM text(s) replayed by position" in parse(_section(html, "summary")).plain()
    assert "Note: this analysis was replayed by position from a recorded session" in text
    assert "Note: the critic's text was replayed by position" in text
    assert "This reward's designer answer was replayed by position" in text
    assert text.count("written for the recorded run's numbers, not this run's") == 4


def test_curves_say_what_their_fitness_measures(run_dir: Path) -> None:
    html = write_run_report(run_dir).read_text()
    text = " ".join(parse(html).plain().split())
    assert "deterministic evaluation over 3 episodes at each checkpoint" in text
    assert "over 3 episodes, so the last point can differ from it" in text


def test_curves_of_a_schema_that_samples_its_evaluation_actions_say_so(run_dir: Path) -> None:
    stats_file = run_dir / "iter_1" / "cand_0" / "stats.json"
    stats = json.loads(stats_file.read_text())
    stats_file.write_text(json.dumps({**stats, "deterministic_eval": False}))
    text = " ".join(parse(write_run_report(run_dir).read_text()).plain().split())
    assert "an evaluation with sampled actions over 3 episodes at each checkpoint" in text
    assert "evaluates the final policy, also with sampled actions, over" in text


def test_a_pruned_candidate_shows_its_rivals_at_the_rung(run_dir: Path) -> None:
    from autoreward.store.records import CandidateRecord, RungOutcome, RungRival

    d = run_dir / "iter_1" / "cand_1"
    rec = CandidateRecord.load(d)
    assert rec is not None
    rec.status, rec.reason = "pruned", "successive halving: stopped at rung 1 (1,000 steps)"
    rec.rung = RungOutcome(steps=1000, fitness=0.008, fitness_se=0.002, kept=False,
                           why="pruned: 0.008 ± 0.002, below cand 0 (0.0136 ± 0.003) by 0.0056, more than the noise band 0.0036",
                           rivals=[RungRival(index=0, fitness=0.0136, fitness_se=0.003, kept=True)])  # fmt: skip
    rec.save(d)
    text = " ".join(parse(write_run_report(run_dir).read_text()).plain().split())
    assert (
        "halving rung 1 (1,000 steps): 0.008 ± 0.002, pruned — pruned: 0.008 ± 0.002, below cand 0"
        in text
    )
    assert "rivals: cand 0 0.0136 ± 0.003 (kept)" in text


def test_wall_time_adds_up_the_sessions_of_a_resumed_run_and_skips_the_gap() -> None:
    from autoreward.store.rundir import session_wall_time

    events = [
        {"t": 100.0, "event": "run_start"},
        {"t": 130.0, "event": "candidate"},  # killed here: the session ends at its last event
        {"t": 1000.0, "event": "run_start"},  # resumed 870 s later
        {"t": 1010.0, "event": "run_end"},
        {"t": 2000.0, "event": "run_start"},  # a third session, still running
        {"event": "candidate"},  # a line without a time is ignored
    ]
    assert session_wall_time(events[:2]) == 30.0
    assert session_wall_time(events[:4]) == 40.0
    assert session_wall_time(events, now=2005.0) == 45.0
    assert session_wall_time([]) is None


MATHTEXT_NAMES = ["$\\frac{$", "$x^$", "$\\foo$", "a $ b"]


@pytest.mark.parametrize("name", MATHTEXT_NAMES)
def test_component_names_with_mathtext_do_not_break_the_plots(name: str) -> None:
    """A component named `$\\frac{$` made matplotlib raise while drawing the legend: no
    report at all (issue 17). Names from reward code are plotted with `$` escaped."""
    from autoreward.report.plots import bar_chart, component_plot, learning_curve

    points = [{"step": s, "per_episode": {name: float(s)}} for s in (1, 2)]
    assert component_plot({"checkpoints": points, "components": [name]})
    assert learning_curve([{"step": 1, "fitness": 1.0}, {"step": 2, "fitness": 2.0}], name)
    assert bar_chart([name], {name: [1.0]}, "return")


def test_a_run_whose_reward_names_a_component_in_mathtext_still_reports(run_dir: Path) -> None:
    import json

    for stats_path in run_dir.glob("iter_*/cand_*/stats.json"):
        stats = json.loads(stats_path.read_text())
        old = stats["components"][0]
        stats["components"][0] = "$\\frac{$\x1b]52;c;aGk=\x07"
        for point in stats.get("checkpoints", []):
            for key in ("per_episode", "per_step"):
                if old in (point.get(key) or {}):
                    point[key]["$\\frac{$\x1b]52;c;aGk=\x07"] = point[key].pop(old)
        stats_path.write_text(json.dumps(stats))
    html = write_run_report(run_dir).read_text()
    assert "\x1b" not in html
