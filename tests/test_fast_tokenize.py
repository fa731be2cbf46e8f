"""The tokenizer's per-word fast paths equal the tokenizer itself (no timings here).

:meth:`PlainTwin.encode_arrays` rebuilds an article's tokens from each word's remembered tokens;
it must give what ``backend.encode(text, add_special_tokens=False)`` gives (ids, offsets, word
ids) on normalised text, whether the words are new (learnt from the twin) or remembered, or
decline (``None``) where the words are not independent.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from khabar.data.normalise import normalise

_WORDS = ["قال", "الرئيس", "الأميركي", "دونالد", "ترامب", "إن", "«", "»", ":", "،", ".", "2016", "م", "COVID19",
          "Hervé", "والرئيس", "بالعراق", "x" * 150, "ب" * 120, "؟", "!", "[", "]", "CLS", "قالت", "ليبيا"]


def _reference(backend, text):
    e = backend.encode(text, add_special_tokens=False)
    n = len(e.ids)
    offsets = np.array(e.offsets, dtype=np.int64).reshape(n, 2)
    return (np.array(e.ids, dtype=np.int64), offsets[:, 0], offsets[:, 1], np.array(e.word_ids, dtype=np.int64))


def _texts():
    from model_helpers import load_articles

    rng = random.Random(5)
    texts = [normalise(a.text).text for a in load_articles()]
    texts += [normalise(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 30)))).text for _ in range(200)]
    texts += ["ا", "x", "2016", ".", "Latin only . Yes !", "ب" * 120, "قال : « نعم »"]
    return [t for t in texts if t]


def _assert_same(got, want, text):
    assert got is not None, text
    assert len(got) == 4 and all(g.dtype == np.int64 and g.flags.writeable for g in got), text
    for g, w in zip(got, want):
        assert np.array_equal(g, w), text


def test_encode_arrays_equals_the_tokenizer_cold_and_warm():
    from model_helpers import tiny_tokenizer

    from khabar.model.plain_tokenizer import PlainTwin

    backend = tiny_tokenizer().backend_tokenizer
    texts = _texts()
    twin = PlainTwin(backend)
    for text in texts:  # words learnt as they come, article after article
        _assert_same(twin.encode_arrays(text), _reference(backend, text), text)
    assert twin._words
    for text in texts:  # now every word remembered: no tokenizer call
        _assert_same(twin.encode_arrays(text), _reference(backend, text), text)
    small = PlainTwin(backend)
    small_limit = 5
    import khabar.model.plain_tokenizer as pt

    saved, pt._MAX_WORDS = pt._MAX_WORDS, small_limit
    try:  # past the bound: new words are still tokenised, only not remembered
        for text in texts[:20]:
            _assert_same(small.encode_arrays(text), _reference(backend, text), text)
        assert len(small._words) <= small_limit
    finally:
        pt._MAX_WORDS = saved


def test_encode_arrays_declines_what_is_not_independent_words():
    from model_helpers import tiny_tokenizer

    from khabar.model.plain_tokenizer import PlainTwin

    backend = tiny_tokenizer().backend_tokenizer
    twin = PlainTwin(backend)
    # empty words (edge or double spaces), an added token's content, a character the twin declines
    for text in ["", " ", " قال", "قال ", "قال  نعم", "قال [CLS] نعم", "[MASK]", "قال\tنعم", "قال \u200f نعم"]:
        assert twin.encode_arrays(text) is None, repr(text)
    # an added token spelt by two new words side by side (the words of a learning call are joined)
    tokenizer = copy.deepcopy(tiny_tokenizer())
    tokenizer.add_tokens(["قال نعم"])
    twin = PlainTwin(tokenizer.backend_tokenizer)
    assert twin._learn(["قال", "نعم"]) is None
    assert twin.encode_arrays("قال نعم") is None
    text = "نعم قال"
    _assert_same(twin.encode_arrays(text), _reference(tokenizer.backend_tokenizer, text), text)


def test_learn_checks_that_tokens_tile_each_word():
    """The remembered rows rebuild the offsets from the token lengths alone: a word whose tokens
    do not cover it end to end (here: the twin's output tampered with) is never remembered."""
    from model_helpers import tiny_tokenizer

    from khabar.model.plain_tokenizer import PlainTwin

    backend = tiny_tokenizer().backend_tokenizer
    twin = PlainTwin(backend)

    class Shifted:
        def __init__(self, e, shift):
            self.ids, self.word_ids = e.ids, e.word_ids
            self.offsets = [(s + shift(i), e_ + shift(i)) for i, (s, e_) in enumerate(e.offsets)]

    real = twin.encode
    for shift in (lambda i: 1, lambda i: -1 if i == 1 else 0):
        twin.encode = lambda text, shift=shift: Shifted(real(text), shift)
        assert twin._learn(["قال", "الرئيس"]) is None
    assert not twin._words


@pytest.mark.parametrize("seed", range(3))
def test_tokenize_with_remembered_words_equals_the_per_token_loop(seed):
    """``ArticleEncoder.tokenize`` through the remembered words equals its list-based definition."""
    from model_helpers import tiny_tokenizer

    from khabar.data.normalise import normalise as norm
    from khabar.model.features import ArticleEncoder

    encoder = ArticleEncoder(tiny_tokenizer(), max_length=32, overlap=8, lexical_features=True)
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(_WORDS + ["\n", "قال: «نعم».", "٢٠١٦م"]) for _ in range(rng.randint(0, 60)))
             for _ in range(40)]
    for text in texts + texts:
        got = encoder.tokenize(text)
        want = encoder._tokenize_lists(text, norm(text))
        assert got == want and got.lexical == want.lexical, text
        assert got.words == want.words and got.word_of == want.word_of, text
    from khabar.model.plain_tokenizer import plain_twin

    assert plain_twin(encoder.tokenizer)._words  # the remembered words were used


