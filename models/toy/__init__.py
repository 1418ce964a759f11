"""Toy CNNs with seeded random weights: the whole path (export, staging, inference, on-device training)
without data or evaluation."""

from __future__ import annotations

from models.task import Task
from models.toy import cnn
from models.variant import Variant

__all__ = ["TASK"]


class ToyTask(Task):
    name = "toy"
    description = "Toy 1D CNNs on HAR-shaped windows (128 x 6, 6 classes) with seeded random weights"
    inputs = cnn.INPUTS

    def variants(self) -> list[Variant]:
        return cnn.variants()


TASK = ToyTask()
