"""The one event vocabulary, and the records runners and samplers hand to the rest of the harness.

Runner events (the job protocol, `device_apps/protocol/events.schema.json`): `started`, `invoke`,
`train_step`, `thermal`, then exactly one terminal event, `finished` or `error`.

- **Timed** events (`invoke`, `train_step`) carry a latency; those with `warmup` false are **measured**.
- **Streams**: an event's `job_id` is its stream. A job's own events stream under the job's id; a
  background job run beside job `J` (a suite's `background = ...`) streams as `J-bg` and is stored
  with `J` (stored column `stream`). Latency statistics, energy windows, the regression gate and
  history read the **own** stream only; the foreground-under-training KPI reads both.

Everything that asks "which events are measured" asks this module: in memory (`measured`), over
stored frames (`measured_frame`) or in SQL over the store's `events` view (`MEASURED_SQL`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TIMED", "TERMINAL_EVENTS", "BACKGROUND_SUFFIX", "MEASURED_SQL",
    "background_stream", "ends_job", "is_measured", "measured", "measured_frame", "own_frame",
    "Sample", "EnergySource", "AggregateTimings",
]

TIMED = ("invoke", "train_step")  # events that carry `latency_ms`, `start_ns`, `end_ns`, `warmup`
TERMINAL_EVENTS = ("finished", "error")  # a job's stream ends with exactly one of these
BACKGROUND_SUFFIX = "-bg"

# Measured events of a job's own stream, over the store's `events` view aliased `e`.
MEASURED_SQL = (f"e.event IN ({', '.join(repr(k) for k in TIMED)}) AND NOT e.warmup "
                "AND e.stream = e.job_id")


def background_stream(job_id: str) -> str:
    """The stream (event `job_id`) of the background job that runs beside job `job_id`."""
    return f"{job_id}{BACKGROUND_SUFFIX}"


def ends_job(events: Sequence[Mapping[str, Any]]) -> bool:
    """True if the stream's last event is `finished` or `error` (the runner completed its duty)."""
    return bool(events) and events[-1].get("event") in TERMINAL_EVENTS


def is_measured(event: Mapping[str, Any], kind: str | None = None) -> bool:
    """A timed event outside warm-up (of `kind`, `invoke` or `train_step`, if given)."""
    name = event.get("event")
    return (name == kind if kind else name in TIMED) and not event.get("warmup")


def measured(events: Iterable[Mapping[str, Any]], kind: str | None = None,
             stream: str | None = None) -> list[Mapping[str, Any]]:
    """Measured events, in order; only those of `stream` (an event's `job_id`) if given."""
    return [e for e in events if is_measured(e, kind) and (stream is None or e.get("job_id") == stream)]


def own_frame(events: pd.DataFrame) -> pd.DataFrame:
    """Stored events of each job's own stream (a background job's events stored beside it dropped).

    A frame without `stream` (built by hand, not read from the store) is one stream.
    """
    return events[events["stream"].eq(events["job_id"])] if "stream" in events else events


def measured_frame(events: pd.DataFrame, kind: str | None = None, *, own: bool = True) -> pd.DataFrame:
    """Measured rows of stored events (columns `event`, `warmup`, `stream`, `job_id`).

    `own` keeps each job's own stream, dropping a background job's events stored beside it.
    """
    if events.empty:
        return events
    rows = events["event"].eq(kind) if kind else events["event"].isin(TIMED)
    rows &= events["warmup"].eq(False)
    return own_frame(events[rows]) if own else events[rows]


@dataclasses.dataclass(frozen=True)
class Sample:
    """One raw telemetry reading. Long format: one channel, one value, in the vocabulary's unit.

    `t_ns` is the device's monotonic clock where the device stamps it, so samples line up with
    runner events; `source` names the sensor family (`rapl`, `fuel_gauge`, `thermal`, ...; the table
    in docs/architecture.md).
    """

    t_ns: int
    source: str
    channel: str
    value: float
    unit: str


@dataclasses.dataclass(frozen=True)
class EnergySource:
    """One way a device can tell how much energy a job used.

    `name` is one of `odpm`, `fuel_gauge`, `charge_counter`, `iopm`, `rapl`, `model:<profile>`;
    `available` False comes with `reason` (never a silent zero).
    """

    name: str
    available: bool
    kind: str = "measured"  # "measured" or "modelled"
    reason: str = ""
    rate_hz: float | None = None  # nominal sampling rate
    resolution: str = ""  # e.g. "1 uJ", "1 uAh"
    counter_wrap: float | None = None  # J; where a cumulative counter wraps to 0 (None: unknown)


@dataclasses.dataclass(frozen=True)
class AggregateTimings:
    """What a runner that reports no per-invoke events gives (LiteRT's `benchmark_model`): ms aggregates."""

    inference_avg_ms: float
    init_ms: float | None
    first_inference_ms: float | None
    warmup_avg_ms: float | None
    count: int | None  # measured runs
    min_ms: float | None
    max_ms: float | None
    std_ms: float | None  # the tool's standard deviation over the measured runs
