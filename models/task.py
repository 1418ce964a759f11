"""The task interface: what every `models/<task>/` package exposes as its `TASK`.

A task names its variants, its inputs (shared by every runner), the data specs a bench workload may
name (`<task>:...`, staged as train/eval .npz files) and its evaluation. The base class says "not
supported" for data specs and evaluation; a task overrides what it has. A task package's `__init__`
stays light: reading `TASK` and checking a data spec import neither TensorFlow nor Keras.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from models.manifest import InputSpec
from models.variant import Variant

__all__ = ["InputSpec", "Task", "TaskError"]


class TaskError(ValueError):
    """What a task cannot do or does not know (no evaluation, no data specs, a bad spec), in one line."""


class Task(abc.ABC):
    name: ClassVar[str]  # registry key and the prefix of its data specs
    description: ClassVar[str]
    inputs: ClassVar[tuple[InputSpec, ...]]  # example inputs and the label, as runners and data files carry them
    data_spec: ClassVar[str] = ""  # the form of its data specs, e.g. "har:<subject>"; "" = it takes none

    @abc.abstractmethod
    def variants(self) -> list[Variant]:
        """Every buildable variant of the task."""

    def check_data(self, spec: str) -> None:
        """Raise `TaskError` saying what is wrong with data spec `spec`."""
        raise TaskError(f"task {self.name!r} takes no data specs")

    def data_files(self, spec: str) -> tuple[Path, Path]:
        """(train .npz, eval .npz) of data spec `spec`, written once into the user cache."""
        raise TaskError(f"task {self.name!r} takes no data specs")

    def evaluate(self, subjects: int | None, progress: Callable[[str], None]) -> Any:
        """The task's report; `subjects`: only the first N evaluation subjects (None: all)."""
        raise TaskError(f"task {self.name!r} has no evaluation")

    def format_report(self, report: Any) -> str:
        """Markdown of a report of `evaluate`."""
        raise TaskError(f"task {self.name!r} has no evaluation")

    def report_dict(self, report: Any) -> dict[str, Any]:
        """The JSON object of a report of `evaluate` (`--json`)."""
        raise TaskError(f"task {self.name!r} has no evaluation")
