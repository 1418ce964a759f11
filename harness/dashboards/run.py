"""The per-run dashboard: latency distributions, training loss curves, delta sizes, and for one run its
telemetry timeline (job spans shaded), energy–accuracy Pareto, KPIs, each sustained job's throttling curve
and runner-against-runner ratios; then the job table (with load time, peak memory and placement).

Events are aggregated in DuckDB over the stored Parquet files (quartiles, job spans, loss curves), never
loaded whole: a long job's millions of invokes cost the dashboard neither memory nor page size.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from harness.analysis.kpis import RunKPIs, run_kpis
from harness.analysis.runners import runner_ratios
from harness.dashboards.html import Section, short_commit, write_page
from harness.dashboards.pareto import pareto_figure
from harness.dashboards.sustained import sustained_sections
from harness.dashboards.timeline import timeline_figure
from harness.events import MEASURED_SQL, is_modelled
from harness.store import Store

__all__ = ["render_runs"]


def _label(row: pd.Series | dict) -> str:
    return f"{row['variant']} · {row['workload']}"


_BOXES_SQL = f"""
WITH measured AS (SELECT e.run_id, e.job_id, e.latency_ms FROM events e WHERE {MEASURED_SQL})
SELECT m.run_id, j.device_id, j.variant, j.workload, count(*) AS n, min(latency_ms) AS lo, max(latency_ms) AS hi,
       avg(latency_ms) AS mean, quantile_cont(latency_ms, [0.25, 0.5, 0.75]) AS q
