"""The gate does not cry wolf (issue 9): twenty pairs of identical runs of the toy suite (the default suite when
the issue was filed, kept as suites/toy.toml) give no regression, while a 10 % slowdown is still caught.

Runs are written through the store API in that suite's shape (2 variants × infer/personalize × 3
repetitions, 300 invokes / 30 train steps) with latencies drawn from a noise model of three levels, measured
on this 2-core machine from 16 real `harness bench` runs of that suite into a temporary store
(robust spreads, 1.4826 × MAD of the log; `python benchmarks/gate_false_alarms.py N` measures them again):

- per invoke within a job (`INVOKE`), and per worker process: every repetition is its own process
  (`PROC`); the toy CNN's 6.6 µs infer and 70 µs train step also jump between two levels per process
  (`JUMP`: most of the toy's invoke is the runner's Python call, whose cost depends on the process);
- per run (`RUN_SD`): what moves a whole run. A quiet machine, the issue's, is modelled at 1.5 %; with
  other test sessions running on these two cores the measured spread was ~4 %, and there the gate's floor
  (stated per verdict) rises above 10 %: it stays silent rather than crying wolf, and says why.

At the quiet level the wide CNN's two-run noise (from history) is 1.8–3.7 %, so its floor is 7–14 %: a 10 %
slowdown sits at the gate's detection limit. Over seeds 1–8 (`test_the_spread_over_eight_seeds`, slow) the
160 identical pairs gave 1 false alarm (a 3.7-sd draw just over its floor) and the slowdown, seen as +4 % to
+15 % after noise, was flagged in 4 of 8; seed 1 is one where it was. More repetitions narrow the floor.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from harness import compare
from harness.analysis.summary import summarize_events
from harness.store import Store

WIDE, TOY = "toy-cnn-wide/last-layer", "toy-cnn/last-layer"
MEDIAN_MS = {(TOY, "infer"): 0.0066, (WIDE, "infer"): 1.24, (TOY, "personalize"): 0.068,
             (WIDE, "personalize"): 20.6}
INVOKE = {(TOY, "infer"): 0.02, (WIDE, "infer"): 0.058, (TOY, "personalize"): 0.035, (WIDE, "personalize"): 0.034}
PROC = {(TOY, "infer"): 0.021, (WIDE, "infer"): 0.018, (TOY, "personalize"): 0.043, (WIDE, "personalize"): 0.037}
JUMP = {(TOY, "infer"): (0.3, 1.42), (TOY, "personalize"): (0.35, 1.3)}  # (share of processes, factor)
QUIET, LOADED = 0.015, 0.042


def write_default_run(store: Store, rng: np.random.Generator, created: dt.datetime, *, run_sd: float = QUIET,
                      slowdown: dict[str, float] | None = None) -> str:
    writer = store.create_run({"suite": {"name": "default", "path": None, "source": ""},
                               "devices": [{"id": "host"}]}, 12)
    run = float(np.exp(rng.normal(0, run_sd)))
    t_ns, order = 1_000_000_000_000, 0
    for rep in range(3):
        for workload, signature, n, warmup in (("infer", "infer", 300, 20), ("personalize", "train", 30, 1)):
            for variant in (TOY, WIDE) if rep % 2 == 0 else (WIDE, TOY):
                key = (variant, workload)
                share, factor = JUMP.get(key, (0.0, 1.0))
                proc = float(np.exp(rng.normal(0, PROC[key]))) * (factor if rng.random() < share else 1.0)
                median = MEDIAN_MS[key] * run * proc * (slowdown or {}).get(variant, 1.0)
                job_id = f"j{order:04d}"
                events = [{"event": "started", "job_id": job_id, "protocol": 1, "t_ns": t_ns,
                           "runner": {"name": "synthetic", "version": "0"}}]
                for i, ms in enumerate(median * np.exp(rng.normal(0, INVOKE[key], n + warmup))):
                    start, t_ns = t_ns, t_ns + int(ms * 1e6) + 1
                    common = {"job_id": job_id, "warmup": i < warmup, "start_ns": start, "end_ns": t_ns,
                              "latency_ms": float(ms)}
                    events.append({"event": "train_step", "step": i, "loss": 1.6677, **common} if signature == "train"
                                  else {"event": "invoke", "index": i, **common})
                events.append({"event": "finished", "job_id": job_id, "t_ns": t_ns, "measured": n,
                               **({"delta_bytes": 408} if signature == "train" else {})})
                writer.write_job({"job_id": job_id, "order": order, "model": variant.split("/")[0], "variant": variant,
                                  "workload": workload, "signature": signature, "device_id": "host", "repetition": rep,
                                  "threads": 2, "delegate": "xnnpack", **summarize_events(events)}, events, [])
                t_ns += 1_000_000_000
                order += 1
    writer.manifest["created_utc"] = created.isoformat(timespec="seconds").replace("+00:00", "Z")
    writer.finish("complete")
    return writer.run_id


def _store(root, run_sd: float, seed: int):
    """Twenty back-to-back pairs of identical runs, a nightly CI's, then one more run 10 % slower in the wide CNN."""
    store, rng = Store(root), np.random.default_rng(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ids = [write_default_run(store, rng, start + dt.timedelta(hours=i), run_sd=run_sd) for i in range(40)]
    slow = write_default_run(store, rng, start + dt.timedelta(hours=40), run_sd=run_sd, slowdown={WIDE: 1.10})
    return store, ids, slow


def _compare_pairs(store, ids, slow):
    """Each pair compared with the history before it; and the slow run against the last run (the store's
    history read once, as `harness compare` reads it once per comparison)."""
    history = compare.history_frame(store)
    return ([compare.compare_runs(store, ids[2 * i], ids[2 * i + 1], history=history) for i in range(20)],
            compare.compare_runs(store, ids[-1], slow, history=history))


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    return _store(tmp_path_factory.mktemp("quiet"), QUIET, 1)


def _p50(comparison, variant, workload="infer"):
    return next(v for v in comparison.verdicts if v.key[1:] == (variant, workload) and v.metric == "latency_p50_ms")


def test_twenty_identical_pairs_on_a_quiet_machine_give_no_regression_and_ten_percent_is_caught(quiet):
    comparisons, slowed = _compare_pairs(*quiet)
    flagged = [(c.new_run, v.key, v.metric, f"{v.change:+.1%}", f"floor {v.floor:.1%}")
               for c in comparisons for v in c.regressions]
    assert flagged == []
    assert sum(len(c.verdicts) for c in comparisons) == 20 * 12
    # the first pairs have no history yet (repetitions), the later ones measure run-to-run noise over runs
    assert _p50(comparisons[0], WIDE).noise_source == "reps"
    assert _p50(comparisons[-1], WIDE).noise_source == "runs" and _p50(comparisons[-1], WIDE).noise_n == 20
    # the toy's 6.6 µs invoke: its per-process jumps and the runner's resolution set a floor far above 10 %
    assert _p50(comparisons[-1], TOY).floor > 0.3
    caught = _p50(slowed, WIDE)
    assert caught.mark == compare.REGRESSION, caught
    assert caught.ci_low > 0 and caught.change > caught.floor
    assert {(v.key[1], v.key[2]) for v in slowed.regressions} <= {(WIDE, "infer"), (WIDE, "personalize")}


def test_without_the_floor_the_same_pairs_cry_wolf(quiet, monkeypatch):
    """The model has teeth: the old invoke-pooled bootstrap flags the toy's per-process jumps."""
    monkeypatch.setattr(compare, "_noise", lambda *args: [])
    monkeypatch.setattr(compare, "RESOLUTION_MS", 0.0)
    comparisons, _ = _compare_pairs(*quiet)
    assert sum(len(c.regressions) for c in comparisons) >= 3


@pytest.mark.slow
def test_on_a_loaded_machine_the_floor_rises_and_says_so(tmp_path):
    comparisons, slowed = _compare_pairs(*_store(tmp_path, LOADED, 3))
    assert [v for c in comparisons for v in c.regressions] == []
    wide = _p50(slowed, WIDE)
    assert wide.noise_source == "runs" and wide.floor > 0.10  # 10 % is within this machine's run-to-run noise
    assert wide.mark != compare.REGRESSION
    assert f"{wide.floor:.1%} noise (runs 20:" in compare.format_comparison(slowed)


@pytest.mark.slow  # ~3 min: eight stores of 41 runs
def test_the_spread_over_eight_seeds(tmp_path):
    """What the quiet-machine figures above rest on: false alarms stay rare over 160 identical pairs, and
    whenever the slowdown is not flagged its floor says it is within the noise."""
    alarms, caught = 0, 0
    for seed in range(1, 9):
        comparisons, slowed = _compare_pairs(*_store(tmp_path / str(seed), QUIET, seed))
        alarms += sum(len(c.regressions) for c in comparisons)
        wide = _p50(slowed, WIDE)
        caught += wide.mark == compare.REGRESSION
        assert wide.mark == compare.REGRESSION or wide.change <= wide.floor or wide.ci_low <= 0, wide
    assert alarms <= 2 and caught >= 3, (alarms, caught)
