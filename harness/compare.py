"""Run comparison and the regression gate: typed verdicts first, formatting after.

A verdict compares one metric of one (device, variant, workload) between two runs: the relative change
of a statistic, an interval of it that holds run-to-run (process-to-process) variance, and a floor below
which a change cannot count. Each repetition is a job of its own worker process (the host runs
`harness.host_runner` per job; phones start their runner per job), so the unit of noise is one statistic
per job or per run, never a pooled invoke; a run's value is the median over its repetitions of each job's
statistic, so one repetition disturbed from outside does not move it. The noise is the standard deviation
of log(new / base) for two runs, estimated (as the report says) from

- `runs`: the store's history, the root mean square of the log-differences of this key's statistic between
  consecutive earlier complete runs of the new run's suite (at least `HISTORY_MIN` runs, the last
  `HISTORY_RUNS`); what a nightly CI sees, machine state and all; latency metrics only;
- `reps`: the spread of the per-job statistic between the repetitions of both runs (pooled, on the log
  scale), scaled to the difference of two runs' statistics; between processes, but blind to what moves a
  whole run; used only without enough history (history already holds the repetitions' noise).

The interval is log-change ± t(confidence, df) × noise, and the floor is max(resolution, t(99.9 %, df) ×
noise), with Student's t of the estimate's degrees of freedom (few repetitions: a wide floor). Latency
metrics have a resolution floor of `RESOLUTION_MS` in absolute terms. A change counts beyond
max(threshold, floor). With one repetition per run and no history there is no estimate of process-to-process
noise: the interval is the old two-level bootstrap over invokes (`invokes`) and only the resolution floors.
Marks as in asv:

    +  regression: worse by more than the threshold and the floor, and the interval excludes no change
    -  improvement: better by more than the threshold and the floor, and significant
    ~  beyond the threshold and the floor but not significant, or a side too unstable to tell (its
       repetitions' coefficient of variation above `UNSTABLE_CV`; the verdict says which)
       (blank) within the threshold or the floor
    !  newly failing    *  fixed    x  incomparable (job configuration changed)

`harness compare` exits 1 when any verdict is `+` or `!`, so a device-lab CI can gate on it.
`history()` applies step detection (harness.steps) to one value per run over many runs of a suite, and gives
each run's value an interval from its repetitions (built like a verdict's: t × their spread on the log scale).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.stats import UNSTABLE_CV, bootstrap_ratio, p90, repetition_cv, t_quantile
from harness.analysis.summary import instability_advice
from harness.errors import UserError
from harness.events import MEASURED_SQL, measured_frame
from harness.steps import segments, steps_between
from harness.store import Store

__all__ = ["Metric", "METRICS", "Verdict", "Comparison", "check_comparable", "compare_runs", "format_comparison",
           "HistoryEntry", "History", "HISTORY_CONFIDENCE", "HISTORY_METRICS", "check_history", "history",
           "history_frame", "format_history"]

KEY = ("device_id", "variant", "workload")
CONFIG = ("signature", "threads", "delegate")  # a change makes a pair incomparable
REGRESSION, IMPROVEMENT, NOT_SIGNIFICANT, UNCHANGED = "+", "-", "~", " "
NEWLY_FAILING, FIXED, INCOMPARABLE = "!", "*", "x"
# The host runner times each invoke from Python around LiteRT's SignatureRunner: the ns clock costs ~0.1 µs,
# but the call itself (inputs in, outputs out) costs several µs and moves by µs between worker processes,
# against well under 1 µs for the toy CNN's interpreter.invoke(); `python benchmarks/gate_false_alarms.py`
# measures all three. A latency change smaller than this, in absolute terms, is the runner's, not the model's.
RESOLUTION_MS = 0.005
FLOOR_QUANTILE = 0.999  # the floor: one-sided 99.9 % of run-to-run noise (Student's t of its estimate)
HISTORY_MIN = 4  # earlier complete runs needed for a `runs` noise estimate (3 consecutive differences)
HISTORY_RUNS = 20  # the most recent ones used
HISTORY_METRICS = ("latency_p50_ms", "latency_p90_ms")  # one value per run and key in `history_frame`
HISTORY_CONFIDENCE = 0.95  # of each run's interval in `history()`
_LABELS = {REGRESSION: "regression", IMPROVEMENT: "improvement", NOT_SIGNIFICANT: "not significant",
           UNCHANGED: "no change", NEWLY_FAILING: "newly failing", FIXED: "fixed", INCOMPARABLE: "incomparable"}


@dataclasses.dataclass(frozen=True)
class Metric:
    """One compared quantity: per-invoke latencies (`column=None`) or one value per job."""

    name: str
    unit: str
    statistic: Callable[..., Any]
    column: str | None = None
    lower_is_better: bool = True


METRICS = (
    Metric("latency_p50_ms", "ms", np.median),
    Metric("latency_p90_ms", "ms", p90),
    Metric("energy_per_item_j", "J", np.median, "energy_per_item_j"),
    Metric("final_loss", "", np.median, "final_loss"),
    Metric("delta_bytes", "B", np.median, "delta_bytes"),
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    key: tuple[str, ...]  # values of KEY
    metric: str
    unit: str
    mark: str
    base: float | None = None
    new: float | None = None
    change: float | None = None  # relative: new / base - 1
    ci_low: float | None = None  # of the relative change
    ci_high: float | None = None
    note: str = ""
    floor: float | None = None  # relative: the smallest change that can count (besides the threshold)
    floor_source: str = ""  # "resolution" or "noise", whichever set the floor
    noise: float | None = None  # sd of log(new / base) between two runs
    noise_source: str = ""  # "runs" (store history), "reps" (repetitions of both runs) or "invokes"
    noise_n: int | None = None  # runs of history, or jobs of both runs, behind `noise`

    @property
    def label(self) -> str:
        return _LABELS[self.mark]

    def to_dict(self) -> dict[str, Any]:
        return {**dict(zip(KEY, self.key)), **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                                                if f.name != "key"}, "label": self.label}


@dataclasses.dataclass(frozen=True)
class Comparison:
    base_run: str
    new_run: str
    threshold: float  # relative, e.g. 0.05
    confidence: float
    verdicts: tuple[Verdict, ...]

    @property
    def regressions(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.mark in (REGRESSION, NEWLY_FAILING))

    def to_dict(self) -> dict[str, Any]:
        return {"base_run": self.base_run, "new_run": self.new_run, "threshold": self.threshold,
                "confidence": self.confidence, "regressions": len(self.regressions),
                "verdicts": [v.to_dict() for v in self.verdicts]}


def _groups(results: pd.DataFrame, events: pd.DataFrame, metric: Metric) -> list[np.ndarray]:
    """One array per successful job (repetition) of one key."""
    ok = results[results["status"] == "ok"]
    if metric.column is not None:
        if metric.column not in ok:
            return []
        return [np.array([v], float) for v in ok[metric.column] if pd.notna(v)]
    timed = measured_frame(events)
    if timed.empty:  # e.g. benchmark_model jobs: aggregates only, no events
        return []
    timed = timed[timed["job_id"].isin(ok["job_id"])]
    return [g["latency_ms"].to_numpy(float) for _, g in timed.groupby("job_id") if len(g)]


def _status(results: pd.DataFrame) -> bool:
    return bool((results["status"] == "ok").any())


def _config(results: pd.DataFrame) -> tuple:
    return tuple(tuple(sorted(map(str, results[c].dropna().unique()))) if c in results else () for c in CONFIG)


def _positive_logs(values: Sequence[float]) -> np.ndarray | None:
    logs = np.array(values, float)
    if logs.size == 0 or not (np.isfinite(logs).all() and (logs > 0).all()):
        return None
    return np.log(logs)


def _noise(per_job: tuple[np.ndarray, np.ndarray], earlier: Sequence[float]) -> list[tuple[float, int, str, int]]:
    """(sd of log(new / base), degrees of freedom, source, n) for each estimate the data allow; `per_job` is
    each side's per-job statistic."""
    out = []
    logs = [_positive_logs(side) for side in per_job]
    if logs[0] is not None and logs[1] is not None:
        df = logs[0].size + logs[1].size - 2
        if df >= 1:
            within = sum(float(((x - x.mean()) ** 2).sum()) for x in logs) / df
            scale = 1 / logs[0].size + 1 / logs[1].size
            out.append((math.sqrt(within * scale), df, "reps", logs[0].size + logs[1].size))
    runs = _positive_logs(earlier)
    if runs is not None and runs.size >= HISTORY_MIN:
        steps = np.diff(runs)
        out.append((float(np.sqrt(np.mean(steps ** 2))), steps.size, "runs", runs.size))
    return out


