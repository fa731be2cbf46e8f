"""The article as the rules see it: a matching key with an offset map, tokens, sentences.

Rules match on a *key*: the text with diacritics and tatweel deleted (``مؤكدَا`` -> ``مؤكدا``,
``لـ`` -> ``ل``) and the letter variants that writers mix folded one-to-one (``أإآٱ`` -> ``ا``,
``ى`` -> ``ي``, ``ة`` -> ``ه``). Everything else is kept character for character: line breaks
(paragraphs matter for unbalanced quotation marks), punctuation and every quotation mark. So
the key is never longer than the text and ``offsets`` maps each key character back.

``khabar.data.normalise`` is not used for the key on purpose: it collapses line breaks and drops
URLs, and the rules need both the paragraph structure and one key character per kept character.
Sentences come from ``khabar.data.sentences.split_sentences`` on the original text.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate, chain, compress, count, repeat
from operator import sub
from dataclasses import dataclass, field

from khabar.data.sentences import split_sentences

# Harakat, tanwin, shadda, sukun, the extended marks, superscript alef, Quranic marks, tatweel and
# the invisible direction marks that news sites leave inside words.
_DELETE_RE = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]+")
_DELETE_SPLIT_RE = re.compile(f"({_DELETE_RE.pattern})")  # [kept, deleted, kept, ..., kept]
_MARKS_RE = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]+")
# _MARKS_RE's characters as a set (to_original tests the character after a span without a regex
# call), read off the regex instead of a second spelling of its ranges (which lie in the Arabic block)
_MARK_CHARS = frozenset(c for c in map(chr, range(0x0600, 0x0700)) if _MARKS_RE.match(c))
# Letter folding as (from, to) pairs: chained replacements for a whole article (str.translate with
# a dict looks every character up: 7 ms on a 20,000-word article, 0.2 ms this way), the table for
# single words. One-to-one, and no target is a source, so the order does not matter.
_FOLD_PAIRS = (("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ٱ", "ا"), ("ى", "ي"), ("ة", "ه"))
_FOLD = str.maketrans(dict(_FOLD_PAIRS))

# A word (Arabic or Latin letters, digits, ``_`` of hashtags, with a leading ``#``), an ellipsis,
# or one other non-space character.
_TOKEN_RE = re.compile(r"#?\w+|\.{2,}|…|[^\w\s]")
# The same tokens, each with the whitespace before it (so that the items' cumulative lengths are
# the tokens' ends), written the way the regex engine runs fastest: the most frequent alternative
# first, possessive repeats, and no failed match at each space (findall with the leading \s*+ is
# twice as fast as re.split on the tokens). "…" and a lone "." are one-character [^\w\s] tokens
# either way, and "#" with no word after it is the token "#" either way;
# tests/test_bootstrap_fast.py checks both give the same tokens.
_TOKEN_FIND_RE = re.compile(r"\s*+(?:\w++|\.++|#\w*+|[^\w\s])")

QUOTE_CHARS = frozenset('"«»“”„')
SENTENCE_END = frozenset(".!?؟")


def fold(word: str) -> str:
    """The key form of a word or phrase (what lexicon entries are compared with)."""
    return _DELETE_RE.sub("", word).translate(_FOLD)


@dataclass(slots=True)  # a long article has tens of thousands: no per-token __dict__
class Token:
    text: str  # key form
    start: int  # key offsets
    end: int
    is_word: bool
    sentence: int = 0
    paragraph: int = 0


class OffsetMap:
    """Key index -> original index, stored per run of kept characters rather than one int per
    character (a 20,000-word article's list took 4 MB). Indexes like the list it replaces."""

    __slots__ = ("key_starts", "orig_starts", "size")

    def __init__(self) -> None:
        self.key_starts: list[int] = []  # where each run of kept characters starts in the key
        self.orig_starts: list[int] = []  # and in the original
        self.size = 0

    def add_run(self, orig_start: int, orig_end: int) -> None:
        """Original characters ``[orig_start, orig_end)`` are kept (runs come in text order)."""
        if orig_end > orig_start:
            self.key_starts.append(self.size)
            self.orig_starts.append(orig_start)
            self.size += orig_end - orig_start

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> int:
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError("key index out of range")
        j = bisect_right(self.key_starts, i) - 1
        return self.orig_starts[j] + i - self.key_starts[j]

    def first_at_or_after(self, index: int) -> int:
        """``bisect_left(list(self), index)``: the first key index whose original index is at or
        after ``index``."""
        j = bisect_right(self.orig_starts, index) - 1
        if j < 0:
            return 0
        run_end = self.key_starts[j + 1] if j + 1 < len(self.key_starts) else self.size
        return min(self.key_starts[j] + index - self.orig_starts[j], run_end)


@dataclass
class KeyText:
    """An article's key, its offset map and its tokens (see the module docstring)."""

    original: str
    key: str
    offsets: OffsetMap  # key index -> original index
    plain: str = ""  # the key before letter folding (tells على from the name علي)
    sentences: list[tuple[int, int]] = field(default_factory=list)  # token index ranges [a, b)
    # The tokens, field by field: token i is Token(texts[i], starts[i], ends[i], is_word[i],
    # sentence_of[i], paragraphs[i]). The rules read these lists; the Token objects (a Python
    # __init__ call each, a tenth of the bootstrapper's time) are made only if ``tokens`` is read.
    # words_before[i] = word tokens in [0, i) (so a span's word count is a subtraction).
    texts: list[str] = field(default_factory=list, repr=False)
    starts: list[int] = field(default_factory=list, repr=False)
    ends: list[int] = field(default_factory=list, repr=False)
    is_word: list[bool] = field(default_factory=list, repr=False)
    sentence_of: list[int] = field(default_factory=list, repr=False)
    paragraphs: list[int] = field(default_factory=list, repr=False)
    words_before: list[int] = field(default_factory=lambda: [0], repr=False, compare=False)
    _tokens: list[Token] | None = field(default=None, repr=False, compare=False)
    _bare: list[str] | None = field(default=None, repr=False, compare=False)
    # see narrow(): the sets indexes_of answers from _hits, and the indexes of their tokens
    _narrowed: tuple = field(default=(), repr=False, compare=False)
    _hits: list[int] = field(default_factory=list, repr=False, compare=False)
    _para_bounds: list[int] = field(default_factory=list, repr=False, compare=False)
    # nothing was deleted: key index == original index (offsets is the identity)
    _same_indexes: bool = field(default=False, repr=False, compare=False)

    @property
    def tokens(self) -> list[Token]:
        if self._tokens is None:
            self._tokens = list(map(Token, self.texts, self.starts, self.ends, self.is_word, self.sentence_of, self.paragraphs))
        return self._tokens

    @classmethod
    def build(cls, text: str) -> "KeyText":
        # One C-level split into the kept pieces and the deleted runs between them, and cumulative
        # lengths for the offsets (a match object per deleted run cost as much as the tokens).
        parts = _DELETE_SPLIT_RE.split(text)
        kept = parts[0::2]
        kept_lengths = list(map(len, kept))
        offsets = OffsetMap()
        offsets.orig_starts = [0] + list(accumulate(map(len, parts)))[1::2]  # where each kept piece starts
        offsets.key_starts = list(accumulate(kept_lengths, initial=0))[:-1]
        offsets.size = sum(kept_lengths)
        if not all(kept_lengths):  # a text that starts or ends with a deleted run: no empty runs
            offsets.orig_starts = list(compress(offsets.orig_starts, kept_lengths))
            offsets.key_starts = list(compress(offsets.key_starts, kept_lengths))
        plain = "".join(kept)
        key = plain
        for a, b in _FOLD_PAIRS:
            key = key.replace(a, b)
        kt = cls(text, key, offsets, plain)
        kt._same_indexes = len(plain) == len(text)
        kt._tokenise()
        return kt

    def _tokenise(self) -> None:
        key = self.key
        # One C-level findall of "whitespace + token" items instead of a match object per token
        # (its .group() and .span() calls were most of the cost). Every non-space character
        # belongs to a token, so cumulative lengths are the ends, and a token is its item without
        # the whitespace (str.lstrip and \s strip the same characters).
        items = _TOKEN_FIND_RE.findall(key)
        ends = list(accumulate(map(len, items)))
        texts = list(map(str.lstrip, items))
        starts = list(map(sub, ends, map(len, texts)))
        # A token's paragraph: the number of line breaks before it (a few per article; the tokens
        # before each break are one run).
        paragraphs: list[int] = []
        para_bounds: list[int] = []  # token indexes where a paragraph starts (0 excluded)
        breaks = 0
        at = key.find("\n")
        while at >= 0:
            first_after = bisect_left(starts, at)
            paragraphs += [breaks] * (first_after - len(paragraphs))
            if 0 < first_after < len(texts) and (not para_bounds or para_bounds[-1] != first_after):
                para_bounds.append(first_after)
            breaks += 1
            at = key.find("\n", at + 1)
        paragraphs += [breaks] * (len(texts) - len(paragraphs))
        # Sentences from the shared splitter, on the original text, mapped to token ranges.
        # With nothing deleted a key index is the original index; from_original's clamp to
        # [0, len(original)] is moot there (no token starts before 0 or after the key's end).
        spans = split_sentences(self.original)
        if self._same_indexes:
            bounds = list(map(bisect_left, repeat(starts), chain.from_iterable(spans)))
        else:
            # OffsetMap.first_at_or_after, inline (two method calls per boundary were most of it)
            ks, os_ = self.offsets.key_starts, self.offsets.orig_starts
            run_ends = ks[1:] + [self.offsets.size]
            bounds = []
            for x in chain.from_iterable(spans):
                r = bisect_right(os_, x) - 1
                bounds.append(bisect_left(starts, min(ks[r] + x - os_[r], run_ends[r]) if r >= 0 else 0))
        # "إي.لين براون": a full stop glued between two letters after a short word is not an end.
        sents: list[tuple[int, int]] = []
        for a, b in zip(bounds[0::2], bounds[1::2]):
            if b <= a:
                continue
            if sents and texts[a - 1] == "." and ends[a - 1] == starts[a] \
                    and a >= 2 and ends[a - 2] == starts[a - 1] and len(texts[a - 2]) <= 3:
                sents[-1] = (sents[-1][0], b)
            else:
                sents.append((a, b))
        # Tokens outside every sentence (none expected) keep sentence 0.
        sentence = [0] * len(texts)
        for si, (a, b) in enumerate(sents):
            sentence[a:b] = [si] * (b - a)
        # A word starts with a letter or digit, "#" or "_". With neither "#" nor "_" in the key, a
        # word token is all letters and digits and any other token has none, so str.isalnum of
        # the whole token tells (one C-level map); otherwise the per-token test.
        if "#" in key or "_" in key:
            is_word = [g[0].isalnum() or g[0] in "#_" for g in texts]
        else:
            is_word = list(map(str.isalnum, texts))
        self.sentences = sents
        self.texts, self.starts, self.ends = texts, starts, ends
        self.is_word, self.sentence_of, self.paragraphs = is_word, sentence, paragraphs
        self.words_before = list(accumulate(is_word, initial=0))
        self._tokens = self._bare = None
        self._para_bounds = para_bounds

    @property
    def bare_texts(self) -> list[str]:
        """Token texts without a hashtag's leading ``#`` (``t.text.lstrip("#")``), the form names
        are compared in."""
        if self._bare is None:
            if "#" in self.key:
                # Every "#" of the key opens a token ("#" is not \w) and a token holds at most one
                # leading "#": copy the list, then drop the "#" of those few tokens.
                bare = self.texts.copy()
                key, starts = self.key, self.starts
                at = key.find("#")
                while at >= 0:
                    i = bisect_left(starts, at)
                    bare[i] = bare[i][1:]
                    at = key.find("#", at + 1)
                self._bare = bare
            else:
                self._bare = self.texts
        return self._bare

    def indexes_of(self, words) -> list[int]:
        """Indexes of the tokens whose text is in ``words`` (a set or dict), in order."""
        if self._narrowed and any(words is s for s in self._narrowed):
            texts = self.texts
            return [i for i in self._hits if texts[i] in words]
        return list(compress(count(), map(words.__contains__, self.texts)))

    def narrow(self, union: frozenset[str], parts: tuple) -> None:
        """One pass over the tokens for several word sets: ``union`` must hold every word of each
        set in ``parts`` (the very objects later passed to :meth:`indexes_of`, which then filters
        the few tokens found in ``union`` instead of looking every token up again)."""
        self._hits = list(compress(count(), map(union.__contains__, self.texts)))
        self._narrowed = parts

    def paragraph_bounds(self) -> list[int]:
        """Token indexes where a new paragraph starts (the first token excluded): the indexes ``i``
        with ``paragraphs[i] != paragraphs[i - 1]``."""
        return list(self._para_bounds)

    def from_original(self, index: int) -> int:
        """Original index -> the first key index at or after it."""
        if self._same_indexes:
            return 0 if index < 0 else min(index, len(self.original))
        return self.offsets.first_at_or_after(index)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Key span -> original span; the end takes the diacritics written after the last letter."""
        if self._same_indexes and 0 <= start < len(self.original) and 0 < end <= len(self.original):
            return start, end  # nothing deleted (so no diacritics either): the same span
        offsets = self.offsets
        if 0 <= start < offsets.size and 0 < end <= offsets.size:
            # offsets[start] and offsets[end - 1] inline (the runs start at key index 0, so r >= 0)
            ks, os_ = offsets.key_starts, offsets.orig_starts
            r = bisect_right(ks, start) - 1
            o_start = os_[r] + start - ks[r]
            r = bisect_right(ks, end - 1) - 1
            o_end = os_[r] + end - ks[r]
        else:
            o_start = offsets[start]  # (negative indexes, or an IndexError)
            o_end = offsets[end - 1] + 1
        if self.original[o_end : o_end + 1] not in _MARK_CHARS:  # (most ends: no regex call)
            return o_start, o_end
        m = _MARKS_RE.match(self.original, o_end)
        return o_start, (m.end() if m else o_end)

    def token_at(self, key_index: int) -> int:
        """Index of the first token starting at or after ``key_index``."""
        return bisect_left(self.starts, key_index)

    def span_text(self, a: int, b: int) -> str:
        """Key text of tokens ``[a, b)``."""
        if b <= a:
            return ""
        return self.key[self.starts[a] : self.ends[b - 1]]

    def original_span(self, a: int, b: int) -> tuple[int, int]:
        """Original span of tokens ``[a, b)`` (``b > a``), diacritics after the last letter included."""
        return self.to_original(self.starts[a], self.ends[b - 1])

    def original_text(self, a: int, b: int) -> str:
        if b <= a:
            return ""
        s, e = self.original_span(a, b)
        return self.original[s:e]


def variants(word: str) -> list[str]:
    """The word and the word without an attached conjunction or preposition (و ف ب ل ك), with
    ``لل`` read as ``ل`` + ``ال``: the forms a word list is checked with."""
    out = [word]
    if len(word) > 3 and word[0] in "وف":
        word = word[1:]
        out.append(word)
    if len(word) > 3 and word.startswith("لل"):
        out.append("ال" + word[2:])
    elif len(word) > 3 and word[0] in "بلك":
        out.append(word[1:])
    return out


def token_starts(tokens: list[Token]) -> list[int]:
    return [t.start for t in tokens]


__all__ = ["KeyText", "Token", "fold", "variants", "QUOTE_CHARS", "SENTENCE_END", "bisect_right"]
