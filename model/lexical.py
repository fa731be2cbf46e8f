"""Lexical word features: hashed embeddings of each word's forms, beside the encoder's states.

A compact encoder trained on CPU for minutes cannot learn from sub-word pieces which words name
people, places or organisations; a word-level table can (it memorises the names of the training
set, and, initialised from skip-gram vectors of ANT news, places unseen names near seen ones). The
features follow spaCy's ``MultiHashEmbed``: every word is looked up by several of its forms, each
hashed (crc32, stable across processes and platforms) into its own table, so no vocabulary file is
needed and any word has a row. Arabic forms: the normalised word, its light stem (Light10's prefixes:
و, وال، بال، لل ...), the stem's first and last three letters, and a coarse shape.

All sub-word tokens of a word get its word's vector; ``[CLS]``/``[SEP]``/padding use row 0 (zero).
The same module serves any BERT-family encoder (``KhabarConfig.lexical_features``; off by default).
"""

from __future__ import annotations

import operator
import re
import zlib
from array import array
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

# attribute -> (rows, dim): the default trainable tables (1.7 M parameters). They only need to
# remember which words of the training set are names; the skip-gram knowledge goes into the wider
# frozen tables (``lexical_frozen``, e.g. {norm: 48, stem: 32}: 4.2 M more).
DEFAULT_LEXICAL_FEATURES: dict[str, tuple[int, int]] = {
    "norm": (65536, 16),
    "stem": (32768, 16),
    "prefix": (4096, 16),
    "suffix": (4096, 16),
    "shape": (512, 8),
}

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat, Quranic marks, tatweel
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي",
                       **{chr(0x660 + i): str(i) for i in range(10)}, **{chr(0x6F0 + i): str(i) for i in range(10)}})
# The article with its proclitics, longest first. A lone ف/ب/ل is not stripped: too many names
# begin with those letters («لبنان», «فرنسا», «بغداد»).
_PROCLITICS = ("وبال", "وكال", "فبال", "فال", "وال", "بال", "كال", "ولل", "فلل", "لل", "ال")


def normalise_word(word: str) -> str:
    """Orthographic variants folded (hamza seats, alef maqsura, ta marbuta, Arabic digits, case)."""
    return _DIACRITICS.sub("", word).translate(_FOLD).lower()


def stem(norm: str) -> str:
    """Light10's prefix rules (Larkey et al.): a leading و off a word of more than three letters, then
    the article with its proclitics («والعراق», «بالعراق» -> «عراق»; «وطارق» -> «طارق»). Only used
    beside the whole word, so the odd wrong cut («وزير» -> «زير») costs nothing."""
    if norm.startswith("و") and len(norm) > 3:
        norm = norm[1:]
    m = _PROCLITIC_RE.match(norm)
    return norm[m.end():] if m else norm


def _stem_by_loop(norm: str) -> str:
    """:func:`stem` trying each proclitic in turn: the definition its regex must agree with (tested)."""
    if norm.startswith("و") and len(norm) > 3:
        norm = norm[1:]
    for p in _PROCLITICS:
        if norm.startswith(p) and len(norm) - len(p) >= 2:
            return norm[len(p):]
    return norm


# The proclitics in _PROCLITICS' order, each only where at least two characters follow: the
# regex tries the alternatives in order and goes on to the next where the look-ahead fails, as
# _stem_by_loop does (one C-level match instead of a startswith per proclitic).
_PROCLITIC_RE = re.compile("(?:" + "|".join(map(re.escape, _PROCLITICS)) + ")(?=[\\s\\S]{2})")
# stem() on every line of a text at once (lines: words, none holding a line break): the و of a
# word of more than three letters, then the first proclitic followed by two characters of its line
_WAW_LINE_RE = re.compile("^و(?=[^\\n]{3})", re.M)
_PROCLITIC_LINE_RE = re.compile("^(?:" + "|".join(map(re.escape, _PROCLITICS)) + ")(?=[^\\n]{2})", re.M)


# Characters of the Arabic block that shape() counts as "a" (all but its digits), for the common
# case of a word made only of them: its shape is then "a" and its length, with no per-character loop.
_ARABIC_NON_DIGITS_RE = re.compile(
    "[" + "".join(re.escape(chr(cp)) for cp in range(0x600, 0x700) if not chr(cp).isdigit() and not chr(cp).isupper()) + "]+")


