"""Cross-validation folds over all 30 HAPT subjects: every person is held out exactly once.

Fold k holds out 10 people; its global model trains on 16 of the other 20 and early-stops on the
remaining 4, who are also the fold's tuning people (personalization recipes are chosen on them).
Tuning people are the four highest-numbered of the other 20. Fold 0 is the deployed split of
`models.har.data` (train 1-16, tune 17-20, held out 21-30): the zoo's artifacts and the bench's
`har:<subject>` data use its seed-0 global model.
"""

from __future__ import annotations

import dataclasses

from models.har import data

__all__ = ["Fold", "FOLDS", "DEPLOYED", "fold_of"]

_SUBJECTS = tuple(range(1, 31))
_TUNING_PEOPLE = 4


@dataclasses.dataclass(frozen=True)
class Fold:
    index: int
    held_out: tuple[int, ...]  # personalized and tested only
    train: tuple[int, ...]  # train the fold's global model
    tuning: tuple[int, ...]  # early stopping of the global model; choice of personalization recipes

    @property
    def name(self) -> str:
        return f"fold{self.index}"


def _fold(index: int, held_out: tuple[int, ...]) -> Fold:
    others = tuple(s for s in _SUBJECTS if s not in held_out)
    return Fold(index, held_out, others[:-_TUNING_PEOPLE], others[-_TUNING_PEOPLE:])


FOLDS = (_fold(0, tuple(range(21, 31))), _fold(1, tuple(range(1, 11))), _fold(2, tuple(range(11, 21))))
DEPLOYED = FOLDS[0]
assert (DEPLOYED.train, DEPLOYED.tuning, DEPLOYED.held_out) == (data.POPULATION, data.TUNING, data.HELD_OUT)


def fold_of(subject: int) -> Fold:
    """The fold that holds `subject` out (ValueError for an unknown subject)."""
    for fold in FOLDS:
        if subject in fold.held_out:
            return fold
    raise ValueError(f"HAPT subjects are 1-30, not {subject}")
