"""KhabarConfig(lexical_features=...): hashed word-level embeddings beside the encoder's states."""

from __future__ import annotations

import pytest
import torch

from model_helpers import load_articles, tiny_model, tiny_tokenizer

from khabar.model import KhabarConfig, KhabarModel
from khabar.model.features import ArticleEncoder, collate
from khabar.model.lexical import LexicalHasher, bucket, normalise_word, shape, stem

SMALL = {"norm": [512, 8], "stem": [256, 4], "shape": [32, 2]}


def test_word_forms():
    assert normalise_word("أحمد") == "احمد"
    assert normalise_word("الرئاسةُ") == "الرياسه"
    assert normalise_word("٢٠٢٤") == "2024"
    assert stem(normalise_word("والعراق")) == "عراق"
    assert stem(normalise_word("بالعراق")) == "عراق"
    assert stem("لبنان") == "لبنان"  # a lone proclitic letter is not stripped: names begin with them
    assert stem("بغداد") == "بغداد"
    assert stem(normalise_word("للأمم")) == "امم"
    assert stem("وطارق") == "طارق" and stem("وبغداد") == "بغداد" and stem("ولد") == "ولد"
    assert shape("Reuters") == "L7+cap"
    assert shape("«") == "p1"


def test_buckets_are_stable_and_never_row_zero():
    # crc32, not Python's salted hash: the same row in every process, so saved tables stay valid
    assert bucket("norm", "عراق", 512) == bucket("norm", "عراق", 512)
    assert bucket("norm", "عراق", 512) != bucket("stem", "عراق", 512)
    rows = {bucket("norm", str(i), 16) for i in range(500)}
    assert rows == set(range(1, 16))
    from khabar.model.lexical import lexical_spec

    h = LexicalHasher(lexical_spec(SMALL))
    assert h.attrs == ["norm", "shape", "stem"]  # sorted, as config.json stores them
    assert h("والعراق")[2] == h("العراق")[2] == h("عراق")[2]  # same stem row
    assert h("والعراق")[0] != h("العراق")[0]


def test_shape_is_the_same_in_every_process():
    # two kinds of character in equal numbers: the first seen wins, whatever the hash seed (a
    # set's order did it before, so one word's features, and the model's output, varied by process)
    import subprocess
    import sys
    from pathlib import Path

    import khabar.model.lexical as lexical

    words = ["أ-", "-أ", "A1", "1A", "ب5", "5ب", "ab12", "12ab"]
    assert [shape(w) for w in words] == ["a2+mix", "p2+mix", "L2+cap+mix", "d2+mix", "a2+mix", "d2+mix", "L4+mix", "d4+mix"]
    # the module alone (no torch import needed for shape), under two hash seeds
    code = (
        "import importlib.util, sys, types; sys.modules['torch'] = types.ModuleType('torch'); "
        "m = types.ModuleType('torch.nn'); m.Module = object; sys.modules['torch.nn'] = m; sys.modules['torch'].nn = m; "
        f"s = importlib.util.spec_from_file_location('lex', {str(Path(lexical.__file__))!r}); lex = importlib.util.module_from_spec(s); "
        f"s.loader.exec_module(lex); print([lex.shape(w) for w in {words!r}])"
    )
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1


def test_config_validation():
    assert KhabarConfig(lexical_features=True).lexical_features["norm"] == [65536, 16]
    assert KhabarConfig().lexical_features is None
    with pytest.raises(ValueError, match="unknown attribute"):
        KhabarConfig(lexical_features={"lemma": [10, 2]})
    with pytest.raises(ValueError, match="rows >= 2"):
        KhabarConfig(lexical_features={"norm": [1, 2]})
    with pytest.raises(ValueError, match=r"\['norm'\]"):
        KhabarConfig(lexical_features=True, lexical_frozen="norm")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        KhabarConfig(lexical_features=True, lexical_word_dropout=1.5)


def test_every_subword_of_a_word_gets_its_words_rows():
    tok = tiny_tokenizer()
    enc = ArticleEncoder(tok, 64, 16, lexical_features=SMALL)
    art = load_articles()[0]
    t = enc.tokenize(art.text)
    assert t.lexical is not None and len(t.lexical) == len(t)
    for i in range(len(t)):
        a, b = t.word_span(i)
        cs, ce = t.words[t.word_of[i]][2:]
        assert t.lexical[i] == enc.lexical(art.text[cs:ce])
    feats = enc.encode(art)
    batch = collate(feats)
    assert batch["lexical_ids"].shape == (*batch["input_ids"].shape, 3)  # (batch, seq, n_attrs)
    assert int(batch["lexical_ids"][:, 0].abs().sum()) == 0  # [CLS] reads row 0


