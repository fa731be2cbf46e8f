"""Token tag probabilities -> character spans with scores, and the span clean-ups of the guidelines.

Decoding is word-level (the first sub-word carries a word's prediction, as in training); a span's
characters run from its first word's start to its last word's end in the ORIGINAL text.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from khabar.model.features import TokenizedArticle
from khabar.model.tensor_lists import long_tensor

QUOTE_MARKS = "\"'«»“”„‟‹›″＂`"
FINAL_PUNCT = ".!?؟،,؛;:…"


@dataclass
class TokenSpan:
    start: int  # token range [start, end) in the article
    end: int
    label: str
    score: float


def word_probs(tok: TokenizedArticle, probs: torch.Tensor) -> torch.Tensor:
    """Rows of ``probs`` (n_tokens, n_tags) at each word's first sub-word: (n_words, n_tags)."""
    return probs[tok.word_index()]  # the index is built once per article, for all heads


def _runs(opens: list[bool], inside: list[bool]) -> list[tuple[int, int]]:
    """Word ranges ``[first, last]`` of the spans: a span opens at a word where ``opens`` and runs
    over the following words while ``inside`` says they continue it."""
    out: list[tuple[int, int]] = []
    n = len(opens)
    for i in itertools.compress(range(n), opens):
        j = i + 1
        while j < n and inside[j]:
            j += 1
        out.append((i, j - 1))
    return out


def decode_bio(tok: TokenizedArticle, probs: torch.Tensor, tags: list[str]) -> list[TokenSpan]:
    """Spans from BIO probabilities with the lenient rule: ``I-X`` after ``O`` or another label
    opens a new span. ``tags`` as in :func:`khabar.model.features.entity_scheme`; plain ``B``/``I``
    (cue, source) give spans labelled ``""``. Score: mean probability of the chosen tags.

    Span boundaries are found on whole tensors (a word continues the span before it when its tag
    is ``I-X`` and the previous word's is ``B-X``/``I-X``); only the spans are visited in Python."""
    wp = word_probs(tok, probs)  # (n_words, n_tags)
    best_p, best = wp.max(-1)  # (n_words,)
    if best.numel() == 0:
        return []
    parts, label_of, is_i = _lenient_tables(tuple(tags))
    label = label_of[best]  # (n_words,) -1 = O
    prev = torch.cat([label.new_full((1,), -1), label[:-1]])  # (n_words,)
    inside = is_i[best] & (label >= 0) & (prev == label)  # (n_words,) continues the span before it
    opens = (label >= 0) & ~inside
    bp, bt = best_p.tolist(), best.tolist()
    spans: list[TokenSpan] = []
    for a, b in _runs(opens.tolist(), inside.tolist()):
        scores = bp[a : b + 1]  # summed in order, as floats: the same score as word by word
        spans.append(TokenSpan(tok.words[a][0], tok.words[b][1], parts[bt[a]][2], sum(scores) / len(scores)))
    return spans


