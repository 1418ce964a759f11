"""Energy–accuracy Pareto per device: each variant's training energy against what it buys.

Accuracy comes from an `accuracy_gain` result column when the personalization pipeline records it;
otherwise the final training loss stands in (lower is better) and the axis says so. Only jobs with
resolved energy are drawn; the note counts the rest.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

__all__ = ["pareto_front", "pareto_figure"]


def pareto_front(energy: pd.Series, quality: pd.Series, higher_is_better: bool) -> pd.Index:
    """Index labels of points no other point beats in both energy (lower) and quality."""
    q = quality if higher_is_better else -quality
    order = energy.sort_values(kind="stable").index
    front, best = [], float("-inf")
    for i in order:
        if q[i] > best:
            front.append(i)
            best = q[i]
    return pd.Index(front)


def pareto_figure(results: pd.DataFrame) -> tuple[go.Figure, str]:
    fig = go.Figure()
    if not {"energy_status", "energy_per_item_j", "signature"} <= set(results):
        fig.add_annotation(text="results carry no energy columns", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
        return fig, "no energy columns in these results"
    train = results[results["signature"] == "train"]
    resolved = train[train["energy_status"] == "ok"]
    higher = "accuracy_gain" in resolved and resolved["accuracy_gain"].notna().any()
    quality_col = "accuracy_gain" if higher else "final_loss"
    note = f"{len(resolved)} of {len(train)} training jobs have resolved energy"
    if resolved.empty or quality_col not in resolved:
        reasons = sorted({f"{r.energy_source or 'no source'}: {r.energy_status}" for r in train.itertuples()})
        fig.add_annotation(text="no training job with resolved energy (" + ("; ".join(reasons) or "no training jobs")
                                + "); a phone or a phone twin (sim:<profile>, modelled) gives one", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper")
        return fig, note
    points = resolved.groupby(["device_id", "variant", "energy_kind"], as_index=False).agg(
        energy=("energy_per_item_j", "median"), quality=(quality_col, "median"))
    for device, g in points.groupby("device_id"):
        front = pareto_front(g["energy"], g["quality"], higher)
        fig.add_trace(go.Scatter(x=g["energy"], y=g["quality"], mode="markers+text", text=g["variant"],
                                 textposition="top center", name=f"{device} ({', '.join(g['energy_kind'].unique())})"))
        line = g.loc[front].sort_values("energy")
        fig.add_trace(go.Scatter(x=line["energy"], y=line["quality"], mode="lines", line_dash="dot",
                                 name=f"{device} Pareto front"))
    fig.update_layout(xaxis_title="energy per training step (J, net of idle baseline)",
                      yaxis_title="accuracy gain (higher is better)" if higher else "final loss (lower is better)",
                      height=420, margin=dict(l=10, r=10, t=10, b=40))
    return fig, note
