"""Token tag probabilities -> character spans with scores, and the span clean-ups of the guidelines.

Decoding is word-level (the first sub-word carries a word's prediction, as in training); a span's
characters run from its first word's start to its last word's end in the ORIGINAL text.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
from dataclasses import dataclass

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


def decode_bio_many(toks: list[TokenizedArticle], wps: torch.Tensor, offsets: list[int],
                    tags: list[str]) -> list[list[TokenSpan]]:
    """:func:`decode_bio` of several articles at once: ``wps`` (N_words, n_tags) holds their word
    rows one article after the other, article ``k``'s from ``offsets[k]`` to ``offsets[k + 1]``.

    The same spans and scores as one call per article: the per-word steps (best tag, whether it
    continues the span before it, each article's first word continuing nothing) are exact tensor
    operations, done once for all the articles instead of once per article; only the spans are
    visited in Python, article by article."""
    if wps.size(0) == 0:
        return [[] for _ in toks]
    best_p, best = wps.max(-1)  # (N_words,)
    parts, label_of, is_i = _lenient_tables(tuple(tags))
    label = label_of[best]  # (N_words,) -1 = O
    prev = torch.cat([label.new_full((1,), -1), label[:-1]])  # (N_words,)
    prev[long_tensor([a0 for a0, a1 in zip(offsets, offsets[1:]) if a1 > a0])] = -1  # an article's first word follows nothing
    inside = is_i[best] & (label >= 0) & (prev == label)
    opens = (label >= 0) & ~inside
    bp, bt, op, ins = best_p.tolist(), best.tolist(), opens.tolist(), inside.tolist()
    out = []
    for tok, a0, a1 in zip(toks, offsets, offsets[1:]):
        spans = []
        for a, b in _runs(op[a0:a1], ins[a0:a1]):
            scores = bp[a0 + a : a0 + b + 1]  # summed in order, as floats: the same score as word by word
            spans.append(TokenSpan(tok.words[a][0], tok.words[b][1], parts[bt[a0 + a]][2], sum(scores) / len(scores)))
        out.append(spans)
    return out


def decode_bio_viterbi_many(toks: list[TokenizedArticle], wps: torch.Tensor, offsets: list[int],
                            tags: list[str]) -> list[list[TokenSpan]]:
    """:func:`decode_bio_viterbi` of several articles at once (``wps`` and ``offsets`` as in
    :func:`decode_bio_many`): the per-word best tags and the check for an invalid ``I`` run once
    for all; the dynamic program runs, as before, on each article's own log-probabilities (the same
    tensor as one call per article, so the same floats) for the sentences that need it."""
    if wps.size(0) == 0:
        return [[] for _ in toks]
    parts, pair_of, is_i, label_of = _bio_tables(tuple(tags))
    best_p, best = wps.max(-1)  # (N_words,)
    starts = torch.cat([tok.sentence_starts() for tok, a0, a1 in zip(toks, offsets, offsets[1:]) if a1 > a0])
    lab = label_of[best]
    prev_lab = torch.cat([lab.new_full((1,), -1), lab[:-1]])  # an article's first word opens a sentence
    bad = is_i[best] & (starts | (prev_lab != lab) | (lab < 0))  # (N_words,) an I that continues nothing
    paths = best.tolist()
    bad_words = bad.nonzero().squeeze(1).tolist()
    for tok, a0, a1 in zip(toks, offsets, offsets[1:]):
        first_bad = bisect.bisect_left(bad_words, a0)
        if first_bad < len(bad_words) and bad_words[first_bad] < a1:
            logp = wps[a0:a1].double().contiguous().log()  # the (n_words, n_tags) tensor decode_bio_viterbi takes the log of
            bounds = torch.nonzero(tok.sentence_starts()).squeeze(1).tolist() + [a1 - a0]
            mine = bad_words[first_bad : bisect.bisect_left(bad_words, a1)]
            for k in sorted({bisect.bisect_right(bounds, w - a0) - 1 for w in mine}):
                s_, e_ = bounds[k], bounds[k + 1]
                paths[a0 + s_ : a0 + e_] = _viterbi_labelled(logp[s_:e_].tolist(), pair_of)
    # the chosen tags' probabilities, picked once for the chunk (where no sentence was re-decoded
    # that is each word's maximum, the same float as best_p)
    chosen = wps.gather(1, long_tensor(paths).unsqueeze(1)).squeeze(1).tolist() if bad_words else best_p.tolist()
    is_b_tag, is_i_tag = _bio_flags(tuple(tags))
    is_b, is_i = list(map(is_b_tag.__getitem__, paths)), list(map(is_i_tag.__getitem__, paths))
    out = []
    for tok, a0, a1 in zip(toks, offsets, offsets[1:]):
        spans = []
        for a, b in _runs(is_b[a0:a1], is_i[a0:a1]):
            scores = chosen[a0 + a : a0 + b + 1]
            spans.append(TokenSpan(tok.words[a][0], tok.words[b][1], parts[paths[a0 + a]][2], sum(scores) / len(scores)))
        out.append(spans)
    return out


def decode_quotes_many(toks: list[TokenizedArticle], wps: torch.Tensor, offsets: list[int],
                       types: list[str]) -> list[list[TokenSpan]]:
    """:func:`decode_quotes` of several articles (``wps`` and ``offsets`` as in
    :func:`decode_bio_many`).

    The exact per-row steps (the B and I sums over the types, each row's own; the type masses;
    the chosen probabilities, picked) run once on the whole chunk; the logarithm runs on each
    article's own rows, a tensor of the same shape as one call per article (a vectorised
    logarithm computes a tensor's last few elements with the scalar function, so where an
    element falls must not change), and each span's type and mean on slices of the same values
    (tested against :func:`decode_quotes`, the definition, article by article)."""
    if wps.size(0) == 0:
        return [[] for _ in toks]
    wps = wps.contiguous()
    b, i_ = wps[:, 1::2], wps[:, 2::2]  # (N_words, n_types)
    collapsed = torch.stack([wps[:, 0], b.sum(-1), i_.sum(-1)], -1)  # (N_words, 3): O, B, I
    type_mass = b + i_  # (N_words, n_types)
    paths: list[int] = []
    for a0, a1 in zip(offsets, offsets[1:]):
        if a1 > a0:
            paths += _viterbi_bio(collapsed[a0:a1].clamp(min=1e-12).log())
    chosen = collapsed.gather(1, long_tensor(paths).unsqueeze(1)).squeeze(1)  # (N_words,)
    out = []
    for tok, a0, a1 in zip(toks, offsets, offsets[1:]):
        path = paths[a0:a1]
        spans: list[TokenSpan] = []
        for start, last in _runs([t == 1 for t in path], [t == 2 for t in path]):
            w = last + 1
            qtype = types[int(type_mass[a0 + start : a0 + w].sum(0).argmax())]
            score = float(chosen[a0 + start : a0 + w].mean())
            spans.append(TokenSpan(tok.words[start][0], tok.words[w - 1][1], qtype, score))
        out.append(spans)
    return out


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
                and not tok.text[tok.spans[sp.start][0]:].startswith(_NEW_NAME_PREFIXES)
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
    b = wp[:, 1::2]  # (n_words, n_types)
    i_ = wp[:, 2::2]
    collapsed = torch.stack([wp[:, 0], b.sum(-1), i_.sum(-1)], -1)  # (n_words, 3): O, B, I
    type_mass = b + i_  # (n_words, n_types)
    path = _viterbi_bio(collapsed.clamp(min=1e-12).log())
    chosen = collapsed.gather(1, long_tensor(path).unsqueeze(1)).squeeze(1)  # (n_words,)
    # a span opens at B and runs over the I words after it (the path has no I after O)
    opens = [t == 1 for t in path]
    spans: list[TokenSpan] = []
    for start, last in _runs(opens, [t == 2 for t in path]):
        w = last + 1
        qtype = types[int(type_mass[start:w].sum(0).argmax())]
        score = float(chosen[start:w].mean())
        spans.append(TokenSpan(tok.words[start][0], tok.words[w - 1][1], qtype, score))
    return spans


def _viterbi_bio(logp: torch.Tensor) -> list[int]:
    """The tag sequence (0 = O, 1 = B, 2 = I) of highest summed log-probability ``logp``
    (n, 3) in which ``I`` never follows ``O`` nor opens the sequence; every other transition is free.

    With free transitions the recursion is: O and B extend the best of all three states, I the
    better of B and I. One pass of floats (a few microseconds per word), then the back-trace."""
    rows = logp.tolist()
    o, bb, ii = rows[0][0], rows[0][1], float("-inf")
    back_all: list[int] = []  # per word: the best previous state of all three (for O and B)
    back_in: list[int] = []  # per word: the better previous of B and I (for I)
    for lo, lb, li in rows[1:]:
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
