"""``khabar bench``: khabar against the transformers token-classification pipeline, side by side.

One run times, on the same encoder weights and, in each round, the same articles:

- ``pipeline_default``: ``transformers.pipeline("token-classification")`` around a
  ``*ForTokenClassification`` built from the KhabarModel's encoder + entity head, at the
  pipeline's default batch size (1), with ``stride`` so that it reads whole articles as khabar does
  (without it the pipeline silently truncates at ``model_max_length`` tokens);
- ``pipeline_best``: the same at the best of several batch sizes (``--pipeline-batch-sizes``);
- ``khabar_fp32`` / ``khabar_int8`` / ``khabar_bf16`` (where bf16 is fast: GPU, AVX512-BF16/AMX
  CPU): :class:`khabar.Analyzer` (all heads, attribution, decoding);
- ``forward``: the pure forward pass (``model.encode``: encoder, lexical features, BiLSTM) over khabar's own batches (tokenisation done before
  the clock starts), the floor khabar's overhead is measured against.

Every variant gets the same cores. On a CPU the pipeline uses them through torch's intra-op
threads (``--threads``, default torch's), and khabar's variants (and ``forward``) through as many
single-thread worker processes (:mod:`khabar.workers`; ``--workers N`` to choose, ``--workers 1``:
khabar in the variant's own process with ``--threads`` threads). With workers, ``forward`` and the
paired forward pass run in the same number of processes, each over the batches of the chunks
``Analyzer.pipe`` deals it (tokenised before the clock), so that ``overhead`` compares N processes
with N processes; the pool is started and warmed (every worker) before the clock, like loading.

Every variant is loaded in its own subprocess (``--no-isolate``: all in this one, quicker but with
only indicative memory figures) and warmed up on two articles; then the variants take turns, for
``--warmup-rounds`` untimed rounds (default 1) and ``--repeat`` timed rounds, and each variant's
best timed round counts (so that load from other processes on a shared machine hits every
variant alike). **Every round reads ``--articles`` articles no other round reads** (the source's
articles dealt into sets of about equal characters, :func:`round_sets`): whatever a variant
remembers of text it has read (tokenizer or sentence memos, caches of any kind) cannot make a
later round faster, as it could if every round read the same articles again. Every timed pass
(the paired forward pass too) follows an untimed pass over two other articles in the same
process, so that none starts with caches left cold by the variant before it.
Reported: seconds, articles/s and tokens/s of each variant's best round (article tokens: every
variant reads the same tokens in a round; the best round is the one of most tokens per second,
the sets' sizes differ a little), the peak RSS growth during the run (sampled every few ms from
/proc) and the process's peak RSS (with workers: summed over the variant's process and its
workers, each worker's peak read from ``VmHWM`` in /proc while it runs), and, per token,
``ratio_fp32`` / ``ratio_int8`` / ``ratio_bf16`` (khabar tokens/s ÷ default pipeline tokens/s) and
``overhead`` (forward tokens/s ÷ khabar fp32 tokens/s − 1, the forward pass timed in khabar_fp32's
own process right after each of its passes, on the same model and batches; ``overhead_vs_forward_process``:
the same against the separate ``forward`` variant).

``khabar bench --scaling`` times khabar on one long article and on one ten times longer and
prints time(10×)/time(1×) (≈ 10 when time grows linearly), with the encoder forward pass alone on
the same batches and khabar's overhead over it at both lengths (best of ``--repeat`` rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

PROG = "khabar bench"
REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "000_777ec913e064ed28.txt"
DEFAULT_PIPELINE_BATCH_SIZES = (4, 16, 64)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="PATH", help="model folder (default: the model bundled with khabar)")
    parser.add_argument("--articles", type=int, default=64,
                        help="articles per round, fresh ones every round (default: 64; the run reads "
                             "articles x (warm-up rounds + repeat) + 2)")
    parser.add_argument("--data", metavar="JSONL", help="news JSONL ({\"text\"} per line) to take articles from "
                        "(default: ../shared/data/ant-news/news-00.jsonl when present, else copies of the seed article)")
    parser.add_argument("--batch-size", type=int, help="khabar's windows per forward pass (default: the analyser's, 32 on a GPU, 16 on a CPU)")
    parser.add_argument("--pipeline-batch-sizes", default=",".join(map(str, DEFAULT_PIPELINE_BATCH_SIZES)),
                        help="batch sizes tried for the pipeline's best (default: %(default)s; 1 is always the default one)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda; int8 is CPU only and skipped elsewhere")
    parser.add_argument("--threads", type=int, help="torch intra-op threads of the pipeline, and of khabar with --workers 1 "
                        "(default: torch's); the default --workers follows it")
    parser.add_argument("--workers", type=int, help="worker processes (1 thread each) for khabar's variants and forward "
                        "(default on a CPU: the pipeline's thread budget, --threads or torch's; 1: in-process, today's behaviour)")
    parser.add_argument("--no-isolate", action="store_true", help="run every variant in this process (quick, memory indicative)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; each variant's best round counts (default: 3)")
    parser.add_argument("--warmup-rounds", type=int, default=1,
                        help="untimed rounds (fresh articles each) before the timed ones (default: 1)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--scaling", action="store_true", help="time one long article and one 10x longer; print the ratio")
    parser.add_argument("--words", type=int, default=2000, help="words of the 1x article for --scaling (default: 2000)")


# ----------------------------------------------------------------------------------- articles


def shared_dir() -> Path:
    return Path(os.environ.get("KHABAR_SHARED", REPO.parent / "shared"))


def load_texts(n: int, data: str | None) -> tuple[list[str], str]:
    """The seed article then news articles; copies of the seed when there is no news file."""
    seed = SEED.read_text(encoding="utf-8") if SEED.is_file() else None
    texts = [seed] if seed else []
    path = Path(data) if data else shared_dir() / "data" / "ant-news" / "news-00.jsonl"
    source = "seed"
    if path.is_file():
        source = f"seed + {path}"
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if len(texts) >= n:
                    break
                try:
                    text = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(text, str) and text.strip():
                    texts.append(text)
    elif data:
        raise FileNotFoundError(f"{data}: no such news file")
    if not texts:  # an installed wheel without the repository's seed and no shared data
        texts = [long_text(400)]
        source = "built-in paragraphs"
    while len(texts) < n:
        texts.append(texts[len(texts) % max(1, len(texts))])
    return texts[:n], source


FALLBACK_PARAGRAPHS = [  # when the repository's seed article is not there (an installed wheel)
    'قال وزير الخارجية في مؤتمر صحفي عقده في القاهرة إن "الحل السياسي هو الطريق الوحيد لإنهاء الأزمة".',
    "وأضاف أن بلاده ستواصل دعم جهود الأمم المتحدة، مشيرا إلى أن الاجتماع المقبل سيعقد في جنيف.",
    "من جهته، أعلن المتحدث باسم الحكومة أن الوفد سيغادر إلى نيويورك الأسبوع المقبل.",
]


def long_text(words: int) -> str:
    """The seed article's paragraphs repeated until ``words`` words (a long but natural article)."""
    source = SEED.read_text(encoding="utf-8") if SEED.is_file() else "\n".join(FALLBACK_PARAGRAPHS)
    paragraphs = [p for p in source.split("\n") if p.strip()]
    out, count, i = [], 0, 0
    while count < words:
        p = paragraphs[i % len(paragraphs)]
        out.append(p)
        count += len(p.split())
        i += 1
    return "\n\n".join(out)


