"""What a user retraining and benchmarking khabar on their own files runs into: inputs written by
hand or by other tools (a BOM, a wrong tag scheme, offsets that miss their text, a file of the
wrong kind), config and ``--set`` mistakes, an interrupted run, no Hub, a partial prediction file.
Each case gets an error that names the file, the line or key, and the fix (or a correct result).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from khabar.data.article import InputError, read_articles
from khabar.data.conll import read_conll
from khabar.training.command import TrainingError, train
from khabar.training.config import ConfigError, load_config

from test_training import CONLL, GOLD, SOURCES, CrashAfterCheckpoint, Crash, tiny_config, tokenizer_dir  # noqa: F401



def _conll(path: Path, lines: list[str], bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------
# Data files


def test_conll_bom_is_not_part_of_the_first_token(tmp_path):
    lines = ["إيمانويل B-PER", "ماكرون I-PER", "زار O", "الجزائر B-LOC"]
    plain = read_conll(_conll(tmp_path / "plain.conll", lines), on_error=None).articles[0]
    bom = read_conll(_conll(tmp_path / "bom.conll", lines, bom=True), on_error=None).articles[0]
    assert bom.text == plain.text == "إيمانويل ماكرون زار الجزائر"
    assert [(e.start, e.end, e.label) for e in bom.entities] == [(0, 15, "PER"), (20, 27, "LOC")]


def test_conll_unknown_type_says_how_to_map_it(tmp_path):
    path = _conll(tmp_path / "x.conll", ["ماكرون B-PERSON", "زار O"])
    with pytest.raises(InputError) as info:
        read_conll(path, on_error=None)
    msg = str(info.value)
    assert f"{path}:1" in msg and "'PERSON'" in msg and "label_map: {PERSON: PER}" in msg
    assert "read as O" not in msg  # raising: nothing is read on
    seen = []
    read_conll(path, on_error=seen.append)  # going on: says what it did with the tag
    assert seen and str(seen[0]).endswith("; read as O")


def test_span_text_that_misses_its_offsets_is_an_error():
    text = "قال سامي الخطيب إن الوضع صعب."
    good = {"id": "a", "text": text, "entities": [{"start": 4, "end": 15, "label": "PER", "text": "سامي الخطيب"}]}
    from khabar.data.article import Article

    assert Article.from_dict(good).entities[0].start == 4
    bad = json.loads(json.dumps(good))
    bad["entities"][0].update(start=5, end=16)  # off by one: a common hand-annotation slip
    with pytest.raises(InputError, match=r"entities\[0\]: offsets \[5, 16\) give .* is at \[4, 15\)"):
        Article.from_dict(bad, file="g.jsonl", line=3)
    quote = {"id": "b", "text": text, "quotes": [{"start": 16, "end": 28, "type": "indirect",
                                                  "cue": {"start": 0, "end": 3, "text": "وقال"}}]}  # fmt: skip
    with pytest.raises(InputError, match=r"g.jsonl:4: quotes\[0\]\.cue: offsets \[0, 3\) give 'قال'"):
        Article.from_dict(quote, file="g.jsonl", line=4)


# ---------------------------------------------------------------------------------------------
# Training data and config


def _cfg_with_sources(tmp_path, tokenizer_dir, sources, **kw) -> Path:
    return tiny_config(tmp_path, tokenizer_dir, sources, eval_sources=[], load_best_model_at_end=False, max_steps=1, **kw)


def test_training_stops_at_a_bad_conll_tag_and_a_config_label_map_fixes_it(tmp_path, tokenizer_dir, capsys):
    from khabar.training.data import read_source

    path = _conll(tmp_path / "mine.conll", ["ماكرون B-PERSON", "زار O", "الجزائر B-LOC", "", "باريس B-LOC"])
    cfg = load_config(_cfg_with_sources(tmp_path, tokenizer_dir, [{"kind": "conll", "path": str(path)}]))
    with pytest.raises(InputError, match=r"mine\.conll:1: tag: unknown entity type 'PERSON'.*label_map"):
        read_source(cfg.data.sources[0], cfg)  # not trained with the name read as O
    cfg = load_config(_cfg_with_sources(tmp_path, tokenizer_dir, [{"kind": "conll", "path": str(path),
                                                                  "label_map": {"PERSON": "PER", "NORP": None}}]))  # fmt: skip
    articles = read_source(cfg.data.sources[0], cfg)
    assert [[e.label for e in a.entities] for a in articles] == [["PER", "LOC"], ["LOC"]]  # the default map still applies
    bad = _cfg_with_sources(tmp_path, tokenizer_dir, [{"kind": "conll", "path": str(path), "label_map": {"PERSON": "PERS"}}])
    with pytest.raises(ConfigError, match=r"'data.sources\[0\].label_map.PERSON'.*'PERS' is not a label"):
        load_config(bad)


def test_a_file_of_the_wrong_kind_is_named(tmp_path, tokenizer_dir):
    from khabar.training.data import read_source

    cfg = load_config(_cfg_with_sources(tmp_path, tokenizer_dir, [{"kind": "conll", "path": GOLD}]))
    with pytest.raises(InputError, match="this line is JSON: is the source's kind gold_jsonl"):
        read_source(cfg.data.sources[0], cfg)
    cfg = load_config(_cfg_with_sources(tmp_path, tokenizer_dir, [{"kind": "gold_jsonl", "path": CONLL}]))
    with pytest.raises(InputError, match="looks like 'token TAG': is the source's kind conll"):
        read_source(cfg.data.sources[0], cfg)


def test_set_reaches_list_items_and_its_mistakes_are_named_as_set(tmp_path, tokenizer_dir):
    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"])
    cfg = load_config(path, overrides=["data.sources[0].limit=3", "data.sources.1.skip=1"])
    assert (cfg.data.sources[0].limit, cfg.data.sources[1].skip) == (3, 1)
    with pytest.raises(ConfigError, match=r"with --set training.lerning_rate=1\); did you mean 'learning_rate'"):
        load_config(path, overrides=["training.lerning_rate=1"])
    with pytest.raises(ConfigError, match=r"'data.sources' in .* has 5 item\(s\), no \[9\]"):
        load_config(path, overrides=["data.sources[9].limit=3"])
    with pytest.raises(ConfigError, match=r"is a list; name an item by its index, e.g. data.sources\[0\].limit"):
        load_config(path, overrides=["data.sources.limit=3"])


def test_a_key_written_twice_is_refused(tmp_path, tokenizer_dir):
    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"])
    text = path.read_text("utf-8").replace("training:\n", "training:\n  epochs: 2\n  epochs: 5\n", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'epochs' written twice \(lines \d+ and \d+\)"):
        load_config(path)


def test_sources_that_leave_no_text_are_a_clean_error(tmp_path, tokenizer_dir, capsys):
    from khabar.cli import main

    path = _cfg_with_sources(tmp_path, tokenizer_dir, [{"kind": "conll", "path": CONLL, "limit": 0}])
    assert main(["train", "--config", str(path)]) == 2  # not a ValueError traceback
    assert "the 'split: train' sources hold no text" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Runs: interrupted, resumed, offline, the card


@pytest.mark.slow
def test_resume_skips_a_checkpoint_the_run_stopped_while_saving(tmp_path, tokenizer_dir, capsys):
    # Ctrl-C while the Trainer writes checkpoint-4 leaves it without trainer_state.json (written
    # last); --resume used to pick it and fail with FileNotFoundError.
    kw = dict(max_steps=6, eval_steps=2, save_total_limit=None, load_best_model_at_end=False)
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"], **kw))
    with pytest.raises(Crash):
        train(cfg, callbacks=[CrashAfterCheckpoint(4)])
    (Path(cfg.output_dir) / "checkpoint-4" / "trainer_state.json").unlink()
    run = train(cfg, resume=True)
    assert run.metrics["global_step"] == 6
    assert "checkpoint-4 is incomplete" in capsys.readouterr().err
    assert (Path(cfg.output_dir) / "checkpoint-4" / "trainer_state.json").is_file()  # written again
    card = (run.output_dir / "README.md").read_text("utf-8")
    assert "- **resumed**: from checkpoint-2; train_loss and train_runtime below cover the steps after it only" in card


def test_resume_with_only_an_incomplete_checkpoint_says_so(tmp_path, tokenizer_dir):
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"]))
    (Path(cfg.output_dir) / "checkpoint-2").mkdir(parents=True)
    with pytest.raises(TrainingError, match="no complete checkpoint .*checkpoint-2 has no whole trainer_state.json"):
        train(cfg, resume=True)


def test_a_cut_off_trainer_state_makes_a_checkpoint_incomplete(tmp_path):
    # a stop while trainer_state.json was being written: the file is there but not JSON
    from khabar.training.command import last_checkpoint

    for step, state in ((2, '{"global_step": 2}'), (4, '{"global_step": 4, "log_hist')):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state, encoding="utf-8")
    assert last_checkpoint(tmp_path).endswith("checkpoint-4")
    assert last_checkpoint(tmp_path, complete=True).endswith("checkpoint-2")


def test_ctrl_c_names_the_checkpoint_to_resume_from(tmp_path, tokenizer_dir, monkeypatch, capsys):
    from khabar.cli import main
    from khabar.training import command

    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"])
    ckpt = tmp_path / "run" / "checkpoint-3"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}", encoding="utf-8")

    def interrupted(cfg, resume=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "train", interrupted)
    assert main(["train", "--config", str(path)]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and str(ckpt) in err and "--resume" in err and "Traceback" not in err


def test_a_hub_encoder_that_cannot_be_fetched_says_what_to_do(tmp_path, tokenizer_dir, monkeypatch, capsys):
    from huggingface_hub import constants

    from khabar.cli import main

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # never a network retry loop in tests
    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"])
    raw = yaml.safe_load(path.read_text("utf-8"))
    raw["model"].pop("encoder_config")
    raw["model"].pop("tokenizer")
    raw["model"]["encoder"] = "khabar-tests/no-such-encoder"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'model.encoder'" in err and "HF_HUB_OFFLINE=1" in err and "hf download khabar-tests/no-such-encoder" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_model_card_names_the_checkpoint_whose_weights_ship(tmp_path, tokenizer_dir):
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"], max_steps=4, eval_steps=2,
                                  eval_loss=True, metric_for_best_model="loss", greater_is_better=True))  # fmt: skip
    run = train(cfg)
    best = Path(run.metrics["best_checkpoint"])
    card = (run.output_dir / "README.md").read_text("utf-8")
    line = next(x for x in card.splitlines() if x.startswith("- **weights**:"))
    assert line.startswith(f"- **weights**: {best.name} (step {best.name.split('-')[1]} of 4")
    saved, kept = load_file(str(run.output_dir / "model.safetensors")), load_file(str(best / "model.safetensors"))
    assert all((saved[k] == kept[k]).all() for k in saved)  # the card says which weights these are
    # the eval files are training files here: the card does not pass the scores for held-out ones
    assert "- **eval_caveat**: the eval source data.sources[3]" in card and "data.sources[4]" in card


def test_eval_sources_read_for_training_are_noted(tmp_path, tokenizer_dir):
    from khabar.training.data import trained_on_eval

    train_part = {"kind": "conll", "path": CONLL, "limit": 5}
    held_out = [{"kind": "conll", "path": CONLL, "split": "eval", "skip": 5}]
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, [train_part], eval_sources=held_out))
    assert trained_on_eval(cfg) == []  # one file split by skip/limit: held out
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, [dict(train_part, limit=6)], eval_sources=held_out))
    (note,) = trained_on_eval(cfg)
    assert note.startswith("note: the eval source data.sources[1]") and "not held-out accuracy" in note


# ---------------------------------------------------------------------------------------------
# Benchmarking


def test_evaluate_notes_gold_articles_without_prediction(tmp_path, capsys):
    from khabar.cli import main

    gold = list(read_articles(GOLD))
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps(a.to_dict(), ensure_ascii=False) + "\n" for a in gold[:2]), encoding="utf-8")
    assert main(["evaluate", GOLD, str(pred), "--json"]) == 0  # legitimate (bootstrap --skip-empty) ...
    out = json.loads(capsys.readouterr().out)
    assert out["missing_predictions"] == [a.id for a in gold[2:]]
    main(["evaluate", GOLD, str(pred)])
    captured = capsys.readouterr()
    assert f"{len(gold) - 2} of {len(gold)} gold article(s) have no prediction" in captured.err  # ... but never silent
    assert "without a prediction, scored as predicting nothing" in captured.out


def test_evaluate_on_a_conll_gold_file_says_how_to_convert_it(tmp_path, capsys):
    from khabar.cli import main

    pred = tmp_path / "pred.jsonl"
    pred.write_text("", encoding="utf-8")
    assert main(["evaluate", CONLL, str(pred)]) == 2
    err = capsys.readouterr().err
    assert "looks like CoNLL" in err and "read_conll(sys.argv[1])" in err


def test_a_metric_for_best_model_no_evaluation_gives_fails_before_training(tmp_path, tokenizer_dir):
    from khabar.data.article import Article, Entity, Quote, Span
    from khabar.evaluation.scoring import score
    from khabar.training.config import EVAL_METRICS
    from khabar.training.trainer import flatten_scores

    # the list the config checks against is what an evaluation reports (per-label F1s aside)
    text = "قال سامي إن الوضع صعب"
    gold = Article("a", text, [Entity(4, 8, "PER")], [Quote(9, 21, "indirect", Span(0, 3), Span(4, 8), "سامي")])
    reported = {k for k in flatten_scores(score([gold], [gold])) if not k.startswith("entities_PER")} | {"loss"}
    assert reported == set(EVAL_METRICS)
    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"])
    with pytest.raises(ConfigError, match="no evaluation gives 'entities_f1'; did you mean 'entities_micro_f1'"):
        load_config(path, overrides=["training.metric_for_best_model=entities_f1"])  # was a KeyError after epoch 1
    assert load_config(path, overrides=["training.metric_for_best_model=eval_entities_PER_f1"])


def test_a_typo_in_model_extra_is_named_not_ignored(tmp_path, tokenizer_dir):
    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"])
    # KhabarConfig keeps unknown keyword arguments as attributes: the typo trained without the LSTM
    with pytest.raises(ConfigError, match="unknown KhabarConfig option 'model.extra.context_lsmt'.*'context_lstm'"):
        load_config(path, overrides=["model.extra.context_lsmt=true"])
    with pytest.raises(ConfigError, match="'model.extra.max_length' .*set it as 'model.max_length'"):
        load_config(path, overrides=["model.extra.max_length=64"])
    assert load_config(path, overrides=["model.extra.context_lstm=true"]).model.extra["context_lstm"] is True


def test_a_typo_in_encoder_config_is_named_not_ignored(tmp_path, tokenizer_dir):
    from transformers import AutoTokenizer

    from khabar.training.command import build_model

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    path = tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"])
    cfg = load_config(path, overrides=["model.encoder_config.hidden_sise=48"])  # the default size, silently
    with pytest.raises(ConfigError, match="unknown bert option 'model.encoder_config.hidden_sise'.*'hidden_size'"):
        build_model(cfg, tok)
    model = build_model(load_config(path, overrides=["model.encoder_config.hidden_size=48"]), tok)
    assert model.config.encoder["hidden_size"] == 48


def test_a_duplicate_id_in_a_source_stops_training(tmp_path, tokenizer_dir):
    from khabar.training.data import read_source

    lines = Path(GOLD).read_text("utf-8").splitlines()
    twin = json.loads(lines[3])
    twin["id"] = json.loads(lines[0])["id"]  # copy-pasted: the eval scorer would skip the 2nd article
    dup = tmp_path / "dup.jsonl"
    dup.write_text("\n".join(lines[:3] + [json.dumps(twin, ensure_ascii=False)] + lines[4:]) + "\n", encoding="utf-8")
    cfg = load_config(_cfg_with_sources(tmp_path, tokenizer_dir, [{"kind": "gold_jsonl", "path": str(dup)}]))
    with pytest.raises(InputError, match=r"dup.jsonl: id: id '.*' of article 4 is also the id of article 1"):
        read_source(cfg.data.sources[0], cfg)


def test_evaluate_reads_the_json_array_analyze_writes(tmp_path, capsys):
    from khabar.cli import main

    gold = [a.to_dict(with_text=True) for a in read_articles(GOLD)]
    array = tmp_path / "pred.json"  # khabar analyze --format json: one indented array, not JSONL
    array.write_text(json.dumps(gold, ensure_ascii=False, indent=1), encoding="utf-8")
    assert main(["evaluate", GOLD, str(array), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["entities"]["micro"]["f1"] == 1.0 and result["missing_predictions"] == []
    array.write_text(json.dumps([{"id": "x"}]), encoding="utf-8")
    assert main(["evaluate", GOLD, str(array)]) == 1
    assert "pred.json[0]: text: missing key" in capsys.readouterr().err


def test_a_finished_run_is_not_offered_a_resume_of_nothing(tmp_path, tokenizer_dir):
    cfg = load_config(tiny_config(tmp_path, tokenizer_dir, SOURCES["mixed"]))
    out = Path(cfg.output_dir)
    (out / "checkpoint-4").mkdir(parents=True)
    with pytest.raises(TrainingError, match="already holds checkpoints .*pass --resume to continue"):
        train(cfg)  # stopped mid-way
    (out / "eval_results.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TrainingError, match="holds a finished run"):
        train(cfg)


def test_a_pretraining_config_given_to_train_says_which_command_runs_it():
    repo = Path(__file__).resolve().parents[1]
    with pytest.raises(ConfigError, match="looks like a pretraining config: run it with khabar pretrain"):
        load_config(repo / "configs" / "pretrain-compact.yaml", check_files=False)
