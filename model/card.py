"""The model card (`README.md` with YAML metadata) written next to every saved model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TAGS = ["khabar", "arabic", "token-classification", "named-entity-recognition", "quotation-extraction",
                "quote-attribution", "news"]


def card_metadata(config: Any) -> dict[str, Any]:
    extra = dict(getattr(config, "card", None) or {})
    summary = getattr(config, "training_summary", None) or {}
    meta: dict[str, Any] = {
        "language": ["ar"],
        "library_name": "khabar",
        "license": extra.pop("license", "apache-2.0"),
        "tags": DEFAULT_TAGS + [t for t in extra.pop("tags", []) if t not in DEFAULT_TAGS],
        "pipeline_tag": "token-classification",
        "datasets": extra.pop("datasets", None) or summary.get("datasets") or [],
        "metrics": extra.pop("metrics", None) or ["f1", "precision", "recall"],
    }
    base = extra.pop("base_model", None) or summary.get("base_model")
    if base:
        meta["base_model"] = base
    meta.update(extra)
    return meta


def render_model_card(config: Any) -> str:
    meta = card_metadata(config)
    enc = config.encoder
    lines = [
        "---",
        yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).rstrip(),
        "---",
        "",
        "# khabar model: entities, quotations and their speakers in Arabic news",
        "",
        "One BERT-family encoder with four token heads (entities BIO over "
        f"{', '.join(config.entity_labels)}; quotation content BIO x {', '.join(config.quote_types)}; "
        "cues; source mentions) and a quotation -> speaker scorer over the candidate mentions of the "
        "whole article (or none). Long articles are read in sentence-aligned windows of "
        f"{config.max_length} tokens with {config.window_overlap} tokens of overlap; nothing is truncated.",
        "",
        "## Usage",
        "",
        "```python",
        "from khabar import Analyzer",
        "analyzer = Analyzer.from_pretrained(\"path/to/this/folder\")",
        "result = analyzer(\"وقال وزير الخارجية إن المحادثات مستمرة.\")",
        "```",
        "",
        "Loading needs no remote code: `import khabar.model` registers the `khabar` model type with",
        "`AutoConfig`/`AutoModel`. Weights are stored as safetensors.",
        "",
        "## Architecture",
        "",
        f"- encoder: `{enc.get('model_type')}`, hidden {enc.get('hidden_size')}, "
        f"{enc.get('num_hidden_layers')} layers, {enc.get('num_attention_heads')} heads, vocabulary {enc.get('vocab_size')}",
        f"- task loss weights: {json.dumps(config.loss_weights)}",
        "",
    ]
    summary = getattr(config, "training_summary", None)
    if summary:
        lines += ["## Training", ""]
        for key, value in summary.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False)
            lines.append(f"- **{key}**: {value}")
        lines.append("")
    lines += [
        "## Limitations",
        "",
        "Trained on political news in Modern Standard Arabic; other genres, dialects and very informal",
        "text are out of domain. Speaker names are clustered per article by word containment, so two",
        "different people who share a family name in one article can be merged.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(config: Any, directory: str | os.PathLike) -> Path:
    path = Path(directory) / "README.md"
    path.write_text(render_model_card(config), encoding="utf-8")
    return path
