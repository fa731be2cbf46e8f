"""``khabar train --config FILE.yaml [--resume] [--output-dir DIR] [--shared DIR] [--set key=value ...]``.

Fine-tunes a ``KhabarModel`` as the YAML config says (see ``docs/training.md``), keeps the best
checkpoint by the configured task metric, saves model + tokenizer (safetensors) in ``output_dir``,
writes ``eval_results.json`` there and prints a table of the scores. Runs unchanged under
``accelerate launch`` for several GPUs or machines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from khabar.data.article import InputError
from khabar.training.config import ConfigError, TrainConfig, load_config
from khabar.training.data import build_data, format_table, log, trained_on_eval, training_texts

TRAINING_ARGS_FILE = "training_args.bin"  # the Trainer's serialised arguments (not safetensors); not shipped with a model
TRAINER_STATE_FILE = "trainer_state.json"  # written last into a checkpoint: its presence means the checkpoint is whole


@dataclass
class TrainingRun:
    """What :func:`train` returns: the final metrics and the objects that produced them."""

    metrics: dict[str, Any]
    scores: dict[str, Any] | None
    model: Any
    tokenizer: Any
    trainer: Any
    output_dir: Path


class TrainingError(RuntimeError):
    """A problem found before training starts (output folder, checkpoints); the message says the fix."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE.yaml", help="training config (see configs/)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    parser.add_argument("--output-dir", metavar="DIR", help="override output_dir of the config")
    parser.add_argument("--shared", metavar="DIR", help="the shared data folder that ${shared} names (default: $KHABAR_SHARED or ../shared)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by its dotted key, e.g. --set training.epochs=2 (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    cfg = None
    try:
        cfg = load_config(args.config, overrides=args.overrides, output_dir=args.output_dir, shared=args.shared)
        train(cfg, resume=args.resume)
    except (ConfigError, TrainingError, InputError) as exc:
        print(f"khabar train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: say where the run can go on from, not a Trainer traceback
        kept = last_checkpoint(cfg.output_dir, complete=True) if cfg is not None else None
        if kept is None:
            print("\nkhabar train: interrupted before the first checkpoint; nothing to resume", file=sys.stderr)
        else:
            print(f"\nkhabar train: interrupted; the last complete checkpoint is {kept}; continue with the same "
                  "command and --resume", file=sys.stderr)
        return 130  # 128 + SIGINT, what a shell reports for a tool stopped by Ctrl-C
    return 0


# ---------------------------------------------------------------------------------------------


def last_checkpoint(output_dir: str | Path, complete: bool = False) -> str | None:
    """The highest ``checkpoint-N`` folder in ``output_dir``; with ``complete``, the highest one the
    Trainer finished writing (a run stopped while saving leaves a folder without its state)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = []
    for p in out.iterdir():
        step = p.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
        if p.is_dir() and step != p.name and step.isdigit():
            found.append((int(step), p))
    for _, p in sorted(found, reverse=True):
        # The Trainer writes trainer_state.json last, after the weights, optimizer and RNG states.
        if not complete or _whole_state(p / TRAINER_STATE_FILE):
            return str(p)
    return None


def _whole_state(path: Path) -> bool:
    """The checkpoint's trainer state is there and whole: a stop while it was being written leaves
    a cut-off JSON file, which the Trainer would fail to read on resume."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return True


def build_tokenizer(cfg: TrainConfig, checkpoint: str | None = None, args: Any = None) -> Any:
    """The tokenizer the config names or trains; on resume, the one saved with the checkpoint.

    ``args`` (the run's ``TrainingArguments``) knows the distributed setup: with several processes
    only the main one trains a tokenizer and the others read it from ``output_dir/tokenizer``.
    """
    from transformers import AutoTokenizer

    if checkpoint is not None and (Path(checkpoint) / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(checkpoint)
    tok = cfg.model.tokenizer
    if tok.train is not None:
        from khabar.training.tokenizer import save_tokenizer, train_wordpiece

        # WordPiece training is not deterministic (huggingface/tokenizers#1794): under
        # `accelerate launch` only the main process trains; the others load what it saved.
        folder = Path(cfg.output_dir) / "tokenizer"
        first = args.main_process_first(local=False, desc="tokenizer training") if args is not None else nullcontext()
        with first:
            if args is None or args.process_index == 0:
                log(f"training a WordPiece vocabulary of {tok.train.vocab_size} on the training texts")
                tokenizer = train_wordpiece(
                    training_texts(cfg),
                    vocab_size=tok.train.vocab_size,
                    min_frequency=tok.train.min_frequency,
                    model_max_length=cfg.model.max_length,
                )
                save_tokenizer(tokenizer, folder)
            else:
                tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return tokenizer
    name = tok.path or cfg.model.encoder
    assert name is not None  # config validation guarantees a tokenizer source
    key = "model.tokenizer" if tok.path else "model.encoder"
    return _load(cfg, key, _local_or_hub(cfg, name), AutoTokenizer.from_pretrained)


def _local_or_hub(cfg: TrainConfig, name: str) -> str:
    p = cfg.resolve_path(name)
    return str(p) if p.exists() else name


def _load(cfg: TrainConfig, key: str, name: str, loader: Any) -> Any:
    """``loader(name)``; a model or tokenizer the Hub cannot give (offline, no network, a typo in
    the name) stops the run with what to do instead of a traceback from deep inside transformers."""
    try:
        return loader(name)
    except OSError as exc:
        if Path(name).exists():
            raise  # a local folder that does not load: transformers' own message says why
        from khabar.hub import hub_failure

        raise TrainingError(
            f"'{key}' in {cfg.source_file}: {name!r} is not a local folder and {hub_failure(exc)}. Download it "
            f"once where the Hub is reachable (`hf download {name}`) and copy the cache here (or set HF_HOME), or set '{key}' to a local folder "
            "that holds it; configs/tiny-anercorp.yaml trains a small random encoder with no download"
        ) from None


def encoder_config(cfg: TrainConfig, tokenizer: Any) -> Any:
    """The config of a random encoder: the YAML dict, sized to the tokenizer and the windows."""
    from transformers import AutoConfig

    enc = dict(cfg.model.encoder_config or {})
    model_type = enc.pop("model_type", "bert")
    enc["vocab_size"] = len(tokenizer)
    enc.setdefault("pad_token_id", tokenizer.pad_token_id)
    enc.setdefault("max_position_embeddings", cfg.model.max_length)
    try:
        config = AutoConfig.for_model(model_type, **enc)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"'model.encoder_config' in {cfg.source_file}: {exc}") from None
    # transformers keeps an unknown keyword as a stray attribute: a typo (hidden_sise) would build
    # an encoder of the default size without a word
    import dataclasses
    import difflib

    if dataclasses.is_dataclass(config):
        known = [f.name for f in dataclasses.fields(config)]
        for key in enc:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; {model_type} options are {sorted(known)}"
                raise ConfigError(f"unknown {model_type} option 'model.encoder_config.{key}' in {cfg.source_file}{hint}")
    return config


def load_lexical_vectors(model: Any, folder: str, where: Any) -> None:
    """Initialise the lexical tables from ``folder/vectors.safetensors`` (tables absent there keep
    their random init; a table of another shape is an error, not a silent skip)."""
    from safetensors.torch import load_file

    path = Path(folder) / "vectors.safetensors"
    if model.lexical is None:
        raise ConfigError(f"{where}: 'model.lexical_vectors' needs lexical word features: add "
                          "'lexical_features: true' to model.extra")
    if not path.is_file():
        raise ConfigError(f"{where}: model.lexical_vectors: {path} not found; build it with "
                          "python -m khabar.training.lexical_vectors NEWS.jsonl... --out " + str(folder))
    import torch

    loaded = load_file(str(path))
    vectors_attrs = sorted(loaded)
    from khabar.training.lexical_vectors import fit_width

    for attr, vectors in loaded.items():
        table = model.lexical.tables[attr] if attr in model.lexical.tables else None
        if table is None or table.weight.shape[0] != vectors.shape[0] or table.weight.shape[1] > vectors.shape[1]:
            have = tuple(table.weight.shape) if table is not None else "no such table"
            raise ConfigError(f"{where}: {path}: table {attr!r} is {tuple(vectors.shape)}, the model's is {have} "
                              "(same rows and at most as wide needed); rebuild the vectors for this "
                              "model.extra.lexical_features")
        targets = [table] + ([model.lexical.frozen[attr]] if attr in model.lexical.frozen else [])
        wide = [t for t in targets if t.weight.shape[1] > vectors.shape[1]]
        if wide:  # fit_width would pad the missing columns with zeros
            raise ConfigError(f"{where}: {path}: table {attr!r} has {vectors.shape[1]} columns, the model's frozen "
                              f"table {tuple(wide[0].weight.shape)} is wider; lower model.extra.lexical_frozen.{attr} "
                              "or rebuild the vectors wider")
        with torch.no_grad():
            for t in targets:
                t.weight.copy_(fit_width(vectors, t.weight.shape[1]))
    unset = [a for a in model.lexical.frozen if a not in vectors_attrs]
    if unset:
        raise ConfigError(f"{where}: lexical_frozen {unset} but {path} has no vectors for them (it has {vectors_attrs})")


def build_model(cfg: TrainConfig, tokenizer: Any) -> Any:
    """A new ``KhabarModel`` around the configured encoder (pretrained weights, or random)."""
    from khabar.model import KhabarModel
    from khabar.model.modeling import EncoderLayersError

    kwargs = dict(cfg.model.extra)
    kwargs.update(max_length=cfg.model.max_length, window_overlap=cfg.model.window_overlap)
    if cfg.training.loss_weights:
        kwargs["loss_weights"] = dict(cfg.training.loss_weights)
    if cfg.model.encoder_config is not None:
        model = KhabarModel.from_encoder(encoder_config(cfg, tokenizer), **kwargs)
    else:
        source = _local_or_hub(cfg, cfg.model.encoder or "")
        # passed only when set: a config without it calls from_encoder as before
        cut = {"encoder_layers": cfg.model.encoder_layers} if cfg.model.encoder_layers is not None else {}
        try:
            model = _load(cfg, "model.encoder", source, lambda s: KhabarModel.from_encoder(s, **cut, **kwargs))
        except EncoderLayersError as exc:
            raise ConfigError(f"'model.encoder_layers' in {cfg.source_file}: {exc}") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    if cfg.model.lexical_vectors:
        load_lexical_vectors(model, cfg.model.lexical_vectors, cfg.source_file)
    vocab = model.config.encoder.get("vocab_size")
    if vocab is not None and vocab < len(tokenizer):
        raise ConfigError(
            f"{cfg.source_file}: the tokenizer has {len(tokenizer)} tokens but the encoder's vocabulary only "
            f"{vocab}; use the encoder's own tokenizer (drop 'model.tokenizer')"
        )
    return model


def training_arguments(cfg: TrainConfig, has_eval: bool) -> Any:
    from transformers import TrainingArguments

    import torch

    t = cfg.training
    bf16 = t.bf16 if isinstance(t.bf16, bool) else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    metric = t.metric_for_best_model
    greater = t.greater_is_better if t.greater_is_better is not None else not metric.endswith("loss")
    strategy = ("steps" if t.eval_steps else "epoch") if has_eval else "no"
    return TrainingArguments(
        output_dir=cfg.output_dir,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size or t.batch_size,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=int(t.warmup) if t.warmup >= 1 else t.warmup,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        seed=t.seed,
        data_seed=t.data_seed,
        full_determinism=t.full_determinism,
        eval_strategy=strategy,
        save_strategy=("steps" if t.eval_steps else "epoch") if has_eval else "epoch",
        eval_steps=t.eval_steps,
        save_steps=t.eval_steps or 500,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=t.load_best_model_at_end and has_eval,
        metric_for_best_model=metric if has_eval else None,
        greater_is_better=greater if has_eval else None,
        bf16=bf16,
        logging_steps=t.logging_steps,
        report_to=t.report_to or "none",
        disable_tqdm=t.disable_tqdm,
        dataloader_num_workers=t.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Items are lists of windows, not dicts of model inputs: nothing to remove.
        remove_unused_columns=False,
    )


def _check_best_metric(cfg: TrainConfig, eval_articles: list) -> None:
    """Fail before training, not at the first evaluation, when the eval data cannot give the metric."""
    t = cfg.training
    if not t.load_best_model_at_end or not eval_articles:
        return
    metric = t.metric_for_best_model.removeprefix("eval_")
    layer = "entities" if metric.startswith("entities") else "quotes" if metric.startswith(("quotes", "cues", "attribution")) else None
    if layer and all(getattr(a, layer) is None for a in eval_articles):
        raise ConfigError(
            f"'training.metric_for_best_model' in {cfg.source_file}: {t.metric_for_best_model!r} needs eval articles "
            f"annotated with {layer}, and no 'split: eval' source has them; add one or choose another metric"
        )


def train(cfg: TrainConfig, resume: bool = False, callbacks: list | None = None) -> TrainingRun:
    """Fine-tune as ``cfg`` says; the final eval metrics are also written to ``eval_results.json``."""
    from transformers import set_seed
    from transformers.trainer_utils import enable_full_determinism

    from khabar.model.features import ArticleEncoder, collate
    from khabar.training.data import ArticleCollator
    from khabar.training.trainer import KhabarTrainer

    started = time.time()
    out = Path(cfg.output_dir)
    checkpoint = last_checkpoint(out)
    if resume:
        newest, checkpoint = checkpoint, last_checkpoint(out, complete=True)
        if newest is None:
            raise TrainingError(f"--resume: no checkpoint-N folder in {out} to resume from; run without --resume")
        if checkpoint is None:
            raise TrainingError(
                f"--resume: no complete checkpoint in {out} ({Path(newest).name} has no whole {TRAINER_STATE_FILE}: the run "
                "stopped while saving it); start again without --resume, with another --output-dir or after deleting it"
            )
        if newest != checkpoint:
            log(f"{Path(newest).name} is incomplete (the run stopped while saving it); resuming from "
                f"{Path(checkpoint).name}, and {Path(newest).name} will be written again")
    if not resume and checkpoint is not None:
        if (out / "eval_results.json").is_file():  # written at the very end: nothing left to resume
            raise TrainingError(f"{out} holds a finished run (eval_results.json, {Path(checkpoint).name}); choose "
                                "another --output-dir, delete it to train again, or pass --resume with more "
                                "training.epochs / max_steps to train it further")
        raise TrainingError(
            f"{out} already holds checkpoints ({Path(checkpoint).name}); pass --resume to continue that run, "
            "or choose another --output-dir"
        )
    t = cfg.training
    if t.torch_threads is not None:
        import torch

        torch.set_num_threads(t.torch_threads)
    # Seed before the model exists: the random encoder and the heads are initialised from it.
    if t.full_determinism:
        enable_full_determinism(t.seed)
    else:
        set_seed(t.seed)

    # The arguments come first: creating them sets up the distributed state (one process per device).
    args = training_arguments(cfg, has_eval=bool(cfg.sources("eval")))
    tokenizer = build_tokenizer(cfg, checkpoint if resume else None, args)
    model = build_model(cfg, tokenizer)
    encoder = ArticleEncoder.from_config(tokenizer, model.config)  # the model's windows, labels and word features
    caveats = trained_on_eval(cfg)
    for note in caveats:
        log(note)
    data = build_data(cfg, encoder)
    log(f"data ({len(data.train)} training articles, {data.train.n_windows} windows):\n{data.describe()}")
    _check_best_metric(cfg, data.eval_articles)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f}M parameters; tokenizer: {len(tokenizer)} tokens")
    model.config.training_summary = {
        "config": cfg.to_dict(),
        "data": [vars(s) | {"layers": list(s.layers)} for s in data.summaries],
    }
    if resume:  # the Trainer's train_loss and train_runtime restart at the resume
        model.config.training_summary["resumed"] = (f"from {Path(checkpoint).name}; train_loss and train_runtime "
                                                    "below cover the steps after it only")
    if caveats:  # the card must not pass scores on training data for held-out ones
        model.config.training_summary["eval_caveat"] = "; ".join(c.removeprefix("note: ") for c in caveats)

    trainer = KhabarTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=ArticleCollator(collate),
        processing_class=tokenizer,
        eval_articles=data.eval_articles,
        group_by_length=t.group_by_length,
        eval_loss=t.eval_loss,
        callbacks=callbacks,
    )
    result = trainer.train(resume_from_checkpoint=checkpoint if resume else None)
    metrics: dict[str, Any] = {}
    scores = None
    if data.eval is not None:
        # The scores of the model the run ends with (the best checkpoint with load_best_model_at_end):
        # from its evaluation during training, or evaluated now (e.g. it predates a --resume).
        known = trainer.best_evaluation()
        if known is not None:
            metrics, scores = dict(known[0]), known[1]
        else:
            metrics, scores = trainer.evaluate(), trainer.last_scores
    metrics.pop("epoch", None)
    metrics["epoch"] = trainer.state.epoch
    metrics["train_runtime"] = result.metrics.get("train_runtime")
    # Note: after --resume the Trainer's train_loss averages only the steps run since the resume.
    metrics["train_loss"] = result.metrics.get("train_loss")
    metrics["total_runtime"] = round(time.time() - started, 1)
    metrics["global_step"] = trainer.state.global_step
    metrics["best_checkpoint"] = trainer.state.best_model_checkpoint

    if trainer.is_world_process_zero():
        model.config.training_summary["weights"] = _weights_note(trainer, t.metric_for_best_model)
        model.config.training_summary["results"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        (out / TRAINING_ARGS_FILE).unlink(missing_ok=True)  # not safetensors; the config below says the same
        (out / "train_config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")
        report = {"metrics": metrics, "scores": scores}
        (out / "eval_results.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        print(results_table(metrics, scores))
        log(f"model saved to {out} ({metrics['total_runtime']} s in all)")
    return TrainingRun(metrics, scores, trainer.model, tokenizer, trainer, out)


def _weights_note(trainer: Any, metric: str) -> str:
    """Which step's weights are saved, for the card: with load_best_model_at_end the best checkpoint
    may be an earlier one than the run's last step, and its scores are the ones reported."""
    state = trainer.state
    best = state.best_model_checkpoint
    if not (best and trainer.args.load_best_model_at_end):
        scored = "; the scores below are its evaluation" if trainer.eval_dataset is not None else ""
        return f"the last step ({state.global_step}, epoch {state.epoch:.4g}){scored}"
    step = int(best.rsplit("-", 1)[-1])
    epoch = next((e["epoch"] for e in state.log_history if e.get("step") == step and "epoch" in e), None)
    at = f"step {step} of {state.global_step}" + (f", epoch {epoch:.4g}" if epoch is not None else "")
    return (f"{Path(best).name} ({at}), the best by eval_{metric.removeprefix('eval_')}; "
            "the scores below are that checkpoint's")


def results_table(metrics: dict[str, Any], scores: dict[str, Any] | None) -> str:
    """Precision / recall / F1 of every scored task, for the end of a run."""
    rows: list[tuple[Any, ...]] = [("task", "precision", "recall", "f1", "support")]
    scores = scores or {}
    ent = scores.get("entities")
    if ent is not None:
        for avg in ("micro", "macro"):
            s = ent[avg]
            rows.append((f"entities {avg}", s["precision"], s["recall"], s["f1"], s["support"]))
        for label, s in sorted(ent["per_label"].items()):
            rows.append((f"  {label}", s["precision"], s["recall"], s["f1"], s["support"]))
    q = scores.get("quotes")
    if q is not None:
        for name, s in (("quotes (overlap >= 0.5)", q["overlap"]), ("quotes exact", q["exact"]), ("cues exact", q["cue"])):
            rows.append((name, s["precision"], s["recall"], s["f1"], s["tp"] + s["fn"]))
    att = scores.get("attribution")
    if att is not None:
        rows.append(("attribution end-to-end", att["precision"], att["recall"], att["f1"], att["tp"] + att["fn"]))
    if len(rows) == 1:
        return "no task scores (no eval source)"
    extra = f"\neval loss {metrics['eval_loss']:.4f}" if isinstance(metrics.get("eval_loss"), float) else ""
    return format_table(rows) + extra


if __name__ == "__main__":  # python -m khabar.training.command --config ...
    p = argparse.ArgumentParser(prog="khabar train")
    add_arguments(p)
    sys.exit(run(p.parse_args()))
