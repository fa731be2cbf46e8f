"""``khabar pretrain``: pretrain the compact Arabic encoder from a YAML config, in resumable chunks."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="pretraining YAML, e.g. configs/pretrain-compact.yaml")
    parser.add_argument("--resume", action="store_true",
                        help="continue the checkpoint in run_dir if there is one (starts fresh otherwise)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (with a checkpoint) after this many minutes of wall time")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps in this call")
    parser.add_argument("--run-dir", default=None, help="override run_dir from the config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.total_steps=8000 (YAML syntax for VALUE)")


def run(args: argparse.Namespace) -> int:
    import yaml

    from khabar.training.pretrain_config import PretrainConfigError, load_config

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"khabar pretrain: --set {item!r}: write KEY=VALUE, e.g. optim.total_steps=8000", file=sys.stderr)
            return 2
        overrides[key.strip()] = yaml.safe_load(value)
    if args.run_dir:
        overrides["run_dir"] = args.run_dir
    try:
        cfg = load_config(args.config, overrides)
        from khabar.training.pretrain import Pretrainer

        result = Pretrainer(cfg).run(resume=args.resume, max_minutes=args.max_minutes, max_steps=args.max_steps)
    except PretrainConfigError as exc:
        print(f"khabar pretrain: {exc}", file=sys.stderr)
        return 2
    print(f"encoder: {cfg.run_dir}/encoder (step {result['step']}, {result['tokens_seen']} tokens)")
    return 0
