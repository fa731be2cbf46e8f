"""Data-parallel analysis on a multi-core CPU: N worker processes, one model and one thread each.

On a CPU the forward pass of a small encoder scales poorly with torch's intra-op threads (its
matrix products are small), and the Python work after it (decoding, attribution, names, the
rules) runs on one core whatever torch does. Independent processes use every core for all of it.

Each worker is ``python -m khabar.worker`` (see :mod:`khabar.worker`), which loads the model once
and answers requests. Parent and workers talk **JSON lines over stdin/stdout**: plain data only (the
project never deserialises code or objects), no multiprocessing machinery. Per worker the parent runs a writer
thread (requests may be larger than a pipe's buffer: writing from the caller could block while
the worker blocks writing a reply nobody reads), a reader thread that resolves one
:class:`~concurrent.futures.Future` per request in order (a worker answers requests in the order
it gets them), and a thread that forwards the worker's stderr line by line and keeps its tail for
error messages. The caller never touches a pipe, so no full pipe can deadlock it.

:class:`WorkerPool` is the plumbing; ``Analyzer.from_pretrained(path, workers=N)`` uses it in
``Analyzer.pipe``.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import weakref
from collections import deque
from concurrent.futures import Future, InvalidStateError
from typing import Any

STDERR_TAIL = 40  # lines of a worker's stderr kept for error messages


class WorkerError(RuntimeError):
    """A worker failed (raised, crashed or could not start); the message names it and the input."""


class WorkerProcess:
    """One worker process and the three parent-side threads that talk to it (any child that says
    ``{"ready": ...}`` first, then answers one JSON line per request line: also ``khabar bench``'s
    variants). ``echo_stderr=False`` keeps the child's stderr for error messages only."""

    def __init__(self, index: int, argv: list[str], env: dict[str, str], echo_stderr: bool = True):
        self.index = index
        self.echo_stderr = echo_stderr
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            text=True, encoding="utf-8", errors="surrogatepass",  # lone surrogates travel as they are
        )
        self.name = f"khabar worker {index} (pid {self.proc.pid})"
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._lock = threading.Lock()
        self._waiting: deque[tuple[Future, str]] = deque()  # (future, what it is for), in request order
        # SimpleQueue: its put is one C call, which a KeyboardInterrupt cannot cut in half
        self._requests: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.dead: str | None = None  # why the worker is gone, once it is
        self._stderr_done = threading.Event()
        self.ready: Future = Future()
        self._waiting.append((self.ready, "loading the model"))
        for target in (self._write, self._read, self._drain_stderr):
            threading.Thread(target=target, name=f"{self.name} {target.__name__}", daemon=True).start()

    def submit(self, request: dict[str, Any], what: str) -> Future:
        """Queue ``request``; the future gets the worker's answer (or a WorkerError naming ``what``)."""
        fut: Future = Future()
        line = json.dumps(request, ensure_ascii=False) + "\n"
        with self._lock:
            if self.dead is not None:
                fut.set_exception(self._error(what, self.dead))
                return fut
            self._waiting.append((fut, what))
            try:
                self._requests.put(line)
            except BaseException:  # Ctrl-C before the request was queued: no future without its request,
                self._waiting.pop()  # or every later reply would resolve the future of the one before
                raise
        return fut

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    def _write(self) -> None:
        assert self.proc.stdin is not None
        while (line := self._requests.get()) is not None:
            try:
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return  # the worker is gone: the reader sees its end and fails the waiting futures
        try:
            self.proc.stdin.close()  # end of requests: the worker finishes and exits
        except (BrokenPipeError, OSError):
            pass

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                reply = {"error": f"unreadable reply: {line[:200]!r}"}
            with self._lock:
                fut, what = self._waiting.popleft()
            if "error" in reply:
                _settle(fut, exception=self._error(what, reply["error"]))
            else:
                _settle(fut, result=reply)
        code = self.proc.wait()
        self._stderr_done.wait(5)  # the error message wants the stderr tail
        with self._lock:
            self.dead = f"the process ended (exit code {code})"
            waiting, self._waiting = list(self._waiting), deque()
        for fut, what in waiting:
            _settle(fut, exception=self._error(what, self.dead))

    def _drain_stderr(self) -> None:
        # Whole lines, prefixed: a worker's warnings stay readable between the parent's own lines.
        # Drained to the end whatever happens: a worker whose stderr pipe fills up blocks for good.
        # Bytes, decoded leniently (a C library's non-UTF-8 message must not end the loop), and a
        # line our own stderr refuses is only kept in the tail.
        assert self.proc.stderr is not None
        try:
            for raw in self.proc.stderr.buffer:
                line = raw.decode("utf-8", "backslashreplace")
                self.stderr_tail.append(line.rstrip("\n"))
                if not self.echo_stderr:
                    continue
                try:
                    print(f"[{self.name}] {line}", end="", file=sys.stderr, flush=True)
                except (OSError, ValueError):
                    pass
        except (OSError, ValueError):
            pass
        finally:
            self._stderr_done.set()

    def _error(self, what: str, error: str) -> WorkerError:
        tail = "\n".join(self.stderr_tail)
        return WorkerError(f"{self.name} failed on {what}: {error.rstrip()}"
                           + (f"\n--- its stderr (last lines) ---\n{tail}" if tail else ""))

    def peak_rss_kb(self) -> int | None:
        """``VmHWM`` (peak resident set) from /proc, while the process lives; None elsewhere."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None

    def stop(self, timeout: float = 10.0) -> None:
        """End of requests; a worker still busy (nobody wants its answer any more) is killed."""
        if self.proc.poll() is None and self.busy:
            self.proc.kill()
        self._requests.put(None)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _settle(fut: Future, result: Any = None, exception: BaseException | None = None) -> None:
    """Resolve ``fut`` unless its caller cancelled it (a cancelled future refuses a result, and the
    exception would end the reader thread: every later request of that worker would wait forever)."""
    try:
        if exception is not None:
            fut.set_exception(exception)
        else:
            fut.set_result(result)
    except InvalidStateError:
        pass


# glibc malloc in the workers (a worker does nothing but run the model): every activation of a
# batch (16 windows x 256 tokens x 1024 numbers: 16 MB) is above glibc's mmap threshold, so by
# default each one was fresh memory from the kernel, zeroed page by page on first touch (20,000-
# 37,000 page faults per pass over the bench's 64 articles at 1 thread; none with these settings).
# Freed memory is kept for the next batch instead: the worker's resident memory stays at its peak.
# Values the user sets in the environment win; other C libraries ignore these names.
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31),
                 "MALLOC_TOP_PAD_": str(64 << 20)}


def _stop_all(workers: list[WorkerProcess]) -> None:
    for w in workers:
        w.stop()


def worker_env(threads: int) -> dict[str, str]:
    """The environment of a pool's workers: this process's, plus their thread counts and settings."""
    t = str(threads)
    env = {**os.environ, "OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
    # One string-hash seed for all the workers (the parent's when it has one, else a random one
    # per pool): no khabar output depends on it since the lexical `shape` feature stopped
    # breaking ties in set order, but any future dependence on it stays the same in every worker.
    env.setdefault("PYTHONHASHSEED", str(random.randrange(1, 2**32)))
    for name, value in MALLOC_TUNING.items():
        env.setdefault(name, value)
    return env


class WorkerPool:
    """``n`` identical worker processes serving the model at ``path`` (loaded once each).

    ``threads``: torch intra-op threads per worker (``torch.set_num_threads``, and OMP/MKL_NUM_THREADS
    set in the worker's environment, i.e. before torch is imported).
    Processes are stopped by :meth:`close`, when the pool is garbage-collected, or at interpreter
    exit, whichever comes first: none is left behind.
    """

    def __init__(self, path: str, n: int, quantize: str | None = None, batch_size: int | None = None,
                 threads: int = 1):
        if n < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {n}")
        argv = [sys.executable, "-m", "khabar.worker", path, "--threads", str(threads)]
        if quantize:
            argv += ["--quantize", quantize]
        if batch_size:
            argv += ["--batch-size", str(batch_size)]
        env = worker_env(threads)
        self.workers = [WorkerProcess(k, argv, env) for k in range(n)]
        self._finalizer = weakref.finalize(self, _stop_all, self.workers)
        try:
            for w in self.workers:
                w.ready.result()
        except BaseException:
            self.close()
            raise

    def __len__(self) -> int:
        return len(self.workers)

    def submit(self, k: int, request: dict[str, Any], what: str) -> Future:
        """Send ``request`` to worker ``k``; a future of its reply dict."""
        return self.workers[k].submit(request, what)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers]

    def peak_rss_kb(self) -> list[int | None]:
        """Each worker's peak resident memory (``VmHWM``), read while it runs."""
        return [w.peak_rss_kb() for w in self.workers]

    @property
    def alive(self) -> bool:
        return self._finalizer.alive and all(w.dead is None for w in self.workers)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
