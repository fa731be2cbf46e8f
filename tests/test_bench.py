"""``khabar bench`` runs and reports its keys on the tiny model (speed itself is never asserted)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from analyzer_helpers import tiny_model_dir  # noqa: E402

from khabar.cli import main  # noqa: E402

VARIANTS = ("pipeline_default", "pipeline_best", "khabar_fp32", "khabar_int8", "forward")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_model_dir(tmp_path_factory))


def _bench_json(capsys, model_dir, articles: int, repeat: int) -> dict:
    rc = main(["bench", "--json", "--model", model_dir, "--articles", str(articles), "--threads", "1",
               "--pipeline-batch-sizes", "2", "--no-isolate", "--repeat", str(repeat)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_bench_json_keys(capsys, model_dir):
    r = _bench_json(capsys, model_dir, articles=3, repeat=2)
    for key in ("ratio_fp32", "ratio_int8", "ratio_bf16", "overhead", "overhead_vs_forward_process", "ratio_fp32_vs_best", "articles", "tokens", "load_average"):
        assert key in r
    assert r["articles"] == 3 and r["tokens"] > 0
    assert set(r["variants"]) - {"khabar_bf16"} == set(VARIANTS)  # bf16 where the CPU has bf16 instructions
    assert r["rounds"] == 2 and r["warmup_rounds"] == 1 and len(r["tokens_per_round"]) == 2
    for v in r["variants"].values():
        assert v["seconds"] > 0 and v["articles_per_s"] > 0 and v["tokens_per_s"] > 0
        assert "peak_rss_delta_mb" in v and "peak_rss_mb" in v
        assert len(v["seconds_per_round"]) == 2  # the warm-up round is not among them
    assert set(r["variants"]["pipeline_best"]["tried"]) == {"1", "2"}
    assert r["ratio_fp32"] == pytest.approx(  # per token: the two best rounds may have read two sets
        r["variants"]["khabar_fp32"]["tokens_per_s"] / r["variants"]["pipeline_default"]["tokens_per_s"], rel=1e-2)


def test_one_variant_in_its_own_process(model_dir):
    from khabar.bench import _run_isolated, load_texts

    texts, _ = load_texts(2, None)
    r = _run_isolated({"variant": "forward", "model": model_dir, "texts": texts, "batch_size": 8,
                       "device": "cpu", "threads": 1, "stride": 16})
    assert r["seconds"] > 0 and r["peak_rss_mb"] > 0


def test_scaling_reports_the_ratio(capsys, model_dir):
    rc = main(["bench", "--scaling", "--json", "--model", model_dir, "--words", "300", "--threads", "1", "--repeat", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    r = json.loads(out)
    assert r["words_10x"] >= 10 * 300 and r["scaling_ratio"] > 0
    assert r["forward_ratio"] > 0 and "overhead_1x" in r and "overhead_10x" in r


def test_token_classifier_shares_the_weights(model_dir):
    import torch
    from transformers import AutoModel

    import khabar.model  # noqa: F401
    from khabar.bench import token_classifier

    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    tc = token_classifier(model)
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        ours = model(input_ids=ids, attention_mask=mask).entity_logits
        theirs = tc(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_forward_batches_carry_lexical_ids_like_predict():
    """A model with lexical word features: the bench's forward pass gets the same lexical rows as
    ``predict`` builds (encode would refuse the batch without them)."""
    from model_helpers import tiny_model, tiny_tokenizer

    from khabar.bench import encode_batches, forward_batches
    from khabar.model.features import ArticleEncoder

    tok = tiny_tokenizer()
    model = tiny_model(tok, lexical_features={"norm": [64, 4], "shape": [16, 2]}, context_lstm=True).eval()
    texts = ['قال الرئيس: "سنواصل العمل".', "وأعلنت الأمم المتحدة في جنيف عن اجتماع جديد لمجلس الأمن الدولي."]
    batches = forward_batches(model, tok, texts, 2)
    encode_batches(model, batches)
    enc = ArticleEncoder.from_config(tok, model.config)
    windows = {}  # token ids of each window -> its lexical rows, as predict slices them
    for text in texts:
        t = enc.tokenize(text)
        for s, e in t.windows:
            windows[tuple(t.input_ids[s:e])] = t.lexical[s:e]
    rows = 0
    for ids, mask, lex in batches:
        assert lex is not None and lex.shape[:2] == ids.shape
        for r in range(ids.size(0)):
            n = int(mask[r].sum()) - 2
            assert lex[r, 1 : n + 1].tolist() == windows[tuple(ids[r, 1 : n + 1].tolist())]
            assert not lex[r, 0].any() and not lex[r, n + 1 :].any()  # [CLS], [SEP], padding: row 0
            rows += 1
    assert rows == len(windows)


def test_overhead_is_paired_with_the_forward_pass_in_the_same_process(capsys, model_dir):
    r = _bench_json(capsys, model_dir, articles=2, repeat=1)
    k = r["variants"]["khabar_fp32"]
    assert k["paired_forward_seconds"] > 0
    assert r["overhead"] == pytest.approx(k["seconds"] / k["paired_forward_seconds"] - 1, rel=0.05, abs=0.01)  # rounded seconds


def test_round_sets_are_disjoint_equal_sized_and_balanced():
    from khabar.bench import round_sets

    texts = [f"مقال {i} " + "كلمة " * (1 + (i * 37) % 90) for i in range(50)]
    sets = round_sets(texts, 4)
    assert [len(s) for s in sets] == [12] * 4  # 50 // 4 each; the two left over are not read
    seen = [t for s in sets for t in s]
    assert len(set(seen)) == len(seen) == 48 and set(seen) <= set(texts[:48])
    for s in sets:  # each set keeps the texts' order
        assert [texts.index(t) for t in s] == sorted(texts.index(t) for t in s)
    chars = [sum(map(len, s)) for s in sets]
    assert max(chars) - min(chars) <= max(map(len, texts))  # snake order: within one text's length