def _unstable(per_job: tuple[np.ndarray, np.ndarray], rows: tuple[pd.DataFrame, pd.DataFrame]) -> str:
    """Why a side is too unstable to call a change on, or "": the coefficient of variation of its per-job
    statistic across its repetitions above `UNSTABLE_CV` (as pyperf warns), with the likeliest cause from
    that side's result rows."""
    for side, values, frame in zip(("base", "new"), per_job, rows, strict=True):
        cv = repetition_cv(values)
        if cv is not None and cv > UNSTABLE_CV:
            return (f"unstable {side}: varies {cv:.0%} across its {values.size} repetitions (> {UNSTABLE_CV:.0%}); "
                    f"likely {instability_advice(frame.to_dict(orient='records'))}")
    return ""


def _judge(key: tuple, metric: Metric, base: list[np.ndarray], new: list[np.ndarray], threshold: float,
           confidence: float, seed: int, earlier: Sequence[float], rows: tuple[pd.DataFrame, pd.DataFrame]
           ) -> Verdict | None:
    """One metric of one key. A run's value is the median over its repetitions of each job's statistic, so
    one repetition disturbed by something outside the job (a neighbour's burst) does not move the run;
    `rows` are both sides' result rows (for the advice on an unstable side)."""
    if not base or not new:
        return None
    per_job = tuple(np.array([float(metric.statistic(g)) for g in side]) for side in (base, new))
    stat_base, stat_new = (float(np.median(side)) for side in per_job)
    resolution = RESOLUTION_MS / stat_base if metric.column is None and stat_base > 0 else 0.0
    estimates = _noise(per_job, earlier)
    noise: float | None = None
    source, n, noise_floor = "invokes", None, 0.0
    if estimates and stat_base > 0 and stat_new > 0:
        # history measures what the repetitions do and more (a run's statistic moves with its processes too),
        # with more degrees of freedom: it alone speaks when there is enough of it
        history = [e for e in estimates if e[2] == "runs"]
        noise, df, source, n = history[0] if history else max(
            estimates, key=lambda e: t_quantile(FLOOR_QUANTILE, e[1]) * e[0])
        log_change = math.log(stat_new / stat_base)
        half = t_quantile((1 + confidence) / 2, df) * noise
        change, low, high = stat_new / stat_base - 1, math.expm1(log_change - half), math.expm1(log_change + half)
        noise_floor = math.expm1(t_quantile(FLOOR_QUANTILE, df) * noise)
    else:  # one repetition a side and no history (or values at or below zero): invokes only
        ci = bootstrap_ratio(base, new, metric.statistic, confidence=confidence, seed=seed)
        change, low, high = ci.ratio - 1, ci.low - 1, ci.high - 1
    floor = max(resolution, noise_floor)
    floor_source = "resolution" if resolution > noise_floor else "noise"
    worse = change > 0 if metric.lower_is_better else change < 0
    significant = low > 0 or high < 0
    unstable = _unstable(per_job, rows)
    if not math.isfinite(change) or abs(change) <= max(threshold, floor):
        mark = UNCHANGED
    elif not significant or unstable:  # an unstable side never makes a change significant
        mark = NOT_SIGNIFICANT
    else:
        mark = REGRESSION if worse else IMPROVEMENT
    return Verdict(key, metric.name, metric.unit, mark, stat_base, stat_new, change, low, high, note=unstable,
                   floor=floor, floor_source=floor_source, noise=noise, noise_source=source, noise_n=n)


