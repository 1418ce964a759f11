"""The results store: one directory per run, Parquet per job, DuckDB over all runs.

Layout (the records and their format history: harness/records.py):

    <root>/runs/<run_id>/manifest.json                 run metadata and status (replaced atomically)
    <root>/runs/<run_id>/jobs/<job_id>/result.parquet  one row: job identity, latency stats, energy, ...
    <root>/runs/<run_id>/jobs/<job_id>/events.parquet  the runner's protocol events, one row each; `stream`
                                                       is the event's own job id (`<job_id>-bg` for a
                                                       background job run beside the job)
    <root>/runs/<run_id>/jobs/<job_id>/samples.parquet raw telemetry samples (t_ns, source, channel, value, unit)
    <root>/runs/<run_id>/attempts/<job_id>.<n>/         a job lost with its device, set aside when the run was
                                                       resumed (`Store.reopen`); read by no query

A run is `running` until its last job is stored, then `complete` (or `incomplete` when a device was lost,
`failed`, `interrupted`); an incomplete or interrupted run can be reopened to store what it lacks. Job
files are written once, through a temp file and a link that refuses to replace anything; only the
manifest's status fields change after creation. Runs of an older format are read through the
upgrade functions of harness.records, so every reader sees the current format.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import ResultFormatError, UserError
from harness.events import MEASURED_SQL, Sample
from harness.files import write_atomic
from harness.records import (
    EVENT_SCHEMA,
    FORMAT_VERSION,
    RESULT_SCHEMA,
    RUN_STATUSES,
    SAMPLE_SCHEMA,
    RunManifest,
    result_table,
    upgrade_results,
)

__all__ = ["FORMAT_VERSION", "Store", "RunWriter", "JobEvents", "utc_now"]


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Check `manifest` against the typed record, then replace the file atomically."""
    _write_json_atomic(path, RunManifest.from_dict(manifest, str(path)).to_dict())


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_parquet_once(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    _link_once(tmp, path)


def _link_once(tmp: Path, path: Path) -> None:
    """Put a written temp file in place, refusing to replace anything; the temp file is removed."""
    if path.exists():
        tmp.unlink()
        raise ResultFormatError(f"refusing to overwrite {path}: stored results are never rewritten")
    try:
        os.link(tmp, path)  # fails if `path` appeared meanwhile, unlike rename
    finally:
        tmp.unlink()


class JobEvents:
    """A job's events written to a temporary Parquet file in batches of `batch` as they arrive, so a long
    job's events never sit in memory; `RunWriter.write_job` puts the file in place. Callable as an event
    sink, from several threads (a background job's events arrive from another)."""

    def __init__(self, run_id: str, job_id: str, path: Path, batch: int = 4096):
        self.run_id, self.job_id, self.path, self.batch = run_id, job_id, path, batch
        self._rows: list[dict[str, Any]] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._writer: pq.ParquetWriter | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            e = event
            self._rows.append({
                "run_id": self.run_id, "job_id": self.job_id, "seq": self._seq, "stream": e.get("job_id"),
                "event": e.get("event"), "idx": e.get("index", e.get("step")), "warmup": e.get("warmup"),
                "start_ns": e.get("start_ns"), "end_ns": e.get("end_ns"), "latency_ms": e.get("latency_ms"),
                "loss": e.get("loss"), "t_ns": e.get("t_ns"), "payload": json.dumps(e, sort_keys=True)})
            self._seq += 1
            if len(self._rows) >= self.batch:
                self._flush()

    def _flush(self) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, EVENT_SCHEMA)
        self._writer.write_table(pa.Table.from_pylist(self._rows, schema=EVENT_SCHEMA))
        self._rows = []

    def close(self) -> Path:
        """Write what is left and close the file; its path."""
        with self._lock:
            if self._rows or self._writer is None:
                self._flush()
            assert self._writer is not None
            self._writer.close()
            return self.path

    def discard(self) -> None:
        """Drop the temporary file of a job that is not stored (interrupted, or its device lost before it ran)."""
        with self._lock:
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    self._writer.close()
            self.path.unlink(missing_ok=True)


def _samples_table(run_id: str, job_id: str, samples: Iterable[Sample]) -> pa.Table:
    samples = list(samples)
    return pa.table({
        "run_id": [run_id] * len(samples), "job_id": [job_id] * len(samples), "t_ns": [s.t_ns for s in samples],
        "source": [s.source for s in samples], "channel": [s.channel for s in samples],
        "value": [float(s.value) for s in samples], "unit": [s.unit for s in samples],
    }, schema=SAMPLE_SCHEMA)


