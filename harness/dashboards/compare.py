"""Run-versus-run page: each metric's relative change with its interval, coloured by verdict, every colour in
the legend."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from harness.compare import IMPROVEMENT, NOT_SIGNIFICANT, REGRESSION, UNCHANGED, Comparison, Verdict, compare_runs
from harness.dashboards.html import Section, write_page
from harness.store import Store

__all__ = ["comparison_figure", "render_compare"]

_VERDICTS = {  # mark -> (colour, what the legend says it means)
    REGRESSION: ("#c0392b", "worse beyond threshold and floor, significant (regression)"),
    IMPROVEMENT: ("#27ae60", "better beyond threshold and floor, significant (improvement)"),
    NOT_SIGNIFICANT: ("#e67e22", "beyond threshold and floor, not significant or a side unstable"),
    UNCHANGED: ("#7f8c8d", "within the threshold or the noise floor (no change)"),
}
_THRESHOLD_COLOUR = "#999"
_NOTE = ("Bars: the new run's value against the base run's, one colour per verdict (legend); whiskers, in their "
         "bar's colour: the interval; dotted lines: ± the threshold.")


def _label(v: Verdict) -> str:
    return f"{v.metric} · {' · '.join(v.key)}"


def comparison_figure(comparison: Comparison) -> go.Figure:
    """One bar trace per verdict present (its colour and meaning in the legend), the threshold lines too."""
    measured = [v for v in comparison.verdicts if v.change is not None]
    fig = go.Figure()
    for mark, (colour, meaning) in _VERDICTS.items():
        group = [v for v in measured if v.mark == mark]
        if group:
            fig.add_trace(go.Bar(
                y=[_label(v) for v in group], x=[100 * v.change for v in group], orientation="h", name=meaning,
                marker_color=colour, showlegend=True,
                error_x=dict(type="data", symmetric=False, color=colour, array=[100 * (v.ci_high - v.change)
                                                                                for v in group],
                             arrayminus=[100 * (v.change - v.ci_low) for v in group]),
                hovertext=[f"{v.label}: {v.base:.4g} → {v.new:.4g} {v.unit}" for v in group]))
    threshold = f"± {comparison.threshold:.0%} threshold"
    for n, x in enumerate((-100 * comparison.threshold, 100 * comparison.threshold)):
        fig.add_vline(x=x, line_dash="dot", line_color=_THRESHOLD_COLOUR, name=threshold, legendgroup="threshold",
                      showlegend=n == 0)
    fig.update_layout(xaxis_title=f"change new vs base (%), {comparison.confidence:.0%} interval",
                      yaxis=dict(categoryorder="array", categoryarray=[_label(v) for v in measured]), barmode="overlay",
                      legend=dict(orientation="h", x=0, y=1.02, yanchor="bottom"),
                      height=220 + 28 * max(1, len(measured)), margin=dict(l=10, r=10, t=10, b=40))
    return fig


def render_compare(store: Store, base: str, new: str, out: Path, threshold: float = 0.05) -> Path:
    comparison = compare_runs(store, base, new, threshold=threshold)
    n = len(comparison.regressions)
    return write_page(out, f"Compare {comparison.base_run} → {comparison.new_run}",
                      f"{n} regression(s) beyond {threshold:.0%} and the floor",
                      [Section("Change per metric", comparison_figure(comparison), note=_NOTE)])
