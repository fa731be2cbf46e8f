"""`KhabarModel.predict`: whole articles in, `Article` objects with scored spans out.

Windows of many articles are batched together, sorted by length; each token takes its
probabilities and hidden state from the window where it is most central; spans are decoded per
article; every quotation is then attributed over the candidate mentions of its whole article.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from khabar.data.article import Article, Entity, Quote, Span
from khabar.gcpause import paused_gc
from khabar.model.attribution import pair_cues, pair_tensors
from khabar.model.canonical import display_name, speaker_names
from khabar.model.decoding import (
    TokenSpan,
    char_span,
    clean_quote,
    decode_bio,
    decode_bio_many,
    decode_bio_viterbi,
    decode_bio_viterbi_many,
    decode_quotes,
    decode_quotes_many,
    merge_adjacent,
    name_span,
)
from khabar.model.features import ArticleEncoder, TokenizedArticle, entity_scheme
from khabar.model.heads import NEG
from khabar.model.tensor_lists import long_tensor

HEADS = ("entity", "quote", "cue", "source")
# Below this many hidden-state numbers (128 rows of a 256-wide model) the four token heads run one
# by one (see _head_logits_fn).
STACKED_HEADS_MIN_ELEMENTS = 32768
SPEAKER_LABELS = ("PER", "ORG")
# Texts tokenised together by tokenized_chunks (their new chunks learnt in one pass).
TOKENIZE_GROUP = 64
# A quantised model's batches are padded to a multiple of this many tokens (see width_multiple).
QUANTIZED_WIDTH_MULTIPLE = 32


def predict(model: Any, texts: list[str], tokenizer: Any, batch_size: int = 16,
            chunk_windows: int | None = None, min_quote_score: float | None = None) -> list[Article]:
    """``min_quote_score``: quotations scoring below it are left out before attribution (what the
    hybrid mode does with them anyway: ``KhabarModel.predict`` passes its ``hybrid_model_score``);
    cues are still paired over all of them, so the kept ones get the cues they would get anyway."""
    if isinstance(texts, str):
        raise TypeError("predict() takes a list of texts; wrap a single text in a list")
    was_training = model.training
    model.eval()
    try:
        with paused_gc():
            encoder = ArticleEncoder.from_config(tokenizer, model.config)
            cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
            results: list[Article] = []
            for pending in tokenized_chunks(encoder, texts, batch_size, chunk_windows):
                results += _run_chunk(model, pending, cls_id, sep_id, batch_size, min_quote_score)
            return results
    finally:
        model.train(was_training)


def tokenized_chunks(encoder: ArticleEncoder, texts: Iterable[str], batch_size: int,
                     chunk_windows: int | None = None) -> Iterator[list[tuple[int, TokenizedArticle]]]:
    """The texts tokenised, ``(index, tokens)``, in chunks of at least ``chunk_windows`` windows
    (default: 8 batches, at least 64; the last chunk what is left, maybe empty): the windows of a
    chunk are sorted and batched together (:func:`_window_batches`). The texts are read
    :data:`TOKENIZE_GROUP` at a time (a stream is never read to its end first): each group goes
    through :meth:`ArticleEncoder.tokenize_many`, which learns the group's unseen chunks in one pass."""
    chunk = chunk_windows or max(8 * batch_size, 64)
    pending: list[tuple[int, TokenizedArticle]] = []
    n_windows = 0
    numbered = enumerate(texts)
    while group := list(itertools.islice(numbered, TOKENIZE_GROUP)):
        for (i, _), tok in zip(group, encoder.tokenize_many([text for _, text in group])):
            pending.append((i, tok))
            n_windows += len(tok.windows)
            if n_windows >= chunk:
                yield pending
                pending, n_windows = [], 0
    yield pending


