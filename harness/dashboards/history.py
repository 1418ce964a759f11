"""History across runs: per run, the latency of every device, variant and workload against the run's date,
with its commit, device and interval in the hover and detected steps marked.

Each series is drawn as its change against its own first run (%), so a 10 µs and a 30 ms series read on one
axis; a button switches to absolute values on a log axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go

from harness.compare import HISTORY_CONFIDENCE, HISTORY_METRICS, History, HistoryEntry, history
from harness.dashboards.html import Section, short_commit, write_page
from harness.store import Store

__all__ = ["RELATIVE", "ABSOLUTE", "history_figure", "render_history"]

RELATIVE = "change vs first run (%)"  # the modes, as their buttons read
ABSOLUTE = "absolute (ms, log axis)"
_TICKED_RUNS = 10
_NOTE = (f"x: the run's date (UTC), one point per run (up to {_TICKED_RUNS} runs, a tick each with its commit). "
         "y: each series' change against its own first run, in % on a linear axis, so series of very different "
         f"size read together; the button '{ABSOLUTE}' shows the values themselves on a log axis. The y axis "
         "spans the values: an interval beyond it is cut at the edge (double-click the plot for all of it). Hover: "
         f"commit, device, value and its {HISTORY_CONFIDENCE:.0%} interval (the median over the run's repetitions "
         "± Student's t × their spread, log scale).")


def _scale(entry: HistoryEntry, mode: str) -> Callable[[float], float]:
    first = entry.values[0]
    return (lambda v: 100 * (v / first - 1)) if mode == RELATIVE else float


def _errors(entry: HistoryEntry, scale: Callable[[float], float]) -> dict:
    """Asymmetric error bars of each run's interval (none for a run without one)."""
    up, down = [], []
    for value, interval in zip(entry.values, entry.intervals, strict=True):
        low, high = interval or (math.nan, math.nan)
        up.append(scale(high) - scale(value))
        down.append(scale(value) - scale(low))
    return dict(type="data", symmetric=False, array=up, arrayminus=down, thickness=1)


def _span(series: list[list[float]], log: bool) -> list[float] | None:
    """A y range holding every value with a margin (log10 units on a log axis), so that one wide interval (two
    noisy repetitions) is cut at the edge instead of flattening every series; None without values."""
    values = [math.log10(v) if log else v for line in series for v in line if v > 0 or not log]
    if not values:
        return None
    low, high = min(values), max(values)
    pad = 0.15 * (high - low) or (0.1 if log else 1.0)
    return [low - pad, high + pad]


def _hover(entry: HistoryEntry, i: int) -> str:
    value, interval, n = entry.values[i], entry.intervals[i], entry.repetitions[i]
    ci = (f"{HISTORY_CONFIDENCE:.0%} CI [{interval[0]:.4g}, {interval[1]:.4g}] ms over {n} repetitions" if interval
          else f"no CI: {n} repetition")
    return "<br>".join((f"run {entry.run_ids[i]} · {entry.created_utc[i]}", f"commit {short_commit(entry.commits[i])}",
                        f"device {entry.key[0]}",
                        f"{entry.metric} {value:.4g} ms ({_scale(entry, RELATIVE)(value):+.1f} % vs first run)", ci))


def history_figure(result: History, metric: str) -> go.Figure:
    """One trace per key with one point per run, in `RELATIVE` mode; buttons switch to `ABSOLUTE` and back."""
    fig = go.Figure()
    ticks: dict[str, str] = {}  # date -> tick label
    ys: dict[str, list] = {RELATIVE: [], ABSOLUTE: []}
    errors: dict[str, list] = {RELATIVE: [], ABSOLUTE: []}
    steps: dict[str, list] = {RELATIVE: [], ABSOLUTE: []}
    for entry in (e for e in result.entries if e.metric == metric):
        dates = [c.replace("T", " ").removesuffix("Z") for c in entry.created_utc]  # plotly.js reads no offset
        ticks.update((d, f"{d}<br>{short_commit(c)}") for d, c in zip(dates, entry.commits, strict=True))
        for mode in ys:
            scale = _scale(entry, mode)
            ys[mode].append([scale(v) for v in entry.values])
            errors[mode].append(_errors(entry, scale))
            for run_id, before, after in entry.steps:
                y = scale(after) if mode == RELATIVE else math.log10(after)  # log axes place annotations by log10
                steps[mode].append(dict(x=dates[entry.run_ids.index(run_id)], y=y, text=f"{after / before - 1:+.0%}",
                                        showarrow=True, arrowhead=2))
        name = " · ".join(entry.key) + (" (regressed)" if entry.regression else "")
        fig.add_trace(go.Scatter(x=dates, y=ys[RELATIVE][-1], error_y=errors[RELATIVE][-1], mode="lines+markers",
                                 name=name, hovertext=[_hover(entry, i) for i in range(len(dates))],
                                 hoverinfo="text+name"))
    axes = {RELATIVE: dict(type="linear", title=dict(text=f"{metric}: {RELATIVE}"), range=_span(ys[RELATIVE], False)),
            ABSOLUTE: dict(type="log", title=dict(text=f"{metric} (ms, measured, log axis)"),
                           range=_span(ys[ABSOLUTE], True))}
    buttons = [dict(label=mode, method="update", args=[{"y": ys[mode], "error_y": errors[mode]},
                                                       {"yaxis": axes[mode], "annotations": steps[mode]}])
               for mode in (RELATIVE, ABSOLUTE)]
    # a tick per run with its commit while they fit; plotly's own date ticks beyond
    per_run = dict(tickvals=list(ticks), ticktext=list(ticks.values())) if len(ticks) <= _TICKED_RUNS else {}
    fig.update_layout(xaxis=dict(title="run date (UTC)", type="date", **per_run), yaxis=axes[RELATIVE],
                      annotations=steps[RELATIVE],
                      updatemenus=[dict(type="buttons", direction="right", active=0, buttons=buttons, x=0,
                                        xanchor="left", y=1.02, yanchor="bottom")],
                      height=480, margin=dict(l=10, r=10, t=50, b=40))
    return fig


def render_history(store: Store, suite: str | None, out: Path, threshold: float = 0.05) -> Path:
    result = history(store, suite, threshold=threshold)
    runs = len({r for e in result.entries for r in e.run_ids})
    return write_page(out, f"History of {suite or 'all suites'}",
                      f"{runs} complete runs; {len(result.regressions)} series regressed beyond {threshold:.0%}",
                      [Section(f"{m} per run", history_figure(result, m), note=_NOTE) for m in HISTORY_METRICS])
