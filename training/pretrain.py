"""Pretraining of the compact Arabic BERT: masked LM (whole-word) or ELECTRA replaced-token detection.

Everything needed to resume is on disk in ``<run_dir>``::

    tokenizer/          WordPiece tokenizer (trained once)
    cache/              tokens.npy, flags.npy, meta.json, word_vectors.npy (skip-gram init)
    checkpoint/         model.safetensors, optimizer.pt (tensors only), state.json
    encoder/            the encoder as a standard BERT (config.json, model.safetensors, tokenizer)
    train.log           human-readable progress; metrics.jsonl: one JSON object per log line

Determinism: the batch order, the masking and the dropout seed of step ``s`` are pure functions of
``(seed, s)``, so a resumed run continues exactly where an uninterrupted one would be.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from transformers import BertConfig, BertForMaskedLM, BertModel

from khabar.training.masking import whole_word_mask
from khabar.training.pretrain_config import PretrainConfig, PretrainConfigError
from khabar.training.pretrain_data import PackedSequences, build_or_load_cache

# Sections whose change makes an existing checkpoint meaningless (the optimiser section may change:
# raising optim.total_steps continues a finished run with a new decay).
COMPATIBLE_SECTIONS = ("data", "tokenizer", "model", "objective")


def bert_config(cfg: PretrainConfig, vocab_size: int, pad_token_id: int = 0, **overrides) -> BertConfig:
    m = cfg.model
    kwargs = dict(
        vocab_size=vocab_size,
        hidden_size=m.hidden_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads,
        intermediate_size=m.intermediate_size,
        max_position_embeddings=m.max_position_embeddings,
        hidden_dropout_prob=m.dropout,
        attention_probs_dropout_prob=m.attention_dropout,
        initializer_range=m.initializer_range,
        type_vocab_size=2,
        pad_token_id=pad_token_id,
        tie_word_embeddings=True,
    )
    kwargs.update(overrides)
    return BertConfig(**kwargs)


def masked_lm_loss(model: BertForMaskedLM, input_ids: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor,
                   position_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on masked positions only, and the (n_masked, vocab) logits.

    The vocabulary projection is the costliest matrix product of a small BERT (16k x 256 against
    every position); gathering the ~15 % masked hidden states first does the same maths for them only.
    """
    hidden = model.bert(input_ids=input_ids, position_ids=position_ids).last_hidden_state  # (batch, seq, hidden)
    selected = hidden[mask]  # (n_masked, hidden), row-major like targets
    logits = model.cls(selected)  # (n_masked, vocab)
    return F.cross_entropy(logits.float(), targets), logits


