"""The faster Python around the encoder equals what it replaced (no timings here).

Each rewritten step is checked against its previous code, kept verbatim below as the reference,
on random inputs: the batch tensors built from per-article tensors, the quotation-mark scan of the
sentence splitter, the cached per-article index tensors, the list -> tensor conversion.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch

from khabar.model.features import TokenizedArticle
from khabar.model.tensor_lists import long_tensor

# ------------------------------------------------------------------------------ list -> tensor


@pytest.mark.parametrize("values, columns", [([], None), ([], 4), ([3, -1, 2**40], None),
                                             ([(1, 2, 3, 4), (5, 6, 7, 8)], 4), ([[0, 1], [2, 3]], 2),
                                             ([True, False], None)])
def test_long_tensor_equals_torch_tensor(values, columns):
    want = torch.tensor(values, dtype=torch.long)
    if columns is not None:
        want = want.view(-1, columns)
    got = long_tensor(values, columns)
    assert got.dtype == torch.long and got.shape == want.shape and torch.equal(got, want)


# ------------------------------------------------------------------------------ random articles


def _tokenized(rng: random.Random, n_tokens: int, lexical: bool, size: int = 12, overlap: int = 4) -> TokenizedArticle:
    from khabar.model.windows import make_windows

    from model_helpers import random_token_layout

    first, word_ids, sentence = random_token_layout(rng, n_tokens)
    spans = [(i, i + 1) for i in range(n_tokens)]
    boundaries = [t for t in range(1, n_tokens) if sentence[t] != sentence[t - 1]]
    windows = make_windows(n_tokens, boundaries, size, overlap)
    tok = TokenizedArticle("x" * n_tokens, [rng.randrange(5, 900) for _ in range(n_tokens)], spans, word_ids, first,
                           sentence, windows)
    if lexical:
        per_word = [[rng.randrange(1, 60) for _ in range(5)] for _ in tok.words]
        tok.lexical = [per_word[w] for w in tok.word_of]
    return tok


def _batch_inputs_reference(arts, batch, cls_id, sep_id):
    """The nested-list construction that ``_run_chunk`` used before ``_batch_inputs``."""
    seqs = []
    for a, w in batch:
        s, e = arts[a][1].windows[w]
        seqs.append([cls_id] + arts[a][1].input_ids[s:e] + [sep_id])
    width = max(len(x) for x in seqs)
    ids = torch.tensor([x + [0] * (width - len(x)) for x in seqs], dtype=torch.long)  # (batch, seq)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in seqs], dtype=torch.long)
    lex = None
    if arts[batch[0][0]][1].lexical is not None:
        k = len(arts[batch[0][0]][1].lexical[0])
        none = [[0] * k]
        lex = torch.tensor([none + arts[a][1].lexical[slice(*arts[a][1].windows[w])] + none * (width - len(x) + 1)
                            for (a, w), x in zip(batch, seqs)], dtype=torch.long)  # (batch, seq, n_attrs)
    return ids, mask, lex, [len(x) - 2 for x in seqs]


@pytest.mark.parametrize("seed", range(8))
def test_batch_inputs_equal_the_nested_list_construction(seed):
    from khabar.model.inference import _batch_inputs

    rng = random.Random(seed)
    lexical = seed % 2 == 0
    arts = [(i, _tokenized(rng, rng.randint(1, 40), lexical)) for i in range(rng.randint(1, 6))]
    jobs = [(a, w) for a, (_, tok) in enumerate(arts) for w in range(len(tok.windows))]
    rng.shuffle(jobs)
    for b in range(0, len(jobs), 5):
        batch = jobs[b : b + 5]
        got = _batch_inputs([(arts[a][1], w) for a, w in batch], 2, 3)
        want = _batch_inputs_reference(arts, batch, 2, 3)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert (got[2] is None) == (want[2] is None) == (not lexical)
        if lexical:
            assert torch.equal(got[2], want[2])
        assert got[3] == want[3]
        # padded to a multiple of 32 tokens (a quantised model's batches): the same inputs, then
        # masked padding
        padded = _batch_inputs([(arts[a][1], w) for a, w in batch], 2, 3, 32)
        width = want[0].size(1)
        assert padded[0].size(1) % 32 == 0 and width <= padded[0].size(1) < width + 32
        assert torch.equal(padded[0][:, :width], want[0]) and torch.equal(padded[1][:, :width], want[1])
        assert not padded[0][:, width:].any() and not padded[1][:, width:].any()
        if lexical:
            assert torch.equal(padded[2][:, :width], want[2]) and not padded[2][:, width:].any()
        assert padded[3] == want[3]


def test_width_multiple_pads_only_quantised_models():
    from torch import nn

    from khabar.model.inference import QUANTIZED_WIDTH_MULTIPLE, width_multiple

    model = nn.Linear(2, 2)
    assert width_multiple(model) == 1  # float32: exact widths (MKL builds nothing per shape)
    for kind in ("int8", "bf16"):
        model.khabar_quantized = kind
        assert width_multiple(model) == QUANTIZED_WIDTH_MULTIPLE


@pytest.mark.parametrize("seed", range(6))
def test_cached_word_tensors_equal_their_definitions(seed):
    rng = random.Random(100 + seed)
    tok = _tokenized(rng, rng.randint(1, 60), lexical=True)
    assert tok.word_index().tolist() == [w[0] for w in tok.words]
    sent = [tok.sentence[w[0]] for w in tok.words]
    assert tok.sentence_starts().tolist() == [i == 0 or sent[i] != sent[i - 1] for i in range(len(sent))]
    ids, lex = tok.input_tensors()
    assert ids.tolist() == tok.input_ids and lex.tolist() == tok.lexical
    assert tok.word_index() is tok.word_index()  # built once


# ------------------------------------------------------------------------------ sentences


def test_sentence_memo_returns_what_the_splitter_computes(monkeypatch):
    import khabar.data.sentences as sentences

    texts = ["قال الوزير. ثم مضى.", "قال الوزير. ثم مضى!", "", "  ", "Latin only. Yes.", '"نعم." قال', "x\r\ny."]
    for text in texts * 2:  # the second round from the memo
        got = sentences.split_sentences(text)
        assert got == sentences._split_sentences(text)
        got.append((0, 0))  # the caller's own list: the memo is not changed
    assert all(sentences.split_sentences(t) == sentences._split_sentences(t) for t in texts)
    # equal texts that are different objects hit; the memo stays within its bounds
    assert sentences.split_sentences("".join(["قال. ", "نعم."])) == sentences._split_sentences("قال. نعم.")
    monkeypatch.setattr(sentences, "_MEMO_ARTICLES", 3)
    for i in range(10):
        sentences.split_sentences(f"جملة {i}. وأخرى.")
    assert len(sentences._MEMO) <= 3
    assert sentences._memo_chars == sum(map(len, sentences._MEMO))


def test_quote_regions_equal_the_character_loop():
    from khabar.data.sentences import _quote_regions

    rng = random.Random(7)
    alphabet = list('"«»“”„‹›.!?؟؛… \t()[]:،,-/ابتقلمن12')
    for _ in range(3000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50)))
        assert _quote_regions(line) == _quote_regions(line, range(len(line))), line  # marks only == every character


# ------------------------------------------------------------------------------ normalisation

_PIECES = ["قال", "الرئيس", "ُ", "ـ", "\u200f", "&quot;", "&amp;", "&#1604;", "&#x64B;", "&bogus;", "&nbsp;",
           "http://x.com/a.b", "www.site.org", "a@b.com", "@user", "<b>", "</p>", "x.com", "abc.co.uk", "٢٠١٦", "۱۲",
           "2016م", "COVID19", "é", "😀", "👍🏽", "\U000e0041", "_", "#هاشتاغ_", "…", "...", ".", "،", "؛", "؟", "!",
           "«", "»", '"', "'", " ", "  ", "\n", "\t", "\u00a0", "\u3000", "\x00", "\x07", "\ud800", "$", "%", "+",
           "ﻻ", "\u0670", "\u06e5", "\u0750", "x\u0301", "Ab", "9", "٫"]


def _soup(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 25)))


def test_normalise_stages_on_arrays_equal_their_loops():
    import importlib

    norm = importlib.import_module("khabar.data.normalise")  # the module (the package exports the function)
    rng = random.Random(11)
    for _ in range(4000):
        text = _soup(rng)
        s1, starts, ends = norm._stage1(text)
        loop = norm._stage1_loop(text)
        assert (s1, starts.tolist(), ends.tolist()) == loop, text
        s2 = norm._stage2(s1)
        s3, o_starts, o_ends = norm._stage3_arrays(s2, starts, ends)
        assert (s3, o_starts.tolist(), o_ends.tolist()) == norm._stage3_tokens(s2, loop[1], loop[2]), text


def test_normalise_character_tables_match_the_regex_classes():
    import importlib
    import re

    norm = importlib.import_module("khabar.data.normalise")
    space = re.compile(r"\s")
    arabic = re.compile(f"[{norm._ARABIC_LETTERS}]")
    for cp in range(0x110000):
        c = chr(cp)
        assert bool(space.match(c)) == bool(norm._SPACE_TABLE[min(cp, norm._SPACE_TABLE.size - 1)]), hex(cp)
        assert bool(arabic.match(c)) == bool(norm._ARABIC_TABLE[min(cp, norm._ARABIC_TABLE.size - 1)]), hex(cp)
        if cp < 0x10000 and not 0xD800 <= cp < 0xE000 and cp:  # the BMP's marks (a NUL counts as none)
            assert bool(norm._MARK_RE.match(c)) == bool(norm._MARK_TABLE[cp]), hex(cp)
            assert bool(norm._DELETE_ONE_RE.match(c)) == bool(norm._DELETE_TABLE[cp]), hex(cp)
    for table in (norm._MARK_TABLE, norm._DELETE_TABLE):
        assert not table[0] and not table[0xD800:0xE000].any()
    # why the mark table may call a lone surrogate no mark (the regex calls it one): stage 3
    # never sees one, stage 2 blanks them all
    assert all(norm._stage2(f"a{chr(cp)}b") == "a b" for cp in range(0xD800, 0xE000))


# ------------------------------------------------------------------------------ bootstrapper tokens


def _key_tokens_reference(kt):
    """``KeyText._tokenise`` as it was: a match object per token, paragraphs counted as it goes,
    then the sentence of every token set one by one."""
    from bisect import bisect_left

    from khabar.bootstrap.text import _TOKEN_RE, Token
    from khabar.data.sentences import split_sentences

    key = kt.key
    tokens, para, last = [], 0, 0
    for m in _TOKEN_RE.finditer(key):
        g = m.group()
        start, end = m.span()
        para += key.count("\n", last, start)
        last = start
        tokens.append(Token(g, start, end, g[0].isalnum() or g[0] in "#_", 0, para))
    starts = [t.start for t in tokens]
    sents = []
    for s, e in split_sentences(kt.original):
        ks, ke = kt.from_original(s), kt.from_original(e)
        a, b = bisect_left(starts, ks), bisect_left(starts, ke)
        if b > a:
            sents.append((a, b))
    merged = []
    for a, b in sents:
        if merged and tokens[a - 1].text == "." and tokens[a - 1].end == tokens[a].start \
                and a >= 2 and tokens[a - 2].end == tokens[a - 1].start and len(tokens[a - 2].text) <= 3:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    for si, (a, b) in enumerate(merged):
        for t in tokens[a:b]:
            t.sentence = si
    return tokens, merged


def test_key_text_tokens_equal_the_match_loop():
    from khabar.bootstrap.text import KeyText

    rng = random.Random(5)
    pieces = ["قال", "الرئيس", "ُ", "ـ", "\u200f", "إي", ".", "لين", "براون", "أ", "ى", "#", "_", "#وسم", "...", "…",
              "\n", "\n\n", " ", "\t", "«", "»", '"', "؟", "!", "د", "3", "x", "\u00a0", "\u2028"]
    for _ in range(3000):
        kt = KeyText.build("".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))))
        tokens, sentences = _key_tokens_reference(kt)
        assert kt.tokens == tokens and kt.sentences == sentences, kt.original


# ------------------------------------------------------------------------------ tokenize


def _tokenize_reference(encoder, text):
    """``ArticleEncoder.tokenize`` as it was: ``Normalised.to_original`` for every token, the
    lexical rows through the hasher's call one word at a time."""
    from khabar.data.normalise import normalise
    from khabar.data.sentences import split_sentences
    from khabar.model.features import _sentence_of
    from khabar.model.windows import make_windows

    norm = normalise(text)
    enc = encoder.tokenizer(norm.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    word_ids = enc.word_ids()
    spans, keep = [], []
    for i, (s, e) in enumerate(offsets):
        if e <= s:
            continue
        o = norm.to_original(s, e)
        if o[1] <= o[0]:
            continue
        spans.append(o)
        keep.append(i)
    ids = [ids[i] for i in keep]
    words = [word_ids[i] if word_ids[i] is not None else -1 - i for i in keep]
    first = [i == 0 or words[i] != words[i - 1] for i in range(len(words))]
    sentence = _sentence_of(spans, split_sentences(text))
    boundaries = [t for t in range(1, len(ids)) if sentence[t] != sentence[t - 1] and first[t]]
    windows = make_windows(len(ids), boundaries, encoder.size, encoder.overlap)
    tok = TokenizedArticle(text, ids, spans, words, first, sentence, windows)
    per_word = [encoder.lexical(text[cs:ce]) for _, _, cs, ce in tok.words]
    tok.lexical = [per_word[w] for w in tok.word_of]
    return tok


def test_tokenize_equals_the_per_token_loop():
    from model_helpers import load_articles, tiny_tokenizer

    from khabar.model.features import ArticleEncoder

    encoder = ArticleEncoder(tiny_tokenizer(), max_length=32, overlap=8, lexical_features=True)
    rng = random.Random(3)
    texts = [a.text for a in load_articles()]
    texts += ["".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40))) for _ in range(300)]
    # any characters: controls, format marks, combining marks, CJK, emoji, private use, other spaces
    pools = [range(0x20, 0x7F), range(0x600, 0x700), range(0x0, 0x20), range(0x2000, 0x2070), range(0x300, 0x370),
             range(0x4E00, 0x4E40), range(0xFE00, 0xFF00), range(0x1F300, 0x1F340), range(0xE000, 0xE010),
             range(0x80, 0x250), range(0x3000, 0x3040), range(0xFFF0, 0x10000)]
    texts += ["".join(chr(rng.choice(rng.choice(pools))) if rng.random() < 0.5 else rng.choice(" قال ")
                      for _ in range(rng.randint(0, 40))) for _ in range(300)]
    texts += ["", " ", "\r\n", '"«»"', "Latin only. Yes!", "[CLS] x [SEP] [MASK]", "x" * 150]
    for text in texts:
        got, want = encoder.tokenize(text), _tokenize_reference(encoder, text)
        assert got == want and got.lexical == want.lexical, text
        assert got.words == want.words and got.word_of == want.word_of, text
        assert torch.equal(got.word_index(), want.word_index()), text
        assert torch.equal(got.sentence_starts(), want.sentence_starts()), text
        if len(got):
            assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(got.input_tensors(), want.input_tensors()))


