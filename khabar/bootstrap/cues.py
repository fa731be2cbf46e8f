"""Stage 1: cues. Every token whose key form is an inflection of a lexicon lemma."""

from __future__ import annotations

from dataclasses import dataclass, field

from .lexicon import CueEntry, CueForm, Lexicon
from .text import KeyText

# Words after حسب/بحسب/وفق that make it a manner adverbial ("حسب تعبيره"), not a source.
_MANNER = {"تعبيره", "تعبيرها", "قوله", "قولها", "وصفه", "وصفها", "زعمه", "زعمها", "رايه", "رايها", "تعبيرهم", "قولهم", "اعتقاده", "الحاجه", "الاصول", "الطلب", "الضروره", "الخطه", "الاتفاق"}
# Before a cue: negation, or the subjunctive "أن يؤكد" (refused/wanted to say).
_NEGATION = {"لم", "لن", "لا", "ولم", "ولن", "ولا", "فلم", "عدم", "دون", "بدون"}
# Present forms that are impersonal or passive in news prose when nothing precedes them.
_IMPERSONAL = {"يذكر", "ويذكر", "يعتقد", "ويعتقد"}


@dataclass(slots=True)
class Cue:
    index: int  # token index
    form: CueForm
    after_ma: bool = False  # "بما قال": only a complement right after the cue counts
    # the form's entry and kind, and whether it is a source-after cue: read for every cue at
    # every stage, so plain attributes set once (they were properties)
    entry: CueEntry = field(init=False, repr=False, compare=False)
    kind: str = field(init=False, repr=False, compare=False)
    according: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.entry = self.form.entry
        self.kind = self.form.kind
        self.according = self.form.entry.role == "according"


class CueFinder:
    """Finds cue tokens (the lexicon's generated forms, matched on the diacritic-free key)."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def __call__(self, kt: KeyText) -> list[Cue]:
        cues: list[Cue] = []
        texts = kt.texts
        n = len(texts)
        forms = self.lexicon.forms
        # only the words that are cue forms need the checks below: one set look-up per token
        for i in kt.indexes_of(forms):
            if not kt.is_word[i]:
                continue
            w = texts[i]
            form = self.lexicon.cue(w)
            if form is None or w in _IMPERSONAL:
                continue
            if form.kind == "past" and form.entry.lemma.endswith("ى") and kt.plain[kt.ends[i] - 1] == "ي" and w.endswith("ي"):
                continue  # "كاثرين راي" is a name; the verb is written رأى (the imperfect ينفي ends in ي)
            if form.entry.role == "according":
                nxt = texts[i + 1] if i + 1 < n else ""
                if nxt in _MANNER:
                    continue
            if form.entry.source_in and (i + 1 >= n or texts[i + 1] != "في"):
                continue  # "التي جاءت من بلدة", "بيانا جاء فيه": not "وجاء في البيان"
            prev = texts[i - 1] if i > 0 else ""
            if form.entry.role == "say" and (prev in _NEGATION or (prev in ("ان", "لان") and form.kind == "present")):
                continue  # "لم يؤكد", "أن يؤكد", "لا تعترف": nothing was said
            cues.append(Cue(i, form, after_ma=prev in ("ما", "بما", "مما", "لما")))
        return cues
