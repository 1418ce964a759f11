"""Early-exit cascade on held-out subjects: threshold -> exit fraction, accuracy, average MACs per input.

Runs the built `har-cnn/early-exit` artifact's `infer_early` / `infer_rest` signatures in LiteRT on
every window of the held-out subjects (both trials, the global model without personalization).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from models.har import data
from models.har.early_exit import THRESHOLDS, cascade_macs, cascade_outputs, cascade_point
from models.har.zoo import build

__all__ = ["EarlyExitRow", "early_exit_rows"]


@dataclasses.dataclass(frozen=True)
class EarlyExitRow:
    threshold: float | None  # on max exit probability; None = the full path only (reference)
    chosen: bool  # the threshold chosen on the tuning subjects (in the manifest)
    windows: int
    exit_fraction: float  # 0-1
    accuracy: float  # 0-1, pooled over windows
    exit_accuracy: float | None  # accuracy of the windows that exit (None if none exit)
    avg_macs: float  # per input: early part always + rest for inputs that do not exit
    macs_fraction: float  # avg_macs / full path MACs


def early_exit_rows(subjects: Sequence[int] = data.HELD_OUT,
                    thresholds: Sequence[float] = THRESHOLDS) -> tuple[EarlyExitRow, ...]:
    artifact = build("har-cnn/early-exit")
    chosen = artifact.manifest["early_exit"]["threshold"]
    test = data.subject_windows(subjects)
    probs, logits = cascade_outputs(artifact.path.read_bytes(), test.x)
    macs = cascade_macs()
    rows = [EarlyExitRow(None, False, len(test.y), 0.0, float(np.mean(logits.argmax(axis=1) == test.y)), None,
                         float(macs.full), 1.0)]
    for t in thresholds:
        fraction, acc = cascade_point(probs, logits, test.y, t)
        exits = probs.max(axis=1) >= t
        exit_acc = float(np.mean(probs[exits].argmax(axis=1) == test.y[exits])) if exits.any() else None
        rows.append(EarlyExitRow(t, t == chosen, len(test.y), fraction, acc, exit_acc, macs.average(fraction),
                                 macs.average(fraction) / macs.full))
    return tuple(rows)