def decode_bio_viterbi(tok: TokenizedArticle, probs: torch.Tensor, tags: list[str]) -> list[TokenSpan]:
    """Spans from BIO probabilities as the most probable VALID tag sequence over the words
    (``I-X`` only after ``B-X`` or ``I-X`` of the same sentence: no name runs across a sentence
    end); the score is the mean probability of the chosen tags.

    Why: word by word, a tagger unsure of a name's type splits it (``B-PER I-ORG`` -> two spans of
    one word each, both wrong); the best valid sequence gives the name one type. Measured on the
    default model v3 (same probabilities): ANERcorp test micro F1 0.570 -> 0.579, dev400 0.602 -> 0.606.
    ``tags`` as in :func:`khabar.model.features.entity_scheme` (``O`` first).

    Speed: with no transition scores, a sentence whose per-word best tags are already valid IS
    its best valid sequence; only the sentences with an invalid ``I`` run the dynamic program."""
    wp = word_probs(tok, probs)  # (n_words, n_tags)
    n = wp.size(0)
    if n == 0:
        return []
    parts, pair_of, is_i, label_of = _bio_tables(tuple(tags))
    best_p, best = wp.max(-1)  # (n_words,) the same index as argmax (the first maximum)
    starts = tok.sentence_starts()  # (n_words,) first word of its sentence
    lab = label_of[best]
    prev_lab = torch.cat([lab.new_full((1,), -1), lab[:-1]])
    bad = is_i[best] & (starts | (prev_lab != lab) | (lab < 0))  # (n_words,) an I that continues nothing
    path = best.tolist()
    bad_words = bad.nonzero().squeeze(1).tolist()
    if bad_words:
        logp = wp.double().log()  # no clamp: tiny probabilities must not tie (log 0 = -inf is fine)
        bounds = torch.nonzero(starts).squeeze(1).tolist() + [n]
        # the sentences holding a bad word (each once, in order), found by bisection
        for k in sorted({bisect.bisect_right(bounds, w) - 1 for w in bad_words}):
            s_, e_ = bounds[k], bounds[k + 1]
            path[s_:e_] = _viterbi_labelled(logp[s_:e_].tolist(), pair_of)
        chosen = wp.gather(1, long_tensor(path).unsqueeze(1)).squeeze(1).tolist()  # (n_words,)
    else:  # the per-word best tags: their probabilities are the maxima
        chosen = best_p.tolist()
    is_b_tag, is_i_tag = _bio_flags(tuple(tags))
    spans: list[TokenSpan] = []
    for a, b in _runs([is_b_tag[t] for t in path], [is_i_tag[t] for t in path]):
        scores = chosen[a : b + 1]
        spans.append(TokenSpan(tok.words[a][0], tok.words[b][1], parts[path[a]][2], sum(scores) / len(scores)))
    return spans


@functools.lru_cache(maxsize=16)
def _lenient_tables(tags: tuple[str, ...]) -> tuple[list[tuple[str, str, str]], torch.Tensor, torch.Tensor]:
    """Per tag set, for :func:`decode_bio` (built once, not per article): the (bio, -, label)
    parts; each tag's label index (-1 for O); whether each tag is an I."""
    parts = [t.partition("-") for t in tags]
    labels = sorted({p[2] for p in parts})
    label_of = torch.tensor([-1 if bio == "O" else labels.index(label) for bio, _, label in parts], dtype=torch.long)
    is_i = torch.tensor([bio == "I" for bio, _, _ in parts], dtype=torch.bool)
    return parts, label_of, is_i


@functools.lru_cache(maxsize=16)
def _bio_flags(tags: tuple[str, ...]) -> tuple[list[bool], list[bool]]:
    """Per tag set: whether each tag is a B, whether each is an I (list look-ups per word)."""
    return [t.partition("-")[0] == "B" for t in tags], [t.partition("-")[0] == "I" for t in tags]


@functools.lru_cache(maxsize=16)
def _bio_tables(tags: tuple[str, ...]) -> tuple[list[tuple[str, str, str]], dict[int, int], torch.Tensor, torch.Tensor]:
    """Per tag set: the (bio, -, label) parts; I tag -> its B tag (-1: none, the I can never be
    chosen); whether each tag is an I; each tag's label index (-1 for O, -2 for an I without B)."""
    parts = [t.partition("-") for t in tags]
    begin_of = {label: j for j, (bio, _, label) in enumerate(parts) if bio == "B"}
    pair_of = {j: begin_of.get(label, -1) for j, (bio, _, label) in enumerate(parts) if bio == "I"}
    is_i = torch.tensor([bio == "I" for bio, _, _ in parts])
    labels = sorted(begin_of)
    label_of = torch.tensor([-1 if bio == "O" else labels.index(label) if label in begin_of else -2
                             for bio, _, label in parts])
    return parts, pair_of, is_i, label_of


