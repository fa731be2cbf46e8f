"""Speaker canonicalisation: cluster the mentions of one source in an article, name it by its fullest form.

``جوزيف دانفورد`` / ``دانفورد`` / ``جوزف دانفورد`` are one source: after the guidelines' name
normalisation, one mention's words are all found in the other's, a word matching a word when equal
or (both of 4+ letters) one edit apart. Clusters grow from the fullest names down; a short mention
that fits several clusters (``الرئيس``) joins the one with the nearest mention, preferring earlier.
"""

from __future__ import annotations

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
    return normalise_name(text).split()


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


def cluster_mentions(mentions: Sequence[tuple[int, str]]) -> list[int]:
    """Cluster id for each ``(position, text)`` mention; ids number clusters by first appearance."""
    words = [_words(t) for _, t in mentions]  # normalised once: articles can hold hundreds of mentions
    order = sorted(range(len(mentions)), key=lambda i: (-len(words[i]), mentions[i][0]))
    clusters: list[list[int]] = []
    verdict: dict[tuple[tuple[str, ...], tuple[str, ...]], bool] = {}
    for i in order:
        pos = mentions[i][0]
        fits = []
        for c in clusters:
            key = (tuple(words[i]), tuple(words[c[0]]))
            if key not in verdict:
                verdict[key] = _same(words[i], words[c[0]])
            if verdict[key]:
                fits.append(c)
        if not fits:
            clusters.append([i])
            continue

        def distance(c: list[int]) -> tuple[int, int]:
            d = min(abs(pos - mentions[j][0]) for j in c)
            before = any(mentions[j][0] <= pos for j in c)
            return (0 if before else 1, d)

        min(fits, key=distance).append(i)
    firsts = sorted(range(len(clusters)), key=lambda k: min(mentions[j][0] for j in clusters[k]))
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


def speaker_names(mentions: Sequence[tuple[int, str]], text: str | None = None) -> list[str]:
    """For each mention, the fullest name of its cluster (the ``speaker_name`` of the guidelines).
    ``text``: the article, whose words tell which glued proclitics to drop."""
    known = set(normalise_name(text).split()) if text else None
    ids = cluster_mentions(mentions)
    members: dict[int, list[int]] = {}
    for i, k in enumerate(ids):
        members.setdefault(k, []).append(i)
    out = []
    cache: dict[tuple[int, str], str] = {}
    for i, k in enumerate(ids):
        group = members[k]
        key = (k, mentions[i][1])  # a tie goes to the mention's own text: same text, same name
        if key not in cache:
            cache[key] = fullest_name([mentions[j][1] for j in group], group.index(i), known)
        out.append(cache[key])
    return out
