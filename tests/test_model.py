"""KhabarConfig / KhabarModel: shapes, masked multi-task losses, save/load without remote code, card."""

import json

import pytest
import torch
import yaml
from transformers import AutoConfig, AutoModel, BertConfig, BertModel

from khabar.model import KhabarConfig, KhabarModel, KhabarOutput
from khabar.model.features import ArticleEncoder, collate
from model_helpers import load_articles, tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return tiny_model(tok)


def _batch(model, tok, articles):
    enc = ArticleEncoder.from_config(tok, model.config)
    return collate([enc.encode(a) for a in articles])


def test_config_validates_windows_and_weights():
    with pytest.raises(ValueError, match="max_position_embeddings"):
        KhabarConfig(encoder={"model_type": "bert", "max_position_embeddings": 128}, max_length=256)
    with pytest.raises(ValueError, match="window_overlap"):
        KhabarConfig(encoder={"model_type": "bert"}, max_length=64, window_overlap=40)
    with pytest.raises(ValueError, match="unknown task"):
        KhabarConfig(loss_weights={"ner": 1.0})
    cfg = KhabarConfig(encoder=BertConfig(hidden_size=32).to_dict(), loss_weights={"attribution": 2})
    assert cfg.loss_weights["attribution"] == 2.0 and cfg.loss_weights["entity"] == 1.0
    assert cfg.encoder_config.hidden_size == 32
    assert cfg.entity_tags[:3] == ["O", "B-PER", "I-PER"] and len(cfg.quote_tags) == 7


def test_forward_shapes_and_backward(model, tok):
    batch = _batch(model, tok, load_articles())
    model.train()
    out = model(**batch)
    assert isinstance(out, KhabarOutput)
    b, s = batch["input_ids"].shape
    assert out.entity_logits.shape == (b, s, 9)
    assert out.quote_logits.shape == (b, s, 7)
    assert out.cue_logits.shape == out.source_logits.shape == (b, s, 3)
    q, c = batch["attr_candidates"].shape
    assert out.attribution_logits.shape == (q, 1 + c)
    for name in ("entity", "quote", "cue", "source", "attribution"):
        assert torch.isfinite(getattr(out, f"{name}_loss")), name
    out.loss.backward()
    assert model.attribution.bilinear.weight.grad is not None
    assert model.encoder.embeddings.word_embeddings.weight.grad is not None
    model.zero_grad()


def test_ner_only_batch_has_no_quote_losses(model, tok):
    ner_only = [a for a in load_articles() if a.quotes is None]
    out = model(**_batch(model, tok, ner_only))
    assert out.entity_loss is not None
    assert out.quote_loss is None and out.cue_loss is None and out.source_loss is None
    assert out.attribution_loss is None
    assert torch.allclose(out.loss, out.entity_loss)


def test_quote_only_batch_has_no_entity_loss(model, tok):
    quotes_only = [a for a in load_articles() if a.entities is None]
    out = model(**_batch(model, tok, quotes_only))
    assert out.entity_loss is None and out.quote_loss is not None and out.attribution_loss is not None
    weights = model.config.loss_weights
    expected = sum(weights[k] * getattr(out, f"{k}_loss") for k in ("quote", "cue", "source", "attribution"))
    assert torch.allclose(out.loss, expected)


def test_loss_weights_scale_the_total(tok):
    m = tiny_model(tok, loss_weights={"entity": 0.0, "quote": 2.0, "cue": 0.0, "source": 0.0, "attribution": 0.0})
    m.eval()
    out = m(**_batch(m, tok, load_articles()[:1]))
    assert torch.allclose(out.loss, 2.0 * out.quote_loss)


def test_save_then_automodel_gives_identical_predictions(model, tok, tmp_path):
    texts = [a.text for a in load_articles()]
    before = [a.to_dict() for a in model.predict(texts, tok, batch_size=3)]
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert "model.safetensors" in files and "config.json" in files and "README.md" in files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "khabar"
    assert type(AutoConfig.from_pretrained(tmp_path)) is KhabarConfig
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is KhabarModel
    after = [a.to_dict() for a in loaded.predict(texts, tok, batch_size=5)]
    assert after == before


def test_model_card_has_yaml_metadata_and_training_section(tok, tmp_path):
    m = tiny_model(tok)
    m.config.training_summary = {"epochs": 3, "learning_rate": 5e-5, "datasets": ["anercorp-camel"]}
    m.config.card = {"datasets": ["anercorp-camel", "quotes-silver"]}
    m.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["language"] == ["ar"] and meta["library_name"] == "khabar"
    assert "khabar" in meta["tags"] and meta["datasets"] == ["anercorp-camel", "quotes-silver"]
    assert meta["metrics"]
    assert "## Training" in card and "learning_rate" in card


def test_from_encoder_loads_pretrained_weights_from_a_local_path(tok, tmp_path):
    torch.manual_seed(1)
    enc = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False)
    enc.save_pretrained(tmp_path)
    m = KhabarModel.from_encoder(str(tmp_path), window_overlap=8)
    assert m.config.max_length == 64
    assert torch.equal(m.encoder.embeddings.word_embeddings.weight, enc.embeddings.word_embeddings.weight)
    assert torch.equal(m.encoder.encoder.layer[0].attention.self.query.weight, enc.encoder.layer[0].attention.self.query.weight)


def test_from_encoder_keeps_the_first_layers_when_asked(tok, tmp_path):
    from khabar.model.modeling import EncoderLayersError

    torch.manual_seed(2)
    enc = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False)
    enc.save_pretrained(tmp_path)
    m = KhabarModel.from_encoder(str(tmp_path), encoder_layers=2, window_overlap=8)
    assert m.config.encoder_config.num_hidden_layers == 2 and len(m.encoder.encoder.layer) == 2
    for i in range(2):
        assert torch.equal(m.encoder.encoder.layer[i].output.dense.weight, enc.encoder.layer[i].output.dense.weight)
    assert torch.equal(m.encoder.embeddings.word_embeddings.weight, enc.embeddings.word_embeddings.weight)
    for bad in (0, 4):
        with pytest.raises(EncoderLayersError, match="pass 1 to 3"):
            KhabarModel.from_encoder(str(tmp_path), encoder_layers=bad, window_overlap=8)
    with pytest.raises(EncoderLayersError, match="num_hidden_layers in its config"):
        KhabarModel.from_encoder(enc.config, encoder_layers=2, window_overlap=8)


def test_predict_offsets_index_the_text_as_given(model, tok):
    text = "وَقَالَ الرئيـــسُ #ماكرون: «سنعمل معاً»\n\nوأضاف أن «الوضع» صعب."
    [pred] = model.predict([text], tok)
    assert pred.text == text
    for e in pred.entities:
        assert 0 <= e.start < e.end <= len(text) and e.score is not None
        assert text[e.start] not in "\"«»“” " and text[e.end - 1] not in "\"«»“” "
    for q in pred.quotes:
        assert 0 <= q.start < q.end <= len(text) and q.score is not None
    assert model.predict([], tok) == []
    [empty] = model.predict([""], tok)
    assert empty.entities == [] and empty.quotes == []


def test_gradient_checkpointing_and_bf16_autocast(tok):
    m = tiny_model(tok)
    m.activation_checkpointing_enable()
    m.train()
    batch = _batch(m, tok, load_articles())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(**batch)
    assert torch.isfinite(out.loss) and out.attribution_loss is not None
    out.loss.backward()
    assert m.attribution.quote.weight.grad is not None
