"""The bootstrapper's fast paths against their straightforward definitions, on small Arabic fixtures
and random strings built from Arabic pieces, marks, line breaks, diacritics, Latin and digits."""

from __future__ import annotations

import random

import pytest

from khabar.bootstrap import Bootstrapper, Lexicon
from khabar.bootstrap.text import _DELETE_RE, _TOKEN_FIND_RE, _TOKEN_RE, KeyText, OffsetMap, variants

_PIECES = ["قال", "وقال", "أكد", "وأضاف", "مضيفا", "إن", "أن", "الرئيس", "وزير", "الخارجية", "المتحدث", "باسم",
           "علي", "على", "أحمد", "بحسب", "وفقا", "لـ", "عن", "نقلت", "قوله", "الذي", "ُ", "ـ", "\u200f", "إي", ".",
           "لين", "براون", "أ", "ى", "ة", "#", "_", "#وسم", "...", "..", "…", "\n", "\n\n", " ", "  ", "\t", "«", "»",
           '"', "“", "”", "„", "؟", "!", ":", "،", "(", ")", "-", "3", "x", "Reuters", "\u00a0", "َ", "ّ"]
_EDGES = ["", " ", "\n\n", "   \t ", "Reuters said 3 things.", '"قال"', "«", "»", '"', ":", "ُ", "ـــ",
          'قال الوزير: "الوضع صعب"', "#وسم_آخر", "_", "x_y", "..", "…", "_#وسم", "##", "#_", "قالَ.\nوأضافَ: «نعم».ُ"]


def _texts(n: int = 1500, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = list(_EDGES)
    for _ in range(n):
        out.append("".join(rng.choice(_PIECES) + (" " if rng.random() < 0.6 else "") for _ in range(rng.randint(0, 30))))
    return out


@pytest.fixture(scope="module")
def boot() -> Bootstrapper:
    return Bootstrapper()


def _offsets_by_runs(text: str) -> tuple[str, OffsetMap]:
    """KeyText.build's deletion map as it was: a match object per deleted run, add_run per kept one."""
    pieces, offsets, pos = [], OffsetMap(), 0
    for m in _DELETE_RE.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos : m.start()])
            offsets.add_run(pos, m.start())
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:])
        offsets.add_run(pos, len(text))
    return "".join(pieces), offsets


def test_key_text_lists_match_their_definitions():
    for text in _texts():
        kt = KeyText.build(text)
        plain, offsets = _offsets_by_runs(text)
        assert kt.plain == plain
        assert (kt.offsets.key_starts, kt.offsets.orig_starts, kt.offsets.size) == \
               (offsets.key_starts, offsets.orig_starts, offsets.size), repr(text)
        # the tokens: the original pattern's matches, field by field
        matches = list(_TOKEN_RE.finditer(kt.key))
        assert kt.texts == [m.group() for m in matches] == [s.lstrip() for s in _TOKEN_FIND_RE.findall(kt.key)]
        assert kt.starts == [m.start() for m in matches] and kt.ends == [m.end() for m in matches]
        assert kt.is_word == [g[0].isalnum() or g[0] in "#_" for g in kt.texts]
        assert kt.paragraphs == [kt.key.count("\n", 0, s) for s in kt.starts]
        n = len(kt.texts)
        assert kt.words_before == [sum(kt.is_word[:i]) for i in range(n + 1)]
        assert kt.bare_texts == [w.lstrip("#") for w in kt.texts]
        p = kt.paragraphs
        assert kt.paragraph_bounds() == [i for i in range(1, n) if p[i] != p[i - 1]]
        sentence_of = [0] * n
        for si, (a, b) in enumerate(kt.sentences):
            for i in range(a, b):
                sentence_of[i] = si
        assert kt.sentence_of == sentence_of
        # the Token objects, made on demand, hold the same fields
        assert [(t.text, t.start, t.end, t.is_word, t.sentence, t.paragraph) for t in kt.tokens] == \
               list(zip(kt.texts, kt.starts, kt.ends, kt.is_word, kt.sentence_of, kt.paragraphs))
        if n:
            assert kt.span_text(0, n) == kt.key[kt.starts[0] : kt.ends[-1]]
            assert kt.token_at(kt.starts[-1]) == n - 1


