"""Review of the tokenizer's memos (chunk memo, word memo, tokenize_many): adversarial texts
against the definition, :meth:`ArticleEncoder._tokenize_lists` on :func:`normalise` (no memo)."""

from __future__ import annotations

import copy
import random

from khabar.data.normalise import normalise

# '<' spelt as an HTML entity: stage 1 unescapes it, and stage 2 then drops a tag that holds a
# space ("&lt;b class=x&gt;"), which is what the chunk memo must not meet
_LT_SPELLINGS = ["&lt;", "&LT;", "&#60;", "&#060;", "&#x3c;", "&#X3C;", "&#x003C;", "&nvlt;"]


def _fields(tok):
    d = {k: getattr(tok, k) for k in ("text", "input_ids", "spans", "word_ids", "first", "sentence", "windows",
                                      "lexical", "words", "word_of")}
    d["word_index"] = tok.word_index().tolist()
    d["sentence_starts"] = tok.sentence_starts().tolist()
    if len(tok):
        ids, lexical = tok.input_tensors()
        d["input_tensors"] = (ids.tolist(), ids.dtype, None if lexical is None else (lexical.tolist(), lexical.dtype))
    return d


def _encoder(lexical=True):
    from model_helpers import tiny_tokenizer

    from khabar.model.features import ArticleEncoder

    return ArticleEncoder(copy.deepcopy(tiny_tokenizer()), max_length=32, overlap=8, lexical_features=lexical)


def _definition(encoder, text):
    return _fields(encoder._tokenize_lists(text, normalise(text)))


def test_an_escaped_tag_opener_is_seen_by_the_chunk_memo():
    """``&lt;b class=x&gt;`` is a tag after unescaping, dropped whole across its space: a chunk
    learnt inside it ("&lt;b": nothing) must not serve another article ("&lt;b نعم": "<", "b")."""
    from khabar.data.normalise import may_act_across_whitespace

    for lt in _LT_SPELLINGS:
        assert may_act_across_whitespace(f"قال {lt}b"), lt
        encoder = _encoder()
        encoder.tokenize(f"قال {lt}b class=x&gt; نعم")
        for text in [f"{lt}b نعم", "class=x&gt; قال", f"{lt}b class=x&gt; نعم"]:
            assert _fields(encoder.tokenize(text)) == _definition(encoder, text), (lt, text)
    for text in ["قال &amp; نعم", "&gt; b", "&l t;", "&lt", "&#600;", "&#x3c0;", "a & lt;", "< b"[1:]]:
        assert not may_act_across_whitespace(text), text
    assert may_act_across_whitespace("a<b")


def test_tokenize_many_learns_no_tag_across_articles():
    """A group's unseen chunks are learnt joined by spaces: one article's "&lt;i" and another's
    "x>" must not make a tag that swallows the chunks between them."""
    for lt in _LT_SPELLINGS:
        encoder = _encoder()
        texts = [f"قال {lt}i", "كلام x> نعم", "الرئيس"]
        for tok, text in zip(encoder.tokenize_many(texts), texts):
            assert _fields(tok) == _definition(encoder, text), (lt, text)


_WHITESPACE = [" ", "\t", "\r", "\n", "\v", "\f", "\u00a0", "\u2000", "\u200a", "\u3000", "\u0085", "\u2028", "\u2029",
               "\x1c", "\x1f", "  "]
_PIECES = ["قال", "الرئيس", "كتابُ", "َ", "ـ", "\u200f", "\u200d", "\ufeff", "\u00ad", "\u180e", "\u200b", "&quot;",
           "&amp;", "&", "amp;", "&nbsp;", "&#1575;", "&#10;", "&#32;", "&bogus;", "&gt;", "&#1614;", "&commat;",
           "https://x.com/a?b=1.", "www.", "aljazeera.net", "a@b.org", "@khabar", "#وسم", ".com", "b>", "c>d", ">",
           "٢٠١٦", "2016م", "COVID19", "Hervé", "ς", "😀", "👍🏻", "«", ".", "،", "[", "]", "x" * 120, "[CLS]", "[SEP]",
           "\x00", "\ufffd", "\ud83d", "e\u0301", "&ltb;", "&LTi;"] + _LT_SPELLINGS


def _adversarial(rng, count):
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 12)):
            parts.append(rng.choice(_PIECES))
            if rng.random() < 0.5:
                parts.append(rng.choice(_WHITESPACE))
        texts.append("".join(parts))
    return texts


