"""Speaker canonicalisation: cluster the mentions of one source in an article, name it by its fullest form.

``جوزيف دانفورد`` / ``دانفورد`` / ``جوزف دانفورد`` are one source: after the guidelines' name
normalisation, one mention's words are all found in the other's, a word matching a word when equal
or (both of 4+ letters) one edit apart. Clusters grow from the fullest names down; a short mention
that fits several clusters (``الرئيس``) joins the one with the nearest mention, preferring earlier.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from typing import Sequence

from khabar.evaluation.names import normalise_name

_PROCLITIC_AL = ("وال", "فال", "بال", "كال")
_JUNK = re.compile(r"[#_\"'«»“”()\[\]]+")


def display_name(text: str, known_words: set[str] | None = None) -> str:
    """A mention's surface form as a name: hashtag marks, underscores and quotes out, spaces
    collapsed, and a proclitic glued to the first word dropped (``للبيت الأبيض`` -> ``البيت الأبيض``,
    ``والمرأة`` -> ``المرأة``). A single-letter one (``لمكتب``) only goes when the bare word is in
    ``known_words`` (normalised words of the article), so ``لبنان`` stays ``لبنان``."""
    words = _JUNK.sub(" ", text).split()
    if words:
        w = words[0]
        if w.startswith("لل") and len(w) > 4:
            words[0] = "ال" + w[2:]
        elif w.startswith(_PROCLITIC_AL) and len(w) > 5:
            words[0] = w[1:]
        elif w[:1] in ("و", "ف", "ل", "ب") and len(w) > 3 and known_words and normalise_name(w[1:]) in known_words:
            words[0] = w[1:]
    return " ".join(words)


def _words(text: str) -> list[str]:
    return list(_name_words(text))


@functools.lru_cache(maxsize=1 << 16)
def _name_words(text: str) -> tuple[str, ...]:
    """The normalised words of a mention text, cached per form: a news stream names the same
    people and bodies over and over, and normalisation (NFKC, marks, letters, punctuation) was a
    third of naming an article's speakers."""
    return tuple(normalise_name(text).split())


