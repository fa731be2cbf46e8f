"""The indexed inference paths equal their brute-force definitions (no timings here).

``build_pairs``, ``pair_cues`` and ``cluster_mentions``/``speaker_names`` were rewritten from
quotations x mentions (cues, clusters) scans to sorted indexes; the references below are the
original scans, kept verbatim, and random inputs (overlapping and nested spans, ties, empty
names, spelling variants) must give identical results.
"""

from __future__ import annotations

import random

import pytest
import torch

from khabar.model.attribution import (
    AFTER_PENALTY,
    MAX_AFTER,
    MAX_BEFORE,
    SENTENCE_PENALTY,
    build_pairs,
    pad_pairs,
    pair_cues,
    pair_cues_reference,  # the brute-force definition, kept in the module as its fallback
    pair_features,
    pair_tensors,
)
from khabar.model.canonical import _same, _words, cluster_mentions, fullest_name, speaker_names
from khabar.model.decoding import decode_bio, decode_bio_viterbi, decode_quotes
from khabar.model.features import TokenizedArticle

# ------------------------------------------------------------------------------ references


def build_pairs_reference(quotes, mentions, sentence):
    cands, feats = [], []
    for q in quotes:
        cs, ce, us, ue = q
        q_start = min(cs, us) if us >= 0 else cs
        q_end = max(ce, ue)
        before = sorted((i for i, (s, e) in enumerate(mentions) if e <= q_start), key=lambda i: -mentions[i][1])
        after = sorted((i for i, (s, e) in enumerate(mentions) if s >= q_end), key=lambda i: mentions[i][0])
        b_rank = {m: r for r, m in enumerate(before)}
        a_rank = {m: r for r, m in enumerate(after)}
        keep = set(before[:MAX_BEFORE]) | set(after[:MAX_AFTER])
        idx = [i for i in range(len(mentions)) if i in keep or (i not in b_rank and i not in a_rank)]
        cands.append(idx)
        feats.append([pair_features(q, mentions[m], sentence, b_rank, a_rank, m) for m in idx])
    return cands, feats


def cluster_mentions_reference(mentions):
    words = [_words(t) for _, t in mentions]
    order = sorted(range(len(mentions)), key=lambda i: (-len(words[i]), mentions[i][0]))
    clusters = []
    for i in order:
        pos = mentions[i][0]
        fits = [c for c in clusters if _same(words[i], words[c[0]])]
        if not fits:
            clusters.append([i])
            continue

        def distance(c):
            d = min(abs(pos - mentions[j][0]) for j in c)
            before = any(mentions[j][0] <= pos for j in c)
            return (0 if before else 1, d)

        min(fits, key=distance).append(i)
    firsts = sorted(range(len(clusters)), key=lambda k: min(mentions[j][0] for j in clusters[k]))
    rank = {k: r for r, k in enumerate(firsts)}
    out = [0] * len(mentions)
    for k, c in enumerate(clusters):
        for j in c:
            out[j] = rank[k]
    return out


def speaker_names_reference(mentions, text=None):
    from khabar.evaluation.names import normalise_name

    known = set(normalise_name(text).split()) if text else None
    ids = cluster_mentions_reference(mentions)
    members = {}
    for i, k in enumerate(ids):
        members.setdefault(k, []).append(i)
    out = []
    for i, k in enumerate(ids):
        group = members[k]
        out.append(fullest_name([mentions[j][1] for j in group], group.index(i), known))
    return out


# ------------------------------------------------------------------------------ random inputs


def _sentences(rng, n):
    out, k = [], 0
    for _ in range(n):
        if rng.random() < 0.08:
            k += 1
        out.append(k)
    return out


def _spans(rng, n_tokens, count, max_len, disjoint):
    if disjoint:  # what decoding gives: sorted, non-overlapping
        out, t = [], 0
        while len(out) < count and t < n_tokens - 1:
            t += rng.randint(0, 6)
            e = min(t + rng.randint(1, max_len), n_tokens)
            if t < e:
                out.append((t, e))
            t = e
        return out
    out = []
    for _ in range(count):
        s = rng.randrange(n_tokens - 1)
        out.append((s, min(n_tokens, s + rng.randint(1, max_len))))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_build_pairs_equals_brute_force(seed):
    rng = random.Random(seed)
    n = rng.randint(5, 300)
    sentence = _sentences(rng, n)
    disjoint = seed % 2 == 0
    mentions = _spans(rng, n, rng.randint(0, 60), 4, disjoint)
    if not disjoint and mentions:
        mentions += rng.sample(mentions, min(3, len(mentions)))  # duplicates: ties in both orders
        rng.shuffle(mentions)
    quotes = []
    for cs, ce in _spans(rng, n, rng.randint(0, 25), 30, disjoint):
        if rng.random() < 0.7:
            us = rng.randrange(n - 1)
            ue = min(n, us + rng.randint(1, 3))
        else:
            us = ue = -1
        quotes.append((cs, ce, us, ue))
    cands, feats = build_pairs_reference(quotes, mentions, sentence)
    assert build_pairs(quotes, mentions, sentence) == (cands, feats)
    got = pair_tensors(quotes, mentions, sentence)
    want = pad_pairs(cands, feats)
    assert got[0] == cands and torch.equal(got[1], want[0]) and torch.equal(got[2], want[1])


