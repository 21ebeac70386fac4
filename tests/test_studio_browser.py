"""The studio in a real browser: headless Chromium (the system's, driven by Playwright)
through a whole refinement turn against the fake LLM server, with real checks, sandboxed
training (tiny budgets) and evaluation of the next iteration's candidates.

Outside CI the test is skipped when Chromium or Playwright is missing; in CI (CI=true) it
fails instead, since `.ci/run` installs both."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakellm import FakeLLMServer, load_answer, prompt_text
from runfakes import CENTRED, UPRIGHT, add_trained, make_run, tiny_mp4

from autoreward.loop.refine import FeedbackTurn
from autoreward.studio.app import create_app
from autoreward.studio.server import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI") == "true"
REFINE = "# The best reward so far"
RUN_ID = "20260101-120000-cartpole-v1-balance"


def _browser_or_skip() -> Any:
    missing = []
    if CHROMIUM is None:
        missing.append(
            "chromium (Debian: apt-get install chromium; scripts/install.sh does it as root)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install -c constraints.txt -e '.[studio]')")
        sync_playwright = None
    if missing:
        why = "the studio's browser test needs " + " and ".join(missing)
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    return sync_playwright


@pytest.fixture
def studio_url(tmp_path: Path, fake_llm: FakeLLMServer) -> Iterator[tuple[str, Path]]:
    import uvicorn

    root = tmp_path / "runs"
    root.mkdir()
    video = tiny_mp4(tmp_path / "tiny.mp4", frames=20)
    run = make_run(root)
    for j, (code, fitness) in enumerate([(None, 480.0), (CENTRED, 300.0), (UPRIGHT, 200.0)]):
        if code is None:
            code = (run / "iter_1" / "cand_0" / "reward.py").read_text()
        add_trained(run, 1, j, code, fitness, video=video)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg.update(api_base=fake_llm.url + "/v1", samples=1, steps=1024, workers=2, eval_episodes=2,
               final_seeds=0, critic=False, halving=False, video=True,
               target_fitness=10_000.0)  # 480 would reach CartPole's own target (475)  # fmt: skip
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    fake_llm.add_rule(REFINE, load_answer("designer_cartpole_refine"), repeat_last=True)

    app = create_app(root, warm=True)
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/?token={app.state.token}", run
    finally:
        app.state.jobs.stop_all()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.expensive
def test_a_whole_refinement_turn_in_the_browser(
    studio_url: tuple[str, Path], fake_llm: FakeLLMServer
) -> None:
    sync_playwright = _browser_or_skip()
    url, run = studio_url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(url)
            # ---- open the run from the list
            page.click(f"#runs a[href='/runs/{RUN_ID}']")
            page.wait_for_selector("#iter-1 .candidates-grid")
            assert page.locator("#iter-1 article.candidate").count() == 3
            assert page.locator("#cost").inner_text().startswith("LLM tokens")

            # ---- play a video
            video = page.locator("#iter-1-cand-2 video")
            video.evaluate("v => v.play()")
            page.wait_for_function(
                "() => document.querySelector('#iter-1-cand-2 video').currentTime > 0.2"
            )
            assert video.evaluate("v => v.videoWidth") == 48  # the tiny test video, decoded

            # ---- rank three candidates (2 and 0 tied first), prefer one, write feedback
            page.click("#iter-1-cand-2 .rank-next")
            page.click("#iter-1-cand-0 .rank-tie")
            page.click("#iter-1-cand-1 .rank-next")
            assert page.locator("#ranking li").all_inner_texts() == [
                "candidate 2", "candidate 0 (tied)", "candidate 1",
            ]  # fmt: skip
            assert page.locator("#iter-1-cand-1 .place").inner_text() == "#3"
            page.check("#iter-1-cand-2 input[name=preferred]")
            page.fill("#iter-1-cand-1 .note-input", "drifts to the right end")
            page.fill("#feedback", "Keep the cart in the left half of the track.")
            # ---- edit a reward by hand: trained next iteration like the designer's
            page.click("#iter-1-cand-1 details.edit summary")
            edited = CENTRED.replace("-1.0 * (x / 2.4) ** 2", "-3.0 * (x / 2.4) ** 2")
            page.fill("#iter-1-cand-1 .code-input", edited)
            page.check("#iter-1-cand-1 .use-edit")

            # ---- next iteration, with live progress
            page.click("#next")
            page.wait_for_selector("#turn .saved", timeout=180_000)  # checks the model first
            assert "iter_1/feedback.json" in page.locator("#turn .saved").inner_text()
            page.wait_for_selector("#progress:not([hidden])")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#events li')]"
                ".some(li => li.textContent.includes('training'))",
                timeout=240_000,
            )
            # ---- the new candidates appear, with their videos, when they finish
            page.wait_for_selector("#iter-2-cand-0 video", timeout=300_000)
            page.wait_for_selector("#iter-2-cand-1 video", timeout=300_000)
            page.wait_for_function(
                "() => document.getElementById('job-state').textContent.startsWith('finished')",
                timeout=120_000,
            )
            assert (
                "human edit of iteration 1 candidate 1"
                in page.locator("#iter-2-cand-1").inner_text()
            )
            assert errors == []
        finally:
            browser.close()

    # ---- what was saved is what refine saves, and the designer read it
    saved = FeedbackTurn.model_validate_json((run / "iter_1" / "feedback.json").read_text())
    assert saved.source == "studio" and saved.ranking == [2, 0, 1] and saved.ranks == [1, 1, 3]
    assert saved.preferred == 2 and saved.notes == {1: "drifts to the right end"}
    assert saved.edits[0].code == edited
    [prompt] = [t for t in (prompt_text(r.body) for r in fake_llm.chat_requests) if REFINE in t]
    assert "Keep the cart in the left half of the track." in prompt
    assert "1. candidate 2 (fitness 200, env return 200) (tied)" in prompt
    assert "The user's least preferred candidate is candidate 1." in prompt
    assert "- candidate 1: drifts to the right end" in prompt
    check = json.loads((run / "iter_2" / "cand_1" / "check.json").read_text())
    assert check["ok"] and check["origin"] == "human edit of iteration 1 candidate 1"
    assert (run / "iter_2" / "cand_1" / "reward.py").read_text() == edited
    assert (
        json.loads((run / "iter_2" / "cand_1" / "candidate.json").read_text())["status"]
        == "trained"
    )
