"""The one event vocabulary, and the records runners and samplers hand to the rest of the harness.

Runner events (the job protocol, `device_apps/protocol/events.schema.json`): `started`, `loaded`,
`invoke`, `train_step`, `thermal`, then exactly one terminal event, `finished` or `error`.

- **Timed** events (`invoke`, `train_step`) carry a latency; those with `warmup` false are **measured**.
- **Streams**: an event's `job_id` is its stream. A job's own events stream under the job's id; a
  background job run beside job `J` (a suite's `background = ...`) streams as `J-bg` and is stored
  with `J` (stored column `stream`). Latency statistics, energy windows, the regression gate and
  history read the **own** stream only; the foreground-under-training KPI reads both.

Everything that asks "which events are measured" asks this module: in memory (`measured`), over
stored frames (`measured_frame`), in SQL over the store's `events` view (`MEASURED_SQL`), or as a job's
events arrive (`EventLog`, which keeps what analysis reads and hands every event on to the store, so a
job of millions of invokes does not sit in memory).
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TIMED", "TERMINAL_EVENTS", "BACKGROUND_SUFFIX", "MEASURED_SQL",
    "background_stream", "is_measured", "measured", "measured_frame", "own_frame", "EventLog",
    "Received",
    "Sample", "EnergySource", "AggregateTimings", "family", "is_modelled",
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


class Received:
    """What a device keeps of a job's stream while it hands each event on: every event only for a caller
    that does not stream (`on_event` None: they are returned), else just the count and the last one."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None):
        self.on_event, self.events, self.count, self.last = on_event, [], 0, None

    def __call__(self, event: dict[str, Any]) -> None:
        self.count += 1
        self.last = event
        if self.on_event is None:
            self.events.append(event)
        else:
            self.on_event(event)

    @property
    def ended(self) -> bool:
        """The stream ended in `finished` or `error`."""
        return self.last is not None and self.last.get("event") in TERMINAL_EVENTS


class EventLog:
    """One stream of a job's events as they arrive, reduced on the way to what analysis reads.

    Kept: the first, last and `loaded` event, the measured latencies (8 bytes each), the span of the measured
    events and of all timed ones, the first and last training loss, and with `spans` each measured
    invoke's start and end (the foreground-under-training overlap needs them). Every event goes on to
    `sink` (the store's writer) whole, so memory stays flat however long the job runs.
    `EventLog.of(events)` reduces a list.
    """

    def __init__(self, sink: Callable[[dict[str, Any]], None] | None = None, *, spans: bool = False):
        self.first: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self.loaded: dict[str, Any] | None = None  # the runner's `loaded` event, if it sent one
        self._sink = sink
        self._latency = array("d")
        self._starts: array | None = array("q") if spans else None
        self._ends = array("q")
        self._window: list[int] | None = None  # measured: [first start, last end, min start, max end]
        self.timed = 0  # timed events, warm-up included
        self._timed_span: list[int] | None = None  # [first start, last end] of the timed events
        self._losses: list[float] = []  # first and last training loss

    @classmethod
    def of(cls, events: Iterable[Mapping[str, Any]], *, spans: bool = False) -> EventLog:
        log = cls(spans=spans)
        for event in events:
            log.append(dict(event))
        return log

    def append(self, event: dict[str, Any]) -> None:
        self.first = self.first or event
        self.last = event
        if event.get("event") == "loaded":
            self.loaded = event
        if event.get("event") == "train_step" and event.get("loss") is not None:
            self._losses = [self._losses[0] if self._losses else event["loss"], event["loss"]]
        if event.get("event") in TIMED:
            self.timed += 1
            self._timed_span = [(self._timed_span or [event["start_ns"]])[0], event["end_ns"]]
        if is_measured(event):
            self._latency.append(event.get("latency_ms", float("nan")))
            start, end = event["start_ns"], event["end_ns"]
            if self._starts is not None and event["event"] == "invoke":
                self._starts.append(start)
                self._ends.append(end)
            w = self._window
            self._window = [start, end, start, end] if w is None else [w[0], end, min(w[2], start), max(w[3], end)]
        if self._sink is not None:
            self._sink(event)

    def latencies(self) -> np.ndarray:
        """Latencies (ms) of the measured events, in arrival order."""
        return np.frombuffer(self._latency, dtype=float) if self._latency else np.empty(0)

    def window(self) -> tuple[int, int, int] | None:
        """(start_ns, end_ns, count) spanned by the measured events."""
        return None if self._window is None else (self._window[2], self._window[3], len(self._latency))

    def order_span(self) -> tuple[int, int] | None:
        """(start_ns of the first measured event, end_ns of the last), in arrival order."""
        return None if self._window is None else (self._window[0], self._window[1])

    def timed_span(self) -> tuple[int, int] | None:
        """(start_ns of the first timed event, end_ns of the last), warm-up included."""
        return None if self._timed_span is None else (self._timed_span[0], self._timed_span[1])

    def spans(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (ns) of every measured invoke; only for a log made with `spans`."""
        if self._starts is None:
            raise ValueError("this EventLog keeps no spans (EventLog(spans=True))")
        return np.array(self._starts, dtype=np.int64), np.array(self._ends, dtype=np.int64)

    def losses(self) -> tuple[float, float] | None:
        """(first, final) training loss, warm-up steps included."""
        return (self._losses[0], self._losses[1]) if self._losses else None


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


def family(source: str) -> str:
    """The vocabulary family of a sample source: `thermal` for `thermal` and for a twin's
    `model:<profile>/thermal`; a twin's power source `model:<profile>` is itself."""
    return source.rpartition("/")[2] if source.startswith("model:") and "/" in source else source


def is_modelled(source: str) -> bool:
    """A figure a phone twin produced (`model:<profile>...`), never to be shown unlabelled beside a measured one."""
    return source.startswith("model:")


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
