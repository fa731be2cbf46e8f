"""A BERT tokenizer's cheaper twin for text that is already normalised by khabar.

The model reads :func:`khabar.data.normalise.normalise` output: words and marks separated by
single spaces, every punctuation mark or symbol with a space on each side, no control or format
character, no other whitespace. On such text the BERT normaliser (``clean_text``: drops control
characters, maps whitespace to a space) changes nothing and the BERT pre-tokenizer (splits at
whitespace, then around punctuation) splits exactly at the spaces, so a copy of the tokenizer
without the normaliser and with a plain whitespace split gives the same ids, offsets and word ids
for less work (64 ANT articles: 26 -> 17 ms of the Rust call; the alignment bookkeeping of a
normaliser is most of the saving).

That holds for a text character by character, so each distinct character is checked once per
process against the original tokenizer itself (not against Python's Unicode tables, which may be
of another Unicode version than Rust's): the normaliser must leave it as it is, and the
pre-tokenizer must either not split at it, or keep it as a piece of its own that normalisation
always puts between spaces (a mark). A text holding any other character is tokenised by the
original tokenizer (:func:`plain_twin` callers fall back).

:meth:`PlainTwin.encode_arrays` goes one step further: on such text WordPiece sees each
space-separated word on its own, so a word's tokens (ids, and character lengths that tile the
word) are the same wherever it occurs. They are remembered per word, learnt from the twin's own
output, and an article becomes a dictionary look-up per word (64 ANT articles, warm: 18 -> 3 ms
for the Rust call and reading its lists). A text holding an added token's content (``[CLS]``
...), which the tokenizer matches before splitting at spaces, goes through :meth:`encode`.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np

# what khabar.data.normalise always surrounds with spaces (its stage-3 marks)
from khabar.data.normalise import _MARK_RE


class PlainTwin:
    """``encode(text)`` for normalised text, as ``backend.encode(text, add_special_tokens=False)``
    gives it, or ``None`` when the text holds a character the twin is not known to agree on."""

    def __init__(self, backend: Any):
        from tokenizers import Tokenizer, pre_tokenizers

        self.backend = backend
        self.twin = Tokenizer.from_str(backend.to_str())
        self.twin.normalizer = None
        self.twin.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        self.safe: set[str] = {" "}
        self.unsafe: set[str] = set()
        self._unknown = _not_in(self.safe)  # finds a character not yet known to be safe
        # word -> its tokens as int32 rows (id, length in characters, 1 on the word's first token)
        self._words: dict[str, bytes] = {}
        contents = [t.content for t in backend.get_added_tokens_decoder().values() if t.content]
        # the added tokens are matched in the whole text before the split at spaces: a text that
        # holds one is not a sequence of independent words
        self._added = re.compile("|".join(map(re.escape, contents))) if contents else None
        # whether an added token can span a space, i.e. two words: then text cut at its spaces and
        # tokenised piece by piece is not the text tokenised (ArticleEncoder's chunk memo)
        self.joins_words = any(" " in c for c in contents)
        self.memos: dict[Any, dict[str, bytes]] = {}  # callers' memos that hold this twin's tokens

    def __getstate__(self) -> dict[str, Any]:
        # what it remembers is a cache, tens of MB on a long stream: a copy (copy.deepcopy of a
        # used tokenizer, any serialiser) starts without it
        return {**self.__dict__, "_words": {}, "memos": {}}

    def encode(self, text: str) -> Any:
        if not self._known(text):
            return None
        self.twin.encode_special_tokens = self.backend.encode_special_tokens
        return self.twin.encode(text, add_special_tokens=False)

    def encode_arrays(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """:meth:`encode` of a non-empty normalised text as ``(n,)`` int64 arrays: ids, offset
        starts and ends, word ids, from each word's remembered tokens; ``None`` where the words
        are not independent (an added token's content, an empty word: a space at an edge or two
        in a row) or :meth:`encode` declines."""
        words = text.split(" ")
        if "" in words or (self._added is not None and self._added.search(text)) or not self._known(text):
            return None
        get = self._words.get
        rows = list(map(get, words))
        if None in rows:
            new = self._learn(list(dict.fromkeys(w for w, r in zip(words, rows) if r is None)))
            if new is None:
                return None
            rows = [r or new[w] for w, r in zip(words, rows)]
        ids, lengths, first = np.frombuffer(b"".join(rows), dtype=np.int32).reshape(-1, 3).T.astype(np.int64)  # (n,)
        word_ids = np.cumsum(first) - 1
        ends = np.cumsum(lengths)
        ends += word_ids  # one space before every word but the first
        return ids, ends - lengths, ends, word_ids

    def _learn(self, words: list[str]) -> dict[str, bytes] | None:
        """The token rows of distinct new ``words`` (kept for later while there is room), from
        one twin call over them; ``None`` unless each word's tokens tile it exactly (every
        character in one token, in order), which is what :meth:`encode_arrays` rebuilds."""
        joined = " ".join(words)
        if self._added is not None and self._added.search(joined):  # two words may spell one
            return None
        e = self.encode(joined)
        if e is None or None in e.word_ids:
            return None
        n = len(e.ids)
        word = np.array(e.word_ids, dtype=np.int64)  # (n,)
        # the pairs flattened by one C-level iterator: numpy parses a list of tuples ~5x slower
        offsets = np.fromiter(itertools.chain.from_iterable(e.offsets), dtype=np.int64, count=2 * n).reshape(n, 2)
        first = np.ones(n, dtype=bool)
        np.not_equal(word[1:], word[:-1], out=first[1:])
        heads = np.flatnonzero(first)  # (n_words,) each word's first token
        if n == 0 or len(heads) != len(words) or (word[heads] != np.arange(len(words))).any():
            return None
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        w_end = np.cumsum(lengths + 1) - 1  # (n_words,) each word's end in the joined text
        before = np.empty(n, dtype=np.int64)  # where each token must start: its word's start, or
        before[1:] = offsets[:-1, 1]  # the previous token's end
        before[heads] = w_end - lengths
        last = np.append(heads[1:] - 1, n - 1)  # each word's last token
        if (offsets[:, 0] != before).any() or (offsets[last, 1] != w_end).any() or (offsets[:, 1] <= offsets[:, 0]).any():
            return None
        table = np.stack([np.array(e.ids, dtype=np.int64), offsets[:, 1] - offsets[:, 0], first], axis=1)
        blob = table.astype(np.int32).tobytes()  # (n, 3) rows
        bounds = (np.append(heads, n) * 12).tolist()
        new = {w: blob[a:b] for w, a, b in zip(words, bounds, bounds[1:])}
        if len(self._words) + len(new) <= _MAX_WORDS:  # news vocabularies repeat; bounded for streaming corpora
            self._words.update(new)
        return new

    def _known(self, text: str) -> bool:
        """Whether every character of ``text`` is one the twin agrees on (checking new ones)."""
        # one regex scan over the text (C-level; set(text) cost ~5x more), a check per new character
        new = self._unknown.findall(text)
        if new:
            ok = all([self._check(c) for c in set(new)])
            self._unknown = _not_in(self.safe)
            if not ok:
                return False
        return True

    def _check(self, c: str) -> bool:
        if c in self.unsafe:
            return False
        normalizer, pre = self.backend.normalizer, self.backend.pre_tokenizer
        kept = normalizer is None or normalizer.normalize_str(c) == c
        pieces = [p for p, _ in pre.pre_tokenize_str(f"a{c}a")]
        ok = kept and (pieces == [f"a{c}a"] or (pieces == ["a", c, "a"] and _MARK_RE.fullmatch(c) is not None))
        (self.safe if ok else self.unsafe).add(c)
        return ok


# Bounds on what a twin remembers (measured on ANT news: ~160 bytes a word; ~300 bytes a chunk
# of ArticleEncoder's memo with its lexical rows): ~30 and ~60 MB at most.
_MAX_WORDS = 200_000  # words
MAX_MEMO = 200_000  # entries of each memo in PlainTwin.memos


def _not_in(chars: set[str]) -> "re.Pattern[str]":
    return re.compile("[^" + "".join(re.escape(c) for c in sorted(chars)) + "]")


def supported(backend: Any) -> bool:
    """Whether the twin is known to agree with ``backend`` on normalised text: the BERT
    normaliser with none of its rewrites besides ``clean_text`` (or no normaliser), and the BERT
    pre-tokenizer. Anything else keeps the original tokenizer."""
    n = backend.normalizer
    if n is not None and not (type(n).__name__ == "BertNormalizer" and not n.lowercase and not n.strip_accents
                              and not n.handle_chinese_chars):
        return False
    return type(backend.pre_tokenizer).__name__ == "BertPreTokenizer"


def plain_twin(tokenizer: Any) -> PlainTwin | None:
    """The tokenizer's :class:`PlainTwin`, kept on the tokenizer object so that it outlives each
    ``predict`` call; rebuilt when the backend, its vocabulary size, its normaliser, its
    pre-tokenizer or its added tokens change (not its model's settings, e.g. a vocabulary swapped
    for one of the same size: rebuild the tokenizer for that); ``None`` where :func:`supported`
    says no."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    # The backend is the same object after `backend.normalizer = ...` or `add_tokens([...])` of a
    # word the vocabulary has (the size stays), and copy.deepcopy of a used tokenizer copies this
    # memo along, so the twin is also keyed by what it copied: the reprs spell out every option of
    # the normaliser, the pre-tokenizer and each added token (~4 us per call with BERT's five).
    key = (backend.get_vocab_size(with_added_tokens=True), repr(backend.normalizer), repr(backend.pre_tokenizer),
           repr(backend.get_added_tokens_decoder()))
    memo = tokenizer.__dict__.get("_khabar_plain_twin")
    if memo is None or memo[0] is not backend or memo[1] != key:
        memo = (backend, key, PlainTwin(backend) if supported(backend) else None)
        tokenizer.__dict__["_khabar_plain_twin"] = memo
    return memo[2]

