"""The heads on top of the one encoder pass: token taggers, span pooling, the attribution scorer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from khabar.model.attribution import FEATURE_SIZES

IGNORE = -100
NEG = -1e4  # "minus infinity" that stays finite in fp16


class TokenTagger(nn.Module):
    def __init__(self, hidden: int, n_tags: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_tags)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(h))  # (batch, seq, n_tags)


class ContextLSTM(nn.Module):
    """A BiLSTM (hidden/2 per direction) whose output is added to its input; padding never leaks in."""

    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(hidden, hidden // 2, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * (hidden // 2), hidden) if hidden % 2 else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        dtype = h.dtype
        if not torch.is_grad_enabled() and isinstance(self.lstm, nn.LSTM) and attention_mask is not None:
            # inference: the same recurrences without packing (training keeps the packed path)
            x = h.to(self.lstm.weight_ih_l0.dtype)
            lengths = attention_mask.sum(-1).clamp(min=1)  # (batch,)
            out = unpacked_bilstm(self.lstm, x, lengths)  # (batch, seq, 2 * hidden/2): a new tensor
            # zero at padding, as pad_packed_sequence gives (in place: no copy of the whole batch)
            out.masked_fill_((torch.arange(x.size(1), device=x.device) >= lengths.unsqueeze(1)).unsqueeze(-1), 0)
            if self.proj is not None:
                out = self.proj(out)
            return self.dropout(out).add_(x).to(dtype)  # (batch, seq, hidden)
        x = h.to(self.lstm.weight_ih_l0.dtype)  # a bf16/fp16 encoder may feed a float32 LSTM
        if attention_mask is None:
            out, _ = self.lstm(x)
        else:
            # packed by true length, so the backward direction starts at the last real token and
            # a window's output does not depend on how much padding its batch has
            lengths = attention_mask.sum(-1).clamp(min=1).cpu()  # (batch,)
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=h.size(1))
        if self.proj is not None:
            out = self.proj(out)
        return (x + self.dropout(out)).to(dtype)  # (batch, seq, hidden)


def reverse_rows(x: torch.Tensor, lengths: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
    """Each row's first ``lengths[r]`` steps in reverse order, the padding after them left in place.

    ``index``: ``reversal_index(lengths, *x.shape[:2])``, when several tensors of that shape are
    reversed alike."""
    b, s = x.shape[:2]
    if index is None:
        index = reversal_index(lengths.to(x.device), b, s)
    # whole rows picked by one index per step: index_select, not gather (which reads an index per
    # element: 3.5x slower in float32, 9x in bf16 at (16, 250, 256))
    return x.reshape(b * s, *x.shape[2:]).index_select(0, index).view(x.shape)


def reversal_index(lengths: torch.Tensor, batch: int, seq: int) -> torch.Tensor:
    """For (batch, seq) steps flattened: where each step's value comes from in ``reverse_rows``."""
    device = lengths.device
    idx = torch.arange(seq, device=device).unsqueeze(0).expand(batch, seq)  # (batch, seq)
    rev = lengths.unsqueeze(1) - 1 - idx
    rev = torch.where(rev >= 0, rev, idx) + (torch.arange(batch, device=device) * seq).unsqueeze(1)
    return rev.reshape(-1)  # (batch * seq,)


def unpacked_bilstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A one-layer bidirectional batch-first ``lstm`` over right-padded ``x`` (batch, seq, in) that
    gives what packing by ``lengths`` gives on the real steps, without packing.

    Packed sequences run torch's generic step loop on CPU; plain padded batches run the fused
    oneDNN kernel (measured 1.7x faster at 4 windows of ~250 tokens, and it runs in bf16 on AMX).
    Padding comes after the real steps, so the forward direction never sees it; the backward
    direction runs forward over each row reversed within its length. Inference only (the packed
    path is what training uses); outputs at padded steps are not zero: the caller masks them."""
    if lstm.num_layers != 1 or not lstm.bidirectional or not lstm.batch_first:
        raise ValueError("unpacked_bilstm: one bidirectional batch-first layer only")
    size = lstm.hidden_size
    z = x.new_zeros(1, x.size(0), size)
    bias = lstm.bias

    def run(inputs: torch.Tensor, suffix: str) -> torch.Tensor:
        names = ("weight_ih_l0", "weight_hh_l0") + (("bias_ih_l0", "bias_hh_l0") if bias else ())
        params = [getattr(lstm, n + suffix) for n in names]
        # torch.lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
        return torch.lstm(inputs, (z, z), params, bias, 1, 0.0, False, False, True)[0]  # (batch, seq, size)

    full = bool((lengths >= x.size(1)).all())  # no padding: a plain flip reverses every row
    if full:
        flip = lambda t: t.flip(1)  # noqa: E731
    else:
        index = reversal_index(lengths.to(x.device), x.size(0), x.size(1))
        flip = lambda t: reverse_rows(t, lengths, index)  # noqa: E731
    forward = run(x, "")
    backward = flip(run(flip(x), "_reverse"))
    return torch.cat([forward, backward], -1)  # (batch, seq, 2 * size)


def tagging_loss(logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """Mean cross-entropy over the labelled tokens; ``None`` when the batch has none (layer absent)."""
    if labels is None:
        return None
    mask = labels != IGNORE
    if not bool(mask.any()):
        return None
    return F.cross_entropy(logits[mask], labels[mask])  # logits[mask]: (n_labelled, n_tags)


def prefix_sums(states: torch.Tensor) -> torch.Tensor:
    """Running sums of ``states`` (T, H) after a zero row, (T+1, H) float32: the sum over
    ``[s, e)`` is ``csum[e] - csum[s]``."""
    # float32 prefix sums: in fp16 a sum over thousands of tokens would lose the small differences
    x = states.float()
    return torch.cat([x.new_zeros((1, x.size(-1))), x.cumsum(0)])  # (T+1, H)


def span_mean(states: torch.Tensor, spans: torch.Tensor, csum: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``states`` (T, H) over each ``[start, end)`` of ``spans`` (N, 2); zeros where start < 0.

    ``csum``: ``prefix_sums(states)``, when the caller pools several span sets over the same states."""
    if spans.numel() == 0:
        return states.new_zeros((0, states.size(-1)))
    if csum is None:
        csum = prefix_sums(states)  # (T+1, H)
    valid = spans[:, 0] >= 0  # (N,)
    s = spans[:, 0].clamp(min=0)
    e = torch.maximum(spans[:, 1], s + 1).clamp(max=states.size(0))
    mean = (csum[e] - csum[s]) / (e - s).clamp(min=1).unsqueeze(-1).float()  # (N, H)
    return (mean * valid.unsqueeze(-1).float()).to(states.dtype)


