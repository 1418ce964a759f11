"""The stored records of a run, typed and versioned: the run manifest and the job result row.

(The artifact manifest, written by models/, is `models.manifest.ArtifactManifest`; a run stores the
manifests of its artifacts as they were built.)

Every run directory carries the `format_version` of its manifest; readers upgrade older versions
step by step (`upgrade_manifest`, `upgrade_results`), so a run written by any earlier version reads as
the current one. tests/fixtures/store_v1 is a run written by format 1 and must always read.

Format history:
- 1 (2026-11): first version; result rows typed by inference (an all-empty column is Arrow `null`).
- 2 (2026-12): result rows have one explicit Arrow schema (`RESULT_SCHEMA`); manifests always carry
  `conditions` and `restore_failures`, each device's declared `capabilities` (null when unknown), and
  the `process` that writes the run (hostname, pid, start time), so a run whose writer died reads as
  `interrupted` instead of `running` forever.
- 3 (2026-12): result rows carry `telemetry_evidence` (how the samplers read raw units, JSON text); a run
  whose device was lost mid-run ends `incomplete`, names the `lost` devices and records its `resumes`
  (`harness bench --resume`).
- 4 (2026-12): result rows carry where a job ran and what it cost to load (`load_ms`, `affinity`, `cpus`,
  `cpu_governor`, `cpu_mhz_min`/`cpu_mhz_max`, `ops`, `delegated_ops`, `fully_delegated`,
  `delegate_used`, `placement_note`) and, for a sustained run, its throttling (`sustained_s`,
  `time_to_throttle_s`, `steady_initial_ratio`, `throttle_basis`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from harness.errors import ResultFormatError

__all__ = ["FORMAT_VERSION", "RUN_STATUSES", "RunManifest", "RESULT_SCHEMA", "EVENT_SCHEMA", "SAMPLE_SCHEMA",
           "result_table", "upgrade_manifest", "upgrade_results"]

FORMAT_VERSION = 4
RUN_STATUSES = ("running", "complete", "incomplete", "failed", "interrupted")

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
# One row per job; units in the names (ms, s, ns, j, w, c) or here.
RESULT_SCHEMA = pa.schema([
    # identity and configuration
    ("run_id", _S), ("job_id", _S), ("order", _I), ("model", _S), ("variant", _S), ("workload", _S),
    ("signature", _S), ("device_id", _S), ("repetition", _I), ("threads", _I), ("delegate", _S),
    ("artifact_sha256", _S), ("started_utc", _S), ("data", _S), ("baseline_samples", _I), ("runner", _S),
    ("telemetry_evidence", _S),
    # outcome
    ("status", _S), ("error_code", _S), ("error_message", _S),
    # training: bytes of the personalization delta, peak RSS (bytes), losses, accuracy on the person's data (0..1)
    ("delta_bytes", _I), ("peak_rss_bytes", _I), ("first_loss", _F), ("final_loss", _F), ("eval_examples", _I),
    ("accuracy_before", _F), ("accuracy_after", _F), ("accuracy_gain", _F),
    # latency of measured invokes / steps (ms), their span on the device clock
    ("n", _I), ("mean_ms", _F), ("stdev_ms", _F), ("min_ms", _F), ("max_ms", _F), ("p50_ms", _F), ("p90_ms", _F),
    ("p99_ms", _F), ("median_ci_low_ms", _F), ("median_ci_high_ms", _F), ("first_start_ns", _I),
    ("last_end_ns", _I), ("duration_s", _F),
    # where it ran: load time (ms), CPUs it could use ("0-3"), the suite's `cpus`, governor and clock range
    # seen (MHz), operators of its signature and how many the delegate took (null: the runtime does not say)
    ("load_ms", _F), ("affinity", _S), ("cpus", _S), ("cpu_governor", _S), ("cpu_mhz_min", _F),
    ("cpu_mhz_max", _F), ("ops", _I), ("delegated_ops", _I), ("fully_delegated", _B), ("delegate_used", _B),
    ("placement_note", _S),
    # a sustained run: seconds asked for, first throttle (s after the measured start), late/early latency
    ("sustained_s", _F), ("time_to_throttle_s", _F), ("steady_initial_ratio", _F), ("throttle_basis", _S),
    # aggregates-only runners (benchmark_model)
    ("init_ms", _F), ("first_inference_ms", _F), ("warmup_avg_ms", _F),
    # a background job beside the job
    ("background_workload", _S), ("background_status", _S), ("background_steps", _I), ("background_overlap", _F),
    # cooldown before the job
    ("cooldown_waited_s", _F), ("cooldown_reached", _B), ("cooldown_reason", _S), ("cooldown_start_temp_c", _F),
    ("cooldown_end_temp_c", _F), ("cooldown_end_status", _I), ("cooldown_temp_source", _S), ("cooldown_polls", _I),
    # energy of the measured span (J), with its source, status, reason and uncertainty parts
    ("energy_source", _S), ("energy_kind", _S), ("energy_status", _S), ("energy_reason", _S),
    ("energy_duration_s", _F), ("energy_joules", _F), ("energy_uncertainty_j", _F), ("energy_gross_j", _F),
    ("energy_baseline_w", _F), ("energy_u_sampling_j", _F), ("energy_u_resolution_j", _F),
    ("energy_u_baseline_j", _F), ("energy_rate_hz", _F), ("energy_resolution", _F), ("energy_resolution_unit", _S),
    ("energy_channels", _S), ("energy_per_item_j", _F), ("energy_per_item_u_j", _F),
])


# One row per runner event (the protocol fields that analysis reads, and the whole event as `payload`);
# `stream` is the event's own job id (`<job>-bg` for a background job stored with its job).
EVENT_SCHEMA = pa.schema([
    ("run_id", _S), ("job_id", _S), ("seq", _I), ("stream", _S), ("event", _S), ("idx", _I), ("warmup", _B),
    ("start_ns", _I), ("end_ns", _I), ("latency_ms", _F), ("loss", _F), ("t_ns", _I), ("payload", _S),
])
# One row per raw telemetry sample (harness.events.Sample), in the channel vocabulary's units.
SAMPLE_SCHEMA = pa.schema([
    ("run_id", _S), ("job_id", _S), ("t_ns", _I), ("source", _S), ("channel", _S), ("value", _F), ("unit", _S),
])


def result_table(row: Mapping[str, Any]) -> pa.Table:
    """One result row as a table of RESULT_SCHEMA; ResultFormatError names a column the schema lacks."""
    unknown = sorted(set(row) - set(RESULT_SCHEMA.names))
    if unknown:
        raise ResultFormatError(f"result column {unknown[0]!r} is not in harness.records.RESULT_SCHEMA")
    return pa.Table.from_pylist([{name: row.get(name) for name in RESULT_SCHEMA.names}], schema=RESULT_SCHEMA)


def upgrade_results(table: pa.Table, version: int) -> pa.Table:
    """A result table written by format `version`, as RESULT_SCHEMA (columns it lacks are null)."""
    if version < FORMAT_VERSION:
        table = _with_result_schema(table)
    return table


def _with_result_schema(table: pa.Table) -> pa.Table:
    """Columns as RESULT_SCHEMA types; those an older format lacks (1: typed by inference; 2: no
    `telemetry_evidence`; 3: no placement or sustained-run columns) come out null."""
    columns = {f.name: table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in RESULT_SCHEMA}
    return pa.table(columns, schema=RESULT_SCHEMA)


@dataclasses.dataclass(frozen=True)
class RunManifest:
    """`runs/<run_id>/manifest.json`: what ran, where, from which code, and how far it got."""

    run_id: str
    created_utc: str
    status: str  # one of RUN_STATUSES
    jobs_planned: int
    jobs_done: int
    suite: dict[str, Any]  # name, path, source (the TOML text)
    git_commit: str | None
    host: dict[str, Any]
    packages: dict[str, str]
    devices: list[dict[str, Any]]  # DeviceDescription.to_dict() + "capabilities" (Capabilities.to_dict())
    artifacts: dict[str, dict[str, Any]]  # variant -> its artifact manifest (models.manifest.ArtifactManifest)
    conditions: dict[str, Any]  # induced on every device: name -> value
    finished_utc: str | None = None
    restore_failures: list[str] = dataclasses.field(default_factory=list)
    process: dict[str, Any] | None = None  # hostname, pid, started (epoch s) of the process writing the run
    resumes: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # each `bench --resume`: when, which jobs
    lost: dict[str, str] = dataclasses.field(default_factory=dict)  # device id -> why it was lost mid-run
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.status not in RUN_STATUSES:
            raise ResultFormatError(f"run {self.run_id}: status must be one of {RUN_STATUSES}, not {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "manifest") -> RunManifest:
        """A manifest of any format version as the current one; ResultFormatError says what is wrong."""
        upgraded = upgrade_manifest(data, where)
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                         and f.name not in upgraded)
        if missing:
            raise ResultFormatError(f"{where}: manifest lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in upgraded.items() if k in names})


def upgrade_manifest(data: Mapping[str, Any], where: str = "manifest") -> dict[str, Any]:
    """A manifest dict of any known format version, upgraded to FORMAT_VERSION."""
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultFormatError(f"{where}: no format_version; not a harness run")
    if version > FORMAT_VERSION:
        raise ResultFormatError(f"{where}: format {version} is newer than this harness ({FORMAT_VERSION}); upgrade")
    upgraded = dict(data)
    if version < 2:
        upgraded = _manifest_1_to_2(upgraded)
    if version < 3:
        upgraded = {**upgraded, "format_version": 3, "resumes": upgraded.get("resumes", []),
                    "lost": upgraded.get("lost", {})}
    if version < 4:  # only result columns were added
        upgraded["format_version"] = 4
    return upgraded


def _manifest_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "format_version": 2, "conditions": data.get("conditions", {}),
            "restore_failures": data.get("restore_failures", []),
            "devices": [{**d, "capabilities": d.get("capabilities")} for d in data.get("devices", [])]}