@torch.no_grad()
def _run_chunk(model: Any, arts: list[tuple[int, TokenizedArticle]], cls_id: int, sep_id: int,
               batch_size: int, min_quote_score: float | None = None) -> list[Article]:
    device = next(model.parameters()).device
    size = {name: getattr(model, f"{name}_head").out.out_features for name in HEADS}
    # the heads every article reads; in hybrid mode the cue and source heads are read only for the
    # few articles with a quotation above the threshold (_decode_words), so their logits are
    # computed for those articles' words when asked (late_logits) rather than for every token
    # (a product of 16 columns instead of 22: 64 bench articles 2.5 -> 1.8 ms). Only for heads
    # that are functions of each row alone: a dynamically quantised head scales its input per call,
    # another head may read the window around a token; those run on every batch, as without it
    late_ok = min_quote_score is not None and _row_heads(model, ("cue", "source"))
    early = ("entity", "quote") if late_ok else HEADS
    late = tuple(name for name in HEADS if name not in early)
    head_logits = _head_logits_fn(model, early)
    toks = [tok for _, tok in arts]
    batches = _window_batches(toks, batch_size)
    # everything that needs only the articles first, while their arrays are still in the cache
    # (between two encoder passes the same steps took ~3x as long): every batch's inputs, each
    # window's rows, each word's row in the logits
    multiple = width_multiple(model)
    inputs = [_batch_inputs([(toks[a], w) for a, w in batch], cls_id, sep_id, multiple) for batch in batches]
    row_base: dict[tuple[int, int], int] = {}  # (article, window) -> its first token's row in cat(logits)
    where: dict[tuple[int, int], tuple[int, int, int]] = {}  # (article, window) -> (batch, row, length)
    batch_base: list[int] = []  # each batch's first row in cat(logits)
    base = 0
    for b, (batch, (ids, _, _, lengths)) in enumerate(zip(batches, inputs)):
        seq = ids.size(1)  # the encoder's output rows per window, as its input's
        for r, (a, w) in enumerate(batch):
            row_base[(a, w)] = base + r * seq + 1  # after [CLS]
            where[(a, w)] = (b, r, lengths[r])
        batch_base.append(base)
        base += ids.size(0) * seq
    results: list[Article | None] = [None] * len(arts)
    items: list[tuple[int, TokenizedArticle]] = []  # articles with tokens
    word_rows: list[np.ndarray] = []  # per article: the logits row of each word's first token
    several = [a for a, tok in enumerate(toks) if len(tok.windows) > 1]
    # article of several windows -> each token's window and position there (_central_windows_many)
    central = dict(zip(several, _central_windows_many([toks[a].windows for a in several], [len(toks[a]) for a in several])))
    for a, tok in enumerate(toks):
        n = len(tok)
        if n == 0:
            results[a] = Article(str(arts[a][0]), tok.text, [], [])
            continue
        first = np.asarray(tok.word_index())  # (n_words,) each word's first token
        if len(tok.windows) == 1:  # most articles: every token from its only window
            word_rows.append(first + row_base[(a, 0)])
        else:  # each token from the window where it is most central
            win, pos = central[a]
            bases = np.array([row_base[(a, w)] for w in range(len(tok.windows))], dtype=np.int64)
            word_rows.append(bases[win[first]] + pos[first])
        items.append((a, tok))
    # per batch: the heads' logits (batch * seq, sum of the heads' tags) and the states (batch, seq,
    # hidden), in the model's dtype, on its device
    logits: list[torch.Tensor] = []
    hidden: list[torch.Tensor] = []
    for ids, mask, lex, _ in inputs:
        lex = lex.to(device) if lex is not None else None
        h = model.encode(ids.to(device), mask.to(device), lexical_ids=lex)  # (batch, seq, hidden)
        if h.shape[:2] != ids.shape:  # the rows above assume one output row per input token
            raise AssertionError(f"encoder output {tuple(h.shape)} for inputs {tuple(ids.shape)}")
        logits.append(head_logits(h).flatten(0, 1))  # (batch * seq, sum of tags)
        hidden.append(h)
    if not items:
        return results  # type: ignore[return-value]
    # every word of the chunk: its logits row picked once, then each head's softmax over those rows
    # only (a row's softmax is its own: the same floats as over the whole batch, then picked)
    all_rows = np.concatenate(word_rows)  # (N_words,) rows of cat(logits)
    picked = torch.cat(logits).index_select(0, torch.from_numpy(all_rows).to(device))
    parts = dict(zip(early, picked.split([size[name] for name in early], -1)))  # each (N_words, tags)
    late_parts: dict[bytes | None, dict[str, torch.Tensor]] = {}
    late_fn = _head_logits_fn(model, late) if late else None  # once: an int8 head dequantises per function

    def late_logits(rows: np.ndarray | None) -> dict[str, torch.Tensor]:
        """The late heads' logits at word rows ``rows`` (all: None), from those words' states."""
        key = None if rows is None else rows.tobytes()
        if key not in late_parts:
            flat_rows = all_rows if rows is None else all_rows[rows]
            batch_of = np.searchsorted(batch_base, flat_rows, side="right") - 1
            out = torch.empty((len(flat_rows), sum(size[name] for name in late)), dtype=hidden[0].dtype, device=device)
            for b in np.unique(batch_of).tolist():
                at = np.flatnonzero(batch_of == b)
                states = hidden[b].flatten(0, 1).index_select(0, torch.from_numpy(flat_rows[at] - batch_base[b]).to(device))
                out[torch.from_numpy(at).to(device)] = late_fn(states)
            late_parts[key] = dict(zip(late, out.split([size[name] for name in late], -1)))
        return late_parts[key]

    def head_probs(name: str, rows: np.ndarray | None = None) -> torch.Tensor:
        if name in late:
            part = late_logits(rows)[name]
        else:
            part = parts[name] if rows is None else parts[name].index_select(0, torch.from_numpy(rows).to(device))
        return _row_softmax(part.float()).cpu()

    decoded = _decode_words(model.config, [tok for _, tok in items], head_probs, min_quote_score)
    for (a, tok), spans in zip(items, decoded):
        states = functools.partial(_article_states, [where[(a, w)] for w in range(len(tok.windows))], hidden,
                                   central.get(a))
        results[a] = _article(model, str(arts[a][0]), tok, spans, states, device, min_quote_score)
    return results  # type: ignore[return-value]  (every slot is filled)


