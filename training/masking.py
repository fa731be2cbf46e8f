"""Whole-word masking for masked-LM pretraining.

Each token carries a flag: ``WORD_START`` (first piece of a pre-tokenizer word), ``CONTINUATION``
(a ``##`` piece) or ``SPECIAL`` ([CLS], [SEP], [PAD]: never masked). A word is chosen with
probability ``mask_prob`` and then *all* its pieces are predicted, so the model cannot recover
``##ية`` from the visible ``الحكوم``; the token-level rate is ``mask_prob`` in expectation.
Each chosen piece is replaced by [MASK] (80 %), a random token (10 %) or kept (10 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTINUATION, WORD_START, SPECIAL = 0, 1, 2


@dataclass
class MaskedBatch:
    input_ids: np.ndarray  # (batch, seq) int64, after replacement
    mask: np.ndarray  # (batch, seq) bool, positions to predict
    targets: np.ndarray  # (n_masked,) int64, original ids at mask (row-major order)


def word_index(flags: np.ndarray) -> np.ndarray:
    """(batch, seq) index of the word each token belongs to, unique over the whole batch.

    A continuation right after a special token (a word cut by sequence packing) starts a word.
    """
    starts = flags != CONTINUATION
    starts[:, 1:] |= flags[:, :-1] == SPECIAL
    starts[:, 0] = True
    return np.cumsum(starts.reshape(-1)).reshape(flags.shape) - 1


def whole_word_mask(
    ids: np.ndarray,
    flags: np.ndarray,
    rng: np.random.Generator,
    *,
    vocab_size: int,
    mask_token_id: int,
    mask_prob: float = 0.15,
    replace_mask: float = 0.8,
    replace_random: float = 0.1,
    first_normal_id: int = 5,
    whole_word: bool = True,
) -> MaskedBatch:
    """Choose words to predict and corrupt their tokens (see module docstring).

    ``first_normal_id``: random replacements are drawn from ``first_normal_id..vocab_size-1`` so a
    special token never appears in the input by chance. At least one token is masked per batch.
    """
    ids = np.asarray(ids, dtype=np.int64)
    flags = np.asarray(flags)
    eligible = flags != SPECIAL
    if whole_word:
        words = word_index(flags)
        chosen_words = rng.random(int(words.max()) + 1) < mask_prob
        mask = chosen_words[words] & eligible
    else:
        mask = (rng.random(ids.shape) < mask_prob) & eligible
    if not mask.any() and eligible.any():
        # An empty prediction set would make the loss NaN; mask one eligible token instead.
        flat = np.flatnonzero(eligible)
        mask.reshape(-1)[flat[rng.integers(len(flat))]] = True
    targets = ids[mask]
    corrupted = ids.copy()
    action = rng.random(targets.shape[0])
    random_ids = rng.integers(first_normal_id, vocab_size, size=targets.shape[0])
    new = np.where(action < replace_mask, mask_token_id,
                   np.where(action < replace_mask + replace_random, random_ids, targets))
    corrupted[mask] = new
    return MaskedBatch(input_ids=corrupted, mask=mask, targets=targets)
