"""The Analyzer API on a tiny random model: offsets, schema, edge cases, long articles, int8."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from analyzer_helpers import MARKER, SEED_TEXT, tiny_model_dir  # noqa: E402

from khabar import Analyzer  # noqa: E402
from khabar.analyzer import ModelNotFoundError, default_model_path  # noqa: E402



pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def analyzer(model_dir):
    return Analyzer.from_pretrained(model_dir)


def all_spans(result):
    for e in result["entities"]:
        yield e
    for q in result["quotes"]:
        yield q
        for key in ("cue", "speaker"):
            if q[key] is not None:
                yield q[key]


def check_result(result, text):
    assert set(result) == {"id", "text", "entities", "quotes"}
    assert result["text"] == text
    for e in result["entities"]:
        assert e["label"] in ("PER", "ORG", "LOC", "MISC")
    for q in result["quotes"]:
        assert q["type"] in ("direct", "indirect", "mixed")
        assert set(q) >= {"cue", "speaker", "speaker_name", "score", "text"}
    for span in all_spans(result):
        assert 0 <= span["start"] < span["end"] <= len(text)
        assert span["text"] == text[span["start"] : span["end"]]
        assert isinstance(span["score"], float) and 0.0 <= span["score"] <= 1.0


def test_seed_article_offsets_and_schema(analyzer):
    text = SEED_TEXT.read_text(encoding="utf-8")
    result = analyzer(text, id="seed")
    check_result(result, text)
    assert result["id"] == "seed"
    assert result["entities"] and result["quotes"], "the tiny model is built to find a few spans in the seed"


@pytest.mark.parametrize("text", ["", "   \n\t  ", "Only Latin text, no Arabic at all: Reuters 2024.", "\u200f\u200e", MARKER])
def test_edge_texts_give_valid_results(analyzer, text):
    result = analyzer(text)
    check_result(result, text)
    if not text.strip():
        assert result["entities"] == [] and result["quotes"] == []


def test_pipe_keeps_order_across_groups(model_dir):
    analyzer = Analyzer.from_pretrained(model_dir, group_articles=2)
    seed = SEED_TEXT.read_text(encoding="utf-8")
    items = [seed[:900], {"id": "b", "text": ""}, {"id": "c", "text": seed}, "قال الرئيس إن الوضع صعب.", {"text": seed[500:]}]
    results = list(analyzer.pipe(items, batch_size=3))
    assert [r["id"] for r in results] == ["0", "b", "c", "3", "4"]
    texts = [i if isinstance(i, str) else i["text"] for i in items]
    for r, t in zip(results, texts):
        check_result(r, t)
    # batching with other articles must not change what is found in one
    alone = analyzer(seed)
    assert [(e["start"], e["end"], e["label"]) for e in results[2]["entities"]] == [
        (e["start"], e["end"], e["label"]) for e in alone["entities"]
    ]


def test_pipe_rejects_bad_items(analyzer):
    with pytest.raises(TypeError, match="'text' must be a string"):
        list(analyzer.pipe([{"id": "x"}]))


def test_no_default_model_message():
    try:
        default_model_path()
    except ModelNotFoundError:
        pass
    else:
        pytest.skip("a default model is bundled in this installation")
    with pytest.raises(ModelNotFoundError, match="no default model is bundled in this installation yet; pass a path"):
        Analyzer.from_pretrained()


def test_missing_model_folder(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a model directory"):
        Analyzer.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        Analyzer.from_pretrained(tmp_path)
    # a bare name is tried as a Hub id (offline here): the error says both, no Hub traceback
    with pytest.raises(ModelNotFoundError, match="nothere: no such folder here, and no model of that id could be loaded"):
        Analyzer.from_pretrained("nothere")


def locations_everywhere(model_dir) -> Analyzer:
    """The tiny model with every word tagged B-LOC and no quotation, cue or source.

    Entities then show which text the windows covered; and with no quotations and no PER/ORG
    mentions, the article-level attribution (quadratic in quotations x mentions) stays out of the
    way of long-article tests.
    """
    analyzer = Analyzer.from_pretrained(model_dir)
    model = analyzer.model
    b_loc = list(model.config.entity_labels).index("LOC") * 2 + 1
    with torch.no_grad():
        for name in ("entity", "quote", "cue", "source"):
            out = getattr(model, f"{name}_head").out
            out.weight.zero_()
            out.bias.fill_(-10.0)
            out.bias[b_loc if name == "entity" else 0] = 10.0
    return analyzer


def test_20000_word_article_is_read_to_the_end(model_dir):
    """Nothing truncated: the last paragraph reaches the encoder and gets predictions."""
    from khabar.bench import long_text

    analyzer = locations_everywhere(model_dir)
    body = long_text(20_000)
    last = f"وفي الختام قال المتحدث {MARKER} إن الاجتماع انتهى."
    text = body + "\n\n" + last
    assert len(text.split()) >= 20_000
    seen: list[torch.Tensor] = []
    embeddings = analyzer.model.encoder.get_input_embeddings()
    hook = embeddings.register_forward_hook(lambda m, inp, out: seen.append(inp[0].flatten()))
    try:
        result = analyzer(text)
    finally:
        hook.remove()
    marker_id = analyzer.tokenizer.convert_tokens_to_ids(MARKER)
    assert marker_id != analyzer.tokenizer.unk_token_id
    assert bool((torch.cat(seen) == marker_id).any()), "the last paragraph never reached the encoder"
    start_last = len(body) + 2
    tail = [e for e in result["entities"] if e["start"] >= start_last]
    assert {e["text"] for e in tail} >= {"الختام", MARKER, "انتهى"}
    assert result["entities"][-1]["end"] >= len(text) - len("انتهى.")
    # one entity per word from the first to the last: no window was skipped
    assert len(result["entities"]) >= 0.95 * len(text.split())
    check_result(result, text)


def test_one_megabyte_article(model_dir):
    from khabar.bench import long_text

    analyzer = locations_everywhere(model_dir)
    text = long_text(20_000)
    text = "\n\n".join([text] * (1_000_000 // len(text.encode("utf-8")) + 1))
    assert len(text.encode("utf-8")) >= 1_000_000
    result = analyzer(text)
    assert result["text"] == text
    assert result["entities"][-1]["end"] >= len(text) - 10
    for span in all_spans(result):
        assert span["text"] == text[span["start"] : span["end"]]


def test_int8_predicts_close_to_fp32(model_dir):
    from khabar.model.features import ArticleEncoder, collate
    from khabar.data.article import Article
    from khabar.quantize import is_quantized

    fp32 = Analyzer.from_pretrained(model_dir)
    int8 = Analyzer.from_pretrained(model_dir, quantize="int8")
    assert is_quantized(int8.model) and int8.quantized == "int8"
    assert not any(type(m) is torch.nn.Linear for m in int8.model.modules())
    text = SEED_TEXT.read_text(encoding="utf-8")
    check_result(int8(text), text)

    feats = ArticleEncoder.from_config(fp32.tokenizer, fp32.model.config).encode(Article("s", text), with_labels=False)
    batch = collate(feats)
    with torch.inference_mode():
        h32 = fp32.model.encode(batch["input_ids"], batch["attention_mask"])  # (batch, seq, hidden)
        h8 = int8.model.encode(batch["input_ids"], batch["attention_mask"])
    mask = batch["attention_mask"].bool()
    cos = torch.nn.functional.cosine_similarity(h32[mask], h8[mask], dim=-1)  # (tokens,)
    assert float(cos.mean()) > 0.99 and float(cos.min()) > 0.9
    with torch.inference_mode():
        t32 = fp32.model.entity_head(h32).argmax(-1)[mask]
        t8 = int8.model.entity_head(h8).argmax(-1)[mask]
    assert float((t32 == t8).float().mean()) > 0.9


def test_bf16_fast_path(model_dir):
    from khabar.quantize import bf16_supported

    if not bf16_supported(torch.device("cpu")):
        with pytest.raises(ValueError, match="no fast bfloat16"):
            Analyzer.from_pretrained(model_dir, device="cpu", quantize="bf16")
        return
    bf16 = Analyzer.from_pretrained(model_dir, device="cpu", quantize="bf16")
    text = SEED_TEXT.read_text(encoding="utf-8")
    check_result(bf16(text), text)


def test_unknown_fast_path(model_dir):
    with pytest.raises(ValueError, match="the fast paths are"):
        Analyzer.from_pretrained(model_dir, quantize="int4")


def test_int8_refuses_gpu(model_dir):
    with pytest.raises(ValueError, match="CPU only"):
        Analyzer.from_pretrained(model_dir, device="cuda", quantize="int8")
