"""Scorers for entities, quotations and attribution, as defined in the annotation guidelines.

Pure Python over :class:`~khabar.data.article.Article` lists (no torch, no ``evaluate``), so the
CLI starts fast and the ``evaluate`` modules, the trainer and the tests share one implementation.

Conventions (documented because each one changes numbers):

* Gold and predictions are aligned by ``id``. A gold article without a prediction counts as
  predicting nothing; a prediction whose id is not in gold is reported in ``errors`` and ignored.
* A layer is scored only on gold articles that annotate it: ``entities: null`` means "not
  annotated", so such articles add nothing to the entity counts (``[]`` means "none there" and
  is scored). A prediction's ``null`` layer is an empty one.
* Precision, recall or F1 whose denominator is 0 is 0.0 (seqeval's ``zero_division=0``); the
  counts are always reported beside them so a 0.0 can be read correctly.
* Entities: exact (start, end, label), a set per article. Macro = unweighted mean of the
  per-label scores over labels present in gold or predictions (seqeval / sklearn macro).
* Quotations: a prediction matches a gold quotation when overlap / union of their character
  spans is >= 0.5; matching is one-to-one, greedy by best overlap first, ties broken by gold
  then prediction position in (start, end) order, so results never depend on list order.
* Attribution: a matched quotation is correctly attributed when the names are
  :func:`~khabar.evaluation.names.same_source`, or when both names are ``null`` (the guidelines
  reserve ``null`` for an unknown source, and predicting "unknown" for it is right).
  End-to-end TP = matched and correctly attributed; FP = predictions - TP; FN = gold - TP.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

from khabar.data.article import QUOTE_TYPES, Article, Quote
from khabar.evaluation.names import same_source

MATCH_THRESHOLD = 0.5


def prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    """Precision, recall, F1 with their counts; 0.0 where a denominator is 0."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


# --------------------------------------------------------------------------------------------
# Alignment


def align(gold: Iterable[Article], pred: Iterable[Article]) -> tuple[list[tuple[Article, Article | None]], list[str]]:
    """Pair each gold article with its prediction (or ``None``); return the pairs and error messages."""
    errors: list[str] = []
    gold_by_id: dict[str, Article] = {}
    for g in gold:
        if g.id in gold_by_id:
            errors.append(f"gold: duplicate id {g.id!r}; only its first article is scored")
            continue
        gold_by_id[g.id] = g
    pred_by_id: dict[str, Article] = {}
    for p in pred:
        if p.id not in gold_by_id:
            errors.append(f"predictions: id {p.id!r} is not in gold; ignored (check that both files are the same split, "
                          "and that its gold line was not skipped as malformed)")
        elif p.id in pred_by_id:
            errors.append(f"predictions: duplicate id {p.id!r}; only its first article is scored")
        else:
            if p.text and p.text != gold_by_id[p.id].text:
                errors.append(
                    f"predictions: id {p.id!r} has a different text than gold, so its offsets do not index the gold text "
                    "(predict on the gold file's texts unchanged)"
                )
            pred_by_id[p.id] = p
    return [(g, pred_by_id.get(g.id)) for g in gold_by_id.values()], errors


# --------------------------------------------------------------------------------------------
# Entities


def _entity_scores(true: dict[str, set], pred: dict[str, set]) -> dict[str, Any]:
    """Micro, macro and per-label scores from per-label sets of comparable span keys."""
    labels = sorted(set(true) | set(pred))
    per_label: dict[str, Any] = {}
    tp_sum = fp_sum = fn_sum = 0
    for label in labels:
        t, p = true.get(label, set()), pred.get(label, set())
        tp = len(t & p)
        scores = prf(tp, len(p) - tp, len(t) - tp)
        scores["support"] = len(t)
        per_label[label] = scores
        tp_sum, fp_sum, fn_sum = tp_sum + tp, fp_sum + scores["fp"], fn_sum + scores["fn"]
    micro = prf(tp_sum, fp_sum, fn_sum)
    micro["support"] = tp_sum + fn_sum
    n = len(labels)
    macro = {
        key: (sum(per_label[label][key] for label in labels) / n if n else 0.0) for key in ("precision", "recall", "f1")
    }
    macro.update(n_labels=n, support=micro["support"])
    return {"micro": micro, "macro": macro, "per_label": per_label}


