"""Ship a fine-tuned model as khabar's embedded default model (``khabar/default_model/``).

``python -m khabar.training.export RUN_DIR --out khabar/default_model`` loads the model that
``khabar train`` left in ``RUN_DIR`` (the last epoch, or the best checkpoint when the recipe sets
``load_best_model_at_end``), stores its
weights as fp16 safetensors (half the bytes; ``config.json`` keeps ``dtype: float32`` so every
load computes in float32 again), saves the tokenizer beside them, refuses a model above
``--max-mb``, then scores exactly what was written, as a user loads it
(``Analyzer.from_pretrained``), and writes the model card with those numbers:

* entities on ANERcorp test (CAMeL split), micro and macro F1;
* quotations and end-to-end attribution on quotes-dev, beside the rule-based bootstrapper's;
* quotations and attribution on the seed article.

Every gold and prediction file is left in ``--eval-dir`` so ``khabar evaluate GOLD PRED``
reproduces each number (docs/default-model.md lists the commands).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

# Files of a shipped model folder; anything else already in --out is left alone (and reported).
MODEL_FILES = ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
               "special_tokens_map.json", "README.md", "scores.json")
EXPERIMENTS_BEGIN = "<!-- experiments -->"
EXPERIMENTS_END = "<!-- /experiments -->"


class ExportError(RuntimeError):
    """The model cannot be shipped as asked (too big, missing files); the message says the fix."""


@dataclass
class EvalSet:
    name: str
    gold: Path  # JSONL in the schema of the annotation guidelines
    what: str  # what the set scores, for the card


# ---------------------------------------------------------------------------------------------
# export


def export_model(run_dir: str | Path, out: str | Path, max_mb: float = 30.0,
                 hybrid_rule_confidence: float | None = None, hybrid_model_score: float = 0.0) -> Path:
    """Write ``run_dir``'s model (fp16 safetensors) and tokenizer into ``out``; return the weights file.

    ``hybrid_rule_confidence`` switches the shipped model to rules + model quotations
    (:mod:`khabar.model.hybrid`); it is stored in ``config.json``, so every user of the folder gets it."""
    import torch
    from transformers import AutoTokenizer

    from khabar.model import KhabarModel

    run = Path(run_dir)
    if not (run / "config.json").is_file():
        raise ExportError(f"{run}: no config.json; pass the output_dir of `khabar train` (or a checkpoint-N folder)")
    model = KhabarModel.from_pretrained(run, dtype=torch.float32, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(run)
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        (dest / name).unlink(missing_ok=True)
    model.config.training_summary = dict(model.config.training_summary or {}, exported_from=str(run))
    model.config.hybrid_rule_confidence = hybrid_rule_confidence
    model.config.hybrid_model_score = float(hybrid_model_score)
    # fp16 halves the bytes; the scores below are measured on these very weights
    model.half()
    model.save_pretrained(dest)
    config = json.loads((dest / "config.json").read_text(encoding="utf-8"))
    # save_pretrained records the weights' dtype, and loading would then compute in fp16 on CPU
    # (slow, and LSTM kernels do not take it): ask for float32 at load time instead.
    config["dtype"] = "float32"
    (dest / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(dest)
    weights = dest / "model.safetensors"
    size = weights.stat().st_size
    if size > max_mb * 1_000_000:
        raise ExportError(
            f"{weights}: {size / 1e6:.1f} MB exceeds --max-mb {max_mb:g}; train a smaller encoder or vocabulary"
        )
    return weights


# ---------------------------------------------------------------------------------------------
# evaluation of the exported folder


def eval_sets(shared: Path, eval_dir: Path) -> list[EvalSet]:
    """The sets the card reports; ANERcorp test is written once as gold JSONL (one article per sentence)."""
    from khabar.data.article import write_articles
    from khabar.data.conll import read_conll

    eval_dir.mkdir(parents=True, exist_ok=True)
    conll = shared / "data" / "anercorp-camel" / "ANERCorp_CamelLab_test.txt"
    aner_gold = eval_dir / "anercorp-test.gold.jsonl"
    if not aner_gold.is_file():
        write_articles(read_conll(conll).articles, aner_gold)
    return [
        EvalSet("anercorp-test", aner_gold, "entities, ANERcorp test (CAMeL split)"),
        EvalSet("quotes-dev", shared / "data" / "quotes-dev" / "quotes-dev.gold.jsonl", "quotations + attribution, quotes-dev"),
        EvalSet("seed-000", shared / "data" / "seed" / "seed-000.gold.jsonl", "quotations + attribution, seed article"),
    ]


def _predict(analyzer: Any, gold: list[Any]) -> list[Any]:
    from khabar.data.article import Article

    results = analyzer.pipe([{"id": a.id, "text": a.text} for a in gold])
    return [Article.from_dict(r) for r in results]


def _bootstrap(gold: list[Any]) -> list[Any]:
    from khabar.bootstrap import DEFAULT_MIN_CONFIDENCE, Bootstrapper

    boot = Bootstrapper(min_confidence=DEFAULT_MIN_CONFIDENCE)  # as `khabar bootstrap` runs by default
    return [boot(a.text, id=a.id) for a in gold]


def evaluate_export(model_dir: Path, shared: Path, eval_dir: Path, threads: int | None = None) -> dict[str, Any]:
    """Scores of the exported model (loaded as users load it) and of the bootstrapper on each set."""
    import torch

    from khabar.analyzer import Analyzer
    from khabar.data.article import read_articles, write_articles
    from khabar.evaluation.scoring import score

    if threads:
        torch.set_num_threads(threads)
    analyzer = Analyzer.from_pretrained(model_dir)
    results: dict[str, Any] = {}
    for s in eval_sets(shared, eval_dir):
        gold = list(read_articles(s.gold, on_error=None))
        t0 = time.time()
        pred = _predict(analyzer, gold)
        seconds = time.time() - t0
        write_articles(pred, eval_dir / f"{s.name}.pred.jsonl")
        entry: dict[str, Any] = {"gold": str(s.gold), "what": s.what, "articles": len(gold),
                                 "predict_seconds": round(seconds, 1), "model": score(gold, pred)}
        if any(a.quotes is not None for a in gold):
            if getattr(analyzer.model.config, "hybrid_rule_confidence", None) is not None:
                # which part gives what: the same weights with the model's own quotations only
                saved = analyzer.model.config.hybrid_rule_confidence
                analyzer.model.config.hybrid_rule_confidence = None
                try:
                    alone = _predict(analyzer, gold)
                finally:
                    analyzer.model.config.hybrid_rule_confidence = saved
                write_articles(alone, eval_dir / f"{s.name}.model-alone.pred.jsonl")
                entry["model alone"] = score(gold, alone)
            boot = _bootstrap(gold)
            write_articles(boot, eval_dir / f"{s.name}.bootstrap.jsonl")
            entry["bootstrapper"] = score(gold, boot)
        results[s.name] = entry
    (eval_dir / "scores.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return results


def hybrid_grid(model_dir: Path, gold_path: Path, rule_confidences: Iterable[float] = (0.3, 0.5, 0.7, 0.9),
                model_scores: Iterable[float] = (0.0, 0.5, 0.7, 0.9)) -> list[dict[str, Any]]:
    """Quotation and attribution scores of rules + model for each pair of thresholds (model selection
    on a dev set: which ``hybrid_rule_confidence`` / ``hybrid_model_score`` to ship)."""
    from khabar.analyzer import Analyzer
    from khabar.bootstrap import Bootstrapper
    from khabar.data.article import Article, read_articles
    from khabar.evaluation.scoring import score
    from khabar.model.hybrid import merge_quotes

    gold = list(read_articles(gold_path, on_error=None))
    analyzer = Analyzer.from_pretrained(model_dir)
    analyzer.model.config.hybrid_rule_confidence = None  # the model's own quotations
    model_pred = _predict(analyzer, gold)
    boot = Bootstrapper(min_confidence=0.0)
    rules = {a.id: boot(a.text, id=a.id).quotes or [] for a in gold}
    rows = []

    def add(name: str, rc: float | None, ms: float | None, pred: list[Article]) -> None:
        sc = score(gold, pred)
        rows.append({"system": name, "rule_confidence": rc, "model_score": ms,
                     "quotes": sc["quotes"]["overlap"], "attribution": sc["attribution"]})

    add("model", None, 0.0, model_pred)
    for rc in rule_confidences:
        add("rules", rc, None, [Article(a.id, a.text, None, [q for q in rules[a.id] if (q.score or 0) >= rc]) for a in gold])
        for ms in model_scores:
            add("rules+model", rc, ms, [Article(a.id, a.text, None, merge_quotes(a.quotes or [], rules[a.id], rc, ms))
                                        for a in model_pred])
    return rows


# ---------------------------------------------------------------------------------------------
# model card


def _f(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def score_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(set, system, precision, recall, f1) rows for every reported number."""
    rows = []
    aner = results.get("anercorp-test", {}).get("model", {}).get("entities")
    if aner:
        for avg in ("micro", "macro"):
            s = aner[avg]
            rows.append(("ANERcorp test", f"entities {avg}", _f(s["precision"]), _f(s["recall"]), _f(s["f1"])))
        for label, s in sorted(aner["per_label"].items()):
            rows.append(("ANERcorp test", f"  {label}", _f(s["precision"]), _f(s["recall"]), _f(s["f1"])))
    for name, label in (("quotes-dev", "quotes-dev"), ("seed-000", "seed article")):
        entry = results.get(name)
        if not entry:
            continue
        for system in ("model", "model alone", "bootstrapper"):
            if system not in entry:
                continue
            sc = entry[system]
            shown = "shipped model" if system == "model" else system
            q, att = sc.get("quotes"), sc.get("attribution")
            if q:
                o = q["overlap"]
                rows.append((label, f"{shown}: quotations (overlap >= 0.5)", _f(o["precision"]), _f(o["recall"]), _f(o["f1"])))
            if att:
                rows.append((label, f"{shown}: attribution end-to-end", _f(att["precision"]), _f(att["recall"]), _f(att["f1"])))
    return rows


