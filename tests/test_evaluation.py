"""Scorers of the annotation guidelines, checked on tiny hand-made articles with exact numbers."""

from __future__ import annotations

import json
import random
import sys
import time

import pytest

from khabar.data.article import Article, Entity, Quote, Span
from khabar.evaluation.names import normalise_name, same_source
from khabar.evaluation.scoring import bio_spans, match_quotes, overlap_ratio, score, score_bio, seqeval_style

# --------------------------------------------------------------------------------------------
# Names


def test_normalise_name_folds_arabic_variants():
    assert normalise_name("جِيلُ  دو-كيرشوف") == "جيل دو كيرشوف"
    assert normalise_name("أحمد إبراهيم آل ٱلشيخ") == "احمد ابراهيم ال الشيخ"
    assert normalise_name("مـــوسى") == "موسي"  # tatweel, alef maqsura
    assert normalise_name("حمزة") == "حمزه"
    assert normalise_name("«وزارة الدفاع»،") == "وزاره الدفاع"
    assert normalise_name("#الاتحاد_الأوروبي") == "الاتحاد الاوروبي"
    assert normalise_name("اَلسَّيِّدُ عَلِيٌّ") == "السيد علي"
    assert normalise_name("\u0627\u0654حمد") == "احمد"  # decomposed alef + hamza above


def test_same_source_equal_or_word_containment():
    assert same_source("كيرشوف", "جيل دو كيرشوف")
    assert same_source("جيل دو كيرشوف", "كيرشوف")
    assert same_source("أنجيلا ميركل", "انجيلا ميركل")
    assert same_source("وزارة الدفاع الروسية", "وزارة الدفاع")
    assert not same_source("أنجيلا ميركل", "إيمانويل ماكرون")
    # Words, not substrings: a shared prefix is not a shared name.
    assert not same_source("كير", "جيل دو كيرشوف")
    # Partial overlap both ways is not containment.
    assert not same_source("جيل دو كيرشوف", "جيل ماكرون")
    assert not same_source(None, "ميركل")
    assert not same_source("ميركل", None)
    assert not same_source(None, None)
    assert not same_source("،", "ميركل")  # nothing left after normalisation


# --------------------------------------------------------------------------------------------
# Entities on articles

TEXT = "قال الرئيس عبد الفتاح السيسي في القاهرة إن مصر ترفض التدخل في شؤون ليبيا."


def _span(text: str, words: str) -> tuple[int, int]:
    start = text.index(words)
    return start, start + len(words)


def _entity(words: str, label: str, text: str = TEXT) -> Entity:
    return Entity(*_span(text, words), label)


