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
        "datasets": extra.pop("datasets", None) or summary.get("datasets") or _dataset_names(summary),
        "metrics": extra.pop("metrics", None) or ["f1", "precision", "recall"],
    }
    base = extra.pop("base_model", None) or summary.get("base_model")
    if base:
        meta["base_model"] = base
    meta.update(extra)
    return meta


def render_model_card(config: Any) -> str:
    meta = card_metadata(config)
    ec = config.encoder_config
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
        f"- encoder: `{ec.model_type}`, hidden {getattr(ec, 'hidden_size', '?')}, "
        f"{getattr(ec, 'num_hidden_layers', '?')} layers, {getattr(ec, 'num_attention_heads', '?')} heads, "
        f"vocabulary {getattr(ec, 'vocab_size', '?')}, {getattr(ec, 'max_position_embeddings', '?')} positions",
        f"- task loss weights: {json.dumps(config.loss_weights)}",
        "",
    ]
    summary = getattr(config, "training_summary", None)
    if summary:
        lines += ["## Training", ""]
        nested = {k: v for k, v in summary.items() if isinstance(v, (dict, list))}
        for key, value in summary.items():
            if key not in nested:
                lines.append(f"- **{key}**: {value}")
        for key, value in nested.items():
            block = yaml.safe_dump(_plain(value), allow_unicode=True, sort_keys=False).rstrip()
            lines += ["", f"### {key}", "", "```yaml", block, "```"]
        lines.append("")
    lines += [
        "## Limitations",
        "",
        "Knows only what its training sources (above) hold: for khabar's recipes, news and encyclopedic",
        "text in Modern Standard Arabic; other genres, dialects and very informal text are out of",
        "domain. Speaker names are clustered per article by word containment, so two",
        "different people who share a family name in one article can be merged.",
        "",
    ]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """JSON-able copy (tuples, paths and the like as strings) that yaml.safe_dump accepts."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _dataset_names(summary: dict[str, Any]) -> list[str]:
    """Dataset names from the trainer's per-source summaries (the folder each file lies in), of the
    training sources only: an evaluation set listed here would claim the model learnt from it.
    Folder names are not Hub dataset ids; set ``card: {datasets: [...]}`` in the config for those."""
    names: list[str] = []
    for source in summary.get("data") or []:
        if not isinstance(source, dict) or source.get("split", "train") != "train":
            continue
        path = source.get("path")
        if path:
            name = Path(str(path)).parent.name or Path(str(path)).stem
            if name not in names:
                names.append(name)
    return names


def write_model_card(config: Any, directory: str | os.PathLike) -> Path:
    path = Path(directory) / "README.md"
    path.write_text(render_model_card(config), encoding="utf-8")
    return path
