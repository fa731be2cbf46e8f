"""Quotation marks: which mark opens, which closes, and which pairs are quoted names.

``« »``, ``“ ”`` and ``„`` say what they are. A straight ``"`` does not, so its role is read from
its neighbours: after a line start, a space or ``( : ،`` and before a letter it opens; after a
letter or punctuation and before a space, punctuation or the line end it closes. Between two
letters (``تلفزيوني"قبل``, ``و"القتلة"``) or two spaces it closes a mark left open on the same
line, and opens one otherwise.

Pairs nest (``"لابد ... لـ "داعش"، ..."``). A mark still open at the end of its sentence is
*unclosed* (the seed article has one): its quotation runs to the end of that sentence. A mark
never pairs across a line break.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from .lexicon import Lexicon
from .text import QUOTE_CHARS, KeyText, variants

_OPEN_AFTER = set("([{:،,؛;-—–/«“")
_CLOSE_BEFORE = set(".,،:;!?؟)]}…")


@dataclass(slots=True)
class MarkPair:
    open: int  # token index of the opening mark
    close: int | None  # token index of the closing mark; None when unclosed
    end: int  # token index one past the quoted text (the closing mark, or the sentence end)
    name_like: bool = False  # a quoted name or scare quote (1-3 words after a naming noun)

    @property
    def inner(self) -> tuple[int, int]:
        return self.open + 1, self.end


class MarkPairer:
    """Pairs the quotation marks of an article (see the module docstring)."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self._name_nouns = lexicon.words.get("name_nouns", set())

    def role(self, key: str, i: int) -> str:
        """``open``, ``close`` or ``either`` for the straight mark at key index ``i``."""
        prev = key[i - 1] if i > 0 else "\n"
        nxt = key[i + 1] if i + 1 < len(key) else "\n"
        if prev == "\n":
            return "open"
        if nxt == "\n":
            return "close"
        prev_space, next_space = prev.isspace(), nxt.isspace()
        if not prev_space and (next_space or nxt in _CLOSE_BEFORE) and prev not in _OPEN_AFTER:
            return "close"
        if (prev_space or prev in _OPEN_AFTER) and not next_space and nxt not in _CLOSE_BEFORE:
            return "open"
        return "either"

    def __call__(self, kt: KeyText) -> list[MarkPair]:
        key, texts, starts, paragraphs = kt.key, kt.texts, kt.starts, kt.paragraphs
        pairs: list[MarkPair] = []
        stack: list[tuple[str, int]] = []  # (kind, token index)
        # The end of a token's sentence (the text's end for a token outside every sentence), by
        # bisection over the sentences' starts: only the few unclosed marks ask (a per-token list
        # was built for every article).
        sentence_starts = [a for a, _ in kt.sentences]

        def sent_end(ti: int) -> int:
            k = bisect_right(sentence_starts, ti) - 1
            return kt.sentences[k][1] if k >= 0 and ti < kt.sentences[k][1] else len(texts)

        def flush() -> None:
            for _, ti in stack:
                pairs.append(MarkPair(ti, None, self._unclosed_end(kt, ti, sent_end(ti))))
            stack.clear()

        para = -1
        # Only the quotation marks touch the stack; a paragraph change between two of them flushes
        # it before the second (or at the end), as a flush at the change itself would.
        for ti in kt.indexes_of(QUOTE_CHARS):
            if paragraphs[ti] != para:
                flush()
                para = paragraphs[ti]
            c = texts[ti]
            if c == '"':
                role = self.role(key, starts[ti])
                if role == "either":
                    role = "close" if any(k == '"' for k, _ in stack) else "open"
                if role == "open":
                    stack.append(('"', ti))
                else:
                    self._close(stack, '"', ti, pairs)
            elif c in ("«", "„"):
                stack.append(("»" if c == "«" else "“", ti))
            elif c == "“":
                # Some sites close with “ too: a “ after a letter with an open “ pending closes it.
                if any(k == "”" for k, _ in stack) and starts[ti] > 0 and not key[starts[ti] - 1].isspace():
                    self._close(stack, "”", ti, pairs)
                else:
                    stack.append(("”", ti))
            elif c in ("»", "”"):
                self._close(stack, c, ti, pairs)
        flush()
        pairs.sort(key=lambda p: p.open)
        for p in pairs:
            p.name_like = self._name_like(kt, p)
        return pairs

    @staticmethod
    def _close(stack: list[tuple[str, int]], kind: str, ti: int, pairs: list[MarkPair]) -> None:
        for k in range(len(stack) - 1, -1, -1):
            if stack[k][0] == kind:
                # Marks opened after the one we close and never closed are unclosed inside it.
                for _, inner in stack[k + 1 :]:
                    pairs.append(MarkPair(inner, None, ti))
                pairs.append(MarkPair(stack[k][1], ti, ti))
                del stack[k:]
                return
        # A closing mark with nothing to close: ignored.

    @staticmethod
    def _unclosed_end(kt: KeyText, ti: int, sentence_end: int) -> int:
        end = sentence_end
        is_word = kt.is_word
        while end > ti + 1 and not is_word[end - 1]:
            end -= 1
        return end

    def _name_like(self, kt: KeyText, p: MarkPair) -> bool:
        a, b = p.inner
        n_words = sum(kt.is_word[a:b])
        if not 1 <= n_words <= 5:
            return False
        if p.open > 0:
            if kt.is_word[p.open - 1] and any(v in self._name_nouns for v in variants(kt.texts[p.open - 1])):
                return n_words <= 5  # الموقع الإخباري "كل شيء حول الجزائر"
        return False

