import json
from pathlib import Path

import pytest

from khabar.data.article import Article, Entity, InputError, Quote, Span
from khabar.data.conll import WOJOOD_LABEL_MAP, read_conll
from khabar.data.hf import articles_to_dataset, dataset_to_articles
from khabar.data.news import iter_news, read_text_file

CONLL = """\
قال O
الرئيس O
محمد B-PERS
بن I-PERS
سلمان I-PERS
في O
الرياض B-LOC
. O

وزارة B-ORG
الخارجية I-ORG
الفرنسية I-LOC
و O
كأس I-MISC
العالم I-MISC
"""


def collect() -> tuple[list[InputError], object]:
    errors: list[InputError] = []
    return errors, errors.append


def ents(a: Article) -> list[tuple[str, str]]:
    return [(a.text[e.start : e.end], e.label) for e in a.entities or []]


def test_conll_basic(tmp_path: Path) -> None:
    p = tmp_path / "mini.txt"
    p.write_text(CONLL, encoding="utf-8")
    c = read_conll(p)
    assert (c.n_sentences, c.n_tokens) == (2, 14)
    a, b = c.articles
    assert a.id == "mini-0" and b.id == "mini-1"
    assert a.text == "قال الرئيس محمد بن سلمان في الرياض ."
    assert ents(a) == [("محمد بن سلمان", "PER"), ("الرياض", "LOC")]
    assert a.quotes is None
    assert [a.text[s:e] for s, e in a.meta["tokens"]] == a.text.split(" ")
    # I-LOC after ORG and I-MISC after O are stray: repaired to B- and counted
    assert ents(b) == [("وزارة الخارجية", "ORG"), ("الفرنسية", "LOC"), ("كأس العالم", "MISC")]
    assert c.n_repaired == 2
    assert c.label_counts == {"PER": 1, "LOC": 2, "ORG": 1, "MISC": 1}
    # validates under the shared schema
    Article.from_dict(json.loads(json.dumps(a.to_dict())))


def test_conll_errors_and_label_maps(tmp_path: Path) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes("كلمة B-FOO\nأخرى I-FOO\nثالثة b-per\nوحيدة\nرابعة O\n\n".encode() + b"\xff\xfe O\n")
    errors: list[InputError] = []
    c = read_conll(p, on_error=errors.append)
    assert [e.line for e in errors] == [1, 2, 3, 4, 7]
    assert all(e.file == str(p) for e in errors) and "FOO" in str(errors[0]) and "UTF-8" in str(errors[-1])
    assert c.n_tokens == 5 and c.articles[0].entities == []
    with pytest.raises(InputError, match="bad.txt:1"):
        read_conll(p, on_error=None)
    q = tmp_path / "ok.txt"
    q.write_text("أ B-FOO\nب I-FOO\nج B-PERS\n", encoding="utf-8")
    c = read_conll(q, drop_unknown=True, on_error=None)
    assert ents(c.articles[0]) == [("ج", "PER")] and c.dropped_counts == {"FOO": 1}
    c = read_conll(q, label_map={"FOO": "MISC"}, drop_unknown=True)
    assert ents(c.articles[0]) == [("أ ب", "MISC")]


def test_conll_nested_first_layer_and_conll2003_columns(tmp_path: Path) -> None:
    p = tmp_path / "nested.txt"
    p.write_text("رئيس B-OCC\nاللجنة I-OCC B-ORG\nالعربية I-OCC I-ORG\nفي O\nنابلس B-GPE\n", encoding="utf-8")
    c = read_conll(p, label_map=WOJOOD_LABEL_MAP)
    # the occupation maps to nothing; the organisation nested in it is kept
    assert ents(c.articles[0]) == [("اللجنة العربية", "ORG"), ("نابلس", "LOC")] and c.dropped_counts == {"OCC": 1}
    c = read_conll(p, label_map={**WOJOOD_LABEL_MAP, "OCC": "MISC"})  # mapped outer span: inner ones stay out
    assert ents(c.articles[0]) == [("رئيس اللجنة العربية", "MISC"), ("نابلس", "LOC")]
    c = read_conll(p, label_map=WOJOOD_LABEL_MAP, layer=1)
    assert ents(c.articles[0]) == [("اللجنة العربية", "ORG")]
    q = tmp_path / "c03.txt"
    q.write_text("-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n", encoding="utf-8")
    c = read_conll(q, on_error=None)
    assert c.n_sentences == 1 and ents(c.articles[0]) == [("EU", "ORG")]