# ----------------------------------------------------------------------------------- memory


def _rss_bytes(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if pid == "self" else 0


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every ``interval`` seconds: of this
    process plus ``pids`` (worker processes), summed at each sample."""

    def __init__(self, interval: float = 0.005, pids: list[int] | None = None):
        self.interval = interval
        self.pids: list[int | str] = ["self", *(pids or [])]
        self.base = self.peak = 0
        self._stop = threading.Event()

    def _total(self) -> int:
        return sum(_rss_bytes(p) for p in self.pids)

    def __enter__(self) -> "PeakRSS":
        self.base = self.peak = self._total()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._total())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())

    @property
    def delta_mb(self) -> float:
        return round((self.peak - self.base) / 2**20, 1)


# ----------------------------------------------------------------------------------- variants


def token_classifier(model: Any) -> Any:
    """A ``*ForTokenClassification`` with the KhabarModel's encoder and entity head weights."""
    from transformers import AutoModelForTokenClassification

    from khabar.model.features import entity_scheme

    tags = entity_scheme(model.config.entity_labels)
    enc_config = model.config.encoder_config
    enc_config.num_labels = len(tags)
    enc_config.id2label = dict(enumerate(tags))
    enc_config.label2id = {t: i for i, t in enumerate(tags)}
    tc = AutoModelForTokenClassification.from_config(enc_config)
    missing, _ = tc.base_model.load_state_dict(model.encoder.state_dict(), strict=False)
    missing = [k for k in missing if "pooler" not in k]
    if missing:
        raise RuntimeError(f"token classifier: encoder weights missing {missing[:5]}")
    tc.classifier.load_state_dict(model.entity_head.out.state_dict())
    return tc.eval()


def _load(model_dir: str, device: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    import khabar.model  # noqa: F401  (registers the khabar model type)

    model = AutoModel.from_pretrained(model_dir, local_files_only=True, use_safetensors=True).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    return model, tokenizer


def forward_batches(model: Any, tokenizer: Any, texts: list[str], batch_size: int) -> list[tuple[Any, Any, Any]]:
    """khabar's batches, built as ``KhabarModel.predict`` builds them (its own helpers): the windows
    of a chunk of articles (8 x batch_size windows, at least 64) sorted by length, padded per batch.
    Each batch is ``(input_ids, attention_mask, lexical_ids)``; ``lexical_ids`` (batch, seq,
    n_attrs) is ``None`` unless the model reads lexical word features (then computed here, before
    the clock, like the token ids)."""
    from khabar.model.features import ArticleEncoder
    from khabar.model.inference import _batch_inputs, _window_batches, tokenized_chunks, width_multiple

    encoder = ArticleEncoder.from_config(tokenizer, model.config)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    batches: list[tuple[Any, Any, Any]] = []
    for pending in tokenized_chunks(encoder, texts, batch_size):
        toks = [tok for _, tok in pending]
        for batch in _window_batches(toks, batch_size):
            ids, mask, lex, _ = _batch_inputs([(toks[a], w) for a, w in batch], cls_id, sep_id, width_multiple(model))
            batches.append((ids, mask, lex))
    return batches


def encode_batches(model: Any, batches: list[tuple[Any, Any, Any]]) -> None:
    """The pure forward pass: ``model.encode`` (encoder, lexical features, context LSTM) per batch."""
    import torch

    with torch.inference_mode():
        for ids, mask, lex in batches:
            kw = {} if lex is None else {"lexical_ids": lex.to(model.device)}
            model.encode(ids.to(model.device), mask.to(model.device), **kw)


class WorkerForward:
    """The pure forward pass with the parallelism of khabar's worker processes.

    Before the clock, each worker tokenises into khabar's batches the chunks ``Analyzer.pipe``
    would deal it (chunk ``k`` to worker ``k % N``; ``everywhere``: every worker all the texts, for
    a warm-up that reaches every process); calling this runs ``model.encode`` over them in all the
    workers at once and returns when the last is done.
    """

    def __init__(self, analyzer: Any, texts: list[str], batch_size: int | None, key: str, everywhere: bool = False):
        self.pool = analyzer.start_workers()
        n = len(self.pool)
        chunks = [[t for _, t in chunk] for chunk in analyzer.chunks(texts)]
        jobs = [(w, texts) for w in range(n)] if everywhere else [(k % n, c) for k, c in enumerate(chunks)]
        self.keys: list[list[str]] = [[] for _ in range(n)]
        futures = []
        for j, (w, part) in enumerate(jobs):
            self.keys[w].append(f"{key}/{j}")
            futures.append(self.pool.submit(w, {"op": "prepare", "key": f"{key}/{j}", "texts": part, "batch_size": batch_size},
                                            f"preparing forward batches ({key})"))
        for f in futures:
            f.result()

    def __call__(self) -> None:
        futures = [self.pool.submit(w, {"op": "forward", "keys": keys}, "the forward pass")
                   for w, keys in enumerate(self.keys) if keys]
        for f in futures:
            f.result()


def _warm_every_worker(analyzer: Any, texts: list[str], batch_size: int | None) -> None:
    """The untimed pass over a few articles, in every worker (``pipe`` would reach only one)."""
    pool = analyzer.start_workers()
    records = [[str(i), t] for i, t in enumerate(texts)]
    futures = [pool.submit(w, {"op": "analyse", "records": records, "batch_size": batch_size}, "the warm-up")
               for w in range(len(pool))]
    for f in futures:
        f.result()


# --no-isolate: khabar_fp32 and forward share one pool of fp32 workers (loading N more processes
# only to hold the same weights would make the quick mode slow); keys (model, quantize, batch, N).
_SHARED: dict[tuple[Any, ...], Any] = {}


def prepare_variant(spec: dict[str, Any]) -> "_Pass":
    """Load one variant and warm it up; return its pass (a callable that processes all the
    articles once, with ``warm``: the untimed warm-up run before each timed pass).

    ``spec``: variant (pipeline | khabar_fp32 | khabar_int8 | forward), model, texts, batch_size
    (``None``: the pipeline's default), device, threads, stride, workers (khabar and forward:
    worker processes when >= 2).
    """
    import torch

    from khabar.analyze_command import quiet_loading

    quiet_loading()
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    # the articles of each round (a list of lists), and two more for the untimed warm-up passes
    sets: list[list[str]] = spec["rounds"] if "rounds" in spec else [spec["texts"]]
    warm: list[str] = spec.get("warm") or sets[0][:2]
    variant, device, bs = spec["variant"], spec.get("device", "cpu"), spec.get("batch_size")
    workers = int(spec.get("workers") or 1)
    if workers > 1 and variant in ("khabar_fp32", "khabar_int8", "khabar_bf16", "forward"):
        from khabar.analyzer import Analyzer

        quantize = {"khabar_int8": "int8", "khabar_bf16": "bf16"}.get(variant)
        key = (spec["model"], quantize, bs, workers)
        analyzer = _SHARED.get(key) if spec.get("share_workers") else None
        if analyzer is None:
            analyzer = Analyzer.from_pretrained(spec["model"], device=device, quantize=quantize, batch_size=bs, workers=workers)
            analyzer.start_workers()  # loading, before the clock
            if spec.get("share_workers"):
                _SHARED[key] = analyzer
        if variant == "forward":
            runs = [WorkerForward(analyzer, xs, bs, f"forward{k}") for k, xs in enumerate(sets)]
            warm_run = WorkerForward(analyzer, warm, bs, "forward-warm", everywhere=True)
            warm_run()
            return _Pass(lambda k: runs[k](), warm=warm_run, pool=analyzer.start_workers(), close=analyzer.close)

        def pipe_all(xs: list[str]) -> None:
            for _ in analyzer.pipe(xs, batch_size=bs):
                pass

        def warm_all() -> None:
            _warm_every_worker(analyzer, warm, bs)

        warm_all()
        if spec.get("paired_forward"):
            forwards = [WorkerForward(analyzer, xs, bs, f"paired{k}") for k, xs in enumerate(sets)]
            warm_forward = WorkerForward(analyzer, warm, bs, "paired-warm", everywhere=True)
            warm_forward()
            return _Paired(lambda k: pipe_all(sets[k]), lambda k: forwards[k](), warm=warm_all, warm_forward=warm_forward,
                           pool=analyzer.start_workers(), close=analyzer.close)
        return _Pass(lambda k: pipe_all(sets[k]), warm=warm_all, pool=analyzer.start_workers(), close=analyzer.close)

    if variant.startswith("khabar"):
        from khabar.analyzer import Analyzer

        analyzer = Analyzer.from_pretrained(spec["model"], device=device, quantize={"khabar_int8": "int8", "khabar_bf16": "bf16"}.get(variant))

        def go(xs: list[str]) -> None:
            for _ in analyzer.pipe(xs, batch_size=bs):
                pass

        if spec.get("paired_forward"):
            # the pure forward pass of this very model on its own batches, timed right after each
            # pass (same process, adjacent in time: the overhead is not at the mercy of how the
            # load on the machine differed between two processes' turns)
            size = bs or analyzer.batch_size
            batches = [forward_batches(analyzer.model, analyzer.tokenizer, xs, size) for xs in sets]
            warm_batches = forward_batches(analyzer.model, analyzer.tokenizer, warm, size)
            encode_batches(analyzer.model, warm_batches)
            go(warm)
            return _Paired(lambda k: go(sets[k]), lambda k: encode_batches(analyzer.model, batches[k]),
                           warm=lambda: go(warm), warm_forward=lambda: encode_batches(analyzer.model, warm_batches))

    elif variant == "forward":
        model, tokenizer = _load(spec["model"], device)
        prepared = {id(xs): forward_batches(model, tokenizer, xs, bs) for xs in (warm, *sets)}

        def go(xs: list[str]) -> None:
            encode_batches(model, prepared[id(xs)])

    elif variant == "pipeline":
        from transformers import pipeline

        model, tokenizer = _load(spec["model"], device)
        tc = token_classifier(model).to(device)
        # The pipeline windows by the tokenizer's limit: make it the model's window, and give a
        # stride so it reads whole articles (it truncates otherwise).
        tokenizer.model_max_length = model.config.max_length
        del model
        pipe = pipeline("token-classification", model=tc, tokenizer=tokenizer, aggregation_strategy="simple",
                        stride=spec["stride"], device=torch.device(device))
        kwargs = {} if bs is None else {"batch_size": bs}

        def go(xs: list[str]) -> None:
            for _ in pipe(xs, **kwargs):
                pass

    else:
        raise ValueError(f"unknown variant {variant!r}")

    go(warm)
    return _Pass(lambda k: go(sets[k]), warm=lambda: go(warm))


class _Pass:
    """A variant's timed pass over round ``k``'s articles (``go(k)``), and an untimed pass over two
    other articles run just before it: whatever ran in between (another variant's process), every
    timed pass starts with this variant's weights and code warm in the caches, as in a
    long-running service. ``pool``: the variant's worker processes, if any (their memory counts
    too); ``close`` stops them."""

    def __init__(self, go: Callable[[int], None], warm: Callable[[], None] | None = None, pool: Any = None,
                 close: Callable[[], None] | None = None):
        self.go, self.warm, self.pool, self.close = go, warm, pool, close or (lambda: None)

    def __call__(self, k: int = 0) -> None:
        self.go(k)


class _Paired(_Pass):
    """A variant's pass plus the forward pass it is compared with, timed one after the other (the
    order alternating by round, see :func:`time_once`), each after its own warm-up."""

    def __init__(self, go: Callable[[int], None], forward: Callable[[int], None], warm: Callable[[], None] | None = None,
                 warm_forward: Callable[[], None] | None = None, pool: Any = None, close: Callable[[], None] | None = None):
        super().__init__(go, warm, pool, close)
        self.forward, self.warm_forward = forward, warm_forward


def time_once(go: _Pass, k: int = 0) -> dict[str, Any]:
    """One timed pass over round ``k``'s articles: seconds, peak RSS growth during it, the
    process's peak RSS so far, and on a GPU the peak of allocated GPU memory during the pass. With
    worker processes the RSS figures are summed over this process and the workers
    (``workers_peak_rss_mb``: theirs alone).

    A paired variant's forward pass is timed too, before the variant's pass in odd rounds and
    after it in even ones: whichever of the two first meets a round's new batch shapes pays for
    the kernels built for them (oneDNN builds per shape; the fp32 forward pass took 2-19 % longer
    first than second on the same batches), so neither may always go first."""
    import torch

    gpu = torch.cuda.is_available() and torch.cuda.is_initialized()

    def clocked(warm: Callable[[], None] | None, run: Callable[[int], None]) -> float:
        if warm is not None:
            warm()
        if gpu:  # the warm-up's queued GPU work finishes before the clock starts
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        run(k)
        if gpu:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    paired = isinstance(go, _Paired)
    forward_seconds = clocked(go.warm_forward, go.forward) if paired and k % 2 == 1 else None
    pool = getattr(go, "pool", None)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS(pids=pool.pids() if pool is not None else None) as mem:
        seconds = clocked(go.warm, go)
    r = {
        "seconds": seconds,
        "peak_rss_delta_mb": mem.delta_mb,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if pool is not None:
        workers_kb = sum(kb or 0 for kb in pool.peak_rss_kb())  # VmHWM, read before they exit
        r["workers_peak_rss_mb"] = round(workers_kb / 1024, 1)
        r["peak_rss_mb"] = round(r["peak_rss_mb"] + workers_kb / 1024, 1)
    if gpu:
        r["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if paired:
        r["paired_forward_seconds"] = forward_seconds if forward_seconds is not None else clocked(go.warm_forward, go.forward)
    return r


def run_variant(spec: dict[str, Any]) -> dict[str, Any]:
    """Prepare and time one variant once, in this process."""
    return time_once(prepare_variant(spec))


class InProcess:
    """A prepared variant in this process."""

    def __init__(self, spec: dict[str, Any]):
        self.go = prepare_variant(spec)

    def run(self, k: int = 0) -> dict[str, Any]:
        return time_once(self.go, k)

    def close(self) -> None:
        self.go.close()  # worker processes, if any
        self.go = None  # type: ignore[assignment]


class Worker:
    """A prepared variant in its own Python process, timed on request: a
    :class:`khabar.workers.WorkerProcess` running ``python -m khabar.bench --worker``.

    All workers are started up front and timed in turns, round after round, so that load from
    other processes on the machine hits every variant alike; each keeps its own memory figures.
    The variant's stderr (its worker processes' lines included) is drained all along but not
    echoed; its tail goes into the error when the variant fails.
    """

    def __init__(self, spec: dict[str, Any]):
        from khabar.workers import WorkerProcess

        self.name = spec["variant"]
        self.proc = WorkerProcess(0, [sys.executable, "-m", "khabar.bench", "--worker"],
                                  {**os.environ, "HF_HUB_OFFLINE": "1"}, echo_stderr=False)
        self._prepared = self.proc.submit(spec, f"preparing the bench variant {self.name}")

    def ready(self) -> None:
        self.proc.ready.result()
        self._prepared.result()

    def run(self, k: int = 0) -> dict[str, Any]:
        return self.proc.submit({"op": "run", "round": k}, f"timing the bench variant {self.name}").result()

    def close(self) -> None:
        self.proc.stop(timeout=60)


def _worker_loop() -> int:
    """``python -m khabar.bench --worker``: say ready, read a spec and prepare it, then time the
    variant on each later request (one JSON line each way; a failure is answered as an error)."""
    print(json.dumps({"ready": True}), flush=True)
    go = None
    for line in sys.stdin:
        try:
            if go is None:
                go = prepare_variant(json.loads(line))
                reply: dict[str, Any] = {"prepared": True}
            else:
                reply = time_once(go, int(json.loads(line).get("round", 0)))
        except Exception:
            reply = {"error": traceback.format_exc()}
        print(json.dumps(reply), flush=True)
    return 0


def _run_isolated(spec: dict[str, Any]) -> dict[str, Any]:
    """Time one variant once in a fresh process."""
    w = Worker(spec)
    try:
        w.ready()
        return w.run()
    finally:
        w.close()


# ----------------------------------------------------------------------------------- the run


def round_sets(texts: list[str], n_sets: int) -> list[list[str]]:
    """``texts`` dealt into ``n_sets`` sets of equal size (the rest left out) and about equal
    characters: longest first, in snake order (1, 2, ..., n, n, ..., 2, 1, ...); each set keeps the
    texts' order."""
    per_set = len(texts) // n_sets
    order = sorted(range(per_set * n_sets), key=lambda i: -len(texts[i]))
    sets: list[list[int]] = [[] for _ in range(n_sets)]
    for rank, i in enumerate(order):
        lap, pos = divmod(rank, n_sets)
        sets[pos if lap % 2 == 0 else n_sets - 1 - pos].append(i)
    return [[texts[i] for i in sorted(idx)] for idx in sets]


def bench(model_dir: str, texts: list[str], batch_size: int = 16, pipeline_batch_sizes: tuple[int, ...] = DEFAULT_PIPELINE_BATCH_SIZES,
          device: str = "cpu", threads: int | None = None, isolate: bool = True, log: Any = None,
          repeat: int = 3, workers: int | None = None, warmup_rounds: int = 1) -> dict[str, Any]:
    """Time every variant (see the module docstring). ``workers=None``: on a CPU, as many worker
    processes for khabar and forward as the pipeline's threads (``threads`` or torch's); 1 on a GPU.

    ``texts``: the last two are the warm-up passes' articles; the others are dealt by
    :func:`round_sets` into ``warmup_rounds`` untimed and ``repeat`` timed rounds of fresh
    articles (every variant reads the same set in a round, and no round reads an article another
    round read: whatever khabar remembers of text it has seen, a round gains nothing from it)."""
    from transformers import AutoConfig, AutoTokenizer

    import torch

    import khabar.model  # noqa: F401
    from khabar.data.normalise import normalise
    from khabar.quantize import bf16_supported

    load_before = _load_average()
    if workers is None:
        workers = 1 if device != "cpu" else (threads or _torch_threads())
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    n_rounds = warmup_rounds + repeat
    if len(texts) < n_rounds + 2:
        raise ValueError(f"bench: {len(texts)} texts for {n_rounds} rounds: pass at least {n_rounds + 2}")
    sets, warm = round_sets(texts[:-2], n_rounds), texts[-2:]
    n_articles = len(sets[0])
    n_tokens = [sum(len(tokenizer(normalise(t).text, add_special_tokens=False, verbose=False)["input_ids"]) for t in xs)
                for xs in sets]
    base = {"model": model_dir, "rounds": sets, "warm": warm, "device": device, "threads": threads, "stride": config.window_overlap,
            "share_workers": not isolate}
    plan: dict[str, dict[str, Any]] = {"pipeline@1": {**base, "variant": "pipeline", "batch_size": None}}
    for bs in sorted(set(pipeline_batch_sizes) - {1}):
        plan[f"pipeline@{bs}"] = {**base, "variant": "pipeline", "batch_size": bs}
    ours = {**base, "batch_size": batch_size, "workers": workers}
    plan["khabar_fp32"] = {**ours, "variant": "khabar_fp32", "paired_forward": True}
    if device == "cpu":
        plan["khabar_int8"] = {**ours, "variant": "khabar_int8"}
    if bf16_supported(torch.device(device)):
        plan["khabar_bf16"] = {**ours, "variant": "khabar_bf16"}
    plan["forward"] = {**ours, "variant": "forward"}

    if log:
        log(f"{PROG}: preparing {len(plan)} variants ({'one process each' if isolate else 'in this process'}"
            f"{f'; khabar and forward in {workers} worker processes each' if workers > 1 else ''}) ...")
    runners: dict[str, Any] = {}
    try:
        if isolate:
            runners = {name: Worker(spec) for name, spec in plan.items()}
            for w in runners.values():
                w.ready()
        else:
            runners = {name: InProcess(spec) for name, spec in plan.items()}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
        # The first rounds are untimed: every variant's first pass over a round's articles ran up
        # to 2x slower than its later ones (oneDNN builds its kernels per input shape, and the
        # two-article warm-up meets only a few of the batches' shapes).
        for k in range(n_rounds):
            if log:
                log(f"{PROG}: " + (f"warm-up round {k + 1}/{warmup_rounds} ..." if k < warmup_rounds
                                   else f"round {k - warmup_rounds + 1}/{repeat} ..."))
            for name, runner in runners.items():
                result = runner.run(k)
                if k >= warmup_rounds:
                    runs[name].append({**result, "tokens": n_tokens[k]})
    finally:
        for runner in runners.values():
            runner.close()
        _SHARED.clear()

    def summary(name: str) -> dict[str, Any]:
        rs = runs[name]
        # the least disturbed pass: the round of most tokens per second (the rounds' sets differ
        # a little in size)
        best = max(rs, key=lambda r: r["tokens"] / r["seconds"])
        seconds = best["seconds"]
        return {
            "batch_size": plan[name]["batch_size"] or 1,
            "seconds": round(seconds, 4),
            "articles_per_s": round(n_articles / seconds, 3),
            "tokens_per_s": round(best["tokens"] / seconds, 1),
            "peak_rss_delta_mb": max(r["peak_rss_delta_mb"] for r in rs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            **({"workers_peak_rss_mb": max(r["workers_peak_rss_mb"] for r in rs)} if "workers_peak_rss_mb" in rs[0] else {}),
            "seconds_per_round": [round(r["seconds"], 4) for r in rs],
            **({"peak_gpu_mb": max(r["peak_gpu_mb"] for r in rs)} if "peak_gpu_mb" in rs[0] else {}),
            **({"paired_forward_seconds": round(min(r["paired_forward_seconds"] for r in rs), 4),
                "paired_forward_seconds_per_round": [round(r["paired_forward_seconds"], 4) for r in rs],
                "paired_forward_tokens_per_s": round(max(r["tokens"] / r["paired_forward_seconds"] for r in rs), 1)}
               if "paired_forward_seconds" in rs[0] else {}),
        }

    pipelines = {name: summary(name) for name in plan if name.startswith("pipeline@")}
    best = max(pipelines, key=lambda n: pipelines[n]["tokens_per_s"])
    variants: dict[str, Any] = {
        "pipeline_default": pipelines["pipeline@1"],
        "pipeline_best": {**pipelines[best], "tried": {n.split("@")[1]: p["tokens_per_s"] for n, p in pipelines.items()}},
    }
    for name in ("khabar_fp32", "khabar_int8", "khabar_bf16", "forward"):
        if name in plan:
            variants[name] = summary(name)

    def ratio(a: str, b: str) -> float | None:  # per token: the two best rounds may be two sets
        return round(variants[a]["tokens_per_s"] / variants[b]["tokens_per_s"], 3) if a in variants else None

    fp32 = variants["khabar_fp32"]
    return {
        "model": model_dir,
        "articles": n_articles,  # per round
        "tokens": round(sum(n_tokens[warmup_rounds:]) / repeat),  # per timed round, on average
        "tokens_per_round": n_tokens[warmup_rounds:],
        "characters": round(sum(len(t) for xs in sets[warmup_rounds:] for t in xs) / repeat),
        "device": device,
        "threads": threads or _torch_threads(),
        "workers": workers,
        "isolated": isolate,
        "rounds": repeat,
        "warmup_rounds": warmup_rounds,
        "load_average": [load_before, _load_average()],
        "variants": variants,
        "ratio_fp32": ratio("khabar_fp32", "pipeline_default"),
        "ratio_int8": ratio("khabar_int8", "pipeline_default"),
        "ratio_bf16": ratio("khabar_bf16", "pipeline_default"),
        "ratio_fp32_vs_best": ratio("khabar_fp32", "pipeline_best"),
        "ratio_int8_vs_best": ratio("khabar_int8", "pipeline_best"),
        "overhead": round(fp32["paired_forward_tokens_per_s"] / fp32["tokens_per_s"] - 1, 3),
        "overhead_vs_forward_process": round(variants["forward"]["tokens_per_s"] / fp32["tokens_per_s"] - 1, 3),
    }


def scaling(model_dir: str, words: int, batch_size: int | None = None, device: str = "cpu",
            repeat: int = 3) -> dict[str, Any]:
    """Seconds for one article of ``words`` words and one of 10x; linear time gives a ratio near 10.

    Each length is timed ``repeat`` times (the best round counts), end to end through the analyser
    and, on the same batches, the encoder forward pass alone: ``overhead_*`` is everything that is
    not the encoder (decoding, attribution, names), ``forward_ratio`` the encoder's own growth."""
    import torch

    from khabar.analyze_command import quiet_loading
    from khabar.analyzer import Analyzer

    quiet_loading()
    load_before = _load_average()
    analyzer = Analyzer.from_pretrained(model_dir, device=device, batch_size=batch_size)
    model = analyzer.model
    texts = {"1x": long_text(words), "10x": long_text(10 * words)}
    batches = {k: forward_batches(model, analyzer.tokenizer, [t], analyzer.batch_size) for k, t in texts.items()}
    analyzer(texts["1x"][:2000])  # warm-up

    def timed(fn: Callable[[], Any]) -> float:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def forward(name: str) -> None:
        encode_batches(model, batches[name])

    times = {k: float("inf") for k in texts}
    fwd = dict(times)
    for _ in range(max(1, repeat)):  # lengths and variants take turns: load hits them alike
        for name, text in texts.items():
            times[name] = min(times[name], timed(lambda: analyzer(text)))
            fwd[name] = min(fwd[name], timed(lambda: forward(name)))
    return {
        "words_1x": len(texts["1x"].split()),
        "words_10x": len(texts["10x"].split()),
        "seconds_1x": round(times["1x"], 4),
        "seconds_10x": round(times["10x"], 4),
        "scaling_ratio": round(times["10x"] / times["1x"], 3),
        "forward_seconds_1x": round(fwd["1x"], 4),
        "forward_seconds_10x": round(fwd["10x"], 4),
        "forward_ratio": round(fwd["10x"] / fwd["1x"], 3),
        "overhead_1x": round(times["1x"] / fwd["1x"] - 1, 3),
        "overhead_10x": round(times["10x"] / fwd["10x"] - 1, 3),
        "rounds": max(1, repeat),
        "load_average": [load_before, _load_average()],
    }


def _load_average() -> float | None:
    """The machine's 1-minute load average (other processes' work slows every variant: the
    ratios are measured side by side, the seconds are only comparable at a similar load)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['articles']} articles, {r['tokens']} tokens, {r['characters']} characters; device {r['device']}, "
        f"{r['threads']} threads; {'one subprocess per variant' if r['isolated'] else 'one process (memory indicative)'}; "
        f"best of {r['rounds']} rounds after {r.get('warmup_rounds', 0)} untimed",
        f"pipeline: {r['threads']} torch threads; khabar and forward: "
        + (f"{r['workers']} worker processes, 1 thread each (peak MB: the variant's process + its workers' VmHWM)"
           if r["workers"] > 1 else f"in the variant's process, {r['threads']} threads"),
        f"{'variant':<18}{'batch':>6}{'seconds':>10}{'articles/s':>12}{'tokens/s':>11}{'peak +MB':>10}{'peak MB':>9}",
    ]
    for name, v in r["variants"].items():
        lines.append(f"{name:<18}{v['batch_size']:>6}{v['seconds']:>10.3f}{v['articles_per_s']:>12.2f}"
                     f"{v['tokens_per_s']:>11.0f}{v['peak_rss_delta_mb']:>10.1f}{v['peak_rss_mb']:>9.0f}")
    lines.append(f"pipeline batch sizes tried (tokens/s): {r['variants']['pipeline_best']['tried']}")
    for key in ("ratio_fp32", "ratio_int8", "ratio_bf16", "ratio_fp32_vs_best", "ratio_int8_vs_best", "overhead",
                "overhead_vs_forward_process", "load_average"):
        lines.append(f"{key:<20}{r[key]}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from khabar.analyzer import ModelNotFoundError, default_model_path

    try:
        model_dir = str(Path(args.model).resolve()) if args.model else str(default_model_path())
    except ModelNotFoundError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if not (Path(model_dir) / "config.json").is_file():
        print(f"{PROG}: {model_dir}: no config.json; pass a model folder written by `khabar train`", file=sys.stderr)
        return 2
    import torch

    from khabar.analyzer import default_batch_size

    if args.batch_size is None:
        args.batch_size = default_batch_size(torch.device(args.device))
    if args.workers is not None and (args.workers < 1 or (args.workers > 1 and args.device != "cpu")):
        print(f"{PROG}: --workers {args.workers}: pass 1 or more, and more than 1 only with --device cpu", file=sys.stderr)
        return 2
    if args.scaling:
        if args.threads:
            torch.set_num_threads(args.threads)
        r = scaling(model_dir, args.words, args.batch_size, args.device, args.repeat)
        print(json.dumps(r, indent=2) if args.json else
              f"{r['words_1x']} words: {r['seconds_1x']:.3f} s; {r['words_10x']} words: {r['seconds_10x']:.3f} s; "
              f"time(10x)/time(1x) = {r['scaling_ratio']:.2f} (10 = linear)\n"
              f"encoder forward alone: {r['forward_seconds_1x']:.3f} s, {r['forward_seconds_10x']:.3f} s "
              f"(ratio {r['forward_ratio']:.2f}); overhead over it: {r['overhead_1x']:.1%} (1x), "
              f"{r['overhead_10x']:.1%} (10x); best of {r['rounds']} rounds; load average {r['load_average']}")
        return 0
    try:
        # fresh articles for every round, and two for the warm-up passes
        texts, source = load_texts(args.articles * (max(0, args.warmup_rounds) + args.repeat) + 2, args.data)
        sizes = tuple(int(b) for b in args.pipeline_batch_sizes.split(",") if b.strip())
    except (FileNotFoundError, ValueError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    r = bench(model_dir, texts, args.batch_size, sizes, args.device, args.threads, not args.no_isolate, log, args.repeat,
              args.workers, max(0, args.warmup_rounds))
    r["source"] = source
    print(json.dumps(r, indent=2, ensure_ascii=False) if args.json else format_report(r))
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(_worker_loop())
    from khabar.cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))
