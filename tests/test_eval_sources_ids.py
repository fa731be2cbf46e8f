"""Two eval sources whose articles get the same ids (CoNLL ids are FILE-STEM-N: aqmar/test.txt and
wojood-sample/test.txt both give test-1, test-2 ...): the trainer scores every eval article in one
call that aligns by id, so the second file went unscored without a word."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from khabar.evaluation.scoring import score  # noqa: E402
from khabar.training import data as training_data  # noqa: E402
from khabar.training.config import config_from_dict  # noqa: E402


def test_two_eval_files_with_one_stem_are_all_scored(tmp_path, monkeypatch):
    for folder, words in (("a", ("ماكرون", "زار", "الجزائر")), ("b", ("تبون", "استقبل", "ماكرون"))):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "test.txt").write_text(
            f"{words[0]} B-PER\n{words[1]} O\n\n{words[2]} B-LOC\n", encoding="utf-8")
    (tmp_path / "tok").mkdir()
    raw = {
        "output_dir": str(tmp_path / "run"),
        "model": {"encoder_config": {"model_type": "bert", "hidden_size": 32}, "tokenizer": str(tmp_path / "tok")},
        "data": {"sources": [
            {"kind": "conll", "path": str(tmp_path / "a" / "test.txt"), "split": "train"},
            {"kind": "conll", "path": str(tmp_path / "a" / "test.txt"), "split": "eval"},
            {"kind": "conll", "path": str(tmp_path / "b" / "test.txt"), "split": "eval"},
        ]},
    }
    cfg = config_from_dict(raw, where="test", check_files=False)
    monkeypatch.setattr(training_data, "encode_articles", lambda encoder, articles, summary: [[{"input_ids": [1]}] for _ in articles])
    data = training_data.build_data(cfg, encoder=None)
    assert len(data.eval_articles) == 4
    result = score(data.eval_articles, data.eval_articles)
    assert result["n_articles"] == 4 and not result["errors"], result["errors"]
    assert result["entities"]["micro"]["tp"] == 4  # every gold entity of both files counted
