"""Fine-tuning configuration: dataclasses read from YAML, validated with errors that say the fix.

A config file has four sections::

    output_dir: runs/tiny-anercorp
    model:    {encoder [encoder_layers] | encoder_config, tokenizer, max_length, window_overlap, extra, lexical_vectors}
    data:     {sources: [{kind, path, split, layers, limit, skip, label_map}, ...]}
    training: {epochs, batch_size, learning_rate, ...}

Paths may start with ``${shared}``: the shared data folder, taken from ``--shared``, else
``$KHABAR_SHARED``, else ``../shared`` (from the working directory, then from the repository that
holds the config file). Other relative paths are relative to the working directory.

Every mistake is reported as a :class:`ConfigError` that names the file, the key path and what to
write instead; unknown keys get a "did you mean" from the known ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

SOURCE_KINDS = ("conll", "gold_jsonl", "silver_jsonl")
SPLITS = ("train", "eval")
LAYERS = ("entities", "quotes")
# Which annotation layers a source trains by default; the others are masked (treated as absent).
# Silver quotations come from the rule-based bootstrapper, which says nothing about entities.
DEFAULT_LAYERS = {"conll": ("entities",), "gold_jsonl": ("entities", "quotes"), "silver_jsonl": ("quotes",)}


# What an evaluation reports (khabar.training.trainer.flatten_scores, without "eval_"; the loss with
# eval_loss: true), plus entities_<LABEL>_f1 for each label: what metric_for_best_model may name.
EVAL_METRICS = (
    "loss",
    *(f"entities_{avg}_{k}" for avg in ("micro", "macro") for k in ("precision", "recall", "f1")),
    "quotes_precision", "quotes_recall", "quotes_f1", "quotes_exact_f1", "quotes_type_accuracy", "cues_f1",
    "attribution_precision", "attribution_recall", "attribution_f1", "attribution_accuracy_on_matched",
)  # fmt: skip


class ConfigError(ValueError):
    """A mistake in a config file; the message names the file, the key and the fix."""


@dataclass
class TokenizerTrainConfig:
    """Train a WordPiece vocabulary on the texts of the training sources (``train_wordpiece``)."""

    vocab_size: int = 8000
    min_frequency: int = 2


@dataclass
class TokenizerConfig:
    """``path``: a Hub name or folder; ``train``: learn one from the data. Neither: the encoder's own."""

    path: str | None = None
    train: TokenizerTrainConfig | None = None


@dataclass
class ModelConfig:
    # A Hub name or local folder of a pretrained BERT-family encoder (its weights are loaded) ...
    encoder: str | None = None
    # ... or the config of a randomly initialised one (``model_type`` defaults to ``bert``).
    encoder_config: dict[str, Any] | None = None
    # Keep only the first N transformer layers of the pretrained ``encoder`` (a smaller, faster
    # model: the shipped default keeps 2 of its 4); None keeps them all.
    encoder_layers: int | None = None
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    max_length: int = 256
    window_overlap: int = 32
    # Further ``KhabarConfig`` keyword arguments (e.g. dropout of the heads).
    extra: dict[str, Any] = field(default_factory=dict)
    # Folder of `python -m khabar.training.lexical_vectors` (skip-gram vectors for the lexical
    # word-feature tables); needs extra.lexical_features.
    lexical_vectors: str | None = None


