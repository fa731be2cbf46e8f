"""Fine-tuning end to end on tiny models: save/reload round trip, resume after a crash, accelerate.

Every run here is a random 1-layer encoder of width 32 on the hand-made Arabic fixtures
(``tests/fixtures/train_*``): seconds, not minutes. The tokenizer is trained once per session and
passed by path, because WordPiece training itself is not deterministic (huggingface/tokenizers#1794)
and two runs that must match need the same vocabulary.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer, TrainerCallback

from khabar.data.article import read_articles
from khabar.training.command import build_model, train
from khabar.training.config import load_config
from khabar.training.data import ArticleSampler

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CONLL = str(FIXTURES / "train_ner.conll")
GOLD = str(FIXTURES / "train_articles.jsonl")
SILVER = str(FIXTURES / "train_silver.jsonl")

SOURCES = {
    # gold articles carrying BOTH layers (entities and quotations with speakers)
    "both_layers": [{"kind": "gold_jsonl", "path": GOLD}],
    # NER-only sentences + quote-only silver articles + gold: the losses are masked per layer
    "mixed": [{"kind": "conll", "path": CONLL}, {"kind": "silver_jsonl", "path": SILVER}, {"kind": "gold_jsonl", "path": GOLD}],
}
EVAL = [{"kind": "gold_jsonl", "path": GOLD, "split": "eval"}, {"kind": "conll", "path": CONLL, "split": "eval"}]


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from khabar.data.conll import read_conll
    from khabar.training.tokenizer import train_wordpiece

    texts = [a.text for a in read_conll(CONLL).articles]
    texts += [a.text for p in (GOLD, SILVER) for a in read_articles(p)]
    out = tmp_path_factory.mktemp("tokenizer")
    train_wordpiece(texts, vocab_size=400, min_frequency=1, out_dir=out, model_max_length=32)
    return out


def tiny_config(
    tmp_path: Path, tokenizer_dir: Path, sources: list[dict], name: str = "run", eval_sources: list[dict] = EVAL, **training
) -> Path:
    cfg = {
        "output_dir": str(tmp_path / name),
        "model": {
            "encoder_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
            "tokenizer": str(tokenizer_dir),
            "max_length": 32,
            "window_overlap": 8,
            "extra": {"attribution_size": 16, "attribution_feature_size": 8},
        },
        "data": {"sources": sources + eval_sources},
        "training": {
            "batch_size": 4,
            "learning_rate": 3e-3,
            "warmup": 0,
            "logging_steps": 1,
            "disable_tqdm": True,
            "seed": 7,
            **training,
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def texts() -> list[str]:
    return [a.text for a in read_articles(GOLD)] + [a.text for a in read_articles(SILVER)]


# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mixture", sorted(SOURCES))
def test_train_save_reload_same_predictions(tmp_path, tokenizer_dir, mixture):
    eval_loss = mixture == "mixed"  # the loss pass over the eval windows is optional
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES[mixture], max_steps=4, eval_steps=2, eval_loss=eval_loss))
    run = train(cfg)
    out = run.output_dir

    # Safetensors only in the model folder; the tokenizer beside it; the config recorded.
    names = {p.name for p in out.iterdir() if p.is_file()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "eval_results.json", "train_config.yaml"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))], names
    saved = json.loads((out / "config.json").read_text("utf-8"))
    assert saved["model_type"] == "khabar"
    assert saved["training_summary"]["config"] == cfg.to_dict()
    assert saved["training_summary"]["results"]["global_step"] == 4

    # Metrics of every evaluation and of the end come from predict + the guideline scorer.
    report = json.loads((out / "eval_results.json").read_text("utf-8"))
    for key in ("eval_entities_micro_f1", "eval_entities_macro_f1", "eval_quotes_f1", "eval_attribution_f1"):
        assert key in report["metrics"], key
    assert ("eval_loss" in report["metrics"]) == eval_loss
    assert report["scores"]["entities"]["n_articles"] == 6 + 8 and report["scores"]["quotes"]["n_articles"] == 6

    # Reload through the Auto classes: identical weights and identical predictions.
    import khabar.model  # noqa: F401  (registers the "khabar" model type)

    reloaded = AutoModel.from_pretrained(str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    trained = run.model.eval()
    for (name, a), (_, b) in zip(sorted(trained.state_dict().items()), sorted(reloaded.state_dict().items())):
        assert torch.equal(a, b), name
    before = [a.to_dict() for a in trained.predict(texts(), run.tokenizer)]
    after = [a.to_dict() for a in reloaded.predict(texts(), tokenizer)]
    assert before == after
    assert tokenizer.get_vocab() == run.tokenizer.get_vocab()


class Crash(RuntimeError):
    pass


class CrashAfterCheckpoint(TrainerCallback):
    """Simulates a killed job: dies right after the checkpoint of step ``step`` is written."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash(f"killed after checkpoint-{self.step}")


