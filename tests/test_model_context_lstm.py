"""KhabarConfig(context_lstm=True): a residual BiLSTM between the encoder and every head."""

from __future__ import annotations

import torch

from model_helpers import load_articles, tiny_model, tiny_tokenizer

from khabar.model import KhabarModel
from khabar.model.features import ArticleEncoder, collate


def test_off_by_default_and_on_when_configured():
    tok = tiny_tokenizer()
    assert tiny_model(tok).context is None
    model = tiny_model(tok, context_lstm=True)
    assert model.config.context_lstm is True
    assert isinstance(model.context.lstm, torch.nn.LSTM)


def test_padding_does_not_change_a_windows_states():
    tok = tiny_tokenizer()
    model = tiny_model(tok, context_lstm=True).eval()
    ids = torch.tensor([[2, 40, 41, 42, 43, 3]])
    mask = torch.ones_like(ids)
    padded = torch.cat([ids, torch.zeros((1, 5), dtype=torch.long)], 1)  # (1, 11)
    pmask = torch.cat([mask, torch.zeros((1, 5), dtype=torch.long)], 1)
    with torch.no_grad():
        alone = model.encode(ids, mask)  # (1, 6, hidden)
        batch = model.encode(padded, pmask)  # (1, 11, hidden)
    torch.testing.assert_close(alone, batch[:, :6], atol=1e-5, rtol=1e-4)


def test_trains_saves_and_reloads(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_model(tok, context_lstm=True, max_length=64, overlap=16)
    enc = ArticleEncoder(tok, 64, 16)
    batch = collate([w for a in load_articles() for w in enc.encode(a, with_labels=True)])
    out = model(**batch)
    out.loss.backward()
    assert model.context.lstm.weight_ih_l0.grad is not None
    model.save_pretrained(tmp_path)
    again = KhabarModel.from_pretrained(tmp_path).eval()
    model.eval()
    with torch.no_grad():
        a = model.encode(batch["input_ids"], batch["attention_mask"])
        b = again.encode(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(a, b)
    texts = [a.text for a in load_articles()[:2]]
    arts = again.predict(texts, tok)
    for art, text in zip(arts, texts):
        for e in art.entities:
            assert 0 <= e.start < e.end <= len(text)