def _table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def experiments_section(doc: Path | None) -> list[str]:
    """The experiment table of docs/default-model.md (between its markers), if the file has one."""
    if doc is None or not doc.is_file():
        return []
    text = doc.read_text(encoding="utf-8")
    if EXPERIMENTS_BEGIN not in text or EXPERIMENTS_END not in text:
        return []
    body = text.split(EXPERIMENTS_BEGIN, 1)[1].split(EXPERIMENTS_END, 1)[0].strip()
    return ["## Experiments behind the recipe", "", f"(from `{doc.as_posix()}`)", "", body, ""]


def _mode_line(config: Any) -> str:
    threshold = getattr(config, "hybrid_rule_confidence", None)
    if threshold is None:
        return "Quotations: the model's own (no rules at inference)."
    return (f"Quotations: **hybrid** (`hybrid_rule_confidence: {threshold}` in config.json, khabar.model.hybrid): "
            f"the rule-based bootstrapper's quotations of confidence >= {threshold}, plus the model's quotations "
            f"(score >= {getattr(config, 'hybrid_model_score', 0.0)}) that overlap none of them; entities from the "
            "model. Set `hybrid_rule_confidence` to null in config.json for the model alone.")


def _checkpoint_results(model_dir: Path, config: Any) -> dict[str, Any]:
    source = (getattr(config, "training_summary", None) or {}).get("exported_from")
    if not source:
        return {}
    ckpt = Path(source)
    out: dict[str, Any] = {}
    state = ckpt / "trainer_state.json"
    if state.is_file():
        st = json.loads(state.read_text(encoding="utf-8"))
        out["global_step"], out["epoch"] = st.get("global_step"), st.get("epoch")
    run_results = ckpt.parent / "eval_results.json"
    if run_results.is_file():
        metrics = json.loads(run_results.read_text(encoding="utf-8")).get("metrics", {})
        out["train_runtime"] = f"{float(metrics.get('train_runtime') or 0):.0f} (whole run, {metrics.get('global_step')} steps)"
        out["total_runtime"] = metrics.get("total_runtime")
    return out


