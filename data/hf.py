"""Articles <-> Hugging Face ``datasets.Dataset`` with one fixed schema.

A layer that is not annotated (``None``) and one that is annotated but empty (``[]``) must stay
different (the scorer treats them differently), but Arrow list columns cannot mix "null" and
"empty" reliably across batches. So each layer is stored as a list (empty when ``None``) plus a
boolean ``has_entities`` / ``has_quotes`` column, and ``meta`` is stored as a JSON string.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import datasets

from khabar.data.article import Article, Entity, Quote, Span

__all__ = ["FEATURES", "articles_to_dataset", "dataset_to_articles", "row_to_article"]

_SPAN = {"start": datasets.Value("int32"), "end": datasets.Value("int32")}
FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "has_entities": datasets.Value("bool"),
        "entities": datasets.List(
            {**_SPAN, "label": datasets.Value("string"), "score": datasets.Value("float64")}
        ),
        "has_quotes": datasets.Value("bool"),
        "quotes": datasets.List(
            {
                **_SPAN,
                "type": datasets.Value("string"),
                "cue": dict(_SPAN),  # null when absent
                "speaker": dict(_SPAN),
                "speaker_name": datasets.Value("string"),
                "score": datasets.Value("float64"),
                "rule": datasets.Value("string"),
            }
        ),
        "meta": datasets.Value("string"),  # JSON object
    }
)


def _span(s: Span | None) -> dict[str, int] | None:
    return None if s is None else {"start": s.start, "end": s.end}


def _row(a: Article) -> dict[str, Any]:
    return {
        "id": a.id,
        "text": a.text,
        "has_entities": a.entities is not None,
        "entities": [{"start": e.start, "end": e.end, "label": e.label, "score": e.score} for e in a.entities or []],
        "has_quotes": a.quotes is not None,
        "quotes": [
            {
                "start": q.start, "end": q.end, "type": q.type, "cue": _span(q.cue), "speaker": _span(q.speaker),
                "speaker_name": q.speaker_name, "score": q.score, "rule": q.rule,
            }
            for q in a.quotes or []
        ],
        "meta": json.dumps(a.meta, ensure_ascii=False),
    }


def articles_to_dataset(articles: Iterable[Article], batch_size: int = 2000) -> datasets.Dataset:
    """Build a ``Dataset`` (schema :data:`FEATURES`) from articles.

    Converted ``batch_size`` articles at a time into Arrow, so a large stream never sits in memory
    as Python dicts. (Not ``Dataset.from_generator``: its cache is keyed on the generator function,
    and a closure over an iterator could be served a stale cache.)"""
    parts: list[datasets.Dataset] = []
    rows: list[dict[str, Any]] = []
    for a in articles:
        rows.append(_row(a))
        if len(rows) >= batch_size:
            parts.append(datasets.Dataset.from_list(rows, features=FEATURES))
            rows = []
    if rows or not parts:
        parts.append(datasets.Dataset.from_list(rows, features=FEATURES) if rows else _empty())
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _empty() -> datasets.Dataset:
    return datasets.Dataset.from_dict({k: [] for k in FEATURES}, features=FEATURES)


def _to_span(d: dict[str, int] | None) -> Span | None:
    return None if d is None else Span(int(d["start"]), int(d["end"]))


def row_to_article(row: dict[str, Any]) -> Article:
    """One dataset row back to an :class:`Article`."""
    entities = (
        [Entity(int(e["start"]), int(e["end"]), e["label"], e["score"]) for e in row["entities"]]
        if row["has_entities"] else None
    )
    quotes = (
        [
            Quote(int(q["start"]), int(q["end"]), q["type"], _to_span(q["cue"]), _to_span(q["speaker"]),
                  q["speaker_name"], q["score"], q["rule"])
            for q in row["quotes"]
        ]
        if row["has_quotes"] else None
    )
    meta = json.loads(row["meta"]) if row.get("meta") else {}
    return Article(row["id"], row["text"], entities, quotes, meta)


def dataset_to_articles(ds: datasets.Dataset) -> list[Article]:
    """Inverse of :func:`articles_to_dataset`."""
    return [row_to_article(row) for row in ds]
