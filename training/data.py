"""Training and evaluation data: the config's sources read as Articles, encoded as windows.

One dataset item is one article: the list of its sentence-aligned windows. Batching whole
articles keeps every window of an article in one batch, which attribution needs (a speaker may be
named windows before the quotation). CoNLL files give one article per sentence (entities only);
gold and silver JSONL give whole articles. A layer a source does not train is set to ``None``, and
the model masks the loss of absent layers, so NER-only sentences and quote-only articles mix in
one run.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from khabar.data.article import Article, InputError, read_articles
from khabar.training.config import ConfigError, SourceConfig, TrainConfig


@dataclass
class SourceSummary:
    kind: str
    path: str
    split: str
    layers: tuple[str, ...]
    articles: int = 0
    windows: int = 0
    tokens: int = 0
    entities: int = 0
    quotes: int = 0


class ArticleWindows(Dataset):
    """Articles as lists of window features; ``lengths`` are tokens per article (for length grouping)."""

    def __init__(self, items: list[list[dict[str, Any]]]):
        self.items = items
        self.lengths = [sum(len(w["input_ids"]) for w in windows) for windows in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return self.items[i]

    @property
    def n_windows(self) -> int:
        return sum(len(ws) for ws in self.items)


@dataclass
class TrainingData:
    train: ArticleWindows
    eval: ArticleWindows | None
    eval_articles: list[Article]
    summaries: list[SourceSummary] = field(default_factory=list)

    def describe(self) -> str:
        rows = [("split", "kind", "layers", "articles", "windows", "tokens", "entities", "quotes", "path")]
        for s in self.summaries:
            rows.append((s.split, s.kind, "+".join(s.layers), s.articles, s.windows, s.tokens, s.entities, s.quotes, s.path))
        return format_table(rows)


def read_source(source: SourceConfig, cfg: TrainConfig) -> list[Article]:
    """The articles of one source, with the layers it does not train set to ``None`` (masked)."""
    path = cfg.resolve_path(source.path)
    # Training on a file with broken lines would silently learn from less (a JSONL line skipped) or
    # learn wrong labels (a CoNLL tag read as O): stop at the first one, named by file and line.
    try:
        if source.kind == "conll":
            from khabar.data.conll import read_conll

            articles = list(read_conll(path, label_map=source.conll_label_map(), on_error=None).articles)
        else:
            articles = list(read_articles(path, on_error=None))
    except InputError as exc:
        raise InputError(exc.message + _kind_hint(source, exc), exc.file, exc.line, exc.field) from None
    first: dict[str, int] = {}
    for n, a in enumerate(articles, 1):
        if a.id in first:  # the scorer aligns by id: the second article would silently go unscored
            raise InputError(f"id {a.id!r} of article {n} is also the id of article {first[a.id]}; ids must be unique "
                             "within a file", str(path), None, "id")
        first[a.id] = n
    if source.skip:
        articles = articles[source.skip :]
    if source.limit is not None:
        articles = articles[: source.limit]
    layers = source.layer_set()
    # the source's path as configured, not only the file name: aqmar/test.txt and
    # wojood-sample/test.txt would give the same ids, and the second file would go unscored
    prefix = f"{source.split}:{source.path}:"
    out = []
    for a in articles:
        # Ids are made unique across sources: the scorer aligns gold and predictions by id.
        out.append(
            Article(
                id=prefix + a.id,
                text=a.text,
                entities=a.entities if "entities" in layers else None,
                quotes=a.quotes if "quotes" in layers else None,
                meta=dict(a.meta),
            )
        )
    return out


def _kind_hint(source: SourceConfig, exc: InputError) -> str:
    """A hint when the whole file is of another kind than the source says (JSONL read as CoNLL...)."""
    from khabar.data.conll import looks_like_conll_line

    line = ""
    if exc.file and exc.line:
        with open(exc.file, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == exc.line:
                    line = raw.decode("utf-8", "replace").lstrip("\ufeff").strip()
                    break
    if source.kind == "conll" and line.startswith("{"):
        return " (this line is JSON: is the source's kind gold_jsonl or silver_jsonl rather than conll?)"
    if source.kind != "conll" and looks_like_conll_line(line):
        return " (this line looks like 'token TAG': is the source's kind conll?)"
    return ""


def read_sources(cfg: TrainConfig, split: str) -> list[tuple[SourceConfig, list[Article]]]:
    return [(s, read_source(s, cfg)) for s in cfg.sources(split)]


def training_texts(cfg: TrainConfig) -> Iterator[str]:
    """Texts of the training sources: what an in-project tokenizer is trained on."""
    for _, articles in read_sources(cfg, "train"):
        for a in articles:
            yield a.text


def encode_articles(encoder: Any, articles: Sequence[Article], summary: SourceSummary | None = None) -> list[list[dict]]:
    items = []
    for a in articles:
        windows = encoder.encode(a, with_labels=True)
        if not windows:  # an empty text has nothing to learn from
            continue
        items.append(windows)
        if summary is not None:
            summary.windows += len(windows)
            summary.tokens += sum(len(w["input_ids"]) for w in windows)
    return items


def build_data(cfg: TrainConfig, encoder: Any) -> TrainingData:
    """Read every source of the config and encode it with ``encoder`` (an ``ArticleEncoder``)."""
    train_items: list[list[dict]] = []
    eval_items: list[list[dict]] = []
    eval_articles: list[Article] = []
    summaries = []
    for split in ("train", "eval"):
        for source, articles in read_sources(cfg, split):
            summary = SourceSummary(source.kind, source.path, split, source.layer_set(), articles=len(articles))
            summary.entities = sum(len(a.entities or []) for a in articles)
            summary.quotes = sum(len(a.quotes or []) for a in articles)
            items = encode_articles(encoder, articles, summary)
            if split == "train":
                train_items.extend(items)
            else:
                eval_items.extend(items)
                eval_articles.extend(articles)
            summaries.append(summary)
    for split, items in (("train", train_items), ("eval", eval_items)):
        if cfg.sources(split) and not items:
            empty = [f"{s.path} ({s.articles} articles)" for s in summaries if s.split == split]
            raise ConfigError(f"{cfg.source_file}: the 'split: {split}' sources hold no text: {', '.join(empty)}; "
                              "check the paths and their limit/skip in data.sources")
    return TrainingData(
        train=ArticleWindows(train_items),
        eval=ArticleWindows(eval_items) if eval_items else None,
        eval_articles=eval_articles,
        summaries=summaries,
    )


def trained_on_eval(cfg: TrainConfig) -> list[str]:
    """Notes for eval sources whose articles a training source also reads (same file, overlapping
    skip/limit ranges): their scores then measure the fit, not held-out accuracy."""
    def span(s: SourceConfig) -> tuple[float, float]:
        return s.skip, s.skip + s.limit if s.limit is not None else math.inf

    notes = []
    for i, e in enumerate(cfg.data.sources):
        if e.split != "eval":
            continue
        for t in cfg.sources("train"):
            same = cfg.resolve_path(t.path).resolve() == cfg.resolve_path(e.path).resolve()
            (a, b), (c, d) = span(t), span(e)
            if same and max(a, c) < min(b, d):
                notes.append(f"note: the eval source data.sources[{i}] ({e.path}) is also read for training; its "
                             "scores measure the fit, not held-out accuracy (use skip/limit to split the file)")
                break
    return notes


class ArticleCollator:
    """Flattens a batch of articles into one batch of windows, via the model's ``collate``."""

    def __init__(self, collate: Any):
        self.collate = collate

    def __call__(self, batch: list[list[dict[str, Any]]]) -> dict[str, torch.Tensor]:
        return self.collate([w for windows in batch for w in windows])


