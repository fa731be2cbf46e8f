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

_JUNK = re.compile(r"[#_\"'«»“”()\[\]]+")


def display_name(text: str) -> str:
    """A mention's surface form as a name: hashtag marks, underscores and quotes out, spaces collapsed."""
    return " ".join(_JUNK.sub(" ", text).split())


def _words(text: str) -> list[str]:
    return normalise_name(text).split()


def _edit1(a: str, b: str) -> bool:
    """Levenshtein distance <= 1."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def _word_match(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 4 and _edit1(a, b))


def _contained(short: list[str], long: list[str]) -> bool:
    pool = list(long)
    for w in short:
        hit = next((k for k, v in enumerate(pool) if _word_match(w, v)), None)
        if hit is None:
            return False
        pool.pop(hit)
    return True


def same_source_mention(a: str, b: str) -> bool:
    """Whether two mention texts name the same source (fuzzy word containment either way)."""
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    return _contained(wa, wb) if len(wa) <= len(wb) else _contained(wb, wa)


def cluster_mentions(mentions: Sequence[tuple[int, str]]) -> list[int]:
    """Cluster id for each ``(position, text)`` mention; ids number clusters by first appearance."""
    order = sorted(range(len(mentions)), key=lambda i: (-len(_words(mentions[i][1])), mentions[i][0]))
    clusters: list[list[int]] = []
    for i in order:
        pos, text = mentions[i]
        fits = [c for c in clusters if same_source_mention(text, mentions[c[0]][1])]
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


def fullest_name(texts: Sequence[str]) -> str:
    """The fullest form among a cluster's mention texts: most words, then most letters, then first."""
    names = [display_name(t) for t in texts]
    best = max(range(len(names)), key=lambda i: (len(_words(names[i])), len(names[i]), -i))
    return names[best]


def speaker_names(mentions: Sequence[tuple[int, str]]) -> list[str]:
    """For each mention, the fullest name of its cluster (the ``speaker_name`` of the guidelines)."""
    ids = cluster_mentions(mentions)
    by_cluster: dict[int, list[str]] = {}
    for k, (_, text) in zip(ids, mentions):
        by_cluster.setdefault(k, []).append(text)
    return [fullest_name(by_cluster[k]) for k in ids]
