"""Speaker-name matching for attribution scoring (annotation guidelines, "Scoring").

Two names refer to the same source when, after Arabic normalisation, they are equal or one
name's words are all contained in the other's (``كيرشوف`` ~ ``جيل دو كيرشوف``). Clitics are
deliberately NOT stripped: the guidelines define the match on words, and stripping a leading
``و``/``ال`` would also merge different names (``وليد`` -> ``ليد``).
"""

from __future__ import annotations

import re
import unicodedata

# Harakat, shadda, sukun (U+064B-U+0652), the combining maddah/hamza marks (U+0653-U+065F),
# superscript alef (U+0670) and the Quranic annotation marks (U+06D6-U+06ED): none changes
# which name is meant, and writers use them inconsistently.
_MARKS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
# Only these characters can be punctuation or symbols: word characters are letters and digits
# (never P*/S*) except "_", and whitespace is Z*/Cc. Visiting just them keeps a whole article fast.
_MAYBE_BREAK = re.compile(r"[^\w\s]|_")


def _break_or_keep(m: re.Match[str]) -> str:
    c = m.group()
    return " " if unicodedata.category(c)[0] in "PS" else c

_LETTERS = str.maketrans(
    {
        "\u0623": "\u0627",  # أ -> ا
        "\u0625": "\u0627",  # إ -> ا
        "\u0622": "\u0627",  # آ -> ا
        "\u0671": "\u0627",  # ٱ -> ا
        "\u0649": "\u064a",  # ى -> ي
        "\u0629": "\u0647",  # ة -> ه
    }
)


def normalise_name(name: str) -> str:
    """Normalise a name for comparison: diacritics and tatweel removed, alef/ya/ta-marbuta
    variants unified, punctuation replaced by spaces, whitespace collapsed.

    >>> normalise_name("جِيل  دو-كيرشوف")
    'جيل دو كيرشوف'
    """
    # NFKC folds Arabic presentation forms (ﻻ, ﺟ...) to base letters and composes a decomposed
    # alef + hamza into أ, which the letter table then maps to ا.
    text = unicodedata.normalize("NFKC", name)
    text = _MARKS.sub("", text.replace(_TATWEEL, "")).translate(_LETTERS)
    # Punctuation and symbols (quotes, hashtags, `_` of hashtags, Arabic comma) become word
    # breaks, so `#الاتحاد_الأوروبي` compares equal to `الاتحاد الأوروبي`.
    text = _MAYBE_BREAK.sub(_break_or_keep, text)
    return " ".join(text.casefold().split())


def same_source(a: str | None, b: str | None) -> bool:
    """True when the two speaker names refer to the same source per the guidelines.

    ``None`` (no name) never matches anything, not even ``None``: the scorer decides
    separately how to treat two missing names.
    """
    if a is None or b is None:
        return False
    na, nb = normalise_name(a), normalise_name(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    wa, wb = set(na.split()), set(nb.split())
    return wa <= wb or wb <= wa
