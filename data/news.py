"""Raw news readers: JSON Lines articles (``{"id", "text", ...}``) and single ``.txt`` articles.

Both keep the text byte-for-byte as decoded (no newline translation, no BOM stripping), because
every offset we produce must index it exactly (annotation guidelines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

from khabar.data.article import Article, InputError, read_articles, warn

__all__ = ["iter_news", "read_text_file"]


def iter_news(
    paths: Iterable[str | Path] | str | Path,
    on_error: Callable[[InputError], None] | None = warn,
) -> Iterator[Article]:
    """Stream articles from JSONL files, one line at a time (constant memory).

    Extra fields (``url``, ``title``, ``date``...) land in ``Article.meta``; ``entities`` and
    ``quotes`` stay ``None`` unless the line has them. A malformed line (bad JSON, invalid UTF-8,
    missing ``id``/``text``, bad spans) is reported to ``on_error`` with file and line and skipped;
    ``on_error=None`` raises instead. Expanding directories or globs is the caller's job.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for path in paths:
        if Path(path).is_dir():
            raise InputError("is a directory; pass the .jsonl files in it (e.g. sorted(dir.glob('*.jsonl')))", str(path))
        yield from read_articles(path, on_error)


def read_text_file(path: str | Path) -> Article:
    """One plain-text article; its id is the file stem. Invalid UTF-8 is an :class:`InputError`
    naming the file and the byte offset."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"invalid UTF-8 at byte {exc.start} ({data[exc.start:exc.start + 4]!r}); re-encode the file as UTF-8",
            str(path), line,
        ) from None
    return Article(path.stem, text)
