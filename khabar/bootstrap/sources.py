"""Stage 3: sources. The noun phrase that names who speaks, read around the cue.

Where the source is looked for, in order:

* after the cue (VSO, the usual order: ``وقال منسق الاتحاد الأوروبي ... جيل دو كيرشوف، إن``), in
  the tokens between the cue and the content;
* before the cue at the start of the sentence (SVO: ``مصادر عسكرية أكدت أن``, ``وكان وزير
  الدفاع جيمس ماتيس قال``), or right before a relative pronoun (``القاضي الذي قال إنه``);
* after a source-after cue (``بحسب وكالة رويترز``, ``وفقا لما نقلته وكالة الأنباء``);
* after ``عن`` for ``نقل`` (``ونقلت رويترز عن براون قوله``).

A noun phrase is split into a title phrase and a name (``رئيس هيئة الأركان الأميركية المشتركة،
جوزيف دانفورد`` -> ``جوزيف دانفورد``): the mention is the name when there is one. Otherwise it is
kept whole (``رابطة ضباط السجون البريطانية``, ``متحدث باسم وزارة العدل``) and marked ``nominal``
when it is a definite title or an anaphoric head (``المسؤول الأوروبي``, ``المصدر``, ``الحزب``) that
the resolution stage maps to a name. Sources that drop out (``وأضاف``, ``مضيفا``) are left to
the resolution stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress

from .contents import COMPLEMENTISERS, Candidate
from .lexicon import Lexicon
from .text import KeyText, variants

MAX_NP = 12
_PRONOUN_SUFFIXES = ("ها", "هم", "هما", "كم", "هن", "ته")
_RELATIVES = {"الذي", "التي", "الذين", "والذي", "والتي", "والذين", "اللذين", "اللتين"}
_SVO_OPENERS = {"يذكر", "ويذكر", "فقد", "و", "ف", "كما", "لكن", "ولكن", "لكنه", "لكنها", "ولكنه", "ولكنها", "انه", "انها", "ثم", "وكان", "وكانت", "كان", "كانت", "فيما", "بينما", "قد", "وقد", "لقد", "اما", "واما", "بدوره", "بدورها", "فقد", "حيث", "اذ", "الا", "ان", "غير"}
_SOURCE_WORDS = {"مصادر", "مصدر", "المصادر", "المصدر", "مسؤول", "مسؤولون", "مسؤولين", "متحدث", "متحدثه", "ناطق", "شهود", "مراقبون", "محللون", "دبلوماسيين", "دبلوماسيون", "مصادر"}
# Conjunctions after which a new clause (and so a new subject) may start mid-sentence.
_CLAUSE_OPENERS = {"لكن", "ولكن", "بينما", "فيما", "حيث", "اذ", "كما", "وكان", "وكانت"}
_DOCUMENTS = {"بيان", "البيان", "تقرير", "التقرير", "رساله", "الرساله", "مذكره"}
_CHANNEL_SKIP = {"ما", "لما", "عنه", "عنها", "عنهم", "ذلك"}


@dataclass(slots=True)
class Mention:
    """A source mention: token span ``[start, end)`` in the key, and how it names the source."""

    start: int
    end: int
    kind: str  # name | org | nominal
    title: tuple[str, ...] = ()  # key words of the title phrase next to a name
    words: tuple[str, ...] = field(default=())  # key words of the mention (clitic ل of "لمكتب" removed)
    # a nominal mention resolved to the article's main untitled speaker (Resolver.resolve_nominal)
    extra_guess: bool = field(default=False, repr=False, compare=False)


def _adjective_like(w: str, prev: str, adjectives: set[str] | frozenset[str] = frozenset()) -> bool:
    """A definite word that can qualify the one before it: a nisba (البريطانية), a participle
    (المتحدة), an elative (الأعلى)، or a feminine word agreeing with a feminine/plural noun."""
    if w.endswith(("يه", "ي", "يين", "يون", "يان")) or w.startswith(("الم", "لم")) or w in adjectives:
        return True
    if len(w) == 6 and w.startswith("الا"):
        return True  # أفعل: الأبيض، الأعلى
    return w.endswith("ه") and prev.endswith(("ه", "ات"))


# Key forms that start like the article ال but are not definite nouns (إليها، الآن، الذي ...).
_NOT_DEF = {"اليه", "اليها", "اليهم", "اليهما", "الينا", "اليك", "اليكم", "الان", "الذي", "التي", "الذين", "اللذين",
            "اللتين", "اللواتي", "اللاتي", "الا", "الي", "الى"}


# the words _boundary decides on by their written form (the name علي, the "any" أي)
_BOUNDARY_SPECIAL = frozenset({"علي", "اي", "ايه"})


def variant_closure(words: set[str] | frozenset[str]) -> frozenset[str]:
    """Every word with a variant (:func:`variants`) in ``words``: ``w in variant_closure(S)`` is
    ``any(v in S for v in variants(w))``. A variant drops a prefix of at most two letters (و/ف,
    then ب/ل/ك) or reads لل as ال, so the words to test are those prefixings of each member;
    the test itself decides which belong."""
    out = set()
    for s in words:
        bases = [s, "لل" + s[2:]] if s.startswith("ال") else [s]
        for base in bases:
            for p in ("", "و", "ف"):
                for q in ("", "ب", "ل", "ك"):
                    w = p + q + base
                    if any(v in words for v in variants(w)):
                        out.add(w)
    return frozenset(out)


# words with a variant that is a document noun / a word that opens a clause before its subject
_DOCUMENTS_ANY_VARIANT = variant_closure(_DOCUMENTS)
_SVO_OPENERS_ANY_VARIANT = variant_closure(_SVO_OPENERS)


_DEF_PREFIXES = ("ال", "لل", "وال", "بال")


def _is_def(w: str) -> bool:
    return w.startswith(_DEF_PREFIXES) and len(w) > 3 and w not in _NOT_DEF


class SourceFinder:
    """Reads source noun phrases (see the module docstring)."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self.is_ = lexicon.is_
        self.adjectives = lexicon.words.get("adjectives", set())
        # the word classes read here, as sets (a set look-up, not a call of Lexicon.is_ per word);
        # the unions and closures below are taken once, so later Lexicon edits are not all seen
        # (see Bootstrapper's docstring)
        self._titles = lexicon.words.get("titles", set())
        self._addressees = lexicon.words.get("addressees", set())
        self._adjuncts = lexicon.words.get("adjuncts", set())
        self._anaphoric = lexicon.words.get("anaphoric", set())
        self._name_particles = lexicon.words.get("name_particles", set())
        self._places = lexicon.words.get("places", set())
        self._quantity = lexicon.words.get("quantity", set())
        self._stops = lexicon.words.get("stops", set())
        # the words _boundary stops at, as one set (was three lexicon look-ups and a set per word)
        self._boundary_words = frozenset(self._stops | self._adjuncts | self._addressees | COMPLEMENTISERS)
        # _in of the classes asked about, as sets: every word with a variant in the class
        self._in_sets = {cls: variant_closure(lexicon.words.get(cls, set()))
                         for cls in ("titles", "org_heads", "places", "anaphoric")}
        self._in_titles, self._in_org_heads = self._in_sets["titles"], self._in_sets["org_heads"]

    def prepare(self, kt: KeyText, contents) -> None:
        self.kt = kt
        self.contents = contents  # the ContentFinder prepared for this article
        self.known: dict[str, list[tuple[str, ...]]] = {}  # first word -> known name forms
        self._underscore = "_" in kt.key  # (hashtag words: _mention reads "_" as a space)

    # -- word classes ---------------------------------------------------------------------------

    def _in(self, cls: str, w: str) -> bool:
        """Whether a variant of ``w`` (:func:`variants`) is in the word class ``cls``: one look-up in
        the class's variant closure (built in ``__init__`` for the classes the rules ask about)."""
        closure = self._in_sets.get(cls)
        if closure is not None:
            return w in closure
        return any(self.is_(cls, v) for v in variants(w))

    def _boundary(self, j: int) -> bool:
        """Token ``j`` cannot be inside a subject noun phrase."""
        kt = self.kt
        if not kt.is_word[j]:
            return True
        w = kt.texts[j]
        if w == "علي" and kt.plain[kt.starts[j] : kt.ends[j]] == "علي":
            return False  # the name Ali, not the preposition على (both fold to علي)
        if w in ("اي", "ايه") and kt.plain[kt.starts[j] : kt.ends[j]] in ("أي", "أية"):
            return True  # "وينفي الحزب أي تحيز": "any" opens the object (آي of "آي نيوز" is a name)
        # (a word token is never a sentence end: those are punctuation tokens)
        return w in self._boundary_words or j in self.contents.cue_at

    # -- noun phrases ---------------------------------------------------------------------------

    def noun_phrase(self, j: int, limit: int) -> Mention | None:
        """The source noun phrase starting at token ``j`` (stopping before ``limit``)."""
        texts = self.kt.texts
        if j >= limit or self._boundary(j) and not (texts[j].startswith("#")):
            return None
        w0 = texts[j]
        if w0.startswith(("بال", "كال")):
            return None  # "وذكر بالبيان": a prepositional phrase, not a subject
        if w0 in self._titles or (w0 in self._in_titles and _is_def(w0)):
            m = self._titled(j, limit)
        elif w0 in self._in_org_heads or _is_def(w0):
            m = self._org(j, limit)
        else:
            m = self._name(j, limit)
        if m is not None and m.words and m.words[0] in _DOCUMENTS_ANY_VARIANT:
            m = self._author(m, limit) or m
        if m is not None and m.words and m.words[0] in ("مذكرات", "يوميات") and m.start + 1 < limit:
            # "مذكرات خلخالي": memoirs are their writer's words
            k = self._name_run(m.start + 1, limit)
            if k > m.start + 1 and not _is_def(texts[m.start + 1]):
                return self._mention(m.start + 1, k, "name")
        return m

    def _author(self, m: Mention, limit: int) -> Mention | None:
        """"بيان صادر عن مكتب النائب العام" / "بيان للبيت الأبيض": the author speaks."""
        texts, is_word = self.kt.texts, self.kt.is_word
        k = m.start + 1
        stop = min(limit, m.end + 4)
        doc = next(v for v in variants(m.words[0]) if v in _DOCUMENTS)
        doc = doc[2:] if doc.startswith("ال") else doc
        while k < stop:
            w = texts[k]
            author = None
            if w == "عن" and k + 1 < limit:
                author = self.noun_phrase(k + 1, limit)
            elif w.startswith("لل") and len(w) > 4 or (w.startswith("ل") and len(w) > 3 and w not in self._addressees):
                author = self._org(k, limit)
            if author is not None:
                author.title = author.title + (doc,)  # "وأضاف البيان" refers back to the author
                return author
            if w in ("عن",) or w.startswith("ل"):
                break
            if not is_word[k] or w not in ("صادر", "الصادر", "صادره", "الصادره", "رسمي", "الرسمي"):
                break
            k += 1
        return None

    def _known_at(self, j: int) -> int:
        """Length of the longest known name (from titles in the article) starting at ``j``."""
        bare = self.kt.bare_texts
        best = 0
        for form in self.known.get(bare[j], ()):
            L = len(form)
            if L > best and tuple(bare[j : j + L]) == form:
                best = L
        return best

    def _name_run(self, j: int, limit: int, max_len: int = 3) -> int:
        """End of a person-name run starting at ``j`` (``j`` itself when there is none)."""
        if j >= limit:
            return j
        kt = self.kt
        texts, is_word = kt.texts, kt.is_word
        known = self._known_at(j) if kt.bare_texts[j] in self.known else 0  # (a form's first word)
        if known:
            return j + known
        places = self._places
        if texts[j] in places:
            return j + 1
        # (the sets and lists read per token, as locals: this loop runs for every noun phrase)
        boundary_words, cue_at, particles = self._boundary_words, self.contents.cue_at, self._name_particles
        titles, org_heads = self._titles, self._in_org_heads
        k = j
        n_def = 0
        n_words = 0
        sentence_of = kt.sentence_of
        sentence = sentence_of[j]
        while k < limit and n_words < max_len:
            if sentence_of[k] != sentence:
                break
            text = texts[k]
            if text == "." and k > j and k + 1 < limit and is_word[k + 1] and kt.ends[k] == kt.starts[k + 1]:
                k += 1  # "إي.لين"
                continue
            # _boundary(k), its call saved for the words it does not single out
            if (self._boundary(k) if text in _BOUNDARY_SPECIAL else
                    (not is_word[k] or text in boundary_words or k in cue_at)) \
                    and not text.startswith("#"):
                break
            w = text.lstrip("#")
            if len(w) < 2:
                break
            if k > j:
                if w in titles or w in places or w.startswith(("بال", "لل")) or (w.startswith("كال") and len(w) > 5):
                    break
                if len(w) > 2 and w[0] in "وف" and texts[k - 1] not in particles:
                    break  # "نتنياهو ومسؤولي": a second conjunct, not the name
                if w.endswith(_PRONOUN_SUFFIXES):
                    break
                if w in org_heads and texts[k - 1] not in particles:
                    break
            # _is_def(w), inline
            if w.startswith(_DEF_PREFIXES) and len(w) > 3 and w not in _NOT_DEF:
                prev = texts[k - 1] if k > j else ""
                # One definite word after a first name (سعد الحريري) or a particle (أبو الفتوح).
                if k == j or n_def or not (prev in particles or k - j <= 1):
                    break
                n_def += 1
            if w not in particles:
                n_words += 1
            k += 1
        return k

    def _name(self, j: int, limit: int) -> Mention | None:
        k = self._name_run(j, limit)
        if k == j:
            return None
        return self._mention(j, k, "name")

    def _titled(self, j: int, limit: int, depth: int = 0, names_only: bool = False) -> Mention | None:
        """A title phrase at ``j`` and the name it introduces (a ``name`` mention), or the phrase
        itself (``nominal``). ``names_only``: None instead of a nominal mention (for a caller that
        keeps names only, so that no mention is built to be dropped)."""
        texts, is_word, sentence_of = self.kt.texts, self.kt.is_word, self.kt.sentence_of
        boundary_words, cue_at, in_titles, places = self._boundary_words, self.contents.cue_at, self._in_titles, self._places
        k = j
        seen_def = False
        prev_title = False
        prev_construct = False
        sentence = sentence_of[j]
        while k < limit:
            w = texts[k]
            if sentence_of[k] != sentence:
                break
            if w in ("باسم", "باسمه", "باسمها") and k + 1 < limit:
                # "المتحدث باسم تحالف دعم الشرعية في اليمن": the whole body the speaker speaks for.
                k += 1
                chain_def = False
                pair = self.contents.pair_at.get(k)
                if pair is not None and pair.close is not None and pair.close < limit and pair.close - k <= 6:
                    k = pair.close + 1  # 'المتحدث باسم "أحرار الشام"'
                    chain_def = True
                while k < limit and is_word[k] and sentence_of[k] == sentence and texts[k] not in self._titles \
                        and (not self._boundary(k) or (texts[k] == "في" and k + 1 < limit and is_word[k + 1])):
                    w2 = texts[k]
                    if chain_def and not _is_def(w2) and w2 not in self._places and w2 != "في" \
                            and not w2.endswith(("يه", "ي", "يين", "يون")) and not w2.startswith("ل"):
                        break  # "باسم الاتحاد الأوروبي كاثرين راي": the name starts
                    chain_def = chain_def or _is_def(w2)
                    k += 1
                seen_def = True
                prev_title = False
                continue
            if not is_word[k]:
                break
            # (_boundary(k) for a word: its call saved for the words it does not single out)
            if j < k and (self._boundary(k) if w in _BOUNDARY_SPECIAL else (w in boundary_words or k in cue_at)) \
                    and not (w == "في" and k + 2 < limit and texts[k + 2] in ("،", ",")
                                                     and self._comma_name(k + 3, limit)) \
                    and not (w in self.adjectives and _is_def(texts[k - 1])):
                break  # ("الأمين العام": العام qualifies the title here)
            if w == "في":
                k += 2
                continue
            if w in in_titles:  # (holds the titles themselves)
                prev_title = True
                k += 1
                continue
            if (w.startswith(_DEF_PREFIXES) and len(w) > 3 and w not in _NOT_DEF) \
                    or (w.startswith("ل") and w not in self._addressees and len(w) > 3 and k > j):  # (_is_def inline)
                seen_def = True
                prev_title = False
                k += 1
                continue
            if prev_title and not seen_def and not _is_def(texts[k - 1]) and w not in places:
                k += 1  # construct: رئيس هيئة الأركان، وزير خارجية ألمانيا
                prev_title = False
                prev_construct = True
                continue
            if (prev_title or prev_construct) and w in places:
                k += 1
                prev_construct = False
                continue
            nxt_title = self._title_ahead(k, limit) if seen_def else 0  # (a pure look-ahead: asked only when used)
            if nxt_title:
                k = nxt_title  # "باسم تحالف دعم الشرعية في اليمن العقيد الركن تركي المالكي"
                continue
            break
        title_end = k
        # A name right after the title, or after a comma (apposition).
        name_end = self._name_run(title_end, limit) if title_end < limit else title_end
        if name_end > title_end:
            if name_end < limit and texts[name_end] in ("،", ","):
                # "مديرة حملة طليب، أندي غوديريس،": the genitive ends the title, the apposition names.
                end = self._comma_name(name_end + 1, limit)
                if end:
                    return self._mention(name_end + 1, end, "name", title=(j, name_end))
            return self._mention(title_end, name_end, "name", title=(j, title_end))
        if title_end < limit and texts[title_end] in ("،", ","):
            end = self._comma_name(title_end + 1, limit)
            if end:
                return self._mention(title_end + 1, end, "name", title=(j, title_end))
            if title_end + 1 < limit and texts[title_end + 1] in self._titles and depth < 2:
                # "المتحدث باسم التحالف، العقيد الركن تركي المالكي،"
                inner = self._titled(title_end + 1, limit, depth + 1, names_only=True)  # (a name or nothing)
                if inner is not None and inner.kind == "name":
                    inner.title = tuple(compress(texts[j:title_end], is_word[j:title_end])) + inner.title
                    return inner
        if title_end == j or names_only:
            return None
        return self._mention(j, title_end, "nominal")

    def learn(self, words: tuple[str, ...]) -> None:
        """Remember a name (read after a title) so later name runs stop where it stops."""
        if words:
            self.known.setdefault(words[0], []).append(words)
            if len(words) > 1 and len(words[-1]) > 2:
                self.known.setdefault(words[-1], []).append(words[-1:])

    def _title_ahead(self, k: int, limit: int) -> int:
        """Index of a title word within the next few tokens (nothing but words in between)."""
        texts, is_word = self.kt.texts, self.kt.is_word
        for x in range(k, min(limit, k + 6)):
            w = texts[x]
            if not is_word[x] or x in self.contents.cue_at or w in COMPLEMENTISERS:
                return 0
            if x > k and w in self._titles and w not in self._places and not _is_def(w) or (x > k and w in ("العقيد", "اللواء", "الجنرال", "العميد", "الدكتور")):
                return x
        return 0

    def _comma_name(self, j: int, limit: int) -> int:
        """End of a name that stands alone between commas (or before the complement) at ``j``."""
        texts, is_word = self.kt.texts, self.kt.is_word
        if j >= limit:
            return 0
        k = self._name_run(j, limit)
        if k == j:
            return 0
        if k >= limit or not is_word[k] or texts[k] in COMPLEMENTISERS or texts[k] in self._adjuncts or k in self.contents.cue_at:
            return k
        return 0

    def _org(self, j: int, limit: int) -> Mention | None:
        texts, is_word = self.kt.texts, self.kt.is_word
        k = j
        seen_def = False
        head = texts[j]
        n_ind = 0
        prev_kind = ""
        while k < limit:
            w = texts[k]
            if w in ("باسم", "باسمه") and k + 1 < limit:
                k += 2
                seen_def = True
                continue
            if w == '"':
                pair = self.contents.pair_at.get(k)
                if pair is not None and pair.close is not None and pair.close < limit and pair.close - k <= 5:
                    k = pair.close + 1  # صحيفة "فالتر"، وكالة "تسنيم"
                    seen_def = True
                    continue
                break
            if not is_word[k]:
                break
            if k > j and w == "من" and texts[k - 1] in self._quantity:
                k += 1
                prev_kind = "lam"  # "الكثير من الجرائد": the genitive follows
                continue
            if k > j and w in ("في", "من") and head in _SOURCE_WORDS and k + 1 < limit and _is_def(texts[k + 1]):
                k += 1  # "مصدر في النيابة العامة"، "مصادر مقربة من الحكومة"
                prev_kind = "lam"
                continue
            if k > j and self._boundary(k) and not (w in self.adjectives and prev_kind == "def"):
                break  # ("النائب العام": العام qualifies, it is not the time word of "العام الماضي")
            if k > j and (w in self._titles and not _is_def(w)):
                break
            if w.startswith("لل") and k > j:
                seen_def = True  # "المركز الوطني للأعاصير": a genitive through ل
                prev_kind = "lam"
            elif w.startswith(_DEF_PREFIXES) and len(w) > 3 and w not in _NOT_DEF:  # (_is_def inline)
                if k > j and seen_def and prev_kind == "def" and not _adjective_like(w, texts[k - 1], self.adjectives):
                    break  # "نفت السلطات البريطانية الاتهامات": a second noun phrase starts
                seen_def = True
                prev_kind = "def"
            elif w.startswith("ل") and len(w) > 3 and w not in self._addressees and k > j:
                seen_def = True
                prev_kind = "lam"
            elif k > j:
                nisba = w.endswith(("يه", "ي", "يين", "يون", "يان"))
                if seen_def and not nisba:
                    break
                n_ind += 1
                if n_ind > 3 and not nisba:
                    break
                prev_kind = "ind"
            else:
                prev_kind = "ind"
            k += 1
            if k - j >= MAX_NP:
                break
        if k == j:
            return None
        kind = "org"
        if k - j <= 3 and _is_def(head) and (head in self._anaphoric or head in self._titles):
            kind = "nominal"
        return self._mention(j, k, kind)

    def _mention(self, a: int, b: int, kind: str, title: tuple[int, int] | None = None) -> Mention:
        kt = self.kt
        is_word = kt.is_word
        words = list(compress(kt.bare_texts[a:b], is_word[a:b]))
        if self._underscore:
            words = [w.replace("_", " ") for w in words]
        if words:
            w0 = words[0]
            if w0.startswith("لل") and len(w0) > 4:
                words[0] = "ال" + w0[2:]
            elif w0.startswith("ل") and len(w0) > 4 and w0 not in self._titles:
                words[0] = w0[1:]
        title_words: tuple[str, ...] = ()
        if title:
            t0, t1 = title
            title_words = tuple(compress(kt.texts[t0:t1], is_word[t0:t1]))
        return Mention(a, b, kind, title_words, tuple(words))

    # -- where the source stands ----------------------------------------------------------------

    def after_cue(self, cand: Candidate) -> Mention | None:
        """VSO: the subject right after the cue (adjuncts such as ``حينها`` skipped)."""
        a, b = cand.gap
        texts, is_word = self.kt.texts, self.kt.is_word
        j = a
        while j < b and is_word[j] and texts[j] in self._adjuncts:
            j += 1
        if j >= b:
            return None
        return self.noun_phrase(j, b)

    def before_cue(self, cand: Candidate) -> Mention | None:
        """SVO at the start of the sentence or of a complement clause ("أن امرأة سويسرية اتهمت"),
        or the antecedent of a relative pronoun."""
        texts = self.kt.texts
        i = cand.cue.index  # type: ignore[union-attr]
        s0 = self.contents.sentence_start[i]
        k = i - 1
        if k >= 0 and texts[k] in ("قد", "وقد", "لقد"):
            k -= 1
        if k < s0:
            return None
        if texts[k] in _RELATIVES:
            return self._antecedent(k)
        starts = [s0] + [x + 1 for x in range(max(s0, k - MAX_NP), k)
                         if texts[x] in COMPLEMENTISERS or texts[x] in _CLAUSE_OPENERS]
        for j in reversed(starts):
            np = self._svo_from(j, k)
            if np is not None:
                return np
        return self._topic(s0, k, i) or self._relative_subject(s0, k, i)

    def _topic(self, s0: int, k: int, cue: int) -> Mention | None:
        """"أما أنقرة، فاعتبرت أن ...": the topic after أما is the subject of the ف-verb."""
        texts = self.kt.texts
        if texts[s0] not in ("اما", "واما") or self.contents.cue_at[cue].form.conjunction != "ف":
            return None
        np = self.noun_phrase(s0 + 1, k + 1)
        if np is None or np.end > k or texts[np.end] not in ("،", ",") or np.end + 1 != cue:
            return None
        return np

    def _relative_subject(self, s0: int, k: int, cue: int) -> Mention | None:
        """"وكان الصدر الذي فاز ... في الانتخابات، قد أكد": a known source opening the sentence,
        then a relative clause, then the main verb. The relative clause must hold no cue (its verb
        would be the speech verb) and the cue must be the main verb: after قد or a comma, or an
        imperfect with no conjunction ("لكن رمضان الذي يعد ... ينفي")."""
        texts, is_word = self.kt.texts, self.kt.is_word
        form = self.contents.cue_at[cue].form
        if form.conjunction or not (texts[cue - 1] in ("قد", "وقد", "،", ",") or form.kind == "present"):
            return None
        # the subject opens the sentence or a clause after "لكن", "بينما", ... (nearest first)
        starts = [x + 1 for x in range(max(s0, cue - 30), k) if texts[x] in _CLAUSE_OPENERS][::-1] + [s0]
        for j in starts:
            while j < k and (not is_word[j] or texts[j] in _SVO_OPENERS_ANY_VARIANT):
                j += 1
            if j >= k or cue - j > 30:
                continue
            np = self.noun_phrase(j, k)
            if np is not None and np.end < k and texts[np.end] in _RELATIVES:
                break
        else:
            return None
        if any(v in self._stops for v in variants(texts[np.start])):
            return None  # "وفي البلد الذي ...": a prepositional phrase, not a subject
        trusted = self._known_at(np.start) or (np.kind == "name" and (np.title or texts[np.start] in self._places)) \
            or (np.kind == "org" and self._in("org_heads", texts[np.start])) or np.kind == "nominal"
        if not trusted:
            return None
        if any(x in self.contents.cue_at or texts[x] in COMPLEMENTISERS for x in range(np.end + 1, cue)):
            return None
        known = self._known_at(np.start)
        if known and np.kind != "name":
            return self._mention(np.start, np.start + known, "name")  # "الصدر" of "مقتدى الصدر": a name
        return np

    def _svo_from(self, j: int, k: int) -> Mention | None:
        texts, is_word = self.kt.texts, self.kt.is_word
        while j <= k and (not is_word[j] or texts[j] in _SVO_OPENERS_ANY_VARIANT):
            j += 1
        w = texts[j]
        if j < k and len(w) > 2 and w[0] in "وف" and not w.startswith(("وال", "فال")) and not self._known_at(j) \
                and not (w in self._in_titles or w in self._in_org_heads or w in self._in_sets["places"]):
            j += 1  # "ومضى ماكرون يقول": a verb opens the sentence, its subject follows (not "وزير ...")
        if j > k or k - j >= MAX_NP:
            return None
        np = self.noun_phrase(j, k + 1)
        if np is None:
            return None
        if not all(is_word[np.end : k + 1]):
            return None  # "من جانبه، قال": the phrase is not the subject
        rest = texts[np.end : k + 1]  # all words
        if rest and not (len(rest) <= 3 and all(w in self._titles or _is_def(w) for w in rest)):
            return None
        return np

    def _antecedent(self, rel: int) -> Mention | None:
        texts, is_word = self.kt.texts, self.kt.is_word
        k = rel - 1
        if k < 0 or not is_word[k]:
            return None
        w = texts[k]
        a0 = max(0, k - 3)
        if self._in("places", w):
            return self._mention(k, k + 1, "name")  # "إيران التي تنفي"
        if not (any(self._known_at(x) for x in range(a0, k + 1)) or self._in("org_heads", w) or self._in("anaphoric", w)
                or self._in("titles", w) or self._in("titles", texts[max(0, k - 1)])):  # (فالرئيس الذي: و/ف attached)
            return None  # "المرة الأولى التي يصف": not a source
        if _is_def(w):
            a = k
            while a - 1 >= 0 and is_word[a - 1] and (_is_def(texts[a - 1]) or texts[a - 1] in self._titles) and k - a < 3:
                a -= 1
            return self._mention(a, k + 1, "nominal" if (texts[a] in self._anaphoric or texts[a] in self._titles) else "org")
        a = k
        while a - 1 >= 0 and is_word[a - 1] and not _is_def(texts[a - 1]) and not self._boundary(a - 1) and k - a < 2:
            a -= 1
        return self._mention(a, k + 1, "name")

    def after_according(self, cand: Candidate) -> Mention | None:
        """The source after ``بحسب``/``وفقا لـ``/``حسبما ذكر``."""
        texts, is_word = self.kt.texts, self.kt.is_word
        a, b = cand.gap
        j = a
        steps = 0
        while j < b and steps < 4:
            w = texts[j]
            if j > a and texts[j - 1] in ("ما", "لما") and is_word[j]:
                cand.extra["channel"] = w  # "وفق ما أوردته": the verb after ما
                j += 1
                steps += 1
                continue
            if w in _CHANNEL_SKIP or w == "ل" or (j in self.contents.cue_at and not self.contents.cue_at[j].according) \
                    or self.lexicon.is_("channel_verbs", w) or w in ("في",):
                if self.lexicon.is_("channel_verbs", w) or (j in self.contents.cue_at):
                    cand.extra["channel"] = w
                j += 1
                steps += 1
                continue
            break
        if j >= b:
            return None
        np = self.noun_phrase(j, b)
        if np is None and texts[j].startswith("ل") and len(texts[j]) > 3:
            np = self._org(j, b)
        return np

    def after_in(self, cand: Candidate) -> Mention | None:
        """``وجاء في البيان أن``, ``ورد في مذكرات خلخالي أن``: the document after في speaks (its
        author when it names one)."""
        a, b = cand.gap
        texts = self.kt.texts
        if a >= b or texts[a] != "في":
            return None
        return self.noun_phrase(a + 1, b)

    def after_an(self, cand: Candidate) -> Mention | None:
        """``نقلت X عن Y``: Y speaks."""
        a, b = cand.gap
        texts = self.kt.texts
        for j in range(a, b):
            if texts[j] == "عن":
                return self.noun_phrase(j + 1, b)
        return None