def test_plain_twin_tokenizes_as_the_tokenizer_or_declines():
    from model_helpers import load_articles, tiny_tokenizer

    from khabar.data.normalise import normalise
    from khabar.model.plain_tokenizer import PlainTwin, plain_twin, supported

    tokenizer = tiny_tokenizer()
    backend = tokenizer.backend_tokenizer
    assert supported(backend)
    twin = plain_twin(tokenizer)
    assert twin is plain_twin(tokenizer)  # one per tokenizer
    for article in load_articles():
        text = normalise(article.text).text
        got, want = twin.encode(text), backend.encode(text, add_special_tokens=False)
        assert (got.ids, got.offsets, got.word_ids) == (want.ids, want.offsets, want.word_ids)
    # characters the tokenizer's normaliser would change, or whitespace it would drop: declined
    fresh = PlainTwin(backend)
    for c in ["\x00", "\ufffd", "\u200f", "\t", "\u00a0"]:
        assert fresh.encode(f"قال {c} نعم") is None and c in fresh.unsafe
    assert fresh.encode("قال : نعم") is not None  # a mark between spaces is fine




def test_plain_twin_follows_a_tokenizer_changed_after_use():
    """A used tokenizer's twin (kept on the tokenizer, and carried along by ``copy.deepcopy``)
    must not outlive a change of the normaliser or pre-tokenizer: the text goes to the changed
    tokenizer (here NFKC, which turns presentation forms into letters) as before the twin."""
    import copy

    from model_helpers import tiny_tokenizer
    from tokenizers import normalizers

    from khabar.data.normalise import normalise
    from khabar.model.features import ArticleEncoder

    text = "\ufefb \ufdf2 قال الرئيس"  # presentation forms: NFKC gives letters, the plain text [UNK]
    used = copy.deepcopy(tiny_tokenizer())
    ArticleEncoder(used, max_length=32, overlap=8).tokenize(text)  # the twin is made and kept
    for tokenizer in (used, copy.deepcopy(used)):
        tokenizer.backend_tokenizer.normalizer = normalizers.Sequence(
            [normalizers.NFKC(), normalizers.BertNormalizer(lowercase=False, strip_accents=False)])
        want = tokenizer.backend_tokenizer.encode(normalise(text).text, add_special_tokens=False)
        got = ArticleEncoder(tokenizer, max_length=32, overlap=8).tokenize(text)
        assert got.input_ids == want.ids


