"""Per-user next-word metrics from the model's scores over the vocabulary (numpy, no model in here).

- **top-k accuracy**: share of the user's test words whose id is among the k highest scores. Every
  test word counts, out-of-vocabulary ones too, and those are always misses (the model never suggests
  `<s>` or `<unk>`).
- **keystroke savings**: a word costs its letters plus a space. Before each letter (and before the
  first) the keyboard shows the 3 highest-scoring vocabulary words that start with what is typed so
  far; at the first such prefix where the word is shown, the user taps it (1 keystroke: the word and
  its space). Savings = 1 - keystrokes used / keystrokes needed, summed over the user's test words.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

import numpy as np

from models.keyboard.data import UNK

__all__ = ["SUGGESTIONS", "Scores", "Prefixes", "user_scores"]

SUGGESTIONS = 3


@dataclasses.dataclass(frozen=True)
class Scores:
    """One user's metrics (0-1) over `words` test words."""

    words: int
    top1: float
    top3: float
    keystroke_savings: float
    oov_rate: float  # test words out of vocabulary (misses in every metric)


class Prefixes:
    """Where each vocabulary word's prefixes start and end in the alphabetically sorted vocabulary."""

    def __init__(self, vocab: Sequence[str]):
        self.order = np.array(sorted(range(len(vocab)), key=lambda i: vocab[i]), np.int64)
        ordered = [vocab[i] for i in self.order]
        longest = max(len(w) for w in vocab)
        # lo/hi (V, longest): range of words sharing the first p letters of word i; p >= len(word) unused
        self.lo = np.zeros((len(vocab), longest), np.int64)
        self.hi = np.zeros((len(vocab), longest), np.int64)
        self.length = np.array([len(w) for w in vocab], np.int64)
        for i, word in enumerate(vocab):
            for p in range(len(word)):
                prefix = word[:p]
                self.lo[i, p] = bisect.bisect_left(ordered, prefix)
                self.hi[i, p] = bisect.bisect_left(ordered, prefix + "\U0010ffff")


def _keystrokes_used(scores: np.ndarray, y: np.ndarray, prefixes: Prefixes) -> np.ndarray:
    """Keystrokes each known target costs under the suggestion rule (rows: positions, `scores` (n, V))."""
    own = scores[np.arange(len(y)), y]
    higher = scores[:, prefixes.order] > own[:, None]
    above = np.concatenate([np.zeros((len(y), 1), np.int32), np.cumsum(higher, axis=1, dtype=np.int32)], axis=1)
    rows = np.arange(len(y))[:, None]
    shown = (above[rows, prefixes.hi[y]] - above[rows, prefixes.lo[y]]) < SUGGESTIONS
    shown &= np.arange(prefixes.lo.shape[1])[None, :] < prefixes.length[y][:, None]
    first = np.where(shown.any(axis=1), shown.argmax(axis=1), prefixes.length[y])
    return first + 1  # the letters typed, then a tap (or, never shown, the space)


def user_scores(scores: np.ndarray, y: np.ndarray, letters: np.ndarray, prefixes: Prefixes) -> Scores:
    """Metrics of one user's test words from `scores` (n, V): logits or log-probabilities, higher is likelier."""
    scores = scores.copy()
    scores[:, :UNK + 1] = -np.inf  # never suggested
    known = y > UNK
    rank = (scores > scores[np.arange(len(y)), y][:, None]).sum(axis=1)
    used = letters + 1  # typed in full, then the space
    used[known] = _keystrokes_used(scores[known], y[known], prefixes)
    return Scores(len(y), float(np.mean(known & (rank < 1))), float(np.mean(known & (rank < SUGGESTIONS))),
                  float(1 - used.sum() / (letters + 1).sum()), float(np.mean(~known)))
