"""Helpers for the model tests: fixture articles written in a small markup, a tiny tokenizer and model.

Markup: ``{e:PER|جوزيف دانفورد}`` an entity; ``{q1:direct|...}`` the content of quotation 1;
``{c1|وقال}`` its cue; ``{s1,2|دانفورد}`` the speaker mention of quotations 1 and 2. Marks nest.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from khabar.data.article import Article

FIXTURES = Path(__file__).parent / "fixtures"
MODEL_ARTICLES = FIXTURES / "model_articles.jsonl"


def parse_markup(doc_id: str, markup: str, names: dict[int, str] | None = None,
                 entities: bool = True, quotes: bool = True) -> Article:
    """An :class:`Article` from markup; ``names`` overrides ``speaker_name`` per quotation number."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    spans: list[tuple[str, int, int]] = []
    i = 0
    while i < len(markup):
        ch = markup[i]
        if ch == "{":
            bar = markup.index("|", i)
            stack.append((markup[i + 1 : bar], len("".join(out))))
            i = bar + 1
            continue
        if ch == "}":
            tag, start = stack.pop()
            spans.append((tag, start, len("".join(out))))
        else:
            out.append(ch)
        i += 1
    assert not stack, f"unclosed mark in {doc_id}"
    text = "".join(out)
    ents, qs, cues, spk = [], {}, {}, {}
    for tag, s, e in spans:
        kind, rest = tag[0], tag[1:]
        if kind == "e":
            ents.append({"start": s, "end": e, "label": rest.lstrip(":")})
        elif kind == "q":
            num, qtype = rest.split(":")
            qs[int(num)] = {"start": s, "end": e, "type": qtype}
        elif kind == "c":
            cues[int(rest)] = {"start": s, "end": e}
        elif kind == "s":
            for num in rest.split(","):
                spk[int(num)] = {"start": s, "end": e}
    quote_list = []
    for num in sorted(qs):
        q = dict(qs[num])
        q["cue"] = cues.get(num)
        q["speaker"] = spk.get(num)
        sp = spk.get(num)
        q["speaker_name"] = (names or {}).get(num) or (" ".join(text[sp["start"] : sp["end"]].split()) if sp else None)
        quote_list.append(q)
    d = {"id": doc_id, "text": text,
         "entities": sorted(ents, key=lambda x: x["start"]) if entities else None,
         "quotes": quote_list if quotes else None}
    return Article.from_dict(d)


def load_articles() -> list[Article]:
    from khabar.data.article import read_articles

    return list(read_articles(MODEL_ARTICLES, on_error=None))


@functools.lru_cache(maxsize=None)
def tiny_tokenizer(vocab_size: int = 400) -> Any:
    """A WordPiece tokenizer trained on the fixture texts (offline, < 1 s)."""
    texts = [a.text for a in load_articles()]
    try:
        from khabar.training.tokenizer import train_wordpiece

        return train_wordpiece(texts * 3, vocab_size=vocab_size, min_frequency=1)
    except ImportError:  # the training side not installed: the same recipe by hand
        return _wordpiece(texts, vocab_size)


