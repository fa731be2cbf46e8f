"""Rules + model quotations (KhabarConfig.hybrid_rule_confidence, khabar.model.hybrid)."""

from __future__ import annotations

from model_helpers import tiny_model, tiny_tokenizer

from khabar.data.article import Quote, Span
from khabar.model.hybrid import RuleQuotes, merge_quotes

TEXT = 'وقال وزير الخارجية أحمد علي إن "الوضع صعب جدا". وأكد المتحدث أن المفاوضات مستمرة.'


def q(start: int, end: int, score: float, name: str = "x") -> Quote:
    return Quote(start, end, "indirect", cue=Span(0, 1), speaker=None, speaker_name=name, score=score)


def test_merge_keeps_confident_rules_and_non_overlapping_model_quotes():
    rules = [q(10, 20, 0.9, "rule-a"), q(40, 50, 0.3, "rule-weak")]
    model = [q(15, 25, 0.99, "model-overlaps-a"), q(30, 38, 0.8, "model-new"), q(42, 48, 0.7, "model-weak-rule-spot"),
             q(60, 70, 0.2, "model-unsure")]
    merged = merge_quotes(model, rules, rule_confidence=0.5, model_score=0.5)
    assert [m.speaker_name for m in merged] == ["rule-a", "model-new", "model-weak-rule-spot"]
    # a threshold above every rule score: the model alone (above its own threshold)
    assert [m.speaker_name for m in merge_quotes(model, rules, 1.1, 0.0)] == [m.speaker_name for m in model]


def test_off_by_default():
    tok = tiny_tokenizer()
    model = tiny_model(tok)
    assert model.config.hybrid_rule_confidence is None
    assert RuleQuotes.from_config(model.config) is None


def test_predict_in_hybrid_mode_returns_the_rules_quotations(tmp_path):
    from khabar.bootstrap import Bootstrapper
    from khabar.model import KhabarModel

    tok = tiny_tokenizer()
    model = tiny_model(tok, hybrid_rule_confidence=0.5)
    model.save_pretrained(tmp_path)  # the mode travels with the model
    again = KhabarModel.from_pretrained(tmp_path)
    assert again.config.hybrid_rule_confidence == 0.5
    article = again.predict([TEXT], tok)[0]
    expected = [x for x in Bootstrapper()(TEXT).quotes if x.score >= 0.5]
    assert expected, "the rules find the quotation of this text"
    for rule in expected:
        assert any((p.start, p.end, p.speaker_name) == (rule.start, rule.end, rule.speaker_name) for p in article.quotes)
    for p in article.quotes:
        assert 0 <= p.start < p.end <= len(TEXT)


def test_hybrid_predict_drops_unsure_model_quotations_before_attribution_with_the_same_result():
    """KhabarModel.predict in hybrid mode leaves out the model's quotations below hybrid_model_score
    before attributing them (merge_quotes would drop them anyway): the same articles as attributing
    every quotation and merging afterwards, whichever model quotations survive."""
    import torch

    from model_helpers import load_articles

    from khabar.model.inference import predict

    tok = tiny_tokenizer()
    model = tiny_model(tok, hybrid_rule_confidence=1.1).eval()  # above every rule score: model quotations only
    texts = [TEXT] + [a.text for a in load_articles()[:3]]
    with torch.inference_mode():
        every = predict(model, texts, tok, batch_size=2)
    scores = sorted(q.score for a in every for q in a.quotes)
    assert scores, "the tiny model should predict some quotations"
    for threshold in (0.0, scores[len(scores) // 2], scores[-1] + 1e-6):
        model.config.hybrid_model_score = threshold
        rules = RuleQuotes.from_config(model.config)
        with torch.inference_mode():
            expected = [rules(a) for a in predict(model, texts, tok, batch_size=2)]
            got = model.predict(texts, tok, batch_size=2)
        assert got == expected
        assert all(q.score >= threshold for a in got for q in a.quotes)
