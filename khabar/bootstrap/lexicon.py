"""The cue lexicon and word lists, read from ``resources/*.tsv`` (data, not code).

``cues.tsv`` is a compact lemma table; :class:`Lexicon` generates the inflected forms (gender,
number, tense, participle, attached ``و``/``ف``) and indexes them by their key form
(:func:`khabar.bootstrap.text.fold`). See docs/bootstrapper.md for both file formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .text import fold

RESOURCES = "khabar.bootstrap"
COMPLEMENTS = ("that", "quote", "np", "np-subj", "source-in", "إلى", "من", "على", "ب", "عن", "ل")
_NOT_PREPS = ("that", "quote", "np", "np-subj", "source-in")


@dataclass(frozen=True)
class CueEntry:
    """One lemma of the cue lexicon."""

    lemma: str
    takes: frozenset[str]
    role: str  # "say" or "according"
    weight: float

    def takes_prep(self) -> list[str]:
        return [fold(c) for c in self.takes if c not in _NOT_PREPS]

    @property
    def source_in(self) -> bool:
        """``source-in``: the source is the document after في (``وجاء في البيان أن``, ``ورد في
        التقرير أن``), never the verb's subject; no such phrase, no quotation."""
        return "source-in" in self.takes

    @property
    def np_needs_subject(self) -> bool:
        """``np-subj``: a noun-phrase object only after an explicit subject (``تعتبر أنقرة الحزب
        ...``); with none, ``يعتبر X ...`` is as often the passive "X is considered"."""
        return "np-subj" in self.takes


@dataclass(frozen=True)
class CueForm:
    """An inflected form and what kind of word it is."""

    entry: CueEntry
    kind: str  # past | present | participle | other
    conjunction: str = ""  # the attached و or ف ("" when none): وقال vs قال, وصفت vs ووصفت


def _past_forms(p: str) -> list[str]:
    if p.endswith(("ا", "ي")):  # defective: دعا -> دعت، دعوا; رأى -> رأت، رأوا
        stem = p[:-1]
        return [p, stem + "ت", stem + "وا", stem + "تا"]
    # No masculine dual in -ا: علما، قالا are more often adverbs or other words than duals.
    return [p, p + "ت", p + "وا", p + "تا"]


def _present_forms(y: str) -> list[str]:
    stem = y[1:]
    out = [y, "ت" + stem]
    if y.endswith(("و", "ي")):
        out.append(y[:-1] + "ون")
    else:
        out.append(y + "ون")
    return out


def _participle_forms(a: str) -> list[str]:
    # The bare masculine form is left out: مؤكد is as often "confirmed" as "confirming".
    return [a + "ا", a + "ه", a + "ين"]


class Lexicon:
    """Cue forms and word classes. ``Lexicon.load()`` reads the packaged resources."""

    def __init__(self, entries: list[tuple[CueEntry, dict[str, str]]], words: dict[str, set[str]]):
        self.forms: dict[str, CueForm] = {}
        self.entries = [e for e, _ in entries]
        for entry, cols in entries:
            generated: list[tuple[str, str]] = []
            if cols["past"] != "-":
                generated += [(f, "past") for f in _past_forms(fold(cols["past"]))]
            if cols["present"] != "-":
                generated += [(f, "present") for f in _present_forms(fold(cols["present"]))]
            if cols["participle"] != "-":
                generated += [(f, "participle") for f in _participle_forms(fold(cols["participle"]))]
            if cols["other"] != "-":
                past = fold(cols["past"]) if cols["past"] != "-" else None
                present = fold(cols["present"]) if cols["present"] != "-" else None
                for f in cols["other"].split(","):
                    f = fold(f.strip())
                    # Verb forms with an object pronoun (وصفتها) stay verbs; the rest (قوله) are nouns.
                    kind = "past" if past and f.startswith(past) else "present" if present and f[1:].startswith(present[1:]) and f[0] in "يت" else "other"
                    generated.append((f, kind))
            for form, kind in generated:
                for prefix in ("", "و", "ف"):
                    # The first lemma that claims a form keeps it (the file is ordered by trust).
                    self.forms.setdefault(prefix + form, CueForm(entry, kind, prefix))
        self.words = {k: {fold(w) for w in v} for k, v in words.items()}

    @classmethod
    def load(cls, cues: str | Path | None = None, words: str | Path | None = None) -> "Lexicon":
        cue_text = Path(cues).read_text(encoding="utf-8") if cues else _resource("cues.tsv")
        word_text = Path(words).read_text(encoding="utf-8") if words else _resource("words.tsv")
        return cls(parse_cues(cue_text, str(cues or "cues.tsv")), parse_words(word_text))

    def cue(self, key_word: str) -> CueForm | None:
        return self.forms.get(key_word)

    def is_(self, cls_name: str, key_word: str) -> bool:
        return key_word in self.words.get(cls_name, ())


def _resource(name: str) -> str:
    return resources.files(RESOURCES).joinpath("resources", name).read_text(encoding="utf-8")


def parse_cues(text: str, source: str = "cues.tsv") -> list[tuple[CueEntry, dict[str, str]]]:
    """Parse the lemma table; a malformed row raises ``ValueError`` naming the file and line."""
    rows = []
    cols = ("lemma", "past", "present", "participle", "other", "takes", "role", "weight")
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) != len(cols):
            raise ValueError(f"{source}:{lineno}: expected {len(cols)} tab-separated columns {cols}, got {len(parts)}")
        d = dict(zip(cols, (p.strip() for p in parts)))
        takes = frozenset(t.strip() for t in d["takes"].split(",") if t.strip() and t.strip() != "-")
        if "np-subj" in takes:
            takes |= {"np"}
        unknown = takes - set(COMPLEMENTS)
        if unknown:
            raise ValueError(f"{source}:{lineno}: takes: unknown complement(s) {sorted(unknown)}; known: {COMPLEMENTS}")
        if d["role"] not in ("say", "according"):
            raise ValueError(f"{source}:{lineno}: role: must be 'say' or 'according', got {d['role']!r}")
        try:
            weight = float(d["weight"])
        except ValueError:
            raise ValueError(f"{source}:{lineno}: weight: must be a number in [0, 1], got {d['weight']!r}") from None
        rows.append((CueEntry(d["lemma"], takes, d["role"], weight), d))
    return rows


def parse_words(text: str) -> dict[str, set[str]]:
    words: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, body = line.partition("\t")
        words.setdefault(name.strip(), set()).update(w.replace("_", " ") for w in body.split())
    return words
