"""Every dashboard in one command: the latest run's telemetry and energy page, latest-vs-previous
comparison, and the history of all runs (`harness dashboards -o DIR`)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from harness.analysis.kpis import run_kpis
from harness.dashboards.compare import render_compare
from harness.dashboards.history import render_history
from harness.dashboards.html import Section, write_page
from harness.dashboards.pareto import pareto_figure
from harness.dashboards.timeline import timeline_figure
from harness.errors import UserError
from harness.store import Store

__all__ = ["render_energy", "render_all"]


def render_energy(store: Store, run_ref: str, out: Path) -> Path:
    """Telemetry timeline (job spans shaded), energy–accuracy Pareto and the run's KPIs."""
    run_id = store.resolve(run_ref)
    results, events, samples = store.results(run_id), store.events(run_id), store.samples(run_id)
    kpis = run_kpis(results, events, samples) if not results.empty else None
    pareto, pareto_note = pareto_figure(results)
    kpi_text = json.dumps(kpis.to_dict() if kpis else {}, indent=1, default=str)
    return write_page(out, f"Telemetry and energy of run {run_id}",
                      "power, temperatures and thermal status as sampled (modelled sources are labelled)", [
                          Section("Telemetry timeline", timeline_figure(results, samples, events),
                                  note="Shaded: job spans. Long traces downsampled with LTTB."),
                          Section("Energy–accuracy Pareto per device", pareto, note=pareto_note),
                          Section("KPIs", fragment=f"<pre>{html.escape(kpi_text)}</pre>"),
                      ])


def render_all(store: Store, out_dir: Path, suite: str | None = None, threshold: float = 0.05) -> list[Path]:
    runs = [m for m in store.runs() if m["status"] == "complete" and (suite is None or m["suite"]["name"] == suite)]
    if not runs:
        raise UserError(f"no complete runs{f' of suite {suite!r}' if suite else ''} in {store.root}")
    runs.sort(key=lambda m: (m["created_utc"], m["run_id"]))
    out_dir = Path(out_dir)
    pages = [render_energy(store, runs[-1]["run_id"], out_dir / "energy.html"),
             render_history(store, suite, out_dir / "history.html", threshold)]
    if len(runs) > 1:
        pages.append(render_compare(store, runs[-2]["run_id"], runs[-1]["run_id"], out_dir / "compare.html",
                                    threshold))
    return pages
