"""The `harness` command line. The only place that turns errors into messages and exit codes:
UserError → one line, exit 2; other HarnessError → one line, exit 1; Ctrl-C → exit 130."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from harness.analysis.stats import UNSTABLE_CV, repetition_cv
from harness.analysis.summary import instability_advice
from harness.errors import HarnessError, UserError
from harness.events import TIMED
from harness.jsonable import jsonable

__all__ = ["main"]

# Piped output gets a wide console so tables keep whole variant names (rich assumes 80 columns).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), indent=2, sort_keys=True) + "\n")


def _row(table: Table, *cells: str) -> None:
    """A table row of data: names from suites, models, phones and paths are shown as text, never as markup."""
    table.add_row(*(Text(str(c)) for c in cells))


def _store(args: argparse.Namespace):
    """The results store of `--results`; `main` reports the damaged files reading it skipped."""
    from harness.store import Store

    if args.results.exists() and not args.results.is_dir():
        raise UserError(f"--results {args.results} is not a directory (a results store is one)")
    args.opened_store = Store(args.results)
    return args.opened_store


def _report_damaged(args: argparse.Namespace) -> None:
    store = getattr(args, "opened_store", None)
    if store is not None and store.damaged and args.func is not cmd_store_check:
        for path, why in store.damaged.items():
            err.print(f"harness: warning: skipped damaged {path}: {why} (`harness store check` lists them all)",
                      markup=False, soft_wrap=True)


def _threshold(args: argparse.Namespace) -> float:
    """`--threshold PCT` as a fraction; UserError outside 0 <= PCT < 1000."""
    if not 0 <= args.threshold < 1000:
        raise UserError(f"--threshold must be a percentage between 0 and 1000, not {args.threshold}")
    return args.threshold / 100


# -- devices ---------------------------------------------------------------------------------------

def cmd_devices(args: argparse.Namespace) -> int:
    from harness.devices import survey

    found, problems = survey(args.timeout)
    if args.json:
        _print_json([{**d.to_dict(), "state": "ready", "capabilities": dev.capabilities.to_dict()}
                     for dev, d in found] + [dataclasses.asdict(p) for p in problems])
        return 0
    descriptions = [d for _, d in found]
    table = Table(title="Devices")
    for col in ("id", "model", "os", "soc / cpu", "abi", "cores", "battery", "energy sources", "thermal sources"):
        table.add_column(col)
    for d in descriptions:
        sources = ", ".join(f"{s.name} ({s.kind})" if s.available else f"{s.name}: no — {s.reason}"
                            for s in d.energy_sources) or "none"
        battery = f"{d.battery_capacity_mah:.0f} mAh" if d.battery_capacity_mah else "—"
        _row(table, d.id, d.model, d.os, d.soc, d.abi, str(d.cores), battery, sources,
             d.extra.get("thermal_sources", "not reported"))
    out.print(table)
    if problems:
        unusable = Table(title="Present but not usable")
        for col in ("id", "state", "fix"):
            unusable.add_column(col)
        for p in problems:
            _row(unusable, p.id, p.state, p.fix)
        out.print(unusable)
    return 0


# -- bench -----------------------------------------------------------------------------------------

class _RichReporter:
    """Draws a progress bar per job on stderr."""

    def __init__(self, progress: Progress, console: Console | None = None):
        self.progress, self.console = progress, console or err
        self.tasks: dict[str, tuple[Any, int]] = {}  # job id -> (its bar, expected events): devices that do not
        # share compute run at once

    def building(self, variant: str) -> None:
        # a cold cache trains and converts here (minutes): say so before the wait
        self.console.print(f"[dim]artifact[/] {escape(variant)} (taken from the cache, or built now: a task's "
                           "first build takes minutes)", soft_wrap=True)

    def job_started(self, job, expected_events: int) -> None:
        label = f"{job.job_id} {job.variant} · {job.workload.name} · {job.device} · rep {job.repetition}"
        self.tasks[job.job_id] = self.progress.add_task(escape(label), total=expected_events), expected_events

    def event(self, job, event: dict[str, Any]) -> None:
        if event.get("event") in TIMED:
            self.progress.advance(self.tasks[job.job_id][0])

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]note[/] {escape(message)}", soft_wrap=True)

    def device_lost(self, device_id: str, cause: str, jobs_left: int, run_id: str) -> None:
        self.console.print(f"[red]lost[/] {escape(cause)}; its {jobs_left} remaining job(s) wait for `harness bench "
                           f"--resume {escape(run_id)}`; the other devices carry on", soft_wrap=True)

    def job_finished(self, job, row: dict[str, Any]) -> None:
        task, total = self.tasks[job.job_id]
        if row["status"] == "ok":
            self.progress.update(task, completed=total)
        else:
            failed = f"{job.job_id} failed: {row['error_message']}"
            self.progress.update(task, description=f"[red]{escape(failed)}")


def _joules(value: float) -> str:
    for scale, unit in ((1, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} J"


def _energy_cells(ok, manifest: dict[str, Any]) -> tuple[str, str, str, str]:
    """(energy per inference or per update, its source and status, × the physical floor, gain per joule).

    A twin's figures carry their `model:<profile>` label in the source cell: measured and modelled never share
    a column unlabelled."""
    from harness.devices.sim.physics import MAC_FLOOR_PJ

    if ok.empty or "energy_status" not in ok:
        return "—", "—", "—", "—"
    first = ok.iloc[0]
    source = f"{first.get('energy_source') or '—'} ({first.get('energy_status')})"
    resolved = ok[ok["energy_status"] == "ok"]
    if resolved.empty:
        return "—", source, "—", "—"
    train = first["signature"] == "train"
    joules = float((resolved["energy_joules"] if train else resolved["energy_per_item_j"]).median())
    value = f"{_joules(joules)}/{'update' if train else 'inf'}"
    floor = "—"
    macs = manifest.get("macs_per_inference")
    if not train and macs:
        dtype = "int8" if "int8" in str(manifest.get("quantization") or "") else "fp32"
        floor = f"{joules / (macs * MAC_FLOOR_PJ[dtype] * 1e-12):,.0f}×"
    gain = resolved["accuracy_gain"].dropna() if "accuracy_gain" in resolved else resolved.iloc[0:0]
    per_j = f"{gain.median() * 100 / joules:+.3g} pts/J" if train and len(gain) else "—"
    return value, source, floor, per_j


def _energy_tables(rows: Sequence[dict[str, Any]], artifacts: dict[str, Any]) -> list[Table | str]:
    """Per device: energy per inference / per update, × the physical floor (MACs × 0.23 pJ int8, × 4.6 pJ fp32;
    Horowitz, ISSCC 2014), accuracy gain and gain per joule. One table per device, titled with its energy source,
    so a modelled figure (`model:<profile>`) never sits unlabelled beside a measured one; a device with no
    resolved energy is one line saying why."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty or "energy_status" not in frame:
        return []
    parts: list[Table | str] = []
    for device, d in frame.groupby("device_id", sort=False):
        ok = d[d["status"] == "ok"]
        resolved = ok[ok["energy_status"] == "ok"]
        if resolved.empty:
            first = (ok if len(ok) else d).iloc[0]
            why = f": {first['energy_reason']}" if first["energy_reason"] else ""
            parts.append(f"{device}: no energy figure ({first['energy_source'] or 'no source'}: "
                         f"{first['energy_status']}{why})")
            continue
        sources = sorted(set(resolved["energy_source"]))
        kind = "modelled" if all(s.startswith("model:") for s in sources) else "measured"
        table = Table(title=Text(f"Energy and accuracy on {device} ({kind}: {', '.join(sources)})"))
        for col in ("variant", "workload", "acc gain pts", "energy", "status", "× floor", "gain/J"):
            table.add_column(col, justify="left" if col in ("variant", "workload", "status") else "right",
                             overflow="fold")
        for (variant, workload), g in ok.groupby(["variant", "workload"], sort=False):
            value, source, floor, per_j = _energy_cells(g, artifacts.get(variant, {}))
            gain = g["accuracy_gain"].dropna() if "accuracy_gain" in g else g.iloc[0:0]
            _row(table, variant, workload, f"{gain.median() * 100:+.1f}" if len(gain) else "—", value,
                 source.rsplit("(", 1)[-1].rstrip(")"), floor, per_j)
        parts.append(table)
    return parts


