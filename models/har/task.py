"""The HAR task: UCI HAPT activity recognition, personalized per held-out subject."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.har import bench_data, data
from models.task import Task, TaskError
from models.variant import Variant

__all__ = ["HarTask", "TASK"]


class HarTask(Task):
    name = "har"
    description = "Activity recognition on UCI HAPT (128 x 6 windows, 6 classes), personalized per held-out subject"
    inputs = data.INPUTS
    data_spec = bench_data.SPEC

    def variants(self) -> list[Variant]:
        from models.har.zoo import variants

        return variants()

    def check_data(self, spec: str) -> None:
        bench_data.parse_spec(spec)

    def data_files(self, spec: str) -> tuple[Path, Path]:
        return bench_data.personalization_files(spec)

    def evaluate(self, subjects: int | None, progress: Callable[[str], None]) -> Any:
        """Cross-validated personalization over all folds (the first `subjects` people of each fold); slow."""
        from models.har.crossval import FULL
        from models.har.evaluate import evaluate

        if subjects is not None and not 1 <= subjects <= FULL.people:
            raise TaskError(f"--subjects must be 1..{FULL.people} (people per fold), not {subjects}")
        return evaluate(dataclasses.replace(FULL, people=subjects or FULL.people), progress)

    def format_report(self, report: Any) -> str:
        from models.har.report import format_report

        return format_report(dataclasses.asdict(report))

    def report_dict(self, report: Any) -> dict[str, Any]:
        return dataclasses.asdict(report)


TASK = HarTask()
