"""``khabar analyze PATH... | -``: entities, quotations and speakers for articles on disk or stdin.

Inputs: ``.txt`` (one article, id = file stem), ``.jsonl`` (``{"id", "text"}`` per line,
streamed; the readers of :mod:`khabar.data.news`), a folder (its ``.txt``/``.jsonl`` files, sorted), or ``-`` (stdin: JSONL when the
first line starts with ``{``, else one article with id ``stdin``). Output: ``--format
jsonl|json|table|html`` to stdout or ``--out FILE``.

A malformed line (bad JSON, no ``text``, invalid UTF-8) or an unreadable / invalid-UTF-8 ``.txt``
file is reported on stderr with its file and line and skipped; the rest is processed and the
exit code is 1. Exit code 2: no model (or bad arguments).

Data-parallel: under ``accelerate launch`` (or ``torchrun``) each of the N processes takes every
N-th input article, writes ``OUT.partK`` (JSONL with the input index) and, after a barrier, rank 0
merges the parts in input order into ``--out`` in the requested format.

On one multi-core CPU, ``--workers N`` analyses in N worker processes instead (one thread each,
or ``--threads`` each); the output is the same, in the same order. It is refused under
``accelerate launch``/``torchrun`` with several processes (those already are the workers).
"""

from __future__ import annotations

import argparse
import heapq
import io
from collections import deque
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from khabar.data.article import Article, InputError
from khabar.data.news import iter_news

FORMATS = ("jsonl", "json", "table", "html")
PROG = "khabar analyze"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="PATH",
        help=".txt (one article), .jsonl ({\"id\", \"text\"} per line), a folder of them, or - for stdin",
    )
    parser.add_argument("--model", metavar="PATH", help="model folder (default: the model bundled with khabar)")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="output format (default: jsonl)")
    parser.add_argument("--out", "-o", metavar="FILE", help="write here instead of stdout (required with several processes)")
    parser.add_argument("--quantize", choices=("int8", "bf16"),
                        help="fast paths: int8 = int8 Linear weights (CPU; weight-only with bf16 products where the CPU has AVX512-BF16/AMX, dynamic int8 elsewhere); bf16 = bfloat16 weights (GPU, or CPU with AVX512-BF16/AMX)")
    parser.add_argument("--batch-size", type=int, help="windows per forward pass (default: 32 on a GPU, 16 on a CPU)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU when there is one)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice; 1 is best on a busy machine); "
                        "with --workers: threads per worker (default 1)")
    parser.add_argument("--workers", type=int, help="analyse in N worker processes on this CPU (default: this process)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


# ------------------------------------------------------------------------------------ inputs


@dataclass
class Record:
    index: int  # position in the input stream (errors count too): the output order and the shard key
    id: str
    text: str


def read_text_file(path: str | Path) -> str:
    """One article, exactly as in the file (no newline translation, a BOM kept); InputError when unreadable."""
    from khabar.data.news import read_text_file as read

    try:
        return read(path).text
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(path)) from None


def _record_from(obj: Any, path: str, lineno: int, index: int) -> Record:
    article = Article.from_dict(obj, file=path, line=lineno)  # the project's one validation of a line
    return Record(index, article.id, article.text)


def _is_own_output(f: Path, out: Path | None) -> bool:
    """``--out`` itself or one of its ``.partK`` shards: reading them back would never end."""
    if out is None:
        return False
    r = f.resolve()
    return r == out or (r.parent == out.parent and r.name.startswith(out.name + ".part"))


def _expand(paths: Iterable[str], out: str | None = None) -> Iterator[str]:
    own = Path(out).resolve() if out else None
    for p in paths:
        if p != "-" and Path(p).is_dir():
            yield from sorted(
                str(f) for f in Path(p).rglob("*")
                if f.suffix in (".txt", ".jsonl") and f.is_file() and not _is_own_output(f, own)
            )
        else:
            yield p


