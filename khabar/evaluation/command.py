"""``khabar evaluate GOLD.jsonl PRED.jsonl``: score predictions against gold, per the guidelines.

Prints a table (or ``--json``); ``--out FILE`` also saves the scores as JSON. Malformed lines
are reported with file and line and skipped, the remaining articles are still scored, and the
exit code is 1 so that a pipeline notices. Imports neither torch nor ``evaluate``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from khabar.data.article import Article, InputError, read_articles
from khabar.data.conll import looks_like_conll_line
from khabar.evaluation.scoring import score

_COLUMNS = ("precision", "recall", "f1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gold", type=Path, help="gold articles (JSONL, the annotation-guidelines schema)")
    parser.add_argument("pred", type=Path, help="predicted articles (JSONL or a JSON array, same schema, same ids)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the scores as JSON to FILE")


def run(args: argparse.Namespace) -> int:
    for path, what in ((args.gold, "gold"), (args.pred, "predictions")):
        if not path.is_file():
            print(f"khabar evaluate: {what} file {path} not found", file=sys.stderr)
            return 2
    skipped: list[InputError] = []

    def report(error: InputError) -> None:
        skipped.append(error)
        print(f"khabar evaluate: skipped {error}", file=sys.stderr)

    gold = read_any(args.gold, report)
    pred = read_any(args.pred, report)
    if not gold:
        print(f"khabar evaluate: no valid gold article in {args.gold}; nothing to score{_conll_hint(args.gold)}", file=sys.stderr)
        return 2
    result = score(gold, pred)
    result["skipped_lines"] = len(skipped)
    for message in result["errors"]:
        print(f"khabar evaluate: {message}", file=sys.stderr)
    missing = result["missing_predictions"]
    if missing:  # legitimate (khabar bootstrap --skip-empty) but silent otherwise: a cut-off file scores low
        shown = ", ".join(repr(i) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        print(f"khabar evaluate: note: {len(missing)} of {len(gold)} gold article(s) have no prediction ({shown}); "
              "they are scored as predicting nothing", file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(format_table(result, str(args.gold), str(args.pred)))
    return 1 if skipped or result["errors"] else 0


def read_any(path: Path, report: Any) -> list[Article]:
    """JSONL, or one JSON array of articles (what ``khabar analyze --format json`` writes)."""
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"["):
        return list(read_articles(path, on_error=report))
    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report(InputError(f"a JSON array that does not parse: {exc}", str(path)))
        return []
    articles = []
    for i, obj in enumerate(items):
        try:
            articles.append(Article.from_dict(obj, file=f"{path}[{i}]"))
        except InputError as exc:
            report(exc)
    return articles


def _conll_hint(path: Path) -> str:
    """How to convert a CoNLL gold file, when that is what was given (its lines are 'token TAG')."""
    with open(path, "rb") as fh:
        first = next((raw for raw in fh if raw.strip()), b"").decode("utf-8", "replace").lstrip("\ufeff")
    if not looks_like_conll_line(first):
        return ""
    return (" (it looks like CoNLL 'token TAG': convert it to JSONL with python -c \"import sys; from khabar.data "
            "import read_conll, write_articles; write_articles(read_conll(sys.argv[1]).articles, sys.argv[2])\" "
            f"{path} gold.jsonl, analyze gold.jsonl, and score against it)")


def _row(name: str, s: dict[str, Any], counts: tuple[str, ...] = ("tp", "fp", "fn")) -> str:
    nums = "".join(f"{s[c]:>10.3f}" for c in _COLUMNS)
    return f"  {name:<22}{nums}" + "".join(f"{s.get(c, ''):>8}" for c in counts)


def _header(counts: tuple[str, ...] = ("tp", "fp", "fn")) -> str:
    return f"  {'':<22}" + "".join(f"{c:>10}" for c in _COLUMNS) + "".join(f"{c:>8}" for c in counts)


def format_table(result: dict[str, Any], gold: str = "gold", pred: str = "predictions") -> str:
    """A readable report of :func:`~khabar.evaluation.scoring.score`'s result."""
    lines = [f"khabar evaluate: {result['n_articles']} gold article(s) in {gold}, predictions {pred}"]
    ent = result.get("entities")
    lines.append("")
    if ent is None:
        lines.append("entities: not scored (no gold article annotates entities)")
    else:
        lines.append(f"entities (exact span + label, {ent['n_articles']} article(s))")
        counts = ("tp", "fp", "fn", "support")
        lines.append(_header(counts))
        lines.append(_row("micro", ent["micro"], counts))
        lines.append(_row(f"macro ({ent['macro']['n_labels']} labels)", ent["macro"], ("support",)))
        for label, s in ent["per_label"].items():
            lines.append(_row(label, s, counts))
    quotes = result.get("quotes")
    lines.append("")
    if quotes is None:
        lines.append("quotes: not scored (no gold article annotates quotations)")
    else:
        lines.append(
            f"quotes ({quotes['n_articles']} article(s), {quotes['n_gold']} gold, {quotes['n_pred']} predicted)"
        )
        lines.append(_header())
        lines.append(_row("overlap/union >= 0.5", quotes["overlap"]))
        lines.append(_row("exact span", quotes["exact"]))
        lines.append(_row("cue (exact span)", quotes["cue"]))
        per_type = ", ".join(
            f"{t} {s['recall']:.3f} ({s['tp']}/{s['support']})" for t, s in quotes["recall_per_type"].items()
        )
        lines.append(f"  recall by gold type:  {per_type or '-'}")
        ta = quotes["type_accuracy"]
        lines.append(f"  type accuracy on matched quotations: {ta['accuracy']:.3f} ({ta['correct']}/{ta['matched']})")
        att = result["attribution"]
        lines.append("")
        lines.append("attribution (matched and same speaker name)")
        lines.append(_header())
        lines.append(_row("end-to-end", att))
        lines.append(
            f"  accuracy on matched quotations: {att['accuracy_on_matched']:.3f} ({att['tp']}/{att['matched']})"
        )
    if result.get("missing_predictions"):
        lines.append("")
        lines.append(f"note: {len(result['missing_predictions'])} gold article(s) without a prediction, scored as predicting nothing")
    if result.get("errors") or result.get("skipped_lines"):
        lines.append("")
        lines.append(f"problems: {result.get('skipped_lines', 0)} skipped line(s), {len(result['errors'])} error(s) (see stderr)")
    return "\n".join(lines)