def render_card(model_dir: Path, results: dict[str, Any] | None, recipe: str | None, doc: Path | None,
                notes: list[str]) -> str:
    from transformers import AutoConfig

    import khabar.model  # noqa: F401  (registers the khabar config)
    from khabar.model.card import render_model_card

    config = AutoConfig.from_pretrained(model_dir)
    base = render_model_card(config)
    head, sep, rest = base.partition("\n## Usage")
    summary = config.training_summary or {}
    res = dict(summary.get("results") or {})
    if not res:  # a checkpoint-N folder: steps from its trainer state, time from the whole run
        res = _checkpoint_results(model_dir, config)
    cfg = summary.get("config", {})
    tr = cfg.get("training", {})
    size = (model_dir / "model.safetensors").stat().st_size
    lines = [
        head.rstrip(),
        "",
        "This is the **default model embedded in the khabar package** (`khabar/default_model/`):",
        "`Analyzer.from_pretrained()` and `khabar analyze` without `--model` load it, offline.",
        f"Weights: fp16 safetensors, {size / 1e6:.1f} MB; loaded as float32.",
        "",
        _mode_line(config),
        "",
        "## Scores (measured on the exported fp16 weights by `python -m khabar.training.export`)",
        "",
    ]
    if results:
        lines += _table(score_rows(results), ("set", "system / task", "precision", "recall", "F1"))
        lines += ["", "Reproduce each row with `khabar evaluate GOLD PRED` on the files the export left in its "
                      "`--eval-dir` (see docs/default-model.md)."]
    else:
        lines.append("Not measured (exported with --no-eval).")
    lines += ["", "## Training", ""]
    lines.append(f"- recipe: `{recipe}`" if recipe else "- recipe: see the config below")
    for source in summary.get("data") or []:
        lines.append(f"- {source.get('split')}: {source.get('kind')} `{source.get('path')}` "
                     f"(layers {'+'.join(source.get('layers', []))}; {source.get('articles')} articles, "
                     f"{source.get('windows')} windows, {source.get('tokens')} tokens, "
                     f"{source.get('entities')} entities, {source.get('quotes')} quotations)")
    if res:
        lines.append(f"- steps: {res.get('global_step')} optimiser steps, {_f(res.get('epoch'))} epochs, "
                     f"batch {tr.get('batch_size')} articles/sentences, learning rate {tr.get('learning_rate')}")
        lines.append(f"- time: {res.get('train_runtime')} s training, {res.get('total_runtime')} s in all "
                     "(2 CPU cores shared with other jobs: wall times are inflated by contention)")
    lines += [f"- {n}" for n in notes]
    lines.append("")
    lines += experiments_section(doc)
    lines.append("## Usage" + rest if sep else "")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="output_dir of `khabar train` (or a checkpoint-N folder)")
    parser.add_argument("--out", type=Path, default=Path("khabar/default_model"), help="where to write (default: khabar/default_model)")
    parser.add_argument("--shared", type=Path, default=None, help="shared data folder (default: $KHABAR_SHARED or ../shared)")
    parser.add_argument("--eval-dir", type=Path, default=Path("runs/default-eval"), help="gold/prediction files and scores.json")
    parser.add_argument("--max-mb", type=float, default=30.0, help="refuse weights above this size (default 30)")
    parser.add_argument("--recipe", default="configs/compact-default.yaml", help="the training config, named in the card")
    parser.add_argument("--doc", type=Path, default=Path("docs/default-model.md"), help="its experiment table goes into the card")
    parser.add_argument("--note", action="append", default=[], help="an extra line for the card's training section")
    parser.add_argument("--hybrid-rule-confidence", type=float, default=None, metavar="X",
                        help="ship in hybrid mode: bootstrapper quotations of score >= X plus the model's others "
                             "(khabar.model.hybrid); default: the model's quotations only")
    parser.add_argument("--hybrid-model-score", type=float, default=0.0, metavar="Y",
                        help="hybrid mode: keep a model quotation only if its score >= Y (default 0)")
    parser.add_argument("--hybrid-grid", action="store_true",
                        help="only print quotes-dev scores of rules, model and rules+model for a grid of thresholds "
                             "(RUN_DIR: any model folder); nothing is written")
    parser.add_argument("--no-eval", action="store_true", help="skip the scoring (the card then has no scores)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for the scoring")


