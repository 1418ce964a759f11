"""The personal n-gram cache: no gradient steps, only counts of the user's words, mixed with the base.

    p(w | context) = (1 - a - b) p_base(w | context) + a p_unigram(w) + b p_bigram(w | previous word)

Counts come from the user's personalization text (in-vocabulary targets only; the previous word may be
`<s>` or `<unk>`). When the previous word was never seen, its weight `b` goes to the base. The weights
(a, b) are chosen on the tuning plays' users by the log-likelihood of their test words.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from models.keyboard.data import UNK, Examples

__all__ = ["NGram", "count", "mix", "choose_weights", "WEIGHT_GRID"]

WEIGHT_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)


@dataclasses.dataclass(frozen=True)
class NGram:
    """A user's counts (the n-gram's delta): word ids and how often each (previous, word) pair occurred."""

    vocab: int
    unigram_ids: np.ndarray  # uint16
    unigram_counts: np.ndarray  # uint32
    bigram_previous: np.ndarray  # uint16
    bigram_next: np.ndarray  # uint16
    bigram_counts: np.ndarray  # uint32

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "vocab"}

    @property
    def updates(self) -> int:
        """Counter increments it took (one unigram and one bigram per word): its whole training cost."""
        return 2 * int(self.unigram_counts.sum())


def count(personal: Examples, vocab: int) -> NGram:
    known = personal.known()
    previous, target = known.x[:, -1].astype(np.int64), known.y.astype(np.int64)
    ids, counts = np.unique(target, return_counts=True)
    pairs, pair_counts = np.unique(previous * vocab + target, return_counts=True)
    return NGram(vocab, ids.astype(np.uint16), counts.astype(np.uint32), (pairs // vocab).astype(np.uint16),
                 (pairs % vocab).astype(np.uint16), pair_counts.astype(np.uint32))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def mix(base_logits: np.ndarray, previous: np.ndarray, ngram: NGram, a: float, b: float) -> np.ndarray:
    """Log-probabilities (n, V) of the interpolated model at positions whose previous word ids are `previous`."""
    p = _softmax(base_logits)
    unigram = np.zeros(ngram.vocab)
    if len(ngram.unigram_ids):
        unigram[ngram.unigram_ids] = ngram.unigram_counts / ngram.unigram_counts.sum()
    prev_ids = ngram.bigram_previous.astype(np.int64)
    totals = np.bincount(prev_ids, weights=ngram.bigram_counts, minlength=ngram.vocab)
    seen = totals[previous.astype(np.int64)] > 0
    out = (1 - a - b * seen)[:, None] * p + a * unigram[None, :]
    for prev in np.unique(previous[seen]).astype(np.int64):
        rows = np.flatnonzero(previous.astype(np.int64) == prev)
        pick = prev_ids == prev
        out[np.ix_(rows, ngram.bigram_next[pick].astype(np.int64))] += b * ngram.bigram_counts[pick] / totals[prev]
    return np.log(np.maximum(out, 1e-30))


def choose_weights(users: Sequence[tuple[np.ndarray, Examples, NGram]]) -> tuple[float, float]:
    """(a, b) of `WEIGHT_GRID` maximising the summed log-likelihood of known test words over
    (base test logits, test examples, n-gram) of each user."""
    best, best_ll = (0.0, 0.0), -np.inf
    for a, b in itertools.product(WEIGHT_GRID, WEIGHT_GRID):
        if a + b >= 1:
            continue
        ll = 0.0
        for logits, test, ngram in users:
            known = test.y > UNK
            logp = mix(logits[known], test.x[known, -1], ngram, a, b)
            ll += float(logp[np.arange(known.sum()), test.y[known]].sum())
        if ll > best_ll:
            best, best_ll = (a, b), ll
    return best
