"""Skip-gram with negative sampling (word2vec SGNS) over WordPiece ids, to initialise embeddings.

Measured in the issue: a 4x256 BERT fine-tuned on ANERcorp from random weights reached micro F1
0.40; with its token embeddings initialised from skip-gram vectors trained in 2.5 minutes on the
WordPiece-tokenised news it reached 0.45. This is that recipe, in plain torch (no extra package):
frequent-token subsampling, dynamic windows, unigram^0.75 negatives, batched SGD by scatter-add.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F


def token_counts(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    return np.bincount(np.asarray(tokens, dtype=np.int64), minlength=vocab_size)[:vocab_size]


def skipgram_pairs(tokens: np.ndarray, keep: np.ndarray, window: int, rng: np.random.Generator) -> np.ndarray:
    """(n_pairs, 2) int64 (center, context) pairs with word2vec's dynamic window.

    ``keep`` is the per-id keep probability (subsampling; 0 drops an id entirely, e.g. specials).
    """
    ids = np.asarray(tokens, dtype=np.int64)
    ids = ids[rng.random(len(ids)) < keep[ids]]
    reach = rng.integers(1, window + 1, size=len(ids))  # each centre's window size
    centers, contexts = [], []
    for offset in range(1, window + 1):
        if offset >= len(ids):
            break
        left, right = ids[:-offset], ids[offset:]
        fwd = reach[:-offset] >= offset  # centre left, context right
        bwd = reach[offset:] >= offset  # centre right, context left
        centers += [left[fwd], right[bwd]]
        contexts += [right[fwd], left[bwd]]
    if not centers:
        return np.zeros((0, 2), dtype=np.int64)
    return np.stack([np.concatenate(centers), np.concatenate(contexts)], axis=1)


def train_skipgram(
    tokens: np.ndarray,
    vocab_size: int,
    dim: int,
    *,
    window: int = 5,
    negatives: int = 5,
    epochs: int = 1,
    subsample: float = 1e-4,
    batch_size: int = 4096,
    learning_rate: float = 0.025,
    n_special: int = 5,
    seed: int = 0,
    chunk_tokens: int = 2_000_000,
    log: Callable[[str], None] = print,
) -> np.ndarray:
    """(vocab_size, dim) float32 input vectors; rows of ids never seen stay at their small random init."""
    tokens = np.asarray(tokens)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    counts = token_counts(tokens, vocab_size).astype(np.float64)
    counts[:n_special] = 0
    total = max(counts.sum(), 1.0)
    freq = counts / total
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(freq > 0, np.minimum(1.0, np.sqrt(subsample / freq) + subsample / freq), 0.0)
    # word2vec's unigram table: sampling a negative is one random index into it.
    noise = counts ** 0.75
    table_size = int(min(max(10 * vocab_size, 1_000_000), 20_000_000))
    table = torch.from_numpy(np.repeat(np.arange(vocab_size), np.round(noise / noise.sum() * table_size).astype(np.int64)))

    shared_negatives = max(negatives, 16)
    neg_weight = negatives / shared_negatives
    w_in = (torch.rand(vocab_size, dim, generator=gen) - 0.5) / dim
    w_out = torch.zeros(vocab_size, dim)
    n_chunks = max(1, -(-len(tokens) // chunk_tokens))
    total_steps = epochs * n_chunks  # LR decays linearly over chunks, as word2vec decays over words
    done, seen, t0 = 0, 0, time.time()
    with torch.no_grad():
        for epoch in range(epochs):
            for c in range(n_chunks):
                pairs = skipgram_pairs(tokens[c * chunk_tokens:(c + 1) * chunk_tokens], keep, window, rng)
                pairs = torch.from_numpy(pairs[rng.permutation(len(pairs))])
                lr = learning_rate * max(0.05, 1.0 - done / total_steps)
                loss_sum, n_batches = 0.0, 0
                for b in range(0, len(pairs), batch_size):
                    batch = pairs[b:b + batch_size]
                    c_ids, o_ids = batch[:, 0], batch[:, 1]
                    # Negatives shared by the whole batch turn K gathers per pair into two matmuls;
                    # each pair still sees ``negatives`` noise words' worth of gradient (weight K/S).
                    n_ids = table[torch.randint(len(table), (shared_negatives,), generator=gen)]
                    center = w_in[c_ids]  # (B, dim)
                    context = w_out[o_ids]  # (B, dim)
                    neg = w_out[n_ids]  # (S, dim)
                    pos_score = (center * context).sum(-1)  # (B,)
                    neg_score = center @ neg.T  # (B, S)
                    if b + batch_size >= len(pairs) or b % (batch_size * 64) == 0:
                        loss_sum += float(-(F.logsigmoid(pos_score) + neg_weight * F.logsigmoid(-neg_score).sum(-1)).mean())
                        n_batches += 1
                    # Plain SGD on the SGNS log-likelihood, rows updated by scatter-add (word2vec's
                    # update, batched): d/dscore of -log sigmoid(s) is sigmoid(s) - 1.
                    g_pos = (torch.sigmoid(pos_score) - 1.0) * lr  # (B,)
                    g_neg = torch.sigmoid(neg_score) * (lr * neg_weight)  # (B, S)
                    grad_center = g_pos[:, None] * context + g_neg @ neg  # (B, dim)
                    w_out.index_add_(0, o_ids, g_pos[:, None] * center, alpha=-1.0)
                    w_out.index_add_(0, n_ids, g_neg.T @ center, alpha=-1.0)
                    w_in.index_add_(0, c_ids, grad_center, alpha=-1.0)
                done += 1
                seen += len(pairs)
                log(f"skip-gram epoch {epoch + 1}/{epochs} chunk {c + 1}/{n_chunks}: loss {loss_sum / max(n_batches, 1):.3f}, "
                    f"{seen} pairs, {time.time() - t0:.0f}s")
    return w_in.numpy().astype(np.float32)


def scale_to_std(vectors: np.ndarray, std: float, counts: np.ndarray | None = None, n_special: int = 5) -> np.ndarray:
    """Centre and scale to a per-element ``std``; specials and ids never seen get N(0, std) noise rows.

    Centring removes the common direction SGNS vectors share, which LayerNorm would otherwise
    spend its range on.
    """
    v = vectors.astype(np.float64)
    seen = np.ones(len(v), dtype=bool) if counts is None else counts > 0
    seen[:n_special] = False
    if seen.any():
        v = v - v[seen].mean(0, keepdims=True)
        v = v * (std / max(v[seen].std(), 1e-12))
    rng = np.random.default_rng(len(v))
    v[~seen] = rng.normal(0.0, std, size=(int((~seen).sum()), v.shape[1]))
    return v.astype(np.float32)
