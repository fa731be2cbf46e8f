"""``khabar bootstrap``: silver quotations for JSONL corpora, on all cores, streaming.

    khabar bootstrap shared/data/ant-news/news-*.jsonl --out silver.jsonl --min-confidence 0.5

Any JSONL whose lines have ``id`` and ``text`` is read (gold files too: their ``entities`` and
``quotes`` are ignored; other keys such as ``title`` or ``url`` are copied through). Each output
line has the gold schema with ``entities: null`` and the quotations whose ``score`` reaches
``--min-confidence``, each with its ``rule`` and ``score``. A malformed line is reported on stderr
with its file and line number and skipped; the rest is processed. Output order is input order.
Memory stays bounded: articles go to the worker processes in windows of ``--window`` articles.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from khabar.data.article import UTF8_BOM, Article, InputError, unencodable

from .pipeline import DEFAULT_MIN_CONFIDENCE, Bootstrapper

_GOLD_LAYERS = ("entities", "quotes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT.jsonl", help="JSONL files with 'id' and 'text' per line")
    parser.add_argument("--out", required=True, help="output JSONL (gold schema + rule and score per quotation)")
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                        help=f"keep quotations whose score reaches this (default {DEFAULT_MIN_CONFIDENCE}; "
                             "0 keeps everything the rules find)")
    parser.add_argument("--workers", type=int, default=0, help="processes (default: all cores; 1 = no subprocess)")
    parser.add_argument("--chunk-size", type=int, default=32, help="articles per task sent to a worker (default 32)")
    parser.add_argument("--window", type=int, default=4096, help="articles in flight at most (bounds memory; default 4096)")
    parser.add_argument("--skip-empty", action="store_true", help="do not write articles in which nothing was found")
    parser.add_argument("--cues", help="a cue lexicon TSV to use instead of the packaged one (same format)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def read_inputs(paths: list[str], errors: list[InputError]) -> Iterator[tuple[int, tuple[str, str, dict[str, Any]]]]:
    """Yield ``(bytes_read, (id, text, meta))``; malformed lines go to ``errors`` (and stderr)."""

    def report(e: InputError) -> None:
        errors.append(e)
        print(f"khabar bootstrap: skipped {e}", file=sys.stderr)

    for path in paths:
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                size = len(raw)
                if lineno == 1 and raw.startswith(UTF8_BOM):
                    raw = raw[len(UTF8_BOM) :]
                if not raw.strip():
                    yield size, None  # type: ignore[misc]
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    report(InputError(f"invalid UTF-8 at byte {exc.start}", path, lineno))
                    yield size, None  # type: ignore[misc]
                    continue
                except json.JSONDecodeError as exc:
                    report(InputError(f"invalid JSON: {exc.msg} (column {exc.colno}); fix or remove the line", path, lineno))
                    yield size, None  # type: ignore[misc]
                    continue
                if not isinstance(obj, dict):
                    report(InputError(f"expected a JSON object, got {type(obj).__name__}", path, lineno))
                elif "text" not in obj or not isinstance(obj["text"], str):
                    report(InputError("missing or not a string: every line needs a 'text' string", path, lineno, "text"))
                elif "id" not in obj:
                    report(InputError("missing: every line needs an 'id'", path, lineno, "id"))
                elif problem := _encoding_problem(obj):
                    report(InputError(problem[1], path, lineno, problem[0]))
                else:
                    meta = {k: v for k, v in obj.items() if k not in ("id", "text") + _GOLD_LAYERS}
                    yield size, (str(obj["id"]), obj["text"], meta)
                    continue
                yield size, None  # type: ignore[misc]


def _encoding_problem(obj: dict[str, Any]) -> tuple[str, str] | None:
    """``(field, message)`` when the id or text cannot be written back as UTF-8 (lone surrogates)."""
    for fld, value in (("text", obj["text"]), ("id", str(obj["id"]))):
        message = unencodable(value)
        if message:
            return fld, message
    return None


_worker: Bootstrapper | None = None


def _init(min_confidence: float, cues: str | None) -> None:
    global _worker
    from .lexicon import Lexicon

    _worker = Bootstrapper(Lexicon.load(cues) if cues else None, min_confidence=min_confidence)


def _process(item: tuple[str, str, dict[str, Any]]) -> tuple[str, int]:
    assert _worker is not None
    aid, text, meta = item
    article = _worker(Article(aid, text, None, None, meta))
    return json.dumps(article.to_dict(), ensure_ascii=False), len(article.quotes or [])


def _windows(items: Iterator, size: int) -> Iterator[list]:
    batch: list = []
    for it in items:
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(args: argparse.Namespace) -> int:
    missing = [p for p in args.inputs if not Path(p).is_file()]
    if missing:
        print(f"khabar bootstrap: input file(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    out_path = Path(args.out).resolve()
    if any(Path(p).resolve() == out_path for p in args.inputs):
        print(f"khabar bootstrap: --out {args.out} is one of the inputs; write elsewhere", file=sys.stderr)
        return 2
    for name in ("chunk_size", "window"):
        if getattr(args, name) < 1:
            print(f"khabar bootstrap: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}", file=sys.stderr)
            return 2
    if not 0.0 <= args.min_confidence <= 1.0:
        print(f"khabar bootstrap: --min-confidence must be in [0, 1], got {args.min_confidence}", file=sys.stderr)
        return 2
    if args.cues:
        from .lexicon import Lexicon

        try:  # fail here, not in every worker's initializer
            Lexicon.load(args.cues)
        except (OSError, ValueError) as exc:
            print(f"khabar bootstrap: --cues {args.cues}: {exc}", file=sys.stderr)
            return 2
    workers = args.workers or os.cpu_count() or 1
    total_bytes = sum(Path(p).stat().st_size for p in args.inputs)
    errors: list[InputError] = []
    progress = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            progress = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="bootstrap", file=sys.stderr)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            progress = None

    n_articles = n_quotes = n_written = 0
    t0 = time.perf_counter()
    stream = read_inputs(args.inputs, errors)
    pool = None
    if workers > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        pool = ctx.Pool(workers, initializer=_init, initargs=(args.min_confidence, args.cues))
    else:
        _init(args.min_confidence, args.cues)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as out:
            for window in _windows(stream, args.window):
                sizes = [s for s, _ in window]
                items = [it for _, it in window if it is not None]
                results = pool.imap(_process, items, chunksize=args.chunk_size) if pool else map(_process, items)
                for line, nq in results:
                    n_articles += 1
                    n_quotes += nq
                    if nq or not args.skip_empty:
                        out.write(line + "\n")
                        n_written += 1
                if progress is not None:
                    progress.update(sum(sizes))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        if progress is not None:
            progress.close()
    elapsed = time.perf_counter() - t0
    rate = n_articles / elapsed if elapsed > 0 else 0.0
    print(
        f"khabar bootstrap: {n_articles} articles, {n_quotes} quotations (score >= {args.min_confidence}), "
        f"{n_written} lines written to {args.out}, {len(errors)} malformed line(s) skipped, "
        f"{elapsed:.1f} s ({rate:.0f} articles/s, {workers} worker(s))",
        file=sys.stderr,
    )
    return 1 if errors else 0  # like analyze and evaluate: a pipeline must notice skipped lines
