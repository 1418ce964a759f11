"""The page of one simulated day (`harness simulate-day`): battery, skin temperature and thermal status over
the day per policy (all modelled, labelled with the twin's profile), and the day's figures as a table."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.dashboards.html import Section, short_commit, write_page
from harness.simulate import load_stored_day

__all__ = ["render_day", "day_rows"]

_ROWS = ("battery level (%)", "skin temperature (C)", "thermal status", "updating")


def day_rows(result: dict[str, Any], capacity_note: str = "") -> list[tuple[str, str]]:
    """(label, value with unit) for one policy's day: what the table and the page show."""
    r = result
    gain = r["gain_per_j"]
    return [
        ("battery for personalization", f"{r['personalization_battery_pct']:.3f} % of capacity "
                                        f"({r['personalization_battery_j']:.1f} J from the battery)"),
        ("energy for personalization", f"{r['personalization_j']:.1f} J (charger or battery)"),
        ("energy for inference", f"{r['inference_j']:.1f} J"),
        ("updates", f"{r['updates_completed']} completed of {r['updates_started']} started, {r['pauses']} paused"),
        ("training steps", f"{r['steps_done']} done, {r['steps_skipped']} skipped (not allowed by midnight)"),
        ("waited for", ", ".join(f"{k}: {v} min" for k, v in sorted(r["deferred"].items())) or "nothing"),
        ("time per thermal status", ", ".join(f"{k}: {v} min" for k, v in r["minutes_in_status"].items())),
        ("hottest skin", f"{r['max_skin_c']:.1f} C ({r['degrees_added_c']:+.2f} C over the day without "
                         "personalization)"),
        ("accuracy", f"{r['accuracy_start_pct']:.1f} % → {r['accuracy_end_pct']:.1f} %"),
        ("accuracy gain per joule", "—" if gain is None else f"{gain:.4f} points/J"),
        ("battery at midnight", f"{r['battery_end_pct']:.1f} %"),
    ]


def _figure(results: list[dict[str, Any]], label: str) -> go.Figure:
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05, subplot_titles=_ROWS,
                        row_heights=[0.3, 0.3, 0.25, 0.15])
    for r in results:
        t = r["timeline"]
        name = f"{r['policy']} ({label}, modelled)"
        for row, key in enumerate(("level", "skin", "status", "updating"), start=1):
            shape = "hv" if key in ("status", "updating") else "linear"
            fig.add_trace(go.Scatter(x=t["hour"], y=t[key], mode="lines", name=name, legendgroup=r["policy"],
                                     showlegend=row == 1, line_shape=shape), row=row, col=1)
    fig.update_xaxes(title_text="hour of the day", row=4, col=1)
    fig.update_layout(height=820, margin=dict(l=10, r=10, t=30, b=40), legend=dict(orientation="h"))
    return fig


def _table(results: list[dict[str, Any]]) -> str:
    rows = [day_rows(r) for r in results]
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(r['policy'])}</th>" for r in results) + "</tr>"
    body = "".join("<tr><th>" + html.escape(label) + "</th>"
                   + "".join(f"<td>{html.escape(cells[i][1])}</td>" for cells in rows) + "</tr>"
                   for i, (label, _) in enumerate(rows[0]))
    return f"<table>{head}{body}</table>"


def render_day(folder: Path, out: Path | None = None) -> Path:
    data = load_stored_day(folder)
    m, results = data["manifest"], data["results"]
    meta = (f"day {m['day_id']} · twin {m['label']} ({m['profile_description']}) · trace {m['day']['name']}: "
            f"{m['day']['description']} · variant {m['costs']['variant']} · commit {short_commit(m['git_commit'])}")
    sources = "; ".join(m["day"]["sources"])
    sections = [
        Section("The day, per policy", _figure(results, m["label"]),
                note=f"Every curve is modelled by the twin {m['label']} around timings measured on the host "
                     f"({m['costs']['source']}). Trace sources: {sources}"),
        Section("Figures", fragment=_table(results),
                note=f"Accuracy: {m['accuracy_curve']['source']}. Battery share: of the cell's energy from full "
                     "to empty; energy drawn while charging comes from the charger."),
    ]
    return write_page(out or Path(folder) / "day.html", f"Simulated day {m['day_id']}", meta, sections)
