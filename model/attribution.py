"""Quotation -> speaker: candidate mentions of the whole article, pair features, cue pairing.

Every quotation is scored against every candidate mention of its article (not only those of its
window) and against "none". The pair features tell the scorer where the mention stands relative
to the quotation: signed sentence distance, rank among the mentions before (or after) it, whether
it lies inside the quotation, and the signed token distance to the cue. The rank feature is what
lets a pro-drop quotation (``وأضاف "..."``) pick the nearest earlier mention of its speaker.
"""

from __future__ import annotations

import math
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
    it) and their :func:`pair_features`."""
    cands: list[list[int]] = []
    feats: list[list[list[int]]] = []
    for q in quotes:
        cs, ce, us, ue = q
        q_start = min(cs, us) if us >= 0 else cs
        q_end = max(ce, ue)
        before = sorted((i for i, (s, e) in enumerate(mentions) if e <= q_start), key=lambda i: -mentions[i][1])
        after = sorted((i for i, (s, e) in enumerate(mentions) if s >= q_end), key=lambda i: mentions[i][0])
        b_rank = {m: r for r, m in enumerate(before)}
        a_rank = {m: r for r, m in enumerate(after)}
        keep = set(before[:MAX_BEFORE]) | set(after[:MAX_AFTER])
        idx = [i for i in range(len(mentions)) if i in keep or (i not in b_rank and i not in a_rank)]
        cands.append(idx)
        feats.append([pair_features(q, mentions[m], sentence, b_rank, a_rank, m) for m in idx])
    return cands, feats


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
    a quotation left without a free cue shares its cheapest one."""
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