class ArticleSampler(Sampler[int]):
    """Shuffled article order that depends only on ``seed`` and the epoch.

    ``set_epoch`` (called by the Trainer through accelerate) makes every epoch a different,
    reproducible order, so a run resumed mid-epoch skips exactly the batches it had seen. With
    ``group_size`` set, articles are grouped by length in megabatches (as ``LengthGroupedSampler``)
    so a batch pads little: CoNLL sentences batch with sentences, long articles with long ones.
    """

    def __init__(self, lengths: Sequence[int], seed: int, group_size: int | None = None):
        self.lengths = list(lengths)
        self.seed = seed
        self.group_size = group_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        if not self.group_size:
            return iter(order)
        # Megabatches of up to 50 batches (fewer on small data, as LengthGroupedSampler, so batches
        # stay random), each sorted longest first; the longest batch goes first so an out-of-memory
        # error shows at step 1, not hours in.
        mega = self.group_size * max(1, min(len(order) // (self.group_size * 4), 50))
        groups = [sorted(order[i : i + mega], key=lambda j: -self.lengths[j]) for i in range(0, len(order), mega)]
        flat = [i for grp in groups for i in grp]
        if flat:
            longest = max(range(0, len(flat), self.group_size), key=lambda b: self.lengths[flat[b]])
            first = flat[longest : longest + self.group_size]
            rest = flat[:longest] + flat[longest + self.group_size :]
            flat = first + rest
        return iter(flat)


def format_table(rows: list[Sequence[Any]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def log(message: str) -> None:
    """Progress on stderr, from the main process only (under torchrun/accelerate RANK is set)."""
    if os.environ.get("RANK", "0") == "0":
        print(f"khabar train: {message}", file=sys.stderr, flush=True)
