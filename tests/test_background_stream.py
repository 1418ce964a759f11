"""A background job's events are stored beside the job they ran with; the gate and history see only the
job's own (foreground) invokes, as the dashboards and KPIs do (harness.events is the one rule)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from harness import compare
from harness.events import measured_frame
from harness.store import Store
from tests.synthetic_runs import write_run

BACKGROUND_MS = 40.0  # train steps 10-20x slower than the invokes beside them


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("results"))
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    ids = [write_run(store, seed=1, suite="bg", created=t0),
           write_run(store, seed=2, suite="bg", created=t0 + dt.timedelta(hours=1), background_ms=BACKGROUND_MS),
           write_run(store, seed=3, suite="bg", created=t0 + dt.timedelta(hours=2), background_ms=BACKGROUND_MS)]
    return store, ids


def test_the_background_stream_is_stored_with_its_job(store):
    st, ids = store
    events = st.events(ids[1])
    infer_job = st.results(ids[1]).query("signature == 'infer'")["job_id"].iloc[0]
    streams = set(events[events["job_id"] == infer_job]["stream"])
    assert streams == {infer_job, f"{infer_job}-bg"}
    assert len(measured_frame(events, own=False)) > len(measured_frame(events))


def test_compare_sees_only_foreground_invokes(store):
    st, ids = store
    result = compare.compare_runs(st, ids[0], ids[1])
    assert result.regressions == ()
    for v in result.verdicts:
        if v.metric.startswith("latency") and v.key[2] == "infer":
            assert abs(v.change) < 0.05, v  # 40 ms background steps mixed in would move p50/p90 many-fold
    infer = st.results(ids[1]).query("signature == 'infer'")
    own = measured_frame(st.events(ids[1]))
    own = own[own["job_id"].isin(infer["job_id"])]
    fast = next(v for v in result.verdicts if v.metric == "latency_p50_ms" and v.key[2] == "infer"
                and v.key[1] == "toy-cnn/last-layer")
    ours = own.merge(infer[["job_id", "variant"]], on="job_id").query("variant == 'toy-cnn/last-layer'")
    # a run's value: the median over its repetitions of each job's median, of the job's own invokes only
    assert fast.new == pytest.approx(float(np.median(ours.groupby("job_id")["latency_ms"].median())))


def test_history_sees_only_foreground_invokes(store):
    st, ids = store
    frame = compare.history_frame(st, "bg")
    infer = frame[frame["workload"] == "infer"]
    assert infer["latency_p90_ms"].max() < BACKGROUND_MS / 4
    assert compare.history(st, "bg").regressions == ()