FROM measured m JOIN jobs j USING (run_id, job_id)
GROUP BY ALL ORDER BY ALL
"""


def _latency_figure(con: duckdb.DuckDBPyConnection, results: pd.DataFrame) -> go.Figure:
    """One box per (run, device, variant, workload): quartiles, whiskers at 1.5 IQR within the data."""
    fig = go.Figure()
    con.register("jobs", results[["run_id", "job_id", "variant", "workload", "device_id"]])
    for row in con.execute(_BOXES_SQL).df().itertuples():
        q1, median, q3 = row.q
        iqr = q3 - q1
        fig.add_trace(go.Box(
            y=[f"{row.variant} · {row.workload} · {row.device_id} · {row.run_id[-6:]}"], q1=[q1], median=[median],
            q3=[q3], mean=[row.mean], lowerfence=[max(row.lo, q1 - 1.5 * iqr)],
            upperfence=[min(row.hi, q3 + 1.5 * iqr)], orientation="h", boxpoints=False,
            hovertext=f"{row.n:,} measured"))
    fig.update_layout(xaxis_title="latency per invoke / train step (ms, measured, log scale)", xaxis_type="log",
                      height=140 + 40 * max(1, len(fig.data)), margin=dict(l=10, r=10, t=10, b=40), showlegend=False)
    return fig


def _loss_figure(con: duckdb.DuckDBPyConnection, results: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    steps = con.execute("SELECT run_id, job_id, idx, loss FROM events WHERE event = 'train_step' AND "
                        "stream = job_id ORDER BY run_id, job_id, seq").df()
    steps = steps.merge(results[["run_id", "job_id", "variant", "workload", "repetition", "device_id"]],
                        on=["run_id", "job_id"])
    for (run_id, _), group in steps.groupby(["run_id", "job_id"]):
        first = group.iloc[0]
        fig.add_trace(go.Scatter(x=group["idx"], y=group["loss"], mode="lines",
                                 name=f"{_label(first)} · rep {first['repetition']} · {run_id[-6:]}"))
    fig.update_layout(xaxis_title="train step", yaxis_title="loss (measured)", height=380,
                      margin=dict(l=10, r=10, t=10, b=40))
    return fig


def _delta_figure(results: pd.DataFrame) -> go.Figure:
    trained = results.dropna(subset=["delta_bytes"]) if "delta_bytes" in results else results.iloc[0:0]
    per_variant = trained.groupby("variant")["delta_bytes"].max().sort_values()
    fig = go.Figure(go.Bar(x=per_variant.values, y=per_variant.index, orientation="h",
                           text=[f"{int(v):,} B" for v in per_variant.values], textposition="auto"))
    fig.update_layout(xaxis_title="personalization delta (bytes returned by get_weights)",
                      height=140 + 40 * max(1, len(per_variant)), margin=dict(l=10, r=10, t=10, b=40))
    return fig


def _job_table(results: pd.DataFrame) -> str:
    cols = ["run_id", "job_id", "variant", "workload", "device_id", "repetition", "status", "n", "p50_ms",
            "median_ci_low_ms", "median_ci_high_ms", "p90_ms", "p99_ms", "final_loss", "delta_bytes", "runner",
            "load_ms", "peak_rss_bytes", "affinity", "cpu_governor", "ops", "delegated_ops", "time_to_throttle_s"]
    present = [c for c in cols if c in results]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in present)
    body = []
    for _, row in results[present].iterrows():
        cells = []
        for c in present:
            v = row[c]
            text = "" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _kpi_rows(k: RunKPIs, telemetry: str) -> list[tuple[str, str, str]]:
    """(KPI, value with unit, source) rows; a KPI that cannot be computed says why instead of a value."""
    def why(word: str) -> str:
        return next((n for n in k.notes if word in n), "not computed")

    rows = []
    if k.thermal_fraction:
        shares = ", ".join(f"status {s}: {f:.0%}" for s, f in sorted(k.thermal_fraction.items()))
        rows += [("time per thermal status", shares, telemetry),
                 ("hottest thermal status", f"{k.max_thermal_status} ({'throttled' if k.throttled else 'nominal'})",
                  telemetry)]
    else:
        rows.append(("time per thermal status", "— " + why("thermal"), telemetry))
    if k.personalization_power_w is not None:
        rows.append(("power while personalizing", f"{k.personalization_power_w:.3f} W", telemetry))
        if k.baseline_power_w is not None:
            rows.append(("idle power before it", f"{k.baseline_power_w:.3f} W (× {k.personalization_drain_ratio:.1f})",
                         telemetry))
    else:
        rows.append(("power while personalizing", "— " + why("drain"), telemetry))
    if k.battery_level_delta_pct is not None:
        rows.append(("battery level change during personalization", f"{k.battery_level_delta_pct:+.4f} %", telemetry))
    for variant, g in sorted(k.accuracy_gain_per_j.items()):
        rows.append((f"accuracy gain per joule, {variant}", f"{g * 100:+.3g} points/J", telemetry))
    if not k.accuracy_gain_per_j:
        rows.append(("accuracy gain per joule", "— " + why("accuracy"), ""))
    for label, p in sorted(k.latency_ms.items()):
        rows.append((f"latency, {label}", f"p50 {p['p50']:.3f} · p90 {p['p90']:.3f} · p99 {p['p99']:.3f} ms",
                     "measured"))
    for variant, size in sorted(k.delta_bytes.items()):
        rows.append((f"personalization delta, {variant}", f"{size:,} bytes", "artifact"))
    if k.foreground_p50_ms is not None:
        rows.append(("inference latency under an update", f"p50 {k.foreground_p50_ms:.3f} · p99 "
                     f"{k.foreground_p99_ms:.3f} ms", "measured"))
    else:
        rows.append(("inference latency under an update", "— " + why("foreground"), ""))
    return rows


def _kpi_table(k: RunKPIs, samples: pd.DataFrame) -> str:
    sources = sorted(set(samples["source"])) if len(samples) else []
    models = sorted({s.split("/")[0] for s in sources if is_modelled(s)})
    measured = sorted({s for s in sources if not is_modelled(s)})
    telemetry = " · ".join([*(f"modelled ({m})" for m in models), *(f"measured ({m})" for m in measured)]) or "—"
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(a)}</th><td>{html.escape(b)}</td>"
                   f"<td style='text-align:left'>{html.escape(c)}</td></tr>" for a, b, c in _kpi_rows(k, telemetry))
    return f"<table class='kpis'><tr><th>KPI</th><th>value</th><th>source</th></tr>{body}</table>"


def _energy_sections(results: pd.DataFrame, con: duckdb.DuckDBPyConnection, samples: pd.DataFrame) -> list[Section]:
    pareto, pareto_note = pareto_figure(results)
    # the foreground-under-training KPI reads the events of jobs with a background job beside them only
    beside = list(results.loc[results["background_workload"].notna(), "job_id"]) if len(results) else []
    events = con.execute("SELECT * EXCLUDE (payload) FROM events WHERE list_contains(?, job_id)", [beside]).df()
    kpis = _kpi_table(run_kpis(results, events, samples), samples)
    spans = con.execute("SELECT job_id, min(coalesce(start_ns, t_ns)) AS start_ns, max(coalesce(end_ns, t_ns)) "
                        "AS end_ns FROM events GROUP BY job_id ORDER BY job_id").df()
    return [
        Section("Telemetry timeline", timeline_figure(results, samples, spans),
                note="As sampled on the device (modelled sources are labelled); shaded: job spans; long traces "
                     "downsampled with LTTB."),
        Section("Energy–accuracy Pareto per device", pareto, note=pareto_note),
        Section("KPIs", fragment=kpis, note="Latency is measured on the device; power, battery and thermal KPIs "
                "carry their source: a phone twin's are modelled (model:<profile>)."),
    ]


def _runner_sections(store: Store, run_id: str, results: pd.DataFrame) -> list[Section]:
    """Runner against runner, when one model ran with several runners on one device."""
    ok = results[results["status"].eq("ok")]
    if ok.empty or ok.groupby(["variant", "device_id"])["runner"].nunique().max() < 2:
        return []
    spans = store.measured(run_id, list(ok["job_id"]))
    ratios = runner_ratios(ok, {job: f["latency_ms"].to_numpy() for job, f in spans.items()})
    if not ratios:
        return []
    fig = go.Figure()
    for r in ratios:
        label = f"{r.variant} · {r.device_id} · {r.runner} vs {r.reference}"
        error = {} if r.low is None else {"error_x": {"type": "data", "symmetric": False,
                                                      "array": [r.high - r.ratio], "arrayminus": [r.ratio - r.low]}}
        fig.add_trace(go.Bar(x=[r.ratio], y=[label], orientation="h", name=label, showlegend=False, **error,
                             hovertext=f"{r.shape}; {r.statistic}" + ("" if r.low is not None else
                                                                      ", no interval (aggregates only)")))
    fig.add_vline(x=1.0, line_dash="dot")
    fig.update_layout(xaxis_title="latency ÷ the reference runner's (1 = as fast)", height=160 + 40 * len(ratios))
    return [Section("Runner against runner", fig,
                    note="Same model, device, signature, delegate and threads; bars: ratio of median latencies with a "
                         "95% bootstrap interval over the jobs' invokes (benchmark_model: ratio of means, no "
                         "interval). Above 1: slower than the reference runner.")]


def render_runs(store: Store, run_refs: Sequence[str], out: Path) -> Path:
    """Write one dashboard for one or more runs (figures overlay the runs)."""
    run_ids = [store.resolve(r) for r in run_refs]
    manifests = [store.manifest(r) for r in run_ids]
    results = pd.concat([store.results(r) for r in run_ids], ignore_index=True)
    con = store.events_view(run_ids)
    if results.empty:
        sections = [Section("No jobs", note="These runs stored no jobs yet.")]
    else:
        sections = [
            Section("Latency distribution per variant and workload", _latency_figure(con, results),
                    note="Measured on the device: per-invoke (infer) and per-step (train) wall time, "
                         "warm-up excluded."),
            Section("Training loss curves", _loss_figure(con, results),
                    note="Loss returned by the train signature at each on-device optimizer step."),
            Section("Personalization delta size", _delta_figure(results),
                    note="Bytes of the parameters get_weights returns: what a phone stores or uploads per person."),
        ]
        if len(run_ids) == 1:
            sections += _energy_sections(results, con, store.samples(run_ids[0]))
            sections += sustained_sections(store, run_ids[0], results)
            sections += _runner_sections(store, run_ids[0], results)
        sections.append(Section("Jobs", fragment=_job_table(results)))
    devices = sorted({d["id"] + " (" + d["soc"] + ")" for m in manifests for d in m.get("devices", [])})
    meta = (f"runs: {', '.join(run_ids)} · suite: {', '.join(sorted({m['suite']['name'] for m in manifests}))} · "
            f"status: {', '.join(m['status'] for m in manifests)} · devices: {', '.join(devices)} · "
            f"commit: {', '.join(sorted({short_commit(m['git_commit']) for m in manifests}))}")
    title = f"Run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"
    return write_page(out, title, meta, sections)