def _final(run) -> tuple[dict, dict]:
    # train_loss is left out: after a resume the Trainer averages it over the resumed steps only.
    skip = ("runtime", "per_second", "best_checkpoint", "train_loss")
    metrics = {k: v for k, v in run.metrics.items() if not k.endswith(skip)}
    return metrics, load_file(str(run.output_dir / "model.safetensors"))


@pytest.mark.slow
def test_resume_mid_epoch_matches_uninterrupted_run(tmp_path, tokenizer_dir):
    # 16 training articles, 4 per batch: 4 steps an epoch, 2 epochs; evaluate + checkpoint every 3
    # steps, so the crash at step 6 is in the middle of epoch 2 (skip 2 of its 4 batches on resume).
    # The final weights are step 8's (not a best checkpoint), so they depend on every resumed step.
    kw = dict(epochs=2, eval_steps=3, save_total_limit=None, load_best_model_at_end=False, eval_sources=EVAL[:1])
    full = train(load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"], name="full", **kw)))
    assert full.metrics["global_step"] == 8

    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"], name="crash", **kw))
    with pytest.raises(Crash):
        train(cfg, callbacks=[CrashAfterCheckpoint(6)])
    assert (Path(cfg.output_dir) / "checkpoint-6").is_dir() and not (Path(cfg.output_dir) / "model.safetensors").exists()
    with pytest.raises(Exception, match="--resume"):  # a fresh run must not silently mix with the checkpoints
        train(cfg)
    resumed = train(cfg, resume=True)

    full_metrics, full_weights = _final(full)
    resumed_metrics, resumed_weights = _final(resumed)
    assert resumed_metrics == full_metrics
    assert full_weights.keys() == resumed_weights.keys()
    for name in full_weights:
        assert torch.equal(full_weights[name], resumed_weights[name]), name
    # The evaluations during training (steps 3, 6 restored from the checkpoint; 8 after the resume)
    # repeat the uninterrupted run's, number for number.
    log_full = [e for e in full.trainer.state.log_history if "eval_loss" in e]
    log_resumed = [e for e in resumed.trainer.state.log_history if "eval_loss" in e]
    assert [e["step"] for e in log_full] == [3, 6, 8]
    strip = lambda e: {k: v for k, v in e.items() if "runtime" not in k and "per_second" not in k}  # noqa: E731
    assert [strip(e) for e in log_resumed] == [strip(e) for e in log_full]


def test_resume_needs_a_checkpoint(tmp_path, tokenizer_dir):
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES["both_layers"]))
    with pytest.raises(Exception, match="no checkpoint-N folder"):
        train(cfg, resume=True)


@pytest.mark.slow
def test_accelerate_launch_one_cpu_process(tmp_path, tokenizer_dir):
    config = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"], max_steps=2, eval_steps=2)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ACCELERATE_DISABLE_RICH="1")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--cpu",
           "-m", "khabar.cli", "train", "--config", str(config)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "eval_results.json").read_text("utf-8"))
    assert report["metrics"]["global_step"] == 2 and "eval_entities_micro_f1" in report["metrics"]
    assert "entities micro" in proc.stdout  # the table at the end


