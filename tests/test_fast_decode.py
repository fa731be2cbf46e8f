"""The chunk decoders' numpy fast paths equal their definitions (no timings here).

- :func:`khabar.model.decoding._viterbi_labelled_many` (sentences in lockstep) against
  :func:`_viterbi_labelled`, one sentence at a time, ties and impossible tags included;
- the ``*_many`` decoders against one call per article on edge articles (empty, one word, rows
  of equal probabilities, probabilities of exactly 0 or 1);
- :func:`name_span` against :func:`is_name` + :func:`clean_entity`, and its whitespace list
  against Python's Unicode database;
- :func:`khabar.model.inference._row_softmax` against ``softmax(-1)`` (rounding level: the sums run
  in another order);
- ``predict`` on small Arabic texts and edge cases (empty, whitespace, Latin only, a quotation at
  the text's edge) against the brute-force pipeline of ``test_model_inference_perf``.
"""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
import torch

from khabar.model.decoding import (
    SPACES,
    _viterbi_labelled,
    _viterbi_labelled_many,
    clean_entity,
    decode_bio,
    decode_bio_many,
    decode_bio_viterbi,
    decode_bio_viterbi_many,
    decode_quotes,
    decode_quotes_many,
    is_name,
    name_span,
)
from khabar.model.features import TokenizedArticle, entity_scheme

ENTITY_TAGS = entity_scheme()
# an I without its B (I-ORG), and tags out of the usual order: the lockstep must not assume either
ODD_TAGS = ["B-LOC", "O", "I-PER", "I-ORG", "B-PER", "I-LOC"]


def _pairs(tags: list[str]) -> dict[int, int]:
    from khabar.model.decoding import _bio_tables

    return _bio_tables(tuple(tags))[1]


def _rows(rng: random.Random, n: int, k: int, coarse: bool) -> list[list[float]]:
    """Log-probabilities; ``coarse``: from a few values (ties everywhere) and -inf."""
    if coarse:
        return [[rng.choice([float("-inf"), -3.0, -1.0, -0.5, -0.5, 0.0]) for _ in range(k)] for _ in range(n)]
    return [[rng.uniform(-6.0, 0.0) for _ in range(k)] for _ in range(n)]


@pytest.mark.parametrize("seed", range(12))
def test_lockstep_viterbi_equals_one_sentence_at_a_time(seed):
    rng = random.Random(seed)
    tags = ENTITY_TAGS if seed % 3 else ODD_TAGS
    pair_of = _pairs(tags)
    lengths = [rng.choice([1, 1, 2, 3, rng.randint(1, 60)]) for _ in range(rng.randint(1, 25))]
    sentences = [_rows(rng, n, len(tags), coarse=seed % 2 == 0) for n in lengths]
    want = [t for rows in sentences for t in _viterbi_labelled(rows, pair_of)]
    logp = np.array([row for rows in sentences for row in rows], dtype=np.float64)
    assert _viterbi_labelled_many(logp, np.array(lengths), pair_of).tolist() == want


def _tok(rng: random.Random, n_tokens: int) -> TokenizedArticle:
    """An article of ``n_tokens`` tokens (0: empty), words of 1-3 tokens, a new sentence now and then."""
    from model_helpers import random_token_layout

    first, word_ids, sentence = random_token_layout(rng, n_tokens)
    return TokenizedArticle("x" * n_tokens, list(range(n_tokens)), [(i, i + 1) for i in range(n_tokens)], word_ids,
                            first, sentence, [(0, n_tokens)] if n_tokens else [])


def _probs(gen: torch.Generator, n: int, k: int, kind: str) -> torch.Tensor:
    if kind == "uniform":  # every tag ties
        return torch.full((n, k), 1.0 / k)
    if kind == "onehot":  # probabilities of exactly 0 and 1 (log 0 = -inf)
        return torch.nn.functional.one_hot(torch.randint(0, k, (n,), generator=gen), k).float()
    if kind == "coarse":  # many ties between tags, some exact zeros
        return torch.randint(0, 3, (n, k), generator=gen).float().softmax(-1) * (torch.rand(n, k, generator=gen) > 0.2)
    return (torch.randn((n, k), generator=gen) * 3).softmax(-1)