@pytest.mark.parametrize("seed", range(60))
def test_pair_cues_equals_brute_force(seed):
    rng = random.Random(1000 + seed)
    n = rng.randint(3, 250)
    # few sentences (long ones, where the old scan was quadratic) or many
    sentence = _sentences(rng, n) if seed % 3 else [0] * n
    disjoint = seed % 2 == 0
    quotes = _spans(rng, n, rng.randint(0, 40), 25, disjoint)
    cues = _spans(rng, n, rng.randint(0, 40), 3, disjoint)
    if not disjoint and cues:
        cues += rng.sample(cues, min(2, len(cues)))  # equal cues: ties on cost
    assert pair_cues(quotes, cues, sentence) == pair_cues_reference(quotes, cues, sentence)


def test_pair_cues_more_quotations_than_cues_share_the_cheapest():
    sentence = [0] * 40
    quotes = [(2, 4), (6, 8), (10, 12), (14, 16)]
    cues = [(5, 6)]
    assert pair_cues(quotes, cues, sentence) == pair_cues_reference(quotes, cues, sentence) == [(5, 6)] * 4


def test_pair_cues_unsorted_sentence_ids_fall_back_to_the_definition():
    sentence = [1, 1, 0, 0, 2, 2, 1, 1]
    quotes, cues = [(2, 4), (6, 8)], [(0, 1), (4, 5)]
    assert pair_cues(quotes, cues, sentence) == pair_cues_reference(quotes, cues, sentence)


NAMES = ["جوزيف دانفورد", "دانفورد", "جوزف دانفورد", "الرئيس", "الرئيس الفرنسي", "الرئيس الأميركي",
         "إيمانويل ماكرون", "ماكرون", "وماكرون", "أنجيلا ميركل", "انجيلا ميركل", "ميركل", "#ميركل",
         "للبيت الأبيض", "البيت الأبيض", "مصر", "مصادر", "المتحدث", "المتحدة", "الأمم المتحدة",
         "مكتب الأمم المتحدة", "\"", "«داعش»", "داعش", "وزير الخارجية", "الخارجية", "ترامب",
         "دونالد ترامب", "ترمب", "الرئيس دونالد ترامب", "المتحدث باسم الحكومة"]


@pytest.mark.parametrize("seed", range(30))
def test_cluster_mentions_and_names_equal_brute_force(seed):
    rng = random.Random(2000 + seed)
    count = rng.randint(0, 80)
    positions = rng.sample(range(2000), count) if seed % 2 else [rng.randrange(300) for _ in range(count)]
    mentions = [(p, rng.choice(NAMES)) for p in positions]
    text = " ".join(NAMES) if seed % 3 == 0 else None
    assert cluster_mentions(mentions) == cluster_mentions_reference(mentions)
    assert speaker_names(mentions, text) == speaker_names_reference(mentions, text)


# ------------------------------------------------------------------------------ decoding


def _article(rng, n_tokens):
    first = [True] + [rng.random() < 0.7 for _ in range(n_tokens - 1)]
    spans, c = [], 0
    for f in first:
        c += 1 if f else 0
        spans.append((c, c + 1))
        c += 1
    word_ids, w = [], -1
    for f in first:
        w += 1 if f else 0
        word_ids.append(w)
    sentence, k = [], 0
    for f in first:  # a new sentence now and then, always at a word's first token
        k += 1 if f and sentence and rng.random() < 0.05 else 0
        sentence.append(k)
    return TokenizedArticle("x" * (c + 1), list(range(n_tokens)), spans, word_ids, first, sentence,
                            [(0, n_tokens)])


