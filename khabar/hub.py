"""Why a name that is no local folder could not be loaded from the Hugging Face Hub: one wording
for every place that loads a model or tokenizer by name (``khabar train``, ``Analyzer``)."""

from __future__ import annotations


def hub_failure(exc: BaseException) -> str:
    """``not in the Hugging Face cache (DIR), and <why>: <transformers' first line>`` for the
    ``OSError`` a ``from_pretrained(name)`` raised when ``name`` is no local folder."""
    from huggingface_hub import constants

    why = ("the Hub is switched off here (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE
           else "the Hub did not give it (no network, or no such model)")
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
    return f"not in the Hugging Face cache ({constants.HF_HUB_CACHE}), and {why}: {first}"