def _edit1(a: str, b: str) -> bool:
    """One letter inserted or deleted (``جوزيف``/``جوزف``), or one substituted before the last
    letter: a different final letter often makes a different word (``المتحدث``/``المتحدة``)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return i < len(a) - 1 and len(a) >= 5 and a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]




def _variants(word: str) -> set[str]:
    """A word and its forms without a glued proclitic (``للبيت`` -> ``البيت``, ``والمرأة`` -> ``المرأة``)."""
    out = {word}
    if word.startswith("لل") and len(word) > 4:
        out.add("ال" + word[2:])
    if word.startswith(_PROCLITIC_AL) and len(word) > 5:
        out.add(word[1:])
    if word[:1] in ("و", "ف", "ل", "ب") and len(word) > 4:
        out.add(word[1:])
    return out


def _word_match(a: str, b: str) -> bool:
    if a == b or _variants(a) & _variants(b):
        return True
    return min(len(a), len(b)) >= 4 and _edit1(a, b)


def _contained(short: list[str], long: list[str]) -> bool:
    pool = list(long)
    for w in short:
        hit = next((k for k, v in enumerate(pool) if _word_match(w, v)), None)
        if hit is None:
            return False
        pool.pop(hit)
    return True


def _same(wa: list[str], wb: list[str]) -> bool:
    if not wa or not wb:
        return False
    return _contained(wa, wb) if len(wa) <= len(wb) else _contained(wb, wa)


def same_source_mention(a: str, b: str) -> bool:
    """Whether two mention texts name the same source (fuzzy word containment either way)."""
    return _same(_words(a), _words(b))


def _match_keys(word: str) -> set[tuple[str, str]]:
    """Index keys of a word: two words that :func:`_word_match` share at least one (a superset
    filter; the match itself is still decided by :func:`_word_match`). ``=`` keys: the word's
    :func:`_variants` (equal words, a shared proclitic-less form); ``~`` keys (4+ letters): the word
    and its one-letter deletions, which any pair one edit apart has in common."""
    keys = {("=", v) for v in _variants(word)}
    if len(word) >= 4:
        keys.add(("~", word))
        keys.update(("~", word[:k] + word[k + 1 :]) for k in range(len(word)))
    return keys


def cluster_mentions(mentions: Sequence[tuple[int, str]]) -> list[int]:
    """Cluster id for each ``(position, text)`` mention; ids number clusters by first appearance.

    Mentions join clusters fullest first, so a cluster's first (representative) mention has at
    least as many words as any later one: a mention fits a cluster when all its words are found in
    the representative's. Candidate clusters come from an index of the representatives' words
    (:func:`_match_keys`), and each cluster keeps its members' positions sorted, so the nearest
    cluster is found by bisection: an article's hundreds of mentions cost linear time, not
    mentions x clusters."""
    normalised: dict[str, list[str]] = {}  # once per distinct text: articles can hold thousands of mentions
    words = [normalised[t] if t in normalised else normalised.setdefault(t, _words(t)) for _, t in mentions]
    order = sorted(range(len(mentions)), key=lambda i: (-len(words[i]), mentions[i][0]))
    clusters: list[list[int]] = []
    positions: list[list[int]] = []  # per cluster, its members' positions, sorted
    index: dict[tuple[str, str], list[int]] = {}  # word key -> clusters whose representative has it
    word_keys: dict[str, set[tuple[str, str]]] = {}
    # words -> (clusters examined so far, those it fits): a repeated mention (``الرئيس`` x 50)
    # only examines the clusters created since its last occurrence
    known: dict[tuple[str, ...], tuple[int, list[int]]] = {}

    def keys_of(w: str) -> set[tuple[str, str]]:
        if w not in word_keys:
            word_keys[w] = _match_keys(w)
        return word_keys[w]

    for i in order:
        pos = mentions[i][0]
        wi = words[i]
        checked, fits = known.get(tuple(wi), (0, []))
        if checked < len(clusters):
            candidates: set[int] | None = None
            for w in wi:  # every word must match one of the representative's: intersect
                hits: set[int] = set()
                for key in keys_of(w):
                    posting = index.get(key)
                    if posting:  # cluster ids ascend: the ones not examined yet are a tail
                        hits.update(posting[bisect.bisect_left(posting, checked) :])
                candidates = hits if candidates is None else candidates & hits
                if not candidates:
                    break
            # in creation order: min() below keeps the first on ties
            fits.extend(k for k in sorted(candidates or ()) if _same(wi, words[clusters[k][0]]))
            known[tuple(wi)] = (len(clusters), fits)
        if not fits:
            k = len(clusters)
            clusters.append([i])
            positions.append([pos])
            for w in set(wi):
                for key in keys_of(w):
                    index.setdefault(key, []).append(k)
            continue

        def distance(k: int) -> tuple[int, int]:
            # (0 if a member stands at or before pos, else 1), then the distance to the nearest member
            ps = positions[k]
            j = bisect.bisect_left(ps, pos)
            d = min(ps[j] - pos if j < len(ps) else math.inf, pos - ps[j - 1] if j else math.inf)
            return (0 if ps[0] <= pos else 1, d)

        best = fits[0] if len(fits) == 1 else min(fits, key=distance)
        clusters[best].append(i)
        bisect.insort(positions[best], pos)
    firsts = sorted(range(len(clusters)), key=lambda k: positions[k][0])
    rank = {k: r for r, k in enumerate(firsts)}
    out = [0] * len(mentions)
    for k, c in enumerate(clusters):
        for j in c:
            out[j] = rank[k]
    return out


def fullest_name(texts: Sequence[str], own: int | None = None, known_words: set[str] | None = None) -> str:
    """The fullest form among a cluster's mention texts: most words, then most letters; on a tie
    the mention ``own`` itself, else the first."""
    names = [display_name(t, known_words) for t in texts]

    def key(i: int) -> tuple[int, int, bool, int]:
        words = _words(names[i])
        return (len(words), sum(len(w) for w in words), i == own, -i)

    return names[max(range(len(names)), key=key)]


class _ArticleWords:
    """``set(normalise_name(text).split())`` for :func:`display_name`, built on the first look-up.

    display_name looks a word up only for a first word glued to a one-letter proclitic, and
    normalising a whole article costs more than naming all its speakers, so an article that never
    asks never pays. Always true: ``known and w in known`` is then the same as with the set (an
    empty set, false, holds nothing either)."""

    __slots__ = ("text", "words")

    def __init__(self, text: str):
        self.text = text
        self.words: set[str] | None = None

    def __bool__(self) -> bool:
        return True

    def __contains__(self, word: object) -> bool:
        if self.words is None:
            self.words = set(normalise_name(self.text).split())
        return word in self.words


def speaker_names(mentions: Sequence[tuple[int, str]], text: str | None = None) -> list[str]:
    """For each mention, the fullest name of its cluster (the ``speaker_name`` of the guidelines).
    ``text``: the article, whose words tell which glued proclitics to drop.

    Same result as :func:`fullest_name` over each mention's cluster, in one pass per cluster: the
    cluster's best (words, letters) wins; on a tie the mention's own form, else the first."""
    known = _ArticleWords(text) if text else None
    ids = cluster_mentions(mentions)
    members: dict[int, list[int]] = {}
    for i, k in enumerate(ids):
        members.setdefault(k, []).append(i)
    shown: dict[str, tuple[str, tuple[int, int]]] = {}  # mention text -> display name, (words, letters)

    def form(t: str) -> tuple[str, tuple[int, int]]:
        if t not in shown:
            name = display_name(t, known)
            words = _words(name)
            shown[t] = (name, (len(words), sum(len(w) for w in words)))
        return shown[t]

    out = [""] * len(mentions)
    for group in members.values():
        forms = [form(mentions[j][1]) for j in group]
        top = max(f[1] for f in forms)
        first = next(f[0] for f in forms if f[1] == top)
        for j, (name, size) in zip(group, forms):
            out[j] = name if size == top else first
    return out