def decode_bio_reference(tok, probs, tags):
    from khabar.model.decoding import TokenSpan

    first = torch.tensor([w[0] for w in tok.words], dtype=torch.long)
    best_p, best = probs[first].max(-1)
    spans, cur = [], []

    def close(cur):
        if cur:
            scores = cur[3:]
            spans.append(TokenSpan(tok.words[cur[0]][0], tok.words[cur[1]][1], cur[2], sum(scores) / len(scores)))
        return []

    for i, (t, p) in enumerate(zip(best.tolist(), best_p.tolist())):
        bio, _, label = tags[t].partition("-")
        if bio == "O":
            cur = close(cur)
        elif bio == "B" or not cur or cur[2] != label or cur[1] != i - 1:
            cur = close(cur)
            cur = [i, i, label, p]
        else:
            cur[1] = i
            cur.append(p)
    close(cur)
    return spans


def _textbook_viterbi(lp, allowed, may_open):
    """The best state path of summed log-probabilities ``lp`` (n, k) where state ``c`` may follow
    ``p`` at word ``w`` only if ``allowed(w, p, c)`` and open the path only if ``may_open(c)``:
    every previous state compared for every current one; ties go to the lower state."""
    k = len(lp[0])
    neg = float("-inf")
    score, back = [lp[0][c] if may_open(c) else neg for c in range(k)], []
    for w in range(1, len(lp)):
        new, bk = [], []
        for c in range(k):
            best_p, best_v = 0, neg
            for p_ in range(k):
                if allowed(w, p_, c) and score[p_] > best_v:
                    best_p, best_v = p_, score[p_]
            new.append(best_v + lp[w][c])
            bk.append(best_p)
        score, back = new, back + [bk]
    state = max(range(k), key=lambda c: (score[c], -c))
    path = [state]
    for bk in reversed(back):
        state = bk[state]
        path.append(state)
    path.reverse()
    return path


def decode_quotes_reference(tok, probs, types):
    """The constrained B/I/O Viterbi of ``decode_quotes`` written as the textbook dynamic program:
    a 3 x 3 transition table (O -> I forbidden, I cannot start), scores compared state by state."""
    from khabar.model.decoding import TokenSpan

    first = torch.tensor([w[0] for w in tok.words], dtype=torch.long)
    wp = probs[first]
    b, i_ = wp[:, 1::2], wp[:, 2::2]
    collapsed = torch.stack([wp[:, 0], b.sum(-1), i_.sum(-1)], -1)
    type_mass = (b + i_).tolist()
    lp = collapsed.clamp(min=1e-12).log().tolist()
    allowed = [[True, True, False], [True, True, True], [True, True, True]]  # [previous][current]
    path = _textbook_viterbi(lp, lambda w, p_, c: allowed[p_][c], lambda c: c != 2)
    spans, start = [], None
    for w, t in enumerate(path + [0]):
        if start is not None and t != 2:
            # the type of most mass and the mean chosen probability, each summed word by word in
            # Python floats (float64) from the float32 probabilities
            mass = [sum(type_mass[k][c] for k in range(start, w)) for c in range(len(types))]
            qtype = max(range(len(types)), key=lambda c: (mass[c], -c))  # ties: the first type
            chosen = [collapsed[k, path[k]].item() for k in range(start, w)]
            spans.append(TokenSpan(tok.words[start][0], tok.words[w - 1][1], types[qtype], sum(chosen) / len(chosen)))
            start = None
        if t == 1:
            start = w
    return spans


def decode_bio_viterbi_reference(tok, probs, tags):
    """``decode_bio_viterbi`` as the textbook dynamic program: a full transition table (I-X only
    after B-X or I-X, and never first), every previous state compared for every current one."""
    from khabar.model.decoding import TokenSpan

    first = torch.tensor([w[0] for w in tok.words], dtype=torch.long)
    wp = probs[first]
    k = len(tags)
    parts = [t.partition("-") for t in tags]
    allowed = [[parts[c][0] != "I" or (parts[p_][0] != "O" and parts[p_][2] == parts[c][2]) for c in range(k)]
               for p_ in range(k)]  # [previous][current]
    sentence = [tok.sentence[w[0]] for w in tok.words]
    lp = wp.double().log().tolist()
    # no name across a sentence end: I never opens a sentence
    path = _textbook_viterbi(
        lp, lambda w, p_, c: allowed[p_][c] and not (parts[c][0] == "I" and sentence[w] != sentence[w - 1]),
        lambda c: parts[c][0] != "I")
    spans, start = [], None
    for w, t in enumerate(path + [0]):
        if start is not None and parts[t][0] != "I":
            chosen = [wp[j, path[j]].item() for j in range(start, w)]
            spans.append(TokenSpan(tok.words[start][0], tok.words[w - 1][1], parts[path[start]][2], sum(chosen) / len(chosen)))
            start = None
        if parts[t][0] == "B":
            start = w
    return spans


