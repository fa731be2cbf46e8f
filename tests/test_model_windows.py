"""Windows: every token covered, sizes bounded, sentence-aligned when possible, long articles whole."""

from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.model.features import ArticleEncoder
from khabar.model.windows import best_window, make_windows
from model_helpers import load_articles, tiny_model, tiny_tokenizer


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 400),
    st.lists(st.integers(1, 399), max_size=40),
    st.integers(3, 64),
    st.data(),
)
def test_windows_cover_every_token(n, bounds, size, data):
    overlap = data.draw(st.integers(0, size // 2))
    windows = make_windows(n, bounds, size, overlap)
    assert windows[0][0] == 0 and windows[-1][1] == n
    for (s, e), (s2, e2) in zip(windows, windows[1:]):
        assert s < s2 <= e, "windows advance and leave no gap"
        assert e2 > e
    assert all(0 < e - s <= size for s, e in windows)
    best = best_window(windows, n)
    assert len(best) == n
    for t, (w, p) in enumerate(best):
        assert windows[w][0] + p == t


def test_windows_end_at_sentence_boundaries_when_they_fit():
    # sentences of 10 tokens, windows of 25: cut after 20, overlap restarts at a sentence start
    windows = make_windows(60, [10, 20, 30, 40, 50], 25, 12)
    assert windows == [(0, 20), (10, 30), (20, 40), (30, 50), (40, 60)]


def test_a_sentence_longer_than_a_window_is_cut_not_dropped():
    windows = make_windows(100, [90], 30, 5)
    assert windows[0] == (0, 30)
    covered = set()
    for s, e in windows:
        covered.update(range(s, e))
    assert covered == set(range(100))


def test_long_article_ten_windows_every_token_predicted():
    """An article 10x the window length: every token gets a prediction, nothing after the first
    windows is lost, and predicted spans stay inside the text."""
    tok = tiny_tokenizer()
    model = tiny_model(tok, max_length=32, overlap=8)
    text = "\n".join(a.text for a in load_articles()) * 2
    enc = ArticleEncoder.from_config(tok, model.config)
    art = enc.tokenize(text)
    assert len(art) > 10 * 30
    assert len(art.windows) >= 10
    covered = set()
    for s, e in art.windows:
        covered.update(range(s, e))
    assert covered == set(range(len(art)))
    # every non-space character that survives normalisation lies in some token
    in_tokens = set()
    for s, e in art.spans:
        in_tokens.update(range(s, e))
    last_word = text.rstrip(".").split()[-1]
    assert text.rindex(last_word) in in_tokens
    [pred] = model.predict([text], tok, batch_size=4)
    assert pred.text == text
    spans = [(e.start, e.end) for e in pred.entities] + [(q.start, q.end) for q in pred.quotes]
    assert all(0 <= s < e <= len(text) for s, e in spans)
    # a random model tags something everywhere: predictions reach the last sentence
    last_sentence_start = text.rindex("\n")
    assert any(s >= last_sentence_start for s, _ in spans)
