"""Quotation -> speaker: candidate mentions of the whole article, pair features, cue pairing.

Every quotation is scored against every candidate mention of its article (not only those of its
window) and against "none". The pair features tell the scorer where the mention stands relative
to the quotation: signed sentence distance, rank among the mentions before (or after) it, whether
it lies inside the quotation, and the signed token distance to the cue. The rank feature is what
lets a pro-drop quotation (``وأضاف "..."``) pick the nearest earlier mention of its speaker.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import operator
from typing import Any, Sequence

MAX_SENTENCE_DISTANCE = 8
MAX_RANK = 6
MAX_LOG_DISTANCE = 7
# Vocabulary size of each pair feature (the scorer embeds each).
FEATURE_SIZES = (2 * MAX_SENTENCE_DISTANCE + 1, 2 * MAX_RANK + 1, 4, 2 * MAX_LOG_DISTANCE + 1)
N_FEATURES = len(FEATURE_SIZES)

QuoteTokens = tuple[int, int, int, int]  # content start, end, cue start, end (-1, -1: no cue)


def _log_bucket(d: int) -> int:
    if d == 0:
        return MAX_LOG_DISTANCE
    b = 1 + min(int(math.log2(abs(d))), MAX_LOG_DISTANCE - 1)
    return MAX_LOG_DISTANCE + (b if d > 0 else -b)


def pair_features(quote: QuoteTokens, mention: tuple[int, int], sentence: Sequence[int],
                  before_rank: dict[int, int], after_rank: dict[int, int], m: int) -> list[int]:
    cs, ce, us, ue = quote
    anchor_s, anchor_e = (us, ue) if us >= 0 else (cs, cs + 1)
    q_sent = sentence[anchor_s]
    ms, me = mention
    d_sent = max(-MAX_SENTENCE_DISTANCE, min(MAX_SENTENCE_DISTANCE, q_sent - sentence[ms]))
    if m in before_rank:
        rank = min(before_rank[m], MAX_RANK - 1)
    elif m in after_rank:
        rank = MAX_RANK + min(after_rank[m], MAX_RANK - 1)
    else:
        rank = 2 * MAX_RANK
    q_start, q_end = min(cs, anchor_s), max(ce, anchor_e)
    if ms >= cs and me <= ce:
        relation = 2
    elif me <= q_start:
        relation = 0
    elif ms >= q_end:
        relation = 1
    else:
        relation = 3
    if me <= anchor_s:
        d_tok = me - 1 - anchor_s
    elif ms >= anchor_e:
        d_tok = ms - anchor_e + 1
    else:
        d_tok = 0
    return [d_sent + MAX_SENTENCE_DISTANCE, rank, relation, _log_bucket(d_tok)]


MAX_BEFORE = 24  # candidates per quotation: the nearest mentions before it...
MAX_AFTER = 8  # ...and after it (plus any inside it); a pathological article stays linear


def build_pairs(quotes: Sequence[QuoteTokens], mentions: Sequence[tuple[int, int]],
                sentence: Sequence[int]) -> tuple[list[list[int]], list[list[list[int]]]]:
    """Candidates of every quotation (indices into ``mentions``, in mention order: the
    :data:`MAX_BEFORE` nearest before it, the :data:`MAX_AFTER` nearest after it, all that overlap
    it) and their :func:`pair_features`.

    "Before" mentions end at or before the quotation (nearest = latest end, then mention order),
    "after" ones start at or after its end (nearest = earliest start). Both orders are sorted once
    and bisected per quotation, so an article costs O((Q + M) log M), not Q x M; the features of
    all pairs are computed at once (:func:`pair_tensors` gives them padded, for the scorer)."""
    cands, ranks = _candidates(quotes, mentions)
    if not any(cands):
        return cands, [[] for _ in cands]
    flat = _pair_feature_rows(quotes, mentions, sentence, cands, ranks).tolist()  # (pairs, N_FEATURES)
    feats, k = [], 0
    for row in cands:
        feats.append(flat[k : k + len(row)])
        k += len(row)
    return cands, feats


def pair_tensors(quotes: Sequence[QuoteTokens], mentions: Sequence[tuple[int, int]],
                 sentence: Sequence[int]) -> tuple[list[list[int]], Any, Any]:
    """``cands`` of :func:`build_pairs` and ``pad_pairs(*build_pairs(...))``'s tensors, built
    without the nested lists: ``(Q, C)`` candidates (-1 padding), ``(Q, C, N_FEATURES)`` features."""
    import numpy as np
    import torch

    cands, ranks = _candidates(quotes, mentions)
    width = max([len(c) for c in cands] + [1])
    # assembled in numpy (an article's few quotations: numpy steps are cheaper), handed over at once
    cand = np.full((len(cands), width), -1, dtype=np.int64)
    feat = np.zeros((len(cands), width, N_FEATURES), dtype=np.int64)
    if any(cands):
        rows = [q for q, row in enumerate(cands) for _ in row]  # (pairs,)
        cols = [c for row in cands for c in range(len(row))]  # (pairs,)
        cand[rows, cols] = [m for row in cands for m in row]
        feat[rows, cols] = _pair_feature_rows(quotes, mentions, sentence, cands, ranks)
    return cands, torch.from_numpy(cand), torch.from_numpy(feat)


_INSIDE = 2 * MAX_RANK  # rank code of a mention neither before nor after the quotation


def _candidates(quotes: Sequence[QuoteTokens], mentions: Sequence[tuple[int, int]]) -> tuple[list[list[int]], list[list[int]]]:
    """Each quotation's candidate mentions (see :func:`build_pairs`) and their rank codes: the
    rank among the mentions before it, :data:`MAX_RANK` + the rank among those after it, or
    ``2 * MAX_RANK`` for one overlapping it (both ranks capped as in :func:`pair_features`)."""
    by_end = sorted(range(len(mentions)), key=lambda i: (-mentions[i][1], i))  # "before" order
    neg_ends = [-mentions[i][1] for i in by_end]  # ascending
    by_start = sorted(range(len(mentions)), key=lambda i: (mentions[i][0], i))  # "after" order
    starts = [mentions[i][0] for i in by_start]  # ascending
    reach: list[int] = []  # reach[j]: the largest end among by_start[: j + 1]
    for i in by_start:
        reach.append(max(reach[-1], mentions[i][1]) if reach else mentions[i][1])
    cands: list[list[int]] = []
    ranks: list[list[int]] = []
    for cs, ce, us, ue in quotes:
        q_start = min(cs, us) if us >= 0 else cs
        q_end = max(ce, ue)
        b = bisect.bisect_left(neg_ends, -q_start)  # by_end[b:] end at or before q_start
        a = bisect.bisect_left(starts, q_end)  # by_start[a:] start at or after q_end
        code = {m: min(r, MAX_RANK - 1) for r, m in enumerate(by_end[b : b + MAX_BEFORE])}
        code.update((m, MAX_RANK + min(r, MAX_RANK - 1)) for r, m in enumerate(by_start[a : a + MAX_AFTER]))
        j = a - 1  # the rest (start before q_end) overlap the quotation when they end after q_start
        while j >= 0 and reach[j] > q_start:
            if mentions[by_start[j]][1] > q_start:
                code[by_start[j]] = _INSIDE
            j -= 1
        row = sorted(code)
        cands.append(row)
        ranks.append([code[m] for m in row])
    return cands, ranks


def _pair_feature_rows(quotes: Sequence[QuoteTokens], mentions: Sequence[tuple[int, int]], sentence: Sequence[int],
                       cands: list[list[int]], ranks: list[list[int]]) -> Any:
    """:func:`pair_features` of every (quotation, candidate) pair at once: ``(pairs, N_FEATURES)``
    int64 array. Integer arithmetic on numpy arrays (an article's few hundred pairs: each numpy
    step costs a third of a torch one)."""
    import numpy as np

    i64 = np.int64
    q = np.array([quotes[k] for k, row in enumerate(cands) for _ in row], dtype=i64).reshape(-1, 4)  # (P, 4)
    m = np.array([mentions[i] for row in cands for i in row], dtype=i64).reshape(-1, 2)  # (P, 2)
    rank = np.array([r for row in ranks for r in row], dtype=i64)  # (P,)
    cs, ce, us, ue = q.T
    ms, me = m.T
    has_cue = us >= 0
    anchor_s = np.where(has_cue, us, cs)
    anchor_e = np.where(has_cue, ue, cs + 1)
    sent = np.asarray(sentence, dtype=i64)  # (T,)
    d_sent = np.clip(sent[anchor_s] - sent[ms], -MAX_SENTENCE_DISTANCE, MAX_SENTENCE_DISTANCE)
    q_start, q_end = np.minimum(cs, anchor_s), np.maximum(ce, anchor_e)
    relation = np.full_like(ms, 3)
    relation = np.where(ms >= q_end, 1, relation)
    relation = np.where(me <= q_start, 0, relation)
    relation = np.where((ms >= cs) & (me <= ce), 2, relation)
    d_tok = np.where(me <= anchor_s, me - 1 - anchor_s, np.where(ms >= anchor_e, ms - anchor_e + 1, 0))
    # _log_bucket: floor(log2 |d|) is the binary exponent of |d| (exact for token distances)
    exponent = np.frexp(np.maximum(np.abs(d_tok), 1).astype(np.float64))[1].astype(i64) - 1
    b = 1 + np.minimum(exponent, MAX_LOG_DISTANCE - 1)
    log_bucket = MAX_LOG_DISTANCE + np.sign(d_tok) * b  # sign 0: the bucket of d == 0
    return np.stack([d_sent + MAX_SENTENCE_DISTANCE, rank, relation, log_bucket], -1).astype(i64)  # (P, N_FEATURES)


def pad_pairs(cands: Sequence[Sequence[int]], feats: Sequence[Sequence[Sequence[int]]]) -> tuple[Any, Any]:
    """Ragged candidates and features -> ``(Q, C)`` long tensor (-1 padding) and ``(Q, C, N_FEATURES)``."""
    import torch

    width = max([len(c) for c in cands] + [1])
    cand = torch.full((len(cands), width), -1, dtype=torch.long)
    feat = torch.zeros((len(cands), width, N_FEATURES), dtype=torch.long)
    for i, (c, f) in enumerate(zip(cands, feats)):
        if c:
            cand[i, : len(c)] = torch.tensor(c, dtype=torch.long)
            feat[i, : len(c)] = torch.tensor(f, dtype=torch.long)
    return cand, feat


AFTER_PENALTY = 8  # tokens: a cue after its content (``..., بحسب رويترز``) is the rarer order
SENTENCE_PENALTY = 30


def pair_cues(quotes: Sequence[tuple[int, int]], cues: Sequence[tuple[int, int]],
              sentence: Sequence[int]) -> list[tuple[int, int] | None]:
    """Give each predicted quotation (token range) its cue.

    Candidate cues lie outside the quotation, in the sentence where it starts or ends or the one
    before. Cost: token distance, plus a penalty for a cue after the content and for one in another
    sentence. Pairs are taken cheapest first, one cue per quotation ("one quotation per cue");
    a quotation left without a free cue shares its cheapest one.

    Same result as taking all (cost, quotation, cue) pairs in sorted order (:func:`pair_cues_reference`),
    but each quotation's candidates are generated lazily, nearest first, from position-sorted
    cues, and merged in one heap: an article costs about O((Q + C) log C), not Q x C."""
    if not quotes or not cues:
        return [None] * len(quotes)
    # (the sentence check runs over every token of the article: C-level map, not a generator)
    if any(e <= s for s, e in cues) or any(map(operator.gt, sentence, itertools.islice(sentence, 1, None))):
        return pair_cues_reference(quotes, cues, sentence)  # the nearest-first walk needs these
    index = _CueIndex(cues, sentence)
    streams = [_CueStream(index, qs, qe) for qs, qe in quotes]
    heap: list[tuple[float, int, int]] = []
    cheapest: list[int | None] = [None] * len(quotes)
    for qi, stream in enumerate(streams):
        head = stream.next()
        if head is not None:
            cheapest[qi] = head[1]
            heap.append((head[0], qi, head[1]))
    heapq.heapify(heap)
    out: list[tuple[int, int] | None] = [None] * len(quotes)
    used: set[int] = set()
    while heap:
        _, qi, ci = heapq.heappop(heap)
        if ci not in used:
            out[qi] = cues[ci]
            used.add(ci)
            index.take(ci)  # later walks skip it: a taken cue never pairs again in this pass
            continue
        head = streams[qi].next()
        if head is not None:
            heapq.heappush(heap, (head[0], qi, head[1]))
    for qi, ci in enumerate(cheapest):
        if out[qi] is None and ci is not None:
            out[qi] = cues[ci]
    return out


class _CueIndex:
    """Cues sorted by start and by end, for the nearest-first walks of :class:`_CueStream`; a
    cue taken by a quotation is skipped by later walks (union-find "next free" links), so a
    quotation whose candidates are all taken finds that out without visiting them one by one."""

    def __init__(self, cues: Sequence[tuple[int, int]], sentence: Sequence[int]):
        self.cues = cues
        self.sentence = sentence
        n = len(cues)
        self.by_start = sorted(range(n), key=lambda i: (cues[i][0], i))
        self.starts = [cues[i][0] for i in self.by_start]
        self.by_end = sorted(range(n), key=lambda i: (cues[i][1], i))
        self.ends = [cues[i][1] for i in self.by_end]
        self.reach: list[int] = []  # reach[j]: the largest end among by_start[: j + 1]
        for i in self.by_start:
            self.reach.append(max(self.reach[-1], cues[i][1]) if self.reach else cues[i][1])
        self.at_start = [0] * n
        self.at_end = [0] * n
        for j, i in enumerate(self.by_start):
            self.at_start[i] = j
        for j, i in enumerate(self.by_end):
            self.at_end[i] = j
        self._right = list(range(n + 1))  # by_start position -> itself or a later one (n: none)
        self._left = list(range(n + 1))  # by_end position + 1 -> itself or an earlier one (0: none)

    @staticmethod
    def _find(link: list[int], j: int) -> int:
        root = j
        while link[root] != root:
            root = link[root]
        while link[j] != root:
            link[j], j = root, link[j]
        return root

    def free_right(self, j: int) -> int:
        """The first by_start position >= j whose cue is free (``len(cues)``: none)."""
        return self._find(self._right, j)

    def free_left(self, j: int) -> int:
        """The last by_end position <= j whose cue is free (-1: none)."""
        return self._find(self._left, j + 1) - 1

    def take(self, ci: int) -> None:
        self._right[self.at_start[ci]] = self.at_start[ci] + 1
        self._left[self.at_end[ci] + 1] = self.at_end[ci]


class _CueStream:
    """One quotation's candidate cues in (cost, cue) order, generated on demand.

    Three kinds of cue: starting at or after the quotation's start (walked by start, ascending:
    cost ``start - qe + AFTER_PENALTY``; inside ones skipped), ending at or before it (walked by
    end, descending: cost ``qs - end``), and straddling its start (few; all at once). A generated
    candidate waits in a small heap until no ungenerated one can be cheaper (each walk's next cost
    bounds all of that walk's later ones)."""

    def __init__(self, index: _CueIndex, qs: int, qe: int):
        self.ix, self.qs, self.qe = index, qs, qe
        sent = index.sentence
        self.q_sents = {sent[qs], sent[qe - 1]}
        self.prev_sent = sent[qs] - 1
        self.last_sent = max(self.q_sents)
        self.ready: list[tuple[float, int]] = []
        self.right = bisect.bisect_left(index.starts, qs)  # next position in by_start
        self.left = bisect.bisect_right(index.ends, qs) - 1  # next position in by_end, walking down
        j = self.right - 1
        while j >= 0 and index.reach[j] > qs:  # start before qs, end after it
            ci = index.by_start[j]
            if index.cues[ci][1] > qs:
                self._offer(ci)
            j -= 1
        heapq.heapify(self.ready)

    def _offer(self, ci: int) -> None:
        s, e = self.ix.cues[ci]
        if s >= self.qs and e <= self.qe:
            return
        c_sent = self.ix.sentence[s]
        if c_sent not in self.q_sents and c_sent != self.prev_sent:
            return
        cost = float(self.qs - e) if e <= self.qs else float(s - self.qe) + AFTER_PENALTY
        if c_sent not in self.q_sents:
            cost += SENTENCE_PENALTY
        heapq.heappush(self.ready, (cost, ci))

    def _right_bound(self) -> float:
        ix = self.ix
        self.right = ix.free_right(self.right)
        if self.right >= len(ix.by_start) or ix.sentence[ix.starts[self.right]] > self.last_sent:
            return math.inf  # every later cue starts in a later sentence: none is a candidate
        return float(ix.starts[self.right] - self.qe) + AFTER_PENALTY

    def _left_bound(self) -> float:
        ix = self.ix
        self.left = ix.free_left(self.left)
        if self.left < 0 or ix.sentence[ix.ends[self.left] - 1] < self.prev_sent:
            return math.inf  # every earlier cue starts before the sentence before: none is a candidate
        return float(self.qs - ix.ends[self.left])

    def next(self) -> tuple[float, int] | None:
        while True:
            right, left = self._right_bound(), self._left_bound()
            bound = min(right, left)
            if self.ready and self.ready[0][0] < bound:
                return heapq.heappop(self.ready)
            if bound == math.inf:
                return heapq.heappop(self.ready) if self.ready else None
            if right <= left:
                self._offer(self.ix.by_start[self.right])
                self.right += 1
            else:
                self._offer(self.ix.by_end[self.left])
                self.left -= 1


def pair_cues_reference(quotes: Sequence[tuple[int, int]], cues: Sequence[tuple[int, int]],
                        sentence: Sequence[int]) -> list[tuple[int, int] | None]:
    """:func:`pair_cues` by brute force over every (quotation, cue) pair: the definition, kept
    for inputs the fast walk does not take (sentence ids not ascending, empty cues) and for tests."""
    costs: list[tuple[float, int, int]] = []
    for qi, (qs, qe) in enumerate(quotes):
        q_sents = {sentence[qs], sentence[qe - 1]}
        for ci, (s, e) in enumerate(cues):
            if s >= qs and e <= qe:
                continue
            c_sent = sentence[s]
            if c_sent not in q_sents and c_sent != sentence[qs] - 1:
                continue
            cost = float(qs - e) if e <= qs else float(s - qe) + AFTER_PENALTY
            if c_sent not in q_sents:
                cost += SENTENCE_PENALTY
            costs.append((cost, qi, ci))
    costs.sort()
    out: list[tuple[int, int] | None] = [None] * len(quotes)
    used: set[int] = set()
    for _, qi, ci in costs:
        if out[qi] is None and ci not in used:
            out[qi] = cues[ci]
            used.add(ci)
    for _, qi, ci in costs:
        if out[qi] is None:
            out[qi] = cues[ci]
    return out
