"""A self-contained right-to-left HTML view of analyser results.

``render_html(results)`` takes the dicts of :class:`khabar.Analyzer` (or gold JSONL objects: the
same schema) and returns one HTML page with inline CSS, no scripts, no network: entities coloured
by type, each quotation highlighted and labelled with its speaker and type, cues underlined.

Spans overlap (quotes contain entities, the speaker mention is an entity, quotes nest, and a
prediction may even cross another), so the markup is built from the span boundaries: between two
consecutive boundaries the set of covering spans is known, and tags are closed and re-opened so
that the elements always nest properly. A span cut in pieces keeps one ``data-span`` id, and its
later pieces get the class ``cont`` (no label repeated). The text content of each article's body
is the article text, unchanged: labels are drawn by CSS from data attributes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from khabar.gcpause import paused_gc

ENTITY_COLOURS = {"PER": "#ffd6a5", "ORG": "#bde0fe", "LOC": "#caffbf", "MISC": "#e4c1f9"}
QUOTE_COLOURS = {"direct": "#d62828", "indirect": "#1d4ed8", "mixed": "#7b2cbf"}
# Outer before inner when two spans cover the same characters.
_RANK = {"quote": 0, "speaker": 1, "cue": 1, "ent": 2}

CSS = """
body { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "Amiri", "Arial", sans-serif;
       margin: 2em auto; max-width: 60em; padding: 0 1em; color: #111; background: #fff; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; direction: ltr; text-align: right; color: #555; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .6em; font-size: .9em; }
.legend li { padding: .1em .5em; border-radius: .3em; }
.doc { border-top: 1px solid #ccc; padding-top: 1em; margin-top: 1.5em; }
.text { white-space: pre-wrap; line-height: 2.6; font-size: 1.15em; }
.ent { border-radius: .25em; padding: 0 .1em; }
%(ent_css)s
.quote { border-bottom: 2px solid; background: rgba(0,0,0,.03); }
%(quote_css)s
.quote:not(.cont)::before { content: attr(data-label); font-size: .7em; color: #fff;
       border-radius: .3em; padding: 0 .3em; margin-inline-end: .2em; vertical-align: super; white-space: nowrap; }
.cue { text-decoration: underline wavy #444; text-underline-offset: .35em; }
.speaker { font-weight: bold; outline: 1px dashed #333; outline-offset: 1px; }
table.quotes { border-collapse: collapse; margin-top: .8em; font-size: .9em; width: 100%%; }
table.quotes th, table.quotes td { border: 1px solid #ddd; padding: .2em .4em; text-align: right; vertical-align: top; }
.score { color: #777; font-size: .85em; direction: ltr; unicode-bidi: isolate; }
.empty { color: #777; font-style: italic; }
"""


@dataclass
class _Span:
    start: int
    end: int
    kind: str  # quote | speaker | cue | ent
    sid: str  # one id for all the pieces of a span
    classes: list[str]
    attrs: dict[str, str] = field(default_factory=dict)

    def key(self) -> tuple[int, int, int, str]:
        return (self.start, -self.end, _RANK[self.kind], self.sid)

    def open_tag(self, cont: bool) -> str:
        classes = " ".join(self.classes + (["cont"] if cont else []))
        attrs = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in self.attrs.items())
        return f'<span class="{classes}" data-span="{self.sid}"{attrs}>'


def _css() -> str:
    ent = "\n".join(f".ent-{k} {{ background: {c}; }}" for k, c in ENTITY_COLOURS.items())
    quote = "\n".join(
        f".quote-{k} {{ border-color: {c}; }} .quote-{k}:not(.cont)::before {{ background: {c}; }}"
        for k, c in QUOTE_COLOURS.items()
    )
    return CSS % {"ent_css": ent, "quote_css": quote}


def _css_name(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(value))


def _score(obj: dict[str, Any]) -> str:
    s = obj.get("score")
    return "" if s is None else f"{float(s):.2f}"


def _spans(result: dict[str, Any]) -> list[_Span]:
    n = len(result.get("text") or "")
    spans: list[_Span] = []

    def ok(obj: Any) -> bool:
        return isinstance(obj, dict) and isinstance(obj.get("start"), int) and isinstance(obj.get("end"), int) and 0 <= obj["start"] < obj["end"] <= n

    for i, e in enumerate(result.get("entities") or []):
        if ok(e):
            label = str(e.get("label", "MISC"))
            title = f"{label} {_score(e)}".strip()
            spans.append(_Span(e["start"], e["end"], "ent", f"e{i}", ["ent", f"ent-{_css_name(label)}"], {"data-label": label, "title": title}))
    for i, q in enumerate(result.get("quotes") or []):
        if not ok(q):
            continue
        qtype = str(q.get("type", "direct"))
        speaker = q.get("speaker_name") or (
            result["text"][q["speaker"]["start"] : q["speaker"]["end"]] if ok(q.get("speaker")) else None
        )
        label = f"{speaker or '؟'} · {qtype}"
        attrs = {"data-type": qtype, "data-speaker": speaker or "", "data-label": label, "title": f"{label} {_score(q)}".strip()}
        spans.append(_Span(q["start"], q["end"], "quote", f"q{i}", ["quote", f"quote-{_css_name(qtype)}"], attrs))
        for part in ("cue", "speaker"):
            if ok(q.get(part)):
                p = q[part]
                spans.append(_Span(p["start"], p["end"], part, f"q{i}-{part}", [part], {"data-quote": f"q{i}", "title": f"{part} {_score(p)}".strip()}))
    return spans


def render_text(text: str, spans: Iterable[_Span]) -> str:
    """``text`` HTML-escaped, with properly nested ``<span>`` elements for (possibly crossing) spans."""
    spans = sorted(spans, key=_Span.key)
    if not spans:
        return html.escape(text)
    bounds = sorted({0, len(text)} | {s.start for s in spans} | {s.end for s in spans})
    starts: dict[int, list[_Span]] = {}
    for s in spans:
        starts.setdefault(s.start, []).append(s)
    out: list[str] = []
    stack: list[_Span] = []
    opened: set[str] = set()
    live: list[_Span] = []  # spans covering the current segment (a sweep over the boundaries)
    for a, b in zip(bounds, bounds[1:]):
        live = [s for s in live if s.end > a] + starts.get(a, [])
        # In nesting order: earlier start (then longer, then outer kind) outside.
        active = sorted(live, key=_Span.key)
        keep = 0
        while keep < len(stack) and keep < len(active) and stack[keep] is active[keep]:
            keep += 1
        for _ in range(len(stack) - keep):
            stack.pop()
            out.append("</span>")
        for s in active[keep:]:
            out.append(s.open_tag(cont=s.sid in opened))
            opened.add(s.sid)
            stack.append(s)
        out.append(html.escape(text[a:b]))
    out.extend("</span>" for _ in stack)
    return "".join(out)


def _quote_table(result: dict[str, Any]) -> str:
    text = result.get("text") or ""
    rows = []
    for i, q in enumerate(result.get("quotes") or []):
        def piece(obj: Any) -> str:
            if not isinstance(obj, dict) or not isinstance(obj.get("start"), int):
                return ""
            return html.escape(text[obj["start"] : obj["end"]])

        rows.append(
            f'<tr data-quote="q{i}"><td>{html.escape(q.get("speaker_name") or "")}</td><td>{piece(q.get("speaker"))}</td>'
            f'<td>{piece(q.get("cue"))}</td><td>{html.escape(str(q.get("type", "")))}</td>'
            f'<td>{piece(q)}</td><td class="score">{_score(q)}</td></tr>'
        )
    if not rows:
        return '<p class="empty">لا اقتباسات (no quotations)</p>'
    head = "<tr><th>المتحدث (speaker)</th><th>الإشارة (mention)</th><th>فعل القول (cue)</th><th>النوع (type)</th><th>الاقتباس (quote)</th><th>score</th></tr>"
    return f'<table class="quotes">{head}{"".join(rows)}</table>'


def _legend() -> str:
    items = [f'<li class="ent ent-{k}">{k}</li>' for k in ENTITY_COLOURS]
    items += [f'<li class="quote quote-{k} cont" style="border-bottom-color:{c}">{k}</li>' for k, c in QUOTE_COLOURS.items()]
    items += ['<li class="cue">cue</li>', '<li class="speaker">speaker</li>']
    return f'<ul class="legend">{"".join(items)}</ul>'


def render_html(results: list[dict[str, Any]], title: str = "khabar") -> str:
    """One self-contained RTL page (inline CSS, no scripts or external resources) for ``results``."""
    with paused_gc():  # tens of thousands of spans are as many small objects, and no cycles
        docs = []
        for r in results:
            rid = html.escape(str(r.get("id", "")), quote=True)
            body = render_text(r.get("text") or "", _spans(r))
            n_ent, n_quo = len(r.get("entities") or []), len(r.get("quotes") or [])
            docs.append(
                f'<article class="doc" data-id="{rid}"><h2>{rid} <span class="score">({n_ent} entities, {n_quo} quotations)</span></h2>'
                f'<div class="text">{body}</div>{_quote_table(r)}</article>'
            )
        return (
            '<!DOCTYPE html>\n<html dir="rtl" lang="ar">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_css()}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n{_legend()}\n" + "\n".join(docs) + "\n</body>\n</html>\n"
        )
