"""Unit tests of the rule-based bootstrapper, one stage at a time, on hand-made Arabic sentences."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from khabar.bootstrap import Bootstrapper, Lexicon
from khabar.bootstrap.lexicon import parse_cues
from khabar.bootstrap.marks import MarkPairer
from khabar.bootstrap.text import KeyText
from khabar.data.article import Article


@pytest.fixture(scope="module")
def boot() -> Bootstrapper:
    return Bootstrapper()


def quotes(boot: Bootstrapper, text: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """(type, content, cue, speaker span text, speaker_name) for each quotation found."""
    art = boot(text)
    out = []
    for q in art.quotes or []:
        cue = text[q.cue.start : q.cue.end] if q.cue else None
        spk = text[q.speaker.start : q.speaker.end] if q.speaker else None
        out.append((q.type, text[q.start : q.end], cue, spk, q.speaker_name))
    return out


# -- lexicon -------------------------------------------------------------------------------------


def test_lexicon_generates_inflections_with_clitics():
    lex = Lexicon.load()
    for form in ("قال", "قالت", "قالوا", "يقول", "تقول", "يقولون", "قائلا", "قائلة", "وقال", "فقالت",
                 "أضاف", "وأضافت", "مضيفا", "مضيفة", "أكد", "مؤكدا", "يؤكد", "دعا", "دعت", "يدعو", "داعيا",
                 "حذر", "محذرا", "لفت", "لافتا", "بحسب", "وبحسب", "وفقا", "ووفقا", "حسبما"):
        assert lex.cue(_key(form)) is not None, form
    assert lex.cue(_key("قالت")).entry.lemma == "قال"
    assert lex.cue(_key("مضيفًا")).kind == "participle"  # tanwin is ignored
    assert lex.cue(_key("مؤكد")) is None  # bare participle is as often "confirmed"
    assert lex.cue(_key("يذكر")) is None  # impersonal "it is noted": not a cue


def test_lexicon_rows_are_validated_with_file_and_line():
    with pytest.raises(ValueError, match=r"my\.tsv:2: takes: unknown complement"):
        parse_cues("# header\nقال\tقال\tيقول\tقائل\t-\tthat,nonsense\tsay\t0.9\n", "my.tsv")
    with pytest.raises(ValueError, match=r"my\.tsv:1: expected 8"):
        parse_cues("قال\tقال\n", "my.tsv")


def _key(word: str) -> str:
    from khabar.bootstrap.text import fold

    return fold(word)


# -- key text --------------------------------------------------------------------------------------


def test_key_text_strips_diacritics_and_maps_back():
    text = "ثم قال مؤكدَا أنّ الأمرَ انتهى"
    kt = KeyText.build(text)
    assert "مؤكدا" in kt.key and "َ" not in kt.key
    tok = next(t for t in kt.tokens if t.text == "مؤكدا")
    s, e = kt.to_original(tok.start, tok.end)
    assert text[s:e] == "مؤكدَا"
    last = kt.tokens[-1]
    assert text[slice(*kt.to_original(kt.tokens[-2].start, last.end))] == "الأمرَ انتهى"


# -- quotation marks -------------------------------------------------------------------------------


def _pairs(text: str) -> list[tuple[str, bool, bool]]:
    kt = KeyText.build(text)
    out = []
    for p in MarkPairer(Lexicon.load())(kt):
        a, b = p.inner
        s, e = kt.to_original(kt.tokens[a].start, kt.tokens[b - 1].end)
        out.append((text[s:e], p.close is None, p.name_like))
    return out


def test_straight_marks_pair_by_context_and_nest():
    text = 'وقال: "لا بد من التصدي لـ "الجماعة"، وفي الوقت ذاته نريد حلا سياسيا". ثم غادر.'
    pairs = _pairs(text)
    assert ('لا بد من التصدي لـ "الجماعة"، وفي الوقت ذاته نريد حلا سياسيا', False, False) in pairs
    assert ("الجماعة", False, False) in pairs


def test_unclosed_mark_runs_to_the_sentence_end():
    text = 'وأكد أن "الجيش سيبقى في المدينة حتى نهاية العام.\nوفي سياق آخر قال الوزير كلاما.'
    (inner, unclosed, _), = _pairs(text)
    assert unclosed and inner == "الجيش سيبقى في المدينة حتى نهاية العام"


def test_guillemets_and_glued_marks():
    assert _pairs("وقال «نحن هنا» ثم مضى") == [("نحن هنا", False, False)]
    # A mark glued to a proclitic opens; one glued after a word before a space closes.
    assert _pairs('ووصفهم بـ"الخونة" أمس') == [("الخونة", False, False)]


def test_quoted_names_are_marked_name_like():
    (inner, _, name_like), = _pairs('استولى تنظيم "الدولة الإسلامية" على المدينة')
    assert inner == "الدولة الإسلامية" and name_like


# -- contents --------------------------------------------------------------------------------------


def test_scare_quotes_are_not_quotations(boot):
    assert quotes(boot, 'وسيطر تنظيم "داعش" على المدينة بعد معارك عنيفة.') == []
    assert quotes(boot, 'وصلت قافلة "الأمل" إلى المخيم صباح اليوم.') == []


def test_indirect_span_from_complementiser_without_final_punctuation(boot):
    (q,) = quotes(boot, "وقال وزير الداخلية سمير خالد إن الأمن مستتب في العاصمة.")
    assert q[:3] == ("indirect", "إن الأمن مستتب في العاصمة", "وقال")


def test_prepositional_objects(boot):
    got = quotes(boot, "وحذر الوزير سمير خالد من أن الوضع قد يتدهور. ودعا الوزير إلى ضبط النفس.")
    assert [g[1] for g in got] == ["من أن الوضع قد يتدهور", "إلى ضبط النفس"]
    assert all(g[4] == "سمير خالد" for g in got)


def test_participle_starts_a_new_quotation(boot):
    got = quotes(boot, "وقال سمير خالد إن الاجتماع كان مثمرا، مضيفا أن الحوار سيستمر الأسبوع المقبل.")
    assert [(g[1], g[2]) for g in got] == [("إن الاجتماع كان مثمرا", "وقال"), ("أن الحوار سيستمر الأسبوع المقبل", "مضيفا")]
    assert got[1][4] == "سمير خالد"  # the participle's dropped subject is the sentence's speaker


def test_direct_and_mixed(boot):
    text = 'وقال رئيس الحزب كريم ناصر: "سنشارك في الانتخابات. ولن نقاطعها". وأضاف أن الحزب "لن يتراجع" عن موقفه.'
    got = quotes(boot, text)
    assert got[0][:2] == ("direct", "سنشارك في الانتخابات. ولن نقاطعها")  # two sentences, one quotation
    assert got[1][:2] == ("mixed", 'أن الحزب "لن يتراجع" عن موقفه')
    assert got[0][4] == got[1][4] == "كريم ناصر"


def test_text_continuing_after_the_closing_mark_makes_it_mixed(boot):
    (q,) = quotes(boot, 'وقال سمير خالد "لن نسمح" بتكرار ما حدث في الجنوب.')
    assert q[:2] == ("mixed", '"لن نسمح" بتكرار ما حدث في الجنوب')


def test_negated_cues_report_nothing(boot):
    assert quotes(boot, "ولم يقل الوزير سمير خالد إن الحكومة ستستقيل.") == []


# -- sources ---------------------------------------------------------------------------------------


def test_title_then_name_resolves_to_the_name(boot):
    (q,) = quotes(boot, "وقال وزير الخارجية الأردني، سمير خالد، إن المفاوضات ستستأنف قريبا.")
    assert q[3] == "سمير خالد" and q[4] == "سمير خالد"


def test_svo_and_anonymous_sources(boot):
    (q,) = quotes(boot, "مصادر أمنية أكدت أن الهجوم وقع فجرا.")
    assert q[4] == "مصادر أمنية"
    (q,) = quotes(boot, "وقالت مصادر إن المفاوضات متعثرة.")
    assert q[3] == q[4] == "مصادر"


def test_according_to_after_and_before_the_content(boot):
    (q,) = quotes(boot, "وقتل خمسة أشخاص في الانفجار، بحسب وكالة الأنباء الرسمية.")
    assert q[:3] == ("indirect", "وقتل خمسة أشخاص في الانفجار", "بحسب")
    assert q[4] == "وكالة الأنباء الرسمية"
    (q,) = quotes(boot, "ووفقا لمصادر طبية، فإن عدد الجرحى تجاوز العشرين.")
    assert q[1] == "فإن عدد الجرحى تجاوز العشرين" and q[4] == "مصادر طبية"


# -- resolution ------------------------------------------------------------------------------------


def test_pro_drop_takes_the_current_source_and_the_fullest_name(boot):
    text = ("وقال المبعوث الأممي سامر نصار إن المحادثات ستبدأ الاثنين. "
            "ولفت إلى أن الأطراف وافقت على الحضور. وأضاف نصار أن النتائج ستعلن لاحقا.")
    got = quotes(boot, text)
    assert [g[2] for g in got] == ["وقال", "ولفت", "وأضاف"]
    assert all(g[4] == "سامر نصار" for g in got)
    assert got[1][3] == "سامر نصار"  # the speaker span of a dropped subject: the nearest name mention
    assert got[2][3] == "نصار"


def test_nominal_mention_resolves_to_the_current_source(boot):
    text = "وقال منسق الاتحاد الأوروبي جيل دو كيرشوف إن الخطر قائم. وشدد المسؤول الأوروبي على أن التعاون ضروري."
    got = quotes(boot, text)
    assert [g[4] for g in got] == ["جيل دو كيرشوف", "جيل دو كيرشوف"]


def test_diacritics_do_not_hide_cues(boot):
    (q,) = quotes(boot, "وتحدث الوزير سمير خالد في المؤتمر، مؤكدًا أنّ الاتفاق صامد.")
    assert q[2] == "مؤكدًا" and q[1] == "أنّ الاتفاق صامد" and q[4] == "سمير خالد"


def test_articles_keep_id_and_meta_and_every_quote_has_rule_and_score(boot):
    art = boot(Article("x1", "وقال سمير خالد إن الأمر انتهى.", meta={"title": "t"}))
    assert art.id == "x1" and art.meta == {"title": "t"} and art.entities is None
    (q,) = art.quotes
    assert q.rule and 0 < q.score <= 1
    assert Bootstrapper(min_confidence=0.99)("وقال سمير خالد إن الأمر انتهى.").quotes == []


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_streams_reports_bad_lines_and_keeps_order(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "text": "وقال سمير خالد إن الأمر انتهى.", "title": "t"},
        "not json",
        {"id": "b"},
        {"id": "c", "text": "قالت مصادر إن الهجوم وقع ليلا.", "quotes": [{"start": 0, "end": 1, "type": "bad"}]},
        {"id": "d", "text": "لا شيء هنا."},
    ]
    src.write_text("".join((json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else x) + "\n" for x in lines), encoding="utf-8")
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.jsonl"
        res = subprocess.run(
            [sys.executable, "-m", "khabar.cli", "bootstrap", str(src), "--out", str(out), "--workers", workers,
             "--chunk-size", "1", "--window", "2", "--no-progress"],
            capture_output=True, text=True, timeout=60,
        )
        assert res.returncode == 1, res.stderr  # lines were skipped: the exit code says so
        assert f"{src}:2: invalid JSON" in res.stderr and f"{src}:3: text:" in res.stderr
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in rows] == ["a", "c", "d"]
        assert rows[0]["title"] == "t" and rows[0]["entities"] is None
        assert rows[1]["quotes"][0]["speaker_name"] == "مصادر" and "rule" in rows[1]["quotes"][0]
        assert rows[2]["quotes"] == []


@pytest.mark.parametrize(
    "text, name",
    [
        ("وقال المركز الوطني للأعاصير، إن العاصفة قد تتسبب في ارتفاع الأمواج.", "المركز الوطني للأعاصير"),
        ("ووصلت الوفود لكن مصادر مطلعة في الاتحاد الأوروبي قالت إن المفاوضات متعثرة.", "مصادر مطلعة في الاتحاد الأوروبي"),
        ("وكان مصدر مقرب من التحقيق قال، في وقت سابق، إن الضابط بادل نفسه برهينة.", "مصدر مقرب من التحقيق"),
        ("وقالت المتحدثة باسم الاتحاد الأوروبي كاثرين راي، إن إطلاق الصواريخ مرفوض.", "كاثرين راي"),
        ("وذكر بيان صادر عن مكتب النائب العام أن التحقيق مستمر.", "مكتب النائب العام"),
        ("وقال المتحدث باسم التحالف، العقيد الركن سامي حداد، إن الهجوم فشل.", "سامي حداد"),
        ('وقال الأمين العام للمنظمة يوسف العثيمين في بيان: "إن الموقف ثابت".', "يوسف العثيمين"),
        ('وقال المتحدث باسم "جبهة الإنقاذ"، إن المسلحين غادروا.', "المتحدث باسم جبهة الإنقاذ"),
        ("أعلن المتحدث باسم الرئاسة إبراهيم كالين الجمعة أن القمة ستعقد الشهر المقبل.", "إبراهيم كالين"),
    ],
)
def test_source_noun_phrases(boot, text, name):
    (q,) = quotes(boot, text)
    assert q[4] == name


def test_noun_phrase_object_after_subject(boot):
    (q,) = quotes(boot, "أعلن الدفاع المدني، الأحد، السيطرة على حريق شب في مبنى حكومي.")
    assert q[:2] == ("indirect", "السيطرة على حريق شب في مبنى حكومي") and q[4] == "الدفاع المدني"
    (q,) = quotes(boot, "ونفت السلطات البريطانية الاتهامات الروسية جملة وتفصيلا.")
    assert q[1].startswith("الاتهامات الروسية") and q[4] == "السلطات البريطانية"


def test_object_then_second_verb_with_its_own_complement(boot):
    got = quotes(boot, 'ونفت الحكومة الاتهامات الأخيرة ووصفتها بأنها "مزاعم باطلة".')
    assert [(g[2], g[1]) for g in got] == [("ونفت", "الاتهامات الأخيرة"), ("ووصفتها", 'بأنها "مزاعم باطلة"')]
    assert all(g[4] == "الحكومة" for g in got)


def test_object_before_a_source_after_cue(boot):
    got = quotes(boot, "أعلنت الحكومة الجمعة، فرض رسوم جديدة على الواردات، بحسب ما أعلنت وزارة المالية.")
    assert [(g[2], g[1], g[4]) for g in got] == [("أعلنت", "فرض رسوم جديدة على الواردات", "الحكومة")]


def test_headline_label_quotes(boot):
    text = "مصادر: المفاوضات ستستأنف الأسبوع المقبل\nوقالت مصادر دبلوماسية إن الوفود وصلت.\nاقرأ أيضا: زيارة الوزير إلى العاصمة"
    got = quotes(boot, text)
    assert got[0][:3] == ("direct", "المفاوضات ستستأنف الأسبوع المقبل", None) and got[0][3] == "مصادر"
    assert got[0][4] in ("مصادر", "مصادر دبلوماسية")  # one cluster with the fuller mention below
    assert all("زيارة" not in g[1] for g in got)  # "اقرأ أيضا:" is a label, not a source


def test_cli_rejects_a_bad_cue_table_before_starting(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "قال"}\n', encoding="utf-8")
    cues = tmp_path / "cues.tsv"
    cues.write_text("قال\tقال\n", encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "khabar.cli", "bootstrap", str(src), "--out", str(tmp_path / "o.jsonl"), "--cues", str(cues)],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 2 and f"{cues}:1: expected 8" in res.stderr


def test_cli_bom_surrogates_out_is_input_and_parent_dirs(tmp_path):
    """A BOM on line 1 is not data; a lone surrogate skips its line only; --out never overwrites an input."""
    from khabar.cli import main

    src = tmp_path / "in.jsonl"
    good = json.dumps({"id": "a", "text": 'قال الوزير: "نعم".'}, ensure_ascii=False)
    src.write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\n" + b'{"id": "s", "text": "x \\ud800 y"}\n' + good.replace('"a"', '"b"').encode() + b"\n")
    out = tmp_path / "new" / "dir" / "out.jsonl"
    assert main(["bootstrap", str(src), "--out", str(out), "--workers", "1", "--no-progress"]) == 1
    assert [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()] == ["a", "b"]
    before = src.read_bytes()
    assert main(["bootstrap", str(src), "--out", str(src), "--workers", "1", "--no-progress"]) == 2
    assert src.read_bytes() == before
    assert main(["bootstrap", str(src), "--out", str(out), "--chunk-size", "0"]) == 2


# -- noun-phrase objects and subjects before a relative clause (recall step, 2026-11-29) ----------


def test_imperfect_of_a_defective_verb_is_a_cue(boot):
    # ينفي ends in ي like the name راي that the past رأى is kept apart from
    found = quotes(boot, "وقال الوزير سامي حداد إن الاتفاق صامد. وينفي الوزير سامي حداد أن يكون قد التقى المبعوث.")
    assert ("indirect", "أن يكون قد التقى المبعوث", "وينفي", "سامي حداد", "سامي حداد") in found


def test_np_object_one_definite_word_or_demonstrative_after_a_subject(boot):
    text = "وقال المتحدث باسم الوزارة سامي حداد إن الوضع هادئ. لكن المتحدث سامي حداد نفى التقارير وقال إنها شائعات."
    assert ("indirect", "التقارير", "نفى", "سامي حداد", "سامي حداد") in quotes(boot, text)
    text = "وقال الوزير سامي حداد إن الاتفاق صامد. ونفى الوزير سامي حداد هذه الاتهامات."
    assert ("indirect", "هذه الاتهامات", "ونفى", "سامي حداد", "سامي حداد") in quotes(boot, text)


def test_np_object_of_consider_needs_a_subject_and_an_object(boot):
    # اعتبر + subject + object + predicate: the object NP is the content
    found = quotes(boot, "واعتبرت أنقرة الحزب الكردي منظمة إرهابية.")
    assert [(t, c, s) for t, c, _, s, _ in found] == [("indirect", "الحزب الكردي منظمة إرهابية", "أنقرة")]
    # the plural imperfect is active; a demonstrative opens the object
    found = quotes(boot, "وقال مراقبون دوليون إن التصويت سار بهدوء. والمراقبون يعتبرون هذا الختم حصانة من التزوير.")
    assert ("indirect", "هذا الختم حصانة من التزوير", "يعتبرون") in [(t, c, cue) for t, c, cue, _, _ in found]
    # "X is considered (one of) ...": the singular imperfect is read as a passive, no quotation
    assert quotes(boot, "واعتبرت طهران أحد أبرز حلفاء دمشق.") == []
    assert quotes(boot, "وتعتبر ليبيا نقطة الانطلاق الرئيسية للمهاجرين.") == []
    # no subject: "يعتبر هذا القرار الأول من نوعه" is "is considered"
    assert quotes(boot, "ويعتبر هذا القرار الأول من نوعه في البلاد.") == []


def test_subject_before_a_relative_clause(boot):
    text = ("وقال الزعيم الشيعي مقتدى الصدر إن الانتخابات نزيهة. وكان الصدر الذي فاز تحالفه في الانتخابات "
            "التي جرت في مايو الماضي، قد أكد على أن الحكومة المقبلة يجب أن تكون من التكنوقراط.")
    found = quotes(boot, text)
    assert ("indirect", "على أن الحكومة المقبلة يجب أن تكون من التكنوقراط", "أكد", "الصدر", "مقتدى الصدر") in found


def test_np_object_stops_at_but_and_any_opens_it(boot):
    text = "وقال المتحدث باسم الحزب سامي حداد إن الحزب لا يميز بين الطوائف. وينفي الحزب أي تحيز لكنه يقول إنه يعارض سياسة الاسترضاء."
    found = [(t, c, cue) for t, c, cue, _, _ in quotes(boot, text)]
    assert ("indirect", "أي تحيز", "وينفي") in found
    assert ("indirect", "إنه يعارض سياسة الاسترضاء", "يقول") in found


def test_np_object_after_a_pronoun_subject_is_not_guessed(boot):
    # "غير أنه ينفي": the pronoun's referent is not the article's last source
    text = "وقال وزير الداخلية سامي حداد إن الداعية المعارض مسؤول عن الانقلاب. غير أنه ينفي أي ضلوع له بذلك."
    assert [c for _, c, _, _, _ in quotes(boot, text)] == ["إن الداعية المعارض مسؤول عن الانقلاب"]


def test_relative_clause_after_a_place(boot):
    text = "وتتهم السلطات البحرينية المعارضين بالارتباط مع إيران التي تنفي أن يكون لها أي دور في الاضطرابات."
    assert ("indirect", "أن يكون لها أي دور في الاضطرابات", "تنفي", "إيران", "إيران") in quotes(boot, text)


def test_cue_inside_a_source_after_clause_keeps_its_quotation(boot):
    text = ('وقال الرئيس التركي رجب طيب أردوغان إن الوضع خطير. وتابع: "أقولها بوضوح، ما تقوم به إسرائيل إرهاب دولة"، '
            'وفقا لما نقلته وكالة الأناضول.')
    assert ("direct", "أقولها بوضوح، ما تقوم به إسرائيل إرهاب دولة", "وتابع", "رجب طيب أردوغان", "رجب طيب أردوغان") \
        in quotes(boot, text)


def test_where_it_was_said_ends_the_clause(boot):
    text = "وقال رئيس الوزراء سامي حداد إن الحطام جزء من طائرة مسيرة، في مؤتمر للأمن في ميونخ."
    assert [c for _, c, _, _, _ in quotes(boot, text)] == ["إن الحطام جزء من طائرة مسيرة"]


def test_document_after_fi_speaks(boot):
    text = "وجاء في البيان الصادر عن وزارة الخارجية أن الوزير سيزور باريس الأسبوع المقبل."
    assert quotes(boot, text) == [("indirect", "أن الوزير سيزور باريس الأسبوع المقبل", "وجاء", "وزارة الخارجية", "وزارة الخارجية")]
    text = "وورد في تقرير للأمم المتحدة أن الوضع الإنساني كارثي."
    assert [(c, n) for _, c, _, _, n in quotes(boot, text)] == [("أن الوضع الإنساني كارثي", "الأمم المتحدة")]
    # memoirs are their writer's words
    text = "وجاء في مذكرات خلخالي أن تدمير القبر استغرق عشرين يوما."
    assert [(c, n) for _, c, _, _, n in quotes(boot, text)] == [("أن تدمير القبر استغرق عشرين يوما", "خلخالي")]
    # "came": no document, no complement, no quotation
    assert quotes(boot, "وجاء في المرتبة الثانية فريق برشلونة.") == []
    assert [c for _, _, c, _, _ in quotes(boot, "وجاء ذلك بعد أن أعلنت الحكومة تشكيل لجنة للتحقيق.")] == ["أعلنت"]


def test_tweeted(boot):
    text = "وغرد الرئيس الأمريكي دونالد ترامب على تويتر \"القمة كانت نجاحا كبيرا\"."
    assert quotes(boot, text) == [("direct", "القمة كانت نجاحا كبيرا", "وغرد", "دونالد ترامب", "دونالد ترامب")]
    text = 'وغرد ماكرون بكلمة واحدة عبر "تويتر".'
    assert quotes(boot, text) == []  # a quoted name after عبر is not what he wrote


def test_accused_after_the_verb_is_not_the_accuser(boot):
    text = "وقالت الصحيفة إن الشكوى ليست الأولى التي تتهم رمضان بالاغتصاب."
    assert all(n != "رمضان" for _, _, _, _, n in quotes(boot, text))
    # with an object pronoun the noun phrase after the verb is the subject
    text = 'وحمل الأمين العام للرابطة بيتر دوسن الحكومات المسؤولية، التي تتهمها "بالمساهمة بخلق سوق للمخدرات".'
    assert ("direct", "بالمساهمة بخلق سوق للمخدرات", "تتهمها") in [(t, c, cue) for t, c, cue, _, _ in quotes(boot, text)]


def test_one_word_b_object(boot):
    text = "وقال المستشار النمساوي سيباستيان كورتز إن الأمر مرفوض، متوعدا برد فعل قوي."
    assert ("indirect", "برد فعل قوي", "متوعدا", "سيباستيان كورتز") in [(t, c, cue, n) for t, c, cue, _, n in quotes(boot, text)]


def test_topic_after_amma_and_demonstrative_object(boot):
    text = "وقالت الجامعة العربية إن القانون عنصري. أما أنقرة، فاعتبرت أن القانون يخالف القانون الدولي."
    assert ("أن القانون يخالف القانون الدولي", "أنقرة") in [(c, n) for _, c, _, _, n in quotes(boot, text)]
    # "ويصف هذه الدعوات بالمدمرة": the demonstrative phrase is what is described, not who speaks
    text = "وقالت الصحيفة إن الرئيس غاضب. ويصف هذه الدعوات بالمدمرة."
    assert all(n != "الدعوات" for _, _, _, _, n in quotes(boot, text))


def test_as_x_announced_and_thus_said(boot):
    text = "قتل أربعة أشخاص في إطلاق نار بمدينة لييج، كما أعلنت النيابة العامة الثلاثاء، ما أثار صدمة في البلاد."
    assert quotes(boot, text) == [("indirect", "قتل أربعة أشخاص في إطلاق نار بمدينة لييج", "أعلنت", "النيابة العامة", "النيابة العامة")]
    text = '"رمزية جميلة ودالة على وحدة هذا الشعب".. هكذا رأى الرئيس المصري عبدالفتاح السيسي، الثلاثاء، تزامن الاحتفالين.'
    assert quotes(boot, text) == [("direct", "رمزية جميلة ودالة على وحدة هذا الشعب", "رأى", "عبدالفتاح السيسي", "عبدالفتاح السيسي")]


def test_verb_object_subject(boot):
    text = "وأعلن عن هذه الخطة المستشار النمساوي سيباستيان كورتز إثر استياء أثارته إعادة تمثيل معركة."
    assert quotes(boot, text) == [("indirect", "عن هذه الخطة", "وأعلن", "سيباستيان كورتز", "سيباستيان كورتز")]
    # a title after an indefinite word is a genitive inside the object
    text = "وقال المتحدث باسم الحركة سامي حداد إن الوضع صعب. ودعا إلى دعم الرئيس الفلسطيني محمود عباس في مواجهة الضغوط."
    found = [(c, n) for _, c, cue, _, n in quotes(boot, text) if cue == "ودعا"]
    assert [c for c, _ in found] == ["إلى دعم الرئيس الفلسطيني محمود عباس في مواجهة الضغوط"]
    assert found[0][1] != "محمود عباس"


def test_relative_clause_on_the_subject_before_the_complement(boot):
    text = ('أعلنت شركة "كريم" لسيارات الأجرة والتي تعد منافسة لشركة "أوبر" في الشرق الأوسط، الاثنين أنها '
            'تعرضت لهجوم إلكتروني.')
    assert [(t, c) for t, c, _, _, _ in quotes(boot, text)] == [("indirect", "أنها تعرضت لهجوم إلكتروني")]