def test_entities_micro_macro_per_label():
    gold = Article("a1", TEXT, entities=[_entity("عبد الفتاح السيسي", "PER"), _entity("القاهرة", "LOC"), _entity("مصر", "LOC")])
    pred = Article(
        "a1",
        TEXT,
        entities=[
            _entity("عبد الفتاح السيسي", "PER"),
            _entity("القاهرة", "ORG"),  # right span, wrong label: FP for ORG and FN for LOC
            _entity("مصر", "LOC"),
            _entity("ليبيا", "MISC"),
        ],
    )
    ent = score([gold], [pred])["entities"]
    per = ent["per_label"]
    assert sorted(per) == ["LOC", "MISC", "ORG", "PER"]
    assert per["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 1, "fp": 0, "fn": 0, "support": 1}
    assert (per["LOC"]["precision"], per["LOC"]["recall"]) == (1.0, 0.5)
    assert per["LOC"]["f1"] == pytest.approx(2 / 3)
    assert per["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 1, "fn": 0, "support": 0}
    micro = ent["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"]) == (2, 2, 1)
    assert micro["precision"] == 0.5
    assert micro["recall"] == pytest.approx(2 / 3)
    assert micro["f1"] == pytest.approx(4 / 7)
    macro = ent["macro"]
    assert macro["n_labels"] == 4
    assert macro["precision"] == pytest.approx(0.5)
    assert macro["recall"] == pytest.approx(0.375)
    assert macro["f1"] == pytest.approx(5 / 12)


def test_entities_null_gold_is_not_scored():
    unannotated = Article("a1", TEXT, entities=None, quotes=[])
    pred = Article("a1", TEXT, entities=[_entity("مصر", "LOC")], quotes=[])
    result = score([unannotated], [pred])
    assert "entities" not in result
    assert result["quotes"]["overlap"]["tp"] == 0

    # Mixed: only the annotated article counts, and its wrong prediction is the only error.
    annotated = Article("a2", TEXT, entities=[_entity("مصر", "LOC")])
    pred2 = Article("a2", TEXT, entities=[_entity("ليبيا", "LOC")])
    ent = score([unannotated, annotated], [pred, pred2])["entities"]
    assert ent["n_articles"] == 1
    assert (ent["micro"]["tp"], ent["micro"]["fp"], ent["micro"]["fn"]) == (0, 1, 1)


def test_empty_entity_list_is_scored_and_missing_prediction_is_empty():
    gold = [Article("a1", TEXT, entities=[]), Article("a2", TEXT, entities=[_entity("مصر", "LOC")])]
    pred = [Article("a1", TEXT, entities=[_entity("القاهرة", "LOC")])]  # a2 missing: predicts nothing
    ent = score(gold, pred)["entities"]
    assert ent["n_articles"] == 2
    assert (ent["micro"]["tp"], ent["micro"]["fp"], ent["micro"]["fn"]) == (0, 1, 1)
    assert ent["micro"]["f1"] == 0.0


def test_alignment_errors():
    gold = [Article("a1", TEXT, entities=[])]
    pred = [Article("zz", TEXT), Article("a1", "نص آخر"), Article("a1", TEXT)]
    errors = score(gold, pred)["errors"]
    assert len(errors) == 3
    assert "'zz' is not in gold" in errors[0]
    assert "different text" in errors[1]
    assert "duplicate id 'a1'" in errors[2]


# --------------------------------------------------------------------------------------------
# Entities on BIO tags: seqeval's default (conlleval) reading


def test_bio_spans_mirror_seqeval_default_mode():
    # seqeval's README example.
    assert bio_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    # An I- that continues nothing starts a span (lenient, not IOB2-strict).
    assert bio_spans(["O", "I-PER", "I-PER", "O"]) == [("PER", 1, 2)]
    assert bio_spans(["I-ORG"]) == [("ORG", 0, 0)]
    # A label change splits; B- after B- splits.
    assert bio_spans(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]
    assert bio_spans(["B-PER", "B-PER", "I-PER"]) == [("PER", 0, 0), ("PER", 1, 2)]
    # IOBES is read as well.
    assert bio_spans(["S-LOC", "B-ORG", "E-ORG", "O"]) == [("LOC", 0, 0), ("ORG", 1, 2)]
    assert bio_spans([]) == []
    assert bio_spans(["O", "O"]) == []


def test_score_bio_matches_seqeval_readme_example():
    # From seqeval's README: f1 0.5; MISC 0/0/0 (support 1); PER 1/1/1; micro and macro 0.5.
    y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    flat = seqeval_style(score_bio(y_true, y_pred))
    assert flat["overall_f1"] == 0.5
    assert flat["overall_precision"] == 0.5
    assert flat["overall_recall"] == 0.5
    assert flat["overall_accuracy"] == 0.8
    assert flat["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}
    assert flat["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "number": 1}
    assert (flat["macro_precision"], flat["macro_recall"], flat["macro_f1"]) == (0.5, 0.5, 0.5)


def test_score_bio_agrees_with_seqeval_when_installed():
    # seqeval is not a dependency (it pulls scikit-learn); where it is installed, compare on
    # random tag sequences. Checked once by hand against seqeval 1.2.2 on 3,000 cases.
    metrics = pytest.importorskip("seqeval.metrics.sequence_labeling")
    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG", "E-PER", "S-LOC"]
    for _ in range(300):
        y_true = [[rng.choice(tags) for _ in range(rng.randint(1, 8))] for _ in range(rng.randint(1, 4))]
        y_pred = [[rng.choice(tags) if rng.random() < 0.4 else t for t in s] for s in y_true]
        if not any(bio_spans(s) for s in y_true + y_pred):
            continue
        mine = score_bio(y_true, y_pred)
        for average in ("micro", "macro"):
            p, r, f, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
            assert (p, r, f) == pytest.approx(tuple(mine[average][k] for k in ("precision", "recall", "f1")))
        assert metrics.accuracy_score(y_true, y_pred) == pytest.approx(mine["accuracy"])


def test_score_bio_spans_do_not_cross_sentences():
    # The trailing I-PER of sentence 0 and the leading I-PER of sentence 1 are two spans.
    ent = score_bio([["O", "B-PER"], ["I-PER", "O"]], [["O", "B-PER"], ["I-PER", "O"]])
    assert ent["per_label"]["PER"]["support"] == 2
    assert ent["micro"]["f1"] == 1.0


def test_score_bio_rejects_misaligned_sequences():
    with pytest.raises(ValueError, match="sequence 0: 2 reference tags but 1 predicted"):
        score_bio([["B-PER", "O"]], [["B-PER"]])
    with pytest.raises(ValueError, match="1 reference sequences but 2 predicted"):
        score_bio([["O"]], [["O"], ["O"]])


# --------------------------------------------------------------------------------------------
# Quotations and attribution

LONG = "قال المتحدث إن الوضع خطير. " * 6  # the scorer reads offsets only; 162 characters


def _q(start: int, end: int, qtype: str, name: str | None, cue: tuple[int, int] | None = None) -> Quote:
    return Quote(start, end, qtype, Span(*cue) if cue else None, None, name)


def test_overlap_ratio():
    assert overlap_ratio(0, 10, 0, 10) == 1.0
    assert overlap_ratio(0, 10, 5, 15) == pytest.approx(5 / 15)
    assert overlap_ratio(0, 10, 10, 20) == 0.0
    assert overlap_ratio(40, 60, 40, 50) == 0.5


def test_quotes_overlap_exact_types_attribution():
    gold = Article(
        "q1",
        LONG,
        quotes=[
            _q(10, 30, "direct", "جيل دو كيرشوف", cue=(2, 6)),
            _q(40, 60, "indirect", "أنجيلا ميركل", cue=(35, 39)),
            _q(70, 90, "mixed", None),
        ],
    )
    pred = Article(
        "q1",
        LONG,
        quotes=[
            _q(12, 30, "direct", "كيرشوف", cue=(2, 6)),  # overlap 0.9, attributed (word containment)
            _q(40, 50, "mixed", "ماكرون", cue=(35, 38)),  # overlap exactly 0.5: matched; wrong type, name, cue
            _q(70, 90, "mixed", None),  # exact; unknown source predicted unknown: attributed
            _q(100, 110, "indirect", "ميركل"),  # no gold: FP
        ],
    )
    r = score([gold], [pred])
    q, a = r["quotes"], r["attribution"]
    assert (q["overlap"]["tp"], q["overlap"]["fp"], q["overlap"]["fn"]) == (3, 1, 0)
    assert q["overlap"]["precision"] == 0.75
    assert q["overlap"]["recall"] == 1.0
    assert q["overlap"]["f1"] == pytest.approx(6 / 7)
    assert (q["exact"]["tp"], q["exact"]["fp"], q["exact"]["fn"]) == (1, 3, 2)
    assert q["exact"]["f1"] == pytest.approx(2 / 7)
    assert q["recall_per_type"] == {
        "direct": {"recall": 1.0, "tp": 1, "support": 1},
        "indirect": {"recall": 1.0, "tp": 1, "support": 1},
        "mixed": {"recall": 1.0, "tp": 1, "support": 1},
    }
    assert q["type_accuracy"] == {"accuracy": pytest.approx(2 / 3), "correct": 2, "matched": 3}
    assert (q["cue"]["tp"], q["cue"]["fp"], q["cue"]["fn"]) == (1, 1, 1)
    assert (a["tp"], a["fp"], a["fn"]) == (2, 2, 1)
    assert a["precision"] == 0.5
    assert a["recall"] == pytest.approx(2 / 3)
    assert a["f1"] == pytest.approx(4 / 7)
    assert a["accuracy_on_matched"] == pytest.approx(2 / 3)
    assert (q["n_gold"], q["n_pred"], r["n_articles"]) == (3, 4, 1)


def test_attribution_named_gold_vs_missing_name_is_wrong():
    gold = Article("q1", LONG, quotes=[_q(10, 30, "direct", "ميركل"), _q(40, 60, "direct", None)])
    pred = Article("q1", LONG, quotes=[_q(10, 30, "direct", None), _q(40, 60, "direct", "ميركل")])
    a = score([gold], [pred])["attribution"]
    assert (a["tp"], a["matched"]) == (0, 2)


def test_below_threshold_is_no_match():
    gold = Article("q1", LONG, quotes=[_q(0, 20, "indirect", "ميركل")])
    pred = Article("q1", LONG, quotes=[_q(0, 9, "indirect", "ميركل")])  # 9/20 < 0.5
    q = score([gold], [pred])["quotes"]
    assert (q["overlap"]["tp"], q["overlap"]["fp"], q["overlap"]["fn"]) == (0, 1, 1)
    assert q["recall_per_type"] == {"indirect": {"recall": 0.0, "tp": 0, "support": 1}}


def test_matching_is_one_to_one_best_first_and_order_independent():
    gold = [_q(0, 10, "direct", None), _q(4, 14, "direct", None)]
    # X overlaps both golds equally (8/12); Y is exactly the second gold.
    x, y = _q(2, 12, "direct", None), _q(4, 14, "direct", None)
    assert match_quotes(gold, [x, y]) == [(0, 0), (1, 1)]
    assert match_quotes(gold, [y, x]) == [(0, 1), (1, 0)]
    # Alone, X goes to the gold that comes first in text order, whatever the list order.
    assert match_quotes(gold, [x]) == [(0, 0)]
    assert match_quotes(gold[::-1], [x]) == [(1, 0)]
    # A duplicated prediction matches once.
    assert match_quotes(gold[:1], [gold[0], gold[0]]) == [(0, 0)]


def test_duplicated_prediction_counts_once_for_exact():
    gold = Article("q1", LONG, quotes=[_q(10, 30, "direct", "ميركل")])
    pred = Article("q1", LONG, quotes=[_q(10, 30, "direct", "ميركل"), _q(10, 30, "direct", "ميركل")])
    q = score([gold], [pred])["quotes"]
    assert (q["exact"]["tp"], q["exact"]["fp"]) == (1, 1)
    assert (q["overlap"]["tp"], q["overlap"]["fp"]) == (1, 1)


def test_scores_do_not_depend_on_list_order():
    rng = random.Random(7)
    gold_quotes = [_q(s, s + rng.randint(5, 25), rng.choice(["direct", "indirect"]), "ميركل") for s in range(0, 130, 9)]
    pred_quotes = [_q(q.start + rng.randint(-3, 3) % 4, q.end, q.type, "ميركل") for q in gold_quotes]
    first = score([Article("q", LONG, quotes=gold_quotes)], [Article("q", LONG, quotes=pred_quotes)])
    for _ in range(5):
        rng.shuffle(gold_quotes)
        rng.shuffle(pred_quotes)
        again = score([Article("q", LONG, quotes=list(gold_quotes))], [Article("q", LONG, quotes=list(pred_quotes))])
        assert again == first


def test_no_quote_layer_in_gold_means_no_quote_section():
    result = score([Article("a", TEXT, entities=[])], [Article("a", TEXT, quotes=[_q(0, 5, "direct", "x")])])
    assert "quotes" not in result and "attribution" not in result
    assert result["entities"]["micro"]["tp"] == 0


def test_nested_result_is_plain_json():
    gold = Article("q1", LONG, entities=[], quotes=[_q(10, 30, "direct", "ميركل")])
    result = score([gold], [gold])
    assert json.loads(json.dumps(result)) == result


# --------------------------------------------------------------------------------------------
# The local `evaluate` modules


@pytest.fixture(scope="module")
def metrics():
    from khabar.evaluation import load_metric

    import evaluate  # noqa: F401  (imported first so that the timing below is the loading only)

    start = time.perf_counter()
    loaded = {name: load_metric(name) for name in ("khabar_entities", "khabar_quotes")}
    # Loading by path must not wait on the (unreachable) Hub.
    assert time.perf_counter() - start < 10
    return loaded


def test_load_metric_rejects_unknown_names():
    from khabar.evaluation import load_metric

    with pytest.raises(ValueError, match="khabar_entities"):
        load_metric("seqeval")


def test_entities_metric_on_bio_tags_is_seqeval_compatible(metrics):
    y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    out = metrics["khabar_entities"].compute(predictions=y_pred, references=y_true)
    assert out["overall_f1"] == 0.5
    assert out["overall_accuracy"] == 0.8
    assert out["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "number": 1}
    assert out["macro_f1"] == 0.5


def test_entities_metric_on_articles_as_json_dicts_and_objects(metrics):
    gold = Article("a1", TEXT, entities=[_entity("عبد الفتاح السيسي", "PER"), _entity("القاهرة", "LOC")])
    pred = Article("a1", TEXT, entities=[_entity("عبد الفتاح السيسي", "PER")])
    m = metrics["khabar_entities"]
    expected = {"precision": 1.0, "recall": 0.5}
    for p, g in (
        (json.dumps(pred.to_dict(), ensure_ascii=False), json.dumps(gold.to_dict(), ensure_ascii=False)),
        (pred.to_dict(), gold.to_dict()),
        (pred, gold),
    ):
        out = m.compute(predictions=[p], references=[g])
        assert {"precision": out["overall_precision"], "recall": out["overall_recall"]} == expected
        assert out["overall_f1"] == pytest.approx(2 / 3)
        assert "overall_accuracy" not in out


def test_entities_metric_refuses_unannotated_articles(metrics):
    a = Article("a1", TEXT)
    with pytest.raises(ValueError, match="entities: null"):
        metrics["khabar_entities"].compute(predictions=[a], references=[a])


def test_quotes_metric(metrics):
    gold = Article("q1", LONG, quotes=[_q(10, 30, "direct", "جيل دو كيرشوف"), _q(40, 60, "indirect", "ميركل")])
    pred = Article("q1", LONG, quotes=[_q(10, 30, "direct", "كيرشوف")])
    m = metrics["khabar_quotes"]
    m.add_batch(predictions=[pred], references=[gold])
    out = m.compute()
    assert out["quote_precision"] == 1.0
    assert out["quote_recall"] == 0.5
    assert out["quote_f1"] == pytest.approx(2 / 3)
    assert out["quote_exact_f1"] == pytest.approx(2 / 3)
    assert out["attribution_f1"] == pytest.approx(2 / 3)
    assert out["quotes"]["recall_per_type"]["indirect"]["recall"] == 0.0
    assert out["errors"] == []


def test_scoring_does_not_import_torch_or_evaluate():
    import subprocess

    code = (
        "import sys, khabar.evaluation, khabar.evaluation.command;"
        "bad = [m for m in ('torch', 'evaluate', 'datasets', 'transformers') if m in sys.modules];"
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