# ------------------------------------------------------------------------------ chunk memo

# pieces that exercise every rule of normalisation at a chunk's edges: diacritics and format
# characters (first in a chunk: attached to nothing), entities (one unescaping to a space), URLs,
# e-mails, mentions, domains, Eastern digits glued to letters, emoji, marks, other whitespace
_CHUNK_PIECES = ["قال", "الرئيس", "َ", "ّ", "ـ", "\u200f", "\u200b", "&quot;", "&amp;", "&nbsp;", "&#10;", "&bogus;",
                 "https://x.com/a?b=1.", "www.aljazeera.net", "a@b.org", "@khabar", "news.co.uk/x", "٢٠١٦", "2016م",
                 "COVID19", "Hervé", "😀", "«", "»", ".", "،", ":", "\"", "(", ")", "_", "x" * 120, "[CLS]", "[MASK]",
                 " ", " ", "  ", "\n", "\t", "\u00a0", "\u3000", "\x1c", "\u2028", "\x00", "\ufffd", "\U0001f3fb", "\ud83d", "\x85"]


def _chunk_texts(rng, count, pieces=_CHUNK_PIECES):
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(count)]


def test_normalisation_never_acts_across_whitespace():
    """What the chunk memo rests on: without ``<`` (an HTML tag may hold a space), a text
    normalises as its whitespace-separated chunks one by one (assert_normalises_chunk_by_chunk)."""
    rng = random.Random(11)
    for text in _chunk_texts(rng, 1500) + ["", " ", "َقال", "&nbsp;قال", "قال&nbsp;َ"]:
        assert_normalises_chunk_by_chunk(text)


def assert_normalises_chunk_by_chunk(text: str) -> None:
    """``text`` normalises as its whitespace-separated chunks one by one, joined by single spaces,
    each chunk's original offsets shifted by its place in the text."""
    from khabar.data.normalise import normalise_arrays

    want_text, want_s, want_e = normalise_arrays(text)
    parts, starts, ends, at = [], [], [], 0
    for chunk in text.split():
        at = text.index(chunk, at)
        t, s, e = normalise_arrays(chunk)
        if t:
            parts.append(t)
            keep = np.array([c != " " for c in t], dtype=bool)
            starts.append(s[keep] + at)
            ends.append(e[keep] + at)
        at += len(chunk)
    assert want_text == " ".join(parts), repr(text)
    keep = np.array([c != " " for c in want_text], dtype=bool)
    got_s = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    got_e = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    assert np.array_equal(want_s[keep], got_s) and np.array_equal(want_e[keep], got_e), repr(text)


