from __future__ import annotations

import pytest

from harness.errors import UserError
from harness.plan import make_plan
from harness.protocol import validate_job
from harness.suite import DEFAULT_SUITE, load_suite, parse_suite

SUITE = """
name = "t"
repetitions = 4
[[models]]
name = "m"
variants = ["a", "b"]
[[workloads]]
name = "inf"
signature = "infer"
iterations = 7
[[workloads]]
name = "tr"
signature = "train"
steps = 3
batch_size = 16
"""


def test_default_suite_parses():
    suite = load_suite(DEFAULT_SUITE)
    assert suite.devices == ("host", "sim:android-flagship")
    assert {"har-cnn/float32", "har-cnn/bitfit", "har-cnn/adapter", "har-cnn/int8-full",
            "har-cnn/early-exit"} <= set(suite.variants)
    plan = make_plan(suite)
    trained = {j.variant for j in plan if j.workload.signature == "train"}
    assert trained == {"har-cnn/bitfit", "har-cnn/adapter"}  # a workload's `variants` limits where it runs


def test_every_shipped_suite_parses_and_plans():
    for path in sorted(DEFAULT_SUITE.parent.glob("*.toml")):
        suite = load_suite(path)
        assert make_plan(suite), path


def test_a_workload_naming_a_variant_no_model_lists_is_refused():
    text = SUITE.replace('name = "inf"', 'name = "inf"\nvariants = ["m/zz"]', 1)
    with pytest.raises(UserError, match="names variant 'm/zz'"):
        parse_suite(text)


def test_plan_alternates_variants_and_emits_valid_jobs():
    suite = parse_suite(SUITE)
    plan = make_plan(suite)
    assert len(plan) == 2 * 2 * 4
    infer_order = [j.variant for j in plan if j.workload.name == "inf"]
    assert infer_order == ["m/a", "m/b", "m/b", "m/a", "m/a", "m/b", "m/b", "m/a"]
    assert [j.order for j in plan] == list(range(len(plan)))
    assert len({j.job_id for j in plan}) == len(plan)
    for job in plan:
        validate_job(job.protocol_job("/x/model.tflite", "a" * 64))


def test_device_override():
    plan = make_plan(parse_suite(SUITE), ("host", "android:X"))
    assert {j.device for j in plan} == {"host", "android:X"}


@pytest.mark.parametrize("mutation, message", [
    (("repetitions = 4", "repetitons = 4"), "unknown key 'repetitons'"),
    (("repetitions = 4", "repetitions = 0"), "repetitions must be > 0"),
    (("repetitions = 4", "repetitions = true"), "repetitions must be int"),
    (('signature = "infer"', 'signature = "predict"'), "signature must be 'infer' or 'train'"),
    (("steps = 3\n", ""), "needs steps and batch_size"),
    (("iterations = 7", "iterations = 7\nsteps = 2"), "steps/batch_size belong to a train workload"),
    (('variants = ["a", "b"]', 'variants = []'), "non-empty list of variant names"),
    (('variants = ["a", "b"]', 'variants = ["a", "a"]'), "listed twice"),
    (("iterations = 7", 'iterations = 7\ndelegate = "tpu"'), "delegate must be one of"),
    (("[[models]]", "[[models]"), "not valid TOML"),
])
def test_bad_suites_name_the_problem(mutation, message):
    text = SUITE.replace(*mutation, 1)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_suite(text, "bad.toml")


def test_missing_suite_file(tmp_path):
    with pytest.raises(UserError, match="cannot read suite"):
        load_suite(tmp_path / "nope.toml")
