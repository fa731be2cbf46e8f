import json

import numpy as np
import pytest
import torch

from khabar.training.masking import CONTINUATION, SPECIAL, WORD_START, whole_word_mask, word_index
from khabar.training.pretrain_config import PretrainConfigError, config_from_dict, load_config

SENTENCES = [
    "قال الرئيس إن الحكومة أقرّت الموازنة الجديدة يوم الأحد.",
    "أعلنت وزارة الخارجية أنّ المفاوضات مستمرة مع الأطراف المعنية.",
    "سئل المسؤول عن شؤون اللاجئين فقال: «لا توجد مشكلة».",
    "آلاف المتظاهرين خرجوا إلى الشوارع في بيروت والقاهرة، ومسؤولون قالوا إن الوضع هادئ.",
    "ذكرت وكالة الأنباء أن الرئيس سيزور دمشق وأن اللقاء سيتناول قضايا إقليمية.",
    "جاء الطلاب إلى قاعة المؤتمرات لمناقشة شؤون الجامعة ومسائل أخرى.",
    "وأكد الوزير أن بناء الميناء سيبدأ قريبا بتمويل من البنك الدولي.",
    "وأضاف المتحدث باسم الجيش أن القوات انسحبت من المدينة بعد اتفاق لوقف إطلاق النار.",
]


def _articles(n: int = 40) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"id": str(i), "title": SENTENCES[i % len(SENTENCES)],
             "text": " ".join(SENTENCES[j] for j in rng.permutation(len(SENTENCES)))} for i in range(n)]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "news-00.jsonl"
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in _articles()), encoding="utf-8")
    # WordPiece training breaks frequency ties in hash order, so two trainings may differ; a run
    # trains its tokenizer once and caches it. The runs compared here share one tokenizer.
    from khabar.training.tokenizer import train_wordpiece

    texts = [a["title"] + "\n" + a["text"] for a in _articles()]
    train_wordpiece(texts, vocab_size=300, min_frequency=1, normalise=identity, out_dir=tmp_path / "tok")
    return path


def tiny_config(corpus, run_dir, **objective) -> "PretrainConfig":  # noqa: F821
    return config_from_dict({
        "run_dir": str(run_dir),
        "seed": 3,
        "data": {"files": [str(corpus)], "max_len": 32, "valid_sequences": 4},
        "tokenizer": {"vocab_size": 300, "min_frequency": 1, "path": str(corpus.parent / "tok")},
        "model": {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
                  "max_position_embeddings": 64},
        "objective": {"random_position_offset_prob": 0.5, **objective},
        "word_vectors": {"enabled": True, "window": 2, "negatives": 2},
        "optim": {"batch_size": 4, "warmup_steps": 2, "total_steps": 6},
        "runtime": {"threads": 1, "log_every": 2, "eval_every": 3, "checkpoint_minutes": 100},
    })


def identity(text: str) -> str:
    return text


# ---- whole-word masking ---------------------------------------------------------------------------

def _random_flags(rng, batch=64, seq=128):
    flags = np.where(rng.random((batch, seq)) < 0.6, WORD_START, CONTINUATION).astype(np.uint8)
    flags[:, 0] = flags[:, -1] = SPECIAL
    flags[rng.random((batch, seq)) < 0.01] = SPECIAL  # article separators inside a sequence
    return flags


def test_whole_words_are_masked_together_and_specials_never():
    rng = np.random.default_rng(1)
    flags = _random_flags(rng)
    ids = rng.integers(5, 1000, size=flags.shape)
    out = whole_word_mask(ids, flags, np.random.default_rng(2), vocab_size=1000, mask_token_id=4)
    words = word_index(flags)
    assert not out.mask[flags == SPECIAL].any()
    for w in np.unique(words[flags != SPECIAL]):
        assert len(set(out.mask[words == w].tolist())) == 1  # all pieces of a word share the decision
    assert np.array_equal(out.targets, ids[out.mask])
    rate = out.mask.sum() / (flags != SPECIAL).sum()
    assert 0.12 < rate < 0.18
    replaced = out.input_ids[out.mask]
    assert 0.75 < (replaced == 4).mean() < 0.85
    assert np.array_equal(out.input_ids[~out.mask], ids[~out.mask])


def test_word_index_starts_a_word_after_a_special_token():
    flags = np.array([[SPECIAL, CONTINUATION, CONTINUATION, WORD_START, CONTINUATION, SPECIAL]], dtype=np.uint8)
    assert word_index(flags).tolist() == [[0, 1, 1, 2, 2, 3]]


def test_at_least_one_token_is_masked():
    flags = np.array([[SPECIAL, WORD_START, SPECIAL]], dtype=np.uint8)
    out = whole_word_mask(np.array([[2, 7, 3]]), flags, np.random.default_rng(0), vocab_size=10, mask_token_id=4,
                          mask_prob=1e-9)
    assert out.mask.tolist() == [[False, True, False]]