def check_comparable(store: Store, base_ref: str, new_ref: str, *, force: bool = False) -> None:
    """UserError unless both runs can gate: stored jobs, complete, one suite, the same devices.

    `force` lets runs of different suites or devices, or incomplete runs, be compared anyway; a run with
    no stored jobs never can.
    """
    runs = [store.manifest(ref) for ref in (base_ref, new_ref)]
    for m in runs:
        if m["jobs_done"] == 0:
            raise UserError(f"run {m['run_id']} has no stored jobs (status {m['status']}): nothing to compare")
    if force:
        return
    for m in runs:
        if m["status"] != "complete":
            why = "is still running, or its process died" if m["status"] == "running" else f"is {m['status']}"
            raise UserError(f"run {m['run_id']} {why} ({m['jobs_done']}/{m['jobs_planned']} jobs): gate on complete "
                            "runs, or pass --force to compare what it stored")
    suites = [m["suite"]["name"] for m in runs]
    if suites[0] != suites[1]:
        raise UserError(f"the runs are of different suites ({suites[0]!r} vs {suites[1]!r}): compare runs of one "
                        "suite, or pass --force")
    devices = [sorted(d["id"] for d in m["devices"]) for m in runs]
    if devices[0] != devices[1]:
        raise UserError(f"the runs ran on different devices ({', '.join(devices[0]) or 'none'} vs "
                        f"{', '.join(devices[1]) or 'none'}): compare runs of the same devices, or pass --force")