def _wordpiece(texts: list[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import WordPiece
    from transformers import BertTokenizerFast

    from khabar.data.normalise import normalise

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True,
                                                    handle_chinese_chars=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=1, special_tokens=specials,
                                        continuing_subword_prefix="##", show_progress=False)
    backend.train_from_iterator([normalise(t).text for t in texts], trainer=trainer)
    return BertTokenizerFast(tokenizer_object=backend, do_lower_case=False, strip_accents=False,
                             unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                             mask_token="[MASK]")


def tiny_model(tokenizer: Any, max_length: int = 32, overlap: int = 8, seed: int = 0, **kwargs: Any) -> Any:
    import torch
    from transformers import BertConfig

    from khabar.model import KhabarModel

    torch.manual_seed(seed)
    enc = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    return KhabarModel.from_encoder(enc, max_length=max_length, window_overlap=overlap,
                                    attribution_size=16, attribution_feature_size=8, **kwargs)


def write_fixture(articles: list[Article], path: Path = MODEL_ARTICLES) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(json.dumps(a.to_dict(), ensure_ascii=False) + "\n")


# The source of tests/fixtures/model_articles.jsonl (regenerate: write_fixture(fixture_articles())).
FIXTURE_MARKUP: list[tuple[str, str, dict[int, str], bool, bool]] = [
    ("model-dunford",
     '{c1|قال} رئيس {e:ORG|هيئة الأركان الأميركية المشتركة}، {s1,2|{e:PER|جوزيف دانفورد}}، '
     '{q1:indirect|إن الهزائم التي مني بها تنظيم "{e:ORG|داعش}" في {e:LOC|العراق} قد تدفع قادته إلى {e:LOC|ليبيا}}.\n'
     '{c2|وأضاف}: "{q2:direct|لابد أن نتخذ تحركا حاسما}".\n'
     'ومن جهتها، {c3|قالت} {s3|مصادر} أمنية {q3:indirect|إن الوضع مستقر في {e:LOC|طرابلس}}.',
     {}, True, True),
    ("model-merkel",
     '{c1|أعلنت} المستشارة الألمانية {s1|{e:PER|أنجيلا ميركل}}، الخميس، في {e:LOC|صوفيا}، '
     '{q1:mixed|أن دول {e:ORG|الاتحاد الأوروبي} توافق على أن الاتفاق "ليس مثاليا"}.\n'
     '{c2|وقالت} {s2|{e:PER|ميركل}} للصحافيين: "{q2:direct|علينا البقاء في الاتفاق}".\n'
     '{c3|وصرح} الرئيس الفرنسي، {s3,4|{e:PER|إيمانويل ماكرون}}: "{q3:direct|سنعمل على البقاء في إطار الاتفاق}".\n'
     '{c4|وتابع} {q4:indirect|أن الأوروبيين سيبدون التزاما سياسيا}.',
     {1: "أنجيلا ميركل", 2: "أنجيلا ميركل"}, True, True),
    ("model-shoukry",
     '{c1|وَقَالَ} وزيرُ الخارجيةِ {s1,2|{e:PER|سامح شكري}} {q1:indirect|إنَّ {e:LOC|مصر} تدعم الحلَّ السياسيَّ في {e:LOC|سوريا}}.\n'
     '{c2|وأكد} {q2:indirect|أهمية الحوار بين الأطراف}.\n'
     '{q3:indirect|وقعت اشتباكات عنيفة في {e:LOC|حلب}}، {c3|بحسب} {s3|{e:ORG|وكالة رويترز}}.',
     {}, True, True),
    ("model-sisi-ner-only",
     'زار الرئيس {e:PER|عبد الفتاح السيسي} مدينة {e:LOC|الرياض} والتقى ولي العهد {e:PER|محمد بن سلمان} '
     'لبحث مشاريع {e:MISC|رؤية 2030}. وقال السيسي إن العلاقات قوية.',
     {}, True, False),
    ("model-un-quotes-only",
     '{c1|حذر} {s1,2|المتحدث باسم الأمم المتحدة} {q1:indirect|من تصعيد خطير في المنطقة}.\n'
     '{c2|ودعا} {q2:indirect|إلى وقف فوري لإطلاق النار}.',
     {}, False, True),
    ("model-oil-empty",
     'ارتفعت أسعار النفط اليوم في الأسواق العالمية بعد قرار {e:ORG|أوبك} خفض الإنتاج.',
     {}, True, True),
]


def fixture_articles() -> list[Article]:
    return [parse_markup(i, m, names, entities=e, quotes=q) for i, m, names, e, q in FIXTURE_MARKUP]


def random_token_layout(rng: Any, n_tokens: int) -> tuple[list[bool], list[int], list[int]]:
    """A made-up article's token layout for decoder and batching tests: each token's first-sub-word
    flag (words of 1-3 tokens mostly), word id and sentence id (a new sentence now and then)."""
    first = [True] + [rng.random() < 0.7 for _ in range(n_tokens - 1)] if n_tokens else []
    word_ids, w = [], -1
    for f in first:
        w += 1 if f else 0
        word_ids.append(w)
    sentence, k = [], 0
    for f in first:
        k += 1 if f and sentence and rng.random() < 0.1 else 0
        sentence.append(k)
    return first, word_ids, sentence
