"""Articles -> model inputs: normalisation, tokens with original offsets, windows, labels, collate.

One article is tokenised once (on its normalised text), every token keeps the span of ORIGINAL
characters it stands for, and the token sequence is cut into sentence-aligned windows
(:mod:`khabar.model.windows`). Labels are word-level BIO (the first sub-word of a word carries the
label, the others ``-100``); a layer that is not annotated (``entities=None`` / ``quotes=None``) is
all ``-100``, so its loss is simply absent for that article.

Speed (inference tokenises every article it reads): :meth:`ArticleEncoder.tokenize` first tries
the chunk memo (:meth:`ArticleEncoder._from_chunks`: what each whitespace-separated chunk of
the original text gave before), then the array path (one article on numpy arrays), and keeps the
per-token loop (:meth:`ArticleEncoder._tokenize_lists`) as the definition both are tested against.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from khabar.data.article import ENTITY_LABELS, QUOTE_TYPES, Article
from khabar.data.normalise import _SPACE_TABLE, Normalised, may_act_across_whitespace, normalise_arrays
from khabar.data.sentences import split_sentences
from khabar.model.windows import make_windows

IGNORE = -100
BIO = ("O", "B", "I")
_keys = itertools.count()


def entity_scheme(labels: Sequence[str] = ENTITY_LABELS) -> list[str]:
    """``["O", "B-PER", "I-PER", ...]``: the entity head's tags, in id order."""
    return ["O"] + [f"{p}-{label}" for label in labels for p in ("B", "I")]


def quote_scheme(types: Sequence[str] = QUOTE_TYPES) -> list[str]:
    """``["O", "B-direct", "I-direct", ...]``: the quotation head's tags, in id order."""
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