def _earlier_runs(store: Store, new_run: str, frame: pd.DataFrame | None = None) -> dict[tuple, list[float]]:
    """(device, variant, workload, metric) -> its per-run latency statistic over the last `HISTORY_RUNS`
    complete runs of the new run's suite stored before it (the new run itself left out), oldest first.

    `frame` is the store's `history_frame` when the caller already has it (many comparisons of one store).
    """
    suite = store.manifest(new_run)["suite"]["name"]
    frame = history_frame(store, suite) if frame is None else frame[frame["run_id"].isin(
        [m["run_id"] for m in store.runs() if m["suite"]["name"] == suite])]
    order = list(dict.fromkeys(frame["run_id"]))
    if new_run in order:
        order = order[:order.index(new_run)]
    else:  # an incomplete new run (--force): everything complete before it
        created = store.manifest(new_run).get("created_utc", "")
        order = [r for r in order if (frame.loc[frame["run_id"] == r, "created_utc"].iloc[0], r) < (created, new_run)]
    frame = frame[frame["run_id"].isin(order[-HISTORY_RUNS:])]
    out: dict[tuple, list[float]] = {}
    for key, group in frame.groupby(list(KEY), sort=False):
        for metric in HISTORY_METRICS:
            out[(*key, metric)] = group[metric].astype(float).tolist()
    return out


def compare_runs(store: Store, base_ref: str, new_ref: str, *, threshold: float = 0.05,
                 confidence: float = 0.95, metrics: Sequence[Metric] = METRICS, seed: int = 0,
                 history: pd.DataFrame | None = None) -> Comparison:
    """Verdicts for every key and metric present in both runs (keys in one run only are noted).

    `history` is the store's `history_frame(store)` for a caller that compares many pairs of one store;
    by default it is read here.
    """
    runs = [store.resolve(base_ref), store.resolve(new_ref)]
    results = [store.results(r) for r in runs]
    events = [store.events(r) for r in runs]
    by_key = [dict(tuple(g) for g in frame.groupby(list(KEY), sort=True)) if not frame.empty else {}
              for frame in results]
    earlier = _earlier_runs(store, runs[1], history)
    verdicts: list[Verdict] = []
    for key in sorted(set(by_key[0]) | set(by_key[1])):
        base, new = by_key[0].get(key), by_key[1].get(key)
        if base is None or new is None:
            verdicts.append(Verdict(key, "", "", INCOMPARABLE, note=f"only in {'new' if base is None else 'base'} run"))
            continue
        if _config(base) != _config(new):
            verdicts.append(Verdict(key, "", "", INCOMPARABLE, note=f"job configuration changed {_config(base)} → "
                                                                      f"{_config(new)}"))
            continue
        if _status(base) != _status(new):
            verdicts.append(Verdict(key, "", "", FIXED if _status(new) else NEWLY_FAILING))
            continue
        for metric in metrics:
            verdict = _judge(key, metric, _groups(base, events[0], metric), _groups(new, events[1], metric),
                             threshold, confidence, seed, earlier.get((*key, metric.name), ()), (base, new))
            if verdict is not None:
                verdicts.append(verdict)
    return Comparison(runs[0], runs[1], threshold, confidence, tuple(verdicts))


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f} {unit}".strip() if unit == "B" else f"{value:.4g} {unit}".strip()