@pytest.mark.parametrize("seed", range(12))
def test_decoding_equals_the_per_word_loop(seed):
    rng = random.Random(3000 + seed)
    gen = torch.Generator().manual_seed(seed)
    tok = _article(rng, rng.randint(1, 400))
    tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    for n_tags, decode, ref, labels in ((9, decode_bio, decode_bio_reference, tags),
                                        (9, decode_bio_viterbi, decode_bio_viterbi_reference, tags),
                                        (3, decode_bio, decode_bio_reference, ["O", "B", "I"]),
                                        (7, decode_quotes, decode_quotes_reference, ["direct", "indirect", "mixed"])):
        # sharp logits (few, long spans) or flat ones (many short spans)
        logits = torch.randn((len(tok), n_tags), generator=gen) * (4.0 if seed % 2 else 0.5)
        probs = logits.softmax(-1)
        got, want = decode(tok, probs, labels), ref(tok, probs, labels)
        assert got == want  # scores too, to the last bit


# ------------------------------------------------------------------------------ end to end


def _spurious_model(tok, o_bias: float):
    """A tiny random model whose heads tag many spans of every kind: the worst case for the
    post-processing, and the most pairs, cues and clusters to get wrong."""
    from model_helpers import tiny_model

    model = tiny_model(tok, max_length=32, overlap=8)
    gen = torch.Generator().manual_seed(1)
    for name in ("entity", "cue", "source", "quote"):
        out = getattr(model, f"{name}_head").out
        with torch.no_grad():
            out.weight.copy_(torch.randn(out.weight.shape, generator=gen))
            out.bias.zero_()
            out.bias[0] = o_bias
    return model.eval()


def _long_text() -> str:
    from model_helpers import load_articles

    return "\n".join(a.text for a in load_articles()) * 3


def _reference_predict(monkeypatch, model, tok, texts):
    """``predict`` with the brute-force pieces patched in (the code before the indexes)."""
    import khabar.model.inference as inference
    from khabar.model.attribution import pad_pairs

    def pair_tensors_reference(quotes, mentions, sentence):
        cands, feats = build_pairs_reference(quotes, mentions, sentence)
        return (cands, *pad_pairs(cands, feats))

    def scores_reference(model, states, quote_spans, mention_spans, cand, feat):
        return model.attribution(states, quote_spans, mention_spans, cand, feat).float()

    def decode_words_reference(cfg, toks, head_probs, min_quote_score=None):  # article by article, every head
        heads = {name: head_probs(name) for name in inference.HEADS}
        sizes = [heads[name].size(1) for name in inference.HEADS]
        rows = torch.cat([heads[name] for name in inference.HEADS], -1)  # (N_words, sum of tags)
        out, w0 = [], 0
        for tok in toks:
            probs = rows.new_zeros((len(tok), rows.size(1)))  # token rows: only the words' first tokens are read
            probs[tok.word_index()] = rows[w0 : w0 + len(tok.words)]
            out.append(inference._decode_article(cfg, tok, probs, sizes))
            w0 += len(tok.words)
        return out

    with monkeypatch.context() as m:
        m.setattr(inference, "_decode_words", decode_words_reference)
        m.setattr(inference, "decode_bio_viterbi", decode_bio_viterbi_reference)
        m.setattr(inference, "pair_cues", pair_cues_reference)
        m.setattr(inference, "pair_tensors", pair_tensors_reference)
        m.setattr(inference, "speaker_names", speaker_names_reference)
        m.setattr(inference, "decode_bio", decode_bio_reference)
        m.setattr(inference, "decode_quotes", decode_quotes_reference)
        m.setattr(inference, "_attribution_scores", scores_reference)
        return model.predict(texts, tok, batch_size=4)


@pytest.mark.parametrize("o_bias", [1.0, 3.0])
def test_predict_equals_the_brute_force_pipeline(monkeypatch, o_bias):
    from model_helpers import tiny_tokenizer

    tok = tiny_tokenizer()
    model = _spurious_model(tok, o_bias)
    texts = [_long_text(), "قال الرئيس: \"سنواصل العمل\".", ""]
    torch.manual_seed(0)
    got = model.predict(texts, tok, batch_size=4)
    want = _reference_predict(monkeypatch, model, tok, texts)
    assert sum(len(a.quotes) for a in got) > 20 and any(q.speaker for a in got for q in a.quotes)
    assert got == want  # spans, labels, cues, speakers, names and every score


