"""The inference API: ``Analyzer.from_pretrained(path)(text) -> dict``.

An :class:`Analyzer` wraps a ``KhabarModel`` and its tokenizer. It returns plain dicts in the
gold schema of the annotation guidelines (``id``, ``text``, ``entities``, ``quotes`` with
``type``, ``cue``, ``speaker``, ``speaker_name``) with a ``text`` and a ``score`` on every span
(entity, quote, cue, speaker). All offsets are character offsets into the text exactly as given,
so ``span["text"] == text[span["start"]:span["end"]]`` always holds.

Speed comes from :meth:`Analyzer.pipe`: it cuts the input stream into groups of many articles and
hands each group to ``KhabarModel.predict`` at once, which batches the windows of all of them
(sorted by length) instead of one article at a time. On a multi-core CPU,
``Analyzer.from_pretrained(path, workers=N)`` makes ``pipe`` spread chunks of the stream over N
worker processes (:mod:`khabar.workers`), one thread each.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

if TYPE_CHECKING:
    import torch

    from khabar.data.article import Article

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = "default_model"
FAST_PATHS = (None, "int8", "bf16")
NO_DEFAULT_MODEL = (
    "no default model is bundled in this installation yet; pass a path: "
    "Analyzer.from_pretrained('path/to/model') (train one with `khabar train --config ...`)"
)
# A group is flushed at whichever limit it reaches first: enough articles to fill batches of
# windows sorted by length, few enough characters to bound memory and latency.
DEFAULT_GROUP_ARTICLES = 256
DEFAULT_GROUP_CHARS = 1_000_000
# With worker processes the stream is cut finer, so that every worker gets work early and the
# in-order output waits little on any one chunk; still enough windows to fill sorted batches.
DEFAULT_CHUNK_ARTICLES = 32
DEFAULT_CHUNK_CHARS = 200_000
CHUNKS_IN_FLIGHT_PER_WORKER = 2  # one being analysed, one waiting in its pipe: bounded memory


def default_batch_size(device: "torch.device") -> int:
    """Windows per forward pass when none is given: 32 on a GPU, 16 on a CPU.

    On a CPU the windows of a group are sorted by length, so a batch pads little; 16 windows make
    matrix products large enough for the bf16/int8 kernels. Measured on the shipped 4x256 model
    + BiLSTM, 64 news articles, 1 thread (loaded machine, best of 3, seconds at 4/8/16/32): fp32
    2.72/2.73/2.60/2.94, bf16 1.55/1.42/1.32/1.37, int8 1.94/1.80/1.83/2.08.
    """
    return 32 if device.type == "cuda" else 16


class ModelNotFoundError(FileNotFoundError):
    """No model where one was asked for (or no default model bundled); the message says what to pass."""


def default_model_path() -> Path:
    """``khabar/default_model/`` inside the installed package; raises when it holds no model."""
    path = Path(str(resources.files("khabar"))) / DEFAULT_MODEL_DIR
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(NO_DEFAULT_MODEL)
    return path


def _pick_device(device: "str | torch.device | None") -> "torch.device":
    import torch

    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        # Under `accelerate launch` each process takes its own GPU.
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    return torch.device("cpu")


class Analyzer:
    """Entities, quotations and speakers for raw Arabic articles.

    >>> analyzer = Analyzer.from_pretrained("path/to/model")   # doctest: +SKIP
    >>> analyzer("قال الرئيس: \\"سنعمل معا\\".")["quotes"]      # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int | None = None,
        group_articles: int = DEFAULT_GROUP_ARTICLES,
        group_chars: int = DEFAULT_GROUP_CHARS,
        workers: int | None = None,
        chunk_articles: int = DEFAULT_CHUNK_ARTICLES,
        chunk_chars: int = DEFAULT_CHUNK_CHARS,
    ):
        if workers is not None and workers > 1:
            raise ValueError(
                f"workers={workers}: worker processes load the model from its folder, and this Analyzer was "
                "built from a model object; use Analyzer.from_pretrained(path, workers=...)"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        if batch_size is None:
            first = next(model.parameters(), None)
            batch_size = default_batch_size(first.device if first is not None else _pick_device("cpu"))
        self.batch_size = batch_size
        self.group_articles = group_articles
        self.group_chars = group_chars
        self.chunk_articles = chunk_articles
        self.chunk_chars = chunk_chars
        self.quantized: str | None = None
        # How many predicted spans were dropped for impossible offsets (should stay 0).
        self.dropped_spans = 0
        self.workers = 1
        self.threads_per_worker = 1
        # What from_pretrained loaded (path, quantize, batch_size): workers load the same.
        self._load_spec: dict[str, Any] | None = None
        self._pool: Any = None  # khabar.workers.WorkerPool, started by the first pipe()

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        device: "str | torch.device | None" = None,
        quantize: str | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
        threads_per_worker: int = 1,
        **kwargs: Any,
    ) -> "Analyzer":
        """Load a model directory written by ``save_pretrained`` (or the bundled default model).

        ``path=None`` loads ``khabar/default_model/``. ``device`` defaults to the GPU when there is
        one. ``batch_size``: windows per forward pass (default: 32 on a GPU, 16 on a CPU).
        ``quantize="int8"`` swaps every ``nn.Linear`` for one with int8 weights (CPU only; where
        the CPU has fast bf16 products the int8 weights are dequantised to bf16 in each call and
        the rest of the model runs in bfloat16, elsewhere the layers are dynamically quantised
        int8 and the rest stays float32: :func:`khabar.quantize.quantize_int8`); ``quantize="bf16"`` casts the model's weights to bfloat16 (GPUs, and CPUs with
        bf16 matrix instructions: AVX512-BF16/AMX). Both trade a little accuracy for speed.

        ``workers=N`` (N >= 2, CPU only): :meth:`pipe` runs in N worker processes, each loading
        this model (same ``quantize``, ``batch_size``) with ``threads_per_worker`` torch threads;
        they start on the first ``pipe`` and stay up until :meth:`close` (or ``with``, or exit).
        Results are the same dicts, in the same order. On a GPU ``workers`` is refused (a
        ValueError): there, run one process per GPU with ``accelerate launch`` (``khabar analyze``
        supports it). ``__call__`` (one article) always runs in this process. Keyword arguments
        ``chunk_articles``/``chunk_chars`` (default 32 articles / 200,000 characters, whichever
        comes first) size the pieces of the stream sent to workers.
        """
        import torch
        from transformers import AutoModel, AutoTokenizer

        import khabar.model  # noqa: F401  (registers KhabarConfig/KhabarModel with the Auto classes)

        if path is None:
            path = default_model_path()
        p = Path(path).expanduser()
        local = p.is_dir()
        # Anything that looks like a file path (not a Hub id "org/name") must exist locally.
        if not local and (p.exists() or str(path).startswith((".", "/", "~")) or str(path).count("/") > 1):
            raise ModelNotFoundError(
                f"{path}: not a model directory; pass the folder written by `khabar train` (or save_pretrained)"
            )
        if local and not (p / "config.json").is_file():
            raise ModelNotFoundError(
                f"{path}: no config.json in this folder; pass the folder written by `khabar train` (or save_pretrained)"
            )
        load = {"local_files_only": True} if local else {}
        path = str(p) if local else str(path)
        dev = _pick_device(device)
        if workers is not None and workers < 1:
            raise ValueError(f"workers={workers}: pass 1 (this process) or more")
        if workers is not None and workers > 1 and dev.type != "cpu":
            raise ValueError(
                f"workers={workers} starts CPU worker processes; on {dev} run one process per GPU with "
                "`accelerate launch` (khabar analyze supports it) and leave workers unset"
            )
        if threads_per_worker < 1:
            raise ValueError(f"threads_per_worker={threads_per_worker}: pass 1 or more")
        if quantize not in FAST_PATHS:
            raise ValueError(f"quantize={quantize!r}: the fast paths are {[q for q in FAST_PATHS if q]}")
        if quantize == "int8" and dev.type != "cpu":
            raise ValueError(f"quantize='int8' runs on CPU only (int8 CPU kernels); got device={dev}")
        if quantize == "bf16":
            from khabar.quantize import bf16_supported

            if not bf16_supported(dev):
                raise ValueError(f"quantize='bf16': {dev} has no fast bfloat16 matrix products (CPU: AVX512-BF16 or AMX); use int8")
        try:
            model = AutoModel.from_pretrained(path, use_safetensors=True, **load)
            tokenizer = AutoTokenizer.from_pretrained(path, **load)
        except OSError as exc:
            if local:
                raise
            # A name that is no folder here was tried as a Hub id: a mistyped folder lands here too.
            from khabar.hub import hub_failure

            raise ModelNotFoundError(
                f"{path}: no such folder here, and no model of that id could be loaded from the Hugging Face Hub "
                f"({hub_failure(exc)}); pass the folder written by `khabar train` (or save_pretrained), or a Hub id with the "
                "Hub reachable or the model in its local cache"
            ) from exc
        model.to(dev).eval()
        if quantize == "int8":
            from khabar.quantize import quantize_int8

            model = quantize_int8(model)
        elif quantize == "bf16":
            from khabar.quantize import to_bf16

            model = to_bf16(model)
        analyzer = cls(model, tokenizer, batch_size=batch_size, **kwargs)
        analyzer.quantized = quantize
        # absolute: the workers start later (first pipe), maybe after the caller changed directory
        analyzer._load_spec = {"path": str(Path(path).resolve()) if local else path, "quantize": quantize,
                               "batch_size": batch_size}
        analyzer.workers = workers or 1
        analyzer.threads_per_worker = threads_per_worker
        return analyzer

    # ---------------------------------------------------------------- public API

    def __call__(self, text: str, id: str = "0") -> dict[str, Any]:
        """Analyse one article; see :meth:`pipe` for many (much faster than calling this in a loop)."""
        return next(iter(self.pipe([{"id": id, "text": text}])))

    def pipe(
        self, items: Iterable[str | Mapping[str, Any]], batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream results, in input order, for texts or ``{"id", "text"}`` dicts.

        Strings get their position in the stream as ``id``. Internally the stream is cut into
        groups (``group_articles`` articles or ``group_chars`` characters) and each group goes
        through ``model.predict`` in one call, so windows of many articles share batches.
        With worker processes (``from_pretrained(..., workers=N)``) the stream is cut into chunks
        (``chunk_articles`` / ``chunk_chars``) dealt to the workers in turn, at most two per worker
        in flight, and their results are yielded in input order.
        """
        bs = batch_size or self.batch_size
        if self.workers > 1:
            yield from self._pipe_workers(self._records(items), bs)
            return
        for group in self._groups(self._records(items)):
            yield from self._analyse_group(group, bs)

    def start_workers(self) -> Any:
        """The worker pool (a :class:`khabar.workers.WorkerPool`), started now if it is not running."""
        if self.workers < 2:
            raise ValueError("this Analyzer has no workers; load it with Analyzer.from_pretrained(path, workers=N)")
        if self._load_spec is None:
            raise ValueError("worker processes load the model from its folder: use Analyzer.from_pretrained(path, workers=...)")
        if self._pool is None or not self._pool.alive:
            from khabar.workers import WorkerPool

            if self._pool is not None:
                self._pool.close()
            self._pool = WorkerPool(self._load_spec["path"], self.workers, quantize=self._load_spec["quantize"],
                                    batch_size=self._load_spec["batch_size"], threads=self.threads_per_worker)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes, if any ran (a later ``pipe`` starts them again)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _records(items: Iterable[str | Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
        for i, item in enumerate(items):
            if isinstance(item, str):
                yield str(i), item
            elif isinstance(item, Mapping):
                text = item.get("text")
                if not isinstance(text, str):
                    raise TypeError(f"item {i}: 'text' must be a string, got {type(text).__name__} (keys: {sorted(item)})")
                rid = item.get("id")
                yield str(i if rid is None else rid), text
            else:
                raise TypeError(f"item {i}: expected a str or a dict with 'text', got {type(item).__name__}")

    def _groups(self, records: Iterator[tuple[str, str]], articles: int | None = None,
                chars_limit: int | None = None) -> Iterator[list[tuple[str, str]]]:
        articles = articles or self.group_articles
        chars_limit = chars_limit or self.group_chars
        group: list[tuple[str, str]] = []
        chars = 0
        for rec in records:
            group.append(rec)
            chars += len(rec[1])
            if len(group) >= articles or chars >= chars_limit:
                yield group
                group, chars = [], 0
        if group:
            yield group

    def chunks(self, items: Iterable[str | Mapping[str, Any]]) -> Iterator[list[tuple[str, str]]]:
        """``(id, text)`` chunks as :meth:`pipe` deals them to workers (chunk ``k`` to worker ``k % N``)."""
        return self._worker_chunks(self._records(items), max(self.workers, 1))

    def _pipe_workers(self, records: Iterator[tuple[str, str]], batch_size: int) -> Iterator[dict[str, Any]]:
        pool = self.start_workers()
        in_flight: deque[Any] = deque()  # futures of the chunks sent, oldest first (= output order)

        def collect() -> list[dict[str, Any]]:
            reply = in_flight.popleft().result()
            self.dropped_spans += reply["dropped"]
            return reply["results"]

        # Chunks go round-robin, so the oldest 2N in flight are exactly two per worker.
        for k, chunk in enumerate(self._worker_chunks(records, len(pool))):
            request = {"op": "analyse", "records": chunk, "batch_size": batch_size}
            in_flight.append(pool.submit(k % len(pool), request, f"the chunk starting with article id {chunk[0][0]!r}"))
            if len(in_flight) >= CHUNKS_IN_FLIGHT_PER_WORKER * len(pool):
                yield from collect()
        while in_flight:
            yield from collect()

    def _worker_chunks(self, records: Iterator[tuple[str, str]], n_workers: int) -> Iterator[list[tuple[str, str]]]:
        """The chunks of :meth:`_groups`, except for a stream that ends within the first
        ``n_workers`` chunks: that one is cut into ``n_workers`` contiguous chunks of about equal
        characters, so that a small input keeps every worker busy (not one worker with one chunk,
        or two chunks of unequal work) and the output waits on no straggler."""
        groups = self._groups(records, self.chunk_articles, self.chunk_chars)
        head = list(islice(groups, n_workers + 1))  # one more than a round: does the stream go on?
        if len(head) <= n_workers:
            yield from balanced_chunks([rec for chunk in head for rec in chunk], n_workers)
            return
        yield from head
        yield from groups

    def _analyse_group(self, group: list[tuple[str, str]], batch_size: int) -> list[dict[str, Any]]:
        import torch

        # Blank texts never reach the model: nothing to find, and no empty windows to special-case.
        todo = [i for i, (_, text) in enumerate(group) if text.strip()]
        articles: dict[int, Any] = {}
        if todo:
            with torch.inference_mode():
                predicted = self.model.predict([group[i][1] for i in todo], self.tokenizer, batch_size=batch_size)
            if len(predicted) != len(todo):
                raise RuntimeError(f"model.predict returned {len(predicted)} articles for {len(todo)} texts")
            articles = dict(zip(todo, predicted))
        return [self._to_result(id_, text, articles.get(i)) for i, (id_, text) in enumerate(group)]

    def _to_result(self, id_: str, text: str, article: "Article | None") -> dict[str, Any]:
        entities: list[dict[str, Any]] = []
        quotes: list[dict[str, Any]] = []
        if article is not None:
            for e in article.entities or []:
                span = self._span(text, e.start, e.end, getattr(e, "score", None))
                if span is not None:
                    span["label"] = e.label  # the span's own new dict: no copy
                    entities.append(span)
            for q in article.quotes or []:
                span = self._span(text, q.start, q.end, getattr(q, "score", None))
                if span is None:
                    continue
                quote = span
                quote["type"] = q.type
                for key in ("cue", "speaker"):
                    part = getattr(q, key, None)
                    # Spans of the data model carry no score of their own in every model version;
                    # the quote's score is then the best estimate there is.
                    quote[key] = (
                        None
                        if part is None
                        else self._span(text, part.start, part.end, getattr(part, "score", None) or span["score"])
                    )
                quote["speaker_name"] = q.speaker_name
                quotes.append(quote)
        entities.sort(key=lambda s: (s["start"], -s["end"]))
        quotes.sort(key=lambda s: (s["start"], -s["end"]))
        return {"id": id_, "text": text, "entities": entities, "quotes": quotes}

    def _span(self, text: str, start: int, end: int, score: float | None) -> dict[str, Any] | None:
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            self.dropped_spans += 1
            logger.warning("dropped a predicted span with impossible offsets [%s, %s) in a text of %d chars", start, end, len(text))
            return None
        return {
            "start": start,
            "end": end,
            "text": text[start:end],
            "score": None if score is None else round(float(score), 4),
        }


def balanced_chunks(records: list[tuple[str, str]], n: int) -> list[list[tuple[str, str]]]:
    """``records`` cut into at most ``n`` contiguous, non-empty chunks of about equal total characters."""
    if not records:
        return []
    n = min(n, len(records))
    total = sum(len(text) for _, text in records) or 1
    chunks: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    seen = 0
    prev = 0
    for i, rec in enumerate(records):
        # the chunk whose share of the characters this record's middle falls in, kept contiguous
        # (the previous chunk or the next) and leaving enough records for the chunks still empty
        k = int((seen + len(rec[1]) / 2) * n / total) if i else 0
        k = min(max(k, prev, n - (len(records) - i)), prev + 1 if i else 0, n - 1)
        chunks[k].append(rec)
        prev = k
        seen += len(rec[1])
    return [c for c in chunks if c]


def batched(iterable: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """``itertools.batched`` for Python < 3.12."""
    it = iter(iterable)
    while chunk := list(islice(it, n)):
        yield chunk