def test_anercorp_camel_counts(shared_dir: Path) -> None:
    d = shared_dir / "data" / "anercorp-camel"
    errors: list[InputError] = []
    train = read_conll(d / "ANERCorp_CamelLab_train.txt", on_error=errors.append)
    test = read_conll(d / "ANERCorp_CamelLab_test.txt", on_error=errors.append)
    assert (train.n_sentences, train.n_tokens) == (3973, 125102)
    assert (test.n_sentences, test.n_tokens) == (925, 25008)
    assert errors == []
    # README: 8,961 / 2,211 B- tags; every stray I- starts one more entity
    assert sum(train.label_counts.values()) == 8961 + train.n_repaired
    assert sum(test.label_counts.values()) == 2211 + test.n_repaired
    assert set(train.label_counts) == {"PER", "ORG", "LOC", "MISC"}


def test_aqmar_counts(shared_dir: Path) -> None:
    c = read_conll(shared_dir / "data" / "aqmar" / "train.txt", on_error=None)
    assert (c.n_sentences, c.n_tokens, c.n_repaired) == (1328, 36050, 0)
    assert c.label_counts == {"PER": 753, "LOC": 971, "ORG": 235, "MISC": 1129}


def test_iter_news_streams_and_skips_bad_lines(tmp_path: Path) -> None:
    p = tmp_path / "news.jsonl"
    good = {"id": "n1", "text": "قال الوزير", "url": "http://x", "title": "عنوان"}
    lines = [
        json.dumps(good, ensure_ascii=False).encode(),
        b"{not json",
        json.dumps({"id": "n2"}).encode(),
        b'{"id": "n3", "text": "\xff"}',
        json.dumps({"id": "n4", "text": "نص", "entities": [{"start": 0, "end": 2, "label": "LOC"}]}, ensure_ascii=False).encode(),
        b"",
    ]
    p.write_bytes(b"\n".join(lines))
    errors: list[InputError] = []
    out = list(iter_news([p], on_error=errors.append))
    assert [a.id for a in out] == ["n1", "n4"]
    assert out[0].meta == {"url": "http://x", "title": "عنوان"} and out[0].entities is None and out[0].quotes is None
    assert out[1].entities == [Entity(0, 2, "LOC")]
    assert [e.line for e in errors] == [2, 3, 4] and all(e.file == str(p) for e in errors)
    assert [a.id for a in iter_news(str(p), on_error=lambda e: None)] == ["n1", "n4"]
    with pytest.raises(InputError):
        list(iter_news([p], on_error=None))
    with pytest.raises(InputError, match="directory"):
        list(iter_news([tmp_path]))


def test_iter_news_on_ant(shared_dir: Path) -> None:
    first = next(iter_news([shared_dir / "data" / "ant-news" / "news-00.jsonl"], on_error=None))
    assert first.id and first.text and "url" in first.meta


def test_read_text_file(tmp_path: Path) -> None:
    p = tmp_path / "story-1.txt"
    p.write_bytes("سطر\r\nثان\n".encode())
    a = read_text_file(p)
    assert a.id == "story-1" and a.text == "سطر\r\nثان\n"  # no newline translation: offsets stay exact
    bad = tmp_path / "bad.txt"
    bad.write_bytes("سطر\nثان".encode() + b"\xc3(")
    with pytest.raises(InputError, match=r"bad\.txt:2: invalid UTF-8 at byte 13"):
        read_text_file(bad)


def test_dataset_round_trip() -> None:
    arts = [
        Article("a", "قال الوزير إن", [Entity(4, 10, "PER", 0.75)],
                [Quote(11, 13, "indirect", Span(0, 3), Span(4, 10), "الوزير", 0.5, "cue_inna")], {"url": "u", "k": [1]}),
        Article("b", "نص بلا طبقات"),
        Article("c", "نص", [], []),
        Article("d", "نص", None, [Quote(0, 2, "direct")]),
    ]
    ds = articles_to_dataset(arts)
    assert ds.column_names == ["id", "text", "has_entities", "entities", "has_quotes", "quotes", "meta"]
    assert ds["has_entities"] == [True, False, True, False] and ds["entities"][1] == []
    assert dataset_to_articles(ds) == arts
    assert dataset_to_articles(articles_to_dataset(iter(arts * 3), batch_size=5)) == arts * 3
    assert len(articles_to_dataset([])) == 0


def test_jsonl_bom_and_lone_surrogate(tmp_path):
    from khabar.data.article import InputError, read_articles

    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "1", "text": "abc"}\n{"id": "2", "text": "a \\ud800 b"}\n{"id": "3", "text": "def"}\n')
    errors: list[InputError] = []
    assert [a.id for a in read_articles(path, on_error=errors.append)] == ["1", "3"]
    assert len(errors) == 1 and errors[0].line == 2 and errors[0].field == "text" and "surrogate" in errors[0].message
