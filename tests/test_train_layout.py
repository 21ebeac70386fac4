"""The shape of `train/`: a neutral core, two backends that never import each other, a parent
side that renders text without torch or SB3, and no import circles anywhere in the package
(imports inside functions counted too)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import autoreward

PACKAGE = Path(autoreward.__file__).parent


def _imports(path: Path, module: str) -> set[str]:
    """Every autoreward module `path` imports, at module level or inside functions."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_pkg else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("autoreward")}


def _graph() -> dict[str, set[str]]:
    mods = {}
    for f in PACKAGE.rglob("*.py"):
        rel = f.relative_to(PACKAGE.parent).with_suffix("")
        mods[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = f
    graph: dict[str, set[str]] = {}
    for name, f in mods.items():
        edges = set()
        for target in _imports(f, name):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def test_the_package_has_no_import_circles() -> None:
    graph = _graph()
    reach: dict[str, set[str]] = {}

    def reachable(start: str) -> set[str]:
        if start not in reach:
            seen, todo = set(), list(graph[start])
            while todo:
                m = todo.pop()
                if m not in seen:
                    seen.add(m)
                    todo.extend(graph[m])
            reach[start] = seen
        return reach[start]

    circles = sorted(m for m in graph if m in reachable(m))
    assert circles == [], f"modules on an import circle: {circles}"


def test_neither_backend_imports_the_other() -> None:
    graph = _graph()
    for own, other in (("sb3", "rslrl"), ("rslrl", "sb3")):
        for name, edges in graph.items():
            if name.startswith(f"autoreward.train.{own}"):
                bad = [e for e in edges if e.startswith(f"autoreward.train.{other}")]
                assert bad == [], f"{name} imports {bad}"


def test_the_parent_renders_text_without_torch_or_sb3() -> None:
    code = (
        "import sys\n"
        "import autoreward.train.stats, autoreward.train.pipeline, autoreward.loop.evidence\n"
        "import autoreward.report, autoreward.train.rewardhost\n"
        "from autoreward import RewardWrapper\n"
        "from autoreward.train.stats import render_stats_text\n"
        "render_stats_text({'components': {}, 'checkpoints': []})\n"
        "print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
