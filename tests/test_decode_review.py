"""Review of the decoding fast paths (engineer "decode"): each test failed before its fix.

- the cue and source heads computed late, on gathered word states (hybrid mode), must give the
  cues of the heads run on whole batches: not so for heads whose output depends on the rest of
  the batch (dynamic int8 quantisation scales the activations per call; a head that reads its
  window's other tokens);
- the lockstep entity Viterbi must stay O(rows) in memory (and in steps) when one long sentence
  is re-decoded with many short ones;
- the quotation threshold's skip must never drop a quotation the threshold keeps (-inf, or very
  negative thresholds keep every quotation).
"""

from __future__ import annotations

import copy
import math
import random
import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn


def _texts() -> list[str]:
    from model_helpers import load_articles

    return [a.text for a in load_articles()] + ['قال الرئيس: "سنواصل العمل".', ""]


def _cues(arts, threshold=None):
    """Each article's quotations (span, type, cue) reaching ``threshold``."""
    return [[(q.start, q.end, q.type, q.cue) for q in a.quotes if threshold is None or q.score >= threshold]
            for a in arts]


class _WindowMeanTagger(nn.Module):
    """A token head that reads its window's other tokens (the mean state): not a row function."""

    def __init__(self, out: nn.Linear):
        super().__init__()
        self.out = out

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(h + h.mean(-2, keepdim=True))  # (batch, seq, n_tags)


def _dynamic_int8(model):
    from khabar.quantize import quantize_int8

    return quantize_int8(copy.deepcopy(model), rest="float32", scheme="dynamic")


def _window_mean_heads(model):
    model = copy.deepcopy(model)
    for name in ("cue", "source"):
        setattr(model, f"{name}_head", _WindowMeanTagger(getattr(model, f"{name}_head").out))
    return model.eval()


def _bf16(model):
    from khabar.quantize import to_bf16

    return to_bf16(copy.deepcopy(model))