def _row_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``logits.softmax(-1)`` for (N, tags) rows of a few tags, computed over the transposed
    (tags, N) layout and handed back as an (N, tags) view: torch's last-dim kernel spends ~150 ns
    per row of 3-9 tags, its kernel over the first dimension runs along N (15,000 rows: 2.3 ->
    0.2 ms). The same probabilities to rounding (the sums run in another order: ~3e-8 apart)."""
    return torch.softmax(logits.t(), 0).t()


def _row_heads(model: Any, names: tuple[str, ...]) -> bool:
    """Whether heads ``names`` give each row's logits from that row alone (in eval, a plain
    ``TokenTagger`` over an ``nn.Linear`` or a ``WeightOnlyInt8Linear``), so that they may run on
    rows gathered from several windows: a dynamically quantised layer scales its input by the
    range of the whole call, and another head may read the tokens around each one."""
    from torch import nn

    from khabar.model.heads import TokenTagger

    from khabar.quantize import WeightOnlyInt8Linear

    heads = [getattr(model, f"{name}_head") for name in names]
    return not model.training and all(type(h) is TokenTagger and type(h.out) in (nn.Linear, WeightOnlyInt8Linear)
                                      for h in heads)


def _head_logits_fn(model: Any, names: tuple[str, ...] = HEADS) -> Any:
    """``h (..., hidden) -> (..., sum of the heads' tags)``: the token heads ``names`` side by side
    (default: all four). When every head is a plain ``TokenTagger`` (dropout, then an ``nn.Linear``: dropout is
    off in eval), one product with their weights stacked: four products with 3-9 columns cost 3x
    one with 22 (7 batches of 16 windows: 11 ms -> 3.6 ms). Each output is the same row-by-column
    dot product, and for a batch of at least :data:`STACKED_HEADS_MIN_ELEMENTS` numbers this
    project's MKL sums it in the same order for 22 columns as for 3-9 (bit for bit in float32 and
    bfloat16 on its CPU, and the analyser's output was byte-identical; another BLAS may round the
    last bit differently, so ``tests/test_fast_paths_python.py`` asks for rounding-level agreement). Small
    products take other kernels (MKL: a 256-wide model differed at one row, a 32-wide one up to
    ~10 rows), so a smaller batch goes head by head, as any other head (dynamically quantised) does. Heads
    whose layers are all ``WeightOnlyInt8Linear`` stack what their forward multiplies by (the
    weights dequantised to the input's dtype, the bias cast to it) the same way. The entity and
    quotation heads stacked alone (16 columns, hybrid mode) gave the same floats as those columns of
    all four, and the cue and source heads on a few hundred gathered rows as on whole batches
    (this project's MKL, the 64 bench articles' batches; tests ask for rounding level)."""
    from torch import nn

    from khabar.model.heads import TokenTagger

    from khabar.quantize import WeightOnlyInt8Linear

    heads = [getattr(model, f"{name}_head") for name in names]
    layers = [h.out for h in heads]
    if model.training or not all(type(h) is TokenTagger for h in heads):
        return lambda h: torch.cat([head(h) for head in heads], -1)
    if all(type(l) is nn.Linear for l in layers) and len({(l.weight.dtype, l.weight.device, l.bias is not None)
                                                         for l in layers}) == 1:
        weight = torch.cat([l.weight for l in layers])  # (sum of tags, hidden)
        bias = torch.cat([l.bias for l in layers]) if layers[0].bias is not None else None
        operands: Callable[[torch.dtype], tuple[torch.Tensor, torch.Tensor | None]] = lambda dtype: (weight, bias)
    elif all(type(l) is WeightOnlyInt8Linear for l in layers) and len({l.bias is not None for l in layers}) == 1:
        # what each layer's forward multiplies by (its weights dequantised to the input's dtype, its
        # bias cast to it), stacked once per dtype instead of dequantised per head and batch
        # (int8 on 64 ANT articles: the heads 12 -> ~4 ms)
        cache: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor | None]] = {}

        def operands(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
            if dtype not in cache:
                cache[dtype] = (torch.cat([l.dequantized(dtype) for l in layers]),  # (sum of tags, hidden)
                                None if layers[0].bias is None else torch.cat(
                                    [l.bias if l.bias.dtype == dtype else l.bias.to(dtype) for l in layers]))
            return cache[dtype]
    else:
        return lambda h: torch.cat([head(h) for head in heads], -1)

    def stacked(h: torch.Tensor) -> torch.Tensor:
        # a small batch (the kernels may differ, and it costs little), or not on a CPU (other
        # BLAS libraries, checked nowhere; a GPU's four small products cost next to nothing)
        if h.numel() < STACKED_HEADS_MIN_ELEMENTS or h.device.type != "cpu":
            return torch.cat([head(h) for head in heads], -1)
        return nn.functional.linear(h, *operands(h.dtype))

    return stacked


def _central_windows_many(windows: list[list[tuple[int, int]]],
                          lengths: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each token of several articles (their windows, their token counts), the window where
    it is most central and its position there, ``(n,)`` each per article: :func:`_central_rows`
    (the definition, tested against) in numpy, where the k-th windows of all the articles are one
    step (an article's tokens are its own, and its windows still come in order, ties to the
    earlier), so a chunk costs as many steps as its longest article has windows, not as all its
    articles have (28 articles of 95 windows: ~1 -> 0.2 ms)."""
    if not windows:
        return []
    offsets = np.array([0, *itertools.accumulate(lengths)], dtype=np.int64)  # each article's first token
    score = np.full(int(offsets[-1]), -1, dtype=np.int64)
    win = np.zeros(len(score), dtype=np.int64)
    pos = np.zeros(len(score), dtype=np.int64)
    for k in range(max(map(len, windows))):
        arts = [a for a, ws in enumerate(windows) if len(ws) > k]
        s, e = np.array([windows[a][k] for a in arts], dtype=np.int64).T  # (A,) each
        size = e - s
        t = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)  # position in its window
        token = np.repeat(offsets[arts] + s, size) + t  # (sum of sizes,) the chunk's token
        c = np.minimum(t, np.repeat(size, size) - 1 - t)  # distance to the nearer edge
        better = c > score[token]  # ties go to the earlier window
        token = token[better]
        score[token], win[token], pos[token] = c[better], k, t[better]
    if (score < 0).any():  # a bug upstream, never a silent loss of text
        missing = np.flatnonzero(score < 0)
        a = np.searchsorted(offsets, missing, side="right") - 1
        raise AssertionError(f"windows do not cover tokens {(missing - offsets[a]).tolist()[:10]} "
                             f"(of {len(missing)}) of article {int(a[0])} of the chunk")
    return [(win[a0:a1], pos[a0:a1]) for a0, a1 in zip(offsets.tolist(), offsets[1:].tolist())]