def score_entities(pairs: Sequence[tuple[Article, Article | None]]) -> dict[str, Any] | None:
    """Exact span + label scores over the gold articles that annotate entities; ``None`` if none does."""
    true: dict[str, set] = {}
    pred: dict[str, set] = {}
    n = 0
    for g, p in pairs:
        if g.entities is None:
            continue
        n += 1
        for e in g.entities:
            true.setdefault(e.label, set()).add((g.id, e.start, e.end))
        for e in (p.entities or []) if p is not None else []:
            pred.setdefault(e.label, set()).add((g.id, e.start, e.end))
    if n == 0:
        return None
    result = _entity_scores(true, pred)
    result["n_articles"] = n
    return result


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(label, first, last)`` token spans from one tag sequence, as seqeval's default mode reads them.

    This is conlleval's lenient reading (seqeval ``mode=None``): a span also starts at an ``I-``
    that does not continue a span of the same label (``O I-PER`` is a PER span, ``B-PER I-LOC``
    is two spans). ``E-``/``S-`` (IOBES) are read too; a tag without a prefix has label ``_``.
    """
    spans: list[tuple[str, int, int]] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate(list(tags) + ["O"]):
        tag = chunk[0] if chunk else "O"
        label = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if _end_of_chunk(prev_tag, tag, prev_type, label):
            spans.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, label):
            begin = i
        prev_tag, prev_type = tag, label
    return spans


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    # Transcribed from seqeval.metrics.sequence_labeling.end_of_chunk (v1.2.2).
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag not in ("O", ".") and prev_type != type_)
    )


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    # Transcribed from seqeval.metrics.sequence_labeling.start_of_chunk (v1.2.2).
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and prev_type != type_)
    )


def score_bio(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity scores from BIO tag sequences (one list per sentence), with seqeval's semantics.

    Adds ``accuracy`` (token accuracy, seqeval's ``accuracy_score``). Sentences must pair up
    with equal lengths: a length mismatch means the labels were aligned wrongly, and scoring
    it anyway would give a plausible but meaningless number.
    """
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} reference sequences but {len(predictions)} predicted ones")
    true: dict[str, set] = {}
    pred: dict[str, set] = {}
    correct = total = 0
    for i, (ref, hyp) in enumerate(zip(references, predictions)):
        if len(ref) != len(hyp):
            raise ValueError(f"sequence {i}: {len(ref)} reference tags but {len(hyp)} predicted tags")
        for label, s, e in bio_spans(ref):
            true.setdefault(label, set()).add((i, s, e))
        for label, s, e in bio_spans(hyp):
            pred.setdefault(label, set()).add((i, s, e))
        correct += sum(a == b for a, b in zip(ref, hyp))
        total += len(ref)
    result = _entity_scores(true, pred)
    result["accuracy"] = correct / total if total else 0.0
    result["n_sequences"] = len(references)
    return result


def seqeval_style(entities: dict[str, Any]) -> dict[str, Any]:
    """The flat dict the ``seqeval`` evaluate metric returns (``overall_*`` plus one dict per
    label with ``number``), plus ``macro_*``: a drop-in for Trainer ``compute_metrics`` code."""
    out: dict[str, Any] = {
        label: {"precision": s["precision"], "recall": s["recall"], "f1": s["f1"], "number": s["support"]}
        for label, s in entities["per_label"].items()
    }
    for key in ("precision", "recall", "f1"):
        out[f"overall_{key}"] = entities["micro"][key]
    if "accuracy" in entities:
        out["overall_accuracy"] = entities["accuracy"]
    for key in ("precision", "recall", "f1"):
        out[f"macro_{key}"] = entities["macro"][key]
    return out


# --------------------------------------------------------------------------------------------
# Quotations and attribution


def overlap_ratio(a_start: int, a_end: int, b_start: int, b_end: int) -> float:
    """Character overlap divided by character union of two half-open spans."""
    inter = min(a_end, b_end) - max(a_start, b_start)
    if inter <= 0:
        return 0.0
    return inter / (max(a_end, b_end) - min(a_start, b_start))


