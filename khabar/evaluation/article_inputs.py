"""Article inputs for the local ``evaluate`` metrics.

``evaluate`` stores inputs in Arrow columns, so articles travel as JSON strings; this mixin lets
callers pass dicts or :class:`~khabar.data.article.Article` objects as well. Both metric modules
use it (they are loaded by file path, so shared code lives here, in the package).
"""

from __future__ import annotations

import json
from typing import Any

from khabar.data.article import Article


def as_json(item: Any) -> Any:
    """An ``Article`` or dict as a JSON string; anything else (a string, a tag list) unchanged."""
    if isinstance(item, Article):
        return json.dumps(item.to_dict(), ensure_ascii=False)
    if isinstance(item, dict):
        return json.dumps(item, ensure_ascii=False)
    return item


def _as_json_list(items: Any) -> Any:
    return None if items is None else [as_json(x) for x in items]


class ArticleInputsMixin:
    """Put before ``evaluate.Metric`` in the bases: serialises articles on the way in."""

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch; dicts and ``Article`` objects are accepted and serialised to JSON."""
        return super().add_batch(predictions=_as_json_list(predictions), references=_as_json_list(references), **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one example; a dict or ``Article`` is accepted and serialised to JSON."""
        return super().add(prediction=as_json(prediction), reference=as_json(reference), **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Compute the scores; dicts and ``Article`` objects are accepted and serialised to JSON."""
        return super().compute(predictions=_as_json_list(predictions), references=_as_json_list(references), **kwargs)
