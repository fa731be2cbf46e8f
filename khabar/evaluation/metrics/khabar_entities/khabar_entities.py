"""khabar_entities: exact-span entity scores, seqeval-compatible, offline.

Load it with ``khabar.evaluation.load_metric("khabar_entities")`` (by file path, never from the
Hub). Two input forms:

* BIO tag sequences, as a Trainer ``compute_metrics`` has them (the primary form)::

      metric.compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])

  Spans are read as seqeval's default mode reads them (conlleval, lenient): an ``I-`` that
  does not continue a span of its label starts one, so ``O I-PER`` counts as a PER span.
* Articles, one per item, as JSON strings (or dicts / ``Article`` objects, serialised here):
  exact (start, end, label) character spans, gold aligned with predictions by ``id``.

Output: what ``evaluate.load("seqeval")`` returns (``overall_precision``, ``overall_recall``,
``overall_f1``, ``overall_accuracy`` for tags, and per label ``{"precision", "recall", "f1",
"number"}``) plus ``macro_precision``, ``macro_recall``, ``macro_f1`` (mean over labels present
in references or predictions). Undefined scores are 0.0.
"""

from __future__ import annotations

import json
from typing import Any

import datasets
import evaluate

from khabar.data.article import Article
from khabar.evaluation.article_inputs import ArticleInputsMixin
from khabar.evaluation.scoring import score, score_bio, seqeval_style

_DESCRIPTION = __doc__
_CITATION = ""
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of tag sequences (list of str per sentence), or list of articles
        (JSON strings, dicts or Article objects).
    references: same form as predictions.
Returns:
    overall_precision, overall_recall, overall_f1 (micro), overall_accuracy (tags only),
    macro_precision, macro_recall, macro_f1, and one dict per label with precision, recall,
    f1 and number (gold count).
Examples:
    >>> m = khabar.evaluation.load_metric("khabar_entities")
    >>> m.compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])["overall_f1"]
    1.0
"""



@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class KhabarEntities(ArticleInputsMixin, evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # Tried in order: an article is one string, a sentence a list of strings (a list is
            # rejected by the string form, so tag sequences fall through to the second).
            features=[
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("string")),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
            ],
        )

    def _compute(self, predictions, references) -> dict[str, Any]:
        if references and isinstance(references[0], str):
            gold = [Article.from_dict(json.loads(r), line=i + 1) for i, r in enumerate(references)]
            pred = [Article.from_dict(json.loads(p), line=i + 1) for i, p in enumerate(predictions)]
            result = score(gold, pred)
            if "entities" not in result:
                raise ValueError("no reference article annotates entities (all have entities: null); nothing to score")
            return seqeval_style(result["entities"])
        return seqeval_style(score_bio(references, predictions))