def test_normalisation_acts_across_whitespace_only_where_said():
    """The chunk memo's premise on texts with escaped and bare tag parts, entities split by
    whitespace, format characters and diacritics at chunk edges, every kind of whitespace."""
    from test_fast_tokenize import assert_normalises_chunk_by_chunk

    from khabar.data.normalise import may_act_across_whitespace

    rng = random.Random(41)
    checked = 0
    for text in _adversarial(rng, 1500):
        if may_act_across_whitespace(text):
            continue
        checked += 1
        assert_normalises_chunk_by_chunk(text)
    assert checked > 700


def test_memo_cold_warm_others_and_groups_equal_the_definition():
    """Every field of every article, four ways: cold, the same text again, after other articles
    made of its chunks in other orders, and in groups through tokenize_many."""
    rng = random.Random(42)
    texts = _adversarial(rng, 150) + ["", " ", "\n\t", "\u200b", "&nbsp;", "x" * 300, "«قال»", "قال."]
    chunks = [c for t in texts for c in t.split()]
    others = [" ".join(rng.sample(chunks, rng.randint(1, 10))) for _ in range(150)]
    for lexical in (True, None):
        reference, cold, warmed, grouped = (_encoder(lexical) for _ in range(4))
        for text in others:
            warmed.tokenize(text)
        warmed.tokenize_many(others[::-1])
        many = [tok for i in range(0, len(texts), 17) for tok in grouped.tokenize_many(texts[i:i + 17])]
        for text, tok in zip(texts, many):
            want = _definition(reference, text)
            assert _fields(cold.tokenize(text)) == want, repr(text)
            assert _fields(cold.tokenize(text)) == want, repr(text)
            assert _fields(warmed.tokenize(text)) == want, repr(text)
            assert _fields(tok) == want, repr(text)


def test_tokenize_many_reads_an_iterator_once():
    """An iterator of texts (a generator, a file's lines) gives every article, as a list does;
    the group's learning must not use the texts up first."""
    encoder = _encoder()
    texts = ["قال الرئيس", "", "كلام جديد"]
    got = encoder.tokenize_many(iter(texts))
    assert [_fields(t) for t in got] == [_definition(encoder, t) for t in texts]
    assert encoder.tokenize_many(t for t in []) == []


def test_two_threads_tokenising_at_once():
    """One tokenizer, two threads, each meeting characters, words and chunks the twin has not
    seen (its new-character check, word and chunk memos all growing under both): no error, and
    every article equals the definition."""
    import sys
    import threading

    encoder = _encoder()
    reference = _encoder()
    letters = [chr(c) for c in range(0x100, 0x180)] + [chr(c) for c in range(0x4E00, 0x4F00)]
    errors: list[str] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the threads finely

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(15):
                text = " ".join(rng.choice(["قال", "الرئيس", "«", "."]) + "".join(rng.choice(letters) for _ in range(2))
                                for _ in range(12))
                if _fields(encoder.tokenize(text)) != _definition(reference, text):
                    errors.append(text)
        except Exception as e:  # noqa: BLE001 - any error in a thread is the failure
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert not errors, errors[:3]


def test_a_tokenizer_changed_after_use_is_not_served_stale_chunks():
    """An added token (a piece the vocabulary has: its size stays; a new special one) or another
    normaliser after the memos filled: the articles follow the changed tokenizer (plain_twin's
    key), cold and warm."""
    from tokenizers import normalizers

    texts = ["قال الرئيس الأميركي ترامب: «نعم».", "COVID19 Hervé قال", "الأميركي ترامب", "ترامب"]
    changes = [lambda t: t.add_tokens(["الأم"]),  # in the vocabulary, and the start of الأميركي
               lambda t: t.add_special_tokens({"additional_special_tokens": ["ترامب"]}),
               lambda t: setattr(t.backend_tokenizer, "normalizer", normalizers.BertNormalizer(
                   lowercase=True, strip_accents=False, handle_chinese_chars=False))]
    for k, change in enumerate(changes):
        encoder = _encoder()
        before = encoder.tokenize_many(texts)
        change(encoder.tokenizer)
        for _ in range(2):
            for text in texts:
                assert _fields(encoder.tokenize(text)) == _definition(encoder, text), text
        if k < 2:  # an added token changes these articles (the lowercasing twin is not used at all)
            assert any(_fields(a) != _definition(encoder, t) for a, t in zip(before, texts))