def _this_process() -> dict[str, Any]:
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "started": psutil.Process().create_time()}


def _gone(process: dict[str, Any] | None) -> bool:
    """True if the process that wrote a run is known to be dead (same host, and its pid is gone or reused)."""
    if not process or process.get("hostname") != socket.gethostname():
        return False  # no record, or another host's process: it cannot be checked from here
    try:
        return abs(psutil.Process(process["pid"]).create_time() - process["started"]) > 1.0
    except psutil.NoSuchProcess:
        return True


class RunWriter:
    """Appends jobs to one run and closes it; created by `Store.create_run`."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any]):
        self.dir, self.manifest = run_dir, manifest

    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    @contextlib.contextmanager
    def job_events(self, job_id: str) -> Iterator[JobEvents]:
        """An event sink for job `job_id` whose file `write_job` stores; removed if the job is not stored."""
        sink = JobEvents(self.run_id, job_id, self.dir / f".{job_id}.events.{os.getpid()}.tmp")
        try:
            yield sink
        finally:
            sink.discard()

    def write_job(self, result: dict[str, Any], events: JobEvents | Iterable[dict[str, Any]],
                  samples: list[Sample]) -> None:
        """Store one finished (or failed) job; `result` is its one-row summary incl. `job_id`; `events` the
        sink its events went to as they arrived (`job_events`), or the events themselves."""
        job_id = result["job_id"]
        job_dir = self.dir / "jobs" / job_id
        if job_dir.exists():
            raise ResultFormatError(f"job {job_id} is already stored in {self.dir}; stored results are never rewritten")
        with contextlib.ExitStack() as stack:
            if not isinstance(events, JobEvents):
                sink = stack.enter_context(self.job_events(job_id))
                for event in events:
                    sink(event)
                events = sink
            tmp = events.close()
            job_dir.mkdir(parents=True)
            _link_once(tmp, job_dir / "events.parquet")
        _write_parquet_once(job_dir / "samples.parquet", _samples_table(self.run_id, job_id, samples))
        _write_parquet_once(job_dir / "result.parquet", result_table({"run_id": self.run_id, **result}))
        self.manifest["jobs_done"] += 1
        _write_manifest(self.dir / "manifest.json", self.manifest)

    def finish(self, status: str) -> None:
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"status must be one of {RUN_STATUSES[1:]}, not {status!r}")
        if status == "complete" and self.manifest["jobs_done"] != self.manifest["jobs_planned"]:
            raise ValueError("a run is complete only after its last job")
        self.manifest.update(status=status, finished_utc=utc_now())
        _write_manifest(self.dir / "manifest.json", self.manifest)


class Store:
    """A results directory; `Store(Path("results"))`.

    No single damaged file breaks it: a manifest or Parquet file that cannot be read is skipped and
    recorded in `damaged` (path -> reason) while reading many runs; `check()` reads every file.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.damaged: dict[str, str] = {}

    def _table(self, path: Path) -> pa.Table | None:
        """A stored Parquet file, or None (recorded in `damaged`) if it cannot be read."""
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            self._unreadable(path, exc)
            return None

    def _readable(self, paths: Iterable[Path]) -> list[str]:
        """The paths whose Parquet footer reads (the others recorded in `damaged`)."""
        good = []
        for path in paths:
            try:
                pq.read_metadata(path)
                good.append(path.as_posix())
            except (OSError, pa.ArrowException) as exc:
                self._unreadable(path, exc)
        return good

    def _unreadable(self, path: Path, exc: Exception) -> None:
        self.damaged[str(path)] = f"unreadable Parquet ({exc})"

    def create_run(self, metadata: dict[str, Any], jobs_planned: int) -> RunWriter:
        """Start a run; `metadata` holds suite, devices, artifacts, host, versions."""
        now = dt.datetime.now(dt.timezone.utc)
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        run_dir = self.runs_dir / run_id
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise UserError(f"cannot create a run under {self.runs_dir}: {exc.strerror}") from exc
        manifest = RunManifest(**{
            "git_commit": None, "host": {}, "packages": {}, "devices": [], "artifacts": {}, "conditions": {},
            **metadata, "run_id": run_id, "created_utc": utc_now(), "status": "running",
            "jobs_planned": jobs_planned, "jobs_done": 0, "process": _this_process()}).to_dict()
        _write_json_atomic(run_dir / "manifest.json", manifest)
        return RunWriter(run_dir, manifest)

    def reopen(self, run_ref: str, *, set_aside: Iterable[str] = (), resume: dict[str, Any]) -> RunWriter:
        """A writer that stores the jobs an `incomplete` or `interrupted` run lacks (`harness bench --resume`).

        The jobs in `set_aside` (stored attempts lost with their device), and any job a killed writer left
        half-written, move to `attempts/`, so they are kept but no longer count; `resume` (when, which jobs)
        is appended to the manifest's `resumes`.
        """
        run_id = self.resolve(run_ref)
        run_dir = self.runs_dir / run_id
        manifest = self._read_manifest(run_dir / "manifest.json")
        if manifest["status"] not in ("incomplete", "interrupted"):
            raise UserError(f"run {run_id} is {manifest['status']}: only incomplete or interrupted runs resume")
        if self._version(run_id) != FORMAT_VERSION:
            raise UserError(f"run {run_id} was written by store format {self._version(run_id)}; only runs of "
                            f"format {FORMAT_VERSION} resume: start a new run")
        for stale in run_dir.glob(".*.tmp"):  # a killed writer's job in flight
            stale.unlink()
        half_written = [d.name for d in sorted(run_dir.glob("jobs/*")) if not (d / "result.parquet").exists()]
        attempts = run_dir / "attempts"
        for job_id in dict.fromkeys([*set_aside, *half_written]):
            attempts.mkdir(exist_ok=True)
            n = 1 + sum(1 for _ in attempts.glob(f"{job_id}.*"))
            (run_dir / "jobs" / job_id).rename(attempts / f"{job_id}.{n}")
        manifest.update(status="running", finished_utc=None, process=_this_process(),
                        jobs_done=sum(1 for _ in run_dir.glob("jobs/*/result.parquet")),
                        resumes=[*manifest["resumes"], resume])
        _write_manifest(run_dir / "manifest.json", manifest)
        return RunWriter(run_dir, manifest)

    def _read_manifest(self, path: Path) -> dict[str, Any]:
        """The run's manifest as the current format (older formats upgraded), as a dict."""
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ResultFormatError(f"{path}: unreadable manifest ({exc})") from exc
        if not isinstance(manifest, dict):
            raise ResultFormatError(f"{path}: not a harness run manifest")
        manifest = RunManifest.from_dict(manifest, str(path)).to_dict()
        if manifest["status"] == "running" and _gone(manifest["process"]):
            manifest["status"] = "interrupted"  # shown, not written: its writer died without finishing it
        return manifest

    def _version(self, run_id: str) -> int:
        """The format version the run was written in (its results are upgraded from it)."""
        try:
            return int(json.loads((self.runs_dir / run_id / "manifest.json").read_text())["format_version"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ResultFormatError(f"{run_id}: unreadable manifest ({exc})") from exc

    def runs(self) -> list[dict[str, Any]]:
        """Every readable run's manifest, oldest first (a damaged one is skipped and recorded)."""
        if not self.runs_dir.is_dir():
            return []
        manifests = []
        for path in sorted(self.runs_dir.glob("*/manifest.json")):
            try:
                manifests.append(self._read_manifest(path))
            except ResultFormatError as exc:
                self.damaged[str(path)] = str(exc).removeprefix(f"{path}: ")
        return manifests

    def check(self) -> dict[str, str]:
        """Every damaged file of the store (path -> why), each file read in full."""
        self.damaged = {}
        self.runs()
        for path in sorted(self.runs_dir.glob("*/jobs/*/*.parquet")) if self.runs_dir.is_dir() else []:
            self._table(path)
        return dict(self.damaged)

    def resolve(self, run_ref: str) -> str:
        """A run id from an id, a unique prefix of one, or `latest` (the latest complete run)."""
        ids = [p.parent.name for p in sorted(self.runs_dir.glob("*/manifest.json"))] if self.runs_dir.is_dir() else []
        if run_ref == "latest" and ids:
            complete = [m["run_id"] for m in self.runs() if m["status"] == "complete"]
            if not complete:
                raise UserError(f"no complete run in {self.root}: `latest` is the latest complete run; give a run id "
                                f"(see `harness runs --results {self.root}`)")
            return complete[-1]
        matches = [i for i in ids if i.startswith(run_ref)]
        if run_ref in ids:
            return run_ref
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UserError(f"no run {run_ref!r} in {self.root} (see `harness runs --results {self.root}`)")
        raise UserError(f"run prefix {run_ref!r} is ambiguous: {', '.join(matches[:5])}")

    def manifest(self, run_ref: str) -> dict[str, Any]:
        return self._read_manifest(self.runs_dir / self.resolve(run_ref) / "manifest.json")

    def _read(self, run_ref: str, kind: str, job_id: str | None = None) -> pd.DataFrame:
        """A run's events or samples; with none stored, an empty frame that still has the schema's columns."""
        run_dir = self.runs_dir / self.resolve(run_ref)
        pattern = f"jobs/{job_id or '*'}/{kind}.parquet"
        tables = [self._table(p) for p in sorted(run_dir.glob(pattern))]
        frames = [t.to_pandas() for t in tables if t is not None and t.num_rows]
        if not frames:
            return (EVENT_SCHEMA if kind == "events" else SAMPLE_SCHEMA).empty_table().to_pandas()
        return pd.concat(frames, ignore_index=True)

    def results(self, run_ref: str) -> pd.DataFrame:
        """One row per stored job of a run, in plan order, in the current result schema."""
        run_id = self.resolve(run_ref)
        version = self._version(run_id)
        tables = [upgrade_results(t, version) for t in map(self._table, sorted(
            (self.runs_dir / run_id).glob("jobs/*/result.parquet"))) if t is not None]
        frame = pa.concat_tables(tables or [RESULT_SCHEMA.empty_table()]).to_pandas()
        return frame.sort_values("order", ignore_index=True)

    def events(self, run_ref: str, job_id: str | None = None) -> pd.DataFrame:
        return self._read(run_ref, "events", job_id)

    def samples(self, run_ref: str, job_id: str | None = None) -> pd.DataFrame:
        return self._read(run_ref, "samples", job_id)

    def measured(self, run_ref: str, job_ids: Iterable[str]) -> dict[str, pd.DataFrame]:
        """Each job's measured invokes or steps of its own stream (start_ns, end_ns, latency_ms), in order;
        read by DuckDB, one job at a time in memory."""
        con = self.events_view([run_ref])
        return {job: con.execute(f"SELECT e.start_ns, e.end_ns, e.latency_ms FROM events e WHERE {MEASURED_SQL} "
                                 "AND e.job_id = ? ORDER BY e.seq", [job]).df() for job in job_ids}

    def connect(self) -> duckdb.DuckDBPyConnection:
        """In-memory DuckDB with views `runs`, `results`, `events`, `samples` over every run."""
        con = duckdb.connect()
        manifests = self.runs()
        readable = {m["run_id"] for m in manifests}
        runs = pd.DataFrame([
            {k: m.get(k) for k in ("run_id", "created_utc", "finished_utc", "status", "jobs_planned", "jobs_done",
                                   "git_commit")} | {"suite": m.get("suite", {}).get("name")}
            for m in manifests
        ], columns=["run_id", "created_utc", "finished_utc", "status", "jobs_planned", "jobs_done", "git_commit",
                    "suite"])
        con.register("runs_frame", runs)
        con.execute("CREATE VIEW runs AS SELECT * FROM runs_frame")
        for kind, view in (("result", "results"), ("events", "events"), ("samples", "samples")):
            files = [p for p in sorted(self.runs_dir.glob(f"*/jobs/*/{kind}.parquet")) if p.parts[-4] in readable]
            if files:
                self._view(con, view, files)
        return con

    def events_view(self, run_refs: Sequence[str]) -> duckdb.DuckDBPyConnection:
        """In-memory DuckDB with a view `events` over the events of these runs only (damaged files skipped),
        for aggregates over a long job's millions of events without loading them."""
        con = duckdb.connect()
        files = [p for ref in run_refs
                 for p in sorted((self.runs_dir / self.resolve(ref)).glob("jobs/*/events.parquet"))]
        if not (files and self._view(con, "events", files)):
            con.register("no_events", EVENT_SCHEMA.empty_table())
            con.execute("CREATE VIEW events AS SELECT * FROM no_events")
        return con

    def _view(self, con: duckdb.DuckDBPyConnection, view: str, files: Sequence[Path]) -> bool:
        """A view over the Parquet files; False if none of them reads."""
        try:  # every footer read once, by DuckDB; only when one fails are the files checked one by one
            _parquet_view(con, view, [p.as_posix() for p in files])
        except duckdb.Error:
            readable = self._readable(files)
            if not readable:
                return False
            _parquet_view(con, view, readable)
        return True


def _parquet_view(con: duckdb.DuckDBPyConnection, view: str, files: list[str]) -> None:
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet([{listed}], union_by_name=true)")
    con.execute(f"SELECT count(*) FROM {view}").fetchall()
