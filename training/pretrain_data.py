"""The pretraining corpus: raw news JSONL -> normalised -> WordPiece ids, cached once per run.

The cache is two ``.npy`` arrays in ``<run_dir>/cache`` (plain numeric arrays, no Python objects): ``tokens`` (uint16 when the
vocabulary fits, else int32) and ``flags`` (uint8, see ``khabar.training.masking``), one entry per
token of the concatenated corpus with a [SEP] after every article. Sequences are packed from this
stream as ``[CLS] + max_len-2 tokens + [SEP]`` (articles may share a sequence, as in RoBERTa's
FULL-SENTENCES), so no position is ever padding.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from khabar.training.masking import CONTINUATION, SPECIAL, WORD_START
from khabar.training.pretrain_config import PretrainConfig, PretrainConfigError
from khabar.training.tokenizer import iter_news_texts

CACHE_VERSION = 1


def resolve_files(cfg: PretrainConfig) -> list[Path]:
    """Expand ``data.files`` globs; relative ones against the working dir, then the config's repo."""
    bases = [Path.cwd()]
    if cfg.source:
        bases.append(Path(cfg.source).resolve().parent.parent)
    found: list[Path] = []
    for pattern in cfg.data.files:
        hits: list[str] = []
        for base in ([Path("/")] if os.path.isabs(pattern) else bases):
            hits = sorted(glob.glob(str(base / pattern)))
            if hits:
                break
        if not hits:
            raise PretrainConfigError(f"{cfg.source or '<config>'}: data.files: '{pattern}' matches no file "
                                      f"(relative paths resolve against {', '.join(map(str, bases))})")
        found.extend(Path(h).resolve() for h in hits)
    return found


def read_texts(files: Iterable[Path], limit: int | None = None) -> list[str]:
    texts = []
    for text in iter_news_texts(files):
        texts.append(text)
        if limit is not None and len(texts) >= limit:
            break
    return texts


