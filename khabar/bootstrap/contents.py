"""Stage 2: contents. For each cue, where its quotation starts and ends (guidelines' span rules).

* ``direct``: the cue (with its subject and adjuncts) is followed by quotation marks or a colon:
  the content is the text between the marks, marks excluded. When the sentence goes on after
  the closing mark with more words (``"لا تختبروا" إسرائيل``) the quotation is ``mixed`` and runs
  to the end of the clause, marks included.
* ``indirect``/``mixed``: a complementiser (``أن إن بأن أنه ...``, with ``من/على/إلى`` before it)
  or a prepositional object the lemma takes (``دعا إلى``, ``حذر من``, ``طالب بـ``) starts the
  content; it runs to the end of the clause: the sentence end (final punctuation excluded), or a
  comma followed by a new cue (``، مضيفا``, ``، وقال``), by a source-after cue (``، بحسب``) or by
  a clause that comments on the quotation (``، الأمر الذي``). A quotation mark opened inside the
  content carries it to the closing mark. ``mixed`` when a non-name quotation mark is inside.
* noun-phrase objects (``أعلن مقتل ...``) start after the subject, so they are completed by
  :meth:`ContentFinder.object_after` once the sources stage knows where the subject ends.
* source-after cues (``بحسب X``, ``وفقا لـ X``): the content is the clause before the comma in
  front of the cue, or the rest of the sentence when the cue opens it.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import compress

from .cues import Cue
from .lexicon import CueEntry, Lexicon
from .marks import MarkPair
from .text import KeyText, QUOTE_CHARS, SENTENCE_END

MAX_GAP = 30
# Speech verbs that start a new quotation even without a comma before them ("... وقال").
STRONG_LEMMAS = {"وصف", "اتهم", "قال", "أضاف", "تابع", "أكد", "أوضح", "أشار", "لفت", "شدد", "اعتبر", "رأى", "صرح", "ذكر", "حذر", "دعا"}  # tokens between a cue and its complement (subject, titles, adjuncts)

COMPLEMENTISERS = {
    "ان", "بان", "انه", "انها", "انهم", "انهما", "اننا", "انني", "انك", "انكم", "انهن", "اني",
    "بانه", "بانها", "بانهم", "بانهما", "باننا", "بانني",
}
_ADJUNCT_PREPS = {"في", "خلال", "امام", "عبر", "لدي"}
_BARE_PREPS = {"عن", "من", "علي", "الي", "في", "حول", "ب", "ل", "بشان", "ك", "عبر"}
_NOT_COMPLEMENT_BEFORE = {"بعد", "قبل", "منذ", "دون", "بدون", "حتي", "لحين", "ريثما", "الا", "رغم", "برغم", "غير", "مجرد", "بمجرد", "ما"}
_PREP_BEFORE_COMPLEMENT = {"من", "علي", "الي", "عن", "في"}  # key forms: على -> علي، إلى -> الي
# After a comma, these open a clause that comments on the quotation rather than continuing it.
_BREAKERS = {"الامر", "وهو", "وهي", "وذلك", "دون", "بدون", "في اشاره", "علي حد", "حسب", "بحسب", "وفق", "وفقا", "طبقا", "نقلا", "حسبما", "بينما", "فيما", "ما", "مما"}
_BREAK_PHRASES = ("الامر الذي", "وهو", "وهي", "في اشاره", "علي حد", "دون ان", "بدون ان", "وذلك في", "وذلك خلال", "وذلك بعد", "وذلك عقب",
                  # where it was said, after the quotation: "...، في مؤتمر للأمن في ميونخ"
                  "في مؤتمر", "خلال مؤتمر", "في كلمه", "خلال كلمه", "في تصريح", "في تصريحات", "في حديث", "خلال حديث",
                  "في مقابله", "خلال مقابله", "خلال لقاء", "في تغريده", "عبر حسابه", "عبر حسابها")
# Words that may stand between a comma and the cue that starts a new quotation.
_LINKERS = {"و", "كما", "فيما", "بينما", "لكن", "لكنه", "لكنها", "ولكن", "ولكنه", "الا", "انه", "انها", "ثم", "قبل", "بعد", "ان", "حيث", "اذ"}
# Three-letter ب-words that are a prepositional object (برد فعل); the others are mostly pronouns (بها).
_SHORT_B_OBJECTS = {"برد", "بحل", "بدعم", "بوقف"}
# ب-words that are not a prepositional object.
_NOT_B_OBJECT = {"باسم", "باسمه", "باسمها", "بعد", "بين", "بشان", "بدوره", "بدورها", "بدورهم", "بيان", "بيانا", "بالنسبه", "بالتزامن", "بالاضافه", "بحسب", "بقياده", "بان", "بانه", "بانها", "بلاده", "بلادها", "بينها", "بينهم", "بينما", "بيد", "بدءا", "بناء", "بالمئه", "بالمائه", "بالاضافه", "بالتالي", "بروكسل", "بريطانيا", "بغداد", "بيروت", "بكين", "برلين", "باريس", "بيونغيانغ", "بوتين", "بومبيو", "بولتون", "بايدن", "بن"}


# Words that open a predicate, not an object: after "يعتبر X" they make X the passive subject.
_PREDICATE_STARTS = {"احد", "احدي", "من", "اكثر", "اكبر", "اول", "اولي", "ثاني", "ثالث", "اهم", "ابرز", "اقدم", "افضل", "اخطر", "اقوي", "جزءا", "بمثابه"}
# Conjunctions and subordinators that open a new clause: a noun-phrase object does not run past them.
_NP_CLAUSE_OPENERS = {"لكن", "لكنه", "لكنها", "لكنهم", "ولكن", "ولكنه", "ولكنها", "بينما", "فيما", "حيث", "اذ", "عندما", "حين",
                      "كما", "ما", "مما", "الا", "غير", "بل"}
_NP_BUT = {"لكن", "لكنه", "لكنها", "لكنهم", "ولكن", "ولكنه", "ولكنها", "بل"}
_CLAUSE_COMMAS = ("،", ",", "؛", ";")
# the words clause_end acts on (besides quotation marks and cues): it steps from one to the next
CLAUSE_STOP_WORDS = frozenset(_CLAUSE_COMMAS) | frozenset(_NP_BUT)
_DEMONSTRATIVES = {"هذا", "هذه", "هذين", "هاتين", "هؤلاء", "ذلك", "تلك", "اولئك"}


def _definite(w: str) -> bool:
    """A definite noun (key form): the article, not a pronoun-like word that starts like it."""
    return w.startswith("ال") and len(w) > 3 and w not in ("الذي", "التي", "الذين", "الان", "اليه", "اليها", "اليهم")


@dataclass(slots=True)  # (hundreds per long article)
class Candidate:
    """A quotation in the making: token spans into the key, filled in by the later stages."""

    cue: Cue | None
    start: int  # first content token
    end: int  # one past the last content token
    type: str
    rule: str
    gap: tuple[int, int] = (0, 0)  # tokens where the source is looked for (after the cue)
    weight: float = 1.0
    speaker: "object | None" = None  # a sources.Mention, set by the sources stage
    speaker_name: str | None = None
    speaker_rule: str = "none"
    pending_object: bool = False  # noun-phrase object: start decided after the subject is found
    inside_quote: bool = False  # the cue itself stands inside another quotation
    extra: dict = field(default_factory=dict)


class ContentFinder:
    """Finds the content of each cue's quotation (see the module docstring)."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        # each lemma's prepositional complements in key form (takes_prep folds them on every call)
        self._preps: dict[CueEntry, frozenset[str]] = {}

    # -- set-up per article ---------------------------------------------------------------------

    def prepare(self, kt: KeyText, pairs: list[MarkPair], cues: list[Cue]) -> None:
        self.kt = kt
        self.pairs = pairs
        self.pair_at = {p.open: p for p in pairs}
        # indexes for has_quote / _closes_inside (were scans over all pairs per call: quadratic
        # in a long article); pairs are final once the marks stage is done
        self._quote_opens = sorted(p.open for p in pairs if not p.name_like)
        self._last_open_by_close: dict[int, int] = {}
        for p in pairs:
            if p.close is not None:
                self._last_open_by_close[p.close] = max(p.open, self._last_open_by_close.get(p.close, p.open))
        self.cue_at = {c.index: c for c in cues}
        # The tokens clause_end acts on, in order: pair openings, cues, commas and "but" words;
        # every other token it steps over.
        self._clause_stops = sorted({*self.pair_at, *self.cue_at, *kt.indexes_of(CLAUSE_STOP_WORDS)})
        # per token, filled a sentence / a pair at a time (slice assignments, not a step per token)
        self.sentence_end = [0] * len(kt.texts)
        self.sentence_start = [0] * len(kt.texts)
        for a, b in kt.sentences:
            self.sentence_end[a:b] = [b] * (b - a)
            self.sentence_start[a:b] = [a] * (b - a)
        # Innermost non-name pair around each token (to know whether a cue is quoted itself).
        self.quoted = [False] * len(kt.texts)
        for p in pairs:
            if not p.name_like and p.end > p.open + 1:
                self.quoted[p.open + 1 : p.end] = [True] * (p.end - p.open - 1)

    # -- helpers --------------------------------------------------------------------------------

    def is_sentence_end(self, i: int) -> bool:
        w = self.kt.texts[i]
        return w in SENTENCE_END or w == "\n"

    def _is_complementiser(self, i: int) -> bool:
        texts = self.kt.texts
        if texts[i] not in COMPLEMENTISERS:
            return False
        if i > 0 and texts[i - 1] in _NOT_COMPLEMENT_BEFORE:
            return False
        # "إن كانت" (whether), "أن يكون" after an infinitive reading: not a reported clause.
        return not (texts[i] == "ان" and i + 1 < len(texts) and texts[i + 1] in ("كان", "كانت", "لم", "ما"))

    def _cue_follows(self, k: int, limit: int) -> bool:
        """A cue within the few tokens after position ``k`` (skipping linking words)."""
        texts, is_word = self.kt.texts, self.kt.is_word
        j = k
        steps = 0
        while j < limit and steps < 4:
            if j in self.cue_at:
                cue = self.cue_at[j]
                # Only cues that can open a quotation of their own end the current one.
                return cue.according or cue.kind in ("past", "participle", "present") or cue.entry.lemma == "قال"
            if not is_word[j] or texts[j] not in _LINKERS:
                return False
            j += 1
            steps += 1
        return False

    def clause_end(self, start: int, limit: int | None = None, np_mode: bool = False) -> int:
        """One past the last token of the clause that starts at ``start`` (see module docstring)."""
        texts, is_word = self.kt.texts, self.kt.is_word
        n = len(texts)
        end_of_sentence = self.sentence_end[start] if limit is None else limit
        stop = min(end_of_sentence, n)  # (follows end_of_sentence)
        stops = self._clause_stops
        pair_at = self.pair_at
        k = start
        while k < stop:
            # jump to the next token the loop acts on (the tokens in between only step k)
            nxt = stops[bisect_left(stops, k)] if stops and stops[-1] >= k else n
            if nxt >= stop:
                k = stop
                break
            k = nxt
            w = texts[k]
            pair = pair_at.get(k)
            if pair is not None and not pair.name_like and pair.close is not None:
                # A quotation opened in the content carries it to the closing mark.
                end_of_sentence = max(end_of_sentence, self.sentence_end[pair.close])
                stop = min(end_of_sentence, n)
                k = pair.close + 1
                continue
            if w in _CLAUSE_COMMAS and k > start:
                if self._cue_follows(k + 1, end_of_sentence) or self._breaker(k + 1):
                    break
                if np_mode and k + 1 < n and is_word[k + 1] and (texts[k + 1][0] == "و" and len(texts[k + 1]) > 3
                                                                     or texts[k + 1] in _NP_CLAUSE_OPENERS):
                    break  # "إلغاء كافة الفعاليات، وألغى المركز ...", "...، كما فعل": a noun-phrase object ends at a new clause
            elif np_mode and k > start and w in _NP_BUT:
                break  # "وينفي الحزب أي تحيز لكنه يقول ...": even without a comma
            elif k > start and k in self.cue_at and (self.cue_at[k].kind == "participle" or self.cue_at[k].form.conjunction
                    and self.cue_at[k].kind in ("past", "present") and self.cue_at[k].entry.lemma in STRONG_LEMMAS):
                # "... وقال" / "... وأضاف" with no comma: a new quotation starts.
                break
            k += 1
        end = min(k, n)
        return self._trim(start, end)

    def _breaker(self, j: int) -> bool:
        texts = self.kt.texts
        if j >= len(texts):
            return False
        w = texts[j]
        two = w + " " + texts[j + 1] if j + 1 < len(texts) else w
        return w in ("حسب", "بحسب", "وفق", "وفقا", "طبقا", "نقلا", "حسبما", "وحسب", "ووفقا") or two.startswith(_BREAK_PHRASES)

    def _trim(self, start: int, end: int) -> int:
        texts, is_word = self.kt.texts, self.kt.is_word
        while end > start + 1:
            if is_word[end - 1]:
                break
            w = texts[end - 1]
            if w in ('"', "»", "”") and self._closes_inside(end - 1, start):
                break
            if w == ")":
                if "(" in texts[start : end - 1]:
                    break
            end -= 1
        return end

    def _closes_inside(self, close: int, start: int) -> bool:
        """Whether a pair closing at ``close`` opens at or after ``start``."""
        last_open = self._last_open_by_close.get(close)
        return last_open is not None and last_open >= start

    def has_quote(self, start: int, end: int) -> bool:
        """Whether a quotation pair (not a quoted name) opens in ``[start, end)``."""
        i = bisect_left(self._quote_opens, start)
        return i < len(self._quote_opens) and self._quote_opens[i] < end

    # -- the stage ------------------------------------------------------------------------------

    def __call__(self, cue: Cue) -> Candidate | None:
        if cue.according:
            return self._according(cue)
        return self._say(cue)

    def _say(self, cue: Cue) -> Candidate | None:
        texts, is_word = self.kt.texts, self.kt.is_word
        i = cue.index
        takes = cue.entry.takes
        preps = self._preps.get(cue.entry)
        if preps is None:
            preps = self._preps[cue.entry] = frozenset(cue.entry.takes_prep())
        limit = min(i + 1 + MAX_GAP, self.sentence_end[i], len(texts))
        after_ma = cue.after_ma
        pair_at, cue_at = self.pair_at, self.cue_at
        j = i + 1
        while j < limit:
            w = texts[j]
            if after_ma and (j > i + 1 or not self._is_complementiser(j)):
                return None  # "بما وعدت به"، "ما اعتبر "...": only "بما قال إنه ..." reports speech
            pair = pair_at.get(j)
            if pair is not None:
                prev = texts[j - 1] if j > 0 else ""
                if prev in _BARE_PREPS:
                    if prev in preps or (prev == "ب" and "ب" in preps):
                        end = self.clause_end(j - 1)
                        return Candidate(cue, j - 1, end, "mixed", "prep", (i + 1, j - 1), 0.9)
                    j = (pair.close + 1) if pair.close is not None else pair.end
                    continue  # a quoted term after a preposition: "عن اكتشاف "مومياء ...""
                if pair.name_like or (self._short(pair) and self._complement_ahead(pair, limit)):
                    j = (pair.close + 1) if pair.close is not None else pair.end
                    continue
                if "quote" in takes:
                    return self._direct(cue, j, pair)
                a, b = pair.inner
                if preps and a < b and self._prep_object(texts[a], preps, a, a) and texts[a][0] == "ب":
                    found = self._direct(cue, j, pair)  # 'تتهمها "بالمساهمة بخلق سوق ..."': the object in marks
                    if found is not None:
                        found.extra["object_at"] = j  # where the ب object starts (its opening mark)
                    return found
                return None
            if w == ":":
                nxt = self.pair_at.get(j + 1)
                if nxt is not None and "quote" in takes:
                    return self._direct(cue, j + 1, nxt)
                if "quote" in takes and j + 1 < len(texts) and is_word[j + 1]:
                    end = self.clause_end(j + 1)
                    return Candidate(cue, j + 1, end, "direct", "colon-verbatim", (i + 1, j), 0.7)
                return None
            if j in cue_at:
                if "np" in takes:
                    break  # "أعلنت بكين فرض رسوم ...، بحسب ...": the object comes before the next cue
                return None  # "وتابع ماكرون قائلا إن": the inner cue owns the quotation
            if w in COMPLEMENTISERS and self._is_complementiser(j):  # (the set first: no call per token)
                start = j
                if j - 1 > i and texts[j - 1] in _PREP_BEFORE_COMPLEMENT:
                    start = j - 1
                end = self.clause_end(j)
                kind = "mixed" if self.has_quote(start, end) else "indirect"
                return Candidate(cue, start, end, kind, "that", (i + 1, start), 1.0)
            if w in ("ما",) and j + 1 < limit and self._is_complementiser(j + 1):
                j += 1
                continue
            # (_prep_object holds only for a preposition of the lemma or a ب/ل word: no call otherwise)
            if preps and (w in preps or w[0] in "بل") and self._prep_object(w, preps, j, i):
                nxt_comp = j + 1 < len(texts) and self._is_complementiser(j + 1)
                if nxt_comp:
                    j += 1
                    continue
                end = self.clause_end(j)
                if end <= j + 1 and not (w.startswith("بال") or w.startswith("ب") and w.endswith(("ه", "ها", "هم", "هما"))):
                    # one word is enough for a ب object that is a definite or possessed noun ("تتهم رمضان
                    # باغتصابها", "بالمثمر"), not for a word that merely starts with ب ("ناشطون بحرينيون")
                    return None
                kind = "mixed" if self.has_quote(j, end) else "indirect"
                return Candidate(cue, j, end, kind, "prep", (i + 1, j), 0.9)
            j += 1
        if after_ma:
            return None
        post = self._postposed(cue)
        if post is not None:
            return post
        if "np" in takes:
            return Candidate(cue, i + 1, i + 1, "indirect", "np", (i + 1, self.sentence_end[i]), 0.75, pending_object=True)
        return None

    def _short(self, pair: MarkPair) -> bool:
        a, b = pair.inner
        return sum(self.kt.is_word[a:b]) <= 3

    def _complement_ahead(self, pair: MarkPair, limit: int) -> bool:
        start = (pair.close + 1) if pair.close is not None else pair.end
        return any(self._is_complementiser(k) for k in range(start, limit))

    def _postposed(self, cue: Cue) -> Candidate | None:
        """"..., كتبت صحيفة لوريون لوجور.": the cue and its subject close the sentence."""
        texts, is_word = self.kt.texts, self.kt.is_word
        i = cue.index
        if cue.kind not in ("past", "present") or i == 0 or cue.form.conjunction:
            return None  # ("...، وتعتبر سقطرى أكبر ...": a verb with و starts a new clause)
        if texts[i - 1] == "هكذا":
            return self._thus(cue)
        # "..., كتبت صحيفة لوريون لوجور." / "..., كما أعلن الرئيس الأمريكي قبلا، ما ينذر ..."
        comma = i - 2 if texts[i - 1] == "كما" and i >= 2 else i - 1
        if texts[comma] not in ("،", ","):
            return None
        s0, s1 = self.sentence_start[i], self.sentence_end[i]
        tail = s1
        if comma == i - 2:  # after "كما" (as X said) the source may end at a comma and the sentence go on
            tail = next((k for k in range(i + 1, s1) if texts[k] in ("،", ",")), s1)
        if sum(is_word[i + 1 : tail]) > 6:
            return None
        if any(k in self.cue_at for k in range(i + 1, tail)) or any(self._is_complementiser(k) for k in range(i + 1, tail)):
            return None
        end = self._trim(s0, comma)
        if sum(is_word[s0:end]) < 4:
            return None
        kind = "mixed" if self.has_quote(s0, end) else "indirect"
        return Candidate(cue, s0, end, kind, "postposed", (i + 1, tail), 0.85)

    def _thus(self, cue: Cue) -> Candidate | None:
        """'"رمزية جميلة ...".. هكذا رأى الرئيس': the quotation just before هكذا."""
        texts, is_word = self.kt.texts, self.kt.is_word
        k = cue.index - 2
        while k >= 0 and not is_word[k] and texts[k] not in QUOTE_CHARS:
            k -= 1  # ".." "،" between the closing mark and هكذا
        opened = self._last_open_by_close.get(k) if k >= 0 else None
        if opened is None:
            return None
        a, b = self.pair_at[opened].inner
        if not any(is_word[a:b]):
            return None
        return Candidate(cue, a, b, "direct", "thus", (cue.index + 1, self.sentence_end[cue.index]), 0.9)

    def _prep_object(self, w: str, preps: set[str], j: int, i: int) -> bool:
        if w in preps and w in ("الي", "من", "علي", "عن"):
            prev = self.kt.texts[j - 1] if j > 0 else ""
            if w == "من" and self.lexicon.is_("quantity", prev):
                return False
            return True
        if "ب" in preps and w.startswith("ب") and (len(w) > 3 or w in _SHORT_B_OBJECTS) and w not in _NOT_B_OBJECT and not w.startswith("باسم"):
            return True
        if "ل" in preps and w.startswith("ل") and len(w) > 3 and j == i + 1:
            return True
        return False

    def _direct(self, cue: Cue, j: int, pair: MarkPair) -> Candidate | None:
        texts, is_word = self.kt.texts, self.kt.is_word
        i = cue.index
        a, b = pair.inner
        if b <= a:
            return None
        if pair.close is None:
            return Candidate(cue, a, b, "direct", "marks-unclosed", (i + 1, j), 0.85)
        nxt = pair.close + 1
        if nxt < len(texts) and is_word[nxt] and not (len(texts[nxt]) > 1 and texts[nxt][0] in "وف") and nxt not in self.cue_at \
                and not self._breaker(nxt) and self.kt.sentence_of[nxt] == self.kt.sentence_of[pair.close]:
            end = self.clause_end(nxt)
            return Candidate(cue, j, end, "mixed", "marks-continued", (i + 1, j), 0.9)
        if not any(is_word[a:b]):
            return None
        return Candidate(cue, a, b, "direct", "marks", (i + 1, j), 1.0)

    def _according(self, cue: Cue) -> Candidate | None:
        texts, is_word = self.kt.texts, self.kt.is_word
        i = cue.index
        s0 = self.sentence_start[i]
        words_before = list(compress(texts[s0:i], is_word[s0:i]))
        if not words_before or (len(words_before) == 1 and words_before[0] in ("هذا", "و", "كما", "لكن", "ولكن", "اما")):
            # "وبحسب الأمم المتحدة، بقي ..." / "وحسب المحامي كروتينا فإن ...": content after the source.
            j = i + 1
            limit = min(self.sentence_end[i], i + 1 + 15)
            while j < limit and texts[j] not in ("،", ",") and texts[j] not in ("فان", "فانه", "فانها", "فقد", "فلقد"):
                j += 1
            if j >= limit:
                return None
            start = j + 1 if texts[j] in ("،", ",") else j
            if start >= self.sentence_end[i]:
                return None
            end = self.clause_end(start)
            kind = "mixed" if self.has_quote(start, end) else "indirect"
            return Candidate(cue, start, end, kind, "according-first", (i + 1, j), 0.9)
        # "..., بحسب X" (or '..."، بحسب X', '..."، وفقا لـ X'): the clause before the cue.
        k = i - 1
        if texts[k] in ('"', "»", "”") and k - 1 >= s0 and texts[k - 1] in ("،", ","):
            k -= 0  # the closing mark belongs to the content: keep it, cut at the mark
        elif texts[k] not in ("،", ","):
            return None
        start = s0
        end = self._trim(start, k if texts[k] in ("،", ",") else k + 1)
        if sum(is_word[start:end]) < 3:
            return None
        kind = "mixed" if self.has_quote(start, end) else "indirect"
        return Candidate(cue, start, end, kind, "according-after", (i + 1, self.sentence_end[i]), 0.85)

    def object_after(self, cand: Candidate, subject_end: int, has_subject: bool = False) -> Candidate | None:
        """Complete a noun-phrase-object candidate once the subject's end is known. ``has_subject``:
        the cue's subject was read, so a lone definite noun after it is the object (``نفى المتحدث
        التقارير``), not the subject of a verb whose source dropped."""
        texts, is_word = self.kt.texts, self.kt.is_word
        j = subject_end
        end_s = self.sentence_end[cand.cue.index] if cand.cue else len(texts)
        while j < end_s:
            w = texts[j]
            if w in _ADJUNCT_PREPS and j + 1 < end_s and is_word[j + 1]:
                # "أعلنت المعاهد الفرنسية في الجزائر إلغاء ...": a place or time phrase before the object
                j += 2
                while j < end_s and is_word[j] and (texts[j].endswith(("يه", "ي")) or self.lexicon.is_("adjuncts", texts[j])):
                    j += 1
                continue
            if is_word[j] and (not self.lexicon.is_("adjuncts", w) or w in _DEMONSTRATIVES and j + 1 < end_s and _definite(texts[j + 1])):
                break  # ("هذه الاتهامات" is the object; a lone "هذا" is an adjunct word)
            if self.is_sentence_end(j) or self.pair_at.get(j) is not None:
                break
            j += 1
        if j >= end_s or self.is_sentence_end(j) or self._is_complementiser(j):
            return None
        if has_subject and j == subject_end and j + 1 < end_s and len(texts[j]) > 3 and texts[j][0] == "و" \
                and self.lexicon.is_("places", texts[j][1:]):
            j += 1  # "وينفي الحوثيون وطهران هذه الاتهامات": a second conjunct of the subject
        w = texts[j]
        if self.lexicon.is_("titles", w) and not w.startswith("ال") and j + 2 < end_s:
            j += 2  # "وأكد رومان جوردان محامي المدعية التقدم ...": an apposition after the subject
            w = texts[j]
        # "ينفي هذه الاتهامات", "نفى أي علاقة": a demonstrative before a definite noun, or "any", opens the object
        demonstrative = (w in _DEMONSTRATIVES and j + 1 < end_s and _definite(texts[j + 1])) or w in ("اي", "ايه")
        if cand.cue is not None and cand.cue.entry.np_needs_subject and w in _PREDICATE_STARTS:
            return None  # "وتعتبر طهران أحد أبرز حلفاء دمشق": "is considered one of", a passive reading
        if j in self.cue_at or (self.lexicon.is_("stops", w) and not demonstrative):
            return None
        end = self.clause_end(j, np_mode=True)
        if end - j < 2 and not (has_subject and end - j == 1 and _definite(w) and not self.lexicon.is_("adjuncts", w)):
            return None
        cand.start, cand.end, cand.pending_object = j, end, False
        cand.type = "mixed" if self.has_quote(j, end) else "indirect"
        return cand
