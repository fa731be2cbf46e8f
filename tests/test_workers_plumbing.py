"""The parent side of :mod:`khabar.workers` against stand-in worker processes (a few lines of
Python speaking the JSON-lines protocol, no model): seconds, not a pool start-up per case."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from khabar.workers import WorkerProcess

ECHO = textwrap.dedent("""
    import json, sys, time
    {before}
    sys.stdout.write(json.dumps({{"ready": True}}) + "\\n"); sys.stdout.flush()
    for line in sys.stdin:
        req = json.loads(line)
        time.sleep(req.get("sleep", 0))
        sys.stdout.write(json.dumps({{"echo": req["n"]}}) + "\\n"); sys.stdout.flush()
""")


def start(before: str = "") -> WorkerProcess:
    return WorkerProcess(0, [sys.executable, "-c", ECHO.format(before=before)], dict(os.environ))


def test_a_cancelled_request_does_not_stall_the_ones_after_it():
    w = start()
    try:
        w.ready.result(timeout=10)
        first = w.submit({"n": 1, "sleep": 0.5}, "the first")
        second = w.submit({"n": 2}, "the second")
        assert first.cancel()  # the caller gave up on it while the worker works on it
        # the reader thread used to die on setting the cancelled future: nothing after it resolved
        assert second.result(timeout=10) == {"echo": 2}
        assert w.submit({"n": 3}, "the third").result(timeout=10) == {"echo": 3}
    finally:
        w.stop()


def test_stderr_that_is_not_utf8_keeps_being_drained(capfd):
    # invalid UTF-8 first, then more than a pipe holds: a drain that stops at the bad byte leaves
    # the worker blocked on its stderr, and every request waiting
    w = start(before="sys.stderr.buffer.write(b'\\xff\\xfe from a C library\\n'); "
                     "sys.stderr.buffer.write((b'y' * 99 + b'\\n') * 3000); sys.stderr.flush()")
    try:
        w.ready.result(timeout=10)
        assert w.submit({"n": 7}, "a request").result(timeout=10) == {"echo": 7}
    finally:
        w.stop()
    err = capfd.readouterr().err
    assert "from a C library" in err and err.count("y" * 99) == 3000


def test_workers_load_the_folder_from_pretrained_loaded_after_a_chdir(tmp_path_factory, tmp_path, monkeypatch):
    """The pool starts on the first pipe: a relative model path, resolved then against another
    working directory, would load another folder of that name, or none."""
    pytest.importorskip("torch")
    from analyzer_helpers import tiny_model_dir

    from khabar import Analyzer
    from khabar.workers import WorkerPool

    model_dir = tiny_model_dir(tmp_path_factory)
    monkeypatch.chdir(model_dir.parent)
    analyzer = Analyzer.from_pretrained(model_dir.name, workers=2)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / model_dir.name).mkdir(parents=True)  # same name, no model in it
    monkeypatch.chdir(elsewhere)
    path = analyzer._load_spec["path"]
    assert os.path.isabs(path) and os.path.samefile(path, model_dir)
    with WorkerPool(path, 1) as pool:  # what the first pipe() starts, with one worker here
        assert pool.alive


class _InterruptedOnce:
    """A request queue whose first put is cut by Ctrl-C before the request is queued."""

    def __init__(self, real):
        self.real, self.hit = real, False

    def put(self, item):
        if not self.hit and item is not None:
            self.hit = True
            raise KeyboardInterrupt
        self.real.put(item)

    def get(self):
        return self.real.get()


def test_ctrl_c_while_submitting_leaves_replies_paired_with_their_requests():
    w = start()
    try:
        w.ready.result(timeout=10)
        real = w._requests
        w._requests = _InterruptedOnce(real)
        with pytest.raises(KeyboardInterrupt):
            w.submit({"n": 1}, "the interrupted one")
        w._requests = real
        # the caller caught Ctrl-C and goes on with the same worker: each answer to its own request
        assert w.submit({"n": 2}, "the next").result(timeout=10) == {"echo": 2}
        assert w.submit({"n": 3}, "the one after").result(timeout=10) == {"echo": 3}
    finally:
        w.stop()


def test_worker_env_sets_threads_and_malloc_tuning_but_keeps_the_users_values(monkeypatch):
    from khabar.workers import MALLOC_TUNING, worker_env

    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")  # the user's own setting wins
    env = worker_env(3)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["MALLOC_MMAP_THRESHOLD_"] == "65536"
    assert env["MALLOC_TOP_PAD_"] == MALLOC_TUNING["MALLOC_TOP_PAD_"]
    assert env["MALLOC_TRIM_THRESHOLD_"] == MALLOC_TUNING["MALLOC_TRIM_THRESHOLD_"]
