"""Inference fast paths give what the plain paths give: the unpacked BiLSTM, the bf16/int8 set-ups."""

from __future__ import annotations

import torch

from khabar.model.heads import ContextLSTM, reverse_rows


def test_reverse_rows_reverses_within_each_length():
    x = torch.arange(12).view(2, 6, 1)
    out = reverse_rows(x, torch.tensor([6, 3])).squeeze(-1)
    assert out.tolist() == [[5, 4, 3, 2, 1, 0], [8, 7, 6, 9, 10, 11]]


def test_unpacked_bilstm_equals_the_packed_one():
    torch.manual_seed(0)
    ctx = ContextLSTM(16, 0.1).eval()
    x = torch.randn(4, 9, 16)  # (batch, seq, hidden)
    mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4, [1] + [0] * 8, [1] * 8 + [0]])
    with torch.no_grad():
        fast = ctx(x, mask)  # the inference path
        full = ctx(x, torch.ones_like(mask))  # no padding: plain flips
    with torch.enable_grad():
        packed = ctx(x, mask).detach()  # the training path
        packed_full = ctx(x, torch.ones_like(mask)).detach()
    torch.testing.assert_close(fast, packed, atol=1e-6, rtol=1e-5)  # padded steps included (= x there)
    torch.testing.assert_close(full, packed_full, atol=1e-6, rtol=1e-5)


def test_int8_engine_is_onednn_on_amx_cpus(monkeypatch):
    import khabar.quantize as q

    if "onednn" not in torch.backends.quantized.supported_engines:
        return
    monkeypatch.setattr(q, "cpu_flags", lambda: {"avx512f", "amx_int8", "amx_tile"})
    assert q.int8_engine() == "onednn"
    monkeypatch.setattr(q, "cpu_flags", lambda: {"avx512f", "avx2"})
    assert q.int8_engine() in ("x86", "fbgemm")


def test_bf16_model_with_context_lstm_predicts():
    from model_helpers import load_articles, tiny_model, tiny_tokenizer

    from khabar.quantize import to_bf16

    tok = tiny_tokenizer()
    model = tiny_model(tok, context_lstm=True).eval()
    texts = [a.text for a in load_articles()[:2]]
    with torch.inference_mode():
        ref = model.predict(texts, tok, batch_size=2)
        to_bf16(model)
        assert next(model.parameters()).dtype == torch.bfloat16
        got = model.predict(texts, tok, batch_size=2)
    for a, b, text in zip(ref, got, texts):
        assert b.text == a.text
        for e in b.entities:
            assert 0 <= e.start < e.end <= len(text)


