"""Sentence segmentation for Arabic news, as character spans into the text as given.

Rules (chosen for news prose, see ``tests/test_sentences.py`` for examples):

* A line break always ends a sentence; nothing (not even a quotation) crosses one.
* ``.``, ``!``, ``?``, ``؟``, ``؛`` and ``…`` end a sentence when followed by whitespace or the
  end of the line (a run such as ``..`` or ``؟!`` counts once). Closing quotes/brackets glued to
  the mark stay with the sentence (``انتهى."``). ``؟ ! ؛`` also end one when an Arabic letter
  follows with no space, as does ``.`` after an Arabic word (``البلد.وأضاف``, a frequent typo).
* Not a boundary: a ``.`` between digits (``3.5``), after a one-letter word (``د. محمد``,
  ``أ.ف.ب``), or inside a quotation that is closed later on the same line
  (``قال: "أولا. ثانيا." ثم``). A quotation whose last character is a sentence mark ends the
  sentence right after its closing quote.
* Quotation marks: ``« »``, ``“ ”``, ``„ “``, ``‹ ›`` nest; straight ``"`` opens when it is
  preceded by a space (or ``(``, ``:`` ...) and followed by a non-space, closes when preceded by a
  non-space. An opening quote with no closing quote on its line is ignored, so an unbalanced
  quote never swallows the rest of the paragraph.
* A piece with no letter or digit (a stray ``...``) is merged into its neighbour, so every
  non-space character is in exactly one sentence.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Iterable

__all__ = ["split_sentences"]

_LINE_RE = re.compile(r"[^\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
_TERMINATORS = ".!?؟؛…"
# A run of sentence marks, then closing quotes/brackets glued to it.
_END_RE = re.compile(r"[.!?؟؛…]+[)\]}»”’\"'›]*")
_ARABIC_LETTER_RE = re.compile(r"[\u0620-\u064a\u0671-\u06d3]")
_WORDISH_RE = re.compile(r"[^\W_]")
_OPEN_PAIRS = {"«": "»", "“": "”", "„": "“", "‹": "›"}
_CLOSERS = {v: k for k, v in _OPEN_PAIRS.items() if k != "„"}
_BEFORE_OPEN_STRAIGHT = set(" \t([{:،,؛;-—–/«“")
# every character _quote_regions acts on: the straight quote, the openers and the closers
_QUOTE_MARK_RE = re.compile("[" + re.escape('"' + "".join(_OPEN_PAIRS) + "".join(_CLOSERS)) + "]")


def _quote_regions(line: str, positions: Iterable[int] | None = None) -> list[tuple[int, int]]:
    """(open, close) indices of quotation marks that are closed on this line.

    ``positions``: the characters visited; by default only the quotation marks, the only ones that
    act (``range(len(line))``, every character, gives the same regions: tested)."""
    regions: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []  # (expected closer, position)
    straight_open: int | None = None
    n = len(line)
    if positions is None:
        positions = (m.start() for m in _QUOTE_MARK_RE.finditer(line))
    for i in positions:
        c = line[i]
        if c == '"':
            prev = line[i - 1] if i else " "
            nxt = line[i + 1] if i + 1 < n else " "
            opens = (prev.isspace() or prev in _BEFORE_OPEN_STRAIGHT) and not nxt.isspace()
            closes = not prev.isspace() and not opens
            if straight_open is not None and (closes or (opens and nxt in _TERMINATORS)):
                regions.append((straight_open, i))
                straight_open = None
            elif opens:
                straight_open = i  # an earlier unclosed opener is dropped
        elif c in _OPEN_PAIRS and not (c == "“" and stack and stack[-1][0] == "“"):
            stack.append((_OPEN_PAIRS[c], i))
        elif c in _CLOSERS:
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][0] == c:
                    regions.append((stack[k][1], i))
                    del stack[k:]
                    break
    return regions


def _line_cuts(line: str) -> list[int]:
    """Positions (exclusive ends) after which a sentence ends, within one line."""
    regions = _quote_regions(line)

    def quoted(p: int) -> bool:
        return any(o < p < c for o, c in regions)

    cuts: set[int] = set()
    n = len(line)
    for m in _END_RE.finditer(line):
        s, e = m.span()
        if regions and quoted(s):  # most lines quote nothing
            continue
        nxt = line[e] if e < n else " "
        marks = line[s:e].rstrip(")]}»”’\"'›")
        if not nxt.isspace():
            # Glued to the next word: a typo worth splitting only after an Arabic word.
            if not (_ARABIC_LETTER_RE.match(nxt) and s >= 2 and _ARABIC_LETTER_RE.match(line[s - 1])
                    and _ARABIC_LETTER_RE.match(line[s - 2])):
                continue
        if marks == "." and s >= 1 and _WORDISH_RE.match(line[s - 1]) and (s < 2 or not _WORDISH_RE.match(line[s - 2])):
            continue  # one-letter abbreviation: د. / J.
        cuts.add(e)
    for o, c in regions:
        if quoted(o):
            continue  # nested: the outer quotation decides
        inner = line[o + 1 : c].rstrip()
        if inner and inner[-1] in _TERMINATORS:
            e = c + 1
            while e < n and line[e] in ")]}»”’\"'›":
                e += 1
            if e >= n or line[e].isspace():
                cuts.add(e)
    return sorted(cuts)


# Recent texts' sentences. The analyser splits every article twice: the model's tokenizer
# (khabar.model.features) and the rules bootstrapper (khabar.bootstrap.text) both need them, one
# group of up to a few hundred articles apart (all are tokenised before any goes through the
# rules). Keyed by the text itself (a str caches its hash): a different text is never a hit.
_MEMO: OrderedDict[str, list[tuple[int, int]]] = OrderedDict()
_MEMO_ARTICLES = 1024  # more than an analyser group (256 articles) ...
_MEMO_CHARS = 4_000_000  # ... and of its characters (1,000,000), bounded for long texts
_memo_chars = 0
_memo_lock = threading.Lock()  # an analyser may serve several threads


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into sentences: ``(start, end)`` character spans (end exclusive), stripped of
    surrounding whitespace, in order, together covering every non-space character exactly once.

    Remembered for the last texts split (see ``_MEMO``); each call gets its own list."""
    global _memo_chars
    with _memo_lock:
        spans = _MEMO.get(text)
        if spans is not None:
            _MEMO.move_to_end(text)
            return list(spans)
    spans = _split_sentences(text)
    if len(text) <= _MEMO_CHARS:
        with _memo_lock:
            if text not in _MEMO:
                _MEMO[text] = spans
                _memo_chars += len(text)
                while len(_MEMO) > _MEMO_ARTICLES or _memo_chars > _MEMO_CHARS:
                    _memo_chars -= len(_MEMO.popitem(last=False)[0])
    return list(spans)


def _split_sentences(text: str) -> list[tuple[int, int]]:
    """:func:`split_sentences`, computed (no memo)."""
    spans: list[tuple[int, int]] = []
    for lm in _LINE_RE.finditer(text):
        line, base = lm.group(), lm.start()
        pieces: list[tuple[int, int]] = []
        prev = 0
        for cut in [*_line_cuts(line), len(line)]:
            seg = line[prev:cut]
            stripped = seg.strip()
            if stripped:
                s = prev + (len(seg) - len(seg.lstrip()))
                pieces.append((s, s + len(stripped)))
            prev = cut
        # Merge pieces without a letter or digit into a neighbour (nothing is dropped).
        merged: list[tuple[int, int]] = []
        pending: int | None = None  # start of letterless pieces waiting for a next piece
        for s, e in pieces:
            if not _WORDISH_RE.search(line, s, e):
                if merged:
                    merged[-1] = (merged[-1][0], e)
                elif pending is None:
                    pending = s
                continue
            if pending is not None:
                s, pending = pending, None
            merged.append((s, e))
        if pending is not None:
            merged.append((pending, pieces[-1][1]))
        spans.extend((base + s, base + e) for s, e in merged)
    return spans