def test_plain_twin_follows_an_added_token_already_in_the_vocabulary():
    """``add_tokens`` of a word the vocabulary has leaves its size as it was, yet the tokenizer now
    matches that word inside longer ones before pre-tokenising: the twin must not miss it."""
    import copy

    from model_helpers import tiny_tokenizer

    from khabar.data.normalise import normalise
    from khabar.model.features import ArticleEncoder

    tokenizer = copy.deepcopy(tiny_tokenizer())
    word = max((w for w in tokenizer.get_vocab() if w.isalpha() and not w.startswith("##")), key=len)
    text = f"قال و{word} نعم"
    encoder = ArticleEncoder(tokenizer, max_length=32, overlap=8)
    encoder.tokenize(text)  # the twin is made and kept
    size = tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=True)
    tokenizer.add_tokens([word])
    assert tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=True) == size
    want = tokenizer.backend_tokenizer.encode(normalise(text).text, add_special_tokens=False)
    assert encoder.tokenize(text).input_ids == want.ids


def test_lexical_shape_fast_path_and_word_rows():
    from khabar.model.lexical import LexicalHasher, _shape_by_characters, lexical_spec, shape

    def shape_reference(word):  # the per-character definition, for every word (the shortcut skipped)
        return _shape_by_characters(word) if word else "_"

    rng = random.Random(9)
    alphabet = [chr(c) for c in range(0x600, 0x700)] + list("aZ9_-.é")
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(5000)]
    words += ["الرئيس", "بوتين", "٢٠١٦", "COVID19", "Hervé", "،"]
    assert [shape(w) for w in words] == [shape_reference(w) for w in words]
    hasher = LexicalHasher(lexical_spec(True))
    assert hasher.words(words[:50] + words[:50]) == [LexicalHasher(lexical_spec(True))(w) for w in words[:50] * 2]

    for some in (words[:80] + words[:80], [], ["", "x"]):
        per_word, rows = hasher.word_rows(some)
        want = [LexicalHasher(lexical_spec(True))(w) for w in some]
        assert per_word == want and rows == np.array(want, dtype=np.int64).reshape(-1, hasher.width).tobytes()


