"""AraBERT v0.2-compatible text normalisation that remembers where every character came from.

The model reads normalised text, but every span we report must index the *original* article
(``shared/docs/annotation-guidelines.md``). :func:`normalise` therefore returns the normalised
text together with, for each normalised character, the original character span it stands for, and
:meth:`Normalised.to_original` / :meth:`Normalised.from_original` translate spans both ways.

Rules (those of ``ArabertPreprocessor("bert-base-arabertv02").preprocess``, aub-mind/arabert
``preprocess.py``, except where marked *deviation*):

1. HTML entities are unescaped (``&quot;`` -> ``"``); only the complete ``&name;`` / ``&#N;`` /
   ``&#xN;`` forms (*deviation*: ``html.unescape`` also accepts a few without ``;``).
2. Diacritics (tashkeel, U+064B-065F, superscript alef U+0670, Quranic marks), tatweel U+0640,
   other combining marks and invisible format characters (RLM/LRM, ZWJ/ZWNJ, BOM, soft hyphen,
   variation selectors) are deleted. A deleted character is attached to the character before it
   (so a word span recovers ``كتابُ`` with its final vowel). *Deviation*: AraBERT turns the
   format characters it does not know into spaces, which splits words at a stray U+200F.
3. URLs, e-mail addresses, @mentions and HTML tags are dropped (turned into a word break).
   *Deviation*: AraBERT replaces them with ``[رابط]``/``[بريد]``/``[مستخدم]``; for entity and
   quotation spans a placeholder would only be a token that maps to nothing.
4. Arabic-Indic digits (U+0660-0669) and Persian digits (U+06F0-06F9) become 0-9 (*deviation*:
   AraBERT v0.2 keeps them, and its digit/letter regex splits them apart, ``٢٠١٦`` -> ``٢٠١ ٦``).
5. Every punctuation mark or symbol kept gets a space on each side, brackets ``[ ]`` included
   (*deviation*: AraBERT keeps ``[ ]`` attached, for its placeholders).
6. Digits and Arabic letters that touch are separated (``2016م`` -> ``2016 م``); Latin letters
   and digits stay together (``COVID19``), as in AraBERT.
7. Emoji and other pictographic symbols (Unicode ``So``, ``Sk`` beyond ASCII, controls,
   private use) are dropped, as AraBERT does with ``keep_emojis=False``. *Deviation*: letters of
   other scripts (``é``, Persian ``گ``) are kept as word characters instead of being dropped,
   so ``Hervé`` is not cut in two; the tokenizer maps what it does not know to ``[UNK]``.
8. Whitespace runs (``\\t``, ``\\n``, U+00A0, ...) collapse to one space; the ends are stripped.
   Hamza forms and alef variants are kept (no alef normalisation for v0.2).

The result is idempotent: ``normalise(normalise(x).text).text == normalise(x).text``.

Implementation: three linear passes driven by compiled regexes, never a regex per character,
so a 4 KB article takes well under a millisecond per pass.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Normalised", "normalise", "normalise_arrays", "strip_diacritics", "normalise_name",
           "may_act_across_whitespace"]

# --- character classes ------------------------------------------------------------------------

TATWEEL = "\u0640"
# Arabic diacritics proper: harakat, tanwin, shadda, sukun, extended marks, superscript alef and
# the Quranic annotation marks. (U+06DD/06DE are signs, not marks; U+06E5/06E6 are small letters.)
_ARABIC_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
_DIACRITICS_RE = re.compile(f"[{_ARABIC_MARKS}]")


def _build_deletable_class() -> str:
    """All combining marks (Mn, Me) and format characters (Cf) of the BMP, as a regex class body.

    Built once at import (~65k code points, a few ms) so the per-article work is one regex."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Me", "Cf") or cp == 0x0640:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    body = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    # Supplementary planes: tag characters and variation selectors (emoji sequences).
    return body + "\U000e0000-\U000e0fff\U0001f3fb-\U0001f3ff"


_DELETABLE = _build_deletable_class()
_ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
# Stage 1: deletions and HTML entities, one pass.
_STAGE1_RE = re.compile(f"(?P<del>[{_DELETABLE}]+)|(?P<ent>{_ENTITY})")
_DELETE_RE = re.compile(f"[{_DELETABLE}]+")
_DELETE_ONE_RE = re.compile(f"[{_DELETABLE}]")
_ENTITY_RE = re.compile(_ENTITY)