@dataclass
class TokenizedArticle:
    """An article's tokens (no special tokens) and how they map to the original text."""

    text: str
    input_ids: list[int]
    spans: list[tuple[int, int]]  # original [start, end) per token
    word_ids: list[int]  # word index per token (sub-words of one word share it)
    first: list[bool]  # whether the token is its word's first sub-word
    sentence: list[int]  # sentence index per token
    windows: list[tuple[int, int]]  # token ranges [start, end)
    lexical: list[list[int]] | None = None  # per token: its word's lexical table rows (khabar.model.lexical)

    def __len__(self) -> int:
        ids = self.__dict__.get("input_ids")  # not made yet for an article built by _from_arrays
        return len(ids if ids is not None else self._derived["ids"])

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute the instance lacks: the lists that an article built by
        # _from_arrays makes from its arrays on first use (inference reads none of them, except
        # the lexical rows of a batch's first window for their width).
        make = _LAZY_LISTS.get(name)
        derived = self.__dict__.get("_derived")
        if make is None or derived is None or "ids" not in derived:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        value = self.__dict__[name] = make(derived)
        return value

    def __post_init__(self) -> None:
        # words as (first token, end token, char start, char end), for span <-> token look-ups;
        # built from the word starts (C-level compress/accumulate), not a step per token
        n, first, spans = len(self.input_ids), self.first, self.spans
        if n and not first[0]:
            raise ValueError("TokenizedArticle: the first token must start a word (first[0] is false)")
        starts = list(itertools.compress(range(n), first))
        self.words: list[tuple[int, int, int, int]] = [
            (a, b, spans[a][0], spans[a][1] if b == a + 1 else max(s[1] for s in spans[a:b]))
            for a, b in zip(starts, starts[1:] + [n])
        ]
        self.word_of: list[int] = [c - 1 for c in itertools.accumulate(map(bool, first[:n]))]
        self._word_starts = [w[2] for w in self.words]
        self._derived: dict[str, Any] = {}  # tensors built once from the words (see word_index)

    @classmethod
    def _from_arrays(cls, text: str, ids: Any, starts: Any, ends: Any, words: Any, first: Any, sentence: Any,
                     windows: list[tuple[int, int]]) -> "TokenizedArticle":
        """The article of ``n > 0`` tokens given as ``(n,)`` arrays (ids, original starts and ends,
        word ids, first sub-word flags, sentences), its words computed on them rather than by
        :meth:`__post_init__`'s loop (the same lists, tested), and :meth:`word_index` with them."""
        import numpy as np
        import torch

        n = len(ids)
        tok = cls.__new__(cls)
        # input_ids, word_ids, first, word_of and lexical: made on first use (see __getattr__)
        tok.text, tok.windows, tok.sentence = text, windows, sentence.tolist()
        tok.spans = list(zip(starts.tolist(), ends.tolist()))
        if not first[0]:
            raise ValueError("TokenizedArticle: the first token must start a word (first[0] is false)")
        w0 = np.flatnonzero(first).astype(np.int64, copy=False)  # (n_words,) each word's first token
        heads = w0.tolist()
        ends_at = heads[1:]  # each word's end token: the next word's first, the last word's n
        ends_at.append(n)
        tok._word_starts = starts[w0].tolist()
        # each word's end: the furthest end of its tokens
        tok.words = list(zip(heads, ends_at, tok._word_starts, np.maximum.reduceat(ends, w0).tolist()))
        sent = sentence[w0]  # (n_words,) each word's sentence
        opens = np.ones(len(w0), dtype=bool)
        np.not_equal(sent[1:], sent[:-1], out=opens[1:])
        tok._derived = {"word_index": torch.from_numpy(w0), "sentence_starts": torch.from_numpy(opens),
                        "ids": ids, "words": words, "first": first}
        return tok

    def _word_lexical(self, per_word: list[list[int]], rows: bytes) -> None:
        """:meth:`input_tensors` from each word's lexical rows (``per_word``, and ``rows``: the same
        as int64 bytes; ``self.lexical`` is those rows per token), for an article built by
        :meth:`_from_arrays`: one row per word, spread to its tokens."""
        import numpy as np

        width = len(per_word[0])
        if len(rows) != 8 * width * len(per_word):
            return  # ragged rows: input_tensors says so when asked
        table = np.frombuffer(rows, dtype=np.int64).reshape(len(per_word), width)  # (n_words, n_attrs)
        self._token_lexical(table[np.cumsum(self._derived["first"]) - 1])  # (n, n_attrs): each token's word's row

    def _token_lexical(self, table: Any) -> None:
        """``self.lexical`` and :meth:`input_tensors` from the lexical rows of every token as a
        ``(n, n_attrs)`` int64 array (contiguous, writable: the tensor shares it)."""
        import numpy as np
        import torch

        self._derived["lexical"] = table  # self.lexical: its rows as lists on first use
        self._derived["inputs"] = (torch.from_numpy(np.ascontiguousarray(self._derived["ids"], dtype=np.int64)),
                                   torch.from_numpy(table))

    def word_index(self) -> Any:
        """``(n_words,)`` long tensor: each word's first token. Built once per article: decoding
        gathers the word rows of every head with it."""
        if "word_index" not in self._derived:
            from khabar.model.tensor_lists import long_tensor

            self._derived["word_index"] = long_tensor([w[0] for w in self.words])
        return self._derived["word_index"]

    def input_tensors(self) -> tuple[Any, Any]:
        """``input_ids`` as a ``(n,)`` long tensor and ``lexical`` as ``(n, n_attrs)`` (``None``
        without lexical features), built once: the windows of a batch are slices of them."""
        if "inputs" not in self._derived:
            import numpy as np
            import torch

            from khabar.model.tensor_lists import long_tensor

            lexical = None
            if self.lexical:
                width = len(self.lexical[0])
                if set(map(len, self.lexical)) == {width}:
                    # the rows flattened by one C-level iterator: numpy parses nested lists ~2x slower
                    flat = np.fromiter(itertools.chain.from_iterable(self.lexical), dtype=np.int64)
                else:  # ragged rows: the strict parser says so
                    flat = np.array(self.lexical, dtype=np.int64)
                lexical = torch.from_numpy(flat.reshape(-1, width))  # (n, n_attrs)
            elif self.lexical is not None:
                lexical = long_tensor(self.lexical, 1)
            ids = self._derived.get("ids")  # an article built by _from_arrays: its ids array, no list
            self._derived["inputs"] = (torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)) if ids is not None
                                       else long_tensor(self.input_ids), lexical)
        return self._derived["inputs"]

    def sentence_starts(self) -> Any:
        """``(n_words,)`` bool tensor: whether each word opens a sentence (the first word does)."""
        if "sentence_starts" not in self._derived:
            import torch

            from khabar.model.tensor_lists import long_tensor

            sent = long_tensor([self.sentence[w[0]] for w in self.words])  # (n_words,)
            starts = torch.ones(len(self.words), dtype=torch.bool)
            starts[1:] = sent[1:] != sent[:-1]
            self._derived["sentence_starts"] = starts
        return self._derived["sentence_starts"]

    def words_in(self, start: int, end: int) -> list[int]:
        """Indices of the words overlapping original chars ``[start, end)``."""
        i = max(bisect.bisect_right(self._word_starts, start) - 1, 0)
        out = []
        while i < len(self.words) and self.words[i][2] < end:
            if self.words[i][3] > start:
                out.append(i)
            i += 1
        return out

    def word_span(self, t: int) -> tuple[int, int]:
        """Token range of the word token ``t`` belongs to."""
        w = self.words[self.word_of[t]]
        return w[0], w[1]