def _article_states(where: list[tuple[int, int, int]], hidden: list[torch.Tensor],
                   central: tuple[np.ndarray, np.ndarray] | None) -> torch.Tensor:
    """An article's token states (n, hidden) as float32, each token's from the window where it is
    most central (``central``: :func:`_central_windows_many` of an article of several windows, as
    ``_run_chunk`` found them for the heads' rows): built only for an article whose quotations
    are attributed."""
    windows = [hidden[b][r, 1 : n + 1] for b, r, n in where]
    if central is None:
        return windows[0].float()
    win, pos = central
    lengths = [n for _, _, n in where]
    starts = np.array([0, *itertools.accumulate(lengths)][:-1], dtype=np.int64)  # first row of each window
    pieces = _row_runs(torch.from_numpy(starts[win] + pos), lengths)
    return torch.cat([windows[w][r0:r1] for w, r0, r1 in pieces]).float()  # (n, hidden)


Decoded = tuple[list[TokenSpan], list[TokenSpan], list[TokenSpan], list[TokenSpan]]  # entities, quotes, cues, sources


def _decode_words(cfg: Any, toks: list[TokenizedArticle], head_probs: Callable[..., torch.Tensor],
                  min_quote_score: float | None = None) -> list[Decoded]:
    """Each article's spans from its word rows: ``head_probs(name)`` (N_words, the head's tags)
    holds the articles' rows one after the other, ``head_probs(name, rows)`` those rows only.
    Decoded by the ``*_many`` decoders, which run each per-word step once for the whole chunk
    instead of once per article (the same spans and scores as :func:`_decode_article`, the
    definition, article by article).

    With ``min_quote_score`` (hybrid mode), cues and sources are decoded only for the articles
    with a quotation scoring that much: in any other article ``_article`` drops every quotation
    before cues and sources are read (with the shipped model: all of them), so they are ``[]``;
    likewise an article that can have no such quotation gets none (``decode_quotes_many``)."""
    if not toks:
        return []
    offsets = [0, *itertools.accumulate(len(tok.words) for tok in toks)]  # word rows of each article
    bio = ["O", "B", "I"]
    if getattr(cfg, "entity_decoding", "viterbi") == "greedy":
        entities = decode_bio_many(toks, head_probs("entity"), offsets, entity_scheme(cfg.entity_labels))
    else:
        entities = decode_bio_viterbi_many(toks, head_probs("entity"), offsets, entity_scheme(cfg.entity_labels))
    quotes = decode_quotes_many(toks, head_probs("quote"), offsets, list(cfg.quote_types), min_quote_score)
    need = [k for k, qs in enumerate(quotes) if min_quote_score is None or any(q.score >= min_quote_score for q in qs)]
    if len(need) == len(toks):
        cues = decode_bio_many(toks, head_probs("cue"), offsets, bio)
        sources = decode_bio_many(toks, head_probs("source"), offsets, bio)
    else:
        cues, sources = [[] for _ in toks], [[] for _ in toks]
        if need:
            rows = np.concatenate([np.arange(offsets[k], offsets[k + 1], dtype=np.int64) for k in need])
            some = [toks[k] for k in need]
            some_offsets = [0, *itertools.accumulate(len(tok.words) for tok in some)]
            for k, c, src in zip(need, decode_bio_many(some, head_probs("cue", rows), some_offsets, bio),
                                 decode_bio_many(some, head_probs("source", rows), some_offsets, bio)):
                cues[k], sources[k] = c, src
    return list(zip(entities, quotes, cues, sources))


