"""khabar (خبر): entities, quotations and their speakers in Arabic political news."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Analyzer", "Article", "KhabarConfig", "KhabarModel", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `khabar evaluate` and the data readers must not pay for importing torch.
    if name == "Analyzer":
        from khabar.analyzer import Analyzer

        return Analyzer
    if name in ("KhabarConfig", "KhabarModel"):
        import khabar.model as m

        return getattr(m, name)
    if name == "Article":
        from khabar.data.article import Article

        return Article
    raise AttributeError(f"module 'khabar' has no attribute {name!r}")