@pytest.mark.parametrize("kind", ["random", "uniform", "onehot", "coarse"])
def test_chunk_decoders_equal_article_decoders_on_edge_articles(kind):
    rng = random.Random(7)
    gen = torch.Generator().manual_seed(7)
    toks = [_tok(rng, n) for n in (0, 1, 5, 0, 2, 40, 1, 120, 0)]
    probs = [_probs(gen, len(tok), 21, kind) for tok in toks]  # (tokens, all heads' tags)
    offsets = [0]
    for tok in toks:
        offsets.append(offsets[-1] + len(tok.words))
    rows = torch.cat([p[tok.word_index()] for tok, p in zip(toks, probs)])  # (N_words, 21)
    types, bio = ["direct", "indirect", "mixed"], ["O", "B", "I"]
    for tags, cols in ((ENTITY_TAGS, slice(0, 9)), (ODD_TAGS, slice(0, 6))):
        assert decode_bio_viterbi_many(toks, rows[:, cols], offsets, tags) == [
            decode_bio_viterbi(t, p[:, cols], tags) for t, p in zip(toks, probs)]
        assert decode_bio_many(toks, rows[:, cols], offsets, tags) == [
            decode_bio(t, p[:, cols], tags) for t, p in zip(toks, probs)]
    assert decode_quotes_many(toks, rows[:, 9:16], offsets, types) == [
        decode_quotes(t, p[:, 9:16], types) for t, p in zip(toks, probs)]
    assert decode_bio_many(toks, rows[:, 16:19], offsets, bio) == [decode_bio(t, p[:, 16:19], bio)
                                                                  for t, p in zip(toks, probs)]
    empty = [_tok(rng, 0), _tok(rng, 0)]
    for decode, tags in ((decode_bio_viterbi_many, ENTITY_TAGS), (decode_bio_many, bio), (decode_quotes_many, types)):
        assert decode(empty, torch.zeros((0, len(tags) if decode is not decode_quotes_many else 7)), [0, 0, 0],
                      tags) == [[], []]


def test_spaces_are_every_isspace_character():
    assert SPACES == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


@pytest.mark.parametrize("seed", range(5))
def test_name_span_equals_is_name_and_clean_entity(seed):
    rng = random.Random(seed)
    alphabet = list("بوشأنانالقدس") + list("ab") + [" ", "\n", "\u00a0", "\u2009", '"', "«", "»", ".", "،", "#", "(", ")"]
    texts = ["", " ", '"', "«»", "«داعش»", " ،", "Latin only.", "(بوش) ", '"قال الرئيس"']
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    for text in texts:
        for s in range(len(text) + 1):
            for e in range(s, len(text) + 1):
                want = clean_entity(text, s, e) if is_name(text, s, e) else None
                assert name_span(text, s, e) == want, (text, s, e)


@pytest.mark.parametrize("shape", [(0, 9), (1, 9), (1, 3), (7, 7), (1000, 9), (1000, 3)])
def test_row_softmax_is_softmax_to_rounding(shape):
    from khabar.model.inference import _row_softmax

    gen = torch.Generator().manual_seed(shape[0])
    wide = torch.randn((shape[0], shape[1] + 5), generator=gen) * 4
    logits = wide[:, 2 : 2 + shape[1]]  # a column slice, as _run_chunk's heads are
    got, want = _row_softmax(logits), logits.softmax(-1)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


TEXTS = [
    "",
    "   \n\t ",
    "Latin only text, with no Arabic word at all.",
    "«سنواصل العمل من أجل السلام» قال الرئيس",
    'قال وزير الخارجية الأمريكي جون كيري إن "الحل السياسي هو الطريق الوحيد"',
    "وأضاف المتحدث باسم الحكومة أن المفاوضات ستستأنف الأسبوع المقبل في جنيف.\nوقال: «لن نتراجع»",
]


@pytest.mark.parametrize("threshold", [None, 0.0, 0.6])
def test_predict_on_edge_texts_equals_the_brute_force_pipeline(monkeypatch, threshold):
    import khabar.model.inference as inference
    from model_helpers import tiny_tokenizer
    from test_model_inference_perf import _reference_predict, _spurious_model

    tok = tiny_tokenizer()
    model = _spurious_model(tok, 1.0)
    texts = TEXTS + [" ".join(TEXTS) * 3]
    got = inference.predict(model, texts, tok, batch_size=4, min_quote_score=threshold)
    with monkeypatch.context() as m:
        m.setattr(model, "predict", lambda texts, tok, batch_size: inference.predict(
            model, texts, tok, batch_size=batch_size, min_quote_score=threshold))
        want = _reference_predict(monkeypatch, model, tok, texts)
    assert got == want
    assert got[0].entities == got[0].quotes == got[1].entities == got[1].quotes == []
    if threshold is None:
        assert sum(len(a.quotes) for a in got) > 5 and sum(len(a.entities) for a in got) > 5