def _viterbi_labelled(rows: list[list[float]], pair_of: dict[int, int]) -> list[int]:
    """Best tag sequence of summed log-probabilities ``rows`` (n, n_tags) in which tag ``i`` of
    ``pair_of`` (an I tag) follows only itself or ``pair_of[i]`` (its B tag) and never opens the
    sequence; every other tag follows anything. Ties: the lower tag index, except that an I tag
    continues its B tag rather than itself."""
    k = len(rows[0])
    free = [j for j in range(k) if j not in pair_of]
    pairs = list(pair_of.items())
    neg = float("-inf")
    score = [neg if j in pair_of else v for j, v in enumerate(rows[0])]
    backs: list[list[int]] = []
    for row in rows[1:]:
        top = max(score)
        arg = score.index(top)
        new = [neg] * k
        back = [arg] * k
        for j in free:
            new[j] = top + row[j]
        for i, b in pairs:
            if b < 0:
                continue
            prev = i if score[i] > score[b] else b
            new[i] = score[prev] + row[i]
            back[i] = prev
        score = new
        backs.append(back)
    state = score.index(max(score))
    path = [state]
    for back in reversed(backs):
        state = back[state]
        path.append(state)
    path.reverse()
    return path


# A re-decoded sentence longer than this runs alone (_viterbi_labelled): in lockstep a sentence that
# outlives the others pays a dozen numpy steps a word, ~4x the Python loop's cost per word.
LOCKSTEP_MAX_WORDS = 256


def _viterbi_labelled_many(logp: np.ndarray, lengths: np.ndarray, pair_of: dict[int, int]) -> np.ndarray:
    """:func:`_viterbi_labelled` of several sentences at once: ``logp`` (R, n_tags) float64 holds
    their rows one sentence after the other, ``lengths`` (S,) how many each (at least 1); the best
    paths, (R,).

    The sentences of up to :data:`LOCKSTEP_MAX_WORDS` words run in lockstep, longest first (those
    still running at word ``t`` are a prefix), each step a few numpy operations on all of them
    instead of a Python loop over each sentence's tags: the same float64 additions and
    comparisons, the same ties (the first maximum; an I tag continues its B tag unless its own
    score is greater), so the same paths (a re-decoded sentence has ~30 words: 93 sentences of 64
    articles, 2.5 -> 1.1 ms). The back-pointers of step ``t`` cover the sentences running there
    only: memory follows the rows, however long the longest sentence."""
    n = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(n) - n  # (S,) each sentence's first row
    out = np.empty(len(logp), dtype=np.int64)
    if n.max() > LOCKSTEP_MAX_WORDS:
        alone = n > LOCKSTEP_MAX_WORDS
        for s, e in zip(starts[alone].tolist(), (starts + n)[alone].tolist()):
            out[s:e] = _viterbi_labelled(logp[s:e].tolist(), pair_of)
        if alone.all():
            return out
        n, starts = n[~alone], starts[~alone]
    k = logp.shape[1]
    i_tags = np.array([i for i, b in pair_of.items() if b >= 0], dtype=np.int64)
    b_tags = np.array([b for i, b in pair_of.items() if b >= 0], dtype=np.int64)
    never = [i for i, b in pair_of.items() if b < 0]  # an I without its B: never chosen
    order = np.argsort(-n, kind="stable")
    first = starts[order]  # (S,) each sentence's first row, longest sentence first
    longest = int(n[order[0]])
    running = np.searchsorted(-n[order], -np.arange(longest + 1), side="left")  # [t]: sentences longer than t
    score = logp[first].copy()  # (S, n_tags) scores at each sentence's word t
    score[:, list(pair_of)] = -np.inf  # no sentence opens with an I
    backs: list[np.ndarray] = [np.empty((0, k), dtype=np.int64)]  # [t]: (running[t], n_tags) the best previous tags
    final = np.empty(len(n), dtype=np.int64)  # each sentence's best last tag
    for t in range(1, longest):
        m = running[t]
        if m < len(score):  # the sentences of t words ended at word t - 1
            final[m : len(score)] = score[m:].argmax(1)
            score = score[:m]
        row = logp[first[:m] + t]  # (m, n_tags)
        arg = score.argmax(1)  # the first maximum, as score.index(max(score))
        top = score[np.arange(m), arg]
        s_i, s_b = score[:, i_tags], score[:, b_tags]
        own = s_i > s_b  # an I continues itself only when strictly better than its B
        new = top[:, None] + row
        new[:, i_tags] = np.where(own, s_i, s_b) + row[:, i_tags]
        if never:
            new[:, never] = -np.inf
        back = np.empty((m, k), dtype=np.int64)
        back[:] = arg[:, None]
        back[:, i_tags] = np.where(own, i_tags, b_tags)
        backs.append(back)
        score = new
    final[: len(score)] = score.argmax(1)
    # the back-trace: word t of the sentences running there, kept in that order, then put in rows
    steps = running[:longest]  # (longest,) sentences running at each word
    place = np.cumsum(steps) - steps  # [t]: word t's first place in `tags`
    tags = np.empty(int(steps.sum()), dtype=np.int64)
    state = final
    for t in range(longest - 1, -1, -1):
        after = running[t + 1]  # the sentences that go on after word t come back from there
        if after:
            state[:after] = backs[t + 1][np.arange(after), state[:after]]
        tags[place[t] : place[t] + steps[t]] = state[: steps[t]]
    sentence = np.arange(len(tags)) - np.repeat(place, steps)  # each place's sentence (longest first)
    out[first[sentence] + np.repeat(np.arange(longest), steps)] = tags
    return out