def _summary(rows: Sequence[dict[str, Any]]) -> tuple[Table, list[str]]:
    """The summary table (medians over repetitions, the cv of p50 across them) and one warning per key whose
    cv is above UNSTABLE_CV, with the likeliest cause."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    table = Table(title="Summary (medians over repetitions; latency measured on the device)")
    for col in ("variant", "workload", "device", "jobs ok", "p50 ms", "cv", "p90 ms", "p99 ms", "final loss",
                "delta bytes"):
        table.add_column(col, justify="left" if col in ("variant", "workload", "device") else "right",
                         overflow="fold")  # names wrap, never cut

    def fmt(series, spec="{:.3f}"):
        series = series.dropna() if series is not None else series
        return spec.format(series.median()) if series is not None and len(series) else "—"

    warnings = []
    for (variant, workload, device), g in frame.groupby(["variant", "workload", "device_id"], sort=False):
        ok = g[g["status"] == "ok"]
        cv = repetition_cv(ok["p50_ms"]) if "p50_ms" in ok else None
        _row(table, variant, workload, device, f"{len(ok)}/{len(g)}", fmt(ok.get("p50_ms")),
             "—" if cv is None else f"{cv:.1%}", fmt(ok.get("p90_ms")), fmt(ok.get("p99_ms")),
             fmt(ok.get("final_loss"), "{:.4f}"), fmt(ok.get("delta_bytes"), "{:,.0f}"))
        if cv is not None and cv > UNSTABLE_CV:
            warnings.append(f"unstable: {variant} · {workload} · {device} varies {cv:.0%} across its {len(ok)} "
                            f"repetitions (> {UNSTABLE_CV:.0%}; compare calls no change on it): likely "
                            f"{instability_advice(ok.to_dict(orient='records'))}")
    return table, warnings


def _placement(rows: Sequence[dict[str, Any]]) -> tuple[Table | None, list[str]]:
    """Where each key's jobs ran and what loading and memory cost (medians), and a warning for every key whose
    delegate took no operator (its numbers are the CPU's, never a delegate result)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty or "load_ms" not in frame or frame[["load_ms", "peak_rss_bytes"]].isna().all().all():
        return None, []
    table = Table(title="Where jobs ran (medians; as each runner and sampler reported it, — where not exposed)")
    for col in ("variant", "workload", "device", "runner", "load ms", "peak MiB", "cpus", "governor", "MHz",
                "delegated ops"):
        table.add_column(col, justify="right" if col in ("load ms", "peak MiB") else "left", overflow="fold")
    warnings = []
    for (variant, workload, device), g in frame.groupby(["variant", "workload", "device_id"], sort=False):
        ok, first = g[g["status"] == "ok"], g.iloc[0]
        lo, hi = ok["cpu_mhz_min"].min(), ok["cpu_mhz_max"].max()
        ops = "—" if pd.isna(first.get("ops")) else (
            f"{first['delegated_ops']:.0f}/{first['ops']:.0f}" if pd.notna(first.get("delegated_ops")) else
            f"?/{first['ops']:.0f}" + (" (not all)" if first.get("fully_delegated") is False else ""))
        _row(table, variant, workload, device, first.get("runner") or "—",
             *(f"{v:.1f}" if pd.notna(v) else "—" for v in (ok["load_ms"].median(),
                                                             ok["peak_rss_bytes"].median() / 2**20)),
             *(first.get(c) if isinstance(first.get(c), str) else "—" for c in ("affinity", "cpu_governor")),
             f"{lo:.0f}–{hi:.0f}" if pd.notna(lo) else "—", ops)
        if (ok.get("delegate_used") is not None) and ok["delegate_used"].eq(False).any():
            warnings.append(f"no delegate: {variant} · {workload} · {device} asked for {first['delegate']!r}, which "
                            "took no operator: its numbers are the CPU's, not a delegate result")
    return table, warnings


def _sustained(rows: Sequence[dict[str, Any]]) -> Table | None:
    """Sustained runs: time to the first throttle and how much slower the end of the run was than its start."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty or "sustained_s" not in frame or frame["sustained_s"].isna().all():
        return None
    table = Table(title="Sustained runs (throttling curve in the dashboard)")
    for col in ("variant", "workload", "device", "ran s", "first throttle s", "late/early latency", "basis"):
        table.add_column(col, justify="right" if col.endswith(("s", "latency")) else "left", overflow="fold")
    for _, r in frame[frame["sustained_s"].notna()].iterrows():
        throttle = "never" if pd.isna(r["time_to_throttle_s"]) else f"{r['time_to_throttle_s']:.1f}"
        ratio = "—" if pd.isna(r["steady_initial_ratio"]) else f"{r['steady_initial_ratio']:.2f}×"
        _row(table, r["variant"], r["workload"], r["device_id"],
             "—" if pd.isna(r.get("duration_s")) else f"{r['duration_s']:.0f}", throttle, ratio,
             r["throttle_basis"] or "—")
    return table


def _runner_table(rows: Sequence[dict[str, Any]], store: Any, run_id: str) -> Table | None:
    """Runner against runner: each runner's latency over the reference runner's, same model and device."""
    import pandas as pd

    from harness.analysis.runners import runner_ratios

    frame = pd.DataFrame(rows)
    if frame.empty or frame.groupby(["variant", "device_id"])["runner"].nunique().max() < 2:
        return None
    spans = store.measured(run_id, [r["job_id"] for r in rows if r["status"] == "ok"])
    ratios = runner_ratios(frame, {job: f["latency_ms"].to_numpy() for job, f in spans.items()})
    if not ratios:
        return None
    table = Table(title="Runner against runner (latency ÷ the reference runner's, 95% bootstrap interval)")
    for col in ("variant", "device", "workload", "runner", "vs", "latency ×", "interval", "load ×"):
        table.add_column(col, justify="right" if "×" in col or col == "interval" else "left", overflow="fold")
    for r in ratios:
        interval = f"{r.low:.3g}–{r.high:.3g}" if r.low is not None else f"none ({r.statistic}s: aggregates only)"
        _row(table, r.variant, r.device_id, r.shape, r.runner, r.reference, f"{r.ratio:.3g}", interval,
             "—" if r.load_ratio is None else f"{r.load_ratio:.3g}")
    return table


def _print_summary(rows: Sequence[dict[str, Any]], store: Any = None, run_id: str | None = None) -> None:
    table, warnings = _summary(rows)
    out.print(table)
    placement, delegate_warnings = _placement(rows)
    for extra in (placement, _sustained(rows), _runner_table(rows, store, run_id) if store else None):
        if extra is not None:
            out.print(extra)
    for line in warnings + delegate_warnings:
        out.print(line, style="yellow", soft_wrap=True, markup=False)


@contextlib.contextmanager
def _native_logs_aside(verbose: bool) -> Iterator[Console]:
    """TensorFlow's and absl's C++ log lines (model builds print them on file descriptor 2) go to a log file,
    not the terminal, unless `verbose`; the console it yields writes to the real stderr (progress, notes)."""
    if verbose:
        yield err
        return
    import os
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.NamedTemporaryFile(prefix="harness-native-", suffix=".log", delete=False) as log:
        os.dup2(log.fileno(), 2)
    try:
        with os.fdopen(os.dup(saved), "w", buffering=1) as real:
            yield Console(file=real, stderr=True, highlight=False)
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if os.path.getsize(log.name) == 0:
            os.unlink(log.name)


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a CI timeout, a dropped ssh) stop a bench like Ctrl-C: devices are restored and
    the run is marked interrupted, keeping what it measured."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _bench_progress(console: Console) -> Iterator[_RichReporter]:
    """A bench's progress bar per job on `console`, SIGTERM/SIGHUP stopping it like Ctrl-C."""
    # counts and elapsed time first: at 100 columns a long job name wraps, the numbers never get cut
    progress = Progress(MofNCompleteColumn(), BarColumn(bar_width=12), TimeElapsedColumn(),
                        TextColumn("{task.description}", table_column=Column(no_wrap=False, overflow="fold")),
                        console=console)
    with progress, _stop_signals_interrupt():
        yield _RichReporter(progress, console)


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import resume_bench, run_bench
    from harness.dashboards.run import render_runs
    from harness.suite import DEFAULT_SUITE, load_suite

    if args.resume is not None and (args.suite or args.device):
        raise UserError("--resume runs the stored suite on the run's devices: drop --suite and --device")
    store = _store(args)
    opener = {}
    if args.lab is not None:
        from harness.lab.device import lab_opener

        opener = {"open_device": lab_opener(args.lab)}
    if args.job_timeout is not None and not args.job_timeout > 0:
        raise UserError(f"--job-timeout must be a number of seconds > 0, not {args.job_timeout}")
    with _native_logs_aside(args.verbose) as console, _bench_progress(console) as reporter:
        if args.resume is not None:
            result = resume_bench(store, args.resume, reporter=reporter, job_timeout_s=args.job_timeout, **opener)
        else:
            suite_path = args.suite or DEFAULT_SUITE
            result = run_bench(load_suite(suite_path), store, suite_path=suite_path, device_ids=args.device,
                               reporter=reporter, job_timeout_s=args.job_timeout, **opener)
    _print_summary(result.rows, store, result.run_id)
    for part in _energy_tables(result.rows, store.manifest(result.run_id).get("artifacts", {})):
        out.print(part, soft_wrap=True, markup=False) if isinstance(part, str) else out.print(part)
    dashboard = render_runs(store, [result.run_id], result.run_dir / "dashboard.html")
    failed = sum(r["status"] != "ok" for r in result.rows)
    out.print(f"run {result.run_id}: {result.status}, {len(result.rows)} jobs ({failed} failed) "
              f"stored in {result.run_dir}", soft_wrap=True, markup=False)
    if result.status == "incomplete":
        out.print(f"some jobs did not run: reconnect the lost devices and run `harness bench --resume "
                  f"{result.run_id}`", soft_wrap=True, markup=False)
    out.print(f"dashboard: {dashboard}", soft_wrap=True, markup=False)
    return 0 if failed == 0 else 1


# -- lab -------------------------------------------------------------------------------------------

def cmd_lab_agent(args: argparse.Namespace) -> int:
    from harness.lab.agent import serve

    if not args.interval > 0:
        raise UserError(f"--interval must be a number of seconds > 0, not {args.interval}")
    try:
        with _stop_signals_interrupt():
            serve(args.address, args.host, args.connect, interval_s=args.interval,
                  say=lambda line: out.print(line, soft_wrap=True, markup=False))
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM: the usual way to stop an agent; its phones leave the lab
        out.print("agent stopped; its phones left the lab", markup=False)
    return 0


def cmd_lab_phones(args: argparse.Namespace) -> int:
    from harness.lab.device import connect, lab_phones

    connect(args.address)
    phones = lab_phones()
    if args.json:
        _print_json(phones)
        return 0
    for device_id, host in sorted(phones.items()):
        out.print(f"{device_id}  on {host}", soft_wrap=True, markup=False)
    return 0


# -- forget ----------------------------------------------------------------------------------------

def cmd_forget(args: argparse.Namespace) -> int:
    from harness.devices import open_device
    from harness.devices.lock import device_lock

    with device_lock(args.device, "forget"):
        device = open_device(args.device)
        try:
            device.claim(f"forget on {args.device}")  # never under a bench another host is running
            lines = device.forget_personalization(args.variant)
        except NotImplementedError as exc:
            raise UserError(str(exc)) from None
        finally:
            device.close()
    for line in lines:
        out.print(line, markup=False, soft_wrap=True)
    return 0


# -- simulate-day ----------------------------------------------------------------------------------

def cmd_simulate_day(args: argparse.Namespace) -> int:
    from harness.bench import run_bench
    from harness.dashboards.day import day_rows, render_day
    from harness.simulate.cli import simulate_day_command

    with _native_logs_aside(args.verbose) as console:  # a variant with no stored costs is built and measured
        def measure(suite: Any, store: Any) -> Any:
            with _bench_progress(console) as reporter:
                return run_bench(suite, store, reporter=reporter)

        return simulate_day_command(args, _store(args), out, render_day, day_rows, measure)


# -- runs / show / dashboard -----------------------------------------------------------------------

def cmd_runs(args: argparse.Namespace) -> int:
    runs = _store(args).runs()
    keys = ("run_id", "created_utc", "status", "jobs_done", "jobs_planned", "git_commit")
    if args.json:
        _print_json([{**{k: m.get(k) for k in keys}, "suite": m["suite"]["name"],
                      "devices": [d["id"] for d in m.get("devices", [])]} for m in runs])
        return 0
    if not runs:
        out.print(f"no runs in {args.results}", markup=False)
        return 0
    table = Table(title=Text(f"Runs in {args.results}"))
    for col in ("run id", "created (UTC)", "suite", "devices", "status", "jobs", "commit"):
        table.add_column(col)
    for m in runs:
        _row(table, m["run_id"], m["created_utc"], m["suite"]["name"], ", ".join(d["id"] for d in m["devices"]),
             m["status"], f"{m['jobs_done']}/{m['jobs_planned']}", (m.get("git_commit") or "")[:12])
    out.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args)
    manifest = store.manifest(args.run)
    results = store.results(manifest["run_id"])
    jobs = results.to_dict(orient="records")
    if args.json:
        _print_json({"run": manifest, "jobs": jobs})
        return 0
    out.print(f"run {manifest['run_id']} · suite {manifest['suite']['name']} · {manifest['status']} · "
              f"{manifest['jobs_done']}/{manifest['jobs_planned']} jobs · "
              f"commit {(manifest['git_commit'] or '?')[:12]}", markup=False)
    for d in manifest["devices"]:
        out.print(f"device {d['id']}: {d['model']} · {d['soc']} · {d['os']}", markup=False)
    if jobs:
        _print_summary(jobs, store, manifest["run_id"])
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from harness.dashboards.run import render_runs

    path = render_runs(_store(args), args.runs, args.output)
    out.print(f"dashboard: {path}", soft_wrap=True, markup=False)
    return 0


