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
"""

from __future__ import annotations

import re
from typing import Any

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

    def encode(self, text: str) -> Any:
        # one regex scan over the text (C-level; set(text) cost ~5x more), a check per new character
        new = self._unknown.findall(text)
        if new:
            ok = all([self._check(c) for c in set(new)])
            self._unknown = _not_in(self.safe)
            if not ok:
                return None
        self.twin.encode_special_tokens = self.backend.encode_special_tokens
        return self.twin.encode(text, add_special_tokens=False)

    def _check(self, c: str) -> bool:
        if c in self.unsafe:
            return False
        normalizer, pre = self.backend.normalizer, self.backend.pre_tokenizer
        kept = normalizer is None or normalizer.normalize_str(c) == c
        pieces = [p for p, _ in pre.pre_tokenize_str(f"a{c}a")]
        ok = kept and (pieces == [f"a{c}a"] or (pieces == ["a", c, "a"] and _MARK_RE.fullmatch(c) is not None))
        (self.safe if ok else self.unsafe).add(c)
        return ok


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

