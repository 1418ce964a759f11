"""Scheduling policies: parsed from suites and policy files, carried by the job protocol, and obeyed by every
phone twin through the condition inducers (never start an update while hot or low; pause a running one)."""

from __future__ import annotations

import pytest

from harness.devices.base import Artifact
from harness.devices.sim import SimDevice
from harness.errors import UserError
from harness.plan import make_plan
from harness.policy import POLICIES, PhoneState, Policy, policy_from
from harness.protocol import job_from_vector, load_vectors, validate_job
from harness.suite import parse_suite
from tests.suites import infer, toy_suite, train

PROFILES = ["android-low", "android-flagship", "iphone-13"]
SUITE = toy_suite("p", infer(), train("update", steps=8))


def test_default_policy_rules():
    p = POLICIES["default"]
    ok = PhoneState(charging=True, battery_pct=80, thermal_status=0)
    assert p.may_update(ok) and p.inference_rate(ok) == 1.0
    assert p.blockers(PhoneState(False, 80, 0)) == ["not charging"]
    assert p.blockers(PhoneState(True, 20, 0)) == ["battery 20 % < 30 %"]
    assert p.blockers(PhoneState(True, 80, 2)) == ["thermal status 2 >= 2"]
    assert p.inference_rate(PhoneState(True, 80, 1)) == 0.5
    assert POLICIES["greedy"].may_update(PhoneState(False, 5, 6))


def test_suites_name_policies_by_name_table_or_file(tmp_path):
    assert parse_suite('policy = "greedy"\n' + SUITE).policy == POLICIES["greedy"]
    custom = parse_suite(SUITE + "[policy]\nrequires_unmetered = true\nmin_battery_pct = 50\n").policy
    assert custom.requires_unmetered and custom.min_battery_pct == 50 and custom.requires_charging
    (tmp_path / "night.toml").write_text("[policy]\nmin_battery_pct = 60\n")
    assert policy_from("night.toml", base=tmp_path).min_battery_pct == 60
    with pytest.raises(UserError, match="unknown key 'max_temp'"):
        parse_suite(SUITE + "[policy]\nmax_temp = 40\n")
    with pytest.raises(UserError, match="unknown policy 'lazy'"):
        parse_suite('policy = "lazy"\n' + SUITE)
    assert parse_suite(SUITE).policy is None


def test_train_jobs_carry_the_policy_in_the_protocol():
    plan = make_plan(parse_suite('policy = "default"\n' + SUITE))
    docs = {j.workload.name: j.protocol_job("/m.tflite", "0" * 64) for j in plan}
    assert docs["update"]["policy"] == Policy().to_job() and "policy" not in docs["infer"]
    for doc in docs.values():
        validate_job(doc)


def _job(device, toy_artifact, policy: Policy) -> dict:
    vector = next(v for v in load_vectors() if v["name"] == "train-steps")
    staged = device.stage([Artifact(toy_artifact.name, toy_artifact.path, toy_artifact.sha256)])
    job = job_from_vector(vector, staged[toy_artifact.sha256], toy_artifact.sha256)
    job["train"]["steps"] = max(job["train"]["steps"], 8)
    return {**job, "policy": policy.to_job()}


def _terminal(events):
    return events[-1]["event"], events[-1].get("code")


@pytest.mark.parametrize("profile", PROFILES)
def test_default_policy_never_starts_an_update_unplugged_low_or_hot(profile, toy_artifact):
    device = SimDevice.open(f"sim:{profile}")
    job = _job(device, toy_artifact, POLICIES["default"])
    events = device.run(job)  # a twin starts unplugged
    assert _terminal(events) == ("error", "policy_deferred") and "not charging" in events[-1]["message"]
    device.plug()
    for condition, value, why in (("battery_level", 20, "battery 20 %"), ("thermal_status", 2, "thermal status 2")):
        device.induce(condition, value)
        events = device.run(job)
        assert _terminal(events) == ("error", "policy_deferred") and why in events[-1]["message"]
        assert not [e for e in events if e["event"] == "train_step"]
        device.restore()
    assert _terminal(device.run(job)) == ("finished", None)  # charging, full enough, cool: it runs


@pytest.mark.parametrize("profile", PROFILES)
def test_default_policy_pauses_a_running_update_when_the_phone_heats_up(profile, toy_artifact):
    device = SimDevice.open(f"sim:{profile}")
    device.plug()
    job = _job(device, toy_artifact, POLICIES["default"])
    seen = []

    def heat_after_step_two(event):
        seen.append(event)
        if event["event"] == "train_step" and event["step"] == 2:
            device.induce("thermal_status", 3)  # the phone heats up mid-update

    device.run(job, heat_after_step_two)
    steps = [e["step"] for e in seen if e["event"] == "train_step"]
    assert steps[-1] == 2 and _terminal(seen) == ("error", "policy_paused")
    assert "thermal status 3 >= 2" in seen[-1]["message"]
    device.restore()
    assert _terminal(device.run(job)) == ("finished", None)  # conditions back: it resumes


def test_greedy_policy_updates_regardless(toy_artifact):
    device = SimDevice.open("sim:android-low")
    device.induce("battery_level", 10)
    device.induce("thermal_status", 4)
    assert _terminal(device.run(_job(device, toy_artifact, POLICIES["greedy"]))) == ("finished", None)
