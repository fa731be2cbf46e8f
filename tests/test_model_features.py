"""ArticleEncoder: original offsets (diacritics, tatweel, hashtags), word-level labels, windows, collate."""

import torch

from khabar.data.article import Article
from khabar.model.decoding import char_span, clean_entity, clean_quote, decode_bio, decode_bio_viterbi, decode_quotes
from khabar.model.features import IGNORE, ArticleEncoder, collate, entity_scheme
from model_helpers import fixture_articles, load_articles, parse_markup, tiny_tokenizer


def _onehot(ids: list[int], n: int) -> torch.Tensor:
    x = torch.zeros(len(ids), n)
    for i, v in enumerate(ids):
        if v >= 0:
            x[i, v] = 1.0
    return x


def test_fixture_file_matches_its_markup():
    assert [a.to_dict() for a in load_articles()] == [a.to_dict() for a in fixture_articles()]


def test_token_spans_index_the_original_text_with_diacritics():
    text = "وَقَالَ الرئيـــسُ #ماكرون: «سنعمل معاً»"
    tok = ArticleEncoder(tiny_tokenizer(), 32, 8).tokenize(text)
    assert len(tok) > 0
    for s, e in tok.spans:
        assert 0 <= s < e <= len(text)
        assert text[s:e].strip() == text[s:e]
    # the diacritics and the tatweel stay inside the words' original spans
    words = {text[w[2] : w[3]] for w in tok.words}
    assert "وَقَالَ" in words and "الرئيـــسُ" in words and "ماكرون" in words


def test_labels_round_trip_to_the_gold_spans():
    """Gold spans -> token labels -> decoded character spans gives back exactly the gold spans."""
    enc = ArticleEncoder(tiny_tokenizer(), 32, 8)
    for a in load_articles():
        tok = enc.tokenize(a.text)
        lab = enc.labels(a, tok)
        if a.entities is not None:
            for decode in (decode_bio, decode_bio_viterbi):
                spans = decode(tok, _onehot(lab["entity_labels"], 9), entity_scheme())
                got = [(*clean_entity(a.text, *char_span(tok, s)), s.label) for s in spans]
                assert got == [(e.start, e.end, e.label) for e in a.entities], (a.id, decode.__name__)
        if a.quotes is not None:
            spans = decode_quotes(tok, _onehot(lab["quote_labels"], 7), ["direct", "indirect", "mixed"])
            got = [(*clean_quote(a.text, *char_span(tok, s), s.label), s.label) for s in spans]
            assert got == [(q.start, q.end, q.type) for q in a.quotes], a.id
            cues = decode_bio(tok, _onehot(lab["cue_labels"], 3), ["O", "B", "I"])
            assert sorted(char_span(tok, c) for c in cues) == sorted({(q.cue.start, q.cue.end) for q in a.quotes if q.cue})


def test_only_first_subword_is_labelled():
    enc = ArticleEncoder(tiny_tokenizer(), 32, 8)
    a = load_articles()[0]
    tok = enc.tokenize(a.text)
    assert not all(tok.first), "the tiny vocabulary should split some words"
    lab = enc.labels(a, tok)
    for key, ids in lab.items():
        for first, v in zip(tok.first, ids):
            assert (v != IGNORE) == first, key


def test_missing_layers_are_ignored_not_negative():
    enc = ArticleEncoder(tiny_tokenizer(), 32, 8)
    ner_only, quotes_only = load_articles()[3], load_articles()[4]
    assert ner_only.quotes is None and quotes_only.entities is None
    f = enc.encode(ner_only)
    assert all(v == IGNORE for w in f for k in ("quote_labels", "cue_labels", "source_labels") for v in w[k])
    assert any(v > 0 for w in f for v in w["entity_labels"])
    assert "attribution" not in f[0]
    g = enc.encode(quotes_only)
    assert all(v == IGNORE for w in g for v in w["entity_labels"])
    assert "attribution" in g[0]
    # [] (annotated, none there) is O, not ignored
    empty = Article("x", "ارتفعت أسعار النفط اليوم.", entities=[], quotes=[])
    h = enc.encode(empty)
    assert any(v == 0 for v in h[0]["quote_labels"])


def test_windows_respect_max_length_and_collate_pads():
    enc = ArticleEncoder(tiny_tokenizer(), 32, 8)
    feats = [enc.encode(a) for a in load_articles()]
    assert all(len(w["input_ids"]) <= 32 for art in feats for w in art)
    batch = collate(feats)
    n = sum(len(art) for art in feats)
    assert batch["input_ids"].shape == batch["entity_labels"].shape == (n, 32)
    assert batch["attention_mask"].sum() == sum(len(w["input_ids"]) for art in feats for w in art)
    # attribution: one row per gold quotation of the annotated articles, gathered over whole articles
    n_quotes = sum(len(a.quotes or []) for a in load_articles())
    assert batch["attr_quote_spans"].shape == (n_quotes, 4)
    assert batch["attr_targets"].shape[0] == n_quotes
    assert int(batch["attr_token_gather"].max()) < n * 32


