"""The embedded default model (khabar/default_model/) and the export that writes it.

The shipped-model tests skip cleanly when no model is bundled yet; the export tests use a tiny
random model, so they run anywhere in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer_helpers import SEED_TEXT, build_tiny_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "khabar" / "default_model"
MAX_BYTES = 30_000_000

shipped = pytest.mark.skipif(not (DEFAULT / "config.json").is_file(), reason="no default model bundled yet")


# -- the shipped model ---------------------------------------------------------------------------


@shipped
def test_default_model_files_are_small_fp16_safetensors():
    from safetensors import safe_open

    weights = DEFAULT / "model.safetensors"
    assert weights.stat().st_size <= MAX_BYTES
    with safe_open(str(weights), "pt") as f:
        dtypes = {str(f.get_slice(k).get_dtype()) for k in f.keys()}
    assert dtypes <= {"F16", "I8", "I64"}, dtypes
    assert not list(DEFAULT.glob("*.bin")) and not list(DEFAULT.glob("*.pt")), "pickles must never ship"
    config = json.loads((DEFAULT / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "khabar"
    assert config["dtype"] == "float32"  # computes in float32 whatever the storage
    assert (DEFAULT / "tokenizer.json").is_file()
    card = (DEFAULT / "README.md").read_text(encoding="utf-8")
    assert "ANERcorp test" in card and "quotes-dev" in card and "bootstrapper" in card


@shipped
def test_default_model_analyses_the_seed_article_offline():
    import torch

    from khabar.analyzer import Analyzer

    torch.set_num_threads(1)
    analyzer = Analyzer.from_pretrained()  # no argument: the bundled model
    assert next(analyzer.model.parameters()).dtype == torch.float32
    text = SEED_TEXT.read_text(encoding="utf-8")
    result = analyzer(text, id="seed")
    assert result["id"] == "seed" and result["text"] == text
    assert result["entities"], "the seed article names people and places"
    assert result["quotes"], "the seed article quotes people"
    for e in result["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]
        assert e["label"] in ("PER", "ORG", "LOC", "MISC")
    for q in result["quotes"]:
        assert text[q["start"] : q["end"]] == q["text"]
        for key in ("cue", "speaker"):
            if q[key] is not None:
                assert text[q[key]["start"] : q[key]["end"]] == q[key]["text"]


# -- the export ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-run"))


def test_export_writes_fp16_weights_that_load_as_float32(tiny_run, tmp_path):
    import torch

    from khabar.analyzer import Analyzer
    from khabar.model import KhabarModel
    from khabar.training.export import export_model

    out = tmp_path / "default_model"
    (out).mkdir()
    (out / "keep.txt").write_text("not a model file")  # left alone
    weights = export_model(tiny_run, out)
    assert weights.is_file() and (out / "tokenizer.json").is_file() and (out / "keep.txt").is_file()
    analyzer = Analyzer.from_pretrained(out)
    assert next(analyzer.model.parameters()).dtype == torch.float32
    original = KhabarModel.from_pretrained(tiny_run)
    for (name, a), b in zip(original.state_dict().items(), analyzer.model.state_dict().values()):
        torch.testing.assert_close(a.half().float(), b, msg=name)
    text = SEED_TEXT.read_text(encoding="utf-8")[:600]
    result = analyzer(text)
    for e in result["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]


def test_export_refuses_a_model_above_the_size_limit(tiny_run, tmp_path):
    from khabar.training.export import ExportError, export_model

    with pytest.raises(ExportError, match="exceeds --max-mb"):
        export_model(tiny_run, tmp_path / "out", max_mb=0.01)
    with pytest.raises(ExportError, match="no config.json"):
        export_model(tmp_path, tmp_path / "out2")


def test_card_lists_scores_data_and_experiments(tiny_run, tmp_path):
    from khabar.training.export import EXPERIMENTS_BEGIN, EXPERIMENTS_END, export_model, render_card

    out = tmp_path / "m"
    export_model(tiny_run, out)
    prf = {"precision": 0.5, "recall": 0.25, "f1": 1 / 3}
    results = {
        "anercorp-test": {"model": {"entities": {"micro": prf, "macro": prf, "per_label": {"PER": prf}}}},
        "quotes-dev": {
            "model": {"quotes": {"overlap": prf}, "attribution": prf},
            "bootstrapper": {"quotes": {"overlap": prf}, "attribution": prf},
        },
    }
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{EXPERIMENTS_BEGIN}\n| run | F1 |\n|---|---|\n| a | 0.4 |\n{EXPERIMENTS_END}\n", encoding="utf-8")
    card = render_card(out, results, "configs/compact-default.yaml", doc, ["a note"])
    assert "| ANERcorp test | entities micro | 0.500 | 0.250 | 0.333 |" in card
    assert "| quotes-dev | bootstrapper: attribution end-to-end | 0.500 | 0.250 | 0.333 |" in card
    assert "| a | 0.4 |" in card and "- a note" in card and "configs/compact-default.yaml" in card
    assert card.startswith("---\n") and "## Usage" in card


def test_recipe_config_is_valid():
    from khabar.training.config import load_config

    cfg = load_config(REPO / "configs" / "compact-default.yaml", check_files=False)
    assert cfg.model.extra.get("context_lstm") is True
    assert cfg.training.torch_threads == 1
    splits = {(s.split, s.kind) for s in cfg.data.sources}
    assert ("train", "conll") in splits and ("train", "silver_jsonl") in splits
    # quotes-dev selects checkpoints only: never a training source
    assert not any("quotes-dev" in s.path for s in cfg.data.sources if s.split == "train")