# -- compare ---------------------------------------------------------------------------------------

def cmd_compare(args: argparse.Namespace) -> int:
    from harness import compare

    threshold = _threshold(args)
    store = _store(args)
    if args.history:
        if args.runs:
            raise UserError("--history compares every stored run of a suite; give no run ids (use --suite)")
        compare.check_history(store, args.suite)
        result = compare.history(store, args.suite, threshold=threshold)
        text = compare.format_history(result)
    else:
        if len(args.runs) != 2:
            raise UserError("compare needs two runs, BASE and NEW (or --history)")
        compare.check_comparable(store, *args.runs, force=args.force)
        result = compare.compare_runs(store, *args.runs, threshold=threshold)
        text = compare.format_comparison(result)
    if args.json:
        _print_json(result.to_dict())
    else:
        out.print(text, markup=False)
    return 1 if result.regressions else 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    from harness.dashboards.report import render_all

    for path in render_all(_store(args), args.output, args.suite, _threshold(args)):
        out.print(f"dashboard: {path}", soft_wrap=True, markup=False)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Undo what earlier runs left induced on a device (or, with --forget, drop that record after undoing it
    by hand)."""
    from harness.devices import backend, open_device

    if args.forget:
        forgotten = backend(args.device).forget(args.device)
        out.print(f"{args.device}: forgot {', '.join(forgotten) or 'nothing'} (not undone)", markup=False)
        return 0
    device = open_device(args.device)  # opening replays what a killed run left induced
    try:
        undone = list(device.recovered)
        device.restore()
    finally:
        device.close()
    out.print(f"{args.device}: restored {', '.join(undone) or 'nothing left to restore'}", markup=False)
    return 0


def cmd_store_check(args: argparse.Namespace) -> int:
    """Read every file of the store; list the damaged ones and why (exit 1 if any)."""
    store = _store(args)
    damaged = store.check()
    for path, why in damaged.items():
        out.print(f"damaged: {path}: {why}", markup=False, soft_wrap=True)
    runs = len(store.runs())
    out.print(f"{len(damaged)} damaged file{'s' if len(damaged) != 1 else ''}; {runs} readable run"
              f"{'s' if runs != 1 else ''} in {store.root}", markup=False, soft_wrap=True)
    return 1 if damaged else 0


def cmd_export_trace(args: argparse.Namespace) -> int:
    from harness.trace_export import export_trace

    path = export_trace(_store(args), args.run, args.output)
    out.print(f"trace: {path} (open in https://ui.perfetto.dev)", soft_wrap=True, markup=False)
    return 0


# -- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Benchmark on-device ML personalization: latency, energy, heat.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_results(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                       help="results store (default: results/)")
        return p

    p = sub.add_parser("devices", help="list the devices this machine can run jobs on, and those it cannot use "
                       "yet with the fix")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=15.0, metavar="S",
                   help="how long each device may take to describe itself (default 15)")
    p.set_defaults(func=cmd_devices)

    p = with_results(sub.add_parser("bench", help="run a bench suite and store the run"))
    p.add_argument("--suite", type=Path, metavar="FILE", help="suite TOML (default: suites/default.toml)")
    p.add_argument("--device", action="append", metavar="ID", help="run on this device instead of the suite's "
                   "(repeatable), e.g. host, android:SERIAL")
    p.add_argument("--job-timeout", type=float, metavar="S", help="a job still running after S seconds has hung: "
                   "it fails and the run goes on (default 3600; a workload's timeout_s may be tighter)")
    p.add_argument("--resume", metavar="RUN", help="run only the jobs an incomplete or interrupted run lacks (those "
                   "lost with a device included), with its stored suite, into that run")
    p.add_argument("--verbose", action="store_true", help="let TensorFlow's and absl's own log lines through")
    p.add_argument("--lab", metavar="ADDRESS", help="run the phones' jobs on the device lab's Ray cluster at ADDRESS "
                   "(head host:port; README: the device lab); host and sim devices still run here")
    p.set_defaults(func=cmd_bench)

    lab = sub.add_parser("lab", help="the device lab on Ray (extra `lab`, Linux)").add_subparsers(
        dest="lab_command", required=True, metavar="ACTION")
    p = lab.add_parser("agent", help="serve this host's phones to the lab until stopped (one actor per phone)")
    p.add_argument("--address", required=True, help="the lab's Ray head, host:port")
    p.add_argument("--host", required=True, metavar="NAME", help="this host's name: its Ray node carries the "
                   "resource harness-host:NAME")
    p.add_argument("--connect", action="append", default=[], metavar="HOST:PORT", help="also serve this `adb "
                   "connect` endpoint (adb over Wi-Fi, DeviceFarmer/STF; repeatable)")
    p.add_argument("--interval", type=float, default=2.0, metavar="S", help="how often to look for phones")
    p.set_defaults(func=cmd_lab_agent)
    p = lab.add_parser("phones", help="the phones the lab serves now, by host")
    p.add_argument("--address", required=True, help="the lab's Ray head, host:port")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lab_phones)

    p = with_results(sub.add_parser("runs", help="list stored runs"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = with_results(sub.add_parser("show", help="show one run's jobs and latency statistics"))
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = with_results(sub.add_parser("dashboard", help="write a self-contained HTML dashboard of runs"))
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.html")
    p.set_defaults(func=cmd_dashboard)

    p = with_results(sub.add_parser("compare", help="compare two runs (or a suite's history); exit 1 on a "
                                    "regression"))
    p.add_argument("runs", nargs="*", metavar="RUN", help="BASE NEW: run ids, unique prefixes, or 'latest'")
    p.add_argument("--threshold", type=float, default=5.0, metavar="PCT",
                   help="smallest change that counts, in percent (default 5)")
    p.add_argument("--history", action="store_true", help="step detection over every complete run of a suite")
    p.add_argument("--suite", metavar="NAME", help="with --history: only runs of this suite")
    p.add_argument("--force", action="store_true", help="compare runs of different suites or devices, or "
                   "incomplete runs, instead of refusing them (exit 2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = with_results(sub.add_parser("dashboards", help="write every dashboard: latest run's telemetry and energy, "
                                    "latest vs previous run, history"))
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    p.add_argument("--suite", metavar="NAME", help="only runs of this suite")
    p.add_argument("--threshold", type=float, default=5.0, metavar="PCT")
    p.set_defaults(func=cmd_dashboards)

    p = with_results(sub.add_parser("export-trace", help="write a run's timeline as a Chrome/Perfetto JSON trace"))
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.json")
    p.set_defaults(func=cmd_export_trace)

    p = with_results(sub.add_parser("simulate-day", help="a phone twin lives one day of usage while a variant "
                                    "personalizes under a policy (vs greedy and none): battery, heat, accuracy"))
    p.add_argument("--profile", default="android-flagship", help="twin profile (sim:<profile>)")
    p.add_argument("--policy", default="default", help="policy name or .toml policy file")
    p.add_argument("--variant", default="har-cnn/adapter",
                   help="model variant that personalizes (har-cnn/... or keyboard-attn/...)")
    p.add_argument("--trace", default="workday", help="usage day: a shipped trace name or a .toml file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="let TensorFlow's and absl's own log lines through "
                   "(while a variant's costs are measured)")
    p.set_defaults(func=cmd_simulate_day)

    p = sub.add_parser("forget", help="remove a person's personalization state (staged data and deltas) from a "
                       "device and say what was removed (docs/privacy.md)")
    p.add_argument("--device", required=True, metavar="ID")
    p.add_argument("--variant", metavar="V", help="only this variant's deltas")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("restore", help="undo conditions an earlier run left induced on a device")
    p.add_argument("device", metavar="ID", help="e.g. android:SERIAL")
    p.add_argument("--forget", action="store_true", help="drop the record of them without undoing them (after "
                   "undoing them by hand, as the failed restore said)")
    p.set_defaults(func=cmd_restore)

    store = sub.add_parser("store", help="the results store itself").add_subparsers(
        dest="store_command", required=True, metavar="ACTION")
    p = with_results(store.add_parser("check", help="read every stored file; list the damaged ones and why "
                                      "(exit 1 if any)"))
    p.set_defaults(func=cmd_store_check)

    from models.cli import register as register_models

    register_models(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        try:
            return args.func(args)
        finally:
            _report_damaged(args)
    except UserError as exc:
        err.print(f"harness: error: {exc}", markup=False, soft_wrap=True)  # one line, whatever the width
        return exc.exit_code
    except HarnessError as exc:
        err.print(f"harness: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
        return exc.exit_code
    except OSError as exc:  # a file the harness reads or writes; never a traceback
        err.print(f"harness: error: {exc}", markup=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        err.print("harness: interrupted; what was measured so far is stored", markup=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