def test_model_needs_the_ids_trains_saves_reloads_and_predicts(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_model(tok, context_lstm=True, lexical_features=SMALL, max_length=64, overlap=16)
    enc = ArticleEncoder.from_config(tok, model.config)
    batch = collate([w for a in load_articles() for w in enc.encode(a, with_labels=True)])
    with pytest.raises(ValueError, match="lexical_ids"):
        model.encode(batch["input_ids"], batch["attention_mask"])
    out = model(**batch)
    out.loss.backward()
    assert model.lexical.tables["norm"].weight.grad is not None
    assert float(model.lexical.tables["norm"].weight.grad[0].abs().sum()) == 0.0  # padding row stays zero
    model.save_pretrained(tmp_path)
    again = KhabarModel.from_pretrained(tmp_path).eval()
    model.eval()
    with torch.no_grad():
        a = model.encode(batch["input_ids"], batch["attention_mask"], lexical_ids=batch["lexical_ids"])
        b = again.encode(batch["input_ids"], batch["attention_mask"], lexical_ids=batch["lexical_ids"])
    torch.testing.assert_close(a, b)
    texts = [x.text for x in load_articles()[:3]]
    for art, text in zip(again.predict(texts, tok), texts):
        for e in art.entities:
            assert e.text == text[e.start:e.end] if hasattr(e, "text") else 0 <= e.start < e.end <= len(text)


def test_frozen_tables_keep_their_vectors_and_word_dropout_spares_them():
    tok = tiny_tokenizer()
    model = tiny_model(tok, context_lstm=True, lexical_features=SMALL, lexical_frozen={"norm": 6},
                       lexical_word_dropout=1.0, max_length=64, overlap=16)
    lex = model.lexical
    assert lex.frozen["norm"].weight.shape == (512, 6) and not lex.frozen["norm"].weight.requires_grad
    assert lex.proj.in_features == 8 + 4 + 2 + 6
    before = lex.frozen["norm"].weight.clone()
    enc = ArticleEncoder.from_config(tok, model.config)
    batch = collate([w for a in load_articles() for w in enc.encode(a, with_labels=True)])
    model.train()
    model(**batch).loss.backward()
    # word dropout 1.0 blanks every trainable row but the shape class: no gradient reaches them
    assert float(lex.tables["norm"].weight.grad.abs().sum()) == 0.0
    assert float(lex.tables["shape"].weight.grad.abs().sum()) > 0.0
    assert lex.frozen["norm"].weight.grad is None
    torch.testing.assert_close(lex.frozen["norm"].weight, before)
    with pytest.raises(ValueError, match="not among"):
        tiny_model(tok, lexical_features=SMALL, lexical_frozen=["prefix"])


def test_vectors_fit_a_narrower_table():
    from khabar.training.lexical_vectors import fit_width

    g = torch.Generator().manual_seed(0)
    v = torch.randn(50, 8, generator=g) @ torch.diag(torch.tensor([5.0, 3, 1, 0.1, 0.1, 0.1, 0.1, 0.1]))
    v[0] = 0
    y = fit_width(v, 3)
    assert y.shape == (50, 3) and float(y[0].abs().sum()) == 0.0
    # the three strong directions are kept: distances between rows barely change
    d_full, d_cut = torch.cdist(v[1:], v[1:]), torch.cdist(y[1:], y[1:])
    ratio = (d_cut / d_full.clamp(min=1e-6))[d_full > 1]
    assert float(ratio.std() / ratio.mean()) < 0.1
    assert fit_width(v, 8) is v


def test_merge_adjacent_joins_a_split_name_but_not_two_names_joined_by_wa():
    from khabar.model.decoding import TokenSpan, merge_adjacent

    tok = tiny_tokenizer()
    enc = ArticleEncoder(tok, 64, 16)
    t = enc.tokenize("قال كوفي أنان إن لبنان وإسرائيل اتفقتا")
    words = [(a, b) for a, b, _, _ in t.words]

    def span(i, label, score=0.9):
        return TokenSpan(words[i][0], words[i][1], label, score)

    merged = merge_adjacent(t, [span(1, "PER", 0.8), span(2, "PER", 0.6), span(4, "LOC"), span(5, "LOC")])
    assert [(m.start, m.end, m.label) for m in merged] == [
        (words[1][0], words[2][1], "PER"), (words[4][0], words[4][1], "LOC"), (words[5][0], words[5][1], "LOC")]
    assert abs(merged[0].score - 0.7) < 1e-9
    # different labels, or a word between: untouched
    assert len(merge_adjacent(t, [span(1, "PER"), span(2, "LOC")])) == 2
    assert len(merge_adjacent(t, [span(1, "PER"), span(3, "PER")])) == 2