def _shared(arg: Path | None) -> Path:
    import os

    if arg is not None:
        return arg
    return Path(os.environ.get("KHABAR_SHARED", "../shared"))


def run(args: argparse.Namespace) -> int:
    shared = _shared(args.shared)
    if args.hybrid_grid:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        gold = shared / "data" / "quotes-dev" / "quotes-dev.gold.jsonl"
        print("| system | rule confidence | model score | quotes P | R | F1 | attribution P | R | F1 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in hybrid_grid(args.run_dir, gold):
            q, a = r["quotes"], r["attribution"]
            print(f"| {r['system']} | {r['rule_confidence']} | {r['model_score']} | {q['precision']:.3f} | "
                  f"{q['recall']:.3f} | {q['f1']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} | {a['f1']:.3f} |")
        return 0
    try:
        weights = export_model(args.run_dir, args.out, max_mb=args.max_mb,
                               hybrid_rule_confidence=args.hybrid_rule_confidence,
                               hybrid_model_score=args.hybrid_model_score)
    except ExportError as exc:
        print(f"khabar export: error: {exc}", file=sys.stderr)
        return 2
    print(f"khabar export: wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    results = None
    if not args.no_eval:
        if not (shared / "data").is_dir():
            print(f"khabar export: error: shared data folder {shared} not found; pass --shared DIR or --no-eval", file=sys.stderr)
            return 2
        results = evaluate_export(args.out, shared, args.eval_dir, threads=args.threads)
        for row in score_rows(results):
            print("  ".join(row), file=sys.stderr)
    card = render_card(args.out, results, args.recipe, args.doc, args.note)
    (args.out / "README.md").write_text(card, encoding="utf-8")
    if results is not None:
        shutil.copyfile(args.eval_dir / "scores.json", args.out / "scores.json")
    print(f"khabar export: model card {args.out / 'README.md'}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m khabar.training.export", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