def test_narrowed_index_lookups_equal_the_scan(boot: Bootstrapper):
    lex = boot.lexicon
    titles = lex.words["titles"]
    marks = frozenset({'"', "«", "„", "“", "»", "”"})
    union = frozenset(lex.forms) | marks | titles
    for text in _texts(600) + ["قال الرئيس «نعم» وأكد وزير الخارجية أن"]:
        kt = KeyText.build(text)
        scans = {id(s): [i for i, w in enumerate(kt.texts) if w in s] for s in (lex.forms, marks, titles)}
        for s in (lex.forms, marks, titles):
            assert kt.indexes_of(s) == scans[id(s)]
        kt.narrow(union, (lex.forms, marks, titles))
        for s in (lex.forms, marks, titles):
            assert kt.indexes_of(s) == scans[id(s)]
        other = {"أن", "ان"}  # a set narrow() was not told about: the full scan
        assert kt.indexes_of(other) == [i for i, w in enumerate(kt.texts) if w in other]


def test_source_finder_word_tests_equal_the_lexicon_calls(boot: Bootstrapper):
    from khabar.bootstrap.contents import COMPLEMENTISERS

    src, lex = boot.sources, boot.lexicon
    boot("وقال وزير الخارجية أحمد علي إن الوضع صعب، على حد قوله، وأي شيء آخر.")
    kt = src.kt
    for j, w in enumerate(kt.texts):
        t = kt.tokens[j]
        plain = kt.plain[t.start : t.end]
        if not t.is_word:
            expected = True
        elif w == "علي" and plain == "علي":
            expected = False
        elif w in ("اي", "ايه") and plain in ("أي", "أية"):
            expected = True
        else:
            expected = (lex.is_("stops", w) or lex.is_("adjuncts", w) or lex.is_("addressees", w)
                        or j in src.contents.cue_at or w in COMPLEMENTISERS or src.contents.is_sentence_end(j))
        assert src._boundary(j) == expected, w
    words = [w for text in _texts(200) for w in KeyText.build(text).texts] + ["والرئيس", "فالوزير", "للرئيس", "بالوزير"]
    for cls in ("titles", "org_heads", "places", "anaphoric"):
        for w in words:
            assert src._in(cls, w) == any(lex.is_(cls, v) for v in variants(w))
            assert src._in(cls, w) == any(lex.is_(cls, v) for v in variants(w))  # (asked again)


def test_surface_and_skeleton_translations_equal_the_character_loops():
    from khabar.bootstrap.resolution import _SURFACE, _skeleton

    rng = random.Random(3)
    chars = list("قالأحمد علي#_\"«»“”ـًٌٍَُِّْٰ") + ["\u0652", "\u065f", "\u064b", "x", " ", "اويء"]
    for _ in range(3000):
        s = "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))
        ref = "".join(ch for ch in s if not ("\u064b" <= ch <= "\u065f" or ch in "\u0670\u0640"))
        ref = ref.replace("#", "").replace("_", " ")
        ref = "".join(" " if ch in '"«»“”' else ch for ch in ref)
        assert s.translate(_SURFACE) == ref
        word = s.replace(" ", "")
        assert _skeleton(word) == (word[0] + "".join(c for c in word[1:] if c not in "اويء") if word else word)


def test_cue_attributes_equal_the_form_fields(boot: Bootstrapper):
    kt = KeyText.build("وقال الوزير إن الاتفاق مهم، بحسب وكالة رويترز، مضيفا أن الوضع صعب.")
    cues = boot.cues(kt)
    assert cues
    for c in cues:
        assert (c.entry, c.kind, c.according) == (c.form.entry, c.form.kind, c.form.entry.role == "according")