@dataclass
class SourceConfig:
    kind: Literal["conll", "gold_jsonl", "silver_jsonl"]
    path: str
    split: Literal["train", "eval"] = "train"
    # Annotation layers to learn from this source; the others are masked. Default per kind: DEFAULT_LAYERS.
    layers: list[str] | None = None
    # Keep only the first N articles (CoNLL: sentences) of the file; None keeps all.
    limit: int | None = None
    # Drop the first N articles (CoNLL: sentences) before ``limit``: with ``limit`` on another source
    # of the same file, one file gives a train part and a held-out part.
    skip: int = 0
    # CoNLL only: how source entity types map to ours, by name (khabar.data.conll.LABEL_MAPS:
    # "default", "wojood", "wojood-anercorp"); None is "default". Or a mapping of the file's own
    # types, added to "default": {PERSON: PER, GPE: LOC, DATE: null} (null: read as O).
    label_map: str | dict[str, str | None] | None = None

    def conll_label_map(self) -> dict[str, str | None]:
        from khabar.data.conll import DEFAULT_LABEL_MAP, LABEL_MAPS

        if isinstance(self.label_map, dict):
            return {**DEFAULT_LABEL_MAP, **self.label_map}
        return dict(LABEL_MAPS[self.label_map or "default"])

    def layer_set(self) -> tuple[str, ...]:
        return tuple(self.layers) if self.layers is not None else DEFAULT_LAYERS[self.kind]


@dataclass
class DataConfig:
    sources: list[SourceConfig] = field(default_factory=list)


@dataclass
class TrainingConfig:
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 16  # articles (CoNLL: sentences) per device; an article's windows stay together
    eval_batch_size: int | None = None  # defaults to batch_size
    learning_rate: float = 5e-5
    lr_scheduler: str = "linear"
    warmup: float = 0.1  # < 1: a fraction of all steps; >= 1: a number of steps
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    seed: int = 42
    data_seed: int | None = None  # order of the batches; defaults to seed
    full_determinism: bool = False  # deterministic kernels (slower on GPU; free on CPU)
    # None: evaluate and save at the end of every epoch; N: every N optimiser steps.
    eval_steps: int | None = None
    eval_loss: bool = True  # also the loss on the eval windows (one more forward pass per evaluation)
    save_total_limit: int | None = 2
    load_best_model_at_end: bool = True
    # Any metric of the evaluation without its "eval_" prefix: entities_micro_f1, quotes_f1, loss, ...
    metric_for_best_model: str = "entities_micro_f1"
    greater_is_better: bool | None = None  # None: False for losses, True otherwise
    group_by_length: bool = True
    bf16: bool | Literal["auto"] = "auto"  # auto: on where CUDA supports it
    logging_steps: int = 50
    report_to: list[str] = field(default_factory=list)  # e.g. [tensorboard]
    disable_tqdm: bool | None = None
    dataloader_num_workers: int = 0
    # CPU threads of PyTorch (None: its default, one per core). Small models on a busy machine run
    # faster with 1: an oversubscribed thread pool spins instead of computing.
    torch_threads: int | None = None
    # Weights of the task losses by KhabarConfig's task names: entity, quote, cue, source, attribution (1.0 each).
    loss_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainConfig:
    output_dir: str
    model: ModelConfig
    data: DataConfig
    training: TrainingConfig = field(default_factory=TrainingConfig)
    # Where the config came from and the shared folder it was resolved against (not YAML keys).
    source_file: str | None = field(default=None, metadata={"internal": True})
    shared_dir: str | None = field(default=None, metadata={"internal": True})

    def to_dict(self) -> dict[str, Any]:
        """The config as written (paths unresolved), for the model card and the run folder."""
        d = dataclasses.asdict(self)
        d.pop("source_file")
        d.pop("shared_dir")
        return d

    def sources(self, split: str) -> list[SourceConfig]:
        return [s for s in self.data.sources if s.split == split]

    def resolve_path(self, path: str) -> Path:
        return _expand(path, self.shared_dir)


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(
    path: str | Path,
    overrides: list[str] | None = None,
    output_dir: str | None = None,
    shared: str | None = None,
    check_files: bool = True,
) -> TrainConfig:
    """Read, override (``--set a.b=value``), validate and resolve a YAML config."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (the configs that ship are in configs/*.yaml)")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    for item in overrides or []:
        _apply_override(raw, item, where)
    if overrides:  # a wrong key or value may come from the command line, not from the file
        where = f"{where} (with --set {' --set '.join(overrides)})"
    if output_dir is not None:
        raw["output_dir"] = output_dir
    return config_from_dict(raw, where=where, shared=shared, check_files=check_files, config_path=path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key written twice in one mapping: plain YAML keeps the last
    one silently, so a key added at the bottom of a copied config would override the one above."""

    def construct_document(self, node: yaml.Node) -> Any:
        # Checked on the composed tree, before construction: constructing a mapping flattens its
        # merge keys (`<<: *anchor`) into it in place, and a key that overrides a merged one is
        # YAML's way to reuse a block, not a key written twice.
        self._check_unique(node, set())
        return super().construct_document(node)

    def _check_unique(self, node: yaml.Node, visited: set[int]) -> None:
        if id(node) in visited:  # an alias: the same node again
            return
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                self._check_unique(value_node, visited)
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} written twice (lines {seen[key]} and {line}); keep one", key_node.start_mark
                    )
                seen[key] = line
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._check_unique(item, visited)


