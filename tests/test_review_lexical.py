"""Review fixes around the lexical word features: frozen tables after a reload, vectors narrower
than a frozen table, negative source skip/limit."""

from __future__ import annotations

import pytest
import torch
import yaml

from model_helpers import load_articles, tiny_model, tiny_tokenizer

from khabar.model import KhabarModel
from khabar.model.features import ArticleEncoder, collate

SMALL = {"norm": [512, 8], "stem": [256, 4], "shape": [32, 2]}


def test_frozen_table_stays_frozen_after_from_pretrained(tmp_path):
    torch.set_num_threads(1)
    tok = tiny_tokenizer()
    model = tiny_model(tok, lexical_features=SMALL, lexical_frozen={"norm": 6})
    model.save_pretrained(tmp_path)
    again = KhabarModel.from_pretrained(tmp_path)
    again.train()
    assert not again.lexical.frozen["norm"].weight.requires_grad  # the Trainer's optimiser skips it
    again.lexical.frozen["norm"].weight.requires_grad_(True)  # even so, no gradient reaches it
    enc = ArticleEncoder.from_config(tok, again.config)
    batch = collate([w for a in load_articles()[:2] for w in enc.encode(a, with_labels=True)])
    again(**batch).loss.backward()
    assert again.lexical.frozen["norm"].weight.grad is None
    assert again.lexical.tables["norm"].weight.grad is not None


def test_vectors_narrower_than_a_frozen_table_are_refused(tmp_path):
    from safetensors.torch import save_file

    from khabar.training.command import load_lexical_vectors
    from khabar.training.config import ConfigError

    tok = tiny_tokenizer()
    model = tiny_model(tok, lexical_features=SMALL, lexical_frozen={"norm": 12})  # trainable 8, frozen 12
    vec = torch.randn(512, 10)
    vec[0] = 0
    save_file({"norm": vec}, str(tmp_path / "vectors.safetensors"))
    with pytest.raises(ConfigError, match="frozen"):
        load_lexical_vectors(model, str(tmp_path), "cfg.yaml")


@pytest.mark.parametrize("source", [{"skip": -5}, {"limit": -1}])
def test_negative_skip_or_limit_is_an_error(tmp_path, source):
    from khabar.training.config import ConfigError, load_config

    cfg = {"output_dir": str(tmp_path / "run"),
           "model": {"encoder_config": {"hidden_size": 32}, "tokenizer": str(tmp_path / "tok")},
           "data": {"sources": [{"kind": "conll", "path": "x.txt", "split": "train", **source}]},
           "training": {"batch_size": 2, "load_best_model_at_end": False}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    with pytest.raises(ConfigError, match="must be >= 0"):
        load_config(path, check_files=False)


def test_collate_refuses_windows_with_and_without_lexical_ids():
    tok = tiny_tokenizer()
    art = load_articles()[0]
    with_lex = ArticleEncoder(tok, 64, 16, lexical_features=SMALL).encode(art)
    without = ArticleEncoder(tok, 64, 16).encode(art)
    assert collate(with_lex)["lexical_ids"].shape[-1] == 3
    assert "lexical_ids" not in collate(without)
    with pytest.raises(ValueError, match="lexical_features"):
        collate(with_lex + without)


def test_predict_edge_articles_with_lexical_features():
    """Empty, blank, punctuation-only and one-word articles beside a long one, windows of a few
    tokens, batches of 2: every article comes back, in order, with offsets inside its text."""
    torch.set_num_threads(1)
    tok = tiny_tokenizer()
    model = tiny_model(tok, context_lstm=True, lexical_features=SMALL, lexical_frozen=["stem"],
                       lexical_word_dropout=0.5, entity_merge_adjacent=True, max_length=16, overlap=4)
    texts = ["", " ", "«» ، . !", "قال", load_articles()[0].text, "،"]
    for order in (texts, texts[::-1]):
        out = model.predict(order, tok, batch_size=2)
        assert [a.text for a in out] == order
        for a in out:
            assert all(0 <= e.start < e.end <= len(a.text) for e in a.entities)


def test_merge_adjacent_never_joins_across_a_line_or_sentence():
    from khabar.model.decoding import TokenSpan, merge_adjacent

    tok = tiny_tokenizer()
    for text in ("القاهرة\n\nالعراق يعلن", "القاهرة\nالعراق يعلن"):
        t = ArticleEncoder(tok, 64, 16).tokenize(text)
        words = [(a, b) for a, b, _, _ in t.words]
        spans = [TokenSpan(words[0][0], words[0][1], "LOC", 0.9), TokenSpan(words[1][0], words[1][1], "LOC", 0.9)]
        assert len(merge_adjacent(t, spans)) == 2, text
    t = ArticleEncoder(tok, 64, 16).tokenize("قال كوفي أنان")
    words = [(a, b) for a, b, _, _ in t.words]
    spans = [TokenSpan(words[1][0], words[1][1], "PER", 0.9), TokenSpan(words[2][0], words[2][1], "PER", 0.9)]
    assert len(merge_adjacent(t, spans)) == 1  # a name split in two on one line still joins
