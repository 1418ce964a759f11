"""One person's data as files a bench job stages: `har:<subject>[:cross-placement|same-trial]`.

A train workload with `data = "har:23"` personalizes on subject 23's personalization windows (trial 1,
earlier half of each activity; shuffled once, seeded, so consecutive batches mix classes) and reports
accuracy on that subject's test windows of the chosen condition (default cross-placement: trial 2,
phone placed where the person liked). Only held-out subjects are allowed: the global model never saw them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.cache import cache_root, write_examples
from models.task import TaskError

__all__ = ["CONDITIONS", "SPEC", "parse_spec", "personalization_files"]

CONDITIONS = ("cross-placement", "same-trial")  # the first is the default
SPEC = f"har:<subject>[:{'|'.join(CONDITIONS)}]"


def parse_spec(spec: str) -> tuple[int, str]:
    """`har:<subject>[:<condition>]` -> (subject, condition); `TaskError` (a ValueError) says what is wrong."""
    from models.har.data import HELD_OUT

    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] != "har" or not parts[1].isdigit():
        raise TaskError(f"data must look like {SPEC!r}, not {spec!r}")
    subject, condition = int(parts[1]), parts[2] if len(parts) == 3 else CONDITIONS[0]
    if subject not in HELD_OUT:
        raise TaskError(f"subject {subject} is not held out (personalize only subjects "
                         f"{HELD_OUT[0]}-{HELD_OUT[-1]}: the global model trained on the others)")
    if condition not in CONDITIONS:
        raise TaskError(f"condition must be one of {', '.join(CONDITIONS)}, not {condition!r}")
    return subject, condition


def personalization_files(spec: str) -> tuple[Path, Path]:
    """(train .npz, eval .npz) for `spec`, written once into the user cache."""
    from models.har.data import SPLIT_ID, personal_split

    subject, condition = parse_spec(spec)
    folder = cache_root() / "data" / "bench" / SPLIT_ID
    train, test = folder / f"s{subject}-personal.npz", folder / f"s{subject}-{condition}.npz"
    if not (train.exists() and test.exists()):
        split = personal_split(subject)
        order = np.random.default_rng(subject).permutation(len(split.personal))
        write_examples(train, split.personal.x[order], split.personal.y[order])
        held = split.cross_placement_test if condition == "cross-placement" else split.same_trial_test
        write_examples(test, held.x, held.y)
    return train, test