def encode_stream(texts: list[str], tokenizer, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and flags of already-normalised ``texts``, [SEP] after each one."""
    backend = tokenizer.backend_tokenizer
    sep = tokenizer.sep_token_id
    dtype = np.uint16 if len(tokenizer) <= np.iinfo(np.uint16).max + 1 else np.int32
    id_parts, flag_parts = [], []
    for i in range(0, len(texts), batch):
        for enc in backend.encode_batch(texts[i:i + batch], add_special_tokens=False):
            words = np.array([-1 if w is None else w for w in enc.word_ids], dtype=np.int64)
            flags = np.full(len(words) + 1, SPECIAL, dtype=np.uint8)
            if len(words):
                starts = np.ones(len(words), dtype=bool)
                starts[1:] = words[1:] != words[:-1]
                flags[:-1] = np.where(starts, WORD_START, CONTINUATION)
            id_parts.append(np.append(np.asarray(enc.ids, dtype=dtype), np.array([sep], dtype=dtype)))
            flag_parts.append(flags)
    if not id_parts:
        return np.zeros(0, dtype=dtype), np.zeros(0, dtype=np.uint8)
    return np.concatenate(id_parts), np.concatenate(flag_parts)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)  # numeric arrays only
    os.replace(tmp, path)


@dataclass
class TokenCache:
    tokens: np.ndarray  # (n_tokens,) memmap
    flags: np.ndarray  # (n_tokens,) memmap uint8
    meta: dict

    @classmethod
    def load(cls, cache_dir: Path) -> "TokenCache":
        meta = json.loads((cache_dir / "meta.json").read_text(encoding="utf-8"))
        tokens = np.load(cache_dir / "tokens.npy", mmap_mode="r")  # np.load refuses object arrays by default
        flags = np.load(cache_dir / "flags.npy", mmap_mode="r")  # np.load refuses object arrays by default
        if tokens.shape != flags.shape:
            raise ValueError(f"{cache_dir}: tokens and flags differ in length; delete the cache folder to rebuild it")
        return cls(tokens, flags, meta)


def build_or_load_cache(cfg: PretrainConfig, run_dir: Path, log: Callable[[str], None],
                        normalise: Callable[[str], str] | None = None):
    """Tokenizer (trained unless ``tokenizer.path``) and token cache, built once and reused on resume."""
    from transformers import AutoTokenizer

    from khabar.training.tokenizer import default_normalise, save_tokenizer, train_wordpiece

    cache_dir, tok_dir = run_dir / "cache", run_dir / "tokenizer"
    files = resolve_files(cfg)
    source_id = [[str(f), f.stat().st_size] for f in files]
    want = {"version": CACHE_VERSION, "files": source_id, "limit_articles": cfg.data.limit_articles,
            "tokenizer": cfg.fingerprint("tokenizer")}
    if (cache_dir / "meta.json").exists() and (tok_dir / "tokenizer_config.json").exists():
        cache = TokenCache.load(cache_dir)
        stale = {k for k in want if cache.meta.get(k) != want[k]}
        if stale:
            raise PretrainConfigError(
                f"{cache_dir}: the cached corpus was built with a different {', '.join(sorted(stale))}; "
                f"use another run_dir or delete {cache_dir} and {tok_dir} to rebuild (the checkpoint would no longer match)")
        return AutoTokenizer.from_pretrained(str(tok_dir)), cache

    normalise = normalise or default_normalise
    t0 = time.time()
    texts = [normalise(t) for t in read_texts(files, cfg.data.limit_articles)]
    texts = [t for t in texts if t]
    n_chars = sum(map(len, texts))
    log(f"read and normalised {len(texts)} articles, {n_chars} characters from {len(files)} files "
        f"in {time.time() - t0:.0f}s")
    if cfg.tokenizer.path:
        tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer.path)
        save_tokenizer(tokenizer, tok_dir)
    else:
        t0 = time.time()
        tokenizer = train_wordpiece(texts, vocab_size=cfg.tokenizer.vocab_size, min_frequency=cfg.tokenizer.min_frequency,
                                    normalise=lambda t: t, model_max_length=cfg.model.max_position_embeddings)
        save_tokenizer(tokenizer, tok_dir)
        log(f"trained WordPiece tokenizer, {len(tokenizer)} entries, in {time.time() - t0:.0f}s")
    t0 = time.time()
    tokens, flags = encode_stream(texts, tokenizer)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _save_npy(cache_dir / "tokens.npy", tokens)
    _save_npy(cache_dir / "flags.npy", flags)
    n_words = int((flags == WORD_START).sum())
    meta = dict(want, n_tokens=int(len(tokens)), n_words=n_words, n_articles=len(texts), n_chars=n_chars,
                unk_rate=float((tokens == tokenizer.unk_token_id).mean()) if len(tokens) else 0.0)
    (cache_dir / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    log(f"tokenised corpus: {len(tokens)} tokens ({len(tokens) / max(n_words, 1):.2f} per word, "
        f"UNK {meta['unk_rate']:.4%}) in {time.time() - t0:.0f}s")
    return AutoTokenizer.from_pretrained(str(tok_dir)), TokenCache.load(cache_dir)


class PackedSequences:
    """Fixed-length sequences over the token stream, a held-out validation set, epoch shuffles.

    The order is a pure function of (seed, position), so resuming needs only the step count.
    """

    def __init__(self, cache: TokenCache, max_len: int, cls_id: int, sep_id: int, seed: int, valid_sequences: int):
        self.cache, self.max_len, self.cls_id, self.sep_id, self.seed = cache, max_len, cls_id, sep_id, seed
        self.body = max_len - 2
        n = len(cache.tokens) // self.body
        if n < 2:
            raise ValueError(f"corpus too small: {len(cache.tokens)} tokens make {n} sequences of {max_len}")
        valid_sequences = min(valid_sequences, n // 10)
        order = np.random.default_rng([seed, 7919]).permutation(n)
        self.valid_idx = np.sort(order[:valid_sequences])
        self.train_idx = np.sort(order[valid_sequences:])
        self._perm_epoch, self._perm = -1, None

    @property
    def n_train(self) -> int:
        return len(self.train_idx)

    def sequences(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(len(idx), max_len) ids int64 and flags uint8 of the given sequence numbers."""
        rows = idx[:, None] * self.body + np.arange(self.body)[None, :]
        ids = np.empty((len(idx), self.max_len), dtype=np.int64)
        flags = np.full((len(idx), self.max_len), SPECIAL, dtype=np.uint8)
        ids[:, 0], ids[:, -1] = self.cls_id, self.sep_id
        ids[:, 1:-1] = self.cache.tokens[rows]
        flags[:, 1:-1] = self.cache.flags[rows]
        return ids, flags

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_train)
            self._perm_epoch = epoch
        return self._perm

    def train_batch(self, position: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``size`` training sequences starting at global sequence ``position`` (epochs wrap)."""
        picks = []
        for pos in range(position, position + size):
            epoch, i = divmod(pos, self.n_train)
            picks.append(self.train_idx[self._permutation(epoch)[i]])
        return self.sequences(np.asarray(picks, dtype=np.int64))