def _floor(v: Verdict) -> str:
    """`7.2% noise (runs 12)`: the floor, what set it, and the noise estimate behind it."""
    if v.floor is None:
        return ""
    if v.noise_source == "invokes":
        behind = "invokes only"
    else:
        behind = f"{v.noise_source} {v.noise_n}: {v.noise:.1%}"
    return f"{v.floor:.1%} {v.floor_source} ({behind})"


def format_comparison(comparison: Comparison) -> str:
    """A plain-text table, worst first within each key (like `asv compare`)."""
    lines = [f"base {comparison.base_run}  →  new {comparison.new_run}  (threshold {comparison.threshold:.0%}, "
             f"{comparison.confidence:.0%} intervals with run-to-run noise)",
             f"floor: a change counts beyond max(threshold, floor); floor = max(resolution {RESOLUTION_MS * 1000:g} µs "
             f"of latency, t({FLOOR_QUANTILE:.1%}) × noise); noise = sd of log(new/base) from the last runs of the "
             "suite ('runs N') or the repetitions of both runs ('reps N' jobs)", ""]
    lines.append(f"   {'base':>12} {'new':>12}  {'change [interval]':<28} {'floor':<32} {'metric':<18} "
                 + "  ".join(KEY))
    for v in comparison.verdicts:
        if v.change is None:
            change = v.label + (f": {v.note}" if v.note else "")
        else:
            change = f"{v.change:+.1%} [{v.ci_low:+.1%}, {v.ci_high:+.1%}]"
        lines.append(f"{v.mark}  {_num(v.base, v.unit):>12} {_num(v.new, v.unit):>12}  {change:<28} "
                     f"{_floor(v):<32} {v.metric:<18} " + "  ".join(v.key)
                     + (f"  ({v.note})" if v.note and v.change is not None else ""))
    n = len(comparison.regressions)
    lines += ["", f"{n} regression{'s' if n != 1 else ''} beyond {comparison.threshold:.0%} and the floor" if n else
              "no regressions"]
    return "\n".join(lines)


# -- history ---------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One metric of one key over runs (oldest first), its steps, and whether it regressed."""

    key: tuple[str, ...]
    metric: str
    unit: str
    run_ids: tuple[str, ...]
    values: tuple[float, ...]
    steps: tuple[tuple[str, float, float], ...]  # (first run after the step, level before, level after)
    regression: bool  # latest level worse than the best earlier level by more than the threshold
    created_utc: tuple[str, ...]  # per run
    commits: tuple[str | None, ...]  # per run: its manifest's git commit
    repetitions: tuple[int, ...]  # per run: jobs behind its value
    intervals: tuple[tuple[float, float] | None, ...]  # per run: `HISTORY_CONFIDENCE` interval of its value

    def to_dict(self) -> dict[str, Any]:
        return {**dict(zip(KEY, self.key)), "metric": self.metric, "unit": self.unit, "run_ids": list(self.run_ids),
                "values": list(self.values), "regression": self.regression,
                "steps": [{"run_id": r, "before": b, "after": a} for r, b, a in self.steps],
                "created_utc": list(self.created_utc), "commits": list(self.commits),
                "repetitions": list(self.repetitions), "intervals": [list(i) if i else None for i in self.intervals]}


@dataclasses.dataclass(frozen=True)
class History:
    suite: str | None
    threshold: float
    entries: tuple[HistoryEntry, ...]

    @property
    def regressions(self) -> tuple[HistoryEntry, ...]:
        return tuple(e for e in self.entries if e.regression)

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "threshold": self.threshold, "regressions": len(self.regressions),
                "entries": [e.to_dict() for e in self.entries]}


# per run and key: the median over the run's repetitions of each job's percentile (as `_judge`)
_HISTORY_SQL = f"""
WITH ok AS (
  SELECT r.run_id, r.job_id, r.device_id, r.variant, r.workload FROM results r
  JOIN runs USING (run_id)
  WHERE r.status = 'ok' AND runs.status = 'complete' AND (? IS NULL OR runs.suite = ?)
), per_job AS (
  SELECT ok.run_id, ok.job_id, ok.device_id, ok.variant, ok.workload,
         quantile_cont(e.latency_ms, 0.5) AS p50, quantile_cont(e.latency_ms, 0.9) AS p90
  FROM events e JOIN ok USING (run_id, job_id)
  WHERE {MEASURED_SQL}
  GROUP BY ALL
)
SELECT run_id, device_id, variant, workload, median(p50) AS latency_p50_ms, median(p90) AS latency_p90_ms,
       count(*) AS repetitions,
       stddev_samp(CASE WHEN p50 > 0 THEN ln(p50) END) AS latency_p50_ms_log_sd,
       stddev_samp(CASE WHEN p90 > 0 THEN ln(p90) END) AS latency_p90_ms_log_sd
FROM per_job GROUP BY ALL
"""