def shape(word: str) -> str:
    """Script and length class: ``a5`` (Arabic, 5 letters), ``L3+cap``, ``d4``, ``p`` (punctuation) ..."""
    if not word:
        return "_"
    if _ARABIC_NON_DIGITS_RE.fullmatch(word):
        return f"a{min(len(word), 8)}"
    return _shape_by_characters(word)


def _shape_by_characters(word: str) -> str:
    """:func:`shape` of a non-empty word, one character at a time: the definition its all-Arabic
    shortcut must agree with (tested)."""
    kinds = []
    for ch in word:
        if "\u0600" <= ch <= "\u06ff":
            kinds.append("d" if ch.isdigit() else "a")
        elif ch.isdigit():
            kinds.append("d")
        elif ch.isalpha():
            kinds.append("L")
        else:
            kinds.append("p")
    # a tie goes to the kind seen first: iterating a set of strings follows the per-process hash
    # seed, which made the same word's shape (and the model's output) differ between processes
    main = max(dict.fromkeys(kinds), key=kinds.count)
    length = min(len(word), 8)
    cap = "+cap" if word[:1].isupper() else ""
    mixed = "+mix" if len(set(kinds)) > 1 else ""
    return f"{main}{length}{cap}{mixed}"


ATTRIBUTES: dict[str, Callable[[str, str, str], str]] = {
    # (word as written, normalised, stem) -> the form looked up
    "norm": lambda w, n, s: n,
    "stem": lambda w, n, s: s,
    "prefix": lambda w, n, s: s[:3],
    "suffix": lambda w, n, s: n[-3:],
    "shape": lambda w, n, s: shape(w),
}


def bucket(attr: str, value: str, rows: int) -> int:
    """Row of ``value`` in the table of ``attr``: 1..rows-1 (row 0 is the zero row)."""
    return 1 + zlib.crc32(f"{attr}\x1f{value}".encode("utf-8", "surrogatepass")) % (rows - 1)


# The forms of the default attributes, computed once per word in LexicalHasher._hash (the
# ATTRIBUTES functions each take their own call); an attribute whose ATTRIBUTES entry is not the
# one defined above goes through that entry.
_DEFAULT_ATTRIBUTES = dict(ATTRIBUTES)
_SHARED_FORMS = ("norm", "stem", "prefix", "suffix")