def config_from_dict(
    raw: dict[str, Any],
    where: str = "<dict>",
    shared: str | None = None,
    check_files: bool = True,
    config_path: Path | None = None,
) -> TrainConfig:
    cfg = _build(TrainConfig, raw, "", where)
    cfg.source_file = str(config_path) if config_path is not None else None
    cfg.shared_dir = str(find_shared_dir(shared, config_path))
    _check(cfg, where, check_files)
    return cfg


def find_shared_dir(flag: str | None = None, config_path: Path | None = None) -> Path:
    """``--shared`` > ``$KHABAR_SHARED`` > ``../shared`` from the working directory or the config's repo."""
    if flag:
        return Path(flag).expanduser().resolve()
    if os.environ.get("KHABAR_SHARED"):
        return Path(os.environ["KHABAR_SHARED"]).expanduser().resolve()
    candidates = [Path.cwd().parent / "shared"]
    if config_path is not None:  # configs/x.yaml -> <repo>/../shared
        candidates.append(config_path.resolve().parent.parent.parent / "shared")
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return candidates[0].resolve()


def _expand(path: str, shared_dir: str | None) -> Path:
    if "${shared}" in path:
        path = path.replace("${shared}", str(shared_dir))
    return Path(os.path.expandvars(os.path.expanduser(path)))


def _apply_override(raw: dict[str, Any], item: str, where: str) -> None:
    """``--set a.b=value``; a list item by its index, as errors name it: ``data.sources[0].limit=100``
    (or ``data.sources.0.limit=100``)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. --set training.epochs=2")
    key, _, value = item.partition("=")
    parts: list[str | int] = []
    for part in key.strip().split("."):
        name, *indices = part.replace("]", "").split("[")
        parts += [int(name) if name.isdigit() else name] if name else []
        for index in indices:
            if not index.isdigit():
                raise ConfigError(f"--set {item!r}: {part!r}: a list index is a number, e.g. data.sources[0].limit=100")
            parts.append(int(index))
    if not parts:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. --set training.epochs=2")
    node: Any = raw
    for i, part in enumerate(parts):
        here = _key_path(parts[: i + 1])
        if isinstance(part, int):
            if not isinstance(node, list):
                raise ConfigError(f"--set {item!r}: '{_key_path(parts[:i]) or 'the top level'}' in {where} is not a list")
            if not 0 <= part < len(node):
                raise ConfigError(f"--set {item!r}: '{_key_path(parts[:i])}' in {where} has {len(node)} item(s), "
                                  f"no [{part}]")
        elif isinstance(node, list):
            raise ConfigError(f"--set {item!r}: '{_key_path(parts[:i])}' in {where} is a list; name an item by its "
                              f"index, e.g. {_key_path(parts[:i])}[0].{part}")
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {item!r}: '{_key_path(parts[:i])}' in {where} is not a section")
        if i == len(parts) - 1:
            break
        child = node[part] if isinstance(part, int) else node.get(part)
        if child is None:
            if isinstance(parts[i + 1], int):
                raise ConfigError(f"--set {item!r}: '{here}' in {where} is not a list")
            child = node[part] = {}
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        node[parts[-1]] = value


def _key_path(parts: list[str | int]) -> str:
    """``['data', 'sources', 0, 'limit']`` -> ``data.sources[0].limit`` (how errors name keys)."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


