"""CoNLL/BIO reader: one token per line, tags in IOB2, blank line between sentences.

Every sentence becomes an :class:`Article` whose text is its tokens joined by single spaces and
whose entities are character spans into that text, so NER corpora and annotated news share one
data model (and one scorer).

Formats handled (all in ``shared/data``):

* ANERcorp (CAMeL Lab split): ``token TAG`` with ``PERS``/``ORG``/``LOC``/``MISC``.
* AQMAR (Topcoder split): ``token TAG`` with ``PER``/``ORG``/``LOC``/``MIS``.
* Wojood (nested): ``token TAG [TAG ...]``, one column per nesting layer, the first the
  outermost; ``layer`` picks the column (missing columns are ``O``). Pass a ``label_map``
  for its 21 types, e.g. :data:`WOJOOD_LABEL_MAP`. Inside a span of that layer whose type maps
  to nothing (an amount, an occupation), the deeper layers' spans that map are kept
  («100 دولار»: MONEY -> «دولار» CURR; «وزير خارجية فرنسا»: OCC -> «فرنسا» GPE).
* CoNLL-2003 style ``token POS CHUNK TAG``: when the extra columns are not all tags, the last
  column is the tag. ``-DOCSTART-`` lines separate documents and are skipped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from khabar.data.article import UTF8_BOM, Article, Entity, InputError, _raise, warn

__all__ = ["ConllCorpus", "read_conll", "looks_like_conll_line", "DEFAULT_LABEL_MAP", "WOJOOD_LABEL_MAP", "WOJOOD_ANERCORP_LABEL_MAP", "LABEL_MAPS"]

# Source entity type -> our label (``None``: read as O on purpose).
DEFAULT_LABEL_MAP: dict[str, str | None] = {
    "PER": "PER", "PERS": "PER", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC", "MIS": "MISC",
}
# Wojood's flat-enough mapping (shared/data/wojood-sample/SOURCE.md): people, organisations and
# places map; GPE and FAC are places; NORP, EVENT, PRODUCT, LAW and LANGUAGE are MISC-like named
# things; numbers, dates, occupations and websites are not named entities in our guidelines.
WOJOOD_LABEL_MAP: dict[str, str | None] = {
    "PERS": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "PRODUCT": "MISC", "LAW": "MISC", "LANGUAGE": "MISC",
    "OCC": None, "DATE": None, "TIME": None, "CARDINAL": None, "ORDINAL": None, "PERCENT": None,
    "QUANTITY": None, "UNIT": None, "MONEY": None, "CURR": None, "WEBSITE": None,
}

# Wojood read as ANERcorp annotates (checked on ANERcorp train): nationality adjectives
# («الفلسطينية», Wojood NORP) are O there, currencies («دولار», Wojood CURR) are MISC.
WOJOOD_ANERCORP_LABEL_MAP: dict[str, str | None] = {**WOJOOD_LABEL_MAP, "NORP": None, "CURR": "MISC"}

# Named maps for configs (``data.sources[].label_map``).
LABEL_MAPS: dict[str, dict[str, str | None]] = {
    "default": DEFAULT_LABEL_MAP,
    "wojood": WOJOOD_LABEL_MAP,
    "wojood-anercorp": WOJOOD_ANERCORP_LABEL_MAP,
}

_TAG_RE = re.compile(r"^(?:O|([BI])-(\S+))$")


def _closed_spans(tags: list[tuple[str, str | None]], corpus: "ConllCorpus | None") -> list[tuple[str, int, int]]:
    """``(type, first token, last token)`` of the BIO spans; a stray ``I-X`` (after O or another
    type) opens a span, counted in ``corpus.n_repaired`` when a corpus is given."""
    closed: list[tuple[str, int, int]] = []
    cur: list | None = None  # [source type, first token, last token]
    for i, (bio, typ) in enumerate(tags):
        if bio == "I" and cur is not None and cur[0] == typ and cur[2] == i - 1:
            cur[2] = i
            continue
        if cur is not None:
            closed.append((cur[0], cur[1], cur[2]))
            cur = None
        if bio == "I" and corpus is not None:
            corpus.n_repaired += 1
        if bio in ("B", "I"):
            cur = [typ, i, i]
    if cur is not None:
        closed.append((cur[0], cur[1], cur[2]))
    return closed


@dataclass
class ConllCorpus:
    """What :func:`read_conll` read, with the numbers worth checking against the corpus's README."""

    articles: list[Article] = field(default_factory=list)
    n_sentences: int = 0
    n_tokens: int = 0
    # Stray I-X (after O or another type) read as B-X: IOB1-style or broken input.
    n_repaired: int = 0
    # Entities per mapped label.
    label_counts: Counter[str] = field(default_factory=Counter)
    # Entities skipped because their type maps to None or is unknown with drop_unknown=True.
    dropped_counts: Counter[str] = field(default_factory=Counter)
    n_errors: int = 0


def looks_like_conll_line(line: str) -> bool:
    """Whether ``line`` reads as ``token TAG`` (a CoNLL line), not JSON: for the hint when a file of
    one kind is given where the other is expected."""
    return len(line.split()) >= 2 and not line.lstrip().startswith(("{", "["))


