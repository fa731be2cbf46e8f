"""The ``khabar`` command. Each subcommand lives in its own module, imported only when used.

A subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "evaluate": ("khabar.evaluation.command", "score predictions against gold JSONL"),
    "analyze": ("khabar.analyze_command", "analyse articles (.txt, .jsonl or -) with a model"),
    "train": ("khabar.training.command", "fine-tune a KhabarModel from a YAML config"),
    "pretrain": ("khabar.training.pretrain_command", "pretrain a compact Arabic encoder from a YAML config"),
    "bootstrap": ("khabar.bootstrap.command", "rule-based silver quotations for raw news JSONL"),
    "bench": ("khabar.bench", "time khabar against the transformers token-classification pipeline"),
}


def _module(name: str):
    try:
        return importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(COMMANDS[name][0].rsplit(".", 1)[0]) and exc.name.startswith("khabar"):
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="khabar", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == wanted:  # only the chosen subcommand's module is imported
            mod = _module(name)
            if mod is None:
                print(f"khabar {name}: not available in this version yet", file=sys.stderr)
                return 2
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # another pipe broke (a bench worker): that is an error worth its traceback
        # `khabar evaluate ... | head`: the reader left; stop quietly, as Unix tools do (and keep
        # Python from complaining again when it flushes stdout at exit)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe
    except KeyboardInterrupt:
        # Ctrl-C is the user's own stop: one line, not a traceback from wherever it landed
        # (`khabar train` says first which checkpoint to resume from)
        print(f"khabar {args.command}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, what a shell reports for a tool stopped by Ctrl-C


def _stdout_closed() -> bool:
    """Whether nobody reads our stdout any more (a pipe whose reader exited)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no poll (not Linux/macOS), stdout not a file
        return True


if __name__ == "__main__":
    sys.exit(main())
