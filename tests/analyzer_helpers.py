"""A tiny random KhabarModel (hidden 32, 2 layers) and an in-project WordPiece tokenizer, saved once.

The analyser tests need *a* model, not a good one: random weights exercise loading, windows,
batching, decoding and offsets. It is built once per test session (memoised here, because a
fixture imported into several test modules would otherwise run once per module).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SEED_TEXT = REPO / "seeds" / "000_777ec913e064ed28.txt"
# A word the tokenizer knows as one token, put in an article's last paragraph to see it reach the model.
MARKER = "ختامية"

SENTENCES = [
    'قال الرئيس محمد عباس: "سنواصل العمل من أجل السلام في فلسطين".',
    "وأضاف وزير الخارجية الأميركي أن الولايات المتحدة تدعم الحوار في ليبيا.",
    "أعلنت الأمم المتحدة في جنيف عن اجتماع جديد لمجلس الأمن.",
    'وأكد المتحدث باسم الحكومة العراقية أن "بغداد لن تقبل التدخل".',
    "The Latin-only text has no Arabic at all, numbers 2024 and names like Reuters.",
    f"{MARKER} {MARKER} {MARKER}",
]

_cache: dict[str, Path] = {}


def training_texts() -> list[str]:
    return [SEED_TEXT.read_text(encoding="utf-8")] + SENTENCES * 3


def build_tiny_model(out_dir: Path, max_length: int = 128, window_overlap: int = 16, seed: int = 0) -> Path:
    """Train a small WordPiece vocabulary, wrap a random 2-layer encoder, save both to ``out_dir``."""
    import torch
    from transformers import BertConfig

    from khabar.model import KhabarModel
    from khabar.training.tokenizer import save_tokenizer, train_wordpiece

    tokenizer = train_wordpiece(training_texts(), vocab_size=600, min_frequency=1)
    torch.manual_seed(seed)
    encoder = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
    )
    model = KhabarModel.from_encoder(encoder, max_length=max_length, window_overlap=window_overlap)
    _make_sparse(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    save_tokenizer(tokenizer, out_dir)
    return out_dir


def _make_sparse(model) -> None:
    """Make the random tagging heads token-dependent but sparse: a few spans per article.

    With initial (tiny) weights every token gets nearly the same logits, and the argmax tags whole
    articles as hundreds of spans; then attribution (quotes x mentions) dominates every test.
    Large weights make tags depend on the token, a large "O" bias keeps spans rare: the seed
    article gets 3-11 entities (the WordPiece vocabulary, and so the output, differs from one
    process to the next: the trainer breaks ties in hash order) and a few tens of quotations.
    """
    import torch

    gen = torch.Generator().manual_seed(1)
    for name, o_bias in (("entity", 21.0), ("cue", 25.0), ("source", 25.0), ("quote", 22.0)):
        out = getattr(model, f"{name}_head").out
        with torch.no_grad():
            # scaled so that logits spread alike whatever the hidden size (std 1 at hidden 32)
            out.weight.copy_(torch.randn(out.weight.shape, generator=gen) * (32 / out.in_features) ** 0.5)
            out.bias.zero_()
            out.bias[0] = o_bias
            if name != "quote":
                # a token that escapes O is mostly a B: with Viterbi decoding an I after O is no
                # span, so random I tags would make the spans (and the tests) depend on chance
                out.bias[2::2] = -4.0


def tiny_model_dir(tmp_path_factory) -> Path:
    """The session's tiny model folder (built on first use)."""
    if "tiny" not in _cache:
        _cache["tiny"] = build_tiny_model(tmp_path_factory.mktemp("tiny-khabar-model"))
    return _cache["tiny"]
