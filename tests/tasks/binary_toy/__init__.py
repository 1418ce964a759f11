"""`binary`: a 2-class toy task, the smallest complete task (variants, data specs, evaluation).

Adding it to the zoo is this package plus one registry line (tests do
`monkeypatch.setitem(models.tasks.TASKS, "binary", TASK)`). Its one variant, `binary-toy/last-layer`,
is a tiny seeded CNN whose head trains; data spec `binary:<person>` (person 1-3) stages a seeded
.npz pair (train 64, eval 32 examples) in which class 1 windows are shifted up.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.cache import atomic_write_bytes, cache_root
from models.manifest import InputSpec
from models.task import Task, TaskError
from models.variant import Variant

__all__ = ["TASK", "BinaryReport"]

INPUTS = (InputSpec("x", "float32", (16, 3), -1.0, 1.0), InputSpec("y", "int32", (), 0, 2))
PEOPLE = (1, 2, 3)
TRAIN_BATCH = 8
STEPS = 5


def _build() -> tuple[bytes, dict[str, Any]]:
    import keras

    from models.export import export_tflite, make_optimizer

    keras.utils.set_random_seed(0)
    inp = keras.Input(INPUTS[0].shape, name="x")
    x = keras.layers.Conv1D(4, 3, padding="same", activation="relu")(inp)
    out = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inp, out)
    trainable = model.get_layer("head").trainable_variables
    blob = export_tflite(model, trainable, optimizer=make_optimizer("sgd", 0.1), train_batch=TRAIN_BATCH,
                         x=INPUTS[0], y=INPUTS[1])
    params = sum(int(v.numpy().size) for v in trainable)
    return blob, {"technique": "last-layer", "total_params": int(model.count_params()), "trainable_params": params,
                  "delta_bytes": 4 * params, "train_batch": TRAIN_BATCH, "optimizer": "sgd", "quantization": "float32",
                  "signatures": ["infer", "train", "get_weights", "set_weights"],
                  "data": "none (seeded random weights)"}


VARIANT = Variant("binary-toy/last-layer", "binary", "Tiny seeded CNN (16 x 3 -> 2 classes); head trains.", _build,
                  inputs=INPUTS)


def _person(spec: str) -> int:
    parts = spec.split(":")
    if len(parts) != 2 or parts[0] != "binary" or not parts[1].isdigit() or int(parts[1]) not in PEOPLE:
        raise TaskError(f"data must look like 'binary:<person>' with person {PEOPLE[0]}-{PEOPLE[-1]}, not {spec!r}")
    return int(parts[1])


def _examples(person: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 * person + seed)
    y = rng.integers(0, 2, count).astype(np.int32)
    x = rng.uniform(-1.0, 0.5, (count, *INPUTS[0].shape)) + 0.5 * y[:, None, None]
    return x.astype(np.float32), y


def _npz(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    atomic_write_bytes(path, buf.getvalue())


@dataclasses.dataclass(frozen=True)
class BinaryReport:
    rows: tuple[tuple[int, float, float], ...]  # (person, accuracy before, after STEPS train steps)


class BinaryTask(Task):
    name = "binary"
    description = "2-class toy (tests only)"
    inputs = INPUTS
    data_spec = "binary:<person>"

    def variants(self) -> list[Variant]:
        return [VARIANT]

    def check_data(self, spec: str) -> None:
        _person(spec)

    def data_files(self, spec: str) -> tuple[Path, Path]:
        person = _person(spec)
        folder = cache_root() / "data" / "bench" / "binary"
        train, test = folder / f"p{person}-train.npz", folder / f"p{person}-eval.npz"
        if not (train.exists() and test.exists()):
            _npz(train, *_examples(person, 64, 0))
            _npz(test, *_examples(person, 32, 1))
        return train, test

    def evaluate(self, subjects: int | None, progress: Callable[[str], None]) -> BinaryReport:
        from models.artifact import build_variant
        from models.personalize import Session, accuracy

        if subjects is not None and not 1 <= subjects <= len(PEOPLE):
            raise TaskError(f"--subjects must be 1..{len(PEOPLE)}, not {subjects}")
        blob = build_variant(VARIANT).path.read_bytes()
        rows = []
        for person in PEOPLE[:subjects]:
            progress(f"person {person}")
            train_path, test_path = self.data_files(f"binary:{person}")
            with np.load(train_path) as train, np.load(test_path) as test:
                session = Session(blob)
                before = accuracy(session, test["x"], test["y"])
                session.train(train["x"], train["y"], steps=STEPS, seed=person)
                rows.append((person, before, accuracy(session, test["x"], test["y"])))
        return BinaryReport(tuple(rows))

    def format_report(self, report: BinaryReport) -> str:
        lines = [f"| person | accuracy % | after {STEPS} steps % |", "| --- | --- | --- |"]
        return "\n".join(lines + [f"| {p} | {100 * b:.1f} | {100 * a:.1f} |" for p, b, a in report.rows])

    def report_dict(self, report: BinaryReport) -> dict[str, Any]:
        return dataclasses.asdict(report)


TASK = BinaryTask()
