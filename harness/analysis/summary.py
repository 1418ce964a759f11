"""One job's raw events reduced to its stored result row (latency, loss, delta, status)."""

from __future__ import annotations

from typing import Any

from harness.analysis.latency import latency_stats

__all__ = ["summarize_events"]


def summarize_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Result columns from a protocol event stream (which ends in `finished` or `error`).

    Latency statistics cover measured events only (warm-up excluded): invokes for `infer`,
    optimizer steps for `train`.
    """
    last = events[-1] if events else {}
    timed = [e for e in events if e.get("event") in ("invoke", "train_step") and not e.get("warmup")]
    row: dict[str, Any] = {
        "status": "ok" if last.get("event") == "finished" else "failed",
        "error_code": last.get("code"),
        "error_message": last.get("message"),
        "delta_bytes": last.get("delta_bytes"),
        "peak_rss_bytes": last.get("peak_rss_bytes"),
        "runner": (events[0].get("runner") or {}).get("name") if events else None,
    }
    if timed:
        row.update(latency_stats([e["latency_ms"] for e in timed]).as_row())
        row["first_start_ns"] = timed[0]["start_ns"]
        row["last_end_ns"] = timed[-1]["end_ns"]
        row["duration_s"] = (timed[-1]["end_ns"] - timed[0]["start_ns"]) / 1e9
    losses = [e["loss"] for e in events if e.get("event") == "train_step"]
    if losses:
        row["first_loss"], row["final_loss"] = losses[0], losses[-1]
    return row