def _decode_article(cfg: Any, tok: TokenizedArticle, probs: torch.Tensor, sizes: list[int]) -> Decoded:
    """One article's spans, one decoder call per head: what :func:`_decode_words` computes for a
    chunk (the definition it is tested against)."""
    rows = dict(zip(HEADS, probs.split(sizes, -1)))
    decode_entities = decode_bio if getattr(cfg, "entity_decoding", "viterbi") == "greedy" else decode_bio_viterbi
    return (decode_entities(tok, rows["entity"], entity_scheme(cfg.entity_labels)),
            decode_quotes(tok, rows["quote"], list(cfg.quote_types)),
            decode_bio(tok, rows["cue"], ["O", "B", "I"]),
            decode_bio(tok, rows["source"], ["O", "B", "I"]))


def _window_batches(toks: list[TokenizedArticle], batch_size: int) -> list[list[tuple[int, int]]]:
    """The windows of a chunk of articles, ``(article, window)``, sorted by length (ties in article
    then window order) and cut into batches: a batch pads little."""
    jobs = sorted(((a, w) for a, tok in enumerate(toks) for w in range(len(tok.windows))),
                  key=lambda j: toks[j[0]].windows[j[1]][1] - toks[j[0]].windows[j[1]][0])
    return [jobs[b : b + batch_size] for b in range(0, len(jobs), batch_size)]


