"""Stage 4: resolution. Who each quotation's source is, by name, across the article.

1. Name clusters: every name mention (speakers, and names standing after a title anywhere in the
   article: ``المستشارة الألمانية، أنجيلا #ميركل``) joins the cluster of a name whose words
   contain its words or are contained in them (``دانفورد`` ~ ``جوزيف دانفورد``). A cluster's
   ``speaker_name`` is its fullest form (most words; ties go to the form read after a title, then
   to the one used for a speaker, then to the first in the text).
2. Dropped sources (``وأضاف``, ``ولفت إلى``, ``مضيفا``) take the current source: for a
   participle or masdar cue (``مضيفا``, ``بالقول``) the source of the sentence it hangs on (a
   quotation earlier in the sentence, else the first known name in the sentence); for a finite
   verb the most recent source: a quotation's speaker, or a known name that opens a sentence
   outside any quotation (``وبارك بن دغر ...``).
3. Nominal mentions (``المسؤول الأوروبي``, ``الرئيس التركي``, ``المصدر``) become the name whose
   title contains the same words, else the most recent source whose name contains the head noun
   (``الحزب`` -> ``حزب الله``), else, for a person's title, the current source.
4. The speaker span of a resolved quotation is the nearest mention of its cluster before the cue
   (a name mention where there is one), as the guidelines ask.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from itertools import compress, count
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from .contents import Candidate
from .lexicon import Lexicon
from .sources import Mention, SourceFinder
from .text import KeyText

# Clusters compare names the way the scorer does (khabar.evaluation.names.same_source: one name's
# words contained in the other's), on the key forms (already normalised like normalise_name), with
# one-letter words ignored and long vowels skipped (_skeleton). Also accepting same_source's own
# test on the raw words merged distinct sources on quotes-dev (attribution precision 0.863 -> 0.856).

_SYNONYMS = {"المتحدث": ("متحدث", "المتحدث", "الناطق", "ناطق", "المتحدثه", "الناطقه"), "الناطق": ("متحدث", "المتحدث", "الناطق", "ناطق")}


@dataclass(slots=True)
class Cluster:
    id: int
    forms: list[tuple[str, ...]] = field(default_factory=list)  # key words of each member
    # key words -> original text, or a function that returns it: the resolver's surfaces are
    # computed when read (``name``), most forms' never are (``surface_of`` reads any)
    surfaces: dict[tuple[str, ...], "str | Callable[[], str]"] = field(default_factory=dict)
    titles: list[tuple[str, ...]] = field(default_factory=list)
    mentions: list[tuple[int, int]] = field(default_factory=list)  # token spans, in text order
    # the distinct titles (a long article repeats one title hundreds of times; the tests on titles
    # only ask whether some title matches)
    title_set: set[tuple[str, ...]] = field(default_factory=set)
    kind: str = "name"
    best: tuple[str, ...] = ()
    best_rank: tuple = ()

    def add_title(self, title: tuple[str, ...]) -> None:
        """Titles are added here, so that ``title_set`` stays the set of ``titles``."""
        self.titles.append(title)
        self.title_set.add(title)

    def words(self) -> set[str]:
        return {w for f in self.forms for w in f}

    def offer(self, words: tuple[str, ...], surface: "str | Callable[[], str]", rank: tuple) -> None:
        if words not in self.surfaces:
            self.forms.append(words)
            self.surfaces[words] = surface
        if not self.best or rank > self.best_rank:
            self.best, self.best_rank = words, rank

    def surface_of(self, words: tuple[str, ...]) -> str:
        s = self.surfaces[words]
        if not isinstance(s, str):
            s = self.surfaces[words] = s()
        return s

    @property
    def name(self) -> str:
        return self.surface_of(self.best)


_LONG_VOWELS = str.maketrans("", "", "اويء")
# surface(): diacritics and tatweel deleted, the "#" of a hashtag deleted, its "_" and the quotation
# marks of 'باسم "أحرار الشام"' made spaces; one character to at most one, none mapped twice.
_SURFACE = str.maketrans({**{chr(c): None for c in range(0x064B, 0x0660)}, "\u0670": None, "\u0640": None, "#": None,
                          "_": " ", **{q: " " for q in '"«»“”'}})


def _skeleton(word: str) -> str:
    """A word without its long vowels: جوزف ~ جوزيف، غوتيريس ~ غوتيرس."""
    return word[0] + word[1:].translate(_LONG_VOWELS) if word else word


def _core(words: tuple[str, ...]) -> set[str]:
    return {_skeleton(w) for w in words if len(w) > 1}


def _surface(kt: KeyText, m: Mention) -> str:
    """:meth:`Resolver.surface` of a mention in ``kt``."""
    s = kt.original_text(m.start, m.end).translate(_SURFACE)
    first = s.split(" ", 1)
    if m.words and first and first[0] and m.words[0] != kt.texts[m.start].lstrip("#"):
        # The clitic ل of "لمكتب"/"للبيت" was removed from the key words: undo it here too.
        w0 = first[0]
        w0 = ("ال" + w0[2:]) if w0.startswith("لل") else w0[1:]
        s = w0 + (" " + first[1] if len(first) > 1 else "")
    return " ".join(s.split())


class Resolver:
    """Clusters names and resolves dropped and nominal sources (see the module docstring)."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        # _core of each form, kept across articles (a pure function of the words; names recur)
        self._cores: dict[tuple[str, ...], set[str]] = {}

    def prepare(self, kt: KeyText, sources: SourceFinder) -> None:
        self.kt = kt
        self.sources = sources
        self.clusters: list[Cluster] = []
        self.by_mention: dict[tuple[int, int], Cluster] = {}
        self._lead_words: int | None = None  # word tokens of the first paragraph, counted once
        # Clusters by the skeleton words of their forms: two cores one inside the other share a
        # word, so only these clusters can take a new name (scanning every cluster's every form per
        # name was quadratic in a long article's number of names).
        self._by_word: dict[str, set[int]] = {}
        # For resolve_nominal, which would otherwise test every cluster per nominal mention:
        # clusters by each word of their titles, and by the first word of their forms and titles.
        self._by_title_word: dict[str, set[int]] = {}
        self._by_head: dict[str, set[int]] = {}

    def _core_of(self, words: tuple[str, ...]) -> set[str]:
        core = self._cores.get(words)
        if core is None:
            if len(self._cores) > 50_000:
                self._cores.clear()  # a bound for a process that reads a whole corpus
            core = self._cores[words] = _core(words)
        return core

    def _offer(self, c: Cluster, words: tuple[str, ...], m: Mention, rank: tuple, core: set[str]) -> None:
        """``c.offer`` (inline) and the indexes; ``core`` is ``_core_of(words)``."""
        # the surface only of a form the cluster does not have yet (offer keeps the first one),
        # and computed only if read: bound to this article's key text
        surfaces = c.surfaces
        if words not in surfaces:
            c.forms.append(words)
            surfaces[words] = partial(_surface, self.kt, m)
        if not c.best or rank > c.best_rank:
            c.best, c.best_rank = words, rank
        by_word, cid = self._by_word, c.id
        for w in core:
            ids = by_word.get(w)
            if ids is None:
                by_word[w] = {cid}
            else:
                ids.add(cid)
        if words:
            ids = self._by_head.get(words[0])
            if ids is None:
                self._by_head[words[0]] = {cid}
            else:
                ids.add(cid)

    def _add_title(self, c: Cluster, title: tuple[str, ...]) -> None:
        c.add_title(title)
        for w in title:
            self._by_title_word.setdefault(w, set()).add(c.id)
        if title:
            self._by_head.setdefault(title[0], set()).add(c.id)

    # -- clusters -------------------------------------------------------------------------------

    def surface(self, m: Mention) -> str:
        """The mention's text as written, diacritics removed, ``#``/``_`` of hashtags undone."""
        return _surface(self.kt, m)

    def add(self, m: Mention, rank_bonus: int = 0) -> Cluster:
        words = tuple(m.words)
        key = (m.start, m.end)
        paragraph = self.kt.paragraphs[m.start]
        if paragraph == 0 and self._lead_words is None:
            # (paragraph numbers never decrease along the tokens)
            self._lead_words = self.kt.words_before[bisect_right(self.kt.paragraphs, 0)]
        in_body = 1 if paragraph > 0 or self._lead_words > 12 else 0  # type: ignore[operator]
        # A coordination ("وزارة الخزانة والحكومة الإماراتية") is never the fullest name of one source.
        single = 1
        for w in words[1:]:
            if len(w) > 3 and w[0] == "و":
                single = 0
                break
        core = self._core_of(words)
        rank = (single, len(core), in_body, 1 if m.title else 0, rank_bonus, -m.start)
        c = self.by_mention.get(key)
        if c is not None:
            self._offer(c, words, m, rank, core)
            return c
        found = self._matching_cluster(core, m.kind) if m.kind in ("name", "org") else None
        if found is None:
            found = Cluster(len(self.clusters), kind=m.kind)
            self.clusters.append(found)
        self._offer(found, words, m, rank, core)
        if m.title:
            self._add_title(found, m.title)
        insort(found.mentions, key)  # mentions stay sorted (was append + sort: quadratic)
        self.by_mention[key] = found
        return found

    def _matching_cluster(self, core: set[str], kind: str) -> Cluster | None:
        """The latest cluster (highest id) of this kind with a form whose core is inside ``core``
        or contains it; what scanning ``reversed(self.clusters)`` found."""
        if not core:
            return None
        sharing: set[int] = set()
        for w in core:
            sharing |= self._by_word.get(w, set())
        for cid in sorted(sharing, reverse=True):
            c = self.clusters[cid]
            if c.kind != kind:
                continue
            for f in c.forms:
                fc = self._core_of(f)
                if fc and (core <= fc or fc <= core):
                    return c
        return None

    def harvest_titles(self) -> None:
        """Names next to a title anywhere in the article (outside quotation marks) join the
        clusters: after it (``المستشارة الألمانية، أنجيلا ميركل``) or, for two- and three-word
        names, right before it (``بيتر دوسن مدير ...``, ``إبراهيم كالين المتحدث باسم ...``)."""
        texts, is_word = self.kt.texts, self.kt.is_word
        sentence_of = self.kt.sentence_of
        quoted = self.sources.contents.quoted
        src = self.sources
        words = self.lexicon.words
        titles = words.get("titles", ())
        places, person_titles, org_heads = words.get("places", ()), words.get("person_titles", ()), words.get("org_heads", ())
        n = len(texts)
        titled, boundary, cue_at = src._titled, src._boundary, src.contents.cue_at
        # only the title words need the work below: find them with one set look-up per token
        for j in self.kt.indexes_of(titles):
            w = texts[j]
            if not is_word[j] or quoted[j]:
                continue
            if j and texts[j - 1] in titles:  # ("" is no title)
                continue
            limit = n if n < j + 14 else j + 14
            m = titled(j, limit, names_only=True)  # (only a name is added below)
            if m is not None and m.kind == "name":
                # a name read after a title ends at punctuation, a stop word, a cue or the text end
                e = m.end
                if e >= n or boundary(e) or texts[e] in titles or texts[e].startswith("ال"):
                    self.add(m)
            if w in places or w.startswith("ال") and w not in person_titles:
                continue  # a nationality adjective after a name is not an apposition
            # A name run ending right before the title.
            a = j
            while a - 1 >= 0 and j - a < 3 and is_word[a - 1] and not boundary(a - 1) \
                    and sentence_of[a - 1] == sentence_of[j] and texts[a - 1][0] not in "وف" \
                    and not texts[a - 1].startswith("ال") and texts[a - 1] not in titles \
                    and texts[a - 1] not in org_heads:
                a -= 1
            if j - a >= 2:
                # Left edge: the sentence start, punctuation, or a verb (a cue or a و-word).
                if a == 0 or not is_word[a - 1] or (a - 1) in cue_at or texts[a - 1][0] in "وف":
                    m2 = src._mention(a, j, "name", title=(j, min(limit, j + 3)))
                    self.add(m2)

    def find_mentions(self) -> list[tuple[int, int, Cluster]]:
        """Every occurrence of a known name in the article (longest first, no overlaps)."""
        # word -> form length -> form -> the first cluster listing it (of equal lengths the first
        # listed won): one lookup per length, not a comparison per form starting with the word
        # (a long article has many names sharing a first name)
        index: dict[str, dict[int, dict[tuple[str, ...], Cluster]]] = {}
        particles = self.lexicon.words.get("name_particles", ())  # (Lexicon.is_'s set)

        def put(word: str, f: tuple[str, ...], c: Cluster) -> None:
            # index.setdefault(word, {}).setdefault(len(f), {}).setdefault(f, c), without the two
            # dicts made per call to be dropped when the keys are there
            by_len = index.get(word)
            if by_len is None:
                index[word] = {len(f): {f: c}}
                return
            forms = by_len.get(len(f))
            if forms is None:
                by_len[len(f)] = {f: c}
            elif f not in forms:
                forms[f] = c

        for c in self.clusters:
            if c.kind != "name":
                continue
            for f in c.forms:
                if f:
                    put(f[0], f, c)
                    last = f[-1]
                    if len(f) > 1 and len(last) > 2 and last not in particles:
                        put(last, (last,), c)
        lengths = {w: sorted(by_len, reverse=True) for w, by_len in index.items()}
        out = []
        j = 0  # the first token a new occurrence may start at (occurrences do not overlap)
        # only tokens that begin some form can start an occurrence: one look-up per token
        bare = self.kt.bare_texts
        for k in list(compress(count(), map(index.__contains__, bare))):
            if k < j:
                continue
            w = bare[k]
            best = None
            by_len = index[w]
            for L in lengths[w]:
                c = by_len[L].get(tuple(bare[k : k + L]))
                if c is not None:
                    best = (L, c)
                    break
            if best:
                out.append((k, k + best[0], best[1]))
                j = k + best[0]
            else:
                j = k + 1
        return out

    # -- resolution -----------------------------------------------------------------------------

    def resolve_nominal(self, m: Mention, before: int, current: Cluster | None) -> Cluster | None:
        words = set(m.words)
        head = m.words[0] if m.words else ""
        if not head.startswith("ال") and head not in ("ولي",) and not self.lexicon.is_("person_titles", head):
            return None  # "متحدث باسم وزارة العدل": an indefinite phrase introduces a new source
        # 1. A name whose title has these words (الرئيس التركي -> رجب طيب أردوغان), or
        # 2. a source whose name or title is headed by the head noun (الحزب -> حزب الله).
        # The most recent one before the mention wins.
        bare = head[2:] if head.startswith("ال") else head
        heads = set(_SYNONYMS.get(head, ())) | {bare, head}
        specific = "باسم" in words  # "المتحدث باسم الضريح" names its own source
        best = None
        for c in self._nominal_candidates(words, heads, specific):
            ok = any(words and words <= set(t) for t in c.title_set) and (not specific or len(words) > 2)
            if not ok and not specific:
                ok = bool(heads & {f[0] for f in c.forms if f}) or any(t and t[0] in heads for t in c.title_set)
                ok = ok and not (tuple(m.words) in c.forms and len(c.forms) == 1)
            if not ok or not c.mentions:
                continue
            k = bisect_left(c.mentions, (before,))  # mentions starting before ``before``
            if not k and not any(words and words <= set(t) for t in c.title_set):
                continue  # a head noun refers back, never forward
            score = (1, c.mentions[k - 1][0]) if k else (0, -c.mentions[0][0])
            if best is None or score > best[0]:
                best = (score, c)
        if best:
            return best[1]
        if specific:
            return None
        # 3. A person's title: the current source.
        if current is not None and len(m.words) <= 2 and (self.lexicon.is_("person_titles", head) or head in _SYNONYMS):
            return current
        # 4. A longer person title ("نائب وزير الخارجية الإيراني") with no name anywhere: the
        # article's main speaker without a title of its own, if there is one.
        if self.lexicon.is_("person_titles", head) or self.lexicon.is_("person_titles", "ال" + head):
            untitled = [c for c in self.clusters if c.kind == "name" and not c.titles and len(c.mentions) >= 2]
            if untitled:
                m.extra_guess = True
                return max(untitled, key=lambda c: (len(c.mentions), c.mentions[-1][0]))
        return None

    def _nominal_candidates(self, words: set[str], heads: set[str], specific: bool) -> list[Cluster]:
        """The clusters, in order, that resolve_nominal's tests can accept: a title holding all of
        ``words`` holds each of them; a form or title headed by one of ``heads`` (tested only
        when not ``specific``)."""
        ids: set[int] = set()
        for w in words:
            ids |= self._by_title_word.get(w, set())
        if not specific:
            for h in heads:
                ids |= self._by_head.get(h, set())
        return [self.clusters[i] for i in sorted(ids)]

    def nearest_mention(self, c: Cluster, before: int) -> tuple[int, int] | None:
        """The last mention starting before ``before``, else the first one (mentions are sorted)."""
        k = bisect_left(c.mentions, (before,))
        return c.mentions[k - 1] if k else (c.mentions[0] if c.mentions else None)

