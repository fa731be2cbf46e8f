"""Index helpers that replace per-quotation scans over a whole article (quadratic in its length).

Each answers exactly what a brute-force scan answered, ties included, so that the bootstrapper's
output does not change; ``tests/test_bootstrap_lookup.py`` checks them against the scans.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from math import inf
from typing import Generic, TypeVar

T = TypeVar("T")


class LastByKey(Generic[T]):
    """Items with integer keys that may grow; the item with the largest key at most (or below) a
    bound, ties going to the item added first: what ``max(items_in_order_with_key_ok, key=...)``
    returns (``max`` keeps the first of equal maxima)."""

    def __init__(self) -> None:
        self._keys: list[tuple[int, int]] = []  # (key, order of addition), sorted
        self._items: list[T] = []
        self._key_of: list[int] = []

    def add(self, key: int, item: T) -> int:
        """Add ``item``; returns its handle for :meth:`move`."""
        seq = len(self._items)
        self._items.append(item)
        self._key_of.append(key)
        insort(self._keys, (key, seq))
        return seq

    def move(self, handle: int, key: int) -> None:
        """Give the item ``handle`` a new key (it keeps its order of addition for ties)."""
        old = (self._key_of[handle], handle)
        del self._keys[bisect_left(self._keys, old)]
        self._key_of[handle] = key
        insort(self._keys, (key, handle))

    def _first_of_last_run(self, k: int) -> T | None:
        if k == 0:
            return None
        top = self._keys[k - 1][0]
        return self._items[self._keys[bisect_left(self._keys, (top,))][1]]

    def last_at_most(self, bound: int) -> T | None:
        """``max([x for x in items if key(x) <= bound], key=key)``, or None."""
        return self._first_of_last_run(bisect_right(self._keys, (bound, inf)))

    def last_below(self, bound: int) -> T | None:
        """``max([x for x in items if key(x) < bound], key=key)``, or None."""
        return self._first_of_last_run(bisect_left(self._keys, (bound,)))


class ClaimedPoints:
    """Which of a fixed set of points some claimed interval ``[start, end)`` covers:
    ``any(s <= x < e for s, e in claimed)`` for a point ``x`` of the set, with claims added over
    time. Each point is marked once (a skip list of unmarked points), so n claims over m points cost
    O((n + m) log m) however long or nested the intervals are."""

    def __init__(self, points) -> None:
        self._points = sorted(points)
        self._marked = [False] * len(self._points)
        self._next = list(range(len(self._points) + 1))  # next unmarked index at or after i

    def _find(self, i: int) -> int:
        root = i
        while self._next[root] != root:
            root = self._next[root]
        while self._next[i] != root:  # path compression
            self._next[i], i = root, self._next[i]
        return root

    def claim(self, start: int, end: int) -> None:
        i = self._find(bisect_left(self._points, start))
        while i < len(self._points) and self._points[i] < end:
            self._marked[i] = True
            self._next[i] = i + 1
            i = self._find(i + 1)

    def claimed(self, x: int) -> bool:
        """``x`` must be one of the points."""
        return self._marked[bisect_left(self._points, x)]
