"""``python -m khabar.worker MODEL [--quantize Q] [--batch-size N] [--threads T]``: one analysis worker.

Started by :class:`khabar.workers.WorkerPool`, never by hand. It loads the model once, says
``{"ready": true, "pid": ...}`` on stdout, then answers one JSON line per request line, in order:

- ``{"op": "analyse", "records": [[id, text], ...], "batch_size": N}`` →
  ``{"results": [...], "dropped": n}``: exactly what ``Analyzer.pipe`` returns for the records in
  one process (``dropped``: spans dropped for impossible offsets);
- ``{"op": "prepare", "key": K, "texts": [...], "batch_size": N}`` → ``{"batches": n}``: khabar's
  batches for these texts, tokenised and kept here under ``K`` (``khabar bench``: the forward pass
  is timed without tokenisation);
- ``{"op": "forward", "keys": [K, ...]}`` → ``{"seconds": s}``: only the forward pass
  (``model.encode``) over the batches prepared under those keys.

A request that raises is answered ``{"error": traceback}`` and the worker carries on; a model that
does not load is answered the same way instead of ``ready``, and the worker exits. End of stdin:
exit. SIGINT is ignored (Ctrl-C reaches the whole process group; the parent decides what stops).
Stdout carries only the protocol: anything else printed goes to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import time
import traceback
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m khabar.worker")
    parser.add_argument("model")
    parser.add_argument("--quantize", choices=("int8", "bf16"))
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    # OMP/MKL_NUM_THREADS come set from the pool's environment (read when torch is imported).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol gets its own copy of stdout; fd 1 (and sys.stdout) then point at stderr, so a
    # stray print (ours, a library's, C code's) cannot corrupt a reply.
    out = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8", errors="surrogatepass")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogatepass")

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()

    try:
        import torch

        torch.set_num_threads(args.threads)
        from khabar.analyze_command import quiet_loading
        from khabar.analyzer import Analyzer

        quiet_loading()
        analyzer = Analyzer.from_pretrained(args.model, device="cpu", quantize=args.quantize, batch_size=args.batch_size)
    except Exception:
        reply({"error": traceback.format_exc()})
        return 1
    reply({"ready": True, "pid": os.getpid()})
    prepared: dict[str, list[Any]] = {}
    for line in requests:
        try:
            reply(handle(analyzer, prepared, json.loads(line)))
        except Exception:
            reply({"error": traceback.format_exc()})
    return 0


def handle(analyzer: Any, prepared: dict[str, list[Any]], req: dict[str, Any]) -> dict[str, Any]:
    op = req.get("op")
    if op == "analyse":
        before = analyzer.dropped_spans
        items = [{"id": rid, "text": text} for rid, text in req["records"]]
        results = list(analyzer.pipe(items, batch_size=req.get("batch_size")))
        return {"results": results, "dropped": analyzer.dropped_spans - before}
    if op == "prepare":
        from khabar.bench import forward_batches

        bs = req.get("batch_size") or analyzer.batch_size
        prepared[req["key"]] = forward_batches(analyzer.model, analyzer.tokenizer, req["texts"], bs)
        return {"batches": len(prepared[req["key"]])}
    if op == "forward":
        from khabar.bench import encode_batches

        t0 = time.perf_counter()
        for key in req["keys"]:
            encode_batches(analyzer.model, prepared[key])
        return {"seconds": time.perf_counter() - t0}
    raise ValueError(f"unknown request op {op!r} (expected analyse, prepare or forward)")


if __name__ == "__main__":
    sys.exit(main())