def test_articles_without_cue_or_colon_skip_nothing_that_matters(boot: Bootstrapper, monkeypatch):
    """The early return for an article with no cue and no ':' gives what the full pipeline gives."""
    full = Bootstrapper(Lexicon.load())
    texts = [t for t in _texts(800, seed=11) if ":" not in t] + ['"الوضع صعب جدا" في البلاد.\n"وسيبقى كذلك طويلا."']
    # the full pipeline: the same stages with the early-return test fooled by a ':'-free cue list
    original_extract = Bootstrapper.extract

    def no_shortcut(self, text):
        kt_build = KeyText.build

        class _Key(str):
            def __contains__(self, item):  # ":" in kt.key is asked only by the early return
                return True if item == ":" else str.__contains__(self, item)

        def build(t):
            kt = kt_build(t)
            kt.key = _Key(kt.key)
            return kt

        monkeypatch.setattr(KeyText, "build", staticmethod(build))
        try:
            return original_extract(self, text)
        finally:
            monkeypatch.setattr(KeyText, "build", staticmethod(kt_build))

    for text in texts:
        fast = boot.extract(text)
        slow = no_shortcut(full, text)
        assert fast == slow, text


def test_offset_shortcut_for_texts_with_nothing_deleted_equals_the_map():
    for text in _texts(400) + ["قال الوزير إن", "  a  b ", "x"]:
        kt = KeyText.build(text)
        n = len(text)
        for index in range(-2, n + 3):
            assert kt.from_original(index) == kt.offsets.first_at_or_after(index)
        if len(kt.offsets) == n:  # the shortcut's case
            assert kt._same_indexes
            for s in range(n):
                for e in range(1, n + 1):
                    assert kt.to_original(s, e) == (kt.offsets[s], kt.offsets[e - 1] + 1)


def test_to_original_equals_the_offset_map():
    """to_original's inline run look-ups: ``offsets[start]``, ``offsets[end - 1] + 1`` and the marks
    written after the end, for every key span of texts with deletions (and out-of-range ends)."""
    from khabar.bootstrap.text import _MARKS_RE

    def by_map(kt: KeyText, s: int, e: int) -> tuple[int, int]:
        o_start, o_end = kt.offsets[s], kt.offsets[e - 1] + 1
        m = _MARKS_RE.match(kt.original, o_end)
        return o_start, (m.end() if m else o_end)

    for text in _texts(300, seed=11) + ["قالَ الوزيرُ", "ـقال", "قال‏", "َ", "أَبُ"]:
        kt = KeyText.build(text)
        size = len(kt.offsets)
        for s in range(-1, size + 1):
            for e in range(0, size + 2):
                try:
                    want = by_map(kt, s, e)
                except IndexError:
                    with pytest.raises(IndexError):
                        kt.to_original(s, e)
                    continue
                if not (kt._same_indexes and 0 <= s < len(text) and 0 < e <= len(text)):
                    assert kt.to_original(s, e) == want, (text, s, e)


def test_mark_set_is_the_marks_regex_over_the_bmp():
    """to_original's set test before its regex call: the same characters as _MARKS_RE."""
    from khabar.bootstrap.text import _MARK_CHARS, _MARKS_RE

    assert _MARK_CHARS == {chr(c) for c in range(0x10000) if _MARKS_RE.match(chr(c))}


def test_variant_closure_is_the_variant_test(boot: Bootstrapper):
    from khabar.bootstrap.sources import variant_closure

    from khabar.bootstrap.sources import _DOCUMENTS, _SVO_OPENERS

    lex = boot.lexicon
    prefixes = [""] + [a + b for a in ("", "و", "ف", "ب", "ل", "ك", "ا") for b in ("", "و", "ف", "ب", "ل", "ك", "ال", "لل")]
    for cls in ("titles", "org_heads", "places", "anaphoric", _DOCUMENTS, _SVO_OPENERS):
        words = lex.words[cls] if isinstance(cls, str) else cls
        closure = variant_closure(words)
        tried = {p + s for s in words for p in prefixes} | {p + "لل" + s[2:] for s in words if s.startswith("ال") for p in prefixes}
        tried |= {s[1:] for s in words} | {w for text in _texts(100) for w in KeyText.build(text).texts}
        for w in tried:
            assert (w in closure) == any(v in words for v in variants(w)), (cls, w)
