"""A tiny model over-fitted on the fixtures: the whole pipeline learns, attributes pro-drop quotations
to the earlier mention of their speaker, and still finds things at the end of a 10-window article."""

import time

import pytest
import torch

from khabar.evaluation.scoring import score
from khabar.model.features import ArticleEncoder, collate
from model_helpers import load_articles, tiny_model, tiny_tokenizer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
STEPS = 70




@pytest.fixture(scope="module")
def trained(one_torch_thread):
    tok = tiny_tokenizer()
    model = tiny_model(tok, max_length=32, overlap=8, classifier_dropout=0.0)
    enc = ArticleEncoder.from_config(tok, model.config)
    arts = load_articles()
    batch = collate([enc.encode(a) for a in arts])
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    t0 = time.time()
    for _ in range(STEPS):
        out = model(**batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()
    print(f"trained {STEPS} steps in {time.time() - t0:.1f}s, final loss {out.loss.item():.3f}")
    return model, tok, arts


def _predict(model, tok, arts):
    preds = model.predict([a.text for a in arts], tok, batch_size=4)
    for a, p in zip(arts, preds):
        p.id = a.id
    return preds


def test_overfit_fixture_scores(trained):
    model, tok, arts = trained
    s = score(arts, _predict(model, tok, arts))
    assert s["entities"]["micro"]["f1"] >= 0.9, s["entities"]
    assert s["quotes"]["overlap"]["f1"] >= 0.9, s["quotes"]
    assert s["attribution"]["f1"] >= 0.8, s["attribution"]


def test_pro_drop_quotation_goes_to_the_earlier_mention(trained):
    model, tok, arts = trained
    preds = {p.id: p for p in _predict(model, tok, arts)}
    merkel = preds["model-merkel"]
    tabaa = [q for q in merkel.quotes if merkel.text[q.start : q.end].startswith("أن الأوروبيين")]
    assert tabaa and tabaa[0].speaker_name == "إيمانويل ماكرون"
    dunford = preds["model-dunford"]
    direct = [q for q in dunford.quotes if q.type == "direct"]
    assert direct and direct[0].speaker_name == "جوزيف دانفورد"
    # speaker_name is the fullest form even where the speaker mention is the short one
    qalat = [q for q in merkel.quotes if merkel.text[q.start : q.end].startswith("علينا")]
    assert qalat and merkel.text[qalat[0].speaker.start : qalat[0].speaker.end] == "ميركل"
    assert qalat[0].speaker_name == "أنجيلا ميركل"


def test_long_article_last_sentence_still_found(trained):
    model, tok, arts = trained
    dunford = arts[0]
    text = "\n".join([dunford.text] * 10)
    [pred] = model.predict([text], tok)
    last = text.rindex("طرابلس")
    assert any(e.start == last and e.label == "LOC" for e in pred.entities)
    last_quote = text.rindex("إن الوضع مستقر")
    assert any(q.start == last_quote for q in pred.quotes)