def _interval(value: float, log_sd: float, repetitions: int) -> tuple[float, float] | None:
    """A run's value ± Student's t × the standard error of its repetitions' spread, on the log scale (the
    construction of a verdict's interval); None for one repetition, whose spread is unknown."""
    if repetitions < 2 or not math.isfinite(log_sd) or value <= 0:
        return None
    half = t_quantile((1 + HISTORY_CONFIDENCE) / 2, repetitions - 1) * log_sd / math.sqrt(repetitions)
    return value * math.exp(-half), value * math.exp(half)


def history_frame(store: Store, suite: str | None = None) -> pd.DataFrame:
    """One row per (run, key): per-run latency percentiles, the number of repetitions and the sd of each
    percentile's log over them (`<metric>_log_sd`), plus created_utc and git_commit; oldest run first."""
    con = store.connect()
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not {"results", "events"} <= tables:
        return pd.DataFrame(columns=["run_id", "created_utc", "git_commit", *KEY, *HISTORY_METRICS, "repetitions",
                                     *(f"{m}_log_sd" for m in HISTORY_METRICS)])
    frame = con.execute(_HISTORY_SQL, [suite, suite]).df()
    created = con.execute("SELECT run_id, created_utc, git_commit FROM runs").df()
    return frame.merge(created, on="run_id").sort_values(["created_utc", "run_id"], ignore_index=True)


def check_history(store: Store, suite: str | None) -> None:
    """UserError unless the store holds a complete run (of `suite`): a mistyped suite never passes the gate."""
    complete = {m["suite"]["name"] for m in store.runs() if m["status"] == "complete"}
    if not complete or (suite is not None and suite not in complete):
        raise UserError(f"no complete runs{f' of suite {suite!r}' if suite else ''} in {store.root}; suites with "
                        f"complete runs: {', '.join(sorted(complete)) or 'none'}")


def history(store: Store, suite: str | None = None, *, threshold: float = 0.05) -> History:
    """Steps per key and latency metric over all complete runs (of `suite`), oldest first."""
    frame = history_frame(store, suite)
    entries = []
    for key, group in frame.groupby(list(KEY), sort=True):
        repetitions = tuple(int(n) for n in group["repetitions"])
        for metric in HISTORY_METRICS:
            values = group[metric].to_numpy(float)
            run_ids = tuple(group["run_id"])
            segs = segments(values)
            steps = steps_between(segs, min_change=threshold)
            levels = [s.level for s in segs]
            regression = len(levels) > 1 and levels[-1] > min(levels[:-1]) * (1 + threshold)
            intervals = tuple(_interval(v, sd, n) for v, sd, n in zip(
                values.tolist(), group[f"{metric}_log_sd"].astype(float), repetitions, strict=True))
            entries.append(HistoryEntry(
                tuple(key), metric, "ms", run_ids, tuple(values.tolist()),
                tuple((run_ids[s.index], s.before, s.after) for s in steps), bool(regression),
                tuple(group["created_utc"]), tuple(None if pd.isna(c) else c for c in group["git_commit"]),
                repetitions, intervals))
    return History(suite, threshold, tuple(entries))


def format_history(result: History) -> str:
    lines = [f"history of suite {result.suite or '(all suites)'} (threshold {result.threshold:.0%})", ""]
    for e in result.entries:
        mark = REGRESSION if e.regression else UNCHANGED
        steps = ", ".join(f"{r}: {b:.4g} → {a:.4g} ms ({a / b - 1:+.1%})" for r, b, a in e.steps) or "no steps"
        lines.append(f"{mark} {e.metric:<16} {'  '.join(e.key)}  ({len(e.values)} runs, latest "
                     f"{e.values[-1]:.4g} {e.unit})  {steps}")
    n = len(result.regressions)
    lines += ["", f"{n} regression{'s' if n != 1 else ''} in the latest level" if n else "no regressions"]
    return "\n".join(lines)