_DIGITS = str.maketrans({**{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)}})

# A URL runs to the next space, bracket or quote, and does not take sentence punctuation with it.
_URL_BODY = r"(?:[^\s<>\"«»“”()\[\]،]*[^\s<>\"«»“”()\[\]،.,:;!?؟'])?"
# Stage 2: things dropped whole. Every alternative needs a '.', '@', ':' or '<' glued to a word
# character; normalised text never has those (punctuation is always spaced), which is what makes
# normalisation idempotent.
_DROP_RE = re.compile(
    r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>\n]{0,200})?/?>"  # HTML tag
    + r"|(?:(?:https?|ftp)://|www\.)" + _URL_BODY  # URL with scheme, or bare www.
    + r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    + r"|(?:[A-Za-z0-9-]+\.)+(?:com|org|net|gov|edu|int|info|tv|co|uk|fr|de|ru|me|ly|io)\b"  # domain
    + r"(?:/" + _URL_BODY + ")?"
    + r"|@\w+"  # mention
)

# Arabic-script letters (the class whose contact with digits is broken up, rule 6).
_ARABIC_LETTERS = "\u0620-\u063f\u0641-\u064a\u066e\u066f\u0671-\u06d3\u06d5\u06ee\u06ef\u06fa-\u06fc\u06ff\u0750-\u077f"
# Stage 3 tokens: Arabic-letter run | ASCII digit run | other word-character run | one mark.
_TOKEN_RE = re.compile(
    f"(?P<A>[{_ARABIC_LETTERS}]+)|(?P<D>[0-9]+)|(?P<O>[^\\W_0-9{_ARABIC_LETTERS}]+)|(?P<P>[^\\w\\s]|_)"
)
# The same classes for _stage3_arrays: _TOKEN_RE's P (a mark: not a word character, not
# whitespace, not an Arabic letter, or "_"), Arabic letters and whitespace by code point.
_MARK_RE = re.compile(f"[^\\w\\s{_ARABIC_LETTERS}]|_")


def _table(chars: str) -> np.ndarray:
    """A look-up table by code point (one past the largest: False for every code above it)."""
    cps = [ord(c) for c in chars]
    table = np.zeros(max(cps) + 2, dtype=bool)
    table[cps] = True
    return table


def _bmp_table(pattern: re.Pattern[str]) -> np.ndarray:
    """Whether ``pattern`` matches each code point of the BMP alone (surrogates and NUL: False),
    from one pass of the regex over all of them at import (~4 ms): per article a table look-up,
    not a regex pass.

    Surrogates are False (they stand in as "a"). For ``_MARK_RE`` that is not what the regex
    says of a lone one (a mark), but stage 2 blanks every lone surrogate before stage 3 reads
    ``_MARK_TABLE``, so :func:`normalise` never asks; a direct caller of :func:`_stage3_arrays`
    with one would get no spaces around it where :func:`_stage3_tokens` puts them."""
    chars = "".join(chr(cp) if not 0xD800 <= cp < 0xE000 else "a" for cp in range(0x10000))
    marked = pattern.sub("\0", chars).encode("utf-32-le", "surrogatepass")
    table = np.frombuffer(marked, dtype=np.uint32) == 0
    table[0] = False  # NUL itself
    return table


_MARK_TABLE = _bmp_table(_MARK_RE)  # (0x10000,)
_DELETE_TABLE = _bmp_table(_DELETE_ONE_RE)  # (0x10000,)


