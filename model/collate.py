"""The data collator: window features -> padded tensors, plus article-level attribution tensors.

Windows of one article must be in one batch for attribution (``collate`` accepts a list of
articles, each a list of windows, and flattens it); an article whose windows are split across
batches still trains its token heads, only its attribution loss is skipped.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from khabar.model.windows import best_window

IGNORE = -100

LABEL_KEYS = ("entity_labels", "quote_labels", "cue_labels", "source_labels")


def collate(features: Sequence[dict[str, Any]] | Sequence[Sequence[dict[str, Any]]]) -> dict[str, torch.Tensor]:
    """Pad window features into a batch. Accepts a flat list of windows or a list of articles
    (each a list of windows). Attribution tensors are built for every article whose windows are
    ALL in the batch (group windows by article, e.g. one dataset item per article)."""
    if features and isinstance(features[0], (list, tuple)):
        features = [f for art in features for f in art]  # type: ignore[union-attr]
    feats: list[dict[str, Any]] = list(features)  # type: ignore[arg-type]
    width = max(len(f["input_ids"]) for f in feats)
    batch: dict[str, torch.Tensor] = {}

    def pad(key: str, value: int) -> torch.Tensor:
        return torch.tensor([f[key] + [value] * (width - len(f[key])) for f in feats], dtype=torch.long)

    batch["input_ids"] = pad("input_ids", 0)  # pad id is irrelevant under a zero attention mask
    batch["attention_mask"] = pad("attention_mask", 0)
    n_lex = sum("lexical_ids" in f for f in feats)
    if 0 < n_lex < len(feats):  # dropping them would surface later as a misleading 'pass lexical_ids'
        raise ValueError(f"collate: {n_lex} of {len(feats)} windows carry lexical_ids: the windows come from "
                         "ArticleEncoders with and without lexical_features; encode them all with "
                         "ArticleEncoder.from_config(tokenizer, model.config)")
    if n_lex:
        k = len(feats[0]["lexical_ids"][0])
        batch["lexical_ids"] = torch.tensor(  # (batch, seq, n_attrs), row 0 (zero) on padding
            [f["lexical_ids"] + [[0] * k] * (width - len(f["lexical_ids"])) for f in feats], dtype=torch.long)
    for key in LABEL_KEYS:
        if all(key in f for f in feats):
            batch[key] = pad(key, IGNORE)
    if any("attribution" in f for f in feats):
        batch.update(attribution_batch(feats, width))
    return batch


def attribution_batch(feats: list[dict[str, Any]], width: int) -> dict[str, torch.Tensor]:
    """Article-level attribution inputs gathered over the windows of complete articles.

    ``attr_token_gather`` (T,): for every token of those articles, its flat position in the
    (batch * seq) hidden states of the window where it is most central; all other span tensors
    index into those T gathered tokens.
    """
    from khabar.model.attribution import build_pairs

    by_key: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row, f in enumerate(feats):
        if "attribution" in f:
            by_key.setdefault(f["article_key"], []).append((row, f))
    gather: list[int] = []
    quotes, mentions, cands, pfeats, targets, exact = [], [], [], [], [], []
    for rows in by_key.values():
        rows.sort(key=lambda rf: rf[1]["window_index"])
        if len(rows) != rows[0][1]["num_windows"]:
            continue  # windows split across batches: no article-level view, no attribution loss
        att = rows[0][1]["attribution"]
        if not att["quotes"]:
            continue
        windows = [f["window_span"] for _, f in rows]
        n = windows[-1][1]
        offset = len(gather)
        for w, pos in best_window(windows, n):
            gather.append(rows[w][0] * width + pos + 1)  # +1: [CLS]
        m_base = len(mentions)
        mentions += [(a + offset, b + offset) for a, b in att["mentions"]]
        c, pf = build_pairs(att["quotes"], att["mentions"], att["sentence"])
        for qi, row in enumerate(c):
            gold = set(att["targets"][qi])
            if gold and not gold & set(row):
                continue  # its speaker is out of the candidates' reach: no target to learn
            a, b, cs, ce = att["quotes"][qi]
            quotes.append((a + offset, b + offset, cs + offset if cs >= 0 else -1, ce + offset if ce >= 0 else -1))
            cands.append([m + m_base for m in row])
            pfeats.append(pf[qi])
            targets.append([m in gold for m in row])
            own = att["exact"][qi]
            exact.append(row.index(own) if own in row else -1)
    return _pack(gather, quotes, mentions, cands, pfeats, targets, exact)


def _pack(gather, quotes, mentions, cands, pfeats, targets, exact) -> dict[str, torch.Tensor]:
    from khabar.model.attribution import pad_pairs

    cand, feat = pad_pairs(cands, pfeats)
    tgt = torch.zeros(cand.shape, dtype=torch.bool)
    for i, t in enumerate(targets):
        if t:
            tgt[i, : len(t)] = torch.tensor(t)
    return {
        "attr_token_gather": torch.tensor(gather, dtype=torch.long),  # (T,)
        "attr_quote_spans": torch.tensor(quotes, dtype=torch.long).view(-1, 4),  # (Q, 4) content s,e, cue s,e
        "attr_mention_spans": torch.tensor(mentions, dtype=torch.long).view(-1, 2),  # (M, 2)
        "attr_candidates": cand,  # (Q, C) mention index, -1 = padding
        "attr_features": feat,  # (Q, C, N_FEATURES)
        "attr_targets": tgt,  # (Q, C) correct candidates; none of them = "none" is correct
        "attr_exact": torch.tensor(exact, dtype=torch.long),  # (Q,) candidate column of the gold mention, -1 none
    }