# ---- masked-only loss -------------------------------------------------------------------------------

def test_masked_only_loss_equals_full_head_loss_on_masked_positions():
    from transformers import BertConfig, BertForMaskedLM

    from khabar.training.pretrain import masked_lm_loss

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32, max_position_embeddings=32)).eval()
    ids = torch.randint(5, 50, (3, 12))
    mask = torch.rand(3, 12) < 0.3
    mask[0, 1] = True
    targets = torch.randint(5, 50, (int(mask.sum()),))
    loss, logits = masked_lm_loss(model, ids, mask, targets)
    labels = torch.full_like(ids, -100)
    labels[mask] = targets
    full = model(input_ids=ids, labels=labels)
    assert torch.allclose(loss, full.loss, atol=1e-6)
    assert torch.allclose(logits, full.logits[mask], atol=1e-5)


# ---- config -----------------------------------------------------------------------------------------

def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  learnin_rate: 0.1\n", encoding="utf-8")
    with pytest.raises(PretrainConfigError, match=r"bad.yaml: optim.learnin_rate: unknown key; did you mean 'learning_rate'"):
        load_config(bad)
    bad.write_text("objective:\n  kind: bert\n", encoding="utf-8")
    with pytest.raises(PretrainConfigError, match="objective.kind"):
        load_config(bad)


def test_shipped_config_is_valid():
    from conftest import REPO

    cfg = load_config(REPO / "configs" / "pretrain-compact.yaml")
    assert cfg.model.max_position_embeddings >= 512 and cfg.optim.betas == (0.9, 0.98)


# ---- a tiny run: kill, resume, same weights; export loads -------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlm", "electra"])
def test_resumed_run_matches_uninterrupted_run(corpus, tmp_path, kind):
    from safetensors.torch import load_file

    from khabar.training.pretrain import Pretrainer

    straight = Pretrainer(tiny_config(corpus, tmp_path / "a", kind=kind), normalise=identity, echo=False).run()
    assert straight["step"] == 6
    first = Pretrainer(tiny_config(corpus, tmp_path / "b", kind=kind), normalise=identity, echo=False).run(max_steps=4)
    assert first["step"] == 4 and first["reason"] == "max_steps reached"
    with pytest.raises(PretrainConfigError, match="--resume"):
        Pretrainer(tiny_config(corpus, tmp_path / "b", kind=kind), normalise=identity, echo=False).run()
    # A fresh process-like start: new objects, everything read back from disk.
    resumed = Pretrainer(tiny_config(corpus, tmp_path / "b", kind=kind), normalise=identity, echo=False).run(resume=True)
    assert resumed["step"] == 6
    a = load_file(str(tmp_path / "a" / "checkpoint" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = (tmp_path / "b" / "train.log").read_text(encoding="utf-8")
    assert "resumed at step 4" in log and "tokens_per_s" in log


@pytest.mark.slow
def test_exported_encoder_loads_like_a_hub_bert(corpus, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from khabar.training.pretrain import Pretrainer

    result = Pretrainer(tiny_config(corpus, tmp_path / "run"), normalise=identity, echo=False).run(max_steps=2)
    enc_dir = tmp_path / "run" / "encoder"
    assert (enc_dir / "model.safetensors").exists() and not list(enc_dir.glob("*.bin"))
    model = AutoModel.from_pretrained(str(enc_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(enc_dir))
    assert type(model).__name__ == "BertModel" and model.config.max_position_embeddings == 64
    trained = result["model"].bert.state_dict()
    for key, value in model.state_dict().items():
        if key in trained:
            assert torch.equal(value, trained[key]), key
    batch = tokenizer([SENTENCES[0]], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape == (1, batch["input_ids"].shape[1], 32)
    # Embeddings came from the skip-gram vectors, scaled to the configured std.
    std = float(model.embeddings.word_embeddings.weight[5:].detach().std())
    assert 0.02 < std < 0.1


@pytest.mark.slow
def test_cli_runs_in_chunks(corpus, tmp_path):
    import yaml

    from khabar.cli import main

    cfg = tiny_config(corpus, tmp_path / "cli").to_dict()
    cfg["optim"]["betas"] = list(cfg["optim"]["betas"])
    path = tmp_path / "pretrain.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    assert main(["pretrain", "--config", str(path), "--max-steps", "2"]) == 0
    assert json.loads((tmp_path / "cli" / "checkpoint" / "state.json").read_text())["step"] == 2
    assert main(["pretrain", "--config", str(path), "--max-steps", "1"]) == 2  # checkpoint exists: --resume needed
    assert main(["pretrain", "--config", str(path), "--resume", "--set", "optim.total_steps=3"]) == 0
    assert json.loads((tmp_path / "cli" / "encoder" / "pretraining.json").read_text())["step"] == 3