def _each_matches(text: str, codes: np.ndarray, pattern: re.Pattern[str], table: np.ndarray) -> np.ndarray:
    """``(n,)`` whether the one-character ``pattern`` matches each character of ``text``
    (``codes``: its code points, at least one; a NUL of the text itself never matches): by
    ``table`` (:func:`_bmp_table` of the pattern) within the BMP; beyond it, the matches as NUL
    in a copy of the text, one C-level pass of the regex."""
    if int(codes.max()) < 0x10000:
        return table[codes]
    marked = np.frombuffer(pattern.sub("\0", text).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return (marked == 0) & (codes != 0)


_ARABIC_TABLE = _table("".join(chr(cp) for cp in range(0x600, 0x800) if re.fullmatch(f"[{_ARABIC_LETTERS}]", chr(cp))))
_SPACE_TABLE = _table("".join(chr(cp) for cp in range(0x3001) if chr(cp).isspace()))  # U+3000 is the last
_NON_WORD_RE = re.compile(r"[^\w\s]")
_EASTERN_DIGIT_RE = re.compile("[\u0660-\u0669\u06f0-\u06f9]")
# Part of every domain _DROP_RE takes: a Latin label's last character, the dot, the listed TLD.
_DOMAIN_HINT_RE = re.compile(r"[A-Za-z0-9-]\.(?:com|org|net|gov|edu|int|info|tv|co|uk|fr|de|ru|me|ly|io)\b")
_KEEP_CATEGORIES = {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc"}
_mark_cache: dict[str, str] = {}


def _keep_or_blank_char(c: str) -> str:
    """Punctuation and maths/currency symbols are kept; emoji, other symbols, controls become a
    space (same length, so offsets stay aligned)."""
    r = _mark_cache.get(c)
    if r is None:
        cat = unicodedata.category(c)
        keep = cat in _KEEP_CATEGORIES or (cat == "Sk" and c < "\x80")
        r = _mark_cache[c] = c if keep else " "
    return r


# --- result -----------------------------------------------------------------------------------


@dataclass
class Normalised:
    """Normalised text and its alignment to the original.

    ``offsets[i]`` is the original index of normalised character ``i``; ``ends[i]`` the (exclusive)
    end of the original stretch it stands for (a letter plus the diacritics deleted after it, a
    whole ``&quot;``...). Both lists are non-decreasing. An inserted space gets an empty stretch at
    the end of the character before it.
    """

    text: str
    offsets: list[int]
    original: str
    ends: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self.ends:
            self.ends = [o + 1 for o in self.offsets]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Normalised span ``[start, end)`` -> the tight original span it covers.

        Spaces at the edges of the span are ignored; a span of nothing but spaces (or an empty one)
        maps to an empty span at the corresponding original position."""
        n = len(self.text)
        if not 0 <= start <= end <= n:
            raise ValueError(f"span [{start}, {end}) out of range for a normalised text of {n} characters")
        t = self.text
        while start < end and t[start] == " ":
            start += 1
        while end > start and t[end - 1] == " ":
            end -= 1
        if start == end:
            pos = self.offsets[start] if start < n else len(self.original)
            return pos, pos
        return self.offsets[start], self.ends[end - 1]

    def from_original(self, start: int, end: int) -> tuple[int, int]:
        """Original span -> the normalised span of the characters that overlap it (tight).

        Use it to carry gold spans onto the model's text; a span that covers only deleted
        characters (a lone diacritic, a dropped URL) maps to an empty span."""
        m = len(self.original)
        if not 0 <= start <= end <= m:
            raise ValueError(f"span [{start}, {end}) out of range for an original text of {m} characters")
        s = bisect_right(self.ends, start)  # first char ending after `start`
        e = bisect_left(self.offsets, end)  # first char starting at or after `end`
        t = self.text
        while s < e and (t[s] == " " or self.ends[s] <= start):
            s += 1
        while e > s and t[e - 1] == " ":
            e -= 1
        return (s, e) if s < e else (s, s)


# --- the three passes --------------------------------------------------------------------------


def _stage1(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """Delete marks/format characters (attached to the previous character) and unescape entities.

    Returns the text with each character's original start and end (int64 arrays)."""
    has_entity = "&" in text and _ENTITY_RE.search(text) is not None
    if not has_entity:
        if not _DELETE_RE.search(text):
            return text, np.arange(len(text), dtype=np.int64), np.arange(1, len(text) + 1, dtype=np.int64)
        return _stage1_deletions(text)
    s1, starts, ends = _stage1_loop(text)
    return s1, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


def _stage1_deletions(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """:func:`_stage1_loop` for a text without HTML entities (nearly every article), on arrays:
    a deleted run is attached to the kept character right before it unless that is whitespace."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (n,)
    deleted = _each_matches(text, codes, _DELETE_ONE_RE, _DELETE_TABLE)  # (n,) a NUL of the text itself is kept
    kept = np.flatnonzero(~deleted)  # (K,) original index of each kept character
    ends = kept + 1
    edges = np.flatnonzero(deleted[1:] != deleted[:-1]) + 1  # where a run of deleted characters starts or stops
    bounds = np.concatenate([[0] if deleted[0] else [], edges, [len(text)] if deleted[-1] else []]).astype(np.int64)
    run_start, run_end = bounds[0::2], bounds[1::2]  # the deleted runs [start, end)
    before = run_start - 1  # the kept character before each run (none before a run at 0)
    attach = run_start > 0
    attach[attach] = ~_SPACE_TABLE[np.minimum(codes[before[attach]], _SPACE_TABLE.size - 1)]
    ends[np.searchsorted(kept, before[attach])] = run_end[attach]
    # the kept characters from the code points at hand (what _DELETE_RE.sub("", text) leaves)
    return codes[kept].tobytes().decode("utf-32-le", "surrogatepass"), kept.astype(np.int64), ends.astype(np.int64)


def _stage1_loop(text: str) -> tuple[str, list[int], list[int]]:
    """:func:`_stage1` one match at a time (any text; the definition of the array version)."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    last_space = True  # whether the last kept character is whitespace (or there is none)
    pos = 0
    for m in _STAGE1_RE.finditer(text):
        m0, m1 = m.span()
        if m0 > pos:
            parts.append(text[pos:m0])
            starts.extend(range(pos, m0))
            ends.extend(range(pos + 1, m0 + 1))
            last_space = text[m0 - 1].isspace()
        if m.lastgroup == "del":
            if not last_space and ends and ends[-1] == m0:
                ends[-1] = m1
        else:
            raw = m.group()
            u = html.unescape(raw)
            if u == raw:  # unknown entity name: plain text
                parts.append(raw)
                starts.extend(range(m0, m1))
                ends.extend(range(m0 + 1, m1 + 1))
                last_space = False
            else:
                u = _DELETE_RE.sub("", u)
                if u:
                    parts.append(u)
                    starts.extend([m0] * len(u))
                    ends.extend([m1] * len(u))
                    last_space = u[-1].isspace()
                elif not last_space and ends and ends[-1] == m0:  # an escaped diacritic
                    ends[-1] = m1
        pos = m1
    if pos < len(text):
        parts.append(text[pos:])
        starts.extend(range(pos, len(text)))
        ends.extend(range(pos + 1, len(text) + 1))
    return "".join(parts), starts, ends


def _stage2(s1: str) -> str:
    """Same-length rewrite: digits to 0-9, dropped things and rejected symbols to spaces."""
    # str.translate with a dict looks every character up: only when there is a digit to map
    s = s1.translate(_DIGITS) if _EASTERN_DIGIT_RE.search(s1) else s1
    if _may_drop(s):
        s = _DROP_RE.sub(lambda m: " " * (m.end() - m.start()), s)
    # the marks to blank, each once (a text has a few distinct ones), not a callback per mark
    blank = [c for c in set(_NON_WORD_RE.findall(s)) if _keep_or_blank_char(c) == " "]
    return s.translate({ord(c): " " for c in blank}) if blank else s


# '<' as an HTML entity (the html5 names whose value holds it, and the numeric references to 60):
# stage 1 unescapes it, so "&lt;b class=x&gt;" is a tag by stage 2
_LT_ENTITY_RE = re.compile(r"&(?:lt|LT|nvlt|#0*60|#[xX]0*3[cC]);")


def may_act_across_whitespace(text: str) -> bool:
    """Whether normalisation may act across whitespace in ``text``: only an HTML tag, the one
    thing dropped whole that can hold a space, does (a ``<``, as itself or as an entity). Where
    this is false, ``text`` normalises as its whitespace-separated chunks one by one (tested)."""
    return "<" in text or ("&" in text and _LT_ENTITY_RE.search(text) is not None)


def _may_drop(s: str) -> bool:
    """Whether :data:`_DROP_RE` can match in ``s``: every one of its alternatives needs one of
    these (an ``@``, a ``<``, a scheme's ``://``, ``www.``, or a Latin label glued to a listed
    top-level domain), and scanning for them is ~15x cheaper than the regex over a whole article."""
    return "@" in s or "<" in s or "://" in s or "www." in s or _DOMAIN_HINT_RE.search(s) is not None


def normalise(text: str) -> Normalised:
    """Normalise ``text`` the AraBERT v0.2 way (see the module docstring) and keep the alignment."""
    out, o_starts, o_ends = normalise_arrays(text)
    return Normalised(out, o_starts.tolist(), text, o_ends.tolist())


def normalise_arrays(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """:func:`normalise` as the normalised text and its ``offsets`` and ``ends`` as int64 arrays:
    for a caller that maps many positions at once (a tokenizer's offsets), without a Python int
    per character."""
    s1, starts, ends = _stage1(text)
    s2 = _stage2(s1)
    return _stage3_arrays(s2, starts, ends)


def _stage3_arrays(s2: str, starts: np.ndarray, ends: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
    """Spaces: one between the tokens of :data:`_TOKEN_RE` (Arabic-letter run, digit run, other
    word run, one mark) unless they touch and neither is a mark nor the pair is letters/digits;
    whitespace runs collapse, the ends are stripped. An inserted space gets the empty stretch at
    the end of the character before it.

    Computed on arrays of code points, character classes and offsets (a token loop cost ~1 us a
    token); :func:`_stage3_tokens` is the token loop, kept as the definition."""
    n = len(s2)
    codes = np.frombuffer(s2.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (n,)
    kept = np.flatnonzero(~_SPACE_TABLE[np.minimum(codes, _SPACE_TABLE.size - 1)])  # (K,) non-space chars
    if kept.size == 0:
        return "", np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    mark = _each_matches(s2, codes, _MARK_RE, _MARK_TABLE)  # (n,) marks (_TOKEN_RE's P); a NUL is none
    c = codes[kept]
    is_p = mark[kept]
    is_a = _ARABIC_TABLE[np.minimum(c, _ARABIC_TABLE.size - 1)]
    is_d = (c >= 0x30) & (c <= 0x39)
    # a space before kept char j + 1: whitespace between, or a token boundary that is not glued
    sep = (kept[1:] - kept[:-1] > 1) | is_p[:-1] | is_p[1:] | (is_a[:-1] & is_d[1:]) | (is_d[:-1] & is_a[1:])  # (K - 1,)
    pos = np.arange(kept.size)  # output position of each kept char
    pos[1:] += np.cumsum(sep)
    size = int(pos[-1]) + 1
    out = np.full(size, 0x20, dtype=np.uint32)
    out[pos] = c
    o_starts = np.empty(size, dtype=np.int64)
    o_ends = np.empty(size, dtype=np.int64)
    o_starts[pos] = starts[kept]
    o_ends[pos] = ends[kept]
    spaces = pos[1:][sep] - 1
    o_starts[spaces] = o_ends[spaces] = ends[kept[:-1][sep]]
    return out.tobytes().decode("utf-32-le", "surrogatepass"), o_starts, o_ends


def _stage3_tokens(s2: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]]:
    """:func:`_stage3_arrays` as a loop over the tokens (the definition; tests compare the two)."""
    out: list[str] = []
    o_starts: list[int] = []
    o_ends: list[int] = []
    prev_kind = ""
    prev_end = -1
    for m in _TOKEN_RE.finditer(s2):
        kind = m.lastgroup or ""
        t0, t1 = m.span()
        if prev_kind:
            glued = (
                t0 == prev_end
                and kind != "P"
                and prev_kind != "P"
                and not (prev_kind == "A" and kind == "D")
                and not (prev_kind == "D" and kind == "A")
            )
            if not glued:
                here = o_ends[-1]
                out.append(" ")
                o_starts.append(here)
                o_ends.append(here)
        out.append(m.group())
        o_starts.extend(starts[t0:t1])
        o_ends.extend(ends[t0:t1])
        prev_kind, prev_end = kind, t1
    return "".join(out), o_starts, o_ends


# --- plain helpers -----------------------------------------------------------------------------


def strip_diacritics(text: str) -> str:
    """Remove Arabic diacritics (tashkeel, superscript alef, Quranic marks); tatweel is kept."""
    return _DIACRITICS_RE.sub("", text)


_NAME_MAP = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", TATWEEL: None})
_SPACES_RE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """The guidelines' attribution normalisation: diacritics and tatweel removed, alef variants
    ``أإآٱ`` -> ``ا``, ``ى`` -> ``ي``, ``ة`` -> ``ه``, whitespace collapsed. For comparing names,
    never for text whose offsets matter."""
    s = _DELETE_RE.sub("", name).translate(_NAME_MAP)
    return _SPACES_RE.sub(" ", s).strip()
