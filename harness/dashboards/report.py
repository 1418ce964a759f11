"""Every dashboard in one command: the latest run's page (latency, telemetry, energy, KPIs),
latest-vs-previous comparison, and the history of all runs (`harness dashboards -o DIR`)."""

from __future__ import annotations

from pathlib import Path

from harness.dashboards.compare import render_compare
from harness.dashboards.history import render_history
from harness.dashboards.run import render_runs
from harness.errors import UserError
from harness.store import Store

__all__ = ["render_all"]


def render_all(store: Store, out_dir: Path, suite: str | None = None, threshold: float = 0.05) -> list[Path]:
    runs = [m for m in store.runs() if m["status"] == "complete" and (suite is None or m["suite"]["name"] == suite)]
    if not runs:
        raise UserError(f"no complete runs{f' of suite {suite!r}' if suite else ''} in {store.root}")
    runs.sort(key=lambda m: (m["created_utc"], m["run_id"]))
    out_dir = Path(out_dir)
    pages = [render_runs(store, [runs[-1]["run_id"]], out_dir / "run.html"),
             render_history(store, suite, out_dir / "history.html", threshold)]
    if len(runs) > 1:
        pages.append(render_compare(store, runs[-2]["run_id"], runs[-1]["run_id"], out_dir / "compare.html",
                                    threshold))
    return pages
