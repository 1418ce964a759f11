"""Where a job ran, on a stand-in phone through the real adb server: the CPUs it was pinned to, the cpufreq
governor and clocks the sampler saw, the operators of its signature and what the delegate took, its peak
memory and load time; and one model run by three runners on the same phone, compared.

The stand-in has two cores like this computer (cpu0 little at 1.80 GHz, cpu1 big at 2.84 GHz), because the
runners pin themselves to real CPUs here (the native runner under qemu-user, the companion as the host
reference runner); `benchmark_model` is the stand-in's fake that prints real captured output.
"""

from __future__ import annotations

import os

import pytest

from harness.bench import run_bench
from harness.cli import main
from harness.devices.base import DeviceDescription, resolve_cpus
from harness.errors import UserError
from harness.store import Store
from harness.suite import parse_suite
from tests.suites import infer, toy_suite
from tests.test_android_benchmark_model import AM62X, _fake_tool
from tests.test_android_integration import ADB, adb_env, phone  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.adb, pytest.mark.skipif(not os.path.exists(ADB), reason="Debian adb is not installed")]


def _description(clocks: str, cores: int = 4) -> DeviceDescription:
    return DeviceDescription(id="x", kind="android", model="m", os="o", soc="s", abi="a", cores=cores,
                             extra={"cpu_max_khz": clocks})


def test_big_and_little_come_from_the_cores_maximum_clocks():
    phone_clocks = _description("0:1804800,1:1804800,2:2419200,3:2841600")
    assert resolve_cpus("big", phone_clocks) == ((3,), "big: cores at 2.84 GHz")
    assert resolve_cpus("little", phone_clocks)[0] == (0, 1)
    assert resolve_cpus((2, 0), phone_clocks) == ((2, 0), "as listed")
    cores, how = resolve_cpus("big", _description(""))
    assert cores == (0, 1, 2, 3) and "not exposed" in how


def test_cpus_is_checked_when_the_suite_is_read():
    with pytest.raises(UserError, match="cpus must be"):
        parse_suite(toy_suite("x", infer(cpus="fast")))
    with pytest.raises(UserError, match="cpus must be"):
        parse_suite(toy_suite("x", infer(cpus=[])))


def test_a_stand_in_run_records_placement_memory_and_compares_runners(phone, tmp_path, capsys):  # noqa: F811
    sandbox, standin = phone
    sandbox.update_state(job_current_now="-1200000")
    binary = _fake_tool(tmp_path / "benchmark_model", AM62X)
    suite = parse_suite(toy_suite(
        "placement",
        infer("native-big", warmup=2, iterations=30, runner="native", cpus="big"),
        infer("native-pinned", warmup=2, iterations=30, runner="native", cpus=[0], delegate="cpu"),
        infer("app", warmup=2, iterations=30, runner="companion"),
        infer("bm", warmup=2, iterations=30, runner="benchmark_model"),
        devices=[f"android:{standin.serial}"], baseline_s=0.5, benchmark_model=str(binary)))
    store = Store(tmp_path / "store")
    result = run_bench(suite, store)
    assert result.status == "complete", [r["error_message"] for r in result.rows]
    rows = {r["workload"]: r for r in result.rows}

    big = rows["native-big"]
    assert big["cpus"] == "1 (big: cores at 2.84 GHz)" and big["affinity"] == "1"  # pinned, and seen pinned
    assert rows["native-pinned"]["affinity"] == "0"
    assert big["cpu_governor"] == "schedutil"
    assert (big["cpu_mhz_min"], big["cpu_mhz_max"]) == (1497.6, 2419.2)  # the two policies' clocks
    assert big["ops"] > 0 and big["fully_delegated"] is False and big["delegated_ops"] is None
    assert "not how many" in big["placement_note"] and big["delegate_used"] is None  # said, never guessed
    assert rows["native-pinned"]["delegate_used"] is None  # cpu: no delegate asked
    assert big["peak_rss_bytes"] > 1 << 20 and big["load_ms"] > 0
    app = rows["app"]
    assert app["runner"] == "host-litert" and app["peak_rss_bytes"] > 1 << 20 and app["load_ms"] > 0
    assert rows["bm"]["load_ms"] == pytest.approx(5.579)  # benchmark_model's own init time

    assert main(["show", result.run_id, "--results", str(tmp_path / "store")]) == 0
    shown = capsys.readouterr().out
    assert "Where jobs ran" in shown and "schedutil" in shown
    assert "Runner against runner" in shown
    page = (tmp_path / "run.html")
    assert main(["dashboard", result.run_id, "-o", str(page), "--results", str(tmp_path / "store")]) == 0
    text = page.read_text()
    assert "Runner against runner" in text and "peak_rss_bytes" in text


def test_runner_ratios_on_the_stand_in_run(phone, tmp_path):  # noqa: F811
    from harness.analysis.runners import runner_ratios

    sandbox, standin = phone
    binary = _fake_tool(tmp_path / "benchmark_model", AM62X)
    suite = parse_suite(toy_suite(
        "runners", infer("native", warmup=2, iterations=40, runner="native"),
        infer("app", warmup=2, iterations=40, runner="companion"),
        infer("bm", warmup=2, iterations=40, runner="benchmark_model"),
        devices=[f"android:{standin.serial}"], baseline_s=0.5, benchmark_model=str(binary)))
    store = Store(tmp_path / "store")
    result = run_bench(suite, store)
    results = store.results(result.run_id)
    spans = store.measured(result.run_id, list(results["job_id"]))
    ratios = {r.runner: r for r in runner_ratios(results, {j: f["latency_ms"].to_numpy() for j, f in spans.items()})}
    assert set(ratios) == {"host-litert", "benchmark_model"} and all(r.reference == "native-litert"
                                                                     for r in ratios.values())
    app = ratios["host-litert"]
    assert app.statistic == "median" and app.low < app.ratio < app.high and app.load_ratio is not None
    bm = ratios["benchmark_model"]
    assert bm.statistic == "mean" and bm.low is None


def test_a_delegate_that_took_nothing_is_never_a_delegate_result():
    from harness.analysis.summary import delegate_used
    from harness.cli import _placement

    assert delegate_used("cpu", {"delegated_ops": 0}) is None  # no delegate asked
    assert delegate_used("gpu", {"delegated_ops": 0, "ops": 12}) is False
    assert delegate_used("gpu", {"delegated_ops": 3, "ops": 12}) is True
    assert delegate_used("xnnpack", {"fully_delegated": True}) is True
    assert delegate_used("xnnpack", {"fully_delegated": False}) is None  # partial or none: the runtime won't say
    row = {"variant": "m/a", "workload": "ane", "device_id": "ios:1", "status": "ok", "delegate": "coreml-ane",
           "runner": "ios-coreml", "load_ms": 12.0, "peak_rss_bytes": 50 << 20, "affinity": None,
           "cpu_governor": None, "cpu_mhz_min": None, "cpu_mhz_max": None, "ops": 9, "delegated_ops": 0,
           "fully_delegated": False, "delegate_used": False}
    table, warnings = _placement([row])
    assert table is not None and table.row_count == 1
    assert warnings == ["no delegate: m/a · ane · ios:1 asked for 'coreml-ane', which took no operator: its "
                        "numbers are the CPU's, not a delegate result"]
