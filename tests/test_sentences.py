import re

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SEED_TEXT
from khabar.data.sentences import split_sentences


def sents(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def check_cover(text: str) -> None:
    spans = split_sentences(text)
    covered = [False] * len(text)
    prev_end = 0
    for s, e in spans:
        assert prev_end <= s < e <= len(text)
        assert not text[s].isspace() and not text[e - 1].isspace()
        for i in range(s, e):
            covered[i] = True
        prev_end = e
    for i, c in enumerate(text):
        assert covered[i] or c.isspace(), f"character {i} {c!r} dropped"


def test_basic_marks_and_line_breaks() -> None:
    text = "بدأت الحرب في عام 2016. هل انتهت؟ نعم! قال ذلك؛ ثم مضى\nسطر جديد بلا نقطة\n\nوآخر."
    assert sents(text) == [
        "بدأت الحرب في عام 2016.", "هل انتهت؟", "نعم!", "قال ذلك؛", "ثم مضى", "سطر جديد بلا نقطة", "وآخر.",
    ]


def test_no_split_inside_numbers_or_after_one_letter_abbreviation() -> None:
    assert sents("ارتفع المؤشر 3.5 في المئة. وقال د. محمد إن ذلك متوقع.") == [
        "ارتفع المؤشر 3.5 في المئة.", "وقال د. محمد إن ذلك متوقع.",
    ]


def test_quotation_kept_whole() -> None:
    assert sents('قال: "أولا. ثانيا." ثم مضى. وانتهى') == ['قال: "أولا. ثانيا."', "ثم مضى.", "وانتهى"]
    assert sents("وأضاف «لن نتراجع. أبدا» ثم غادر. وصمت.") == ["وأضاف «لن نتراجع. أبدا» ثم غادر.", "وصمت."]
    assert sents('وقال: "انتهى الأمر". ثم غادر.') == ['وقال: "انتهى الأمر".', "ثم غادر."]


def test_unclosed_quote_does_not_swallow_the_rest() -> None:
    text = 'مؤكدا بأن "القادة مدينون للوزير. وقال آخر إن الأمر صعب. ثم انتهى.\nوفي فقرة "ثانية". أخرى.'
    assert sents(text) == [
        'مؤكدا بأن "القادة مدينون للوزير.', "وقال آخر إن الأمر صعب.", "ثم انتهى.", 'وفي فقرة "ثانية".', "أخرى.",
    ]


def test_quotes_never_cross_lines() -> None:
    assert sents('قال "أولا.\nثانيا." ثم') == ['قال "أولا.', 'ثانيا."', 'ثم']


def test_letterless_pieces_are_merged_not_dropped() -> None:
    text = "... بداية الخبر. .. (1) نهاية."
    check_cover(text)
    assert sents("!!") == ["!!"]
    assert sents("") == [] and sents(" \n\t ") == []


def test_missing_space_after_full_stop() -> None:
    assert sents("هذا البلد.وأضاف أنه") == ["هذا البلد.", "وأضاف أنه"]


def test_seed_article() -> None:
    text = SEED_TEXT.read_text(encoding="utf-8")
    spans = split_sentences(text)
    check_cover(text)
    assert 12 <= len(spans) <= 25, len(spans)
    assert text[spans[0][0] : spans[0][1]] == "الجنرال جوزف دانفورد"  # the headline line
    # the unclosed quote (paragraph 2) must not merge the paragraph into one sentence
    assert all(e - s < 400 for s, e in spans)
    assert all("\n" not in text[s:e] for s, e in spans)


PIECES = ["قال", "إن", "الوزير", " ", " ", "  ", "\n", ".", "؟", "!", "؛", "…", '"', "«", "»", "“", "”", "3.5", "2016", "د.", "(", ")", ":", "\t", "\u00a0", "a"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=50).map("".join))
def test_cover_property(text: str) -> None:
    check_cover(text)
    for s, e in split_sentences(text):
        assert not re.search(r"[\n\r]", text[s:e])
