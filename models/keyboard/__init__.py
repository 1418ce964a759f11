"""Keyboard next-word prediction (Shakespeare's plays by role): data, the base, its personalization variants
and their evaluation.

`TASK` is the task's entry in `models.tasks`; importing it stays light (no TensorFlow).
"""

from models.keyboard.task import TASK

__all__ = ["TASK"]
