"""Data: the article model (gold and predictions share it), readers, normalisation and segmentation."""

from khabar.data.article import (
    ENTITY_LABELS,
    QUOTE_TYPES,
    Article,
    Entity,
    InputError,
    Quote,
    Span,
    read_articles,
    write_articles,
)

__all__ = [
    "ENTITY_LABELS",
    "QUOTE_TYPES",
    "Article",
    "Entity",
    "InputError",
    "Quote",
    "Span",
    "read_articles",
    "write_articles",
]