class ElectraHead(torch.nn.Module):
    """ELECTRA's discriminator head: dense, GELU, one logit per token (replaced or original)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.dense = torch.nn.Linear(hidden, hidden)
        self.out = torch.nn.Linear(hidden, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (batch, seq, hidden) -> (batch, seq)
        return self.out(F.gelu(self.dense(hidden))).squeeze(-1)


class ElectraPretrainer(torch.nn.Module):
    """A small masked-LM generator and the discriminator (the encoder we ship), sharing embeddings.

    The generator is the discriminator's width with ``generator_layers`` layers, so the whole
    ``BertEmbeddings`` module (tokens, positions, LayerNorm) can be shared without a projection.
    """

    def __init__(self, disc_config: BertConfig, generator_layers: int):
        super().__init__()
        self.discriminator = BertModel(disc_config, add_pooling_layer=False)
        gen_config = BertConfig(**{**disc_config.to_dict(), "num_hidden_layers": generator_layers})
        self.generator = BertForMaskedLM(gen_config)
        self.generator.bert.embeddings = self.discriminator.embeddings
        self.generator.cls.predictions.decoder.weight = self.discriminator.embeddings.word_embeddings.weight
        self.head = ElectraHead(disc_config.hidden_size)


def token_similarity(hidden: torch.Tensor) -> float:
    """Mean pairwise cosine similarity of the token states within a sequence (specials excluded).

    A collapse detector: ~0.1-0.2 for a healthy encoder, -> 1 when every token looks the same
    (what the ELECTRA discriminator did at lr 1e-3, batch 32; docs/pretraining.md).
    """
    h = F.normalize(hidden[:, 1:-1].float(), dim=-1)  # (batch, seq-2, hidden)
    return float((h @ h.transpose(1, 2)).mean())


@dataclass
class StepResult:
    loss: torch.Tensor
    metrics: dict[str, float]


def _schedule(cfg: PretrainConfig, step: int) -> float:
    o = cfg.optim
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    progress = min(1.0, (step - o.warmup_steps) / max(1, o.total_steps - o.warmup_steps))
    shape = 1.0 - progress if o.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return o.min_lr_ratio + (1.0 - o.min_lr_ratio) * shape


def learning_rate(cfg: PretrainConfig, step: int) -> float:
    return cfg.optim.learning_rate * _schedule(cfg, step)


class Pretrainer:
    def __init__(self, cfg: PretrainConfig, normalise: Callable[[str], str] | None = None, echo: bool = True):
        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        self.normalise = normalise
        self.echo = echo
        self._stop_signal: int | None = None

    # ---- logging -------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} {message}"
        if self.echo:
            print(line, flush=True)
        with open(self.run_dir / "train.log", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def _metrics(self, record: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    # ---- setup ---------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        want = self.cfg.runtime.device
        if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise PretrainConfigError(f"{self.cfg.source}: runtime.device: 'cuda' asked but no GPU is visible; use 'auto'")
            return torch.device("cuda")
        return torch.device("cpu")

    def _word_vectors(self, cache, vocab_size: int) -> np.ndarray | None:
        wv = self.cfg.word_vectors
        if not wv.enabled:
            return None
        path = self.run_dir / "cache" / "word_vectors.npy"
        if path.exists():
            return np.load(path)  # refuses object arrays by default
        from khabar.training.word_vectors import scale_to_std, token_counts, train_skipgram

        t0 = time.time()
        tokens = np.asarray(cache.tokens if wv.max_tokens is None else cache.tokens[:wv.max_tokens])
        vectors = train_skipgram(tokens, vocab_size, self.cfg.model.hidden_size, window=wv.window,
                                 negatives=wv.negatives, epochs=wv.epochs, subsample=wv.subsample,
                                 batch_size=wv.batch_size, learning_rate=wv.learning_rate, seed=self.cfg.seed,
                                 log=self.log)
        vectors = scale_to_std(vectors, wv.init_std, token_counts(tokens, vocab_size))
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)  # a float array
        os.replace(tmp, path)
        self.log(f"skip-gram vectors ready in {time.time() - t0:.0f}s")
        return vectors

    def _build(self, tokenizer, cache) -> torch.nn.Module:
        torch.manual_seed(self.cfg.seed)
        config = bert_config(self.cfg, len(tokenizer), pad_token_id=tokenizer.pad_token_id)
        if self.cfg.objective.kind == "electra":
            model = ElectraPretrainer(config, self.cfg.objective.generator_layers)
            embeddings = model.discriminator.embeddings.word_embeddings
        else:
            model = BertForMaskedLM(config)
            embeddings = model.bert.embeddings.word_embeddings
        vectors = self._word_vectors(cache, len(tokenizer))
        if vectors is not None:
            with torch.no_grad():
                embeddings.weight.copy_(torch.from_numpy(vectors))  # the tied MLM decoder follows
        return model

    def encoder(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module exported as the encoder (loads with ``AutoModel.from_pretrained``)."""
        return model.discriminator if isinstance(model, ElectraPretrainer) else model

    # ---- one step ------------------------------------------------------------------------------
    def _position_ids(self, rng: np.random.Generator, batch: int) -> torch.Tensor | None:
        p = self.cfg.objective.random_position_offset_prob
        if p <= 0:
            return None
        span = self.cfg.model.max_position_embeddings - self.cfg.data.max_len
        offsets = np.where(rng.random(batch) < p, rng.integers(0, span + 1, size=batch), 0)
        return torch.from_numpy(offsets[:, None] + np.arange(self.cfg.data.max_len)[None, :])

    def _masked(self, ids: np.ndarray, flags: np.ndarray, rng: np.random.Generator, tokenizer):
        o = self.cfg.objective
        return whole_word_mask(ids, flags, rng, vocab_size=len(tokenizer), mask_token_id=tokenizer.mask_token_id,
                               mask_prob=o.mask_prob, replace_mask=o.replace_mask, replace_random=o.replace_random,
                               whole_word=o.whole_word)

    def _forward(self, model, masked, position_ids, device, gen: torch.Generator | None) -> StepResult:
        input_ids = torch.from_numpy(masked.input_ids).to(device)
        mask = torch.from_numpy(masked.mask).to(device)
        targets = torch.from_numpy(masked.targets).to(device)
        if position_ids is not None:
            position_ids = position_ids.to(device)
        if not isinstance(model, ElectraPretrainer):
            loss, logits = masked_lm_loss(model, input_ids, mask, targets, position_ids)
            acc = (logits.argmax(-1) == targets).float().mean()
            return StepResult(loss, {"mlm_loss": float(loss.detach()), "mlm_acc": float(acc)})
        gen_loss, gen_logits = masked_lm_loss(model.generator, input_ids, mask, targets, position_ids)
        with torch.no_grad():
            # Sample replacements from the generator (Gumbel-max = multinomial on softmax).
            u = torch.rand(gen_logits.shape, generator=gen, device="cpu").to(device) if gen is not None else \
                torch.rand_like(gen_logits, dtype=torch.float)
            sampled = (gen_logits.float() - torch.log(-torch.log(u.clamp_min(1e-9)))).argmax(-1)
            disc_input = input_ids.clone()
            disc_input[mask] = sampled
            original = input_ids.clone()
            original[mask] = targets
            replaced = (disc_input != original).float()  # (batch, seq)
        hidden = model.discriminator(input_ids=disc_input, position_ids=position_ids).last_hidden_state
        disc_logits = model.head(hidden).float()  # (batch, seq)
        disc_loss = F.binary_cross_entropy_with_logits(disc_logits, replaced)
        loss = gen_loss + self.cfg.objective.discriminator_weight * disc_loss
        disc_acc = ((disc_logits > 0).float() == replaced).float().mean()
        return StepResult(loss, {"mlm_loss": float(gen_loss.detach()), "disc_loss": float(disc_loss.detach()),
                                 "disc_acc": float(disc_acc), "replaced": float(replaced.mean())})

    # ---- checkpoints ---------------------------------------------------------------------------
    def _fingerprint(self) -> str:
        return self.cfg.fingerprint(*COMPATIBLE_SECTIONS)

    def save(self, model, optimizer, state: dict, tokenizer) -> None:
        ckpt, tmp, old = (self.run_dir / n for n in ("checkpoint", "checkpoint.tmp", "checkpoint.old"))
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))  # handles the tied embedding/decoder weight
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")  # tensors and numbers only
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        shutil.rmtree(old, ignore_errors=True)
        if ckpt.exists():
            os.replace(ckpt, old)
        os.replace(tmp, ckpt)
        shutil.rmtree(old, ignore_errors=True)
        self.export(model, tokenizer, state)

    def export(self, model, tokenizer, state: dict) -> Path:
        from khabar.training.tokenizer import save_tokenizer

        out, tmp = self.run_dir / "encoder", self.run_dir / "encoder.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        enc = self.encoder(model)
        was_training = enc.training
        enc.eval()
        enc.save_pretrained(str(tmp), safe_serialization=True)
        enc.train(was_training)
        save_tokenizer(tokenizer, tmp)
        (tmp / "pretraining.json").write_text(json.dumps({
            "objective": self.cfg.objective.kind, "step": state["step"], "tokens_seen": state["tokens_seen"],
            "valid_loss": state.get("valid_loss"), "config": self.cfg.to_dict()}, indent=1), encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        return out

    def _load(self, model, optimizer) -> dict:
        ckpt = self.run_dir / "checkpoint"
        state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
        if state.get("fingerprint") != self._fingerprint():
            raise PretrainConfigError(
                f"{self.cfg.source}: the checkpoint in {ckpt} was made with different "
                f"{'/'.join(COMPATIBLE_SECTIONS)} settings; restore them or choose another run_dir")
        load_model(model, str(ckpt / "model.safetensors"))
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        return state

    # ---- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, model, data: PackedSequences, tokenizer, device) -> dict[str, float]:
        if len(data.valid_idx) == 0:
            return {}
        model.eval()
        rng = np.random.default_rng([self.cfg.seed, 104729])  # same masks every time
        bs = self.cfg.optim.batch_size
        sums: dict[str, float] = {}
        n = 0
        gen = torch.Generator().manual_seed(self.cfg.seed)
        for i in range(0, len(data.valid_idx), bs):
            ids, flags = data.sequences(data.valid_idx[i:i + bs])
            masked = self._masked(ids, flags, rng, tokenizer)
            with self._autocast(device):
                res = self._forward(model, masked, None, device, gen)
            for k, v in res.metrics.items():
                sums[k] = sums.get(k, 0.0) + v * len(ids)
            n += len(ids)
        ids, _ = data.sequences(data.valid_idx[:bs])
        body = model.discriminator if isinstance(model, ElectraPretrainer) else model.bert
        with self._autocast(device):
            hidden = body(input_ids=torch.from_numpy(ids).to(device)).last_hidden_state.float()
        sums["token_cos"] = token_similarity(hidden) * n
        model.train()
        return {f"valid_{k}": v / n for k, v in sums.items()}

    def _autocast(self, device: torch.device):
        return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    # ---- the loop ------------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum

    def run(self, resume: bool = False, max_minutes: float | None = None, max_steps: int | None = None) -> dict:
        """Train until ``optim.total_steps``, ``max_minutes`` of wall time or ``max_steps`` (this call)."""
        cfg = self.cfg
        start = time.time()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ckpt = self.run_dir / "checkpoint" / "state.json"
        if ckpt.exists() and not resume:
            raise PretrainConfigError(f"{self.run_dir} already has a checkpoint; pass --resume to continue it "
                                      f"or set run_dir to a new folder")
        torch.set_num_threads(cfg.runtime.threads)
        device = self._device()
        self.log(f"pretrain {cfg.source}: objective {cfg.objective.kind}, device {device}, "
                 f"{torch.get_num_threads()} threads")
        tokenizer, cache = build_or_load_cache(cfg, self.run_dir, self.log, self.normalise)
        data = PackedSequences(cache, cfg.data.max_len, tokenizer.cls_token_id, tokenizer.sep_token_id, cfg.seed,
                               cfg.data.valid_sequences)
        model = self._build(tokenizer, cache).to(device)
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
        o = cfg.optim
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": o.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}],
                                      lr=o.learning_rate, betas=tuple(o.betas), eps=o.eps)
        state = {"step": 0, "tokens_seen": 0, "train_seconds": 0.0}
        if ckpt.exists():
            state = self._load(model, optimizer)
            self.log(f"resumed at step {state['step']}, {state['tokens_seen']} tokens seen")
        n_params = sum(p.numel() for p in self.encoder(model).parameters())
        self.log(f"encoder {cfg.model.num_layers}x{cfg.model.hidden_size}, {n_params / 1e6:.1f} M parameters; "
                 f"{len(cache.tokens)} corpus tokens, {data.n_train} training sequences of {cfg.data.max_len} "
                 f"({data.n_train * cfg.data.max_len / (o.batch_size * o.grad_accum * cfg.data.max_len):.0f} steps/epoch)")

        old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)} \
            if _main_thread() else {}
        model.train()
        last_ckpt, window_t, window_tokens, window, window_steps = time.time(), time.time(), 0, {}, 0
        gen = torch.Generator()
        steps_here = 0
        reason = "total_steps reached"
        try:
            while state["step"] < o.total_steps:
                if max_steps is not None and steps_here >= max_steps:
                    reason = "max_steps reached"
                    break
                if max_minutes is not None and time.time() - start >= max_minutes * 60:
                    reason = "max_minutes reached"
                    break
                if self._stop_signal is not None:
                    reason = f"signal {self._stop_signal}"
                    break
                step = state["step"]
                lr = learning_rate(cfg, step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout of this step, on every device
                gen.manual_seed(cfg.seed * 7_000_003 + step)
                t_step = time.time()
                for micro in range(o.grad_accum):
                    pos = (step * o.grad_accum + micro) * o.batch_size
                    ids, flags = data.train_batch(pos, o.batch_size)
                    rng = np.random.default_rng([cfg.seed, step, micro])
                    masked = self._masked(ids, flags, rng, tokenizer)
                    position_ids = self._position_ids(rng, len(ids))
                    with self._autocast(device):
                        res = self._forward(model, masked, position_ids, device, gen)
                    (res.loss / o.grad_accum).backward()
                    for k, v in res.metrics.items():
                        window[k] = window.get(k, 0.0) + v / o.grad_accum
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                n_tokens = o.grad_accum * o.batch_size * cfg.data.max_len
                state["step"] += 1
                state["tokens_seen"] += n_tokens
                state["train_seconds"] += time.time() - t_step
                steps_here += 1
                window_tokens += n_tokens
                window["grad_norm"] = window.get("grad_norm", 0.0) + float(grad_norm)
                window_steps += 1
                if state["step"] % cfg.runtime.log_every == 0:
                    n = window_steps  # fewer than log_every right after a resume
                    tps = window_tokens / max(time.time() - window_t, 1e-9)
                    rec = {"step": state["step"], "lr": float(f"{lr:.4g}"), "tokens_seen": state["tokens_seen"], "tokens_per_s": round(tps),
                           **{k: round(v / n, 4) for k, v in window.items()}}
                    self._metrics(rec)
                    self.log(" ".join(f"{k} {v}" for k, v in rec.items()))
                    window_t, window_tokens, window, window_steps = time.time(), 0, {}, 0
                if state["step"] % cfg.runtime.eval_every == 0:
                    valid = self.validate(model, data, tokenizer, device)
                    state.update(valid)
                    self._metrics({"step": state["step"], "tokens_seen": state["tokens_seen"], **valid})
                    self.log(f"step {state['step']} " + " ".join(f"{k} {v:.4f}" for k, v in valid.items()))
                    window_t = time.time()  # validation time is not training throughput
                if time.time() - last_ckpt >= cfg.runtime.checkpoint_minutes * 60:
                    self._checkpoint(model, optimizer, state, tokenizer)
                    last_ckpt = time.time()
                    window_t = time.time()
            if steps_here or not (self.run_dir / "encoder").exists():
                self._checkpoint(model, optimizer, state, tokenizer)
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
        self.log(f"stopped at step {state['step']}/{o.total_steps} ({reason}); "
                 f"{state['tokens_seen']} tokens seen; resume with --resume")
        return {**state, "reason": reason, "model": model}

    def _checkpoint(self, model, optimizer, state: dict, tokenizer) -> None:
        state["fingerprint"] = self._fingerprint()
        t0 = time.time()
        self.save(model, optimizer, state, tokenizer)
        self.log(f"checkpoint at step {state['step']} ({time.time() - t0:.1f}s)")


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
