"""Run-versus-run page: each metric's relative change with its bootstrap interval, coloured by verdict."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from harness.compare import Comparison, compare_runs
from harness.dashboards.html import Section, write_page
from harness.store import Store

__all__ = ["comparison_figure", "render_compare"]

_COLOURS = {"+": "#c0392b", "-": "#27ae60", "~": "#e67e22", " ": "#7f8c8d"}


def comparison_figure(comparison: Comparison) -> go.Figure:
    measured = [v for v in comparison.verdicts if v.change is not None]
    labels = [f"{v.metric} · {' · '.join(v.key)}" for v in measured]
    fig = go.Figure(go.Bar(
        y=labels, x=[100 * v.change for v in measured], orientation="h",
        marker_color=[_COLOURS[v.mark] for v in measured],
        error_x=dict(type="data", symmetric=False, array=[100 * (v.ci_high - v.change) for v in measured],
                     arrayminus=[100 * (v.change - v.ci_low) for v in measured]),
        hovertext=[f"{v.label}: {v.base:.4g} → {v.new:.4g} {v.unit}" for v in measured]))
    for x in (-100 * comparison.threshold, 100 * comparison.threshold):
        fig.add_vline(x=x, line_dash="dot", line_color="#999")
    fig.update_layout(xaxis_title=f"change new vs base (%), {comparison.confidence:.0%} bootstrap interval",
                      height=160 + 28 * max(1, len(measured)), margin=dict(l=10, r=10, t=10, b=40))
    return fig


def render_compare(store: Store, base: str, new: str, out: Path, threshold: float = 0.05) -> Path:
    comparison = compare_runs(store, base, new, threshold=threshold)
    n = len(comparison.regressions)
    return write_page(out, f"Compare {comparison.base_run} → {comparison.new_run}",
                      f"{n} regression(s) beyond {threshold:.0%}; red worse, green better, orange not significant",
                      [Section("Change per metric", comparison_figure(comparison))])