def match_quotes(gold: Sequence[Quote], pred: Sequence[Quote], threshold: float = MATCH_THRESHOLD) -> list[tuple[int, int]]:
    """One-to-one ``(gold_index, pred_index)`` pairs with overlap/union >= threshold, best first."""
    g_order = sorted(range(len(gold)), key=lambda i: (gold[i].start, gold[i].end, i))
    p_order = sorted(range(len(pred)), key=lambda j: (pred[j].start, pred[j].end, j))
    g_rank = {i: r for r, i in enumerate(g_order)}
    p_rank = {j: r for r, j in enumerate(p_order)}
    candidates = []
    for i, g in enumerate(gold):
        for j, p in enumerate(pred):
            ratio = overlap_ratio(g.start, g.end, p.start, p.end)
            if ratio >= threshold:
                candidates.append((-ratio, g_rank[i], p_rank[j], i, j))
    candidates.sort()
    used_g: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for _, _, _, i, j in candidates:
        if i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def correctly_attributed(gold: Quote, pred: Quote) -> bool:
    if gold.speaker_name is None and pred.speaker_name is None:
        return True
    return same_source(pred.speaker_name, gold.speaker_name)


def _exact_matches(gold: Iterable[tuple[int, int]], pred: Iterable[tuple[int, int]]) -> int:
    # Multiset intersection: a duplicated prediction matches at most as many gold spans as exist.
    return sum((Counter(gold) & Counter(pred)).values())


def score_quotes(pairs: Sequence[tuple[Article, Article | None]]) -> dict[str, Any] | None:
    """Quotation detection, type and attribution scores over gold articles that annotate quotations."""
    n_articles = n_gold = n_pred = matched = exact = type_ok = attributed = 0
    type_support: Counter = Counter()
    type_found: Counter = Counter()
    cue_gold = cue_pred = cue_tp = 0
    for g, p in pairs:
        if g.quotes is None:
            continue
        n_articles += 1
        gq = g.quotes
        pq = (p.quotes or []) if p is not None else []
        n_gold += len(gq)
        n_pred += len(pq)
        type_support.update(q.type for q in gq)
        for i, j in match_quotes(gq, pq):
            matched += 1
            type_found[gq[i].type] += 1
            type_ok += gq[i].type == pq[j].type
            attributed += correctly_attributed(gq[i], pq[j])
        exact += _exact_matches(((q.start, q.end) for q in gq), ((q.start, q.end) for q in pq))
        g_cues = [(q.cue.start, q.cue.end) for q in gq if q.cue is not None]
        p_cues = [(q.cue.start, q.cue.end) for q in pq if q.cue is not None]
        cue_gold, cue_pred = cue_gold + len(g_cues), cue_pred + len(p_cues)
        cue_tp += _exact_matches(g_cues, p_cues)
    if n_articles == 0:
        return None

    def ratio(num: int, den: int) -> float:
        return num / den if den else 0.0

    quotes = {
        "overlap": prf(matched, n_pred - matched, n_gold - matched),
        "exact": prf(exact, n_pred - exact, n_gold - exact),
        "recall_per_type": {
            t: {"recall": ratio(type_found[t], type_support[t]), "tp": type_found[t], "support": type_support[t]}
            for t in QUOTE_TYPES
            if type_support[t]
        },
        "type_accuracy": {"accuracy": ratio(type_ok, matched), "correct": type_ok, "matched": matched},
        "cue": prf(cue_tp, cue_pred - cue_tp, cue_gold - cue_tp),
        "n_gold": n_gold,
        "n_pred": n_pred,
        "n_articles": n_articles,
    }
    attribution = prf(attributed, n_pred - attributed, n_gold - attributed)
    attribution["accuracy_on_matched"] = ratio(attributed, matched)
    attribution["matched"] = matched
    return {"quotes": quotes, "attribution": attribution}


# --------------------------------------------------------------------------------------------
# Everything


def score(gold: Iterable[Article], pred: Iterable[Article]) -> dict[str, Any]:
    """All scores as a nested dict of plain numbers.

    Keys: ``entities`` (``micro``/``macro``/``per_label``), ``quotes`` (``overlap``, ``exact``,
    ``recall_per_type``, ``type_accuracy``, ``cue``), ``attribution``, ``n_articles``,
    ``missing_predictions`` (ids of gold articles with no prediction: scored as predicting nothing)
    and ``errors`` (messages about the inputs). A layer that no gold article annotates is absent.
    """
    pairs, errors = align(gold, pred)
    result: dict[str, Any] = {}
    entities = score_entities(pairs)
    if entities is not None:
        result["entities"] = entities
    quotes = score_quotes(pairs)
    if quotes is not None:
        result.update(quotes)
    result["n_articles"] = len(pairs)
    result["missing_predictions"] = [g.id for g, p in pairs if p is None]
    result["errors"] = errors
    return result
