"""Activity recognition (UCI HAPT): data, the global model, its personalization variants and their evaluation.

`TASK` is the task's entry in `models.tasks`; importing it stays light (no TensorFlow).
"""

from models.har.task import TASK

__all__ = ["TASK"]