@pytest.mark.parametrize("variant", [copy.deepcopy, _bf16, _dynamic_int8, _window_mean_heads])
def test_threshold_keeps_the_cues_of_heads_run_on_whole_batches(one_torch_thread, variant):
    """In hybrid mode a kept quotation gets the cue it gets with every head run on every batch
    (``min_quote_score=None``; cues are paired over all quotations either way)."""
    import khabar.model.inference as inference
    from model_helpers import tiny_tokenizer
    from test_model_inference_perf import _spurious_model

    tok = tiny_tokenizer()
    model = variant(_spurious_model(tok, 1.0))
    texts = _texts()
    full = inference.predict(model, texts, tok, batch_size=4)
    scores = sorted(q.score for a in full for q in a.quotes)
    threshold = scores[len(scores) // 2]
    got = inference.predict(model, texts, tok, batch_size=4, min_quote_score=threshold)
    assert sum(map(len, _cues(got))) > 5
    assert _cues(got) == _cues(full, threshold)
    assert [a.entities for a in got] == [a.entities for a in full]


def test_lockstep_viterbi_memory_follows_the_rows_with_one_long_sentence():
    """One long sentence (an article without sentence punctuation) re-decoded with many short
    ones: the lockstep kept a (longest, sentences, tags) back-pointer array and (sentences,
    longest) path matrices, ~40 MB here for 0.5 MB of rows (GBs for a 1 MB article)."""
    from khabar.model.decoding import _bio_tables, _viterbi_labelled, _viterbi_labelled_many
    from khabar.model.features import entity_scheme

    tags = entity_scheme()
    pair_of = _bio_tables(tuple(tags))[1]
    rng = np.random.default_rng(3)
    lengths = np.array([20] * 60 + [4000] + [1, 2, 35] * 30)
    logp = np.log(rng.random((int(lengths.sum()), len(tags))))
    logp[rng.random(logp.shape) < 0.05] = -np.inf
    tracemalloc.start()
    try:
        got = _viterbi_labelled_many(logp, lengths, pair_of)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    starts = np.cumsum(lengths) - lengths
    want = [t for s, n in zip(starts.tolist(), lengths.tolist()) for t in _viterbi_labelled(logp[s : s + n].tolist(), pair_of)]
    assert got.tolist() == want
    # O(rows): the long sentence's Python rows in _viterbi_labelled are most of it (~2 MB)
    assert peak < 10 * logp.nbytes, (peak, logp.nbytes)


@pytest.mark.parametrize("threshold", [-math.inf, -1e300, -1.0, 0.0])
def test_a_threshold_every_quotation_reaches_skips_nothing(threshold):
    """Every quotation's score (a mean of probabilities) reaches a threshold of 0 or below: no
    article may be skipped. The bound's float sums gave NaN at -inf (inf - inf), and every
    article was skipped."""
    from test_fast_decode import _tok

    from khabar.model.decoding import decode_quotes_many

    rng = random.Random(5)
    gen = torch.Generator().manual_seed(5)
    toks = [_tok(rng, n) for n in (0, 1, 30, 90, 2)]
    offsets = [0]
    for tok in toks:
        offsets.append(offsets[-1] + len(tok.words))
    rows = (torch.randn((offsets[-1], 7), generator=gen) * 2).softmax(-1)
    types = ["direct", "indirect", "mixed"]
    want = decode_quotes_many(toks, rows, offsets, types)
    assert sum(map(len, want)) > 3
    assert decode_quotes_many(toks, rows, offsets, types, min_score=threshold) == want


@pytest.mark.filterwarnings("error")  # at +inf the bound's sums were inf - inf: a RuntimeWarning
@pytest.mark.parametrize("chunk", range(4))
def test_quotation_skip_keeps_every_span_at_the_threshold(chunk):
    """Adversarial rows for the skip of decode_quotes_many(min_score): B and I probabilities of
    exactly the threshold, one float32 step either side of it, 0, 1 and ties, in articles of
    0-12 words (one B alone, B then I's where B is the larger, I the chosen tag). The spans that
    reach the threshold, and their scores, are those of the unthresholded decoder."""
    from test_fast_decode import _tok

    from khabar.model.decoding import decode_quotes_many

    types = ["direct", "indirect", "mixed"]
    for seed in range(100 * chunk, 100 * chunk + 100):
        rng = random.Random(seed)
        t = rng.choice([0.5, 0.9, 0.75, 1.0, 1e-8, 0.3, math.inf, math.nan])
        t32 = np.float32(t)
        vals = [t, float(t32), float(np.nextafter(t32, np.float32(2))), float(np.nextafter(t32, np.float32(0))),
                1.0, 0.0, 0.5, 0.95, 0.85, rng.random()]
        vals = [v for v in vals if 0.0 <= v <= 1.0]
        toks = [_tok(rng, rng.choice([0, 1, 2, 3, 5, 12])) for _ in range(rng.randint(1, 6))]
        rows = []
        for tok in toks:
            for _ in tok.words:
                b, i = rng.choice(vals), rng.choice(vals)
                if b + i > 1:
                    b, i = (1 - i, i) if rng.random() < 0.5 else (b, 1 - b)
                col = rng.choice([0, 2, 4])  # the type that holds the mass
                row = [max(0.0, 1 - b - i)] + [0.0] * 6
                row[1 + col], row[2 + col] = b, i
                rows.append(row)
        offsets = [0]
        for tok in toks:
            offsets.append(offsets[-1] + len(tok.words))
        wps = torch.tensor(rows, dtype=torch.float32).reshape(-1, 7)
        want = decode_quotes_many(toks, wps, offsets, types)
        got = decode_quotes_many(toks, wps, offsets, types, min_score=t)
        assert all(g == w or g == [] for g, w in zip(got, want)), seed
        assert [[q for q in g if q.score >= t] for g in got] == [[q for q in w if q.score >= t] for w in want], seed


def test_row_softmax_edges():
    """_row_softmax against softmax(-1) where the layouts could part: -inf logits (a zero
    probability; a row of -inf only: NaN in both), huge logits, one row, a transposed input; a
    bf16 input rounds to bf16 either way (one bf16 step apart: _run_chunk hands it float32)."""
    from khabar.model.inference import _row_softmax

    ninf = -math.inf
    cases = [torch.tensor([[ninf, 0.0, 1.0], [2.0, ninf, ninf], [ninf, ninf, ninf], [1e30, -1e30, 0.0]]),
             torch.randn(1, 9), torch.randn(9, 300).t(), torch.zeros(0, 3)]
    for x in cases:
        got, want = _row_softmax(x), x.softmax(-1)
        assert got.shape == want.shape and torch.equal(got.isnan(), want.isnan())
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7, equal_nan=True)
        assert torch.equal(got == 0, want == 0)  # a -inf logit is a probability of exactly 0
    x = (torch.randn(500, 9) * 5).bfloat16()
    torch.testing.assert_close(_row_softmax(x).float(), x.softmax(-1).float(), rtol=2 ** -7, atol=2 ** -8)