@functools.lru_cache(maxsize=16)
def _tag_arrays(tags: tuple[str, ...]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per tag set, numpy look-ups for the chunk decoders: each tag's label; its label index in
    :func:`_lenient_tables` (-1 for O); its label index in :func:`_bio_tables` (-1 for O, -2 for an
    I without B); whether it is a B; whether it is an I."""
    parts = [t.partition("-") for t in tags]
    return ([label for _, _, label in parts], _lenient_tables(tags)[1].numpy(), _bio_tables(tags)[3].numpy(),
            np.array([bio == "B" for bio, _, _ in parts]), np.array([bio == "I" for bio, _, _ in parts]))


def _numpy_rows(wps: torch.Tensor) -> np.ndarray:
    """The word rows as a numpy view (a half type widened to float32 first: numpy has no bfloat16)."""
    if wps.dtype in (torch.float16, torch.bfloat16):
        wps = wps.float()
    return wps.detach().cpu().numpy()


def _best_tags(wp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best tag (the first maximum, as ``torch.max``) and its probability, ``(N,)`` each."""
    best = wp.argmax(1)
    return best, wp[np.arange(len(best)), best]


def _run_ends(opens: np.ndarray, continues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_runs` on chunk rows: each span's first row (where ``opens``) and its end (the first
    row after it that does not continue it), ``(S,)`` each, ascending. A span never runs into the
    next article when no article's first row continues anything (every caller makes sure of it)."""
    first = np.flatnonzero(opens)
    stops = np.append(np.flatnonzero(~continues), continues.size)  # the rows that continue nothing
    return first, stops[np.searchsorted(stops, first, side="right")]


def _chunk_spans(toks: list[TokenizedArticle], offsets: list[int], first: np.ndarray, end: np.ndarray,
                 labels: list[str], values: list[float]) -> list[list[TokenSpan]]:
    """Chunk rows ``[first[k], end[k])`` as each article's spans, labelled ``labels[k]`` and
    scored by the mean of ``values`` over the rows: a Python float sum in row order, the same
    float as over the article's own list."""
    out: list[list[TokenSpan]] = [[] for _ in toks]
    if not first.size:
        return out
    arts = (np.searchsorted(np.asarray(offsets), first, side="right") - 1).tolist()
    for k, a, b, label in zip(arts, first.tolist(), end.tolist(), labels):
        words, a0 = toks[k].words, offsets[k]
        scores = values[a:b]
        out[k].append(TokenSpan(words[a - a0][0], words[b - 1 - a0][1], label, sum(scores) / len(scores)))
    return out


def _article_starts(toks: list[TokenizedArticle], offsets: list[int]) -> np.ndarray:
    """``(N_words,)`` bool: whether each chunk row opens a sentence (every article's first does)."""
    return np.concatenate([np.asarray(tok.sentence_starts(), dtype=bool)
                           for tok, a0, a1 in zip(toks, offsets, offsets[1:]) if a1 > a0])


def decode_bio_many(toks: list[TokenizedArticle], wps: torch.Tensor, offsets: list[int],
                    tags: list[str]) -> list[list[TokenSpan]]:
    """:func:`decode_bio` of several articles at once: ``wps`` (N_words, n_tags) holds their word
    rows one article after the other, article ``k``'s from ``offsets[k]`` to ``offsets[k + 1]``.

    The same spans and scores as one call per article: the per-word steps (best tag, whether it
    continues the span before it, each article's first word continuing nothing) and the spans'
    bounds are exact numpy steps over the whole chunk (a numpy step costs ~1 us, a torch one 3-10);
    only the spans are visited in Python."""
    if wps.size(0) == 0:
        return [[] for _ in toks]
    labels, label_of, _, _, is_i = _tag_arrays(tuple(tags))
    best, best_p = _best_tags(_numpy_rows(wps))
    label = label_of[best]  # (N_words,) -1 = O
    prev = np.empty_like(label)
    prev[0], prev[1:] = -1, label[:-1]
    prev[[a0 for a0, a1 in zip(offsets, offsets[1:]) if a1 > a0]] = -1  # an article's first word follows nothing
    inside = is_i[best] & (label >= 0) & (prev == label)  # continues the span before it
    first, end = _run_ends((label >= 0) & ~inside, inside)
    return _chunk_spans(toks, offsets, first, end, [labels[t] for t in best[first].tolist()], best_p.tolist())


def decode_bio_viterbi_many(toks: list[TokenizedArticle], wps: torch.Tensor, offsets: list[int],
                            tags: list[str]) -> list[list[TokenSpan]]:
    """:func:`decode_bio_viterbi` of several articles at once (``wps`` and ``offsets`` as in
    :func:`decode_bio_many`): the per-word best tags, the check for an invalid ``I`` and the spans'
    bounds are numpy steps over the whole chunk; the sentences that need it run the dynamic
    program, as one call per article does, on the float64 logarithms of their rows (taken at once
    for all of them: an element's logarithm does not depend on the tensor around it)."""
    if wps.size(0) == 0:
        return [[] for _ in toks]
    _, pair_of, _, _ = _bio_tables(tuple(tags))
    labels, _, label_of, is_b, is_i = _tag_arrays(tuple(tags))
    wp = _numpy_rows(wps)
    path, best_p = _best_tags(wp)  # best_p: each word's chosen tag's probability (the maximum, unless re-decoded)
    starts = _article_starts(toks, offsets)
    lab = label_of[path]
    prev_lab = np.empty_like(lab)
    prev_lab[0], prev_lab[1:] = -1, lab[:-1]  # an article's first word opens a sentence
    bad = is_i[path] & (starts | (prev_lab != lab) | (lab < 0))  # (N_words,) an I that continues nothing
    bad_words = np.flatnonzero(bad)
    if bad_words.size:
        bounds = np.append(np.flatnonzero(starts), len(starts))  # the chunk's sentences (none spans two articles)
        sents = np.unique(np.searchsorted(bounds, bad_words, side="right") - 1)  # those holding a bad word
        s0, lengths = bounds[sents], bounds[sents + 1] - bounds[sents]
        rows = np.repeat(s0 - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())  # their rows
        logp = torch.from_numpy(wp[rows].astype(np.float64)).log().numpy()  # decode_bio_viterbi's wp.double().log()
        new = _viterbi_labelled_many(logp, lengths, pair_of)
        path[rows] = new
        best_p[rows] = wp[rows, new]  # the chosen tags' probabilities where a sentence was re-decoded
    first, end = _run_ends(is_b[path], is_i[path])
    return _chunk_spans(toks, offsets, first, end, [labels[t] for t in path[first].tolist()], best_p.tolist())


def decode_quotes_many(toks: list[TokenizedArticle], wps: torch.Tensor, offsets: list[int],
                       types: list[str], min_score: float | None = None) -> list[list[TokenSpan]]:
    """:func:`decode_quotes` of several articles (``wps`` and ``offsets`` as in
    :func:`decode_bio_many`).

    The exact per-row steps (the B and I sums over the types, each row's own; the type masses;
    the logarithm, elementwise) run once on the whole chunk, the dynamic program on each article's
    rows, and the spans' bounds, chosen probabilities and type masses are numpy steps over the
    chunk (tested against :func:`decode_quotes`, the definition, article by article).

    ``min_score`` (the hybrid mode's threshold, below which every quotation is dropped): an article
    where no run of words (a B, then I's) has a mean B/I probability of ``min_score`` gets no
    spans and skips the dynamic program, since each span is such a run scored by that mean (see
    :func:`_quotation_bound`; 44 of the 64 bench articles at the shipped 0.9). Only for a finite
    threshold above 0: every span reaches one of 0 or below, and at an infinite one the bound's
    sums would be inf - inf (NaN: -inf skipped every article)."""
    if wps.size(0) == 0:
        return [[] for _ in toks]
    rows_c, logp, type_mass = _quote_masses(_numpy_rows(wps))  # (N_words, 3): O, B, I; its log; (N_words, n_types)
    articles = [(a0, a1) for a0, a1 in zip(offsets, offsets[1:]) if a1 > a0]
    if min_score is not None and 0 < min_score < math.inf:  # (every span reaches 0 or below)
        reach = _quotation_bound(rows_c[:, 1], rows_c[:, 2], [a0 for a0, _ in articles], min_score)
        articles = [art for art, r in zip(articles, reach.tolist()) if r >= -1e-6]  # the float sums' rounding: ~1e-10
    paths = [0] * len(rows_c)  # O where the dynamic program is skipped
    for a0, a1 in articles:
        rows = iter(logp[a0:a1].ravel().tolist())  # three per word
        paths[a0:a1] = _viterbi_bio(zip(rows, rows, rows))
    path = np.frombuffer(bytes(paths), dtype=np.uint8)  # (N_words,) 0 = O, 1 = B, 2 = I
    first, end = _run_ends(path == 1, path == 2)  # a span opens at B and runs over the I words after it
    if not first.size:
        return [[] for _ in toks]
    chosen = rows_c[np.arange(len(path)), path].tolist()  # (N_words,) the chosen tags' probabilities
    lengths = end - first
    seg = np.cumsum(lengths) - lengths  # each span's first row among the spans' rows
    rows = np.repeat(first - seg, lengths) + np.arange(lengths.sum())
    # each type's mass over each span, summed in word order in float64 (numpy sums along the rows
    # one row after the other, as the definition's Python sum)
    mass = np.add.reduceat(type_mass[rows].astype(np.float64), seg, axis=0)  # (S, n_types)
    return _chunk_spans(toks, offsets, first, end, [types[t] for t in mass.argmax(1).tolist()], chosen)


def _quotation_bound(b: np.ndarray, i_: np.ndarray, starts: list[int], t: float) -> np.ndarray:
    """Per article (rows from ``starts``, all non-empty), the best ``sum(p - t)`` over any run of
    words that opens at a B and goes on with I's, ``p`` the B probability of its first word and
    the I probability of the others: negative when no such run has a mean of ``t``.

    For a run opening at ``s``, the best continuation is the best prefix sum of ``I - t`` from
    ``s + 1`` (or none), a suffix maximum of their cumulative sums, restarted at each article by
    an offset larger than any article's sums: all in float64 numpy steps over the chunk."""
    n = len(b)
    art = np.zeros(n, dtype=np.int64)
    art[starts[1:]] = 1
    art = np.cumsum(art)  # (n,) each row's article
    c = np.cumsum(i_.astype(np.float64) - t)  # (n,) C[j]: sum of I - t up to j
    lift = 2.0 * (n + 1) * (1.0 + abs(t)) * (len(starts) - art)  # earlier articles higher: a suffix maximum stays in its own
    suffix = np.maximum.accumulate((c + lift)[::-1])[::-1] - lift  # (n,) max of C over j.. the article's end
    grow = np.zeros(n)
    last = np.append(np.asarray(starts[1:], dtype=np.int64) - 1, n - 1)  # each article's last row
    inner = np.ones(n, dtype=bool)
    inner[last] = False
    grow[inner] = np.maximum(0.0, suffix[1:][inner[:-1]] - c[:-1][inner[:-1]])
    return np.maximum.reduceat(b.astype(np.float64) - t + grow, starts)


def _quote_masses(wp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quotation rows (n, 1 + 2 * n_types) -> (n, 3) O/B/I probabilities, B and I each summed over
    the types in type order (the float32 sums torch's ``sum(-1)`` gave for the three types: checked
    on 100,000 rows), their logarithms (clamped at 1e-12, as torch takes them), and (n, n_types)
    each type's B + I. Column by column, so a (tags, n) layout (:func:`_row_softmax`) reads rows."""
    cols = wp.T  # (1 + 2 * n_types, n)
    b, i_ = cols[1::2], cols[2::2]  # (n_types, n)
    collapsed = np.stack([cols[0], functools.reduce(np.add, b), functools.reduce(np.add, i_)], 1)  # (n, 3)
    logp = torch.from_numpy(collapsed).clamp(min=1e-12).log().numpy()
    return collapsed, logp, (b + i_).T


# Words that open a new name after a name of the same type: «لبنان وإسرائيل», «بوش وبلير».
_NEW_NAME_PREFIXES = ("و",)


def merge_adjacent(tok: TokenizedArticle, spans: list[TokenSpan]) -> list[TokenSpan]:
    """Join a span to the one right before it (no word or mark between) when both have the same
    label and it does not begin with the conjunction و: a compact tagger often opens a new span
    (B) on the second word of a name it never saw («كوفي» «أنان», «حزب» «الليكود»), whereas two
    names of one type side by side are joined by و in news text (6 % of ANERcorp's B tags, nearly
    all of them so)."""
    out: list[TokenSpan] = []
    for sp in spans:
        prev = out[-1] if out else None
        if (prev is not None and prev.end == sp.start and prev.label == sp.label
                and not tok.text.startswith(_NEW_NAME_PREFIXES, tok.spans[sp.start][0])  # (no copy of the text's rest)
                # adjacent tokens may still sit on two lines (a dateline, a headline and its
                # first sentence) or in two sentences: never one name
                and tok.sentence[prev.end - 1] == tok.sentence[sp.start]
                and "\n" not in tok.text[tok.spans[prev.end - 1][1]:tok.spans[sp.start][0]]):
            n_prev = len(tok.words_in(tok.spans[prev.start][0], tok.spans[prev.end - 1][1]))
            n_sp = len(tok.words_in(tok.spans[sp.start][0], tok.spans[sp.end - 1][1]))
            score = (prev.score * n_prev + sp.score * n_sp) / max(n_prev + n_sp, 1)
            out[-1] = TokenSpan(prev.start, sp.end, prev.label, score)
        else:
            out.append(sp)
    return out


def decode_quotes(tok: TokenizedArticle, probs: torch.Tensor, types: list[str]) -> list[TokenSpan]:
    """Quotation spans: the most probable valid B/I/O sequence over the words (Viterbi, ``I`` only
    after ``B`` or ``I``), on probabilities summed over types; the span's type by its summed type
    probabilities; its score, the mean probability of its chosen B/I tags.

    Why not each word's own best tag: a quotation runs over tens of words and a half-trained head
    is unsure in its middle. Word by word, one ``O`` inside a passage cut it in two and the
    lenient rule opened a fragment at every ``I`` after it (the default model of 2026-11: 2,429
    spans of median 8 characters on quotes-dev's 388 quotations of median 80; overlap F1 0.03).
    The best sequence keeps a passage whole where its words are mostly inside, and drops an
    island of ``I`` that no word plausibly begins (F1 0.27 from the same probabilities)."""
    wp = word_probs(tok, probs)  # (n_words, 1 + 2 * n_types)
    if wp.size(0) == 0:
        return []
    collapsed, logp, type_mass = _quote_masses(_numpy_rows(wp))  # (n_words, 3): O, B, I; its log; (n_words, n_types)
    path = _viterbi_bio(logp.tolist())
    rows, masses = collapsed.tolist(), type_mass.tolist()
    # a span opens at B and runs over the I words after it (the path has no I after O); its type
    # has the most mass over its words and its score is the mean of its chosen tags, both summed
    # in word order as Python floats
    spans: list[TokenSpan] = []
    for start, last in _runs([t == 1 for t in path], [t == 2 for t in path]):
        w = last + 1
        mass = [sum(col) for col in zip(*masses[start:w])]
        chosen = [rows[k][path[k]] for k in range(start, w)]
        spans.append(TokenSpan(tok.words[start][0], tok.words[w - 1][1], types[mass.index(max(mass))],
                               sum(chosen) / len(chosen)))
    return spans


def _viterbi_bio(logp: Iterable[Sequence[float]]) -> list[int]:
    """The tag sequence (0 = O, 1 = B, 2 = I) of highest summed log-probability ``logp``
    (n >= 1 rows of 3) in which ``I`` never follows ``O`` nor opens the sequence; every other
    transition is free.

    With free transitions the recursion is: O and B extend the best of all three states, I the
    better of B and I. One pass of floats (a few microseconds per word), then the back-trace."""
    rows = iter(logp)
    o, bb, _ = next(rows)
    ii = float("-inf")
    back_all: list[int] = []  # per word: the best previous state of all three (for O and B)
    back_in: list[int] = []  # per word: the better previous of B and I (for I)
    for lo, lb, li in rows:
        if o >= bb and o >= ii:
            m, am = o, 0
        elif bb >= ii:
            m, am = bb, 1
        else:
            m, am = ii, 2
        if bb >= ii:
            mi, ai = bb, 1
        else:
            mi, ai = ii, 2
        o, bb, ii = m + lo, m + lb, mi + li
        back_all.append(am)
        back_in.append(ai)
    state = 0 if o >= bb and o >= ii else (1 if bb >= ii else 2)
    path = [state]
    for k in range(len(back_all) - 1, -1, -1):
        state = back_in[k] if state == 2 else back_all[k]
        path.append(state)
    path.reverse()
    return path


def char_span(tok: TokenizedArticle, span: TokenSpan) -> tuple[int, int]:
    return tok.spans[span.start][0], max(map(_END, tok.spans[span.start : span.end]))


_END = operator.itemgetter(1)


def trim(text: str, start: int, end: int, chars: str) -> tuple[int, int]:
    """Strip whitespace and ``chars`` at both ends; never returns an empty span."""
    s, e = start, end
    while s < e and (text[s].isspace() or text[s] in chars):
        s += 1
    while e > s and (text[e - 1].isspace() or text[e - 1] in chars):
        e -= 1
    return (s, e) if s < e else (start, end)


ENTITY_EDGE = QUOTE_MARKS + FINAL_PUNCT + "()[]#"


def clean_entity(text: str, start: int, end: int) -> tuple[int, int]:
    """An entity span without surrounding quotation marks or punctuation (``"داعش"`` -> ``داعش``);
    a span of nothing else is returned as is (see :func:`is_name`)."""
    return trim(text, start, end, ENTITY_EDGE)


def is_name(text: str, start: int, end: int) -> bool:
    """Whether a span holds more than punctuation and quotation marks (a name can be none of those)."""
    return any(not (c.isspace() or c in ENTITY_EDGE) for c in text[start:end])


# every character for which str.isspace() is true (tests/test_fast_decode.py checks the list
# against Python's Unicode database)
SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
          "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_NOT_NAME = ENTITY_EDGE + SPACES


def name_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``clean_entity(text, start, end)`` where :func:`is_name` holds, else ``None``: both by one
    ``str.lstrip``/``rstrip`` of whitespace and the edge marks, in C, instead of a generator and
    two loops over the characters in Python."""
    part = text[start:end]
    head = part.lstrip(_NOT_NAME)
    if not head:
        return None
    s = start + len(part) - len(head)
    return s, s + len(head.rstrip(_NOT_NAME))


def clean_quote(text: str, start: int, end: int, qtype: str) -> tuple[int, int]:
    """Direct: between the marks, marks excluded. Indirect/mixed: final sentence punctuation
    excluded; an opening mark stays when the passage starts with one (a closing one then too)."""
    if qtype == "direct":  # a question or exclamation inside the marks is the speaker's own
        return trim(text, start, end, QUOTE_MARKS)
    s, e = trim(text, start, end, FINAL_PUNCT)
    opened = text[s] in QUOTE_MARKS
    closed = sum(text[s:e].count(c) for c in QUOTE_MARKS) % 2 == 0
    if not opened and e > s and text[e - 1] in QUOTE_MARKS and not closed:
        s2, e2 = trim(text, s, e - 1, FINAL_PUNCT)  # a dangling closing mark
        return (s2, e2) if e2 > s2 else (s, e)
    return s, e