@pytest.mark.slow
def test_two_cpu_processes_data_parallel(tmp_path):
    """Real DDP (gloo, 2 processes): batches split across ranks, the tokenizer trained once by rank 0."""
    config = tiny_config(tmp_path, tmp_path, SOURCES["mixed"], epochs=1, batch_size=2, eval_steps=None, torch_threads=1)
    raw = yaml.safe_load(config.read_text("utf-8"))
    raw["model"]["tokenizer"] = {"train": {"vocab_size": 300, "min_frequency": 1}}
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", ACCELERATE_USE_CPU="true", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "khabar.cli", "train", "--config", str(config)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "eval_results.json").read_text("utf-8"))
    assert report["metrics"]["global_step"] == 4  # 16 articles / (2 per batch x 2 processes)
    assert proc.stderr.count("training a WordPiece vocabulary") == 1
    assert proc.stdout.count("entities micro") == 1  # only the main process reports and writes


def test_cli_train_writes_results_table(tmp_path, tokenizer_dir, capsys):
    from khabar.cli import main

    config = tiny_config(tmp_path, tokenizer_dir, SOURCES["both_layers"], max_steps=1, eval_steps=1)
    assert main(["train", "--config", str(config), "--output-dir", str(tmp_path / "cli"), "--set", "training.seed=3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"entities micro\s+\d\.\d{4}", out) and "attribution end-to-end" in out
    assert yaml.safe_load((tmp_path / "cli" / "train_config.yaml").read_text("utf-8"))["training"]["seed"] == 3


# ---------------------------------------------------------------------------------------------


def test_arabert_config_builds_around_the_hub_encoder(monkeypatch, tokenizer_dir):
    """The shipped AraBERT config asks ``from_encoder`` for the Hub model (no network here)."""
    from khabar.model import KhabarModel

    calls = []
    real = KhabarModel.from_encoder

    def fake_from_encoder(encoder, **kwargs):
        calls.append((encoder, kwargs))
        from transformers import BertConfig

        return real(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                   intermediate_size=32, vocab_size=500), max_length=32, window_overlap=8,
                    lexical_features={"norm": [65536, 2], "stem": [32768, 2]}, lexical_frozen=["norm"])  # fmt: skip

    monkeypatch.setattr(KhabarModel, "from_encoder", staticmethod(fake_from_encoder))
    cfg = load_config(REPO / "configs" / "arabert-base.yaml", check_files=False)
    cfg.model.lexical_vectors = None  # runs/lexical-vectors is built from ../shared; loading is tested below
    build_model(cfg, AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    assert calls == [("aubmindlab/bert-base-arabertv02", {**cfg.model.extra, "max_length": 512, "window_overlap": 64})]
    assert calls[0][1]["lexical_features"] is True and calls[0][1]["context_lstm"] is True


def test_lexical_vectors_load_into_trainable_and_frozen_tables(tmp_path, tokenizer_dir):
    from safetensors.torch import save_file

    from khabar.training.config import ConfigError

    path = tiny_config(tmp_path, tokenizer_dir, [{"kind": "conll", "path": CONLL}])
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["model"]["extra"].update(lexical_features={"norm": [64, 2], "shape": [8, 2]}, lexical_frozen={"norm": 3})
    raw["model"]["lexical_vectors"] = str(tmp_path / "vec")
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cfg = load_config(path, check_files=False)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    with pytest.raises(ConfigError, match="lexical_vectors"):
        build_model(cfg, tok)  # no file yet: the error says how to build it
    (tmp_path / "vec").mkdir()
    vec = torch.randn(64, 3)
    vec[0] = 0
    save_file({"norm": vec}, str(tmp_path / "vec" / "vectors.safetensors"))
    model = build_model(cfg, tok)
    assert torch.equal(model.lexical.frozen["norm"].weight, vec)  # at its own width: as written
    assert model.lexical.tables["norm"].weight.shape == (64, 2)  # narrower: the 2 principal components
    save_file({"norm": torch.randn(32, 3)}, str(tmp_path / "vec" / "vectors.safetensors"))
    with pytest.raises(ConfigError, match="same rows"):
        build_model(cfg, tok)


@pytest.mark.slow
def test_random_model_of_arabert_base_shape():
    """Full AraBERT v0.2 base dimensions (64k vocabulary, 12 x 768): builds, counts, runs a window."""
    from khabar.model import KhabarModel

    model = KhabarModel.from_encoder(arabert_base_encoder(), max_length=512, window_overlap=64).eval()
    n = sum(p.numel() for p in model.parameters())
    assert 130e6 < n < 140e6, n
    with torch.no_grad():
        out = model(input_ids=torch.randint(5, 64000, (1, 24)), attention_mask=torch.ones(1, 24, dtype=torch.long))
    assert out.entity_logits.shape == (1, 24, 9)


def arabert_base_encoder():
    """A random encoder of AraBERT v0.2 base's configuration (what the Hub model's config.json says)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=64000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072, max_position_embeddings=512)  # fmt: skip


@pytest.mark.slow
def test_arabert_recipe_trains_one_step_and_predicts(monkeypatch, tmp_path, tokenizer_dir):
    """configs/arabert-base.yaml through the real loader and ``train``: only the Hub encoder is swapped
    for a random one of the same shape (its tokenizer for the fixture one), the shared files for the
    fixtures (same kinds, splits and limits); one optimiser step, then predict."""
    from khabar.model import KhabarModel

    calls = []
    real = KhabarModel.from_encoder

    def random_arabert(encoder, **kwargs):
        calls.append((encoder, kwargs))
        return real(arabert_base_encoder(), **kwargs)  # the config's model options, untouched

    monkeypatch.setattr(KhabarModel, "from_encoder", staticmethod(random_arabert))
    vectors = tmp_path / "vectors"
    _tiny_lexical_vectors(vectors)
    overrides = [f"model.tokenizer.path={tokenizer_dir}", "training.max_steps=1", "training.disable_tqdm=true",
                 f"model.lexical_vectors={vectors}"]
    cfg = load_config(REPO / "configs" / "arabert-base.yaml", overrides, output_dir=str(tmp_path / "run"), check_files=False)
    compact = load_config(REPO / "configs" / "compact-default.yaml", overrides, output_dir=str(tmp_path / "c"), check_files=False)
    recipe = [(s.kind, s.split, s.limit, s.skip, s.layers, s.label_map, s.path) for s in cfg.data.sources]
    assert recipe == [(s.kind, s.split, s.limit, s.skip, s.layers, s.label_map, s.path)
                      for s in compact.data.sources]  # the same data
    assert cfg.model.extra == compact.model.extra  # the same lexical features, BiLSTM and decoding
    assert [(k, s) for k, s, *_ in recipe] == [("conll", "train")] * 6 + [("silver_jsonl", "train"), ("conll", "eval"),
                                              ("gold_jsonl", "eval")]
    fixture = {"conll": CONLL, "silver_jsonl": SILVER, "gold_jsonl": GOLD}
    for source in cfg.data.sources:
        source.path = fixture[source.kind]
        source.limit, source.skip = None, 0  # the fixtures are small
        source.label_map = None  # the fixture is ANERcorp-style

    run = train(cfg)
    assert len(calls) == 1 and calls[0][0] == "aubmindlab/bert-base-arabertv02"
    assert calls[0][1] == {**compact.model.extra, "max_length": 512, "window_overlap": 64}
    model = run.model.eval()
    assert model.config.context_lstm and model.context is not None
    assert model.lexical is not None and model.config.lexical_frozen == {"norm": 48, "stem": 32}
    assert torch.equal(model.lexical.frozen["norm"].weight[1], torch.full((48,), 0.5))  # the vectors were loaded
    assert model.config.encoder["hidden_size"] == 768 and model.config.encoder["vocab_size"] == 64000
    assert run.metrics["global_step"] == 1 and "eval_attribution_f1" in run.metrics
    assert run.scores["quotes"]["n_articles"] == 6  # quotes-dev's stand-in is the only eval source

    predicted = model.predict(texts(), run.tokenizer)
    assert [a.text for a in predicted] == texts()
    assert all(a.entities is not None and a.quotes is not None for a in predicted)


def _tiny_lexical_vectors(folder: Path) -> None:
    """A vectors file of the default tables' shapes: norm row 1 = 0.5 everywhere (after fit_width
    to 48 columns of constant rows it stays recognisable only if the width is kept: 64 -> 48 is a
    PCA, so the file is written at the frozen widths directly)."""
    from safetensors.torch import save_file

    from khabar.model.lexical import DEFAULT_LEXICAL_FEATURES

    folder.mkdir(parents=True, exist_ok=True)
    norm = torch.zeros(DEFAULT_LEXICAL_FEATURES["norm"][0], 48)
    norm[1] = 0.5
    stem = torch.zeros(DEFAULT_LEXICAL_FEATURES["stem"][0], 32)
    save_file({"norm": norm, "stem": stem}, str(folder / "vectors.safetensors"))


def test_sampler_is_a_function_of_seed_and_epoch():
    lengths = [5, 50, 7, 300, 12, 8, 90, 33, 41, 2] * 3
    s = ArticleSampler(lengths, seed=1, group_size=4)
    first = list(s)
    assert sorted(first) == list(range(len(lengths)))
    assert list(ArticleSampler(lengths, seed=1, group_size=4)) == first
    assert lengths[first[0]] == 300  # the longest batch first: out-of-memory shows at step 1
    s.set_epoch(1)
    second = list(s)
    assert second != first and sorted(second) == sorted(first)
    s.set_epoch(0)
    assert list(s) == first
    assert list(ArticleSampler(lengths, seed=2)) != list(ArticleSampler(lengths, seed=1))


# ---------------------------------------------------------------------------------------------


PACKAGE_DIRS = ("khabar", "model", "training", "data")
FORBIDDEN = re.compile(r"weights_only\s*=\s*False|^\s*(?:import|from)\s+pickle\b|trust_remote_code\s*=\s*True", re.M)


def test_no_pickle_loading_anywhere_in_the_package():
    hits = []
    for d in PACKAGE_DIRS:
        for path in (REPO / d).rglob("*.py"):
            for m in FORBIDDEN.finditer(path.read_text("utf-8")):
                hits.append(f"{path.relative_to(REPO)}: {m.group(0).strip()}")
    assert not hits, hits


def test_trainer_loads_checkpoints_with_weights_only():
    """Resuming reads optimizer.pt / scheduler.pt / rng_state.pth with torch.load: only weights_only=True."""
    import inspect

    import transformers.trainer

    source = inspect.getsource(transformers.trainer)
    calls = []
    for m in re.finditer(r"torch\.load\(", source):
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        calls.append(source[m.start() : i])
    assert calls and all("weights_only=True" in c for c in calls), [c for c in calls if "weights_only=True" not in c]


def test_best_metric_needs_its_layer_in_eval_data(tmp_path, tokenizer_dir):
    from khabar.training.config import ConfigError

    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["both_layers"], metric_for_best_model="attribution_f1")
    raw = yaml.safe_load(path.read_text("utf-8"))
    raw["data"]["sources"] = [s for s in raw["data"]["sources"] if s["kind"] != "gold_jsonl" or s.get("split", "train") == "train"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")  # eval: CoNLL only (no quotations)
    with pytest.raises(ConfigError, match="'attribution_f1' needs eval articles annotated with quotes"):
        train(load_config(path))