# ---------------------------------------------------------------------------------------------
# Typed construction of the dataclasses


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict or tp is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """``value`` as type ``tp`` or a ConfigError naming ``key`` and the expected type."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        # Try the most specific alternatives first so "auto" is not taken for a bool and vice versa.
        for a in sorted(args, key=lambda a: 0 if typing.get_origin(a) is Literal else 1):
            if a is type(None):
                continue
            try:
                return _convert(value, a, key, where)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise _type_error(value, tp, key, where)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in typing.get_args(tp)], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{_at(key, where)}: {value!r} is not one of {_describe(tp)}{hint}")
    if dataclasses.is_dataclass(tp):
        if tp is TokenizerConfig and isinstance(value, str):  # shorthand: tokenizer: path/or/hub-name
            return TokenizerConfig(path=value)
        return _build(tp, value, key, where)
    if origin is list:
        if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)):
            if isinstance(value, str) and typing.get_args(tp)[0] is str:
                value = [value]  # report_to: tensorboard == [tensorboard]
            else:
                raise _type_error(value, tp, key, where)
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _type_error(value, tp, key, where)
        args = typing.get_args(tp)
        if args and args[1] is not Any:
            return {k: _convert(v, args[1], f"{key}.{k}", where) for k, v in value.items()}
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(value, tp, key, where)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _type_error(value, tp, key, where)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 5e-5 as a string (no dot): accept it
            try:
                return float(value)
            except ValueError:
                pass
        raise _type_error(value, tp, key, where)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(value, tp, key, where)
    if tp is Any:
        return value
    raise TypeError(f"unsupported config type {tp!r}")  # a bug in the dataclasses, not in the file


def _type_error(value: Any, tp: Any, key: str, where: str) -> ConfigError:
    got = "null" if value is None else f"{type(value).__name__} {value!r}"
    return ConfigError(f"{_at(key, where)}: expected {_describe(tp)}, got {got}")


def _at(key: str, where: str) -> str:
    return f"'{key}' in {where}" if key else where


def _build(cls: type, data: Any, section: str, where: str) -> Any:
    label = f"section '{section}'" if section else "the top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label} of {where} must be a mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys are {sorted(fields)}"
            if cls is TrainConfig and key == "run_dir":  # the top-level key of a `khabar pretrain` config
                hint += " (this looks like a pretraining config: run it with khabar pretrain --config ...)"
            raise ConfigError(f"unknown key '{key}' in {label} of {where}{hint}")
        full = f"{section}.{key}" if section else key
        kwargs[key] = _convert(value, hints[key], full, where)
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            full = f"{section}.{name}" if section else name
            raise ConfigError(f"missing key '{full}' in {where}: add it ({_describe(hints[name])})")
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------------
# Checks across keys, and of the files named


def _check(cfg: TrainConfig, where: str, check_files: bool) -> None:
    m, t = cfg.model, cfg.training
    if (m.encoder is None) == (m.encoder_config is None):
        raise ConfigError(
            f"section 'model' of {where}: give exactly one of 'encoder' (a Hub name or folder of a pretrained "
            f"encoder) or 'encoder_config' (the config of a random one), not {'both' if m.encoder else 'neither'}"
        )
    if m.encoder_layers is not None:
        if m.encoder is None:
            raise ConfigError(f"'model.encoder_layers' in {where}: it cuts a pretrained 'encoder'; for a random one "
                              "set num_hidden_layers in 'model.encoder_config'")
        if isinstance(m.encoder_layers, bool) or not isinstance(m.encoder_layers, int) or m.encoder_layers < 1:
            raise ConfigError(f"'model.encoder_layers' in {where}: a positive number of layers, got {m.encoder_layers!r}")
    if m.tokenizer.path is not None and m.tokenizer.train is not None:
        raise ConfigError(f"'model.tokenizer' in {where}: give 'path' or 'train', not both")
    if m.encoder is None and m.tokenizer.path is None and m.tokenizer.train is None:
        raise ConfigError(
            f"'model.tokenizer' in {where}: a random encoder has no tokenizer of its own; "
            "give 'tokenizer: PATH' or 'tokenizer: {train: {vocab_size: 8000}}'"
        )
    from khabar.model.configuration import MIN_MAX_LENGTH, max_window_overlap

    if m.max_length < MIN_MAX_LENGTH:
        raise ConfigError(f"'model.max_length' in {where}: {m.max_length} is too small; use e.g. 128 or 512")
    if not 0 <= m.window_overlap <= max_window_overlap(m.max_length):
        raise ConfigError(
            f"'model.window_overlap' in {where}: {m.window_overlap} must be in [0, {max_window_overlap(m.max_length)}] "
            f"(at most half of a window of max_length={m.max_length})"
        )
    options = _model_options()
    for name in m.extra:
        if name in _SET_ELSEWHERE:
            raise ConfigError(f"'model.extra.{name}' in {where}: set it as '{_SET_ELSEWHERE[name]}' instead")
        if options and name not in options:
            close = difflib.get_close_matches(name, options, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; options are {sorted(options)}"
            raise ConfigError(f"unknown KhabarConfig option 'model.extra.{name}' in {where}{hint}")
    tasks = _model_tasks()
    for name in t.loss_weights:
        if tasks and name not in tasks:
            close = difflib.get_close_matches(name, tasks, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown task '{name}' in 'training.loss_weights' of {where}{hint} (tasks are {list(tasks)})")
    for name in ("batch_size", "gradient_accumulation_steps", "logging_steps"):
        if getattr(t, name) < 1:
            raise ConfigError(f"'training.{name}' in {where}: must be at least 1, got {getattr(t, name)}")
    if t.torch_threads is not None and t.torch_threads < 1:
        raise ConfigError(f"'training.torch_threads' in {where}: must be at least 1 (or null: PyTorch's default)")
    if t.eval_steps is not None and t.eval_steps < 1:
        raise ConfigError(f"'training.eval_steps' in {where}: must be at least 1 (or null: every epoch)")
    metric = t.metric_for_best_model.removeprefix("eval_")
    if metric not in EVAL_METRICS and not re.fullmatch(r"entities_\w+_f1", metric):
        close = difflib.get_close_matches(metric, EVAL_METRICS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"metrics are {list(EVAL_METRICS)}"
        raise ConfigError(f"'training.metric_for_best_model' in {where}: no evaluation gives {t.metric_for_best_model!r}; "
                          f"{hint}")
    if not t.eval_loss and t.metric_for_best_model.endswith("loss"):
        raise ConfigError(f"'training.metric_for_best_model' in {where}: {t.metric_for_best_model!r} needs 'eval_loss: true'")
    if t.max_steps <= 0 and t.epochs <= 0:
        raise ConfigError(f"section 'training' of {where}: set 'epochs' > 0 or 'max_steps' > 0")
    if t.learning_rate <= 0:
        raise ConfigError(f"'training.learning_rate' in {where}: must be positive, got {t.learning_rate}")
    if t.warmup < 0 or (t.warmup >= 1 and not float(t.warmup).is_integer()):
        raise ConfigError(f"'training.warmup' in {where}: a fraction in [0, 1) or a whole number of steps")
    for i, s in enumerate(cfg.data.sources):
        for layer in s.layers or []:
            if layer not in LAYERS:
                raise ConfigError(f"'data.sources[{i}].layers' in {where}: unknown layer {layer!r}; layers are {list(LAYERS)}")
        # a negative slice bound would silently keep the END of the file (skip: -100 = the last 100)
        if s.skip < 0 or (s.limit is not None and s.limit < 0):
            raise ConfigError(f"'data.sources[{i}]' in {where}: 'skip' and 'limit' must be >= 0, got "
                              f"skip={s.skip}, limit={s.limit}")
        if s.label_map is not None:
            from khabar.data.conll import LABEL_MAPS

            if s.kind != "conll":
                raise ConfigError(f"'data.sources[{i}].label_map' in {where}: only CoNLL sources have a label map")
            if isinstance(s.label_map, dict):
                from khabar.data.article import ENTITY_LABELS

                for typ, label in s.label_map.items():
                    if label is not None and label not in ENTITY_LABELS:
                        raise ConfigError(f"'data.sources[{i}].label_map.{typ}' in {where}: {label!r} is not a label; "
                                          f"use one of {list(ENTITY_LABELS)} or null (read as O)")
            elif s.label_map not in LABEL_MAPS:
                raise ConfigError(f"'data.sources[{i}].label_map' in {where}: unknown map {s.label_map!r}; "
                                  f"maps are {sorted(LABEL_MAPS)}")
        if s.kind == "conll" and "quotes" in s.layer_set():
            raise ConfigError(f"'data.sources[{i}].layers' in {where}: CoNLL files carry entities only")
    if not cfg.sources("train"):
        raise ConfigError(
            f"section 'data' of {where}: no training source; add e.g. "
            "'sources: [{kind: conll, path: ${shared}/data/anercorp-camel/ANERCorp_CamelLab_train.txt, split: train}]'"
        )
    if not cfg.sources("eval") and t.load_best_model_at_end:
        raise ConfigError(
            f"section 'data' of {where}: no 'split: eval' source, so no best checkpoint can be chosen; "
            "add one or set 'training.load_best_model_at_end: false'"
        )
    if not check_files:
        return
    for i, s in enumerate(cfg.data.sources):
        p = cfg.resolve_path(s.path)
        if not p.is_file():
            hint = ""
            if "${shared}" in s.path:
                hint = f" (the shared folder is {cfg.shared_dir}; pass --shared DIR or set KHABAR_SHARED)"
            raise ConfigError(f"'data.sources[{i}].path' in {where}: file not found: {p}{hint}")
    if m.tokenizer.path is not None and _looks_local(m.tokenizer.path) and not cfg.resolve_path(m.tokenizer.path).exists():
        raise ConfigError(f"'model.tokenizer.path' in {where}: folder not found: {cfg.resolve_path(m.tokenizer.path)}")
    if m.encoder is not None and _looks_local(m.encoder) and not cfg.resolve_path(m.encoder).exists():
        raise ConfigError(f"'model.encoder' in {where}: folder not found: {cfg.resolve_path(m.encoder)}")


# KhabarConfig options that come from other config keys (model.extra would be overridden silently).
_SET_ELSEWHERE = {"max_length": "model.max_length", "window_overlap": "model.window_overlap",
                  "loss_weights": "training.loss_weights", "encoder": "model.encoder or model.encoder_config"}


def _model_options() -> tuple[str, ...]:
    """The keyword arguments KhabarConfig takes (what model.extra may hold); () without the model package."""
    try:
        from khabar.model.configuration import KhabarConfig
    except ImportError:
        return ()
    return tuple(f.name for f in dataclasses.fields(KhabarConfig) if f.name not in ("training_summary",))


def _model_tasks() -> tuple[str, ...]:
    try:
        from khabar.model.configuration import TASKS
    except ImportError:  # the model package is optional for reading a config
        return ()
    return tuple(TASKS)


def _looks_local(name: str) -> bool:
    """Hub names are ``owner/name``; anything else with a path shape is a local folder."""
    return name.startswith((".", "/", "~", "${")) or name.count("/") != 1 or os.path.exists(name)
