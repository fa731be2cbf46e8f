"""khabar_quotes: quotation detection and speaker attribution scores, offline.

Load it with ``khabar.evaluation.load_metric("khabar_quotes")`` (by file path, never from the
Hub). Inputs are articles, one per item, as JSON strings (or dicts / ``Article`` objects,
serialised here); gold and predictions are aligned by ``id``. The scoring is the one of the
annotation guidelines (overlap/union >= 0.5, one-to-one, best overlap first; attribution by
normalised speaker name), implemented in ``khabar.evaluation.scoring``.

Output: the ``quotes`` and ``attribution`` sections of ``khabar.evaluation.scoring.score``
plus flat headline numbers ``quote_precision``, ``quote_recall``, ``quote_f1``,
``quote_exact_f1``, ``attribution_precision``, ``attribution_recall``, ``attribution_f1``.
"""

from __future__ import annotations

import json
from typing import Any

import datasets
import evaluate

from khabar.data.article import Article
from khabar.evaluation.article_inputs import ArticleInputsMixin
from khabar.evaluation.scoring import score

_DESCRIPTION = __doc__
_CITATION = ""
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted articles (JSON strings, dicts or Article objects).
    references: list of gold articles, same form.
Returns:
    quote_precision, quote_recall, quote_f1, quote_exact_f1, attribution_precision,
    attribution_recall, attribution_f1, and the nested "quotes", "attribution", "errors".
"""



@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class KhabarQuotes(ArticleInputsMixin, evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references) -> dict[str, Any]:
        gold = [Article.from_dict(json.loads(r), line=i + 1) for i, r in enumerate(references)]
        pred = [Article.from_dict(json.loads(p), line=i + 1) for i, p in enumerate(predictions)]
        result = score(gold, pred)
        if "quotes" not in result:
            raise ValueError("no reference article annotates quotations (all have quotes: null); nothing to score")
        q, a = result["quotes"], result["attribution"]
        return {
            "quote_precision": q["overlap"]["precision"],
            "quote_recall": q["overlap"]["recall"],
            "quote_f1": q["overlap"]["f1"],
            "quote_exact_f1": q["exact"]["f1"],
            "attribution_precision": a["precision"],
            "attribution_recall": a["recall"],
            "attribution_f1": a["f1"],
            "quotes": q,
            "attribution": a,
            "errors": result["errors"],
        }