@pytest.mark.parametrize("seed", range(4))
def test_quotation_threshold_skips_only_articles_without_a_quotation_that_reaches_it(seed):
    rng = random.Random(40 + seed)
    gen = torch.Generator().manual_seed(40 + seed)
    toks = [_tok(rng, rng.choice([0, 1, 30, 90])) for _ in range(12)]
    # some articles sure of their quotations, others unsure everywhere
    probs = [(torch.randn((len(tok), 7), generator=gen) * rng.choice([0.3, 1.0, 5.0])).softmax(-1) for tok in toks]
    offsets = [0]
    for tok in toks:
        offsets.append(offsets[-1] + len(tok.words))
    rows = torch.cat([p[tok.word_index()] for tok, p in zip(toks, probs)])
    types = ["direct", "indirect", "mixed"]
    want = decode_quotes_many(toks, rows, offsets, types)
    scores = sorted(q.score for spans in want for q in spans)
    skipped = 0
    for threshold in (0.0, 0.5, 0.8, scores[len(scores) // 2] if scores else 0.5, scores[-1] if scores else 1.0):
        got = decode_quotes_many(toks, rows, offsets, types, min_score=threshold)
        assert all(g == w or g == [] for g, w in zip(got, want))
        skipped += sum(g != w for g, w in zip(got, want))
        assert [[q for q in g if q.score >= threshold] for g in got] == [[q for q in w if q.score >= threshold]
                                                                        for w in want]
    assert skipped  # articles with quotations below the threshold were skipped
    assert decode_quotes_many(toks, rows, offsets, types, min_score=0.0) == want


@pytest.mark.parametrize("seed", range(6))
def test_central_windows_of_many_articles_equal_one_article_at_a_time(seed):
    from khabar.model.inference import _central_windows_many
    from khabar.model.windows import make_windows

    rng = random.Random(90 + seed)
    windows, lengths = [], []
    for _ in range(rng.randint(1, 8)):
        n = rng.randint(1, 300)
        boundaries = rng.sample(range(1, n), min(n - 1, rng.randint(0, 30)))
        size = rng.randint(2, 40)
        windows.append(make_windows(n, boundaries, size, rng.randint(0, size - 1)))
        lengths.append(n)
    got = _central_windows_many(windows, lengths)
    for (win, pos), ws, n in zip(got, windows, lengths):
        [(want_win, want_pos)] = _central_windows_many([ws], [n])  # one article alone
        assert win.tolist() == want_win.tolist() and pos.tolist() == want_pos.tolist()
    assert _central_windows_many([], []) == []
    with pytest.raises(AssertionError, match="do not cover tokens \\[1\\] .* of article 1"):
        _central_windows_many([[(0, 2)], [(0, 1)]], [2, 2])


@pytest.mark.parametrize("seed", range(6))
def test_quotation_bound_is_the_best_run_of_every_article(seed):
    from khabar.model.decoding import _quotation_bound

    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 40, size=rng.integers(1, 9))
    b, i_ = rng.random(lengths.sum()).astype(np.float32), rng.random(lengths.sum()).astype(np.float32) ** 0.3
    starts = (np.cumsum(lengths) - lengths).tolist()
    for t in (0.0, 0.5, 0.9, 1.0):
        want = [max(float(b[s]) - t + sum(float(i_[j]) - t for j in range(s + 1, e))
                    for s in range(a0, a0 + n) for e in range(s + 1, a0 + n + 1))
                for a0, n in zip(starts, lengths.tolist())]
        np.testing.assert_allclose(_quotation_bound(b, i_, starts, t), want, rtol=0, atol=1e-9)


def test_batch_inputs_read_the_lexical_tensor_not_the_lazy_lists():
    """An article tokenised from arrays makes its lexical list of lists only when asked (~0.5 ms
    an article): building a batch must not ask, and must give the tensor's rows."""
    from model_helpers import load_articles, tiny_tokenizer

    from khabar.model.features import ArticleEncoder
    from khabar.model.inference import _batch_inputs

    encoder = ArticleEncoder(tiny_tokenizer(), 32, 8, lexical_features={"norm": [512, 8], "stem": [256, 4]})
    toks = [encoder.tokenize(a.text) for a in load_articles()[:3]]
    windows = [(tok, w) for tok in toks for w in range(len(tok.windows))]
    ids, mask, lex, lengths = _batch_inputs(windows, 2, 3)
    for r, (tok, w) in enumerate(windows):
        s, e = tok.windows[w]
        tok_ids, tok_lex = tok.input_tensors()
        assert torch.equal(ids[r, 1 : e - s + 1], tok_ids[s:e]) and torch.equal(lex[r, 1 : e - s + 1], tok_lex[s:e])
        assert not lex[r, e - s + 1 :].any() and lex.shape[2] == tok_lex.shape[1] == 2
    if all("ids" in tok._derived for tok in toks):  # built from arrays: the lists stay unmade
        assert not any("lexical" in tok.__dict__ for tok in toks)