def read_conll(
    path: str | Path,
    *,
    label_map: Mapping[str, str | None] | None = None,
    on_error: Callable[[InputError], None] | None = warn,
    drop_unknown: bool = False,
    layer: int = 0,
) -> ConllCorpus:
    """Read a CoNLL/BIO file into one :class:`Article` per sentence.

    ``label_map`` maps source types to labels (default :data:`DEFAULT_LABEL_MAP`); a type mapped
    to ``None`` is read as O. A type not in the map is an :class:`InputError` (file, line) sent to
    ``on_error`` and that token is read as O, unless ``drop_unknown=True`` drops it silently
    (counted in ``dropped_counts``). ``on_error=None`` raises on the first problem.
    Article ids are ``f"{file stem}-{sentence index}"`` (from 0); ``meta["tokens"]`` holds each
    token's ``[start, end]`` in the article text.
    """
    path = Path(path)
    lmap = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)
    report = on_error or _raise
    corpus = ConllCorpus()
    stem = path.stem

    tokens: list[str] = []
    tags: list[tuple[str, str | None, int]] = []  # (B/I/O, source type, line number)
    inner: list[list[tuple[str, str | None]]] = []  # per token: the deeper layers' (B/I/O, type)

    def error(msg: str, lineno: int, fld: str | None = None, then: str = "") -> None:
        # ``then``: what reading goes on to do, said only when it does go on (not when raising)
        corpus.n_errors += 1
        report(InputError(msg + (f"; {then}" if then and on_error is not None else ""), str(path), lineno, fld))

    def flush() -> None:
        if not tokens:
            return
        text_parts: list[str] = []
        spans: list[list[int]] = []
        pos = 0
        for tok in tokens:
            spans.append([pos, pos + len(tok)])
            text_parts.append(tok)
            pos += len(tok) + 1
        text = " ".join(text_parts)
        entities: list[Entity] = []
        kept: list[tuple[int, int, str]] = []  # (first token, last token, label)
        dropped: list[tuple[int, int]] = []
        for typ, first, last in _closed_spans([(b, t) for b, t, _ in tags], corpus):
            label = lmap.get(typ)
            if label is None:
                corpus.dropped_counts[typ] += 1
                dropped.append((first, last))
                continue
            kept.append((first, last, label))
        # Nested files: inside an outer span whose type maps to nothing («100 دولار» MONEY), the
        # deeper layers' entities that do map («دولار» CURR) are kept, the first layer first.
        depth = max((len(x) for x in inner), default=0)
        for d in range(depth):
            if not dropped:
                break
            layer_tags = [x[d] if d < len(x) else ("O", None) for x in inner]
            for typ, first, last in _closed_spans(layer_tags, None):
                label = lmap.get(typ)
                if (label is not None and any(a <= first and last <= b for a, b in dropped)
                        and not any(first <= kb and ka <= last for ka, kb, _ in kept)):
                    kept.append((first, last, label))
        for first, last, label in sorted(kept):
            entities.append(Entity(spans[first][0], spans[last][1], label))
            corpus.label_counts[label] += 1
        corpus.articles.append(
            Article(f"{stem}-{corpus.n_sentences}", text, entities, None, {"tokens": spans})
        )
        corpus.n_sentences += 1
        corpus.n_tokens += len(tokens)
        tokens.clear()
        tags.clear()
        inner.clear()

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1 and raw.startswith(UTF8_BOM):  # Windows editors write one; it is not part of the first token
                raw = raw[len(UTF8_BOM) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                error(f"invalid UTF-8 at byte {exc.start} of the line", lineno, then="line skipped")
                continue
            parts = line.split()
            if not parts:
                flush()
                continue
            if parts[0] == "-DOCSTART-":
                flush()
                continue
            if len(parts) == 1:
                error(f"expected 'token TAG', got one column {parts[0]!r}", lineno, "tag", "read as an O token")
                tokens.append(parts[0])
                tags.append(("O", None, lineno))
                inner.append([])
                continue
            cols = parts[1:]
            deeper: list[tuple[str, str | None]] = []
            matches = [_TAG_RE.match(c) for c in cols]
            if all(matches):
                tag = cols[layer] if layer < len(cols) else "O"
                # "O" matches with no groups: (None, None) -> ("O", None)
                deeper = [(mm.group(1) or "O", mm.group(2)) for mm in matches[layer + 1 :]]
            else:
                tag = cols[-1]
            tokens.append(parts[0])
            inner.append(deeper)
            m = _TAG_RE.match(tag)
            if m is None:
                error(f"malformed tag {tag!r} (expected O, B-TYPE or I-TYPE)", lineno, "tag", "read as O")
                tags.append(("O", None, lineno))
                continue
            if tag == "O":
                tags.append(("O", None, lineno))
                continue
            bio, typ = m.group(1), m.group(2)
            if typ not in lmap:
                if drop_unknown:
                    # Still a span boundary, so the next I- of a known type is not glued to it.
                    tags.append((bio, typ, lineno))  # dropped when its span closes
                    continue
                known = sorted(lmap)
                error(f"unknown entity type {typ!r} in tag {tag!r}; known types are {known} (map it: in a "
                      f"training config 'label_map: {{{typ}: PER}}' on the source, with PER, ORG, LOC, MISC or null "
                      "for O; in Python read_conll(label_map=...) or drop_unknown=True)", lineno, "tag", "read as O")
                tags.append(("O", None, lineno))
                continue
            tags.append((bio, typ, lineno))
    flush()
    return corpus
