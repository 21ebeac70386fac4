"""Matplotlib figures as base64 PNG data URIs (no pyplot state, no display needed)."""

from __future__ import annotations

import base64
import io
from typing import Any

from matplotlib.figure import Figure

from autoreward.report.data import finite_float
from autoreward.sandbox.untrusted import plot_text

_SIZE = (5.4, 2.8)
_DPI = 90
_COLORS = {"fitness": "#1b7f3b", "generated": "#1f5fbf", "env": "#b35900"}


def png_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def learning_curve(points: list[dict[str, Any]], title: str = "") -> str | None:
    """Fitness (left axis) and the generated / env's own return (right axis) against steps."""
    steps = [p.get("step") for p in points]
    fitness = _series(points, "fitness")
    gen = _series(points, "generated_return")
    env = _series(points, "env_return")
    if not steps or all(v is None for v in fitness + gen + env):
        return None
    fig = Figure(figsize=_SIZE, layout="constrained")
    ax = fig.subplots()
    ax.set_xlabel("training steps")
    ax.set_ylabel("task fitness", color=_COLORS["fitness"])
    _line(ax, steps, fitness, "fitness", _COLORS["fitness"], marker="o")
    returns = ax.twinx()
    returns.set_ylabel("episode return")
    _line(returns, steps, gen, "generated return", _COLORS["generated"], style="-")
    _line(returns, steps, env, "env's own return", _COLORS["env"], style="--")
    handles = ax.get_legend_handles_labels()[0] + returns.get_legend_handles_labels()[0]
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.8)
    if title:
        ax.set_title(plot_text(title, 200), fontsize=9)
    ax.grid(alpha=0.3)
    return png_data_uri(fig)


def component_plot(stats: dict[str, Any]) -> str | None:
    """Per-episode sum of every reward component at each statistics checkpoint."""
    points = stats.get("checkpoints") or []
    names = list(stats.get("components") or [])
    if not points or not names:
        return None
    steps = [p.get("step") for p in points]
    fig = Figure(figsize=_SIZE, layout="constrained")
    ax = fig.subplots()
    drawn = 0
    for name in names:
        values = [finite_float((p.get("per_episode") or {}).get(name)) for p in points]
        if all(v is None for v in values):  # no episode finished: fall back to per-step means
            values = [
                finite_float(((p.get("per_step") or {}).get(name) or {}).get("mean"))
                for p in points
            ]
        drawn += _line(ax, steps, values, name, None, marker=".")
    if not drawn:
        return None
    ax.axhline(0.0, color="#888", lw=0.6)
    ax.set_xlabel("training steps")
    ax.set_ylabel("component per episode")
    ax.legend(fontsize=7, loc="best", framealpha=0.8, ncol=2 if len(names) > 4 else 1)
    ax.grid(alpha=0.3)
    return png_data_uri(fig)


def bar_chart(labels: list[str], series: dict[str, list[float | None]], ylabel: str) -> str | None:
    """Grouped bars, one group per label (the batch report: ours vs the env's own reward)."""
    if not labels or not any(v is not None for vals in series.values() for v in vals):
        return None
    fig = Figure(figsize=(max(4.0, 0.9 * len(labels) + 2), 3.0), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
        values_shown = [0.0 if v is None else v for v in values]
        ax.bar(xs, values_shown, width, label=plot_text(name))
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([plot_text(label) for label in labels], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return png_data_uri(fig)


def _line(
    ax: Any,
    xs: list[Any],
    ys: list[float | None],
    label: str,
    color: str | None,
    style: str = "-",
    marker: str | None = None,
) -> int:
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if x is not None and y is not None]
    if not pts:
        return 0
    ax.plot(
        [p[0] for p in pts],
        [p[1] for p in pts],
        style,
        color=color,
        marker=marker,
        label=plot_text(label),  # component names come from reward code: no mathtext
        lw=1.4,
        ms=3,
    )
    return 1


def _series(points: list[dict[str, Any]], key: str) -> list[float | None]:
    return [finite_float(p.get(key)) for p in points]