def _assert_tokenized_equal(got, want, text):
    import torch

    assert got == want and got.lexical == want.lexical, repr(text)
    assert got.words == want.words and got.word_of == want.word_of, repr(text)
    assert torch.equal(got.word_index(), want.word_index()), repr(text)
    assert torch.equal(got.sentence_starts(), want.sentence_starts()), repr(text)
    if len(got):
        for a, b in zip(got.input_tensors(), want.input_tensors()):
            assert (a is None and b is None) or (torch.equal(a, b) and a.dtype == b.dtype), repr(text)


def _from_memo(encoder, text: str):
    """``ArticleEncoder._from_chunks`` with the memo looked up; ``None`` where it does not apply."""
    memo = encoder._chunk_memo()
    return encoder._from_chunks(text, *memo) if memo is not None else None


@pytest.mark.parametrize("lexical", [True, False])
def test_tokenize_through_the_chunk_memo_equals_the_long_way(lexical):
    """Cold (chunks learnt), warm (chunks remembered, met again in other articles) and past the
    memo's bound: the same article as :meth:`ArticleEncoder._tokenize_lists`, the definition."""
    from model_helpers import load_articles, tiny_tokenizer

    import khabar.model.plain_tokenizer as pt
    from khabar.model.features import ArticleEncoder

    tokenizer = copy.deepcopy(tiny_tokenizer())  # its own twin and memo
    encoder = ArticleEncoder(tokenizer, max_length=32, overlap=8, lexical_features=lexical or None)
    rng = random.Random(12)
    texts = [a.text for a in load_articles()] + _chunk_texts(rng, 400)
    texts += ["", " ", "\n\n", "😀 😀", "َ", "Latin only. Yes!", "«قال»", "قال <b>نعم</b>", "قال <a href=\"x\">نعم</a> ثم", "x" * 150]
    hits = 0
    for rounds in range(2):
        for text in texts:
            fast = _from_memo(encoder, text)
            hits += fast is not None
            got = encoder.tokenize(text)
            want = encoder._tokenize_lists(text, normalise(text))
            _assert_tokenized_equal(got, want, text)
            if fast is not None:
                _assert_tokenized_equal(fast, want, text)
    assert hits > len(texts)  # the memo served most articles
    memo = pt.plain_twin(tokenizer).memos[("chunks", encoder.lexical.layout if lexical else None)]
    assert memo and _from_memo(encoder, "قال <b>نعم</b>") is None  # a tag may hold a space
    saved, pt.MAX_MEMO = pt.MAX_MEMO, len(memo)
    try:  # the memo full: new chunks are still tokenised, only not remembered
        for text in _chunk_texts(random.Random(13), 100, _CHUNK_PIECES + ["جديد", "كلمة"]):
            _assert_tokenized_equal(encoder.tokenize(text), encoder._tokenize_lists(text, normalise(text)), text)
        assert len(memo) == pt.MAX_MEMO
    finally:
        pt.MAX_MEMO = saved


def test_chunk_memo_declines_an_added_token_that_spans_words():
    from model_helpers import tiny_tokenizer

    from khabar.model.features import ArticleEncoder

    tokenizer = copy.deepcopy(tiny_tokenizer())
    tokenizer.add_tokens(["قال نعم"])
    encoder = ArticleEncoder(tokenizer, max_length=32, overlap=8)
    text = "قال نعم"
    assert _from_memo(encoder, text) is None
    want = tokenizer.backend_tokenizer.encode(normalise(text).text, add_special_tokens=False)
    assert encoder.tokenize(text).input_ids == want.ids


