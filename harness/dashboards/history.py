"""History across runs: per-run latency of every variant and workload, with detected steps marked."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from harness.compare import History, history
from harness.dashboards.html import Section, write_page
from harness.store import Store

__all__ = ["history_figure", "render_history"]


def history_figure(result: History, metric: str) -> go.Figure:
    fig = go.Figure()
    for entry in result.entries:
        if entry.metric != metric:
            continue
        name = " · ".join(entry.key) + (" (regressed)" if entry.regression else "")
        fig.add_trace(go.Scattergl(x=list(range(len(entry.values))), y=entry.values, mode="lines+markers",
                                   name=name, hovertext=list(entry.run_ids)))
        for run_id, before, after in entry.steps:
            x = entry.run_ids.index(run_id)
            fig.add_annotation(x=x, y=after, text=f"{after / before - 1:+.0%}", showarrow=True, arrowhead=2)
    fig.update_layout(xaxis_title="run (oldest first)", yaxis_title=f"{metric} (measured)", height=460,
                      margin=dict(l=10, r=10, t=10, b=40))
    return fig


def render_history(store: Store, suite: str | None, out: Path, threshold: float = 0.05) -> Path:
    result = history(store, suite, threshold=threshold)
    runs = len({r for e in result.entries for r in e.run_ids})
    return write_page(out, f"History of {suite or 'all suites'}",
                      f"{runs} complete runs; {len(result.regressions)} series regressed beyond {threshold:.0%}",
                      [Section(f"{m} per run", history_figure(result, m))
                       for m in ("latency_p50_ms", "latency_p90_ms")])
