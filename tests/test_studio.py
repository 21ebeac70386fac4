"""`autoreward studio` over HTTP: the token, files by id only (no path from a request),
escaping of what runs hold, loopback only, and a turn saved exactly where `refine` saves it
(the browser flow is in test_studio_browser.py)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from runfakes import CENTRED, UPRIGHT, add_trained, make_run, tiny_mp4
from starlette.testclient import TestClient
from typer.testing import CliRunner

from autoreward.cli import app as cli_app
from autoreward.loop.refine import FeedbackTurn, make_turn, refine_session
from autoreward.report.data import load_run
from autoreward.studio import serve
from autoreward.studio.app import create_app
from autoreward.studio.progress import event_stream, read_events
from autoreward.studio.server import is_loopback
from autoreward.studio.session import Jobs

TOKEN = "test-token-123"
RUN_ID = "20260101-120000-cartpole-v1-balance"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    video = tiny_mp4(tmp_path / "tiny.mp4")
    run = make_run(root, video=video)
    add_trained(run, 1, 2, UPRIGHT, fitness=200.0, video=video)
    return root


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, int]]:
    """Stands in for the background `run --resume`: records it, runs a process that exits."""
    calls: list[tuple[Path, int]] = []
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # the run's model is checked before saving

    def start(self: Jobs, run_dir: Path, iterations: int) -> subprocess.Popen[bytes]:
        calls.append((run_dir, iterations))
        return subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])

    monkeypatch.setattr(Jobs, "_start", start)
    return calls


def client(root: Path, **kw: object) -> TestClient:
    c = TestClient(create_app(root, token=TOKEN, **kw), base_url="http://127.0.0.1")  # type: ignore[arg-type]
    assert c.get(f"/?token={TOKEN}").status_code == 200  # sets the cookie
    return c


def post_turn(c: TestClient, body: dict[str, object], token: str | None = TOKEN) -> object:
    headers = {"X-Studio-Token": token} if token else {}
    return c.post(f"/runs/{RUN_ID}/next", content=json.dumps(body), headers=headers)


# --------------------------------------------------------------------------- the token


def test_every_request_needs_the_token(runs: Path) -> None:
    bare = TestClient(create_app(runs, token=TOKEN), base_url="http://127.0.0.1")
    for path in ("/", f"/runs/{RUN_ID}", "/static/studio.js", f"/runs/{RUN_ID}/events"):
        r = bare.get(path)
        assert r.status_code == 403 and "carries the token" in r.text, path
    assert bare.get("/?token=wrong").status_code == 403
    r = bare.get("/?token=" + TOKEN, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert f"autoreward_studio={TOKEN}" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    page = bare.get("/")
    assert page.status_code == 200 and RUN_ID in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


def test_a_change_needs_the_token_header_too(runs: Path, started: list) -> None:
    c = client(runs)
    body = {"iteration": 1, "text": "go left"}
    r = post_turn(c, body, token=None)
    assert r.status_code == 403 and "x-studio-token header" in r.text  # type: ignore[attr-defined]
    assert post_turn(c, body, token="wrong").status_code == 403  # type: ignore[attr-defined]
    assert not (runs / RUN_ID / "iter_1" / "feedback.json").exists() and started == []
    page = c.get(f"/runs/{RUN_ID}").text
    assert f'<meta name="studio-token" content="{TOKEN}">' in page


# --------------------------------------------------------------------------- loopback only


def test_only_loopback_host_names_are_answered(runs: Path) -> None:
    c = client(runs)
    evil = c.get("/", headers={"host": "evil.example:8000"})
    assert evil.status_code == 400  # a DNS-rebound name never reaches the app
    assert c.get("/", headers={"host": "localhost:8000"}).status_code == 200
    remote = TestClient(
        create_app(runs, token=TOKEN, allowed_hosts=["*"]), base_url="http://10.1.2.3"
    )
    assert remote.get(f"/?token={TOKEN}").status_code == 200


def test_non_loopback_bind_only_when_asked_and_with_a_warning(
    runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    binds: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: binds.append((host, port)))
    said: list[str] = []
    serve(runs, port=8123, say=said.append)
    assert binds == [("127.0.0.1", 8123)]
    assert re.match(r"autoreward studio: http://127\.0\.0\.1:8123/\?token=[\w-]{20,}$", said[0])
    said.clear()
    serve(runs, host="0.0.0.0", port=8124, say=said.append)
    assert binds[-1] == ("0.0.0.0", 8124)
    assert said[0].startswith("warning: serving on 0.0.0.0, beyond this machine")
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "192.168.1.2")] == [
        True, True, True, False, False,
    ]  # fmt: skip
    bad = CliRunner().invoke(cli_app, ["studio", str(runs / "missing")])
    assert bad.exit_code == 2 and "is not a directory" in bad.output
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # the studio extra not installed
    bad = CliRunner().invoke(cli_app, ["studio", str(runs)])
    assert bad.exit_code == 2 and "needs the 'uvicorn' package" in bad.output
    assert "autoreward[studio]" in bad.output


# --------------------------------------------------------------------------- files by id


def test_files_are_served_by_id_only(runs: Path, tmp_path: Path) -> None:
    c = client(runs)
    page = c.get(f"/runs/{RUN_ID}").text
    ids = re.findall(r'src="/files/([0-9a-f]+)"', page)
    assert len(ids) == 2  # iteration 0 cand 0 and iteration 1 cand 2 have a video
    video = c.get(f"/files/{ids[0]}")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == (runs / RUN_ID / "iter_0" / "cand_0" / "video.mp4").read_bytes()
    for path in (
        "/files/" + "0" * 24,
        "/files/..%2F..%2Fconfig.yaml",
        "/files/../../etc/passwd",
        f"/runs/{RUN_ID}/../../etc/passwd",
        "/runs/..%2F..%2Fetc",
        "/static/../app.py",
        "/static/studio.html",
        "/static/%2E%2E%2Fapp.py",
    ):
        r = c.get(path)
        assert r.status_code == 404, path
        assert "root:" not in r.text
    # a worker that swaps its video for a link to a secret gets nothing served
    secret = tmp_path / "secret.txt"
    secret.write_text("api key")
    target = runs / RUN_ID / "iter_1" / "cand_2" / "video.mp4"
    target.unlink()
    target.symlink_to(secret)
    assert c.get(f"/files/{ids[1]}").status_code == 404
    # and a run directory that is a link to elsewhere is not listed
    (runs / "20260202-000000-linked").symlink_to(runs / RUN_ID)
    assert c.get("/runs/20260202-000000-linked").status_code == 404


def test_diff_of_any_two_rewards(runs: Path) -> None:
    c = client(runs)
    diff = c.get(f"/runs/{RUN_ID}/diff?a=1.0&b=1.1")
    assert diff.status_code == 200 and "-0.5" in diff.text and "-1.0" in diff.text
    same = c.get(f"/runs/{RUN_ID}/diff?a=1.2&b=0.0").text
    assert "identical" in same
    assert c.get(f"/runs/{RUN_ID}/diff?a=1&b=x.y").status_code == 404


# --------------------------------------------------------------------------- escaping


def test_texts_from_runs_are_escaped(runs: Path) -> None:
    run = runs / RUN_ID
    evil = "<script>alert('pwned')</script>"
    code = (run / "iter_1" / "cand_1" / "reward.py").read_text() + f"\n# {evil}\n"
    (run / "iter_1" / "cand_1" / "reward.py").write_text(code)
    critique = json.loads((run / "iter_1" / "cand_0" / "critique.json").read_text())
    critique["suggestion"] = evil
    (run / "iter_1" / "cand_0" / "critique.json").write_text(json.dumps(critique))
    c = client(runs)
    page = c.get(f"/runs/{RUN_ID}").text
    assert "alert(" in page  # the texts are shown ...
    assert "<script>alert" not in page  # ... never as markup (the analysis holds one too)
    assert page.count("<script") == 1  # only the studio's own script
    assert "&lt;script&gt;" in page


# --------------------------------------------------------------------------- a turn


def test_a_turn_is_saved_where_refine_saves_it_and_refine_reads_it_back(
    runs: Path, started: list
) -> None:
    c = client(runs)
    body = {
        "iteration": 1,
        "text": "keep the cart on the left half",
        "ranking": [2, 0, 1],
        "ranks": [1, 1, 3],
        "preferred": 2,
        "notes": {"1": "this one drifts right"},
        "edits": [{"candidate": 1, "code": CENTRED.replace("-1.0 *", "-2.0 *")}],
    }
    r = post_turn(c, body)
    assert r.status_code == 202, r.text  # type: ignore[attr-defined]
    answer = r.json()  # type: ignore[attr-defined]
    assert answer["saved"] == "iter_1/feedback.json" and answer["turn"] == 1
    run = runs / RUN_ID
    assert started == [(run, 3)]  # run --resume up to iteration 2, as refine does
    saved = FeedbackTurn.model_validate_json((run / "iter_1" / "feedback.json").read_text())
    assert saved.source == "studio" and saved.text == "keep the cart on the left half"
    assert saved.ranking == [2, 0, 1] and saved.ranks == [1, 1, 3] and saved.preferred == 2
    assert saved.edits[0].candidate == 1 and "-2.0 *" in saved.edits[0].code
    text = saved.ranking_text or ""
    assert "1. candidate 2 (fitness 200, env return 200) (tied)" in text
    assert "1. candidate 0 (fitness 480, env return 480) (tied)" in text
    assert "3. candidate 1 (fitness 300" in text
    assert "The user's least preferred candidate is candidate 1." in text
    assert "-1.0 * (x / 2.4) ** 2" in text  # the least preferred one's code
    assert "- candidate 1: this one drifts right" in text
    assert "Its reward components during training" in text
    assert len((run / "refine.jsonl").read_text().splitlines()) == 1
    # the background iteration failed (exit 3): refine finds the saved turn and uses it
    for _ in range(100):
        if c.get(f"/runs/{RUN_ID}/job").json()["state"] != "running":
            break
        asyncio.run(asyncio.sleep(0.05))
    assert c.get(f"/runs/{RUN_ID}/job").json()["state"] == "failed"
    out = io.StringIO()
    resumed: list[int] = []
    turns = refine_session(
        Console(file=out, width=200), run, ask=lambda p: "q",
        run_next=lambda path, n: resumed.append(n), max_turns=1,
    )  # fmt: skip
    assert [t.text for t in turns] == ["keep the cart on the left half"] and resumed == [3]
    assert "using the feedback you gave before" in out.getvalue()


def test_a_bad_turn_saves_nothing(runs: Path, started: list) -> None:
    c = client(runs)
    run = runs / RUN_ID
    cases = [
        ({"iteration": 0, "text": "x"}, 409, "the page showed iteration 0 as the last finished"),
        ({"iteration": 1, "ranking": [0, 7]}, 409, "candidate 7 of iteration 1 cannot be ranked"),
        ({"iteration": 1, "ranking": [0, 0]}, 409, "candidate 0 appears twice"),
        ({"iteration": 1, "ranking": [0, 1], "ranks": [2, 1]}, 409, "expected one place per"),
        ({"iteration": 1, "preferred": 9}, 409, "candidate 9 of iteration 1 cannot be preferred"),
        ({"iteration": 1, "edits": [{"candidate": 1, "code": ""}]}, 400, "edits.0.code"),
        ({"iteration": "one"}, 400, "iteration"),
    ]
    for body, status, message in cases:
        r = post_turn(c, body)
        assert r.status_code == status, (body, r.text)  # type: ignore[attr-defined]
        assert message in r.json()["error"], r.json()  # type: ignore[attr-defined]
    assert not (run / "iter_1" / "feedback.json").exists() and started == []
    assert post_turn(c, {"iteration": 1}).status_code == 202  # type: ignore[attr-defined]


def test_one_background_iteration_per_run(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def start(self: Jobs, run_dir: Path, iterations: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])

    monkeypatch.setattr(Jobs, "_start", start)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    app = create_app(runs, token=TOKEN)
    c = TestClient(app, base_url="http://127.0.0.1")
    c.get(f"/?token={TOKEN}")
    try:
        assert post_turn(c, {"iteration": 1, "text": "a"}).status_code == 202  # type: ignore[attr-defined]
        (runs / RUN_ID / "iter_1" / "feedback.json").unlink()
        r = post_turn(c, {"iteration": 1, "text": "b"})
        assert r.status_code == 409 and "already running" in r.json()["error"]  # type: ignore[attr-defined]
        assert not (runs / RUN_ID / "iter_1" / "feedback.json").exists()
    finally:
        app.state.jobs.stop_all()


def test_the_run_list_shows_status_and_best_fitness(runs: Path) -> None:
    page = client(runs).get("/").text
    row = page[page.index(RUN_ID) :]
    assert "finished" in row and ">480<" in row and "CartPole-v1" in row


# --------------------------------------------------------------------------- progress


def test_progress_events_are_read_from_an_offset_and_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {"event": "phase", "phase": "training", "t": 1.0},
        {"event": "llm_call", "prompt": "secret"},  # not followed
        {"event": "candidate", "iteration": 2, "candidate": 0, "state": "failed",
         "reason": "\x1b[31mred\x1b[0m <b>"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"event": "progr')
    events, offset = read_events(path, 0)
    assert [e["event"] for e in events] == ["phase", "candidate"]
    assert events[1]["reason"] == "red <b>"  # escapes stripped; the page writes it as text
    assert offset == path.stat().st_size - len('{"event": "progr')
    with path.open("a") as fh:
        fh.write('ess", "steps": 64, "candidate": 1}\n')
    more, _ = read_events(path, offset)
    assert more == [{"event": "progress", "steps": 64, "candidate": 1}]

    async def first_two() -> list[str]:
        stream = event_stream(path, 0, lambda: {"state": "running"}, poll_s=0.01)
        return [await anext(stream) for _ in range(4)]

    messages = asyncio.run(first_two())
    assert messages[0].startswith("event: progress\n") and '"phase": "training"' in messages[0]
    assert messages[3].startswith("event: job\n") and '"running"' in messages[3]


def test_make_turn_checks_ties_and_candidates(runs: Path) -> None:
    view = load_run(runs / RUN_ID)
    it = view.iterations[1]
    turn = make_turn(view, it, None, [], notes={0: "  steady  "})
    assert turn.notes == {0: "steady"} and "- candidate 0: steady" in (turn.ranking_text or "")
    assert not turn.empty
