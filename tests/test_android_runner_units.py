"""Pure pieces of the Android backend: status lines, benchmark_model output, getprop, quoting."""

from __future__ import annotations

import pytest

from harness.devices.android.device import parse_getprop
from harness.devices.android.runner import benchmark_model_command, parse_benchmark_model, parse_status_line
from harness.errors import CompanionAppError, DeviceError


def test_status_line() -> None:
    event = parse_status_line('INSTRUMENTATION_STATUS: event={"event": "started", "job_id": "j"}')
    assert event == {"event": "started", "job_id": "j"}
    assert parse_status_line("INSTRUMENTATION_STATUS_CODE: 1") is None
    with pytest.raises(CompanionAppError):
        parse_status_line("INSTRUMENTATION_STATUS: event={broken")


def test_benchmark_model_output() -> None:
    text = (
        "INFO: Running benchmark for at least 50 iterations and at least 1 seconds\n"
        "INFO: count=12 first=5621 curr=2101 min=2001 max=5621 avg=2500.5 std=900\n"
        "INFO: count=50 first=2101 curr=1975 min=1941 max=2250 avg=1987.2 std=51\n"
        "INFO: Inference timings in us: Init: 31245, First inference: 5621, Warmup (avg): 2045.3, Inference (avg): 1987.2\n"
    )
    out = parse_benchmark_model(text)
    assert out["inference_avg_ms"] == pytest.approx(1.9872)
    assert out["init_ms"] == pytest.approx(31.245)
    assert out["count"] == 50 and out["min_ms"] == pytest.approx(1.941)
    with pytest.raises(CompanionAppError):
        parse_benchmark_model("Segmentation fault")


def test_benchmark_model_command_quotes_paths() -> None:
    cmd = benchmark_model_command("/data/local/tmp/bm", "/data/local/tmp/a b;c.tflite", 4, 50, 5, "xnnpack")
    assert "'--graph=/data/local/tmp/a b;c.tflite'" in cmd and cmd.endswith("--use_xnnpack=true")
    with pytest.raises(DeviceError):
        benchmark_model_command("bm", "g", 1, 1, 1, "coreml-ane")


def test_getprop() -> None:
    props = parse_getprop("[ro.product.model]: [Pixel 7]\n[ro.soc.model]: [Tensor G2]\n[weird]: [multi\nline]\n")
    assert props == {"ro.product.model": "Pixel 7", "ro.soc.model": "Tensor G2"}


def test_soc_name_is_the_most_specific_property() -> None:
    from harness.devices.android.device import soc_name

    s9 = {"ro.hardware": "samsungexynos9810", "ro.board.platform": "exynos5", "ro.build.version.sdk": "29"}
    assert soc_name(s9) == "samsungexynos9810"
    assert soc_name({"ro.hardware": "qcom", "ro.board.platform": "msm8998"}) == "msm8998"
    assert soc_name({"ro.soc.manufacturer": "QTI", "ro.soc.model": "SM8550", "ro.hardware": "qcom"}) == "QTI SM8550"
    assert soc_name({}) == "unknown"
