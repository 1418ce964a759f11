"""Telemetry timeline of one run: power, temperatures and thermal status, with job spans shaded.

Long traces are downsampled per channel with LTTB (harness.downsample), so one hour at 100 Hz stays
interactive; cumulative energy counters (J) are drawn as power (W) between consecutive readings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.downsample import lttb

__all__ = ["timeline_figure"]

_ROWS = ("power (W)", "temperature (C)", "thermal status")


def _row(unit: str) -> int | None:
    return {"W": 1, "J": 1, "C": 2, "level": 3}.get(unit)


def timeline_figure(results: pd.DataFrame, samples: pd.DataFrame, spans: pd.DataFrame,
                    max_points: int = 2000) -> go.Figure:
    """Samples by unit in three rows; `spans` (job_id, start_ns, end_ns: each job's first and last event
    stamp) shaded."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, subplot_titles=_ROWS)
    stamps = [s for s in (samples.get("t_ns"), spans.get("start_ns")) if s is not None]
    stamps = pd.concat(stamps).dropna() if stamps else pd.Series(dtype=float)
    if stamps.empty:
        fig.add_annotation(text="no telemetry or events stored for this run", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
        return fig
    if samples.empty:
        fig.add_annotation(text="no telemetry sampled: this run's devices read no power, battery or thermal sensor "
                                "(e.g. a VM host without RAPL or thermal zones; see `harness devices`); a phone or a "
                                "phone twin (sim:<profile>, modelled) fills this", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
        return fig
    origin = int(stamps.min())
    for (source, channel, unit), g in samples.groupby(["source", "channel", "unit"]) if not samples.empty else ():
        row = _row(unit)
        if row is None:
            continue
        g = g.drop_duplicates("t_ns").sort_values("t_ns")
        t = (g["t_ns"].to_numpy(np.int64) - origin) / 1e9
        y = g["value"].to_numpy(float)
        if unit == "J":  # cumulative counter -> mean power between readings (a wrap shows as a gap)
            dt = np.diff(t)
            keep = dt > 0
            t, y = t[1:][keep], (np.diff(y)[keep] / dt[keep])
            y[y < 0] = np.nan
        kept = lttb(t, np.nan_to_num(y), max_points)
        label = "modelled" if source.startswith("model:") else "measured"
        fig.add_trace(go.Scattergl(x=t[kept], y=y[kept], mode="lines", name=f"{source}/{channel} ({label})",
                                   line_shape="hv" if unit == "level" else "linear"), row=row, col=1)
    labels = dict(zip(results["job_id"], results["variant"] + " · " + results["workload"])) if len(results) else {}
    # one layout update: add_vrect per job re-walks every subplot and takes seconds for long runs
    shapes, notes = [], list(fig.layout.annotations)
    for job, start, end in spans[["job_id", "start_ns", "end_ns"]].itertuples(index=False):
        x0, x1 = (start - origin) / 1e9, (end - origin) / 1e9
        shapes.append(dict(type="rect", xref="x", yref="paper", x0=x0, x1=x1, y0=0, y1=1, fillcolor="#88a",
                           opacity=0.15, line_width=0, layer="below"))
        notes.append(dict(x=x0, y=1, xref="x", yref="paper", text=job, hovertext=labels.get(job, job),
                          showarrow=False, xanchor="left", yanchor="bottom", font_size=9))
    fig.update_layout(shapes=shapes, annotations=notes)
    fig.update_xaxes(title_text="seconds since the run's first stamp (device clock)", row=3, col=1)
    fig.update_layout(height=720, margin=dict(l=10, r=10, t=30, b=40), legend=dict(orientation="h"))
    return fig
