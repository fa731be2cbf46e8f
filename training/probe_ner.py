"""A quick downstream signal for a pretrained encoder: token classification on CoNLL-style NER.

Fine-tunes ``BertForTokenClassification`` on a two-column CoNLL file (``token TAG`` per line, a
blank line between sentences; ANERcorp's CAMeL split is the intended one) and reports the
span-level micro F1 on the test file with seqeval's semantics (``khabar.evaluation.scoring``).
Deliberately small and independent of the full ``khabar train`` pipeline, so pretraining recipes
can be compared while the rest of the model is being written::

    python -m khabar.training.probe_ner --encoder runs/pretrain-compact/encoder \\
        --train ../shared/data/anercorp-camel/ANERCorp_CamelLab_train.txt \\
        --test ../shared/data/anercorp-camel/ANERCorp_CamelLab_test.txt --epochs 4

``--random`` keeps the encoder's config and tokenizer but re-initialises every weight (the
"no pretraining" baseline).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            if len(parts) < 2:
                raise ValueError(f"{path}:{line_no}: expected 'token TAG', got {line.strip()!r}")
            words.append(parts[0])
            tags.append(parts[-1].replace("PERS", "PER").replace("MIS", "MISC").replace("MISCC", "MISC"))
    if words:
        sentences.append((words, tags))
    return sentences


def encode(sentences, tokenizer, labels: dict[str, int], max_len: int, normalise) -> list[dict]:
    """Sub-token ids per sentence; a sentence longer than ``max_len`` is split at word boundaries."""
    out = []
    for words, tags in sentences:
        pieces = []
        for word, tag in zip(words, tags):
            ids = tokenizer(normalise(word) or tokenizer.unk_token, add_special_tokens=False)["input_ids"] or [tokenizer.unk_token_id]
            pieces.append((ids, labels[tag]))
        chunk: list[tuple[list[int], int]] = []
        n = 0
        for item in pieces + [None]:
            ids, lab = item if item is not None else (None, None)
            if ids is None or n + len(ids) > max_len - 2:
                if chunk:
                    input_ids = [tokenizer.cls_token_id]
                    label_ids = [-100]
                    first = []
                    for c_ids, c_lab in chunk:
                        first.append(len(input_ids))
                        input_ids += c_ids
                        label_ids += [c_lab] + [-100] * (len(c_ids) - 1)
                    input_ids.append(tokenizer.sep_token_id)
                    label_ids.append(-100)
                    out.append({"input_ids": input_ids, "labels": label_ids, "n_words": len(chunk)})
                chunk, n = [], 0
                if ids is None:
                    break
            chunk.append((ids[: max_len - 2], lab))
            n += len(ids[: max_len - 2])
    return out


def batches(features, batch_size: int, pad_id: int, rng=None):
    order = np.arange(len(features)) if rng is None else rng.permutation(len(features))
    for i in range(0, len(order), batch_size):
        group = [features[j] for j in order[i:i + batch_size]]
        width = max(len(f["input_ids"]) for f in group)
        ids = torch.full((len(group), width), pad_id)
        lab = torch.full((len(group), width), -100)
        att = torch.zeros((len(group), width), dtype=torch.long)
        for r, f in enumerate(group):
            n = len(f["input_ids"])
            ids[r, :n] = torch.tensor(f["input_ids"])
            lab[r, :n] = torch.tensor(f["labels"])
            att[r, :n] = 1
        yield ids, att, lab


def main(argv: list[str] | None = None) -> dict:
    from transformers import AutoConfig, AutoTokenizer, BertForTokenClassification

    from khabar.evaluation.scoring import score_bio

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random", action="store_true", help="re-initialise the encoder (baseline)")
    ap.add_argument("--no-normalise", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N sentences only (the test set stays whole)")
    ap.add_argument("--out", default=None, help="append the result as a JSON line to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.no_normalise:
        def normalise(t):
            return t
    else:
        from khabar.training.tokenizer import default_normalise as normalise

    train, test = read_conll(args.train), read_conll(args.test)
    if args.limit:
        train = train[:args.limit]
    tags = sorted({t for _, ts in train + test for t in ts}, key=lambda t: (t != "O", t[2:], t))
    labels = {t: i for i, t in enumerate(tags)}
    tokenizer = AutoTokenizer.from_pretrained(args.encoder)
    kw = dict(num_labels=len(labels), id2label={i: t for t, i in labels.items()}, label2id=labels)
    if args.random:
        model = BertForTokenClassification(AutoConfig.from_pretrained(args.encoder, **kw))
    else:
        model = BertForTokenClassification.from_pretrained(args.encoder, **kw)
    train_f = encode(train, tokenizer, labels, args.max_len, normalise)
    test_f = encode(test, tokenizer, labels, args.max_len, normalise)
    steps = args.epochs * math.ceil(len(train_f) / args.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, (steps - s) / steps))
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        for ids, att, lab in batches(train_f, args.batch_size, tokenizer.pad_token_id, rng):
            loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        print(f"epoch {epoch + 1}: last loss {float(loss.detach()):.3f}, {time.time() - t0:.0f}s", flush=True)
    model.eval()
    refs, hyps = [], []
    with torch.no_grad():
        for ids, att, lab in batches(test_f, 64, tokenizer.pad_token_id):
            pred = model(input_ids=ids, attention_mask=att).logits.argmax(-1)
            for p_row, l_row in zip(pred, lab):
                keep = l_row != -100
                refs.append([tags[i] for i in l_row[keep].tolist()])
                hyps.append([tags[i] for i in p_row[keep].tolist()])
    scores = score_bio(refs, hyps)
    micro = scores.get("micro", scores)
    result = {"encoder": args.encoder, "random": args.random, "epochs": args.epochs, "lr": args.lr,
              "train_sentences": len(train),
              "micro_f1": round(float(micro.get("f1", float("nan"))), 4), "seconds": round(time.time() - t0)}
    print(json.dumps(result), flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(result) + "\n")
    return result


if __name__ == "__main__":
    main()