def test_lists_made_on_first_use_equal_the_constructed_article():
    """An article from the arrays makes input_ids, word_ids, first, word_of and lexical when first
    read; they equal what the dataclass constructor's article holds, and copies keep them (made or
    not). (copy.deepcopy goes through the same __getstate__/__reduce_ex__ as any serialiser; this
    project never unpickles, not even in tests.)"""
    from model_helpers import tiny_tokenizer

    from khabar.model.features import ArticleEncoder, TokenizedArticle

    encoder = ArticleEncoder(tiny_tokenizer(), max_length=32, overlap=8, lexical_features=True)
    plain = ArticleEncoder(tiny_tokenizer(), max_length=32, overlap=8)
    text = "قال الرئيس: «نعم». وأضاف أن 2016م كان عاما صعبا."
    for enc in (encoder, plain):
        tok = enc.tokenize(text)
        tok.input_tensors()  # from the arrays
        assert "input_ids" not in tok.__dict__  # not made yet
        assert enc is plain or "lexical" not in tok.__dict__
        want = enc._tokenize_lists(text, normalise(text))
        for other in (copy.deepcopy(tok), copy.copy(tok), tok):
            assert len(other) == len(want)
            assert (other.input_ids, other.word_ids, other.first, other.word_of, other.lexical) == \
                   (want.input_ids, want.word_ids, want.first, want.word_of, want.lexical)
        assert copy.deepcopy(tok) == tok
    built = TokenizedArticle("ab", [5], [(0, 2)], [0], [True], [0], [(0, 1)])
    assert built.lexical is None and len(built) == 1
    for obj in (built, tok):
        with pytest.raises(AttributeError, match="no_such_thing"):
            obj.no_such_thing
        assert not hasattr(obj, "no_such_thing")


def test_a_copied_tokenizer_starts_without_the_memos():
    """The memos are caches (tens of MB on a long stream): copy.deepcopy of a used tokenizer and a
    copied twin start empty, and tokenise as before."""
    from model_helpers import tiny_tokenizer

    from khabar.model.features import ArticleEncoder
    from khabar.model.plain_tokenizer import plain_twin

    used = copy.deepcopy(tiny_tokenizer())
    text = "قال الرئيس: «نعم». وأضاف أن 2016م كان عاما صعبا."
    want = ArticleEncoder(used, max_length=32, overlap=8, lexical_features=True).tokenize(text)
    assert plain_twin(used).memos and plain_twin(used)._words
    copied = copy.deepcopy(used)
    twin = plain_twin(copied)
    assert not twin.memos and not twin._words and twin.safe == plain_twin(used).safe
    _assert_tokenized_equal(ArticleEncoder(copied, max_length=32, overlap=8, lexical_features=True).tokenize(text),
                            want, text)
    again = copy.deepcopy(plain_twin(used))
    assert not again.memos and not again._words
    assert again.encode_arrays(normalise(text).text) is not None


# ------------------------------------------------------------------------------ lexical hashing


def _random_words(rng, count):
    letters = list("وبالكفلتمنيهةأإآىئؤء") + ["ال", "وال", "بال", "لل", "ولل", "فال", "كال"] + list("aZ9_-.é٢") + ["\ud800", "ـ", "َ"]
    return ["".join(rng.choice(letters) for _ in range(rng.randint(0, 8))) for _ in range(count)]


def test_stem_regex_equals_the_proclitic_loop():
    from khabar.model.lexical import _stem_by_loop, normalise_word, stem

    rng = random.Random(21)
    words = _random_words(rng, 20000) + ["", "و", "ال", "الا", "الاب", "والد", "وال", "للا", "لل", "ولل", "وللا", "\n\nال"]
    words += ["ال\n", "ال\nا", "وال\n\n"]  # any character counts as one of the two that must follow
    for w in words:
        assert stem(w) == _stem_by_loop(w), repr(w)
        assert stem(normalise_word(w)) == _stem_by_loop(normalise_word(w)), repr(w)


@pytest.mark.parametrize("spec", [None, {"norm": [512, 8], "stem": [256, 4], "shape": [32, 2]},
                                  {"prefix": [97, 4], "suffix": [3, 4]}])
