"""One data model for gold annotations and predictions.

The schema is the one of ``shared/docs/annotation-guidelines.md``: every span is a pair of
character offsets into the original, unmodified article text (Python indices, end exclusive).
Predictions add a ``score`` (and the bootstrapper a ``rule``) to the same objects, so one
reader, one writer and one scorer serve both.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

ENTITY_LABELS = ("PER", "ORG", "LOC", "MISC")
QUOTE_TYPES = ("direct", "indirect", "mixed")


class InputError(ValueError):
    """A problem in an input file, located by file, line and field."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None, field: str | None = None):
        self.message, self.file, self.line, self.field = message, file, line, field
        where = ":".join(str(p) for p in (file, line) if p is not None)
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}" if where else message)


@dataclass
class Span:
    start: int
    end: int
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end}
        if self.score is not None:
            d["score"] = round(float(self.score), 4)
        return d


@dataclass
class Entity:
    start: int
    end: int
    label: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.score is not None:
            d["score"] = round(float(self.score), 4)
        return d


@dataclass
class Quote:
    start: int
    end: int
    type: str
    cue: Span | None = None
    speaker: Span | None = None
    speaker_name: str | None = None
    score: float | None = None
    # Bootstrapper provenance: which rule fired and how much it is trusted.
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "type": self.type,
            "cue": self.cue.to_dict() if self.cue else None,
            "speaker": self.speaker.to_dict() if self.speaker else None,
            "speaker_name": self.speaker_name,
        }
        if self.score is not None:
            d["score"] = round(float(self.score), 4)
        if self.rule is not None:
            d["rule"] = self.rule
        return d


@dataclass
class Article:
    """An article with optional layers: ``None`` means "not annotated", ``[]`` means "none there"."""

    id: str
    text: str
    entities: list[Entity] | None = None
    quotes: list[Quote] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, with_text: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "text": self.text}
        d.update(self.meta)
        d["entities"] = None if self.entities is None else [e.to_dict() for e in self.entities]
        d["quotes"] = None if self.quotes is None else [q.to_dict() for q in self.quotes]
        if with_text:  # spans carry their own text: handy for people reading predictions
            for e, ed in zip(self.entities or [], d["entities"] or []):
                ed["text"] = self.text[e.start : e.end]
            for q, qd in zip(self.quotes or [], d["quotes"] or []):
                qd["text"] = self.text[q.start : q.end]
                for key in ("cue", "speaker"):
                    if qd[key] is not None:
                        qd[key]["text"] = self.text[qd[key]["start"] : qd[key]["end"]]
        return d

    @classmethod
    def from_dict(cls, d: Any, *, file: str | None = None, line: int | None = None) -> "Article":
        """Build and validate; raise :class:`InputError` naming the field at fault."""

        def err(msg: str, fld: str | None = None) -> InputError:
            return InputError(msg, file, line, fld)

        if not isinstance(d, dict):
            raise err(f"expected a JSON object per line, got {type(d).__name__}")
        missing = [k for k in ("id", "text") if k not in d]
        if missing:
            raise err(f"missing key(s) {missing}; keys are {sorted(d)}", missing[0])
        text = d["text"]
        if not isinstance(text, str):
            raise err(f"must be a string, got {type(text).__name__}", "text")
        for fld, value in (("text", text), ("id", str(d["id"]))):
            problem = unencodable(value)
            if problem:
                raise err(problem, fld)
        n = len(text)

        def span(obj: Any, fld: str) -> Span:
            if not isinstance(obj, dict) or "start" not in obj or "end" not in obj:
                raise err('must be an object {"start": int, "end": int}', fld)
            s, e = obj["start"], obj["end"]
            if not (isinstance(s, int) and isinstance(e, int)) or isinstance(s, bool) or isinstance(e, bool):
                raise err(f"offsets must be integers, got start={s!r} end={e!r}", fld)
            if not 0 <= s < e <= n:
                raise err(f"offsets [{s}, {e}) out of range for a text of {n} characters (need 0 <= start < end <= len)", fld)
            said = obj.get("text")  # optional; khabar writes it beside the offsets, annotators may too
            if isinstance(said, str) and said != text[s:e]:
                at = text.find(said) if said else -1
                hint = (f"; {said!r} is at [{at}, {at + len(said)})" if at >= 0
                        else "; offsets are Python string indices into the text exactly as given (not bytes, not normalised)")
                raise err(f"offsets [{s}, {e}) give {text[s:e]!r} but the span's text is {said!r}{hint}", fld)
            score = obj.get("score")
            if score is not None and not isinstance(score, (int, float)):
                raise err(f"score must be a number or absent, got {score!r}", fld)
            return Span(s, e, score)

        entities = None
        if d.get("entities") is not None:
            if not isinstance(d["entities"], list):
                raise err("must be a list or null", "entities")
            entities = []
            for i, e in enumerate(d["entities"]):
                sp = span(e, f"entities[{i}]")
                label = e.get("label")
                if label not in ENTITY_LABELS:
                    raise err(f"unknown label {label!r}; labels are {list(ENTITY_LABELS)}", f"entities[{i}].label")
                entities.append(Entity(sp.start, sp.end, label, sp.score))
        quotes = None
        if d.get("quotes") is not None:
            if not isinstance(d["quotes"], list):
                raise err("must be a list or null", "quotes")
            quotes = []
            for i, q in enumerate(d["quotes"]):
                sp = span(q, f"quotes[{i}]")
                qtype = q.get("type")
                if qtype not in QUOTE_TYPES:
                    raise err(f"unknown type {qtype!r}; types are {list(QUOTE_TYPES)}", f"quotes[{i}].type")
                cue = span(q["cue"], f"quotes[{i}].cue") if q.get("cue") is not None else None
                speaker = span(q["speaker"], f"quotes[{i}].speaker") if q.get("speaker") is not None else None
                name = q.get("speaker_name")
                if name is not None and not isinstance(name, str):
                    raise err("must be a string or null", f"quotes[{i}].speaker_name")
                quotes.append(Quote(sp.start, sp.end, qtype, cue, speaker, name, sp.score, q.get("rule")))
        meta = {k: v for k, v in d.items() if k not in ("id", "text", "entities", "quotes")}
        return cls(str(d["id"]), text, entities, quotes, meta)