class AttributionScorer(nn.Module):
    """Scores (quotation, candidate mention) pairs plus a per-quotation "none" score.

    quotation = [mean(content); mean(cue); has_cue] -> size; mention = [mean(span); first token] -> size;
    score = bilinear(q, m) + v . tanh(Wq q + Wm m + sum of pair-feature embeddings).
    """

    def __init__(self, hidden: int, size: int, feature_size: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.quote = nn.Linear(2 * hidden + 1, size)
        self.mention = nn.Linear(2 * hidden, size)
        # q W m + b, as a Linear then a dot product (nn.Bilinear has no autocast support)
        self.bilinear = nn.Linear(size, size)
        self.features = nn.ModuleList(nn.Embedding(n, feature_size) for n in FEATURE_SIZES)
        self.pair_q = nn.Linear(size, feature_size)
        self.pair_m = nn.Linear(size, feature_size)
        self.pair_out = nn.Linear(feature_size, 1)
        self.none = nn.Linear(size, 1)

    def forward(self, states: torch.Tensor, quote_spans: torch.Tensor, mention_spans: torch.Tensor,
                candidates: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """states (T, H) gathered article tokens; quote_spans (Q, 4); mention_spans (M, 2);
        candidates (Q, C) with -1 padding; features (Q, C, N_FEATURES). Returns (Q, 1 + C):
        column 0 is "none", padded candidates get NEG."""
        states = self.dropout(states)
        csum = prefix_sums(states)  # (T+1, H), once for the three span poolings below
        content = span_mean(states, quote_spans[:, :2], csum)  # (Q, H)
        cue = span_mean(states, quote_spans[:, 2:], csum)  # (Q, H)
        has_cue = (quote_spans[:, 2:3] >= 0).to(states.dtype)  # (Q, 1)
        q = torch.tanh(self.quote(torch.cat([content, cue, has_cue], -1)))  # (Q, size)
        first = states[mention_spans[:, 0].clamp(min=0)] if mention_spans.numel() else states.new_zeros((0, states.size(-1)))
        m = torch.tanh(self.mention(torch.cat([span_mean(states, mention_spans, csum), first], -1)))  # (M, size)
        none = self.none(q)  # (Q, 1)
        n_q, n_c = candidates.shape
        if n_c == 0 or m.size(0) == 0:
            return torch.cat([none, q.new_full((n_q, n_c), NEG)], -1)
        idx = candidates.clamp(min=0)  # (Q, C)
        mc = m[idx]  # (Q, C, size)
        qc = q.unsqueeze(1).expand(-1, n_c, -1)  # (Q, C, size)
        bil = (self.bilinear(q).unsqueeze(1) * mc).sum(-1)  # (Q, C)
        feat = sum(emb(features[..., k]) for k, emb in enumerate(self.features))  # (Q, C, feature_size)
        pair = self.pair_out(torch.tanh(self.pair_q(qc) + self.pair_m(mc) + feat)).squeeze(-1)  # (Q, C)
        scores = (bil + pair).masked_fill(candidates < 0, NEG)
        return torch.cat([none, scores], -1)  # (Q, 1 + C)


def attribution_loss(scores: torch.Tensor, targets: torch.Tensor, exact: torch.Tensor | None = None,
                     exact_weight: float = 0.0) -> torch.Tensor | None:
    """Marginal log-likelihood of the correct candidates (all mentions of the gold speaker's
    source), or of "none" when there is none; mean over quotations. scores (Q, 1+C), targets (Q, C).

    ``exact`` (Q,): the candidate column of the annotated mention (-1: none); with ``exact_weight``
    its own negative log-likelihood is added, so the model also prefers that very mention."""
    if scores.size(0) == 0:
        return None
    scores = scores.float()
    gold = torch.cat([~targets.any(-1, keepdim=True), targets], -1)  # (Q, 1+C)
    log_z = torch.logsumexp(scores, -1)  # (Q,)
    log_gold = torch.logsumexp(scores.masked_fill(~gold, NEG), -1)  # (Q,)
    loss = (log_z - log_gold).mean()
    if exact is not None and exact_weight > 0 and bool((exact >= 0).any()):
        has = exact >= 0  # (Q,)
        own = scores[has].gather(1, (exact[has] + 1).unsqueeze(1)).squeeze(1)  # (Q',)
        loss = loss + exact_weight * (log_z[has] - own).mean()
    return loss
