"""Rule-based quotation bootstrapper: silver quotations (cue, speaker, speaker name) for raw news.

``Bootstrapper()(text_or_article) -> Article``; ``khabar bootstrap`` runs it over JSONL corpora.
The stages and the data files are described in docs/bootstrapper.md.
"""

from .lexicon import Lexicon
from .pipeline import DEFAULT_MIN_CONFIDENCE, Bootstrapper

__all__ = ["Bootstrapper", "Lexicon", "DEFAULT_MIN_CONFIDENCE"]