class LexicalHasher:
    """Words -> rows of every table (a list of ints per word, in ``spec`` order)."""

    def __init__(self, spec: Mapping[str, Sequence[int]]):
        unknown = set(spec) - set(ATTRIBUTES)
        if unknown:
            raise ValueError(f"lexical_features: unknown attribute(s) {sorted(unknown)}; known: {sorted(ATTRIBUTES)}")
        self.attrs = list(spec)
        self.rows = [int(spec[a][0]) for a in self.attrs]
        self._cache: dict[str, list[int]] = {}
        self._rows: dict[str, tuple[list[int], bytes]] = {}  # word -> (its rows, as int64 bytes)
        # per table: how to get its form (a shared one by name, else the ATTRIBUTES function), the
        # CRC-32 of its key prefix "attr\x1f" (crc32 continues a running checksum: bucket()'s
        # checksum of the whole key is crc32(value, crc32(prefix))), and its number of rows but one
        self._plan = [(a if a in _SHARED_FORMS and ATTRIBUTES[a] is _DEFAULT_ATTRIBUTES[a] else None,
                       ATTRIBUTES[a], zlib.crc32(f"{a}\x1f".encode("utf-8", "surrogatepass")), r - 1)
                      for a, r in zip(self.attrs, self.rows)]

    def __call__(self, word: str) -> list[int]:
        ids = self._cache.get(word)
        if ids is None:
            ids = self._hash(word)
            if len(self._cache) < 500_000:  # news vocabularies repeat; bounded for streaming corpora
                self._cache[word] = ids
        return ids

    def _hash(self, word: str) -> list[int]:
        """``[bucket(a, ATTRIBUTES[a](word, n, s), rows) for each table]`` (``n``, ``s``: the word
        normalised and its stem), each shared form made once and each key's checksum continued
        from its prefix's: the same rows (tested), ~2x faster for a word not seen before."""
        n = normalise_word(word)
        s = stem(n)
        forms = {"norm": n, "stem": s, "prefix": s[:3], "suffix": n[-3:]}
        crc = zlib.crc32
        return [1 + crc((forms[name] if name else form(word, n, s)).encode("utf-8", "surrogatepass"), start) % m
                for name, form, start, m in self._plan]

    def words(self, words: Sequence[str]) -> list[list[int]]:
        """``[self(w) for w in words]``, with the cache looked up inline (an article's words are
        mostly cached: a method call per word was most of their cost)."""
        get = self._cache.get
        return [get(w) or self(w) for w in words]

    def word_rows(self, words: Sequence[str]) -> tuple[list[list[int]], bytes]:
        """``self.words(words)`` and the same rows as int64 bytes, one row after the other (for a
        ``(len(words), width)`` array without parsing Python ints: ~7x faster than ``np.fromiter``).
        The words not seen before are hashed together (:meth:`_hash_many`)."""
        get = self._rows.get
        entries = list(map(get, words))
        if None in entries:
            new = list(dict.fromkeys(w for w, e in zip(words, entries) if e is None))
            made = {}
            for word, ids in zip(new, self._hash_many(new)):
                made[word] = entry = (ids, array("q", ids).tobytes())
                if len(self._rows) < 500_000:
                    self._rows[word] = entry
                if len(self._cache) < 500_000:
                    self._cache[word] = ids
            entries = [e or made[w] for w, e in zip(words, entries)]
        return list(map(_FIRST, entries)), b"".join(map(_SECOND, entries))

    def _hash_many(self, words: list[str]) -> list[list[int]]:
        """``[self._hash(w) for w in words]``, the forms of all words made by a few C-level passes
        over them joined by line breaks (each pass acts on one character at a time, or, for the
        stem, at a line's start within the line): ~1.7x faster a word. A word holding a line
        break goes one at a time."""
        joined = "\n".join(words)
        if joined.count("\n") != len(words) - 1:
            return [self._hash(w) for w in words]
        # normalise_word's passes; lower() is per character except Greek final sigma, whose
        # context stops at a line break as at the end of the text (not cased, not case-ignorable)
        norm_text = _DIACRITICS.sub("", joined).translate(_FOLD).lower()
        norms = norm_text.split("\n")
        stems = _PROCLITIC_LINE_RE.sub("", _WAW_LINE_RE.sub("", norm_text)).split("\n")
        crc = zlib.crc32
        columns = []
        for name, form, start, m in self._plan:
            if name == "norm":
                values = norms
            elif name == "stem":
                values = stems
            elif name == "prefix":
                values = [s[:3] for s in stems]
            elif name == "suffix":
                values = [n[-3:] for n in norms]
            else:
                values = list(map(form, words, norms, stems))
            columns.append([1 + crc(v.encode("utf-8", "surrogatepass"), start) % m for v in values])
        return list(map(list, zip(*columns))) if columns else [[] for _ in words]

    @property
    def width(self) -> int:
        return len(self.attrs)

    @property
    def layout(self) -> tuple[tuple[str, int], ...]:
        """The tables' attributes and sizes: what a word's rows depend on."""
        return tuple(zip(self.attrs, self.rows))


_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
_HASHERS: dict[tuple, LexicalHasher] = {}


def shared_hasher(spec: Mapping[str, Sequence[int]]) -> LexicalHasher:
    """One :class:`LexicalHasher` per table layout for the whole process, so its word cache
    outlives each ``predict`` call (an analyser builds a new ArticleEncoder per batch)."""
    key = tuple((a, int(rd[0])) for a, rd in spec.items())
    if key not in _HASHERS:
        _HASHERS[key] = LexicalHasher(spec)
    return _HASHERS[key]


def lexical_spec(value: Any) -> dict[str, tuple[int, int]] | None:
    """``KhabarConfig.lexical_features`` as ``{attr: (rows, dim)}``: ``True`` = the defaults."""
    if value is None or value is False:
        return None
    if value is True:
        return dict(sorted(DEFAULT_LEXICAL_FEATURES.items()))
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"lexical_features must be true, null or a mapping attr -> [rows, dim]; got {value!r}")
    out = {}
    # sorted: config.json is written with sorted keys, and the column order of lexical_ids must
    # survive a save/load round trip
    for attr, rd in sorted(value.items()):
        if not isinstance(rd, (list, tuple)) or len(rd) != 2 or int(rd[0]) < 2 or int(rd[1]) < 1:
            raise ValueError(f"lexical_features[{attr!r}] must be [rows >= 2, dim >= 1]; got {rd!r}")
        out[str(attr)] = (int(rd[0]), int(rd[1]))
    LexicalHasher(out)  # validates the attribute names
    return out