def _token_spans(n_starts: Any, n_ends: Any, starts: Any, ends: Any, words: Any) -> tuple[Any, Any, Any] | None:
    """Each token's original span and whether it starts a word, ``(o_s, o_e, first)``, ``(n,)``
    each, from the normalised text's offset map (``n_starts``, ``n_ends``) and the tokens' offsets
    and word ids in it; ``None`` for no token or one the per-token loop would drop or misplace
    (empty, or starting before the token before it). Tokens never hold a space (pieces are split
    at spaces): no edge to strip."""
    import numpy as np

    n = len(starts)
    o_s, o_e = n_starts[starts], n_ends[ends - 1]  # (n,) original span of each token
    if n == 0 or (ends <= starts).any() or (o_e <= o_s).any() or (o_s[1:] < o_s[:-1]).any():
        return None
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(words[1:], words[:-1], out=first[1:])
    return o_s, o_e, first


# The lists of an article built by TokenizedArticle._from_arrays, from its arrays (`_derived`).
_LAZY_LISTS: dict[str, Any] = {
    "input_ids": lambda d: d["ids"].tolist(),
    "word_ids": lambda d: d["words"].tolist(),
    "first": lambda d: d["first"].tolist(),
    "word_of": lambda d: (d["first"].cumsum() - 1).tolist(),
    "lexical": lambda d: d["lexical"].tolist() if "lexical" in d else None,
}
# `lexical` keeps its default in __init__ (None), but not as a class attribute, which would
# answer for an article whose rows are still to be made (__getattr__ is only asked when neither
# the instance nor the class has the name)
del TokenizedArticle.lexical


