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
from khabar.data.conll import ConllCorpus, read_conll
from khabar.data.news import iter_news, read_text_file
from khabar.data.normalise import Normalised, normalise, normalise_name, strip_diacritics
from khabar.data.sentences import split_sentences

# khabar.data.hf is not imported here: it pulls in `datasets` (slow), import it where needed.
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
    "ConllCorpus",
    "read_conll",
    "iter_news",
    "read_text_file",
    "Normalised",
    "normalise",
    "normalise_name",
    "strip_diacritics",
    "split_sentences",
]
