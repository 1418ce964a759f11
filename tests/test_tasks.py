"""Tasks behind one registry: a new task is one package plus one line, and the artifact manifest is typed.

`tests.tasks.binary_toy` is a 2-class toy task added to `models.tasks.TASKS` by monkeypatch; the zoo,
the data specs and `harness models build|eval` find it like `har` and `toy`. Fast: one tiny model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import tasks, zoo
from models.manifest import MANIFEST_VERSION, ArtifactManifest, InputSpec
from models.task import TaskError

V1 = Path(__file__).parent / "tasks" / "artifact_manifest_v1.json"


@pytest.fixture
def binary(monkeypatch):
    from tests.tasks import binary_toy

    monkeypatch.setitem(tasks.TASKS, "binary", binary_toy.TASK)  # the one registry line
    return binary_toy.TASK


def test_the_registry_finds_a_new_task_variants_by_name(binary):
    assert zoo.variant_names("binary") == ["binary-toy/last-layer"]
    assert "binary-toy/last-layer" in zoo.variant_names() and "toy-cnn/last-layer" in zoo.variant_names()
    assert zoo.find_variant("binary-toy/last-layer").format == "tflite"
    assert tasks.get_task("binary") is binary


def test_without_its_line_the_task_is_unknown():
    with pytest.raises(KeyError):
        zoo.find_variant("binary-toy/last-layer")
    with pytest.raises(TaskError, match="unknown task 'binary'; known tasks: toy, har, keyboard"):
        tasks.get_task("binary")


def test_new_task_variant_builds_with_its_inputs_in_the_manifest(binary):
    from ai_edge_litert.interpreter import Interpreter

    built = zoo.build("binary-toy/last-layer")
    m = built.manifest
    assert m["manifest_version"] == MANIFEST_VERSION == 2 and m["format"] == "tflite" and m["task"] == "binary"
    assert m["inputs"] == [{"name": "x", "dtype": "float32", "shape": [16, 3], "low": -1.0, "high": 1.0},
                           {"name": "y", "dtype": "int32", "shape": [], "low": 0, "high": 2}]
    assert built.record.inputs == binary.inputs and built.record.trainable_params == m["trainable_params"] == 4 * 2 + 2
    assert json.loads((built.path.parent / "manifest.json").read_text()) == m
    train = Interpreter(model_path=str(built.path)).get_signature_runner("train").get_input_details()
    assert list(train["x"]["shape"]) == [8, 16, 3] and train["y"]["dtype"] == np.int32
    assert zoo.build("binary-toy/last-layer").sha256 == built.sha256  # cached


def test_new_task_data_specs_are_checked_and_staged(binary):
    tasks.check_data("binary:1")
    tasks.check_data("har:23")
    for bad in ("binary:0", "binary:x", "binary", "binary:1:2"):
        with pytest.raises(ValueError, match="binary:<person>"):
            tasks.check_data(bad)
    with pytest.raises(ValueError, match="data must look like 'har:<subject>.*' or 'keyboard:<play>:<role>' or 'binary:<person>', "
                                        "not 'mnist:1'"):
        tasks.check_data("mnist:1")
    with pytest.raises(ValueError, match="data must look like"):
        tasks.check_data("toy:1")  # a task without data specs
    train, test = tasks.data_files("binary:1")
    with np.load(train) as t, np.load(test) as e:
        assert t["x"].shape == (64, 16, 3) and t["x"].dtype == np.float32 and e["y"].dtype == np.int32
        assert -1.0 <= t["x"].min() and t["x"].max() < 1.0 and set(np.unique(t["y"])) == {0, 1}
    assert tasks.data_files("binary:1") == (train, test)


def test_tasks_without_data_or_evaluation_say_so():
    toy = tasks.get_task("toy")
    with pytest.raises(TaskError, match="task 'toy' takes no data specs"):
        toy.data_files("toy:1")
    with pytest.raises(TaskError, match="task 'toy' has no evaluation"):
        toy.evaluate(None, lambda _msg: None)


def test_cli_builds_and_evaluates_the_new_task(binary, capsys):
    from harness.cli import main

    assert main(["models", "build", "--task", "binary"]) == 0
    assert "binary-toy/last-layer" in capsys.readouterr().out
    assert main(["models", "eval", "--task", "binary", "--subjects", "2"]) == 0
    out = capsys.readouterr().out
    assert "| person | accuracy % | after 5 steps % |" in out and "| 2 |" in out and "| 3 |" not in out
    assert main(["models", "eval", "--task", "binary", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r[0] for r in rows] == [1, 2, 3] and all(0.0 <= r[1] <= 1.0 and 0.0 <= r[2] <= 1.0 for r in rows)


def test_cli_refuses_an_unknown_task_and_a_task_without_evaluation(capsys):
    from harness.cli import main

    assert main(["models", "build", "--task", "nope"]) == 2
    assert "unknown task 'nope'; known tasks: toy, har, keyboard" in capsys.readouterr().err
    assert main(["models", "eval", "--task", "toy"]) == 2
    assert "task 'toy' has no evaluation" in capsys.readouterr().err


def _v1() -> dict:
    d = json.loads(V1.read_text())
    assert d.pop("_source").startswith("written by models.zoo.build at commit ")
    return d


def test_a_version_1_manifest_reads_as_version_2():
    record = ArtifactManifest.from_dict(_v1())
    assert record.manifest_version == 2 and record.format == "tflite" and record.name == "toy-cnn/last-layer"
    assert record.inputs == (InputSpec("x", "float32", (128, 6), -1.0, 1.0), InputSpec("y", "int32", (), 0, 6))
    assert record.trainable_params == 102 and record.signatures == ("infer", "train", "get_weights", "set_weights")
    d = record.to_dict()
    assert "input" not in d and "num_classes" not in d and d["sha256"] == _v1()["sha256"]
    assert ArtifactManifest.from_dict(d) == record


def test_the_upgraded_version_1_inputs_are_what_the_builder_writes_today(toy_artifact):
    assert toy_artifact.record.inputs == ArtifactManifest.from_dict(_v1()).inputs
    assert toy_artifact.manifest["format"] == "tflite" and toy_artifact.manifest["manifest_version"] == 2


def test_a_newer_or_incomplete_manifest_is_refused():
    with pytest.raises(ValueError, match="version 3 is newer"):
        ArtifactManifest.from_dict({**_v1(), "manifest_version": 3})
    with pytest.raises(ValueError, match="'manifest_version'"):
        ArtifactManifest.from_dict({k: v for k, v in _v1().items() if k != "manifest_version"})
    with pytest.raises(ValueError, match="lacks 'sha256'"):
        ArtifactManifest.from_dict({k: v for k, v in _v1().items() if k != "sha256"})
    with pytest.raises(ValueError, match="format"):
        ArtifactManifest.from_dict({**ArtifactManifest.from_dict(_v1()).to_dict(), "format": "onnx"})


def test_input_specs_refuse_an_unknown_dtype_and_an_empty_range():
    with pytest.raises(ValueError, match="dtype"):
        InputSpec("x", "complex64", (3,), 0, 1)
    with pytest.raises(ValueError, match="empty"):
        InputSpec("y", "int32", (), 2, 2)
    spec = InputSpec("x", "float32", [16, 3], -1.0, 1.0, units="g")
    assert spec.shape == (16, 3) and InputSpec.from_dict(spec.to_dict()) == spec