def test_hasher_rows_equal_bucket_of_each_attribute(spec):
    """LexicalHasher's rows: bucket(attr, ATTRIBUTES[attr](word, normalised, stem), rows) of each
    table, whatever the shortcuts (shared forms, continued checksums, the stem regex)."""
    from khabar.model.lexical import ATTRIBUTES, LexicalHasher, _stem_by_loop, bucket, lexical_spec, normalise_word

    spec = lexical_spec(spec or True)
    rng = random.Random(22)
    words = _random_words(rng, 5000) + ["", "الرئيس", "بوتين", "٢٠١٦", "COVID19", "Hervé", "،", "والعراق", "للأمم"]
    hasher = LexicalHasher(spec)
    for w in words:
        n = normalise_word(w)
        s = _stem_by_loop(n)
        want = [bucket(a, ATTRIBUTES[a](w, n, s), int(spec[a][0])) for a in spec]
        assert hasher(w) == want == hasher(w), repr(w)


def test_hasher_follows_a_replaced_attribute_function(monkeypatch):
    import khabar.model.lexical as lx

    monkeypatch.setitem(lx.ATTRIBUTES, "suffix", lambda w, n, s: n[-2:])
    hasher = lx.LexicalHasher({"suffix": (64, 4)})
    assert hasher("الرئيس") == [lx.bucket("suffix", "يس", 64)]


@pytest.mark.parametrize("spec", [None, {"norm": [512, 8], "shape": [32, 2]}, {"prefix": [97, 4], "suffix": [3, 4]}])
def test_hashing_words_together_equals_one_at_a_time(spec):
    from khabar.model.lexical import LexicalHasher, lexical_spec

    hasher = LexicalHasher(lexical_spec(spec or True))
    rng = random.Random(23)
    greek = ["ΟΔΥΣΣΕΥΣ", "ΣΑΣ", "Σ", "ΑΣ.", "Α.Σ", "ΑΣ'Β", "ΑΣ\u0301", "ΜΑΣ\u200b"]  # final sigma's context
    for words in (_random_words(rng, 3000) + greek, [], [""], ["", ""], ["ال", ""], ["قال\nنعم", "ولل"], greek):
        assert hasher._hash_many(words) == [hasher._hash(w) for w in words], words[:5]
    fresh = LexicalHasher(lexical_spec(spec or True))
    words = _random_words(rng, 500)
    per_word, rows = fresh.word_rows(words + words[:50])
    assert per_word == [hasher._hash(w) for w in words + words[:50]]
    assert rows == np.array(per_word, dtype=np.int64).reshape(-1, fresh.width).tobytes()
    assert fresh.words(words) == per_word[:len(words)]  # remembered for the word-at-a-time path too


# ------------------------------------------------------------------------------ several articles


def test_tokenize_many_equals_one_at_a_time():
    """Chunks learnt for a whole group, then each article from the memo: the same articles as
    the definition; a group whose learning declines (here: one article's words refused) still
    gives every article, each its own way."""
    from model_helpers import load_articles, tiny_tokenizer

    from khabar.model.features import ArticleEncoder
    from khabar.model.plain_tokenizer import plain_twin

    tokenizer = copy.deepcopy(tiny_tokenizer())
    encoder = ArticleEncoder(tokenizer, max_length=32, overlap=8, lexical_features=True)
    rng = random.Random(31)
    groups = [[a.text for a in load_articles()], _chunk_texts(rng, 60), _chunk_texts(rng, 60) + ["", "<b>x</b> y"], []]
    for texts in groups:
        got = encoder.tokenize_many(texts)
        assert len(got) == len(texts)
        for tok, text in zip(got, texts):
            _assert_tokenized_equal(tok, encoder._tokenize_lists(text, normalise(text)), text)
    twin = plain_twin(tokenizer)
    memo = twin.memos[("chunks", encoder.lexical.layout)]
    assert all(c in memo for t in groups[1] for c in t.split())  # learnt
    real = twin.encode_arrays
    twin.encode_arrays = lambda text: None if "مرفوض" in text else real(text)
    texts = ["قال مرفوض جديد", "كلام جديد آخر", "مرفوض"]
    for tok, text in zip(encoder.tokenize_many(texts), texts):
        _assert_tokenized_equal(tok, encoder._tokenize_lists(text, normalise(text)), text)
    assert "آخر" in memo and "مرفوض" not in memo  # the other articles learnt their own chunks
