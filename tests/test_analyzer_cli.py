"""``khabar analyze`` on the tiny model: inputs, formats, bad input, stdin, data-parallel merge."""

from __future__ import annotations

import io
import json
import sys
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from analyzer_helpers import SEED_TEXT, tiny_model_dir  # noqa: E402

from khabar.cli import main  # noqa: E402



pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_model_dir(tmp_path_factory))


def analyze(capsys, *argv):
    rc = main(["analyze", *map(str, argv), "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def spans(result):
    for e in result["entities"]:
        yield e
    for q in result["quotes"]:
        yield q
        yield from (q[k] for k in ("cue", "speaker") if q[k])


def test_seed_article_offsets_index_the_file(capsys, model_dir):
    rc, out, err = analyze(capsys, SEED_TEXT, "--model", model_dir)
    assert rc == 0, err
    (result,) = [json.loads(line) for line in out.splitlines()]
    with open(SEED_TEXT, encoding="utf-8", newline="") as fh:  # exactly as on disk
        text = fh.read()
    assert result["id"] == SEED_TEXT.stem and result["text"] == text
    found = list(spans(result))
    assert found
    for span in found:
        assert span["text"] == text[span["start"] : span["end"]]


def test_bad_inputs_are_reported_and_skipped(capsys, model_dir, tmp_path):
    jsonl = tmp_path / "news.jsonl"
    jsonl.write_bytes(
        b'{"id": "a", "text": "\xd9\x82\xd8\xa7\xd9\x84 \xd8\xa7\xd9\x84\xd8\xb1\xd8\xa6\xd9\x8a\xd8\xb3 \xd8\xa5\xd9\x86 \xd8\xa7\xd9\x84\xd9\x88\xd8\xb6\xd8\xb9 \xd8\xb5\xd8\xb9\xd8\xa8."}\n'
        b'{"id": "b", "text": \n'  # bad JSON
        b'{"id": "c", "title": "no text"}\n'  # missing text
        b'{"id": "d", "text": "\xff\xfe broken"}\n'  # invalid UTF-8
        b'\n'
        b'{"id": "e", "text": ""}\n'
    )
    bad_txt = tmp_path / "broken.txt"
    bad_txt.write_bytes("سطر أول\nسطر ثان ".encode() + b"\xc3\x28 \n")
    good_txt = tmp_path / "good.txt"
    good_txt.write_text("أعلنت الحكومة العراقية في بغداد عن خطة جديدة.", encoding="utf-8")
    rc, out, err = analyze(capsys, jsonl, bad_txt, good_txt, tmp_path / "missing.txt", "--model", model_dir)
    assert rc == 1
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a", "e", "good"]
    assert f"{jsonl}:2: invalid JSON" in err
    assert f"{jsonl}:3: text: missing" in err or f"{jsonl}:3:" in err and "text" in err
    assert f"{jsonl}:4: invalid UTF-8" in err
    assert f"{bad_txt}:2: invalid UTF-8" in err
    assert f"{tmp_path / 'missing.txt'}" in err
    assert "3 articles written, 5 input(s) skipped" in err


def test_formats(capsys, model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(json.dumps({"id": f"n{i}", "text": SEED_TEXT.read_text(encoding="utf-8")[i * 300 : i * 300 + 600]}, ensure_ascii=False) for i in range(3)),
        encoding="utf-8",
    )
    rc, out, _ = analyze(capsys, src, "--model", model_dir, "--format", "json", "--batch-size", "2")
    assert rc == 0 and [r["id"] for r in json.loads(out)] == ["n0", "n1", "n2"]
    rc, out, _ = analyze(capsys, src, "--model", model_dir, "--format", "table")
    assert rc == 0 and out.count("== n") == 3 and "entities" in out
    html_out = tmp_path / "view" / "out.html"
    rc, out, _ = analyze(capsys, src, "--model", model_dir, "--format", "html", "--out", html_out)
    assert rc == 0 and out == ""
    page = html_out.read_text(encoding="utf-8")
    assert '<html dir="rtl" lang="ar">' in page and page.count('<article class="doc"') == 3
    rc, out, _ = analyze(capsys, tmp_path / "empty.jsonl" if False else src, "--model", model_dir, "--quantize", "int8")
    assert rc == 0 and len(out.splitlines()) == 3


def test_stdin_text_and_jsonl(capsys, model_dir, monkeypatch):
    text = "\n\nقال الوزير إن الاجتماع انتهى.\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))
    rc, out, _ = analyze(capsys, "-", "--model", model_dir)
    (r,) = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and r["id"] == "stdin" and r["text"] == text
    lines = '{"id": "x", "text": "نص أول"}\nnot json\n{"id": "y", "text": "نص ثان"}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode("utf-8"))))
    rc, out, err = analyze(capsys, "-", "--model", model_dir)
    assert rc == 1 and [json.loads(line)["id"] for line in out.splitlines()] == ["x", "y"]
    assert "<stdin>:2: invalid JSON" in err


def test_without_a_model_exits_2_with_the_fix(capsys):
    from khabar.analyzer import ModelNotFoundError, default_model_path

    try:
        default_model_path()
        pytest.skip("a default model is bundled in this installation")
    except ModelNotFoundError:
        pass
    rc, out, err = analyze(capsys, SEED_TEXT)
    assert rc == 2 and out == ""
    assert "no default model is bundled in this installation yet; pass a path" in err
    rc, _, err = analyze(capsys, SEED_TEXT, "--model", "/nonexistent/model")
    assert rc == 2 and "not a model directory" in err


def test_data_parallel_shards_merge_in_input_order(model_dir, tmp_path):
    """Two 'processes' (run one after the other, barrier stubbed) give the single-process output."""
    from khabar.analyze_command import run_shard
    from khabar.analyzer import Analyzer

    seed = SEED_TEXT.read_text(encoding="utf-8")
    src = tmp_path / "corpus.jsonl"
    rows = [json.dumps({"id": f"a{i}", "text": seed[i * 150 : i * 150 + 400]}, ensure_ascii=False) for i in range(7)]
    rows.insert(3, "{broken")
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    analyzer = Analyzer.from_pretrained(model_dir)
    args = SimpleNamespace(inputs=[str(src)], out=str(out), format="jsonl", batch_size=4, no_progress=True)
    rc1 = run_shard(args, analyzer, rank=1, world=2, barrier=lambda: None)
    rc0 = run_shard(args, analyzer, rank=0, world=2, barrier=lambda: None)
    assert (rc0, rc1) == (1, 1)  # the broken line (index 3) is rank 1's; rank 0 reports the total
    merged = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in merged] == [f"a{i}" for i in range(7)]
    single = list(analyzer.pipe([{"id": r["id"], "text": r["text"]} for r in merged]))
    assert merged == single
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl", "out.jsonl"]


def test_out_inside_an_input_folder_is_not_read_back(capsys, model_dir, tmp_path):
    (tmp_path / "a.txt").write_text("قال الوزير إن الاجتماع انتهى.", encoding="utf-8")
    (tmp_path / "x.jsonl.part0").write_text("", encoding="utf-8")  # a stale shard of --out: not an input
    out = tmp_path / "x.jsonl"
    out.write_text('{"id": "old", "text": "نص قديم"}\n', encoding="utf-8")  # an earlier run's output
    rc, _, err = analyze(capsys, tmp_path, "--out", out, "--model", model_dir)
    assert rc == 0, err
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == ["a"]


def test_out_equal_to_an_input_is_refused(capsys, model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "نص أول"}\n', encoding="utf-8")
    before = src.read_bytes()
    rc, out, err = analyze(capsys, src, "--out", tmp_path / "." / "in.jsonl", "--model", model_dir)
    assert rc == 2 and out == "" and "is one of the inputs" in err
    assert src.read_bytes() == before


def test_stdin_text_keeps_leading_whitespace_lines(capsys, model_dir, monkeypatch):
    text = " \t\r\n\r\n  \nقال الوزير إن الاجتماع انتهى.\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))
    rc, out, _ = analyze(capsys, "-", "--model", model_dir)
    (r,) = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and r["text"] == text
    for span in spans(r):
        assert span["text"] == text[span["start"] : span["end"]]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--threads", "0"], "--threads must be >= 1"),
        (["--device", "foo"], "--device foo"),
        (["--out", "FILE_PARENT/out.jsonl"], "cannot write --out"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, model_dir, tmp_path, extra, message):
    (tmp_path / "FILE_PARENT").write_text("a file, not a folder", encoding="utf-8")
    extra = [str(tmp_path / e) if e.startswith("FILE_PARENT") else e for e in extra]
    rc, out, err = analyze(capsys, SEED_TEXT, "--model", model_dir, *extra)
    assert rc == 2 and out == "" and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_device_cuda_without_cuda_exits_2(capsys, model_dir, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc, _, err = analyze(capsys, SEED_TEXT, "--model", model_dir, "--device", "cuda")
    assert rc == 2 and "CUDA is not available" in err


def test_broken_pipe_is_quiet(capsys, model_dir, monkeypatch):
    from khabar import analyze_command

    def closed_pipe(self, result):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(analyze_command.Writer, "write", closed_pipe)
    rc, _, err = analyze(capsys, SEED_TEXT, "--model", model_dir)
    assert rc == 1 and "Traceback" not in err and "Broken pipe" not in err


def test_ctrl_c_is_one_line_and_exit_130(capsys, model_dir, monkeypatch):
    from khabar import analyze_command

    def interrupted(self, result):
        raise KeyboardInterrupt

    monkeypatch.setattr(analyze_command.Writer, "write", interrupted)
    rc, _, err = analyze(capsys, SEED_TEXT, "--model", model_dir)
    assert rc == 130 and "khabar analyze: interrupted" in err and "Traceback" not in err