def width_multiple(model: Any) -> int:
    """The multiple of tokens a batch's width is padded to: :data:`QUANTIZED_WIDTH_MULTIPLE` for a
    bf16 or int8 model, 1 (no padding beyond the longest window) for any other.

    Why: oneDNN, which runs the bf16 and int8 products and the bf16 LSTM on a CPU, builds a kernel
    for every new input shape, and batches sorted by length have a new width nearly every time.
    On articles never seen (new widths), a bf16 pass over 64 articles took 0.66-0.74 s against
    0.44-0.49 s for the same articles again (int8 0.64-0.69 against 0.48); with widths padded to
    a multiple of 32 there are 16 widths up to 512, each built once, and new articles took
    0.48-0.56 s. float32 runs through MKL, which builds nothing per shape (1.19-1.29 s either
    way), so it keeps the exact widths (no padding to compute)."""
    return QUANTIZED_WIDTH_MULTIPLE if getattr(model, "khabar_quantized", None) in ("int8", "bf16") else 1


def _batch_inputs(windows: list[tuple[TokenizedArticle, int]], cls_id: int, sep_id: int,
                  multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, list[int]]:
    """One batch of windows (article, window index) as the encoder's inputs: ``input_ids`` and
    ``attention_mask`` (batch, seq) with ``[CLS]``/``[SEP]`` around each window and 0 padding
    (the width rounded up to a ``multiple`` of tokens, :func:`width_multiple`),
    ``lexical_ids`` (batch, seq, n_attrs) with row 0 at ``[CLS]``, ``[SEP]`` and padding (``None``
    for a model without lexical features), and each window's token count.

    Filled by slices of each article's tensors (:meth:`TokenizedArticle.input_tensors`), not
    parsed from nested Python lists: a batch holds up to 16 x 512 x (1 + n_attrs) ints."""
    spans = [tok.windows[w] for tok, w in windows]
    lengths = [e - s for s, e in spans]
    width = -(-(max(lengths) + 2) // multiple) * multiple
    # filled in numpy (a slice assignment costs ~1 us there, ~5 us on a torch tensor), then shared
    ids = np.zeros((len(windows), width), dtype=np.int64)  # (batch, seq)
    # whether the model reads lexical rows, and how many per token, from the first article's tensor
    # (its ``lexical`` list of lists is made on first use from arrays by now: ~1 ms an article)
    first_lex = windows[0][0].input_tensors()[1]  # (n, n_attrs) or None
    lex = np.zeros((len(windows), width, first_lex.shape[1]), dtype=np.int64) if first_lex is not None else None
    for r, ((tok, _), (s, e)) in enumerate(zip(windows, spans)):
        tok_ids, tok_lex = tok.input_tensors()
        ids[r, 1 : e - s + 1] = tok_ids.numpy()[s:e]
        if lex is not None:
            lex[r, 1 : e - s + 1] = tok_lex.numpy()[s:e]  # (n, n_attrs)
    n = np.array(lengths, dtype=np.int64)  # (batch,)
    ids[:, 0] = cls_id
    ids[np.arange(len(windows)), n + 1] = sep_id
    mask = (np.arange(width)[None, :] < (n + 2)[:, None]).astype(np.int64)  # (batch, seq)
    return (torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(lex) if lex is not None else None,
            lengths)


def _central_rows(windows: list[tuple[int, int]], n: int) -> torch.Tensor:
    """For each token, its row in the concatenated windows' outputs, from the window where it is
    most central (:func:`khabar.model.windows.best_window`, one tensor step per window)."""
    score = torch.full((n,), -1, dtype=torch.long)
    row = torch.zeros(n, dtype=torch.long)
    offset = 0
    for s, e in windows:
        t = torch.arange(s, e)
        c = torch.minimum(t - s, e - 1 - t)  # distance to the nearer edge
        better = c > score[s:e]  # ties go to the earlier window
        score[s:e] = torch.where(better, c, score[s:e])
        row[s:e] = torch.where(better, offset + t - s, row[s:e])
        offset += e - s
    missing = (score < 0).nonzero().flatten().tolist()
    if missing:  # a bug upstream, never a silent loss of text
        raise AssertionError(f"windows do not cover tokens {missing[:10]} (of {len(missing)})")
    return row


def _row_runs(pick: torch.Tensor, lengths: list[int]) -> list[tuple[int, int, int]]:
    """``pick`` (n,) rows of the concatenated windows (``lengths`` rows each) as runs of
    consecutive rows within one window: ``(window, first row, end row)`` in the window's own rows,
    in token order, so that ``cat(window[r0:r1] for each run) == cat(windows)[pick]``."""
    window_starts = [0, *itertools.accumulate(lengths)][:-1]  # first concatenated row of each window
    new_run = torch.ones(pick.numel(), dtype=torch.bool)  # (n,)
    new_run[1:] = pick[1:] != pick[:-1] + 1
    new_run |= torch.isin(pick, torch.tensor(window_starts))  # a run never crosses into the next window
    cuts = new_run.nonzero().squeeze(1).tolist() + [pick.numel()]
    runs = []
    for t0, t1, row in zip(cuts, cuts[1:], pick[cuts[:-1]].tolist()):
        w = bisect.bisect_right(window_starts, row) - 1
        runs.append((w, row - window_starts[w], row - window_starts[w] + t1 - t0))
    return runs


def _article(model: Any, art_id: str, tok: TokenizedArticle, spans: Decoded,
             states: torch.Tensor | Callable[[], torch.Tensor], device: torch.device,
             min_quote_score: float | None = None) -> Article:
    """``states``: the article's token states (n, hidden), or a function that builds them (called
    only when a quotation is attributed: in hybrid mode few or none are)."""
    cfg = model.config
    text = tok.text
    entities_tok, quotes_tok, cues_tok, sources_tok = spans
    if getattr(cfg, "entity_merge_adjacent", False):
        entities_tok = merge_adjacent(tok, entities_tok)

    # a "name" of punctuation only (a lone quotation mark) is no entity and no speaker
    chars_of: dict[int, tuple[int, int]] = {}  # id(span) -> the characters of its name

    def names(spans: list[TokenSpan]) -> list[TokenSpan]:
        """The spans that hold a name, each one's characters (clean_entity's) kept in chars_of."""
        kept = []
        for sp in spans:
            chars = name_span(text, *char_span(tok, sp))  # None for punctuation only
            if chars is not None:
                chars_of[id(sp)] = chars
                kept.append(sp)
        return kept

    entities_tok = names(entities_tok)
    entities = [Entity(*chars_of[id(sp)], sp.label, sp.score) for sp in entities_tok]

    keep = None if min_quote_score is None else [i for i, q in enumerate(quotes_tok) if q.score >= min_quote_score]
    if keep == []:
        quotes_tok = []  # none would be kept: no cue pairing, no attribution
    cue_of = pair_cues([(q.start, q.end) for q in quotes_tok], [(c.start, c.end) for c in cues_tok], tok.sentence)
    if keep:  # after the cue pairing, which is joint over all quotations
        quotes_tok, cue_of = [quotes_tok[i] for i in keep], [cue_of[i] for i in keep]
    mentions: list[TokenSpan] = []
    cand_ids: list[int] = []
    m_chars: list[tuple[int, int]] = []
    if quotes_tok:  # the candidate speakers and their characters: only for an article with quotations
        # Mentions: predicted sources, then PER/ORG entities that no source overlaps. All of them name
        # the sources (a cluster's fullest form is often an entity mention no quotation points to); the
        # speaker candidates are the sources only unless the config says otherwise, because that is
        # what training shows the scorer when the quotation data has no entity layer.
        sources_tok = names(sources_tok)
        mentions = list(sources_tok)
        source_ends = [m.end for m in sources_tok]  # decoded spans are disjoint and sorted: ends ascend
        for sp in entities_tok:
            j = bisect.bisect_right(source_ends, sp.start)  # the first source ending after sp starts
            if sp.label in SPEAKER_LABELS and not (j < len(sources_tok) and sources_tok[j].start < sp.end):
                mentions.append(sp)
        mentions.sort(key=lambda m: m.start)
        source_set = {id(m) for m in sources_tok}
        with_entities = cfg.attribution_candidates == "sources+entities"
        cand_ids = [i for i, m in enumerate(mentions) if with_entities or id(m) in source_set]
        m_chars = [chars_of[id(m)] for m in mentions]
    cue_score = {(c.start, c.end): c.score for c in cues_tok}
    q_tokens = [(q.start, q.end, *(c if c else (-1, -1))) for q, c in zip(quotes_tok, cue_of)]
    choice: list[int | None] = [None] * len(quotes_tok)
    choice_p: list[float | None] = [None] * len(quotes_tok)
    if quotes_tok and cand_ids:
        m_tokens = [(mentions[i].start, mentions[i].end) for i in cand_ids]
        cands, cand_t, feat_t = pair_tensors(q_tokens, m_tokens, tok.sentence)  # (Q, C), (Q, C, N_FEATURES)
        scores = _attribution_scores(
            model,
            (states() if callable(states) else states).to(dtype=next(model.parameters()).dtype),
            long_tensor(q_tokens, 4),
            long_tensor(m_tokens, 2),
            cand_t,
            feat_t,
        )  # (Q, 1 + C), column 0 = none
        best = scores.argmax(-1)  # (Q,) the chosen column
        best_p = scores.softmax(-1).gather(1, best.unsqueeze(1)).squeeze(1)  # (Q,) its probability
        for qi, (k, p) in enumerate(zip(best.tolist(), best_p.tolist())):
            if k > 0:
                choice[qi], choice_p[qi] = cand_ids[cands[qi][k - 1]], p

    # speaker names cluster all the article's mentions: only worth it when a quotation has a speaker
    names = speaker_names([(s, text[s:e]) for s, e in m_chars], text) if any(c is not None for c in choice) else []
    quotes = []
    for qi, (sp, cue) in enumerate(zip(quotes_tok, cue_of)):
        s, e = clean_quote(text, *char_span(tok, sp), sp.label)
        cue_span = Span(*trim_word(text, tok, cue), score=cue_score[cue]) if cue else None
        m = choice[qi]
        speaker = Span(*m_chars[m], score=choice_p[qi]) if m is not None else None
        name = (names[m] or display_name(text[slice(*m_chars[m])])) if m is not None else None
        quotes.append(Quote(s, e, sp.label, cue_span, speaker, name, sp.score))
    return Article(art_id, text, entities, quotes)


def _attribution_scores(model: Any, states: torch.Tensor, quote_spans: torch.Tensor, mention_spans: torch.Tensor,
                        cand: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
    """``model.attribution(...)`` as float32 ``(Q, 1 + C)``, in one call on packed rows.

    The scorer pads every quotation to the widest one's candidates (Q x C pairs); one quotation
    with many mentions inside it would make the whole article pay for its width. So each
    quotation's candidates are cut into rows of ``width`` columns (a quotation repeated on as many
    rows as it needs), scored at once, and put back in place: the same scores (each pair's score
    depends only on its quotation and mention), the same padding value where there is no candidate."""
    device = states.device
    n_q, n_c = cand.shape
    counts = (cand >= 0).sum(-1)  # (Q,) candidates per quotation (a prefix of each row)
    width = _row_width(counts, n_c)
    if width >= n_c:  # nothing to gain: the scorer's own layout
        return model.attribution(states, quote_spans.to(device), mention_spans.to(device), cand.to(device),
                                 feat.to(device)).float()
    rows_per_q = ((counts + width - 1) // width).clamp(min=1)  # (Q,)
    row_q = torch.repeat_interleave(torch.arange(n_q), rows_per_q)  # (R,) the quotation of each row
    first_row = torch.cumsum(rows_per_q, 0) - rows_per_q  # (Q,)
    row_k = torch.arange(row_q.numel()) - first_row[row_q]  # (R,) the row's rank within its quotation
    col = row_k.unsqueeze(1) * width + torch.arange(width).unsqueeze(0)  # (R, width) original column
    valid = col < n_c
    col = col.clamp(max=n_c - 1)
    packed_cand = cand[row_q.unsqueeze(1), col].masked_fill(~valid, -1)  # (R, width)
    packed_feat = feat[row_q.unsqueeze(1), col].masked_fill(~valid.unsqueeze(-1), 0)  # (R, width, N_FEATURES)
    out = model.attribution(states, quote_spans[row_q].to(device), mention_spans.to(device),
                            packed_cand.to(device), packed_feat.to(device)).cpu()  # (R, 1 + width)
    full = torch.full((n_q, 1 + n_c), NEG, dtype=out.dtype)  # the scorer's padding, in its dtype
    full[:, 0] = out[first_row, 0]  # "none": the same on every row of a quotation
    full[row_q.unsqueeze(1).expand_as(col)[valid], 1 + col[valid]] = out[:, 1:][valid]
    return full.float()


def _row_width(counts: torch.Tensor, n_c: int) -> int:
    """The row width with the least scorer work: padded pairs plus a quotation row's own cost
    (about 8 pairs' worth: its projections and its "none" score)."""
    if counts.numel() == 0 or n_c <= 16:
        return n_c
    options = torch.arange(8, n_c + 1)  # (K,)
    rows = ((counts.unsqueeze(1) + options - 1) // options).clamp(min=1)  # (Q, K)
    cost = (rows * (options + 8)).sum(0)  # (K,)
    return int(options[int(cost.argmin())])


def trim_word(text: str, tok: TokenizedArticle, span: tuple[int, int]) -> tuple[int, int]:
    s, e = tok.spans[span[0]][0], max(map(operator.itemgetter(1), tok.spans[span[0] : span[1]]))
    return s, e