UTF8_BOM = b"\xef\xbb\xbf"


def unencodable(value: str) -> str | None:
    """Why ``value`` cannot be written as UTF-8 (a lone surrogate from a ``\\ud800`` escape), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"lone surrogate {value[exc.start]!r} at character {exc.start} (not valid Unicode text)"
    return None


def iter_jsonl(path: str | Path, on_error: Callable[[InputError], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Stream ``(line_number, object)`` from a JSONL file; bad lines go to ``on_error`` and are skipped.

    Invalid UTF-8 is reported per line (not for the whole file), so one bad byte loses one line.
    """
    report = on_error or _raise
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1 and raw.startswith(UTF8_BOM):  # editors on Windows write one; it is not data
                raw = raw[len(UTF8_BOM) :]
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                report(InputError(f"invalid UTF-8 at byte {exc.start}", str(path), lineno))
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                report(InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", str(path), lineno))


def _raise(error: InputError) -> None:
    raise error


def warn(error: InputError) -> None:
    """Default error sink of the batch readers: report on stderr and go on."""
    print(f"khabar: skipped {error}", file=sys.stderr)


def read_articles(
    path: str | Path, on_error: Callable[[InputError], None] | None = warn
) -> Iterator[Article]:
    """Stream validated articles from JSONL. A malformed line is reported to ``on_error`` and skipped;
    pass ``on_error=None`` to raise on the first one instead."""
    report = on_error or _raise
    for lineno, obj in iter_jsonl(path, report):
        try:
            yield Article.from_dict(obj, file=str(path), line=lineno)
        except InputError as exc:
            report(exc)


def write_articles(articles: Iterable[Article], out: str | Path | IO[str], with_text: bool = False) -> int:
    """Write articles as JSONL (UTF-8, Arabic unescaped); return how many were written."""
    if isinstance(out, (str, Path)):
        with open(out, "w", encoding="utf-8") as fh:
            return write_articles(articles, fh, with_text)
    n = 0
    for a in articles:
        out.write(json.dumps(a.to_dict(with_text), ensure_ascii=False) + "\n")
        n += 1
    return n
