import time

import pytest

from khabar.training.tokenizer import SPECIAL_TOKENS, train_wordpiece

SENTENCES = [
    "قال الرئيس إن الحكومة أقرّت الموازنة الجديدة يوم الأحد.",
    "أعلنت وزارة الخارجية أنّ المفاوضات مستمرة مع الأطراف المعنية.",
    "سُئل المسؤول عن شؤون اللاجئين فقال: «لا توجد مشكلة».",
    "آلاف المتظاهرين خرجوا إلى الشوارع في بيروت والقاهرة، ومسؤولون قالوا إن الوضع هادئ.",
    "ذكرت وكالة الأنباء أن الرئيس سيزور دمشق وأن اللقاء سيتناول قضايا إقليمية.",
    "جاء الطلاب إلى قاعة المؤتمرات يوم 12 آذار 2018 لمناقشة شؤون الجامعة ومسائل أخرى.",
    "وأكد الوزير أن بناء الميناء سيبدأ قريبا بتمويل من البنك الدولي، بحسب وكالة Reuters.",
] * 4

HAMZA_WORDS = ["أقرّت", "إن", "آلاف", "شؤون", "اللاجئين", "الأنباء", "بناء"]


def identity(text: str) -> str:
    return text


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return train_wordpiece(SENTENCES, vocab_size=400, min_frequency=1, normalise=identity,
                           out_dir=tmp_path_factory.mktemp("tok"))


def test_trains_fast_with_special_tokens():
    start = time.perf_counter()
    tok = train_wordpiece(SENTENCES, vocab_size=400, min_frequency=1, normalise=identity)
    assert time.perf_counter() - start < 2.0
    vocab = tok.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.pad_token, tok.unk_token, tok.cls_token, tok.sep_token, tok.mask_token) == SPECIAL_TOKENS[:1] + (
        "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def test_keeps_hamza_and_case(tok):
    # A normaliser that stripped accents would turn أ into ا (NFD splits off U+0654).
    for word in HAMZA_WORDS:
        pieces = tok.tokenize(word)
        assert "".join(p.removeprefix("##") for p in pieces) == word, pieces
    assert "[UNK]" not in tok.tokenize("ء ؤ ئ أ إ آ")
    assert tok.tokenize("Reuters") != tok.tokenize("reuters")


def test_offsets_map_back(tok):
    for sentence in SENTENCES[:7]:
        enc = tok(sentence, return_offsets_mapping=True, add_special_tokens=False)
        pieces = tok.convert_ids_to_tokens(enc["input_ids"])
        for piece, (start, end) in zip(pieces, enc["offset_mapping"]):
            if piece != "[UNK]":
                assert sentence[start:end] == piece.removeprefix("##")


def test_saved_tokenizer_reloads_identically(tok, tmp_path):
    from transformers import AutoTokenizer

    from khabar.training.tokenizer import save_tokenizer

    save_tokenizer(tok, tmp_path)
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()[:5] == list(SPECIAL_TOKENS)
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    for sentence in SENTENCES[:7]:
        assert again(sentence)["input_ids"] == tok(sentence)["input_ids"]
    assert again.backend_tokenizer.normalizer.__getstate__() == tok.backend_tokenizer.normalizer.__getstate__()


def test_default_normalisation_is_the_inference_one():
    normalise = pytest.importorskip("khabar.data.normalise").normalise
    tok = train_wordpiece(SENTENCES, vocab_size=400, min_frequency=1)
    text = SENTENCES[2]
    norm = normalise(text)
    enc = tok(norm.text, return_offsets_mapping=True, add_special_tokens=False)
    for start, end in enc["offset_mapping"]:
        o_start, o_end = norm.to_original(start, end)
        assert 0 <= o_start < o_end <= len(text)
