"""The bootstrapper: text -> quotations with cue, speaker, speaker name, rule and score.

    >>> from khabar.bootstrap import Bootstrapper
    >>> article = Bootstrapper()('وقال الوزير أحمد علي إن "الوضع صعب جدا".')
    >>> [(q.type, q.speaker_name) for q in article.quotes]
    [('mixed', 'أحمد علي')]

Stages (one class each): :class:`~khabar.bootstrap.marks.MarkPairer`,
:class:`~khabar.bootstrap.cues.CueFinder`, :class:`~khabar.bootstrap.contents.ContentFinder`,
:class:`~khabar.bootstrap.sources.SourceFinder`, :class:`~khabar.bootstrap.resolution.Resolver`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import compress

from .contents import CLAUSE_STOP_WORDS, Candidate, ContentFinder
from .cues import Cue, CueFinder
from .lexicon import Lexicon
from .lookup import ClaimedPoints, LastByKey
from .marks import MarkPairer
from .resolution import Cluster, Resolver
from .sources import Mention, SourceFinder
from .text import QUOTE_CHARS, KeyText, variants

from khabar.data.article import Article, Quote, Span

# How much the way the source was found is trusted (multiplies the rule's and the lemma's weight).
SPEAKER_TRUST = {
    "vso": 1.0, "svo": 0.95, "relative": 0.85, "according": 0.95, "an": 1.0,
    "pro-drop": 0.9, "pro-drop-sentence": 0.92, "nominal": 0.9, "nominal-guess": 0.7, "nominal-unresolved": 0.5,
    "continuation": 0.85, "none": 0.3,
}
DEFAULT_MIN_CONFIDENCE = 0.5
_ADJUNCT_START = {"في", "خلال", "امام", "عبر", "لدي", "عند", "اثناء", "بعد", "قبل", "مع", "علي", "الي", "ل", "من", "حول", "بشان"}
_SPEECH = {"قال", "أضاف", "تابع", "صرح"}
_OPENERS = {"كما", "وكما", "ثم", "بدوره", "بدورها", "قد", "وقد", "لقد", "فقد", "كذلك", "وكذلك", "ايضا"}
# Lemmas whose object (the accused, the described) comes right after the verb: اتهم X بـ، وصف X بـ.
_OBJECT_FIRST = {"اتهم", "وصف"}
# Lemmas whose singular imperfect is mostly passive in news prose (يُعتبر "is considered").
_PASSIVE_PRONE = {"اعتبر"}
_PRONOUNS = {"انه", "انها", "انهم", "وهو", "هو", "وهي", "هي", "وهم", "هم", "لكنه", "لكنها", "ولكنه", "ولكنها"}
_RELATIVE_PRONOUNS = {"الذي", "التي", "الذين", "والذي", "والتي", "والذين"}
_DEMONSTRATIVE_WORDS = {"هذا", "هذه", "ذلك", "تلك", "هؤلاء"}
_DOCUMENT_HEADS = {"البيان", "التقرير", "الصحيفه", "الوكاله", "الرساله", "الموقع", "القناه", "المحطه", "الحكومه", "الوزاره", "الشركه", "المنظمه", "الحزب", "الحركه", "الجيش"}


class _Cover:
    """Interval queries over candidates' ``[start, end)`` spans in O(log n) each (a long article
    has hundreds of candidates; scanning them all per candidate was quadratic)."""

    def __init__(self, cands: list[Candidate]):
        order = sorted(cands, key=lambda o: o.start)
        self.starts = [o.start for o in order]
        # per prefix of ``order``: the largest end, the candidate with it, and the second largest end
        self.best: list[tuple[int, Candidate | None, int]] = []
        e1, o1, e2 = -1, None, -1
        for o in order:
            if o.end > e1:
                e1, o1, e2 = o.end, o, e1
            elif o.end > e2:
                e2 = o.end
            self.best.append((e1, o1, e2))

    def covers(self, x: int, c: Candidate) -> bool:
        """``any(o is not c and o.start <= x < o.end for o in cands)``."""
        k = bisect_right(self.starts, x)
        if k == 0:
            return False
        e1, o1, e2 = self.best[k - 1]
        return (e2 if o1 is c else e1) > x

    def overlaps(self, start: int, end: int) -> bool:
        """``any(o.start < end and start < o.end for o in cands)``."""
        k = bisect_left(self.starts, end)
        return k > 0 and self.best[k - 1][0] > start


def _is_document(m: Mention) -> bool:
    return bool(m.words) and m.words[0] in _DOCUMENT_HEADS


class Bootstrapper:
    """Rule-based quotation extractor. ``bootstrapper(article_or_text) -> Article`` with ``quotes``
    (gold schema, plus ``rule`` and ``score``) and ``entities`` left ``None`` (not annotated).

    The stages keep the current article's state, so an instance serves one article at a time:
    use one per thread or process (the CLI builds one per worker process).

    The stages derive sets from the lexicon's word classes when the instance is built (the
    source stage's variant closures and boundary words, for speed), so a :class:`Lexicon` edited
    afterwards is only partly seen: build a new instance after editing one."""

    def __init__(self, lexicon: Lexicon | None = None, min_confidence: float = 0.0):
        self.lexicon = lexicon or Lexicon.load()
        self.min_confidence = min_confidence
        self.marks = MarkPairer(self.lexicon)
        self.cues = CueFinder(self.lexicon)
        self.contents = ContentFinder(self.lexicon)
        self.sources = SourceFinder(self.lexicon)
        self.resolver = Resolver(self.lexicon)
        self._watched: frozenset[str] = frozenset()
        self._watched_sets: tuple = ()
        self._watched_size = -1

    def _watch(self) -> None:
        """The words the stages look for in every token (cue forms, quotation marks, titles), for
        one pass over an article's tokens instead of one per stage (KeyText.narrow); rebuilt if
        the lexicon's word sets are replaced or grow."""
        forms, titles = self.lexicon.forms, self.lexicon.words.get("titles", ())
        sets = self._watched_sets
        if not sets or forms is not sets[0] or titles is not sets[2] or len(forms) + len(titles) != self._watched_size:
            self._watched_sets = (forms, QUOTE_CHARS, titles, CLAUSE_STOP_WORDS)
            self._watched = frozenset().union(*self._watched_sets)
            self._watched_size = len(forms) + len(titles)

    def __call__(self, article_or_text: Article | str, id: str | None = None) -> Article:
        if isinstance(article_or_text, Article):
            src = article_or_text
            article = Article(src.id, src.text, None, None, dict(src.meta))
        else:
            article = Article(id or "text", article_or_text)
        article.quotes = [q for q in self.extract(article.text) if (q.score or 0) >= self.min_confidence]
        return article

    # -- the stages, in order -------------------------------------------------------------------

    def extract(self, text: str) -> list[Quote]:
        kt = KeyText.build(text)
        if not kt.texts:
            return []
        self._watch()
        kt.narrow(self._watched, self._watched_sets)
        pairs = self.marks(kt)
        cues = self.cues(kt)
        self.contents.prepare(kt, pairs, cues)
        self.sources.prepare(kt, self.contents)
        self.resolver.prepare(kt, self.sources)
        if not cues and ":" not in kt.key:
            # No cue and no "X:" headline: no candidate can arise (the other quotations only
            # extend candidates), so the names are not read (the resolver holds no clusters).
            return []
        # Names read after titles anywhere in the article, known before any subject is read.
        self.resolver.harvest_titles()
        for cl in self.resolver.clusters:
            for form in cl.forms:
                self.sources.learn(form)
        cands = [c for c in (self._candidate(cue) for cue in cues) if c is not None]
        cands = self._filter(kt, cands)
        cands += self._continuations(kt, cands, pairs)
        cands += self._headlines(kt, cands)
        cands.sort(key=lambda c: (c.cue.index if c.cue else c.start))
        self._resolve(kt, cands)
        return [q for q in (self._quote(kt, c) for c in cands) if q is not None]

    def _candidate(self, cue: Cue) -> Candidate | None:
        cand = self.contents(cue)
        if cand is None:
            return None
        cand.inside_quote = self.contents.quoted[cue.index]
        src = self.sources
        m: Mention | None = None
        if cue.according:
            m, cand.speaker_rule = src.after_according(cand), "according"
            if m is None:
                return None
        elif cue.entry.source_in:
            m, cand.speaker_rule = src.after_in(cand), "vso"
            if m is None:
                return None  # "وجاء ذلك بعد ...", "جاء فيه أن": no document named
        elif cue.kind in ("past", "present"):
            if cue.entry.lemma == "نقل":
                m, cand.speaker_rule = src.after_an(cand), "an"
            texts, is_word = self.contents.kt.texts, self.contents.kt.is_word
            svo_first = not cue.form.conjunction
            if m is None and svo_first:
                m, cand.speaker_rule = src.before_cue(cand), "svo"
            if m is None:
                m, cand.speaker_rule = src.after_cue(cand), "vso"
                if m is not None and cand.pending_object and m.kind == "name" and not m.title and not src._known_at(m.start) \
                        and not self.lexicon.is_("places", texts[m.start]):
                    m = None  # "أكد مواصلة مساعيه": an unknown bare "name" after the verb is its object
                object_at = cand.start if cand.rule == "prep" else cand.extra.get("object_at")
                if m is not None and object_at is not None and cue.entry.lemma in _OBJECT_FIRST \
                        and texts[cue.index + 1] in _DEMONSTRATIVE_WORDS:
                    m = None  # "ويصف هذه الدعوات بالمدمرة": a demonstrative phrase is the object
                if m is not None and object_at is not None and cue.entry.lemma in _OBJECT_FIRST \
                        and not self._object_pronoun(cue) and (m.kind == "name" or m.end - m.start > 1
                                                               and self.lexicon.is_("places", texts[m.end - 1])) \
                        and not any(is_word[m.end : object_at]):
                    # "التي تتهم رمضان بالاغتصاب": one name between the verb and ب is the accused,
                    # not the accuser (who stands before the verb or was dropped); with an object
                    # pronoun ("اتهمه X بـ") it is the subject. An organisation or a title there
                    # ("ويتهم القضاء ...", "واتهم مسؤول أفغاني الحركة ...") is kept as the subject.
                    # "وتتهم السعودية إيران بـ" read as one phrase: the place at its end is the accused.
                    last = m.end - 1
                    m = None
                    if last > cand.gap[0] and self.lexicon.is_("places", texts[last]):
                        m = src.noun_phrase(cand.gap[0], last)
                    if m is None and not svo_first:
                        m, cand.speaker_rule = src.before_cue(cand), "svo"
            if m is None and not svo_first:
                m, cand.speaker_rule = src.before_cue(cand), "svo"
            if m is not None and cand.speaker_rule == "svo" and cue.index > 0 and texts[cue.index - 1] in ("الذي", "التي", "الذين", "والذي", "والتي"):
                cand.speaker_rule = "relative"
        elif cue.kind == "other":
            m, cand.speaker_rule = self._an_before(cand), "an"
        if m is None and cand.rule == "prep" and cue.kind in ("past", "present"):
            m = self._subject_after_object(cand)
            if m is not None:
                cand.speaker_rule = "vso"
        cand.speaker = m
        if m is None:
            cand.speaker_rule = "none"
        if cand.rule in ("prep", "that") and "np" in cue.entry.takes and not cue.entry.np_needs_subject \
                and not self._prep_close(cand, m):
            # "نفت السلطات البريطانية الاتهامات الروسية ووصفتها بأنها": the complement belongs to
            # another verb; the cue's own object is the noun phrase after its subject.
            cand.rule, cand.pending_object, cand.weight = "np", True, 0.75
            cand.start = cand.end = cue.index + 1
        elif cand.rule == "prep" and not self._prep_close(cand, m):
            return None
        if cand.pending_object:
            subject_end = m.end if (m is not None and cand.speaker_rule == "vso") else cue.index + 1
            if m is not None and cand.speaker_rule == "vso" and m.end < cue.index:
                subject_end = cue.index + 1
            has_subject = m is not None and cand.speaker_rule in ("vso", "svo", "relative")
            if cue.entry.np_needs_subject and not (has_subject and self._speaker_like(m)
                                                   and (cue.kind != "present" or cue.entry.lemma not in _PASSIVE_PRONE
                                                        or self.contents.kt.texts[cue.index].endswith("ون"))):
                # "ويعتبر هذا التصويت تاريخيا": only a source-like subject; "وتعتبر ليبيا نقطة الانطلاق":
                # the singular imperfect of اعتبر is as often the passive "is considered", so only its
                # perfect and its plural imperfect (يعتبرون) are trusted
                return None
            if m is None and cue.index > 0 and self.contents.kt.texts[cue.index - 1] in _RELATIVE_PRONOUNS | _PRONOUNS:
                # "السكان الذين نفوا ...", "غير أنه ينفي ...", "وهو ينفي ...": the verb's subject is a
                # pronoun or a relative clause's antecedent, which the dropped-source rules (the
                # sentence's or the article's last source) get wrong more often than right here
                return None
            if self.contents.object_after(cand, subject_end, has_subject) is None:
                return None
        return cand

    def _subject_after_object(self, cand: Candidate) -> Mention | None:
        """Verb, object, subject: "وأعلن عن هذه الخطة المستشار النمساوي سيباستيان كورتز". A person's
        title right after a definite word of a short object, opening a titled name, is the subject;
        the object ends before it. (After an indefinite word it is a genitive: "دعم الرئيس عباس".)"""
        texts, is_word = self.contents.kt.texts, self.contents.kt.is_word
        for k in range(cand.start + 2, min(cand.end, cand.start + 6)):
            if not is_word[k] or not is_word[k - 1]:
                return None
            w, prev = texts[k], texts[k - 1]
            if self.lexicon.is_("person_titles", w) and w.startswith("ال") and prev.startswith("ال") \
                    and not self.lexicon.is_("person_titles", prev) and not self.lexicon.is_("titles", prev):
                m = self.sources.noun_phrase(k, cand.end)
                if m is not None and m.kind == "name" and m.title:
                    cand.end = k
                    return m
                return None
        return None

    def _object_pronoun(self, cue: Cue) -> bool:
        """The cue carries an object pronoun (اتهمه، تتهمها): the word without the suffix is itself
        a form of the same lemma (تتهم is not تت + هم)."""
        w = self.contents.kt.texts[cue.index][len(cue.form.conjunction):]
        for suffix in ("هما", "ها", "هم", "ه"):
            if w.endswith(suffix):
                form = self.lexicon.cue(w[: -len(suffix)])
                if form is not None and form.entry is cue.entry:
                    return True
        return False

    def _speaker_like(self, m: Mention) -> bool:
        """A subject that can hold an opinion: a person's or an organisation's name, a country, a
        person's title, an organisation or group head (not "هذا الموقف", "الإسلام")."""
        texts = self.contents.kt.texts
        w = texts[m.start]
        if w in _DEMONSTRATIVE_WORDS:
            return False
        if m.kind == "name":
            return bool(m.title) or bool(self.sources._known_at(m.start)) or self.lexicon.is_("places", w)
        return any(self.lexicon.is_("org_heads", v) or self.lexicon.is_("titles", v) or self.lexicon.is_("person_titles", v)
                   for v in variants(w))

    def _prep_close(self, cand: Candidate, m: Mention | None) -> bool:
        """A prepositional object must follow the subject (or the cue) closely: "وصف الاتحاد
        الأوروبي إطلاق الصواريخ ... بالعمل" has another object in between."""
        texts, is_word = self.contents.kt.texts, self.contents.kt.is_word
        i = cand.cue.index  # type: ignore[union-attr]
        start = m.end if (m is not None and cand.speaker_rule == "vso" and m.end <= cand.start) else i + 1
        depth = 0
        between = []
        first = next(compress(texts[start : cand.start], is_word[start : cand.start]), None)  # the first word
        if cand.rule == "that" and (first is None or first in _ADJUNCT_START or texts[start] in ("،", ",", ":")):
            return True  # "أكدت، في مؤتمر صحافي ...، أن": adjuncts between the subject and the clause
        if cand.rule == "that" and first is not None and first in _RELATIVE_PRONOUNS:
            # 'أعلنت شركة "كريم" ... والتي تعد منافسة لشركة "أوبر"، الاثنين أنها': a relative clause on
            # the subject, closed by a comma, then only adjuncts before the complement
            commas = [k for k in range(start, cand.start) if texts[k] in ("،", ",")]
            after = slice(commas[-1] + 1, cand.start) if commas else None
            if commas and all(not iw or self.lexicon.is_("adjuncts", w) for w, iw in zip(texts[after], is_word[after])):
                return True
        for w, iw in zip(texts[start : cand.start], is_word[start : cand.start]):
            depth += w == "("
            depth -= w == ")"
            if depth <= 0 and iw and not self.lexicon.is_("adjuncts", w):
                between.append(w)
        if len(between) >= 2 and texts[start] == "في":
            return len(between) <= 4  # "أعلن في بيان عن ..."
        return len(between) <= 1 if cand.cue.entry.lemma not in ("وصف", "اتهم") else len(between) <= 3  # type: ignore[union-attr]

    def _an_before(self, cand: Candidate) -> Mention | None:
        """``نقلت الوكالة عن خامنئي قوله``: the source after the last عن before the cue."""
        texts = self.contents.kt.texts
        i = cand.cue.index  # type: ignore[union-attr]
        s0 = self.contents.sentence_start[i]
        for j in range(i - 1, max(s0, i - 8) - 1, -1):
            if texts[j] in ("عن", "لسان"):
                return self.sources.noun_phrase(j + 1, i)  # "عن خامنئي قوله"، "على لسان خامنئي قوله"
        return None

    def _filter(self, kt: KeyText, cands: list[Candidate]) -> list[Candidate]:
        out: list[Candidate] = []
        is_word = kt.is_word
        # a candidate other than c covers token x; source-after quotations do not count: in
        # '"وتابع: "..."، وفقا لما نقلته الوكالة' the cue's own quotation is the one to keep
        # (each cover is built when first asked: most articles ask one or none of them)
        inside_other = say_cover = speech_cover = None
        kept: set[tuple[int, int]] = set()  # the spans in out
        for c in cands:
            if c.end <= c.start:
                continue
            if sum(is_word[c.start : c.end]) < (1 if c.type == "direct" or c.rule in ("np", "prep") else 2):
                continue  # "قال إن" and nothing after it (a noun-phrase object may be one word: نفى التقارير)
            if c.inside_quote and (c.speaker is None or c.speaker.kind != "name"):
                continue  # "من قال لك" inside a quotation: not reported speech of a known source
            if c.cue is not None and c.speaker is None:
                if inside_other is None:
                    inside_other = _Cover([o for o in cands if o.cue is None or not o.cue.according])
                if inside_other.covers(c.cue.index, c):
                    continue  # a subjectless cue inside another quotation's content belongs to it
            if c.cue is not None and c.cue.according:
                if say_cover is None:
                    says = [o for o in cands if o.cue is not None and not o.cue.according]
                    say_cover = _Cover(says)
                    speech_cover = _Cover([o for o in says if o.cue.entry.lemma in _SPEECH])
                if (say_cover if c.extra.get("channel") else speech_cover).overlaps(c.start, c.end):  # type: ignore[union-attr]
                    # (c, an according candidate, is never among the say candidates)
                    continue  # "..., بحسب ما نقلت عنه وكالة" / '"...", قال X، وفقا لـ Y': Y is the channel
            if (c.start, c.end) in kept:
                continue
            out.append(c)
            kept.add((c.start, c.end))
        return out

    def _continuations(self, kt: KeyText, cands: list[Candidate], pairs) -> list[Candidate]:
        """A quoted passage that continues a quotation in the next sentence joins it; one that
        opens the next paragraph becomes a quotation of the same source with no cue."""
        texts, is_word = kt.texts, kt.is_word
        new: list[Candidate] = []
        # Indexes instead of scans over all candidates per quotation mark (quadratic in a long
        # article): the candidate ending last at or before a mark (the first of equal ends in
        # by_end order, as max() over by_end kept; a joined candidate's end moves), whether a
        # claimed span covers a mark, and word counts before each token.
        # (by_end is built when a mark first gets that far: most articles' marks never do)
        by_end: LastByKey[Candidate] | None = None
        handle: dict[int, int] = {}
        claimed = ClaimedPoints(p.open for p in pairs)
        for c in cands:
            claimed.claim(c.start, c.end)
        words_before = kt.words_before
        for p in pairs:
            if p.name_like or p.close is None:
                continue
            if claimed.claimed(p.open):
                continue
            a, b = p.inner
            if sum(is_word[a:b]) < 4:
                continue
            # The quotation must be the whole sentence (nothing but punctuation around it).
            s_start = self.contents.sentence_start[p.open]
            s_end = self.contents.sentence_end[p.open]
            if any(is_word[s_start : p.open]) or any(is_word[p.close + 1 : s_end]):
                continue
            if any(i in self.contents.cue_at for i in range(s_start, s_end) if not (a <= i < b)):
                continue
            if by_end is None:
                by_end = LastByKey()  # (a subscripted call costs a typing look-up each time)
                handle = {id(c): by_end.add(c.end, c) for c in sorted(cands, key=lambda c: c.end)}
            last = by_end.last_at_most(p.open)
            if last is None:
                continue
            if words_before[p.open] > words_before[last.end]:
                continue  # words between the candidate and the quotation
            if kt.paragraphs[p.open] == kt.paragraphs[max(last.end - 1, 0)]:
                last.end = p.close + 1
                by_end.move(handle[id(last)], last.end)
                last.type = "mixed"
                claimed.claim(p.open, p.close + 1)
            elif last.type == "direct" and texts[p.close - 1] in (".", "!", "?", "؟", "…"):
                c = Candidate(None, a, b, "direct", "continuation", (0, 0), 0.85)
                c.extra["follows"] = last
                c.speaker_rule = "continuation"
                new.append(c)
                claimed.claim(a, b)
        return new

    def _headlines(self, kt: KeyText, cands: list[Candidate]) -> list[Candidate]:
        """A headline line "X: words" (no final full stop) quotes X: "السيسي: ما حدث لن يتكرر"."""
        texts, is_word = kt.texts, kt.is_word
        out: list[Candidate] = []
        # Each paragraph's token range (paragraph numbers never decrease along the tokens).
        bounds = kt.paragraph_bounds()
        paragraphs = list(zip([0] + bounds, bounds + [len(texts)])) if texts else []
        taken = _Cover(cands)  # any(s < b and start < e for the candidates' spans), by bisection
        for a, b in paragraphs:
            if texts[b - 1] in (".", "!", "?", "؟", ":") or sum(is_word[a:b]) > 25:
                continue
            colon = next((i for i in range(a, b) if texts[i] == ":"), None)
            if colon is None:
                continue
            x0 = max([a] + [i + 1 for i in range(a, colon) if texts[i] in ("/", "|", "-")])
            head = list(compress(texts[x0:colon], is_word[x0:colon]))  # the label's words
            if not 1 <= len(head) <= 3 or any(self.lexicon.is_("headline_stops", w) for w in head):
                continue
            if not all(is_word[x0:colon]) or colon - x0 != len(head):
                continue
            start = colon + 1
            if sum(is_word[start:b]) < 3 or taken.overlaps(start, b):
                continue
            m = self.sources.noun_phrase(x0, colon)
            if m is None or m.end != colon and m.kind != "name" or any(w[0] == "و" for w in head[1:]):
                continue
            # Trusted when the label is a source the article knows, a place or an anonymous source
            # ("قطر:", "مصادر:"); a label like "أزمة الخليج:" is a topic, not a speaker.
            known = bool(self.sources._known_at(x0)) or self.lexicon.is_("places", head[0]) \
                or any(head[-1] in f for cl in self.resolver.clusters for f in cl.forms) \
                or (self.lexicon.is_("org_heads", head[0]) and not head[0].startswith("ال"))
            kind = "mixed" if self.contents.has_quote(start, b) else "direct"
            c = Candidate(None, start, b, kind, "headline", (x0, colon), 0.6 if known else 0.45)
            c.speaker, c.speaker_rule = m, "vso"
            out.append(c)
        return out

    # -- resolution -----------------------------------------------------------------------------

    def _resolve(self, kt: KeyText, cands: list[Candidate]) -> None:
        res = self.resolver
        texts, is_word = kt.texts, kt.is_word
        keys = [c.cue.index if c.cue else c.start for c in cands]  # cands are sorted by these
        for c in cands:
            if c.speaker is not None and c.speaker.kind in ("name", "org"):
                c.extra["cluster"] = res.add(c.speaker, rank_bonus=1)
        occurrences = res.find_mentions()
        # (one sort per cluster, not one per new mention: a long article's speakers have hundreds)
        known: dict[int, set[tuple[int, int]]] = {}
        touched: dict[int, Cluster] = {}
        for s, e, cl in occurrences:
            have = known.get(id(cl))
            if have is None:
                have = known[id(cl)] = set(cl.mentions)
            if (s, e) not in have:
                have.add((s, e))
                cl.mentions.append((s, e))
                touched[id(cl)] = cl
        for cl in touched.values():
            cl.mentions.sort()
        occurrence_starts = [s for s, _, _ in occurrences]  # find_mentions reads left to right
        content = [False] * len(texts)
        for c in cands:
            e = min(c.end, len(texts))
            if e > c.start:
                content[c.start : e] = [True] * (e - c.start)
        # Sentence-initial subjects outside quotations ("وبارك بن دغر ...", "غريفيث أكد ...").
        # The last event before a position (the first added of equal positions, as max() over the
        # list kept), by bisection: scanning all events per dropped source was quadratic.
        events: LastByKey[Cluster] = LastByKey()
        for s, e, cl in occurrences:
            if content[s]:
                continue
            s0 = self.contents.sentence_start[s]
            n_words = kt.words_before[s] - kt.words_before[s0]
            if n_words <= 1 or (n_words <= 2 and next(texts[k] for k in range(s0, s) if is_word[k])
                                in ("وكان", "وكانت", "كما", "لكن", "يذكر")):
                events.add(s, cl)
        current: Cluster | None = None
        for c in cands:
            pos = c.cue.index if c.cue else c.start
            cl: Cluster | None = c.extra.get("cluster")
            m = c.speaker
            if c.speaker_rule == "continuation":
                prev = c.extra["follows"]
                cl = prev.extra.get("cluster")
                c.speaker = prev.speaker
                c.extra["nominal_name"] = prev.extra.get("nominal_name")
            elif m is None:
                cl = self._dropped(c, pos, cands, occurrences, events, content, current, keys, occurrence_starts)
                c.speaker_rule = c.speaker_rule if cl is None else c.extra.get("drop_rule", "pro-drop")
            elif m.kind == "nominal":
                cl = res.resolve_nominal(m, pos, current)
                c.speaker_rule = "nominal" if cl is not None else "nominal-unresolved"
                if m.extra_guess:
                    c.speaker_rule = "nominal-guess"
                if cl is None and m.words and (not m.words[0].startswith("ال") and not self.lexicon.is_("person_titles", m.words[0])
                                               or "باسم" in m.words):
                    # "متحدث باسم وزارة التجارة": a new source, which "المتحدث" may refer to later.
                    m.kind = "org"
                    cl = res.add(m)
                    c.speaker_rule = "vso"
                elif cl is None and _is_document(m):
                    # "وأضاف البيان": a statement or an outlet named by its kind is its own source.
                    m.kind = "org"
                    cl = res.add(m)
                    c.speaker_rule = "vso"
                elif cl is None:
                    c.extra["nominal_name"] = res.surface(m)
            c.extra["cluster"] = cl
            if cl is not None and not (c.cue is not None and c.cue.according and c.rule != "according-first"):
                current = cl
                events.add(pos, cl)

    def _dropped(self, c, pos, cands, occurrences, events: LastByKey[Cluster], content, current, keys: list[int],
                 occurrence_starts: list[int]) -> Cluster | None:
        """The source of a quotation whose cue has no subject of its own. ``events``: the sentence-
        initial subjects and the sources so far, by position; ``keys``: each candidate's sort key
        (its cue's index, or its start); ``occurrence_starts``: each occurrence's start."""
        sent = self.contents.sentence_start[pos]
        # The last candidate (in cands order) with a say cue in [sent, pos) and a cluster: cands
        # are sorted by key (the cue's index, or the start when there is no cue), so those are a
        # run of keys just below pos, scanned backwards (was a scan of all cands: quadratic).
        for j in range(bisect_left(keys, pos) - 1, -1, -1):
            if keys[j] < sent:
                break
            o = cands[j]
            if o is not c and o.cue is not None and not o.cue.according and o.extra.get("cluster") is not None:
                c.extra["drop_rule"] = "pro-drop-sentence"
                return o.extra["cluster"]
        words_before = self.contents.kt.words_before
        if words_before[pos] - words_before[sent] > 2:
            # A participle or a cue inside the sentence: the subject of the sentence's verb.
            subj = self._sentence_subject(sent, pos)
            if subj is not None:
                c.extra["drop_rule"] = "pro-drop-sentence"
                return subj
            # The first known name in [sent, pos) outside quotations (occurrences are in text order).
            for j in range(bisect_left(occurrence_starts, sent), len(occurrences)):
                s, _, cl = occurrences[j]
                if s >= pos:
                    break
                if not content[s]:
                    c.extra["drop_rule"] = "pro-drop-sentence"
                    return cl
        prior = events.last_below(pos)
        if prior is not None:
            c.extra["drop_rule"] = "pro-drop"
            return prior
        return current

    def _sentence_subject(self, sent: int, pos: int) -> Cluster | None:
        """"وأعربت بعثة الاتحاد الأفريقي ...، مؤكدة": the subject after the verb opening the sentence."""
        texts, is_word = self.contents.kt.texts, self.contents.kt.is_word
        j = sent
        while j < pos and (not is_word[j] or texts[j] in _OPENERS):
            j += 1
        if j + 1 >= pos:
            return None
        w = texts[j]
        if w.startswith("ال") or w.startswith(("وال", "فال")) or self.sources._known_at(j) \
                or any(self.lexicon.is_("stops", v) or self.lexicon.is_("adjuncts", v) for v in variants(w)):
            return None
        m = self.sources.noun_phrase(j + 1, pos)
        if m is None:
            return None
        if m.kind == "name" and not m.title and not self.sources._known_at(m.start) \
                and not self.lexicon.is_("places", texts[m.start]):
            return None  # "وجاء تخفيض الحكم": an unknown word after the verb is no safe subject
        if m.kind == "org" and not any(self.lexicon.is_("org_heads", v) for v in variants(texts[m.start])):
            return None
        if m.kind == "nominal":
            cl = self.resolver.resolve_nominal(m, pos, None)
            if cl is not None or not _is_document(m):
                return cl
            m.kind = "org"
        return self.resolver.add(m)

    # -- output ---------------------------------------------------------------------------------

    def _quote(self, kt: KeyText, c: Candidate) -> Quote | None:
        if c.end <= c.start or c.end > len(kt.texts):
            return None
        start, end = kt.original_span(c.start, c.end)
        cue = None
        if c.cue is not None:
            cue = Span(*kt.original_span(c.cue.index, c.cue.index + 1))
        cl: Cluster | None = c.extra.get("cluster")
        speaker = None
        name = None
        if cl is not None:
            name = cl.name
            m = c.speaker
            if m is not None and m.kind in ("name", "org"):
                span = (m.start, m.end)
            else:
                span = self.resolver.nearest_mention(cl, c.cue.index if c.cue else c.start)
            if span is not None:
                speaker = Span(*kt.original_span(*span))
        elif c.speaker is not None:
            m = c.speaker
            speaker = Span(*kt.original_span(m.start, m.end))
            name = c.extra.get("nominal_name") or self.resolver.surface(m)
        lemma_weight = c.cue.entry.weight if c.cue is not None else 0.9
        score = c.weight * lemma_weight * SPEAKER_TRUST.get(c.speaker_rule, 0.5)
        if name is None:
            score = min(score, 0.3)
        lemma = c.cue.entry.lemma if c.cue is not None else "-"
        return Quote(start, end, c.type, cue, speaker, name, round(score, 4), f"{c.rule}/{c.speaker_rule}/{lemma}")