def frozen_spec(frozen: Sequence[str] | Mapping[str, int] | None, spec: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """``lexical_frozen`` as ``{attr: dim}``: a list keeps each table's own width, a mapping sets it
    (the frozen copy shares the trainable table's rows, not necessarily its width)."""
    dims = dict(frozen) if isinstance(frozen, Mapping) else {a: int(spec[a][1]) for a in frozen or () if a in spec}
    missing = [a for a in (frozen or ()) if a not in spec]
    if missing:
        raise ValueError(f"lexical_frozen: {missing} not among lexical_features {list(spec)}")
    bad = {a: d for a, d in dims.items() if not isinstance(d, int) or d < 1}
    if bad:
        raise ValueError(f"lexical_frozen: widths must be positive integers; got {bad}")
    return {a: int(d) for a, d in dims.items()}


class LexicalEmbedding(nn.Module):
    """Per-attribute tables, concatenated and projected to the encoder's width.

    ``frozen`` attributes get a second, non-trainable table on the same rows (set from skip-gram
    vectors): fine-tuning moves the vectors of the words seen in training away from those of the
    words never seen, the frozen copy keeps both in one space, so an unseen name still lands
    near the seen ones.
    """

    def __init__(self, spec: Mapping[str, Sequence[int]], hidden: int, dropout: float,
                 frozen: Sequence[str] | Mapping[str, int] = (), word_dropout: float = 0.0):
        super().__init__()
        self.word_dropout = float(word_dropout)
        self.attrs = list(spec)
        self.tables = nn.ModuleDict({a: nn.Embedding(int(r), int(d), padding_idx=0) for a, (r, d) in spec.items()})
        frozen_dims = frozen_spec(frozen, spec)
        self.frozen_attrs = [a for a in self.attrs if a in frozen_dims]
        self.frozen = nn.ModuleDict({a: nn.Embedding(int(spec[a][0]), frozen_dims[a], padding_idx=0)
                                     for a in self.frozen_attrs})
        for table in self.frozen.values():
            table.weight.requires_grad_(False)
        width = sum(int(d) for _, d in spec.values()) + sum(frozen_dims[a] for a in self.frozen_attrs)
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, hidden)
        self.dropout = nn.Dropout(dropout)

    def train(self, mode: bool = True) -> "LexicalEmbedding":
        # keep the frozen tables out of the optimiser (Trainer collects requires_grad parameters)
        # even after a from_pretrained reload, which gives them requires_grad=True
        for table in self.frozen.values():
            table.weight.requires_grad_(False)
        return super().train(mode)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # ids: (batch, seq, n_attrs) -> (batch, seq, hidden)
        frozen_ids = ids
        if self.training and self.word_dropout > 0:
            # word dropout (Lample et al. 2016): a token's trainable rows are blanked at random, so the
            # tagger learns to label words it has no memory of from context, affixes and the
            # frozen vectors -- which is every name of the test set it never saw
            drop = torch.rand(ids.shape[:-1], device=ids.device) < self.word_dropout  # (batch, seq)
            keep = [a in ("shape",) for a in self.attrs]  # the shape class is never a memory of the word
            blank = drop[..., None] & ~torch.tensor(keep, device=ids.device)  # (batch, seq, n_attrs)
            ids = ids.masked_fill(blank, 0)
        parts = [self.tables[a](ids[..., i]) for i, a in enumerate(self.attrs)]
        # detached: from_pretrained hands back the frozen tables with requires_grad=True (it replaces
        # the parameters), and a model fine-tuned after reloading must not move them either
        parts += [nn.functional.embedding(frozen_ids[..., self.attrs.index(a)], self.frozen[a].weight.detach(), 0)
                  for a in self.frozen_attrs]
        x = torch.cat(parts, -1)  # (batch, seq, width)
        return self.dropout(self.proj(self.dropout(self.norm(x))))