def test_int8_schemes_and_rest_dtypes():
    """int8 Linear layers, dynamic or weight-only, with the rest of the model in float32 or in bf16:
    all predict, and their encoder states stay close to the float32 model's (quantised from the
    float32 weights either way); "auto" picks weight-only exactly when the rest is bf16."""
    import copy

    from model_helpers import load_articles, tiny_model, tiny_tokenizer
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from khabar.quantize import Int8Linear, WeightOnlyInt8Linear, bf16_supported, quantize_int8

    tok = tiny_tokenizer()
    model = tiny_model(tok, context_lstm=True).eval()
    texts = [a.text for a in load_articles()[:2]]
    ids = torch.tensor([[tok.cls_token_id] + tok(texts[0], add_special_tokens=False)["input_ids"][:20] + [tok.sep_token_id]])
    mask = torch.ones_like(ids)
    rests = ["float32"] + (["bf16"] if bf16_supported(torch.device("cpu")) else [])
    with torch.inference_mode():
        ref = model.encode(ids, mask)  # (1, seq, hidden)
        for rest in rests:
            for scheme in ("dynamic", "weight_only", "auto"):
                q = quantize_int8(copy.deepcopy(model), rest=rest, scheme=scheme)
                assert q.khabar_rest_dtype == rest
                picked = {"auto": "weight_only" if rest == "bf16" else "dynamic"}.get(scheme, scheme)
                assert q.khabar_int8_scheme == picked
                assert not any(type(m) is torch.nn.Linear for m in q.modules())
                dtype = torch.bfloat16 if rest == "bf16" else torch.float32
                if picked == "weight_only":
                    layers = [m for m in q.modules() if isinstance(m, WeightOnlyInt8Linear)]
                    assert layers and all(m.qweight.dtype == torch.int8 and m.scale.dtype == torch.float32 for m in layers)
                    assert all(m.bias is None or m.bias.dtype == dtype for m in layers)
                else:
                    wrapped = [m for m in q.modules() if isinstance(m, Int8Linear)]
                    assert bool(wrapped) == (rest == "bf16")
                    assert any(isinstance(m, DynamicLinear) for m in q.modules())
                assert q.encoder.embeddings.word_embeddings.weight.dtype == dtype
                h = q.encode(ids, mask)
                assert h.dtype == dtype
                cos = torch.nn.functional.cosine_similarity(h.float()[0], ref[0], dim=-1)  # (seq,)
                assert float(cos.mean()) > 0.98, (rest, scheme)
                for a, text in zip(q.predict(texts, tok, batch_size=2), texts):
                    assert a.text == text
                    assert all(0 <= e.start < e.end <= len(text) for e in a.entities)
    with __import__("pytest").raises(ValueError, match="rest="):
        quantize_int8(copy.deepcopy(model), rest="fp16")
    with __import__("pytest").raises(ValueError, match="scheme="):
        quantize_int8(copy.deepcopy(model), scheme="static")


def test_weight_only_int8_linear_rounds_each_weight_to_its_row_scale():
    from khabar.quantize import WeightOnlyInt8Linear

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48)
    with torch.no_grad():
        lin.weight[3] = 0.0  # an all-zero row: scale stays positive, weights stay zero
        lin.weight[5] *= 100.0  # rows of very different magnitudes keep their own scales
    q = WeightOnlyInt8Linear(lin)
    w = lin.weight.detach()
    deq = q.dequantized(torch.float32)
    assert q.qweight.abs().max() <= 127 and int(q.qweight[5].abs().max()) == 127
    assert bool((deq[3] == 0).all())
    assert bool(((deq - w).abs() <= q.scale.unsqueeze(1) / 2 + 1e-7).all())
    x = torch.randn(10, 64)
    with torch.no_grad():
        want = lin(x)  # (10, 48)
        torch.testing.assert_close(q(x), want, atol=0.05 * float(want.abs().max()), rtol=0.0)
        assert q(x.bfloat16()).dtype == torch.bfloat16


def test_bootstrap_cover_index_equals_the_scans():
    import random

    from khabar.bootstrap.pipeline import _Cover

    class C:
        def __init__(self, start, end):
            self.start, self.end = start, end

    rng = random.Random(0)
    for _ in range(200):
        cands = [C(s, s + rng.randint(0, 6)) for s in (rng.randint(0, 30) for _ in range(rng.randint(0, 8)))]
        cover = _Cover(cands)
        for x in range(-1, 38):
            for c in cands + [C(0, 0)]:
                assert cover.covers(x, c) == any(o is not c and o.start <= x < o.end for o in cands)
            for end in range(x, 40):
                assert cover.overlaps(x, end) == any(o.start < end and x < o.end for o in cands)


def test_bf16_not_fast_on_avx512_without_bf16_instructions(monkeypatch):
    """oneDNN's bf16 check passes any AVX-512 CPU (Skylake/Cascade Lake: bf16 emulated, slower than
    float32); bf16_supported must ask for AVX512-BF16 or AMX, so that quantize_int8's "auto" keeps
    the float32 rest there (and quantize="bf16" is refused there, as documented)."""
    import platform

    from model_helpers import tiny_model, tiny_tokenizer

    from khabar.quantize import bf16_supported, quantize_int8

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert not bf16_supported(torch.device("cpu"))
    q = quantize_int8(tiny_model(tiny_tokenizer()).eval())
    assert q.khabar_rest_dtype == "float32"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert bf16_supported(torch.device("cpu"))