class ArticleEncoder:
    """Turn an :class:`Article` into window features for :func:`collate`.

    ``max_length`` counts ``[CLS]`` and ``[SEP]``; ``overlap`` is in tokens.
    """

    def __init__(self, tokenizer: Any, max_length: int = 512, overlap: int = 64,
                 entity_labels: Sequence[str] = ENTITY_LABELS, quote_types: Sequence[str] = QUOTE_TYPES,
                 attribution_candidates: str = "sources", lexical_features: Any = None):
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError("ArticleEncoder needs a fast tokenizer (offset mapping); load it with use_fast=True")
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.overlap = int(overlap)
        self.size = self.max_length - 2
        self.entity_labels = list(entity_labels)
        self.quote_types = list(quote_types)
        self.entity_tags = {t: i for i, t in enumerate(entity_scheme(self.entity_labels))}
        self.quote_tags = {t: i for i, t in enumerate(quote_scheme(self.quote_types))}
        self.attribution_candidates = attribution_candidates
        from khabar.model.lexical import lexical_spec, shared_hasher

        spec = lexical_spec(lexical_features)
        self.lexical = shared_hasher(spec) if spec else None

    @classmethod
    def from_config(cls, tokenizer: Any, config: Any) -> "ArticleEncoder":
        return cls(tokenizer, config.max_length, config.window_overlap, config.entity_labels, config.quote_types,
                   config.attribution_candidates, getattr(config, "lexical_features", None))

    # -- tokens -------------------------------------------------------------------------------

    def tokenize(self, text: str) -> TokenizedArticle:
        return self._tokenize(text, self._chunk_memo())

    def tokenize_many(self, texts: Iterable[str]) -> list[TokenizedArticle]:
        """``[self.tokenize(t) for t in texts]``, the chunks (see :meth:`_from_chunks`) that
        none of them has been seen in learnt together first: one normalisation, tokenizer call and
        lexical hashing for the lot instead of one each, whose fixed costs dominate an article
        of mostly known chunks (64 never-seen ANT articles: 68-73 -> 47 ms). The memo is looked
        up once for the group (:func:`plain_twin`'s check of the tokenizer: ~15 us an article)."""
        texts = list(texts)  # read twice (learning, then tokenising): an iterator must not be used up
        memo = self._chunk_memo()
        if memo is not None:
            self._learn_texts(texts, *memo)
        return [self._tokenize(t, memo) for t in texts]

    def _tokenize(self, text: str, memo: tuple[Any, dict[str, bytes]] | None) -> TokenizedArticle:
        """:meth:`tokenize` with :meth:`_chunk_memo`'s answer at hand."""
        tok = self._from_chunks(text, *memo) if memo is not None else None
        if tok is not None:
            return tok
        n_text, n_starts, n_ends = normalise_arrays(text)
        encoded = self._encode_arrays(n_text)
        if encoded is not None:
            tok = self._tokenize_arrays(text, n_starts, n_ends, *encoded)
            if tok is not None:
                return tok
        return self._tokenize_lists(text, Normalised(n_text, n_starts.tolist(), text, n_ends.tolist()))

    def _chunk_memo(self) -> tuple[Any, dict[str, bytes]] | None:
        """The tokenizer's :class:`PlainTwin` and its memo of chunks for this encoder's lexical
        tables (see :meth:`_from_chunks`); ``None`` where the chunk memo does not apply (the
        tokenizer called through the ``transformers`` wrapper, no twin, an added token holding a
        space)."""
        if self._direct_backend() is None:
            return None
        from khabar.model.plain_tokenizer import plain_twin

        twin = plain_twin(self.tokenizer)
        if twin is None or twin.joins_words:
            return None
        return twin, twin.memos.setdefault(("chunks", self.lexical.layout if self.lexical is not None else None), {})

    def _learn_texts(self, texts: Sequence[str], twin: Any, memo: dict[str, bytes]) -> None:
        """Learn the chunks of ``texts`` not in ``memo``, at once (nothing where a text may not be
        read by chunks, the memo has no room for them, or learning declines: each article then
        goes its own way in :meth:`tokenize`)."""
        from khabar.model.plain_tokenizer import MAX_MEMO

        missing = list(dict.fromkeys(c for t in texts if not may_act_across_whitespace(t) for c in t.split()
                                     if c not in memo))
        if missing and len(memo) + len(missing) <= MAX_MEMO:
            self._learn_chunks(twin, memo, missing)

    def _from_chunks(self, text: str, twin: Any, memo: dict[str, bytes]) -> TokenizedArticle | None:
        """:meth:`tokenize` from what each whitespace-separated chunk of the ORIGINAL text gave
        before (kept with the tokenizer's :class:`PlainTwin`): its tokens' ids, spans relative to
        the chunk, first sub-word flags and lexical rows, as one bytes row per token. Normalisation
        never acts across whitespace (without an HTML tag, the one thing it drops whole that may
        hold a space: no ``<``, nor ``&lt;`` or another entity of it) and neither does the
        tokenizer on normalised text (without an added token that holds a space), so an article
        is a look-up per chunk and a few array steps: no normalisation, tokenizer call or lexical
        hashing for a chunk seen before. New chunks
        are learnt all at once through :meth:`_tokenize_arrays`' steps. ``None`` where this does
        not apply (or the text has no token): :meth:`tokenize` then goes the long way."""
        import numpy as np

        if may_act_across_whitespace(text):
            return None
        lexical = self.lexical
        chunks = text.split()
        rows = list(map(memo.get, chunks))
        if None in rows:
            new = self._learn_chunks(twin, memo, list(dict.fromkeys(c for c, r in zip(chunks, rows) if r is None)))
            if new is None:
                return None
            rows = [new[c] if r is None else r for c, r in zip(chunks, rows)]
        blob = b"".join(rows)
        if not blob:
            return None
        width = 4 + (lexical.width if lexical is not None else 0)  # id, start, end, first, lexical rows
        table = np.frombuffer(blob, dtype=np.int32).reshape(-1, width).astype(np.int64)  # (n, width)
        # each chunk's start: a non-space character after a space (str.split's whitespace: isspace)
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (len(text),)
        space = _SPACE_TABLE[np.minimum(codes, _SPACE_TABLE.size - 1)]
        opens = ~space
        opens[1:] &= space[:-1]
        starts = np.flatnonzero(opens)  # (n_chunks,)
        if len(starts) != len(chunks):  # never (the same whitespace), but no silent misplacement
            return None
        # (n,) each token's chunk start: its chunk repeated once per token of the chunk
        base = np.repeat(starts, np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)) // (4 * width))
        first = table[:, 3].astype(bool)
        tok = self._article(text, np.ascontiguousarray(table[:, 0]), table[:, 1] + base, table[:, 2] + base,
                            np.cumsum(first) - 1, first)
        if lexical is not None:
            tok._token_lexical(np.ascontiguousarray(table[:, 4:]))
        return tok

    def _learn_chunks(self, twin: Any, memo: dict[str, bytes], chunks: list[str]) -> dict[str, bytes] | None:
        """:meth:`_from_chunks`' rows of distinct new ``chunks``, from one pass of
        :meth:`tokenize`'s steps over them joined by spaces, the tokens from ``twin``'s words
        (kept in ``memo`` while there is room); ``None`` where those steps decline, or a token is
        not inside one chunk."""
        import numpy as np

        from khabar.model.plain_tokenizer import MAX_MEMO

        joined = " ".join(chunks)
        n_text, n_starts, n_ends = normalise_arrays(joined)
        if not n_text:  # nothing kept of any chunk (emoji, marks alone ...): no token
            return {c: b"" for c in chunks}
        encoded = twin.encode_arrays(n_text)
        if encoded is None:
            return None
        ids, starts, ends, words = encoded
        spans = _token_spans(n_starts, n_ends, starts, ends, words)
        if spans is None:
            return None
        o_s, o_e, first = spans  # (n,) each token's span in `joined`, first sub-words
        n = len(ids)
        lengths = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
        c_start = np.cumsum(lengths + 1) - lengths - 1  # (n_chunks,) each chunk's start in `joined`
        chunk = np.searchsorted(c_start, o_s, side="right") - 1  # (n,) each token's chunk
        c_first = np.ones(n, dtype=bool)
        np.not_equal(chunk[1:], chunk[:-1], out=c_first[1:])
        if (o_e > (c_start + lengths)[chunk]).any() or not first[c_first].all():
            return None
        columns = [ids, o_s - c_start[chunk], o_e - c_start[chunk], first]
        if self.lexical is not None:
            w0 = np.flatnonzero(first)  # (n_words,) each word's first token
            cs, ce = o_s[w0].tolist(), np.maximum.reduceat(o_e, w0).tolist()
            _, rows = self.lexical.word_rows([joined[a:b] for a, b in zip(cs, ce)])
            if len(rows) != 8 * self.lexical.width * len(w0):
                return None  # ragged rows: the long way says so
            per_word = np.frombuffer(rows, dtype=np.int64).reshape(len(w0), self.lexical.width)
            columns.append(per_word[np.cumsum(first) - 1])  # (n, n_attrs)
        blob = np.column_stack(columns).astype(np.int32).tobytes()  # (n, width) rows
        size = len(blob) // n
        bounds = (np.searchsorted(chunk, np.arange(len(chunks) + 1)) * size).tolist()
        new = {c: blob[a:b] for c, a, b in zip(chunks, bounds, bounds[1:])}
        if len(memo) + len(new) <= MAX_MEMO:  # news vocabularies repeat; bounded for streaming corpora
            memo.update(new)
        return new

    def _encode_arrays(self, text: str) -> tuple[Any, Any, Any, Any] | None:
        """:meth:`_encode` of normalised text as ``(n,)`` int64 arrays: ids, offset starts and ends,
        word ids (from :mod:`khabar.model.plain_tokenizer`'s twin where it applies); ``None`` where
        it goes through the ``transformers`` wrapper or a token has no word id."""
        import numpy as np

        backend = self._direct_backend()
        if backend is None:
            return None
        from khabar.model.plain_tokenizer import plain_twin

        twin = plain_twin(self.tokenizer)  # the same tokens for less work, on normalised text
        if twin is not None and text:
            arrays = twin.encode_arrays(text)  # each word's tokens remembered: no Rust call, no lists
            if arrays is not None:
                return arrays
        e = twin.encode(text) if twin is not None else None
        if e is None:
            e = backend.encode(text, add_special_tokens=False)
        word_ids = e.word_ids
        if None in word_ids:
            return None
        n = len(word_ids)
        # the offsets' pairs flattened by one C-level iterator: numpy parses a list of tuples ~5x slower
        offsets = np.fromiter(itertools.chain.from_iterable(e.offsets), dtype=np.int64, count=2 * n).reshape(n, 2)
        return (np.array(e.ids, dtype=np.int64), offsets[:, 0], offsets[:, 1],
                np.array(word_ids, dtype=np.int64))

    def _tokenize_arrays(self, text: str, n_starts: Any, n_ends: Any, ids: Any, starts: Any, ends: Any,
                         words: Any) -> TokenizedArticle | None:
        """:meth:`_tokenize_lists` on arrays (the normalised text's offsets, the tokens' ids,
        offsets and word ids): every token's original span, first sub-words, sentences and the
        words at once instead of a Python step per token. ``None`` for a text it does not cover
        (no tokens; a token that would be dropped): :meth:`_tokenize_lists` then does it."""
        spans = _token_spans(n_starts, n_ends, starts, ends, words)
        if spans is None:
            return None
        o_s, o_e, first = spans
        tok = self._article(text, ids, o_s, o_e, words, first)
        if self.lexical is not None:
            per_word, rows = self.lexical.word_rows([text[cs:ce] for _, _, cs, ce in tok.words])
            tok.lexical = [per_word[w] for w in tok.word_of]
            tok._word_lexical(per_word, rows)
        return tok

    def _article(self, text: str, ids: Any, o_s: Any, o_e: Any, words: Any, first: Any) -> TokenizedArticle:
        """The article of ``n > 0`` tokens given as ``(n,)`` arrays (ids, original spans, word
        ids, first sub-word flags), with its sentences and windows (no lexical rows)."""
        import numpy as np

        n = len(ids)
        sentences = split_sentences(text)
        if sentences:  # each token's sentence: the last one starting at or before it (0 before the first)
            sentence = np.searchsorted(np.array([a for a, _ in sentences], dtype=np.int64), o_s, side="right") - 1
            np.maximum(sentence, 0, out=sentence)
        else:
            sentence = np.zeros(n, dtype=np.int64)
        # never cut inside a word at a sentence boundary (the splitter and the tokenizer disagree rarely)
        boundaries = (np.flatnonzero((sentence[1:] != sentence[:-1]) & first[1:]) + 1).tolist()
        windows = make_windows(n, boundaries, self.size, self.overlap)
        return TokenizedArticle._from_arrays(text, ids, o_s, o_e, words, first, sentence, windows)

    def _tokenize_lists(self, text: str, norm: Normalised) -> TokenizedArticle:
        """:meth:`tokenize` one token at a time from the tokenizer's lists (the definition; any text)."""
        ids, offsets, word_ids = self._encode(norm.text)
        spans: list[tuple[int, int]] = []
        keep: list[int] = []
        # Normalised.to_original inlined for a token with no space at its edges (the pre-tokenizer
        # splits at spaces: nearly every token); the method itself for any other
        n_text, n_starts, n_ends = norm.text, norm.offsets, norm.ends
        for i, (s, e) in enumerate(offsets):
            if e <= s:  # a token standing for no character cannot be placed in the text
                continue
            o = (n_starts[s], n_ends[e - 1]) if n_text[s] != " " and n_text[e - 1] != " " else norm.to_original(s, e)
            if o[1] <= o[0]:
                continue
            spans.append(o)
            keep.append(i)
        if len(keep) < len(ids):
            ids = [ids[i] for i in keep]
            words = [word_ids[i] if word_ids[i] is not None else -1 - i for i in keep]
        else:  # every token kept (the usual case): no re-indexing
            words = [w if w is not None else -1 - i for i, w in enumerate(word_ids)] if None in word_ids else list(word_ids)
        first = [True] + [a != b for a, b in zip(words, words[1:])] if words else []
        sentences = split_sentences(text)
        sentence = _sentence_of(spans, sentences)
        boundaries = [t for t in range(1, len(ids)) if sentence[t] != sentence[t - 1]]
        # never cut inside a word at a sentence boundary (the splitter and the tokenizer disagree rarely)
        boundaries = [t for t in boundaries if first[t]]
        windows = make_windows(len(ids), boundaries, self.size, self.overlap)
        tok = TokenizedArticle(text, ids, spans, words, first, sentence, windows)
        if self.lexical is not None:
            per_word = self.lexical.words([text[cs:ce] for _, _, cs, ce in tok.words])
            tok.lexical = [per_word[w] for w in tok.word_of]
        return tok

    def _encode(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[int | None]]:
        """Token ids, offsets and word ids of ``text`` (no special tokens): from
        :meth:`_direct_backend` where it gives one, else through the ``transformers`` wrapper."""
        backend = self._direct_backend()
        if backend is not None:
            e = backend.encode(text, add_special_tokens=False)
            return e.ids, e.offsets, e.word_ids
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids = enc["input_ids"]
        return ids, enc["offset_mapping"], enc.word_ids() if hasattr(enc, "word_ids") else list(range(len(ids)))

    def _direct_backend(self) -> Any:
        """The Rust tokenizer, where calling it directly is what the ``transformers`` call would do
        (no truncation or padding configured on it, special tokens split as the wrapper says);
        ``None`` for any other configuration. The wrapper's per-call work (configuration, batch
        conversion) cost about as much as a short article's tokenization."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if (backend is not None and backend.truncation is None and backend.padding is None
                and backend.encode_special_tokens == bool(getattr(self.tokenizer, "split_special_tokens", False))):
            return backend
        return None

    # -- labels -------------------------------------------------------------------------------

    def _bio(self, tok: TokenizedArticle, spans: list[tuple[int, int, str]], tags: dict[str, int]) -> list[int]:
        """Word-level BIO ids for ``(start, end, label)`` char spans; earlier spans win overlaps."""
        labels = [tags["O"] if f else IGNORE for f in tok.first]
        taken = [False] * len(tok)
        for start, end, label in spans:
            words = [tok.words[i][0] for i in tok.words_in(start, end)]
            if not words or any(taken[t] for t in words):
                continue
            for k, t in enumerate(words):
                labels[t] = tags[f"{'B' if k == 0 else 'I'}-{label}"] if label else (1 if k == 0 else 2)
                taken[t] = True
        return labels

    def labels(self, article: Article, tok: TokenizedArticle) -> dict[str, list[int]]:
        n = len(tok)
        none = [IGNORE] * n
        out: dict[str, list[int]] = {}
        if article.entities is None:
            out["entity_labels"] = none
        else:
            ents = sorted(article.entities, key=lambda e: (e.start, -e.end))
            out["entity_labels"] = self._bio(tok, [(e.start, e.end, e.label) for e in ents if e.label in self.entity_labels], self.entity_tags)
        if article.quotes is None:
            out["quote_labels"] = out["cue_labels"] = out["source_labels"] = none
            return out
        # Longest first so an outer quotation wins over the one nested in it.
        qs = sorted(article.quotes, key=lambda q: -(q.end - q.start))
        out["quote_labels"] = self._bio(tok, [(q.start, q.end, q.type) for q in qs], self.quote_tags)
        cues = sorted({(q.cue.start, q.cue.end) for q in article.quotes if q.cue})
        out["cue_labels"] = self._bio(tok, [(s, e, "") for s, e in cues], {"O": 0})
        srcs = sorted({(q.speaker.start, q.speaker.end) for q in article.quotes if q.speaker})
        out["source_labels"] = self._bio(tok, [(s, e, "") for s, e in srcs], {"O": 0})
        return out

    # -- windows ------------------------------------------------------------------------------

    def encode(self, article: Article, with_labels: bool = True) -> list[dict[str, Any]]:
        """One feature dict per window (see the module docstring); ``[]`` for an article with no tokens."""
        tok = self.tokenize(article.text)
        if not len(tok):
            return []
        labels = self.labels(article, tok) if with_labels else {}
        attribution = self.attribution_targets(article, tok) if with_labels and article.quotes is not None else None
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        key = f"{article.id}#{next(_keys)}"
        feats = []
        for w, (s, e) in enumerate(tok.windows):
            f: dict[str, Any] = {
                "input_ids": [cls_id] + tok.input_ids[s:e] + [sep_id],
                "attention_mask": [1] * (e - s + 2),
                "article_key": key,
                "window_index": w,
                "num_windows": len(tok.windows),
                "window_span": (s, e),
            }
            if tok.lexical is not None:
                none = [0] * self.lexical.width
                f["lexical_ids"] = [none] + tok.lexical[s:e] + [none]
            for name, ids in labels.items():
                f[name] = [IGNORE] + ids[s:e] + [IGNORE]
            if attribution is not None:
                f["attribution"] = attribution
            feats.append(f)
        return feats

    def attribution_targets(self, article: Article, tok: TokenizedArticle) -> dict[str, Any]:
        """Gold quotations and candidate mentions as token ranges of the whole article.

        Candidates (teacher forcing): every gold speaker span, plus the annotated PER/ORG entities
        with ``attribution_candidates="sources+entities"``. A quotation's correct candidates are all mentions of its speaker's source;
        ``exact`` is the index of its own speaker mention (-1: none), for the auxiliary loss that
        prefers the mention the annotators chose (the one in the quotation's own sentence).
        """
        from khabar.model.canonical import same_source_mention

        mentions: list[tuple[int, int]] = []
        seen = set()
        spans = [(q.speaker.start, q.speaker.end) for q in article.quotes or [] if q.speaker]
        if self.attribution_candidates == "sources+entities":
            spans += [(e.start, e.end) for e in article.entities or [] if e.label in ("PER", "ORG")]
        for s, e in spans:
            r = char_to_tokens(tok, s, e)
            if r is not None and r not in seen:
                seen.add(r)
                mentions.append(r)
        mention_text = [tok.text[tok.spans[s][0] : tok.spans[e - 1][1]] for s, e in mentions]
        quotes, targets, exact = [], [], []
        for q in article.quotes or []:
            content = char_to_tokens(tok, q.start, q.end)
            if content is None:
                continue
            cue = char_to_tokens(tok, q.cue.start, q.cue.end) if q.cue else None
            quotes.append((content[0], content[1], *(cue or (-1, -1))))
            gold: list[int] = []
            own = -1
            if q.speaker:
                sp = char_to_tokens(tok, q.speaker.start, q.speaker.end)
                name = q.speaker_name or tok.text[q.speaker.start : q.speaker.end]
                gold = [i for i, (m, txt) in enumerate(zip(mentions, mention_text)) if m == sp or same_source_mention(txt, name)]
                own = mentions.index(sp) if sp in mentions else -1
            targets.append(gold)
            exact.append(own)
        return {"quotes": quotes, "mentions": mentions, "targets": targets, "exact": exact, "sentence": tok.sentence}


def char_to_tokens(tok: TokenizedArticle, start: int, end: int) -> tuple[int, int] | None:
    """Token range ``[s, e)`` of the tokens overlapping original chars ``[start, end)``, whole words."""
    hit = tok.words_in(start, end)
    if not hit:
        return None
    return tok.words[hit[0]][0], tok.words[hit[-1]][1]


def _sentence_of(spans: list[tuple[int, int]], sentences: list[tuple[int, int]]) -> list[int]:
    out, k = [], 0
    for s, _ in spans:
        while k + 1 < len(sentences) and sentences[k + 1][0] <= s:
            k += 1
        out.append(k)
    return out


# The collator lives in its own module; it is part of this one's interface (docs/architecture.md).
from khabar.model.collate import LABEL_KEYS, attribution_batch, collate  # noqa: E402

__all__ = ["IGNORE", "BIO", "ArticleEncoder", "TokenizedArticle", "char_to_tokens", "collate",
           "attribution_batch", "LABEL_KEYS", "entity_scheme", "quote_scheme"]