def test_collate_skips_attribution_of_an_article_split_across_batches():
    enc = ArticleEncoder(tiny_tokenizer(), 32, 8)
    windows = enc.encode(load_articles()[0])
    assert len(windows) > 1
    batch = collate(windows[:1])
    assert batch["attr_quote_spans"].shape[0] == 0


def test_pro_drop_quotation_targets_all_mentions_of_its_source():
    a = parse_markup(
        "t",
        "{c1|قال} {s1|{e:PER|جوزيف دانفورد}} {q1:indirect|إن الوضع صعب}. ثم التقى {e:PER|ماكرون}. "
        "{c2|وأضاف} {s2|{e:PER|دانفورد}}: \"{q2:direct|لابد من تحرك}\".",
    )
    for mode, expected in (("sources", ["جوزيف دانفورد", "دانفورد"]),
                           ("sources+entities", ["جوزيف دانفورد", "دانفورد", "ماكرون"])):
        enc = ArticleEncoder(tiny_tokenizer(), 32, 8, attribution_candidates=mode)
        tok = enc.tokenize(a.text)
        att = enc.attribution_targets(a, tok)
        texts = [a.text[tok.spans[s][0] : tok.spans[e - 1][1]] for s, e in att["mentions"]]
        assert sorted(texts) == sorted(expected)
        for gold, own in zip(att["targets"], att["exact"]):
            assert sorted(texts[i] for i in gold) == ["جوزيف دانفورد", "دانفورد"]
            assert own in gold


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ALPHABET = "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإىة" + "\u064b\u064e\u064f\u0650\u0651\u0652\u0640" + " \n\t.,،؛:!؟\"«»“”()#_-" + "abcXYZ0123٠١٢" + "\u200f\U0001f600"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=300))
def test_any_text_tokens_map_into_the_original(text):
    enc = ArticleEncoder(tiny_tokenizer(), 16, 4)
    tok = enc.tokenize(text)
    prev_start = 0
    for s, e in tok.spans:
        assert 0 <= s < e <= len(text)
        assert s >= prev_start, "tokens keep the text order"
        prev_start = s
    covered = set()
    for s, e in tok.windows:
        assert e - s <= 14
        covered.update(range(s, e))
    assert covered == set(range(len(tok)))
    feats = enc.encode(Article("h", text, entities=[], quotes=[]))
    assert sum(1 for f in feats) == len(tok.windows)


def test_viterbi_gives_a_name_one_type():
    """«كوفي أنان»: B-PER then a word unsure between I-PER and I-ORG. Word by word that is two
    one-word spans (PER, then ORG opened by the lenient rule); the best valid sequence is one PER."""
    text = "قال كوفي أنان اليوم"
    tok = ArticleEncoder(tiny_tokenizer(), 32, 8).tokenize(text)
    tags = entity_scheme(["PER", "ORG"])  # O, B-PER, I-PER, B-ORG, I-ORG
    rows = {"قال": [0.9, 0.02, 0.02, 0.03, 0.03], "كوفي": [0.05, 0.8, 0.05, 0.05, 0.05],
            "أنان": [0.1, 0.05, 0.4, 0.0, 0.45], "اليوم": [0.9, 0.02, 0.02, 0.03, 0.03]}
    probs = torch.zeros(len(tok), len(tags))
    for w in tok.words:
        probs[w[0]] = torch.tensor(rows[text[w[2]:w[3]]])
    greedy = [(text[slice(*char_span(tok, s))], s.label) for s in decode_bio(tok, probs, tags)]
    best = [(text[slice(*char_span(tok, s))], s.label) for s in decode_bio_viterbi(tok, probs, tags)]
    assert greedy == [("كوفي", "PER"), ("أنان", "ORG")]
    assert best == [("كوفي أنان", "PER")]


def test_viterbi_does_not_tie_tiny_probabilities():
    """Saturated probabilities: B-PER I-PER (1e-20) beats O O (1e-30) even far below 1e-12."""
    text = "كوفي أنان"
    tok = ArticleEncoder(tiny_tokenizer(), 32, 8).tokenize(text)
    tags = entity_scheme(["PER", "ORG"])
    rows = {"كوفي": [1.0, 1e-20, 1e-30, 1e-14, 1e-30], "أنان": [1e-30, 1e-30, 1.0, 1e-30, 1e-30]}
    probs = torch.zeros(len(tok), len(tags), dtype=torch.float64)
    for w in tok.words:
        probs[w[0]] = torch.tensor(rows[text[w[2]:w[3]]], dtype=torch.float64)
    assert [(text[slice(*char_span(tok, s))], s.label) for s in decode_bio_viterbi(tok, probs, tags)] == [("كوفي أنان", "PER")]
