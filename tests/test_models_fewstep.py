"""Few-step personalization: recipes, early stopping, the step curve, Reptile and the tuning split.

Fast: a tiny untrained architecture; real HAPT windows only where the split itself is under test.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.har import data
from models.har.global_model import Arch, build_model, layer_weights
from models.personalize import Recipe, Session, cross_entropy, holdout_mask, personalize

TINY = Arch(stem=8, blocks=(8, 12), feature=8)


@pytest.fixture(scope="module")
def tiny_blobs():
    import keras

    from models.har.variants import export_personalization

    keras.utils.set_random_seed(0)
    weights = layer_weights(build_model(TINY))
    return {lr: export_personalization("bitfit", lr=lr, arch=TINY, weights=weights)[0] for lr in (0.0, 0.05)}


def _windows(n: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(6), n // 6).astype(np.int32)
    x = (rng.normal(size=(n, data.WINDOW, 6)) + y[:, None, None]).astype(np.float32)
    return x, y, np.tile(np.arange(n // 6) * data.HOP, 6)


def test_early_stopping_stops_on_a_flat_held_back_loss_and_keeps_the_initial_weights(tiny_blobs):
    x, y, start = _windows()
    session = Session(tiny_blobs[0.0])  # learning rate 0: the held-back loss never falls
    before = session.get_weights()
    recipe = Recipe(steps=100, holdout=0.25, check_every=5, patience=3)
    outcome = personalize(session, x, y, start, recipe)
    assert outcome.steps == 15 and outcome.best_step == 0
    for k, v in session.get_weights().items():
        np.testing.assert_array_equal(v, before[k])


def test_training_loss_plateau_stops_early_on_a_flat_loss(tiny_blobs):
    x, y, _ = _windows()
    same_x, same_y = np.repeat(x[:1], 16, axis=0), np.repeat(y[:1], 16)  # every batch: exactly the same loss
    log = Session(tiny_blobs[0.0]).train(same_x, same_y, steps=100, plateau=4)
    assert log.steps == 8


def test_early_stopping_keeps_the_weights_of_the_best_held_back_loss(tiny_blobs):
    x, y, start = _windows()
    session = Session(tiny_blobs[0.05])
    val = holdout_mask(y, start, 0.25)
    initial = cross_entropy(session.logits(x[val]), y[val])
    outcome = personalize(session, x, y, start, Recipe(steps=40, holdout=0.25, check_every=5, patience=2))
    assert 0 < outcome.best_step <= outcome.steps <= 40
    assert cross_entropy(session.logits(x[val]), y[val]) < initial


def test_holdout_is_the_latest_windows_of_each_class():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    start = np.array([3, 0, 2, 1, 0, 1, 2, 3]) * data.HOP
    assert holdout_mask(y, start, 0.25).tolist() == [True, False, False, False, False, False, False, True]


def test_balanced_batches_draw_classes_uniformly():
    from models.personalize import _batches

    y = np.array([0] * 90 + [1] * 10)
    batch = next(_batches(y, 1000, np.random.default_rng(0), balanced=True))
    assert 0.4 < np.mean(y[batch] == 1) < 0.6


def test_tuning_refuses_a_fold_whose_tuning_people_are_held_out():

    from models.har.folds import DEPLOYED
    from models.har.tuning import tune

    bad = dataclasses.replace(DEPLOYED, tuning=(17, 21))
    with pytest.raises(ValueError):
        tune("never", lambda: pytest.fail("must refuse before building a session"), bad, 0)


def test_reptile_uses_only_population_subjects_and_moves_the_init_toward_them(tiny_blobs):
    from models.har.zoo_entries import population_episodes
    from models.meta import ReptileConfig, reptile

    for bad in ((21,), (17,), ()):
        with pytest.raises(ValueError):
            population_episodes(bad)
    episodes = population_episodes((1, 2))
    assert all(set(np.unique(e.subject)) <= {1, 2} and set(np.unique(e.trial)) == {1} for e in episodes)
    blob = tiny_blobs[0.05]
    config = ReptileConfig(meta_steps=6, inner_steps=5, windows=64)
    theta = reptile(blob, episodes, config)
    plain, meta = Session(blob), Session(blob)
    meta.set_weights(theta)
    pool = episodes[0]
    assert cross_entropy(meta.logits(pool.x), pool.y) < cross_entropy(plain.logits(pool.x), pool.y)
    again = reptile(blob, episodes, config)
    for k in theta:
        np.testing.assert_array_equal(again[k], theta[k])  # seeded: the artifact is reproducible
