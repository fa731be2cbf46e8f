"""Skip-gram vectors for the lexical word-feature tables, trained on raw news in minutes.

The ``norm`` and ``stem`` tables of :mod:`khabar.model.lexical` are indexed by hashed rows, so the
corpus is turned into a sequence of rows (one per word) and word2vec's SGNS
(:func:`khabar.training.word_vectors.train_skipgram`) learns one vector per row: words used alike
(names of people, of places) end up near each other, which lets the fine-tuned tagger recognise
names it never saw in ANERcorp. Written as safetensors ``{attr: (rows, dim)}`` and loaded by
``khabar train`` through ``model.lexical_vectors``.

    python -m khabar.training.lexical_vectors ../shared/data/ant-news/news-*.jsonl --out runs/lexical-vectors
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from khabar.data.news import iter_news
from khabar.model.lexical import DEFAULT_LEXICAL_FEATURES, LexicalHasher, lexical_spec

# words as BERT's pre-tokenizer cuts them: runs of letters/digits (marks included), or one symbol
_WORDS = re.compile(r"[\w\u0610-\u061a\u064b-\u065f\u0670\u0640]+|[^\w\s]")


def row_sequence(texts: Iterable[str], attr: str, rows: int) -> np.ndarray:
    """Every word of every text as its row in the ``attr`` table (int64), hashed exactly as the
    model's ArticleEncoder hashes it (one :class:`LexicalHasher` with that table alone)."""
    hasher = LexicalHasher({attr: (rows, 1)})
    out: list[int] = []
    for text in texts:
        out.extend(hasher(w)[0] for w in _WORDS.findall(text))
    return np.asarray(out, dtype=np.int64)


def fit_width(vectors: "torch.Tensor", dim: int) -> "torch.Tensor":
    """``vectors`` (rows, D) cut to their ``dim`` principal components (dim <= D), with the same
    per-element std; row 0 (padding) stays zero. D itself: returned unchanged."""
    import torch

    if dim == vectors.shape[1]:
        return vectors
    x = vectors.double()
    seen = x.abs().sum(-1) > 0
    mean = x[seen].mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(x[seen] - mean, full_matrices=False)  # v: (D, D), rows = components
    y = (x - mean) @ v[:dim].T  # (rows, k), k = min(dim, rows seen)
    if y.shape[1] < dim:  # fewer rows than columns: the missing components are zero
        y = torch.cat([y, y.new_zeros(len(y), dim - y.shape[1])], 1)
    if int(seen.sum()) > 1:
        y = y * (x[seen].std() / y[seen].std().clamp(min=1e-12))
    y[~seen] = 0.0
    return y.to(vectors.dtype)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m khabar.training.lexical_vectors", description=__doc__.split("\n\n")[0])
    ap.add_argument("news", nargs="+", help="news JSONL files ({\"text\"} per line)")
    ap.add_argument("--out", required=True, help="output folder (vectors.safetensors + meta.json)")
    ap.add_argument("--attrs", default="norm,stem", help="tables to train (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--std", type=float, default=0.1, help="per-element std of the written vectors")
    args = ap.parse_args(argv)

    import torch
    from safetensors.torch import save_file

    from khabar.training.word_vectors import scale_to_std, token_counts, train_skipgram

    torch.set_num_threads(1)
    spec = lexical_spec(True)
    # vectors wider than the tables: each table takes its leading principal components (fit_width)
    widths = {"norm": 64, "stem": 32}
    texts = [a.text for a in iter_news(args.news)]  # a malformed line: reported with file and line, skipped
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tensors, meta = {}, {"news": args.news, "articles": len(texts), "tables": {}}
    for attr in [a.strip() for a in args.attrs.split(",") if a.strip()]:
        if attr not in DEFAULT_LEXICAL_FEATURES:
            ap.error(f"--attrs: unknown table {attr!r}; known: {sorted(DEFAULT_LEXICAL_FEATURES)}")
        rows, dim = spec[attr][0], max(spec[attr][1], widths.get(attr, 0))
        t0 = time.time()
        seq = row_sequence(texts, attr, rows)
        vecs = train_skipgram(seq, rows, dim, window=args.window, epochs=args.epochs, n_special=1,
                              log=lambda m: print(f"{attr}: {m}", file=sys.stderr))
        counts = token_counts(seq, rows)
        tensors[attr] = torch.from_numpy(scale_to_std(vecs, args.std, counts, n_special=1))
        tensors[attr][0] = 0.0  # the padding row
        meta["tables"][attr] = {"rows": rows, "dim": dim, "words": int(len(seq)), "rows_seen": int((counts[1:] > 0).sum()),
                                "seconds": round(time.time() - t0, 1)}
        print(f"{attr}: {len(seq)} words, {meta['tables'][attr]['rows_seen']} rows seen, "
              f"{meta['tables'][attr]['seconds']} s", file=sys.stderr)
    save_file(tensors, str(out / "vectors.safetensors"))
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