def test_predict_with_a_quotation_threshold_equals_the_brute_force_pipeline(monkeypatch):
    """With ``min_quote_score`` (hybrid mode) cues and sources are decoded only for the articles
    with a quotation that reaches it: the same articles as decoding every head of every article."""
    import khabar.model.inference as inference
    from model_helpers import load_articles, tiny_tokenizer

    tok = tiny_tokenizer()
    model = _spurious_model(tok, 1.0)
    texts = [a.text for a in load_articles()] + ["قال الرئيس: \"سنواصل العمل\".", ""]
    scores = sorted(q.score for a in model.predict(texts, tok, batch_size=4) for q in a.quotes)
    for threshold in (0.0, scores[len(scores) // 2], scores[-1] + 1e-6):
        got = inference.predict(model, texts, tok, batch_size=4, min_quote_score=threshold)
        with monkeypatch.context() as m:
            m.setattr(model, "predict", lambda texts, tok, batch_size: inference.predict(
                model, texts, tok, batch_size=batch_size, min_quote_score=threshold))
            want = _reference_predict(monkeypatch, model, tok, texts)
        assert got == want, threshold


def test_cue_and_speaker_spans_carry_scores():
    from model_helpers import tiny_tokenizer

    tok = tiny_tokenizer()
    art = _spurious_model(tok, 1.0).predict([_long_text()], tok)[0]
    cues = [q.cue for q in art.quotes if q.cue]
    speakers = [q.speaker for q in art.quotes if q.speaker]
    assert cues and speakers
    assert all(0.0 < s.score <= 1.0 for s in cues + speakers)


def test_packed_attribution_scores_equal_one_padded_call():
    from khabar.model.heads import AttributionScorer
    from khabar.model.inference import _attribution_scores, _row_width

    torch.manual_seed(0)
    rng = random.Random(5)
    n = 400
    sentence = _sentences(rng, n)
    mentions = _spans(rng, n, 120, 3, True)
    quotes = [(s, e, -1, -1) for s, e in _spans(rng, n, 30, 6, True)]
    quotes[3] = (0, n, -1, -1)  # one quotation over everything: every mention is its candidate
    cands, cand, feat = pair_tensors(quotes, mentions, sentence)
    assert _row_width((cand >= 0).sum(-1), cand.size(1)) < cand.size(1)  # rows are cut

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attribution = AttributionScorer(16, 12, 6, 0.0).eval()

    model = Model()
    states = torch.randn(n, 16)
    q = torch.tensor(quotes).view(-1, 4)
    m = torch.tensor(mentions).view(-1, 2)
    with torch.no_grad():
        want = model.attribution(states, q, m, cand, feat).float()
        got = _attribution_scores(model, states, q, m, cand, feat)
    assert got.shape == want.shape
    assert torch.allclose(got, want, rtol=0, atol=1e-6)
    assert torch.equal(got.argmax(-1), want.argmax(-1))


def test_predict_restores_the_garbage_collector_state():
    import gc

    from model_helpers import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_model(tok)
    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            model.predict(["قال الرئيس: \"سنواصل العمل\"."], tok)
            assert gc.isenabled() is state
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_stacked_int8_heads_equal_each_head(dtype):
    """Weight-only int8 heads: one product with their dequantised weights and cast biases stacked
    (cached per dtype) against each head's own forward; small batches still run head by head."""
    from model_helpers import tiny_model, tiny_tokenizer

    from khabar.model.inference import HEADS, STACKED_HEADS_MIN_ELEMENTS, _head_logits_fn
    from khabar.quantize import WeightOnlyInt8Linear

    model = tiny_model(tiny_tokenizer(), max_length=32, overlap=8).eval()
    heads = [getattr(model, f"{name}_head") for name in HEADS]
    for head in heads:
        head.out = WeightOnlyInt8Linear(head.out)
    calls = []
    for head in heads:
        head.out.register_forward_hook(lambda *_: calls.append(1))
    fn = _head_logits_fn(model)
    width = heads[0].out.in_features
    rows = STACKED_HEADS_MIN_ELEMENTS // width
    gen = torch.Generator().manual_seed(5)
    for shape in [(1, 3), (3, 17), (1, rows), (16, rows // 16 + 1), (16, 258)]:
        h = torch.randn((*shape, width), generator=gen).to(dtype)
        calls.clear()
        got = fn(h)
        ran_heads = len(calls)
        want = torch.cat([head(h) for head in heads], -1)
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        if h.numel() < STACKED_HEADS_MIN_ELEMENTS:
            assert ran_heads == len(heads) and torch.equal(got, want), shape
        else:
            assert ran_heads == 0, shape  # the stacked product, not the heads
            tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1.6e-2, atol=1e-2)
            torch.testing.assert_close(got, want, **tol)