def test_tokenize_never_truncates_with_a_truncating_backend():
    import copy

    from model_helpers import load_articles, tiny_tokenizer

    from khabar.model.features import ArticleEncoder

    tokenizer = copy.deepcopy(tiny_tokenizer())
    tokenizer.backend_tokenizer.enable_truncation(8)  # a tokenizer.json saved with truncation on
    encoder = ArticleEncoder(tokenizer, max_length=32, overlap=8)
    plain = ArticleEncoder(tiny_tokenizer(), max_length=32, overlap=8)
    text = load_articles()[0].text
    assert len(encoder.tokenize(text)) == len(plain.tokenize(text)) > 8


@pytest.mark.parametrize("seed", range(10))
def test_row_runs_copy_what_the_central_gather_picks(seed):
    from khabar.model.inference import _central_rows, _row_runs
    from khabar.model.windows import make_windows

    rng = random.Random(seed)
    n = rng.randint(2, 300)
    boundaries = rng.sample(range(1, n), min(n - 1, rng.randint(0, 30)))
    size = rng.randint(2, 40)
    windows = make_windows(n, boundaries, size, rng.randint(0, size - 1))
    outputs = [torch.randn(e - s, 3) for s, e in windows]
    pick = _central_rows(windows, n)
    want = torch.cat(outputs)[pick]
    runs = _row_runs(pick, [e - s for s, e in windows])
    assert torch.equal(torch.cat([outputs[w][r0:r1] for w, r0, r1 in runs]), want)
    assert len(runs) <= 2 * len(windows)