def iter_records(
    paths: Iterable[str], on_error: Callable[[int, InputError], None], out: str | None = None
) -> Iterator[Record]:
    """Every input article in order; each problem goes to ``on_error(index, error)`` and is skipped.

    Errors take an index too, so that every process of a data-parallel run agrees on the numbering.
    Files found in a folder that are ``out`` (or its ``.partK`` shards) are not inputs.
    """
    counter = iter(range(sys.maxsize))

    def report(error: InputError) -> None:
        on_error(next(counter), error)

    for path in _expand(paths, out):
        if path == "-":
            yield from _stdin_records(counter, on_error)
            continue
        suffix = Path(path).suffix.lower()
        if suffix == ".jsonl":
            if not Path(path).is_file():
                report(InputError("no such file", path))
                continue
            # Errors are reported (and numbered) synchronously, in input order, by the reader.
            for article in iter_news([path], on_error=report):
                yield Record(next(counter), article.id, article.text)
        elif suffix == ".txt":
            index = next(counter)
            try:
                yield Record(index, Path(path).stem, read_text_file(path))
            except InputError as exc:
                on_error(index, exc)
        else:
            report(InputError("unsupported input: expected a .txt file, a .jsonl file, a folder or -", path))


def _stdin_records(counter: Iterator[int], on_error: Callable[[int, InputError], None]) -> Iterator[Record]:
    def report(error: InputError) -> None:
        on_error(next(counter), error)

    stream = sys.stdin.buffer
    first = stream.readline()
    prefix = b""  # the blank lines before the first non-blank one, kept byte for byte (offsets)
    skipped_blank = 0
    while first and not first.strip():
        prefix += first
        skipped_blank += 1
        first = stream.readline()
    if not first.lstrip().startswith(b"{"):  # plain text: the whole of stdin is one article
        raw = prefix + first + stream.read()
        index = next(counter)
        try:
            yield Record(index, "stdin", raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            on_error(index, InputError(f"invalid UTF-8 at byte {exc.start}", "<stdin>", line))
        return
    for lineno, raw in enumerate(_chain([first], stream), skipped_blank + 1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            report(InputError(f"invalid UTF-8 at byte {exc.start}", "<stdin>", lineno))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            report(InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", "<stdin>", lineno))
            continue
        index = next(counter)
        try:
            yield _record_from(obj, "<stdin>", lineno, index)
        except InputError as exc:
            on_error(index, exc)


def _chain(first: list[bytes], rest: IO[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


# ------------------------------------------------------------------------------------ outputs


class Writer:
    """Streams results in one of the output formats (HTML is rendered once, at the end)."""

    def __init__(self, fmt: str, out: IO[str]):
        self.fmt, self.out = fmt, out
        self.n = 0
        self._html: list[dict[str, Any]] = []

    def write(self, result: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self.out.write(json.dumps(result, ensure_ascii=False) + "\n")
        elif self.fmt == "json":
            self.out.write(("[\n" if self.n == 0 else ",\n") + json.dumps(result, ensure_ascii=False, indent=1))
        elif self.fmt == "table":
            self.out.write(format_table(result))
        else:
            self._html.append(result)
        self.n += 1
        if self.fmt != "html":
            self.out.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("[]\n" if self.n == 0 else "\n]\n")
        elif self.fmt == "html":
            from khabar.render import render_html

            self.out.write(render_html(self._html, title="khabar analyze"))
        self.out.flush()


def _one_line(s: str) -> str:
    return s.replace("\r", "").replace("\n", " ⏎ ")


def format_table(r: dict[str, Any]) -> str:
    """A human-readable block per article: entities, then quotations with speaker and cue."""

    def sc(obj: dict[str, Any] | None) -> str:
        return "  -  " if not obj or obj.get("score") is None else f"{obj['score']:.2f}"

    lines = [f"== {r['id']}  ({len(r['entities'])} entities, {len(r['quotes'])} quotations, {len(r['text'])} characters)"]
    if r["entities"]:
        lines.append("entities")
        for e in r["entities"]:
            lines.append(f"  {e['label']:<5} {sc(e)}  [{e['start']}, {e['end']})  {_one_line(e['text'])}")
    if r["quotes"]:
        lines.append("quotations")
        for q in r["quotes"]:
            speaker = q["speaker"]["text"] if q.get("speaker") else "-"
            name = q.get("speaker_name") or "-"
            cue = q["cue"]["text"] if q.get("cue") else "-"
            lines.append(
                f"  {q['type']:<8} {sc(q)}  [{q['start']}, {q['end']})  speaker: {_one_line(name)} (mention: {_one_line(speaker)}, {sc(q.get('speaker'))})  cue: {_one_line(cue)}"
            )
            lines.append(f"      «{_one_line(q['text'])}»")
    return "\n".join(lines) + "\n\n"


# ------------------------------------------------------------------------------------ run


def _shard() -> tuple[int, int]:
    """(rank, world size) of this process under accelerate launch / torchrun; (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _barrier() -> None:
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def _progress(disable: bool):
    from tqdm import tqdm

    return tqdm(unit=" articles", file=sys.stderr, disable=disable or not sys.stderr.isatty(), dynamic_ncols=True)


def analyse_records(
    analyzer: Any,
    records: Iterable[Record],
    emit: Callable[[Record, dict[str, Any]], None],
    batch_size: int,
    progress: Any = None,
) -> None:
    """Run ``analyzer.pipe`` over records, calling ``emit(record, result)`` in input order."""
    pending: deque[Record] = deque()  # records handed to pipe, not yet answered (pipe keeps input order)

    def items() -> Iterator[dict[str, str]]:
        for rec in records:
            pending.append(rec)
            yield {"id": rec.id, "text": rec.text}

    for result in analyzer.pipe(items(), batch_size=batch_size):
        emit(pending.popleft(), result)
        if progress is not None:
            progress.update(1)


def run(args: argparse.Namespace) -> int:
    rank, world = _shard()
    if world > 1 and not args.out:
        print(f"{PROG}: with {world} processes, pass --out FILE (each process writes FILE.partK, rank 0 merges)", file=sys.stderr)
        return 2
    if args.batch_size is not None and args.batch_size < 1:
        print(f"{PROG}: --batch-size must be >= 1", file=sys.stderr)
        return 2
    if getattr(args, "threads", None) is not None and args.threads < 1:
        print(f"{PROG}: --threads must be >= 1", file=sys.stderr)
        return 2
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        print(f"{PROG}: --workers must be >= 1", file=sys.stderr)
        return 2
    if workers is not None and workers > 1 and world > 1:
        print(f"{PROG}: --workers {workers} with {world} launched processes: each process would start its own workers; "
              "drop --workers (the launched processes already share the input) or launch one process", file=sys.stderr)
        return 2
    problem = _device_problem(getattr(args, "device", None))
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    if args.out and _is_an_input(args.out, args.inputs):
        print(f"{PROG}: --out {args.out} is one of the inputs; write somewhere else", file=sys.stderr)
        return 2
    try:
        return _run(args, rank, world)
    except BrokenPipeError:
        # The reader went away (``| head``): as the Python docs recommend, point stdout at devnull
        # so that the interpreter's final flush does not raise again, and stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass  # stdout is not a real file (tests); nothing will flush into a closed pipe
        finally:
            os.close(devnull)
        return 1


def _device_problem(device: str | None) -> str | None:
    """A one-line message when ``--device`` is not a device torch knows or has; None when usable."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        return f"--device {device}: {exc} (expected cpu, cuda, cuda:N ...)"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return f"--device {device}: CUDA is not available here; use --device cpu"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here"
    return None


def _is_an_input(out: str, inputs: Iterable[str]) -> bool:
    """Whether ``out`` is one of the input files (writing it would truncate the input first)."""
    target = Path(out).resolve()
    return any(p != "-" and Path(p).resolve() == target for p in inputs)


def _run(args: argparse.Namespace, rank: int, world: int) -> int:
    from khabar.analyzer import Analyzer, ModelNotFoundError

    quiet_loading()
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    workers = getattr(args, "workers", None)
    try:
        analyzer = Analyzer.from_pretrained(args.model, device=args.device, quantize=args.quantize, batch_size=args.batch_size,
                                            workers=workers, threads_per_worker=getattr(args, "threads", None) or 1)
    except (ModelNotFoundError, ValueError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if world > 1:
        return run_shard(args, analyzer, rank, world, barrier=_barrier)
    from khabar.workers import WorkerError

    try:
        with analyzer:  # stops the worker processes, if any, however the run ends
            return _analyse_all(args, analyzer)
    except WorkerError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _analyse_all(args: argparse.Namespace, analyzer: Any) -> int:

    skipped = 0
    progress = _progress(args.no_progress)

    def on_error(_index: int, error: InputError) -> None:
        nonlocal skipped
        skipped += 1
        progress.write(f"{PROG}: skipped {error}", file=sys.stderr)

    try:
        out, close = _open_out(args.out)
    except OSError as exc:
        progress.close()
        print(f"{PROG}: cannot write --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    writer = Writer(args.format, out)
    try:
        analyse_records(analyzer, iter_records(args.inputs, on_error, args.out), lambda _r, res: writer.write(res), analyzer.batch_size, progress)
        writer.close()
    finally:
        progress.close()
        close()
    if skipped:
        print(f"{PROG}: {writer.n} articles written, {skipped} input(s) skipped (see above)", file=sys.stderr)
    return 1 if skipped else 0


def quiet_loading() -> None:
    """No "Loading weights" bars from transformers between our messages on stderr."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _open_out(path: str | None) -> tuple[IO[str], Callable[[], None]]:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "w", encoding="utf-8", newline="\n")
        return fh, fh.close
    if hasattr(sys.stdout, "reconfigure"):
        try:
            sys.stdout.reconfigure(encoding="utf-8")
        except (ValueError, OSError):
            pass
    return sys.stdout, sys.stdout.flush


def part_path(out: str, rank: int) -> Path:
    return Path(f"{out}.part{rank}")


def run_shard(args: argparse.Namespace, analyzer: Any, rank: int, world: int, barrier: Callable[[], None] = _barrier) -> int:
    """One process of a data-parallel run: analyse every ``world``-th input, then rank 0 merges."""
    part, done = part_path(args.out, rank), Path(f"{part_path(args.out, rank)}.done")
    for stale in (part, done):
        stale.unlink(missing_ok=True)
    barrier()  # nobody reads a stale part of an earlier run
    skipped = 0

    def on_error(index: int, error: InputError) -> None:
        nonlocal skipped
        if index % world == rank:  # every process reads everything; the owner reports
            skipped += 1
            print(f"{PROG} [rank {rank}]: skipped {error}", file=sys.stderr)

    mine = (r for r in iter_records(args.inputs, on_error, args.out) if r.index % world == rank)
    progress = _progress(args.no_progress or rank != 0)
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "w", encoding="utf-8") as fh:

        def emit(rec: Record, result: dict[str, Any]) -> None:
            fh.write(json.dumps({"_index": rec.index, **result}, ensure_ascii=False) + "\n")

        analyse_records(analyzer, mine, emit, analyzer.batch_size, progress)
    progress.close()
    done.write_text(json.dumps({"skipped": skipped}) + "\n", encoding="utf-8")
    barrier()
    if rank != 0:
        return 1 if skipped else 0
    return merge_parts(args.out, world, args.format)


def merge_parts(out: str, world: int, fmt: str) -> int:
    """Rank 0: merge ``OUT.part0..N-1`` (each sorted by input index) into ``OUT``; 1 if any rank skipped input."""
    parts = [part_path(out, k) for k in range(world)]
    missing = [str(p) for p in parts if not p.is_file() or not Path(f"{p}.done").is_file()]
    if missing:
        print(f"{PROG}: parts missing after the barrier (a process failed?): {missing}", file=sys.stderr)
        return 2
    skipped = sum(json.loads(Path(f"{p}.done").read_text(encoding="utf-8"))["skipped"] for p in parts)
    handles = [open(p, encoding="utf-8") for p in parts]
    try:
        streams = [((json.loads(line) for line in h)) for h in handles]
        merged = heapq.merge(*streams, key=lambda r: r["_index"])
        with open(out, "w", encoding="utf-8", newline="\n") as fh:
            writer = Writer(fmt, fh)
            for result in merged:
                result.pop("_index")
                writer.write(result)
            writer.close()
    finally:
        for h in handles:
            h.close()
    for p in parts:
        p.unlink()
        Path(f"{p}.done").unlink()
    print(f"{PROG}: merged {writer.n} articles from {world} processes into {out}", file=sys.stderr)
    return 1 if skipped else 0
