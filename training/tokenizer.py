"""WordPiece tokenizer training for the compact Arabic encoder.

The tokenizer sees text *after* ``khabar.data.normalise.normalise`` (the offset-mapped
normalisation used at inference), so training and inference agree on what a character is.
Its own normaliser only cleans control characters: it must NOT lowercase or strip accents,
because NFD accent stripping turns hamza carriers (أ إ آ ؤ ئ) into bare letters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, trainers
from tokenizers.models import WordPiece
from transformers import BertTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Positions 0..511 exist in the encoder; the tokenizer's nominal limit matches it.
DEFAULT_MODEL_MAX_LENGTH = 512

Normaliser = Callable[[str], str]


def default_normalise(text: str) -> str:
    """The inference normalisation (``khabar.data.normalise``), text only."""
    from khabar.data.normalise import normalise  # imported lazily: owned by the data module

    return normalise(text).text


def _bert_normalizer() -> normalizers.Normalizer:
    # handle_chinese_chars=False: Arabic text never needs CJK splitting, and keeping the flag
    # False everywhere means the saved tokenizer_config and tokenizer.json agree.
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)


def _normalised(texts: Iterable[str], normalise: Normaliser | None) -> Iterator[str]:
    fn = normalise or default_normalise
    for text in texts:
        if text:
            yield fn(text)


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int = 16000,
    min_frequency: int = 2,
    out_dir: str | Path | None = None,
    *,
    normalise: Normaliser | None = None,
    model_max_length: int = DEFAULT_MODEL_MAX_LENGTH,
    limit_alphabet: int = 1000,
) -> BertTokenizerFast:
    """Train a cased, accent-keeping WordPiece tokenizer and wrap it as a ``BertTokenizerFast``.

    ``normalise`` maps raw text to the text the model sees; by default it is
    ``khabar.data.normalise.normalise(text).text``. Pass ``lambda t: t`` for already-normalised text.
    The result is saved with ``save_pretrained`` when ``out_dir`` is given.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    backend = Tokenizer(WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = _bert_normalizer()
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        limit_alphabet=limit_alphabet,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train_from_iterator(_normalised(texts, normalise), trainer=trainer)
    tokenizer = tokenizer_from_vocab(backend.get_vocab(), model_max_length=model_max_length)
    if out_dir is not None:
        save_tokenizer(tokenizer, out_dir)
    return tokenizer


def save_tokenizer(tokenizer: BertTokenizerFast, out_dir: str | Path) -> None:
    """``save_pretrained`` plus a ``vocab.txt``, which transformers 4 and other BERT tooling read."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    vocab = tokenizer.get_vocab()
    ordered = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in ordered] != list(range(len(ordered))):
        raise ValueError("vocabulary ids are not contiguous from 0; cannot write vocab.txt")
    (out / "vocab.txt").write_text("".join(t + "\n" for t in ordered), encoding="utf-8")


def tokenizer_from_vocab(vocab: dict[str, int], model_max_length: int = DEFAULT_MODEL_MAX_LENGTH) -> BertTokenizerFast:
    """A ``BertTokenizerFast`` over ``vocab`` with the normaliser flags this project needs.

    Built from the vocabulary (not ``tokenizer_object``) so that ``AutoTokenizer.from_pretrained``
    rebuilds exactly the same pipeline from the saved files.
    """
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"vocabulary lacks special tokens {missing}")
    tokenizer = BertTokenizerFast(
        vocab=dict(vocab),
        do_lower_case=False,
        strip_accents=False,
        tokenize_chinese_chars=False,
        model_max_length=model_max_length,
    )
    return tokenizer


def iter_news_texts(paths: Iterable[str | Path]) -> Iterator[str]:
    """Title and body of every article in raw news JSONL files (``{"title", "text", ...}``)."""
    import json

    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg}); expected one article per line") from exc
                title, text = record.get("title") or "", record.get("text") or ""
                yield f"{title}\n{text}" if title else text
