"""Sentence-aligned windows over an article's tokens, with overlap; nothing is ever dropped.

Windows are ranges of article-level token indices ``[start, end)`` holding at most ``size`` tokens
(the model adds ``[CLS]``/``[SEP]`` around them). A window ends at a sentence boundary when one fits;
a sentence longer than a window is cut at a token boundary. The next window starts at the earliest
sentence boundary inside the last ``overlap`` tokens (or ``overlap`` tokens back after a cut), so every
token has context on both sides in at least one window. Each token's prediction is then taken from
the window where it is most central (:func:`best_window`).
"""

from __future__ import annotations

import bisect


def make_windows(n_tokens: int, boundaries: list[int], size: int, overlap: int) -> list[tuple[int, int]]:
    """Cover ``range(n_tokens)`` with windows of at most ``size`` tokens.

    ``boundaries``: token indices where a sentence starts (any order; 0 and ``n_tokens`` are implied).
    """
    if size < 1:
        raise ValueError(f"window size must be >= 1, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"window overlap must be in [0, {size}), got {overlap}")
    if n_tokens <= 0:
        return []
    bounds = sorted({b for b in boundaries if 0 < b < n_tokens} | {0, n_tokens})
    windows: list[tuple[int, int]] = []
    start = prev_end = 0
    while True:
        limit = start + size
        if limit >= n_tokens:
            windows.append((start, n_tokens))
            return windows
        # Last sentence boundary that fits and adds new tokens; none means one sentence longer
        # than a window: cut it at a token boundary.
        i = bisect.bisect_right(bounds, limit) - 1
        end = bounds[i] if bounds[i] > max(start, prev_end) else limit
        prev_end = end
        windows.append((start, end))
        # Earliest sentence start in the last `overlap` tokens, else a token-level overlap.
        lo = max(end - overlap, start + 1)
        j = bisect.bisect_left(bounds, lo)
        nxt = bounds[j] if j < len(bounds) and bounds[j] <= end else lo
        start = nxt


def best_window(windows: list[tuple[int, int]], n_tokens: int) -> list[tuple[int, int]]:
    """For every token, ``(window index, position in the window)`` of the window where it is most central.

    Centrality is the distance to the nearer window edge; ties go to the earlier window.
    """
    best: list[tuple[int, int]] = [(-1, -1)] * n_tokens
    score = [-1] * n_tokens
    for w, (s, e) in enumerate(windows):
        for t in range(s, e):
            c = min(t - s, e - 1 - t)
            if c > score[t]:
                score[t], best[t] = c, (w, t - s)
    missing = [t for t in range(n_tokens) if score[t] < 0]
    if missing:  # a bug upstream, never a silent loss of text
        raise AssertionError(f"windows do not cover tokens {missing[:10]} (of {len(missing)})")
    return best
