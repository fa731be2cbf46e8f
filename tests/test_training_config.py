"""The training config: YAML -> dataclasses, errors that name the key and the fix, overrides, paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from khabar.training.config import ConfigError, TrainConfig, load_config

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def write(tmp_path: Path, cfg: dict, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def minimal(**training) -> dict:
    return {
        "output_dir": "runs/x",
        "model": {"encoder_config": {"hidden_size": 32}, "tokenizer": {"train": {"vocab_size": 500}}, "max_length": 64, "window_overlap": 16},
        "data": {
            "sources": [
                {"kind": "conll", "path": str(FIXTURES / "train_ner.conll")},
                {"kind": "gold_jsonl", "path": str(FIXTURES / "train_articles.jsonl"), "split": "eval"},
            ]
        },
        "training": training,
    }


def error(tmp_path: Path, cfg: dict, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, cfg), **kw)
    return str(info.value)


def test_minimal_config_has_defaults(tmp_path):
    cfg = load_config(write(tmp_path, minimal()))
    assert isinstance(cfg, TrainConfig)
    assert cfg.training.epochs == 3.0 and cfg.training.batch_size == 16
    assert cfg.training.bf16 == "auto" and cfg.training.group_by_length is True
    assert cfg.model.tokenizer.train.vocab_size == 500
    assert [s.layer_set() for s in cfg.data.sources] == [("entities",), ("entities", "quotes")]
    assert cfg.to_dict()["training"]["learning_rate"] == 5e-5


def test_unknown_key_says_where_and_suggests(tmp_path):
    msg = error(tmp_path, minimal(lerning_rate=1e-4))
    assert msg == f"unknown key 'lerning_rate' in section 'training' of {tmp_path / 'x.yaml'}; did you mean 'learning_rate'?"


def test_unknown_section_and_nested_key(tmp_path):
    cfg = minimal()
    cfg["trainig"] = {}
    assert "unknown key 'trainig' in the top level" in error(tmp_path, cfg) and "did you mean 'training'?" in error(tmp_path, cfg)
    cfg = minimal()
    cfg["data"]["sources"][0]["pth"] = "x"
    assert "section 'data.sources[0]'" in error(tmp_path, cfg) and "did you mean 'path'?" in error(tmp_path, cfg)


@pytest.mark.parametrize(
    "training, expected",
    [
        ({"epochs": "three"}, "'training.epochs' in {}: expected a number, got str 'three'"),
        ({"batch_size": 2.5}, "'training.batch_size' in {}: expected an integer, got float 2.5"),
        ({"group_by_length": "yes"}, "'training.group_by_length' in {}: expected true or false, got str 'yes'"),
        ({"bf16": "maybe"}, "'training.bf16' in {}: expected"),
        ({"report_to": {"tensorboard": True}}, "'training.report_to' in {}: expected a list of a string"),
        ({"loss_weights": {"entity": "high"}}, "'training.loss_weights.entity' in {}: expected a number"),
    ],
)
def test_wrong_types_name_the_key(tmp_path, training, expected):
    assert error(tmp_path, minimal(**training)).startswith(expected.format(tmp_path / "x.yaml"))


def test_yaml_number_forms(tmp_path):
    # YAML 1.1 reads "5e-5" (no dot) as a string; a learning rate written so must still work.
    cfg = load_config(write(tmp_path, minimal(learning_rate="5e-5", epochs=2, bf16=False, report_to="tensorboard")))
    assert cfg.training.learning_rate == 5e-5 and cfg.training.epochs == 2.0
    assert cfg.training.bf16 is False and cfg.training.report_to == ["tensorboard"]


def test_literal_suggestion(tmp_path):
    cfg = minimal()
    cfg["data"]["sources"][0]["kind"] = "conl"
    assert "'data.sources[0].kind' in" in error(tmp_path, cfg) and "did you mean 'conll'?" in error(tmp_path, cfg)


def test_missing_keys(tmp_path):
    cfg = minimal()
    del cfg["output_dir"]
    assert "missing key 'output_dir'" in error(tmp_path, cfg)
    cfg = minimal()
    del cfg["data"]["sources"][0]["path"]
    assert "missing key 'data.sources[0].path'" in error(tmp_path, cfg)


def test_missing_file_names_the_shared_folder(tmp_path):
    cfg = minimal()
    cfg["data"]["sources"][0]["path"] = "${shared}/data/nope.txt"
    msg = error(tmp_path, cfg, shared=str(tmp_path / "sh"))
    assert "'data.sources[0].path'" in msg and f"file not found: {tmp_path / 'sh' / 'data' / 'nope.txt'}" in msg
    assert "--shared" in msg and "KHABAR_SHARED" in msg
    # check_files=False reads it anyway (the config can be inspected without the data)
    assert load_config(write(tmp_path, cfg), check_files=False, shared=str(tmp_path)).data.sources[0].path.startswith("${shared}")


def test_shared_resolution(tmp_path, monkeypatch):
    (tmp_path / "sh" / "ner").mkdir(parents=True)
    (tmp_path / "sh" / "ner" / "a.conll").write_text((FIXTURES / "train_ner.conll").read_text("utf-8"), "utf-8")
    cfg = minimal()
    cfg["data"]["sources"][0]["path"] = "${shared}/ner/a.conll"
    path = write(tmp_path, cfg)
    monkeypatch.setenv("KHABAR_SHARED", str(tmp_path / "sh"))
    c = load_config(path)
    assert c.resolve_path(c.data.sources[0].path) == tmp_path / "sh" / "ner" / "a.conll"
    monkeypatch.setenv("KHABAR_SHARED", str(tmp_path / "elsewhere"))
    assert "file not found" in error(tmp_path, cfg)
    assert load_config(path, shared=str(tmp_path / "sh")).shared_dir == str(tmp_path / "sh")  # --shared wins


def test_overrides_and_output_dir(tmp_path):
    path = write(tmp_path, minimal())
    cfg = load_config(path, overrides=["training.epochs=1", "training.learning_rate=1e-3", "model.max_length=32", "model.window_overlap=8"], output_dir="o")
    assert (cfg.training.epochs, cfg.training.learning_rate, cfg.model.max_length, cfg.output_dir) == (1.0, 1e-3, 32, "o")
    with pytest.raises(ConfigError, match="unknown key 'epoch' in section 'training'.*did you mean 'epochs'"):
        load_config(path, overrides=["training.epoch=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(path, overrides=["training.epochs"])


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c["model"].update(encoder="aubmindlab/bert-base-arabertv02"), "give exactly one of 'encoder'"),
        (lambda c: c["model"].pop("encoder_config"), "give exactly one of 'encoder'"),
        (lambda c: c["model"].pop("tokenizer"), "a random encoder has no tokenizer of its own"),
        (lambda c: c["model"].update(window_overlap=40), "'model.window_overlap'"),
        (lambda c: c["data"]["sources"].pop(0), "no training source"),
        (lambda c: c["data"]["sources"].pop(1), "no 'split: eval' source"),
        (lambda c: c["data"]["sources"][0].update(layers=["quotes"]), "CoNLL files carry entities only"),
        (lambda c: c["data"]["sources"][1].update(layers=["entity"]), "unknown layer 'entity'"),
        (lambda c: c["training"].update(loss_weights={"entities": 2.0}), "unknown task 'entities'.*did you mean 'entity'"),
        (lambda c: c["training"].update(batch_size=0), "'training.batch_size'.*at least 1"),
        (lambda c: c["training"].update(torch_threads=0), "'training.torch_threads'.*at least 1"),
        (lambda c: c["training"].update(eval_loss=False, metric_for_best_model="loss"), "needs 'eval_loss: true'"),
        (lambda c: c["model"].update(encoder_layers=2), "'model.encoder_layers'.*num_hidden_layers in 'model.encoder_config'"),
        (lambda c: (c["model"].pop("encoder_config"), c["model"].update(encoder="x/y", encoder_layers=0)),
         "'model.encoder_layers'.*a positive number of layers, got 0"),
    ],
)
def test_cross_key_checks(tmp_path, change, expected):
    cfg = minimal()
    change(cfg)
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, cfg))


def test_tokenizer_shorthand(tmp_path):
    cfg = minimal()
    cfg["model"]["tokenizer"] = str(tmp_path)
    assert load_config(write(tmp_path, cfg)).model.tokenizer.path == str(tmp_path)


def test_not_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "configs").glob("*.yaml") if not p.name.startswith("pretrain-")))
def test_shipped_configs_parse(name):
    cfg = load_config(REPO / "configs" / name, check_files=False)
    assert cfg.sources("train") and cfg.output_dir


def test_arabert_config_names_the_hub_encoder():
    cfg = load_config(REPO / "configs" / "arabert-base.yaml", check_files=False)
    assert cfg.model.encoder == "aubmindlab/bert-base-arabertv02" and cfg.model.encoder_config is None
    assert cfg.model.max_length == 512


def test_cli_reports_config_errors(tmp_path, capsys):
    from khabar.cli import main

    cfg = minimal(lerning_rate=1e-4)
    assert main(["train", "--config", str(write(tmp_path, cfg))]) == 2
    err = capsys.readouterr().err
    assert "khabar train: error: unknown key 'lerning_rate'" in err and "did you mean 'learning_rate'?" in err


def test_conll_label_map_by_name(tmp_path):
    from khabar.training.data import read_source

    conll = tmp_path / "w.conll"
    # Wojood's nested format: nationality (NORP) and currency (CURR, inside an amount: second
    # column) are read as ANERcorp annotates them; the place inside an occupation is kept
    conll.write_text("قال O\nالرئيس B-OCC\nالفلسطيني I-OCC B-NORP\nمحمود B-PERS\nعباس I-PERS\n"
                     "وزير B-OCC\nخارجية I-OCC\nفرنسا I-OCC B-GPE\n"
                     "100 B-MONEY B-CARDINAL\nدولار I-MONEY B-CURR\n\n", encoding="utf-8")
    cfg = minimal()
    cfg["data"]["sources"][0] = {"kind": "conll", "path": str(conll), "label_map": "wojood-anercorp"}
    loaded = load_config(write(tmp_path, cfg))
    art = read_source(loaded.data.sources[0], loaded)[0]
    assert [(art.text[e.start:e.end], e.label) for e in art.entities] == [
        ("محمود عباس", "PER"), ("فرنسا", "LOC"), ("دولار", "MISC")]

    cfg["data"]["sources"][0]["label_map"] = "wojod"
    assert "unknown map 'wojod'; maps are ['default', 'wojood', 'wojood-anercorp']" in error(tmp_path, cfg)
    cfg["data"]["sources"][0]["label_map"] = None
    cfg["data"]["sources"][1]["label_map"] = "wojood"
    assert "only CoNLL sources have a label map" in error(tmp_path, cfg)


def test_encoder_layers_beyond_the_encoder_is_a_config_error(tmp_path):
    from model_helpers import tiny_tokenizer
    from transformers import BertConfig, BertModel

    from khabar.training.command import build_model

    tok = tiny_tokenizer()
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False).save_pretrained(tmp_path / "enc")
    cfg = minimal()
    cfg["model"] = {"encoder": str(tmp_path / "enc"), "encoder_layers": 3, "max_length": 64, "window_overlap": 16}
    loaded = load_config(write(tmp_path, cfg))
    with pytest.raises(ConfigError, match=r"'model.encoder_layers' in .*3 layers asked, .* has 2: pass 1 to 2"):
        build_model(loaded, tok)
    loaded.model.encoder_layers = 1
    assert len(build_model(loaded, tok).encoder.encoder.layer) == 1
