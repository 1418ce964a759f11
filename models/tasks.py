"""The task registry: one line per task, and the lookups the zoo, the CLI and the bench use.

A new task is one package exposing `TASK` (a `models.task.Task`) plus its line in `TASKS`. Lookups
read `TASKS` at call time (a test may add a task with `monkeypatch.setitem`); nothing is cached.
"""

from __future__ import annotations

from pathlib import Path

from models import har, keyboard, toy
from models.task import Task, TaskError
from models.variant import Variant

__all__ = ["TASKS", "get_task", "variants", "find_variant", "variant_names", "check_data", "data_files"]

TASKS: dict[str, Task] = {t.name: t for t in (toy.TASK, har.TASK, keyboard.TASK)}


def get_task(name: str) -> Task:
    """The task called `name`; `TaskError` listing the known tasks otherwise."""
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def variants(task: str | None = None) -> dict[str, Variant]:
    """Every variant by name (of every task, or of `task`); a name defined twice is a ValueError."""
    out: dict[str, Variant] = {}
    for t in [get_task(task)] if task is not None else TASKS.values():
        for v in t.variants():
            if v.name in out or v.task != t.name:
                raise ValueError(f"variant {v.name!r} of task {t.name!r} is defined twice or names task {v.task!r}")
            out[v.name] = v
    return out


def find_variant(name: str) -> Variant:
    """The variant called `name`; KeyError(name) if no task has it."""
    return variants()[name]


def variant_names(task: str | None = None) -> list[str]:
    return sorted(variants(task))


def _data_task(spec: str) -> Task:
    task = TASKS.get(spec.split(":", 1)[0])
    if task is None or not task.data_spec:
        forms = " or ".join(repr(t.data_spec) for t in TASKS.values() if t.data_spec)
        raise TaskError(f"data must look like {forms}, not {spec!r}")
    return task


def check_data(spec: str) -> None:
    """Check a bench workload's `data` spec (`<task>:...`); `TaskError` (a ValueError) says what is wrong."""
    _data_task(spec).check_data(spec)


def data_files(spec: str) -> tuple[Path, Path]:
    """(train .npz, eval .npz) of data spec `spec`, written once into the user cache by its task."""
    return _data_task(spec).data_files(spec)
