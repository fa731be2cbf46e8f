"""Pretraining configuration: YAML -> dataclasses, every mistake named by file and key.

See ``configs/pretrain-compact.yaml`` for the annotated default and ``docs/pretraining.md`` for
why each value is what it is.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class PretrainConfigError(ValueError):
    """A mistake in a pretraining config; the message names the file, the key and the fix."""


@dataclass
class DataConfig:
    # Glob patterns of raw news JSONL ({"title", "text", ...}); relative ones resolve against the
    # working directory, then against the repository that holds the config file.
    files: list[str] = field(default_factory=lambda: ["../shared/data/ant-news/*.jsonl"])
    max_len: int = 128  # tokens per packed sequence, [CLS] and [SEP] included
    valid_sequences: int = 256  # held-out packed sequences for the validation loss
    limit_articles: int | None = None  # for smoke runs; None = all


@dataclass
class TokenizerConfig:
    vocab_size: int = 16000
    min_frequency: int = 2
    # An existing tokenizer folder to reuse instead of training one (None: train on the data).
    path: str | None = None


@dataclass
class ModelConfig:
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 1024
    max_position_embeddings: int = 512
    dropout: float = 0.1
    attention_dropout: float = 0.1
    initializer_range: float = 0.02


@dataclass
class ObjectiveConfig:
    kind: str = "mlm"  # "mlm" or "electra"
    mask_prob: float = 0.15
    whole_word: bool = True
    replace_mask: float = 0.8  # of the chosen tokens: [MASK]
    replace_random: float = 0.1  # random token; the rest stay unchanged
    # Probability that a sequence is placed at a random offset in 0..max_position-max_len, so the
    # position embeddings past max_len are trained too (fine-tuning windows may be longer).
    random_position_offset_prob: float = 0.0
    # ELECTRA: generator depth (same width as the discriminator, so embeddings are shared as is)
    # and the weight of the replaced-token-detection loss (50 in the ELECTRA paper).
    generator_layers: int = 1
    discriminator_weight: float = 50.0


@dataclass
class WordVectorConfig:
    """Skip-gram with negative sampling on the WordPiece-tokenised corpus, to initialise embeddings."""

    enabled: bool = True
    window: int = 5
    negatives: int = 5
    epochs: int = 1
    subsample: float = 1e-4
    # Train on at most this many corpus tokens (a slice from the start; None = all). On a shared
    # 2-core machine a full pass over 10 M tokens takes 20-30 minutes; 3 M take a third of that.
    max_tokens: int | None = None
    batch_size: int = 4096
    learning_rate: float = 0.025  # word2vec's SGD rate, decayed linearly
    # Per-element std of the word embedding matrix after scaling the vectors (BERT's init is 0.02;
    # larger lets the lexical signal dominate the position/type embeddings before LayerNorm).
    init_std: float = 0.05


@dataclass
class OptimConfig:
    batch_size: int = 64
    grad_accum: int = 1
    learning_rate: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01
    warmup_steps: int = 300
    total_steps: int = 3000
    schedule: str = "linear"  # "linear" or "cosine", after warm-up
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0


@dataclass
class RuntimeConfig:
    threads: int = 2
    checkpoint_minutes: float = 10.0
    log_every: int = 10
    eval_every: int = 200
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"


@dataclass
class PretrainConfig:
    run_dir: str = "runs/pretrain-compact"
    seed: int = 13
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    word_vectors: WordVectorConfig = field(default_factory=WordVectorConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    source: str | None = field(default=None, compare=False, repr=False)  # the YAML file it came from

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source", None)
        return d

    def fingerprint(self, *sections: str) -> str:
        """A hash of the given sections (all when none), to detect incompatible resumes."""
        d = self.to_dict()
        picked = {k: d[k] for k in sections} if sections else d
        return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def validate(self) -> None:
        def bad(key: str, msg: str) -> PretrainConfigError:
            return PretrainConfigError(f"{self.source or '<config>'}: {key}: {msg}")

        checks = [
            ("data.max_len", 8 <= self.data.max_len <= self.model.max_position_embeddings,
             f"must be in 8..model.max_position_embeddings ({self.model.max_position_embeddings})"),
            ("data.valid_sequences", self.data.valid_sequences >= 0, "must be >= 0"),
            ("data.files", bool(self.data.files), "list at least one JSONL glob"),
            ("tokenizer.vocab_size", 100 <= self.tokenizer.vocab_size <= 2**31 - 1, "must be >= 100"),
            ("model.hidden_size", self.model.hidden_size % self.model.num_heads == 0,
             f"must be divisible by model.num_heads ({self.model.num_heads})"),
            ("model.num_layers", self.model.num_layers >= 1, "must be >= 1"),
            ("objective.kind", self.objective.kind in ("mlm", "electra"), "write 'mlm' or 'electra'"),
            ("objective.mask_prob", 0.0 < self.objective.mask_prob < 1.0, "must be in (0, 1), e.g. 0.15"),
            ("objective.replace_random", 0 <= self.objective.replace_mask and 0 <= self.objective.replace_random
             and self.objective.replace_mask + self.objective.replace_random <= 1.0,
             "replace_mask + replace_random must be <= 1 (e.g. 0.8 and 0.1)"),
            ("objective.random_position_offset_prob", 0.0 <= self.objective.random_position_offset_prob <= 1.0,
             "must be in [0, 1]"),
            ("objective.generator_layers", 1 <= self.objective.generator_layers <= self.model.num_layers,
             f"must be in 1..model.num_layers ({self.model.num_layers})"),
            ("word_vectors.window", self.word_vectors.window >= 1, "must be >= 1"),
            ("word_vectors.negatives", self.word_vectors.negatives >= 1, "must be >= 1"),
            ("word_vectors.epochs", self.word_vectors.epochs >= 1, "must be >= 1"),
            ("optim.batch_size", self.optim.batch_size >= 1, "must be >= 1"),
            ("optim.grad_accum", self.optim.grad_accum >= 1, "must be >= 1"),
            ("optim.learning_rate", self.optim.learning_rate > 0, "must be > 0, e.g. 1e-3"),
            ("optim.betas", len(self.optim.betas) == 2 and all(0 <= b < 1 for b in self.optim.betas),
             "write two numbers in [0, 1), e.g. [0.9, 0.98]"),
            ("optim.total_steps", self.optim.total_steps > self.optim.warmup_steps >= 0,
             "total_steps must exceed warmup_steps (>= 0)"),
            ("optim.schedule", self.optim.schedule in ("linear", "cosine"), "write 'linear' or 'cosine'"),
            ("optim.min_lr_ratio", 0.0 <= self.optim.min_lr_ratio < 1.0, "must be in [0, 1)"),
            ("runtime.device", self.runtime.device in ("auto", "cpu", "cuda"), "write 'auto', 'cpu' or 'cuda'"),
            ("runtime.checkpoint_minutes", self.runtime.checkpoint_minutes > 0, "must be > 0"),
            ("runtime.threads", self.runtime.threads >= 1, "must be >= 1"),
        ]
        for key, ok, msg in checks:
            if not ok:
                raise bad(key, msg)


def _coerce(value: Any, default: Any, key: str, source: str) -> Any:
    """Check a YAML scalar/list against the type of the dataclass default."""
    def fail(expected: str) -> PretrainConfigError:
        return PretrainConfigError(f"{source}: {key}: expected {expected}, got {value!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads "1e-3" as a string
            except ValueError:
                raise fail("a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != len(default):
            raise fail(f"a list of {len(default)}")
        return tuple(_coerce(v, d, key, source) for v, d in zip(value, default))
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("a list of strings")
        return value
    if isinstance(default, str) or default is None:
        if value is not None and not isinstance(value, (str, int)):
            raise fail("a string")
        return value
    raise fail(type(default).__name__)


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PretrainConfigError(f"{source}: {prefix or 'top level'}: expected a mapping, got {raw!r}")
    obj = cls()
    known = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in known:
            hint = difflib.get_close_matches(str(name), list(known), n=1)
            raise PretrainConfigError(f"{source}: {key}: unknown key" + (f"; did you mean '{hint[0]}'?" if hint else
                                      f"; known keys: {', '.join(known)}"))
        default = getattr(obj, name)
        if dataclasses.is_dataclass(default):
            setattr(obj, name, _build(type(default), value, key, source))
        elif name in ("limit_articles", "path", "max_tokens") and value is not None:
            setattr(obj, name, _coerce(value, "" if name == "path" else 0, key, source))
        else:
            setattr(obj, name, _coerce(value, default, key, source))
    return obj


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PretrainConfig:
    """Read and validate a pretraining YAML file; ``overrides`` use dotted keys (``optim.total_steps``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise PretrainConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise PretrainConfigError(f"{path}: not valid YAML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    cfg = _build(PretrainConfig, raw, "", str(path))
    cfg.source = str(path)
    cfg.validate()
    return cfg


def config_from_dict(raw: dict[str, Any], source: str = "<dict>") -> PretrainConfig:
    cfg = _build(PretrainConfig, raw, "", source)
    cfg.source = source
    cfg.validate()
    return cfg
