"""``khabar evaluate``: the seed gold against itself scores 1.0; degraded predictions score exactly lower."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from khabar.cli import main
from khabar.data.article import Article, Entity, Quote, Span, read_articles, write_articles

SEED = Path("data") / "seed" / "seed-000.gold.jsonl"


def _numbers_named(tree, keys=("precision", "recall", "f1", "accuracy", "accuracy_on_matched")):
    """Every score in the nested result, with its path, for "1.0 everywhere" checks."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k in keys and isinstance(v, float):
                yield k, v
            else:
                for path, value in _numbers_named(v, keys):
                    yield f"{k}.{path}", value


def _run_json(capsys, *argv: str) -> tuple[int, dict, str]:
    rc = main(["evaluate", *argv, "--json"])
    out, err = capsys.readouterr()
    return rc, json.loads(out), err


def test_seed_gold_against_itself_scores_one_everywhere(shared_dir):
    gold = shared_dir / SEED
    # The real command line, as a user types it.
    proc = subprocess.run(
        [sys.executable, "-m", "khabar.cli", "evaluate", str(gold), str(gold), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    scores = dict(_numbers_named(result))
    assert len(scores) > 30
    assert all(v == 1.0 for v in scores.values()), {k: v for k, v in scores.items() if v != 1.0}
    assert result["entities"]["micro"]["tp"] == 47
    assert result["quotes"]["overlap"]["tp"] == 13
    assert result["attribution"]["tp"] == 13
    assert result["errors"] == [] and result["skipped_lines"] == 0


def test_seed_with_every_second_quote_dropped(shared_dir, tmp_path, capsys):
    gold_path = shared_dir / SEED
    (article,) = read_articles(gold_path, on_error=None)
    assert len(article.quotes) == 13
    # Keep quotes 0, 2, ..., 12: 7 of 13 (types: 4 of 6 indirect, 3 of 5 mixed, 0 of 2 direct).
    article.quotes = article.quotes[::2]
    pred_path = tmp_path / "pred.jsonl"
    write_articles([article], pred_path)

    rc, result, _ = _run_json(capsys, str(gold_path), str(pred_path))
    assert rc == 0
    assert result["entities"]["micro"]["f1"] == 1.0  # entities untouched
    for section in (result["quotes"]["overlap"], result["quotes"]["exact"], result["attribution"]):
        assert (section["tp"], section["fp"], section["fn"]) == (7, 0, 6)
        assert section["precision"] == 1.0
        assert section["recall"] == pytest.approx(7 / 13)
        assert section["f1"] == pytest.approx(0.7)  # 2 * 7 / (13 + 7)
    assert result["quotes"]["recall_per_type"] == {
        "direct": {"recall": 0.0, "tp": 0, "support": 2},
        "indirect": {"recall": pytest.approx(4 / 6), "tp": 4, "support": 6},
        "mixed": {"recall": pytest.approx(3 / 5), "tp": 3, "support": 5},
    }
    assert result["quotes"]["type_accuracy"]["accuracy"] == 1.0
    assert result["attribution"]["accuracy_on_matched"] == 1.0


def test_seed_with_wrong_speakers_and_shifted_spans(shared_dir, tmp_path, capsys):
    gold_path = shared_dir / SEED
    (article,) = read_articles(gold_path, on_error=None)
    # Name every speaker by a surname only: still the same source per the guidelines.
    for q in article.quotes:
        q.speaker_name = q.speaker_name.split()[-1]
    # Shift the first three quotes by one character at the end: overlap-matched, not exact.
    for q in article.quotes[:3]:
        q.end -= 1
    # Give the last one to someone else.
    article.quotes[-1].speaker_name = "جوزيف دانفورد"
    pred_path = tmp_path / "pred.jsonl"
    write_articles([article], pred_path)

    rc, result, _ = _run_json(capsys, str(gold_path), str(pred_path))
    assert rc == 0
    assert result["quotes"]["overlap"]["f1"] == 1.0
    assert (result["quotes"]["exact"]["tp"], result["quotes"]["exact"]["fp"]) == (10, 3)
    assert result["quotes"]["exact"]["f1"] == pytest.approx(10 / 13)
    att = result["attribution"]
    assert (att["tp"], att["fp"], att["fn"]) == (12, 1, 1)
    assert att["f1"] == pytest.approx(12 / 13)
    assert att["accuracy_on_matched"] == pytest.approx(12 / 13)


def _article(aid: str, entities=None, quotes=None) -> Article:
    text = "وقال وزير الخارجية الأردني أيمن الصفدي إن الحل السياسي هو الطريق الوحيد."
    return Article(aid, text, entities, quotes)


def test_gold_without_entities_is_not_scored_on_entities(tmp_path, capsys):
    quote = Quote(39, 71, "indirect", Span(0, 4), Span(27, 38), "أيمن الصفدي")
    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    write_articles([_article("x1", None, [quote])], gold)
    write_articles([_article("x1", [Entity(27, 38, "PER")], [quote])], pred)
    rc, result, _ = _run_json(capsys, str(gold), str(pred))
    assert rc == 0
    assert "entities" not in result
    assert result["quotes"]["overlap"]["f1"] == 1.0

    assert main(["evaluate", str(gold), str(pred)]) == 0
    table = capsys.readouterr().out
    assert "entities: not scored" in table
    assert "quotes (1 article(s), 1 gold, 1 predicted)" in table


def test_malformed_lines_are_reported_skipped_and_exit_nonzero(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    write_articles([_article("x1", [Entity(27, 38, "PER")]), _article("x2", [Entity(19, 26, "MISC")])], gold)
    good = json.dumps(_article("x1", [Entity(27, 38, "PER")]).to_dict(), ensure_ascii=False)
    bad_span = json.dumps(_article("x2").to_dict() | {"entities": [{"start": 5, "end": 999, "label": "MISC"}]})
    pred.write_text(good + "\n{not json\n" + bad_span + "\n", encoding="utf-8")

    rc, result, err = _run_json(capsys, str(gold), str(pred))
    assert rc == 1
    assert f"{pred}:2" in err and "invalid JSON" in err
    assert f"{pred}:3" in err and "entities[0]" in err
    assert result["skipped_lines"] == 2
    # Scores are still there: x2's prediction was skipped, so it predicts nothing.
    micro = result["entities"]["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"]) == (1, 0, 1)


def test_unknown_prediction_id_is_an_error(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    write_articles([_article("x1", [])], gold)
    write_articles([_article("x1", []), _article("other", [])], pred)
    rc, result, err = _run_json(capsys, str(gold), str(pred))
    assert rc == 1
    assert "'other' is not in gold" in err
    assert result["n_articles"] == 1


def test_table_and_out_file(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    write_articles([_article("x1", [Entity(27, 38, "PER")], [])], gold)
    out = tmp_path / "scores" / "seed.json"
    assert main(["evaluate", str(gold), str(gold), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "micro" in table and "1.000" in table and "overlap/union >= 0.5" in table
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["entities"]["micro"]["f1"] == 1.0
    # No gold quotation, no prediction: 0.0 with zero counts, not a made-up 1.0.
    assert saved["quotes"]["overlap"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0}


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.jsonl"), str(tmp_path / "nope.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_does_not_import_torch_or_evaluate(tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_articles([_article("x1", [])], gold)
    code = (
        "import sys; from khabar.cli import main;"
        f"rc = main(['evaluate', {str(gold)!r}, {str(gold)!r}, '--json']);"
        "bad = [m for m in ('torch', 'evaluate', 'transformers') if m in sys.modules];"
        "sys.exit(f'imported {bad}' if bad else rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    """`khabar evaluate GOLD PRED | head -1`: no BrokenPipeError traceback on stderr."""
    import subprocess
    import sys

    gold = tmp_path / "g.jsonl"
    gold.write_text("".join('{"id": "%d", "text": "قال محمد", "entities": [], "quotes": []}\n' % i for i in range(300)),
                    encoding="utf-8")
    proc = subprocess.run(f"{sys.executable} -m khabar.cli evaluate {gold} {gold} | head -1", shell=True,
                          capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_broken_pipe_elsewhere_is_not_hidden(monkeypatch, tmp_path):
    """Only a closed stdout ends quietly; another broken pipe (a dead bench worker) still raises."""
    import khabar.evaluation.command as command
    from khabar.cli import main

    def broken(args):
        raise BrokenPipeError("worker")

    monkeypatch.setattr(command, "run", broken)
    with pytest.raises(BrokenPipeError, match="worker"):
        main(["evaluate", str(tmp_path / "g.jsonl"), str(tmp_path / "p.jsonl")])
