"""The throttling curve of each sustained job: latency, energy per inference, temperature and thermal status
over the run, with the first throttle marked (harness.analysis.sustained defines every figure)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.analysis.sustained import throttling_curve
from harness.dashboards.html import Section
from harness.store import Store

__all__ = ["sustained_sections"]


def _figure(title: str, curve) -> go.Figure:
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("latency per inference (ms)", "energy per inference (mJ)",
                                        "temperature (°C) and thermal status"),
                        specs=[[{}], [{}], [{"secondary_y": True}]])
    modelled = curve.basis != "measured"
    fig.add_trace(go.Scatter(x=curve.t_s, y=curve.latency_ms, name="latency, measured", mode="lines+markers"),
                  row=1, col=1)
    if modelled:
        fig.add_trace(go.Scatter(x=curve.t_s, y=curve.device_latency_ms, mode="lines+markers",
                                 name="latency at the twin's clock (modelled)", line={"dash": "dash"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=curve.t_s, y=curve.energy_per_inference_j * 1e3, mode="lines+markers",
                             name="energy per inference" + (" (modelled)" if modelled else "")), row=2, col=1)
    fig.add_trace(go.Scatter(x=curve.t_s, y=curve.temp_c, name="hottest temperature", mode="lines"), row=3, col=1)
    fig.add_trace(go.Scatter(x=curve.t_s, y=curve.status, name="thermal status", mode="lines",
                             line={"shape": "hv", "dash": "dot"}), row=3, col=1, secondary_y=True)
    if curve.time_to_throttle_s is not None:
        fig.add_vline(x=curve.time_to_throttle_s, line_dash="dash", line_color="#c0392b")
        fig.add_annotation(x=curve.time_to_throttle_s, y=1.02, yref="paper", showarrow=False, font={"color": "#c0392b"},
                           text=f"first throttle at {curve.time_to_throttle_s:.1f} s")
    ratio = "—" if curve.steady_initial_ratio is None else f"{curve.steady_initial_ratio:.2f}×"
    fig.update_layout(title=f"{title} · late/early latency {ratio} · {curve.basis}", height=620,
                      margin={"t": 90})
    fig.update_xaxes(title_text="seconds after the first measured invoke", row=3, col=1)
    return fig


def sustained_sections(store: Store, run_id: str, results: pd.DataFrame) -> list[Section]:
    """One section per sustained job of a run (none when the run has none)."""
    if "sustained_s" not in results or results["sustained_s"].isna().all():
        return []
    jobs = results[results["sustained_s"].notna() & results["status"].eq("ok")]
    spans = store.measured(run_id, list(jobs["job_id"]))
    sections = []
    for _, row in jobs.iterrows():
        span = spans[row["job_id"]]
        curve = throttling_curve(span["start_ns"].to_numpy(), span["end_ns"].to_numpy(),
                                 span["latency_ms"].to_numpy(), store.samples(run_id, row["job_id"]))
        if curve is None:
            continue
        title = f"{row['variant']} · {row['workload']} · {row['device_id']}"
        never = "it never throttled" if curve.time_to_throttle_s is None else \
            f"first throttle {curve.time_to_throttle_s:.1f} s after the first measured invoke"
        sections.append(Section(f"Sustained run: {title}", _figure(title, curve),
                                note=f"{len(span)} invokes over {row['duration_s']:.0f} s in {len(curve.t_s)} "
                                     f"windows; {never}. Throttle = the CPU clock lowered (or thermal status ≥ 1 "
                                     f"where no clock is sampled). Basis: {curve.basis}."))
    return sections