@pytest.mark.parametrize("seed", range(10))
def test_central_windows_pick_what_the_central_rows_pick(seed):
    from khabar.model.inference import _central_rows, _central_windows_many
    from khabar.model.windows import make_windows

    rng = random.Random(50 + seed)
    n = rng.randint(1, 300)
    boundaries = rng.sample(range(1, n), min(n - 1, rng.randint(0, 30)))
    size = rng.randint(2, 40)
    windows = make_windows(n, boundaries, size, rng.randint(0, size - 1))
    [(win, pos)] = _central_windows_many([windows], [n])
    starts = [0]
    for s, e in windows:
        starts.append(starts[-1] + e - s)
    assert [starts[w] + p for w, p in zip(win.tolist(), pos.tolist())] == _central_rows(windows, n).tolist()
    with pytest.raises(AssertionError, match="do not cover"):
        _central_windows_many([[(0, 1)]], [2])


def test_stacked_head_product_equals_each_head():
    from model_helpers import tiny_model, tiny_tokenizer

    from khabar.model.inference import HEADS, STACKED_HEADS_MIN_ELEMENTS, _head_logits_fn

    model = tiny_model(tiny_tokenizer(), max_length=32, overlap=8).eval()
    gen = torch.Generator().manual_seed(3)
    heads = [getattr(model, f"{name}_head") for name in HEADS]
    width = heads[0].out.in_features
    rows = STACKED_HEADS_MIN_ELEMENTS // width
    # small batches go head by head (the same floats); from the threshold up, one stacked product:
    # the same dot products, bit for bit with this project's MKL on its CPU (which the analyser's
    # byte-identical output was checked on), but the summation order is the BLAS library's choice,
    # so the test asks only for float32 rounding-level agreement
    for shape in [(1, 1), (1, 3), (3, 17), (1, rows), (16, rows // 16 + 1), (7, 258), (16, 258)]:
        h = torch.randn((*shape, width), generator=gen)
        got, want = _head_logits_fn(model)(h), torch.cat([head(h) for head in heads], -1)
        if h.numel() < STACKED_HEADS_MIN_ELEMENTS:
            assert torch.equal(got, want), shape
        else:
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        # hybrid mode: the entity and quotation heads alone, the cue and source heads on gathered rows
        early = _head_logits_fn(model, ("entity", "quote"))(h)
        torch.testing.assert_close(early, want[..., :16], rtol=1e-5, atol=1e-6)
        rows = h.flatten(0, -2)[torch.arange(0, h.numel() // width, 7)]  # (R, hidden)
        late = _head_logits_fn(model, ("cue", "source"))(rows)
        torch.testing.assert_close(late, want.flatten(0, -2)[torch.arange(0, h.numel() // width, 7), 16:],
                                   rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ chunk decoding


@pytest.mark.parametrize("seed", range(8))
def test_many_article_decoders_equal_one_call_per_article(seed):
    from khabar.model.decoding import (decode_bio, decode_bio_many, decode_bio_viterbi, decode_bio_viterbi_many,
                                       decode_quotes, decode_quotes_many)
    from khabar.model.features import entity_scheme

    rng = random.Random(200 + seed)
    gen = torch.Generator().manual_seed(seed)
    toks = [_tokenized(rng, rng.randint(1, 120), lexical=False) for _ in range(rng.randint(1, 7))]
    scale = 4.0 if seed % 2 else 0.5  # sharp logits (few, long spans) or flat ones (many short spans)
    probs = [(torch.randn((len(tok), 21), generator=gen) * scale).softmax(-1) for tok in toks]  # all heads side by side
    offsets = [0]
    for tok in toks:
        offsets.append(offsets[-1] + len(tok.words))
    rows = torch.cat([p[tok.word_index()] for tok, p in zip(toks, probs)])  # (N_words, 21)
    ent, quote, cue = rows[:, 0:9], rows[:, 9:16], rows[:, 16:19]
    tags, bio, types = entity_scheme(), ["O", "B", "I"], ["direct", "indirect", "mixed"]
    assert decode_bio_many(toks, ent, offsets, tags) == [decode_bio(t, p[:, 0:9], tags) for t, p in zip(toks, probs)]
    assert decode_bio_viterbi_many(toks, ent, offsets, tags) == [decode_bio_viterbi(t, p[:, 0:9], tags)
                                                                 for t, p in zip(toks, probs)]
    assert decode_quotes_many(toks, quote, offsets, types) == [decode_quotes(t, p[:, 9:16], types)
                                                               for t, p in zip(toks, probs)]
    assert decode_bio_many(toks, cue, offsets, bio) == [decode_bio(t, p[:, 16:19], bio) for t, p in zip(toks, probs)]


def _decode_chunk(cfg, items, sizes):
    """What _run_chunk hands _decode_words: the articles' word rows gathered at once from their
    token probabilities (n, sum of the heads' tags)."""
    from khabar.model.inference import HEADS, _decode_words

    offsets = itertools.accumulate((len(tok) for tok, _ in items[:-1]), initial=0)
    first = np.concatenate([tok.word_index().numpy() + off for (tok, _), off in zip(items, offsets)])
    rows = torch.cat([probs for _, probs in items])[torch.from_numpy(first)]  # (N_words, sum of tags)
    heads = dict(zip(HEADS, rows.split(sizes, -1)))
    return _decode_words(cfg, [tok for tok, _ in items],
                         lambda name, picked=None: heads[name] if picked is None else heads[name][picked])


def test_decode_chunk_equals_decoding_article_by_article():
    from types import SimpleNamespace

    from khabar.model.inference import _decode_article

    rng = random.Random(17)
    gen = torch.Generator().manual_seed(17)
    toks = [_tokenized(rng, rng.randint(1, 150), lexical=False) for _ in range(9)]
    items = [(tok, (torch.randn((len(tok), 22), generator=gen) * 2).softmax(-1)) for tok in toks]
    sizes = [9, 7, 3, 3]
    for decoding in ("viterbi", "greedy"):
        cfg = SimpleNamespace(entity_decoding=decoding, entity_labels=["PER", "ORG", "LOC", "MISC"],
                              quote_types=["direct", "indirect", "mixed"])
        assert _decode_chunk(cfg, items, sizes) == [_decode_article(cfg, tok, p, sizes) for tok, p in items]


@pytest.mark.parametrize("seed", range(5))
def test_tokenized_article_words_equal_the_token_loop(seed):
    rng = random.Random(300 + seed)
    tok = _tokenized(rng, rng.randint(0, 200), lexical=False)
    tok.spans = [(s, e + rng.randint(0, 3)) for s, e in tok.spans]  # a later sub-word may end earlier
    tok.__post_init__()
    words, word_of = [], []
    for t in range(len(tok.input_ids)):
        if tok.first[t]:
            words.append((t, t + 1, tok.spans[t][0], tok.spans[t][1]))
        else:
            a, _, cs, ce = words[-1]
            words[-1] = (a, t + 1, cs, max(ce, tok.spans[t][1]))
        word_of.append(len(words) - 1)
    assert tok.words == words and tok.word_of == word_of
