"""Rules + model for quotations: the bootstrapper's confident quotations, the model's for the rest.

The rule-based bootstrapper (``khabar.bootstrap``) is precise (quotes-dev: overlap P 0.95) but
misses what its patterns do not cover; a model trained on its silver output generalises beyond
the patterns but is less precise. With ``KhabarConfig.hybrid_rule_confidence`` set, ``predict``
returns the union:

* every bootstrapper quotation whose ``score`` reaches ``hybrid_rule_confidence`` (span, type,
  cue, speaker and name from the rules; ``rule`` says which fired);
* every model quotation that overlaps none of them and whose score reaches
  ``hybrid_model_score`` (the model supplies recall).

Entities always come from the model. ``None`` (the default) keeps the model's output as is, so a
config decides, and a model card says, which mode a shipped model runs in.
"""

from __future__ import annotations

from typing import Iterable

from khabar.data.article import Article, Quote


def _overlaps(a: Quote, b: Quote) -> bool:
    return a.start < b.end and b.start < a.end


def merge_quotes(model_quotes: Iterable[Quote], rule_quotes: Iterable[Quote], rule_confidence: float,
                 model_score: float = 0.0) -> list[Quote]:
    """Confident rule quotations plus the model quotations that overlap none of them, by position."""
    rules = [q for q in rule_quotes if (q.score or 0.0) >= rule_confidence]
    kept = [q for q in model_quotes
            if (q.score if q.score is not None else 1.0) >= model_score and not any(_overlaps(q, r) for r in rules)]
    return sorted(rules + kept, key=lambda q: (q.start, q.end))


class RuleQuotes:
    """Adds the bootstrapper's quotations to predicted articles, as the config says."""

    def __init__(self, rule_confidence: float, model_score: float = 0.0):
        from khabar.bootstrap import Bootstrapper

        self.rule_confidence = float(rule_confidence)
        self.model_score = float(model_score)
        # min_confidence 0: the threshold is applied in merge_quotes, the one place that decides
        self.bootstrapper = Bootstrapper(min_confidence=0.0)

    def __call__(self, article: Article) -> Article:
        # extract, not the bootstrapper's call: that wraps the quotations in a new Article and
        # filters them at min_confidence 0, both of which merge_quotes makes moot
        rules = self.bootstrapper.extract(article.text)
        article.quotes = merge_quotes(article.quotes or [], rules, self.rule_confidence, self.model_score)
        return article

    @classmethod
    def from_config(cls, config: object) -> "RuleQuotes | None":
        threshold = getattr(config, "hybrid_rule_confidence", None)
        if threshold is None:
            return None
        return cls(threshold, getattr(config, "hybrid_model_score", 0.0) or 0.0)
