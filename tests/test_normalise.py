import re
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SEED_TEXT
from khabar.data.normalise import Normalised, normalise, normalise_name, strip_diacritics

LETTERS = "ابتثجحخدذرسشصضطظعغفقكلمنهويءأإآؤئىةٱ"
DIACRITICS = "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670"
PIECES = (
    list(LETTERS) + list(DIACRITICS) + ["\u0640", "ـــ"]
    + list("abcXYZé") + list("0123456789") + list("٠١٢٣٤٥٦٧٨٩۱۲")
    + ["😀", "👍🏽", "👨\u200d👩", "\ufe0f", "©"]
    + ["<b>", "</p>", "<br />", "&quot;", "&amp;", "&lt;", "&#1614;", "&nbsp;", "&bogus;", "&"]
    + ['"', "«", "»", "“", "”", "'", "(", ")", "[", "]", ".", "،", "؟", "!", ":", "؛", "_", "-", "@", "/", "%", "٪"]
    + [" ", "  ", "\t", "\n", "\u00a0", "\u200f", "\u200e", "\u200b", "\u2028", "\r\n"]
    + ["http://x.com/a?b=1", "www.example.org", "user@mail.com", "@someone", "3.5", "2016م", "٢٠١٦"]
)
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
ANY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_alignment(n: Normalised) -> None:
    assert len(n.offsets) == len(n.text) == len(n.ends)
    m = len(n.original)
    for i in range(len(n.text)):
        assert 0 <= n.offsets[i] <= n.ends[i] <= m
        if i:
            assert n.offsets[i - 1] <= n.offsets[i] and n.ends[i - 1] <= n.ends[i]


@ANY
@given(texts)
def test_alignment_valid_and_monotonic(x: str) -> None:
    n = normalise(x)
    check_alignment(n)
    L = len(n.text)
    cuts = sorted({0, L, *(range(0, L + 1, max(1, L // 7)))})
    prev = (0, 0)
    for s in cuts:
        for e in cuts:
            if s <= e:
                os_, oe = n.to_original(s, e)
                assert 0 <= os_ <= oe <= len(x)
    for s, e in zip(cuts, cuts[1:]):  # consecutive spans map to non-overlapping, ordered spans
        os_, oe = n.to_original(s, e)
        assert os_ >= prev[0] and (os_ >= prev[1] or os_ == oe or prev[0] == prev[1])
        prev = (os_, oe)


@ANY
@given(texts)
def test_idempotent(x: str) -> None:
    once = normalise(x).text
    assert normalise(once).text == once
    assert once == once.strip() and "  " not in once and "\n" not in once


@ANY
@given(texts)
def test_tokens_map_back_to_what_they_came_from(x: str) -> None:
    n = normalise(x)
    for m in re.finditer(r"\S+", n.text):
        s, e = n.to_original(*m.span())
        assert s < e
        # Normalising the recovered original stretch gives the token back.
        assert normalise(x[s:e]).text == m.group()
        # And the stretch maps forward onto the token again.
        assert n.from_original(s, e) == m.span()


words = st.lists(
    st.tuples(st.sampled_from(LETTERS), st.text(alphabet=DIACRITICS + "\u0640", max_size=2)).map("".join),
    min_size=1, max_size=6,
).map("".join)
seps = st.sampled_from([" ", "، ", " (", ") ", ' "', '" ', "\n", "\t", "«", "» ", ". ", "\u00a0", ": "])


@ANY
@given(st.lists(st.tuples(words, seps), min_size=1, max_size=15))
def test_whole_word_span_recovers_word_with_its_diacritics(pairs: list[tuple[str, str]]) -> None:
    text, spans = "", []
    for w, sep in pairs:
        spans.append((len(text), len(text) + len(w)))
        text += w + sep
    n = normalise(text)
    toks = [m.span() for m in re.finditer(r"[^\W\d_]+", n.text)]
    assert len(toks) == len(spans)
    for (s, e), (os_, oe) in zip(toks, spans):
        assert n.to_original(s, e) == (os_, oe), (text[os_:oe], n.text[s:e])
        assert n.from_original(os_, oe) == (s, e)


def test_arabert_rules() -> None:
    n = normalise("قالَ الـرئيسُ: «سنعودُ في عام ٢٠١٦م»، (انظر http://x.com) 😀 بريد a@b.org &quot;نعم&quot;")
    assert n.text == 'قال الرئيس : « سنعود في عام 2016 م » ، ( انظر ) بريد " نعم "'
    assert normalise("أإآ ؤئ ى ة").text == "أإآ ؤئ ى ة"  # hamza forms kept in v0.2
    assert normalise("3.5 COVID19 Hervé").text == "3 . 5 COVID19 Hervé"
    assert normalise("").text == "" and normalise(" \n\t\u200f ").text == ""


def test_to_original_is_tight_and_includes_inner_marks() -> None:
    x = "قال: «كتـابُ اللهِ»."
    n = normalise(x)
    s = n.text.index("كتاب")
    e = n.text.index("الله") + len("الله")
    os_, oe = n.to_original(s - 1, e + 1)  # leading/trailing inserted spaces are ignored
    assert x[os_:oe] == "كتـابُ اللهِ"
    q = n.text.index("«")
    assert x.__getitem__(slice(*n.to_original(q, q + 1))) == "«"
    assert n.to_original(s - 1, s) == n.to_original(s - 1, s - 1)  # a lone space is an empty span


def test_entity_maps_to_whole_escape() -> None:
    x = "قال &quot;نعم&quot;"
    n = normalise(x)
    i = n.text.index('"')
    assert n.to_original(i, i + 1) == (4, 10)


def test_seed_article_is_fast() -> None:
    text = SEED_TEXT.read_text(encoding="utf-8")
    normalise(text)
    t0 = time.perf_counter()
    for _ in range(20):
        n = normalise(text)
    per = (time.perf_counter() - t0) / 20
    assert per < 0.02, f"{per * 1000:.1f} ms per seed article"
    check_alignment(n)
    assert normalise(n.text).text == n.text
    assert "ً" not in n.text and "َ" not in n.text


def test_names_and_diacritics() -> None:
    assert normalise_name("  أحمـدُ   الإمامى ") == "احمد الامامي"
    assert normalise_name("جوزيف دانفورد") == normalise_name("جُوزيف  دانفورد")
    assert normalise_name("مدرسة") == "مدرسه"
    assert strip_diacritics("مُحَمَّد") == "محمد"
