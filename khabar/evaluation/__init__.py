"""Evaluation: the scorers of the annotation guidelines and their ``evaluate`` metric modules.

``khabar.evaluation.scoring`` is plain Python (no torch, no ``evaluate``); :func:`load_metric`
loads the local ``evaluate`` modules by path and never contacts the Hugging Face Hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from khabar.evaluation.names import normalise_name, same_source
from khabar.evaluation.scoring import score, score_bio, seqeval_style

if TYPE_CHECKING:
    import evaluate

METRICS_DIR = Path(__file__).resolve().parent / "metrics"
METRIC_NAMES = ("khabar_entities", "khabar_quotes")

__all__ = ["METRIC_NAMES", "load_metric", "normalise_name", "same_source", "score", "score_bio", "seqeval_style"]


def load_metric(name: str, **kwargs) -> "evaluate.EvaluationModule":
    """Load one of the packaged metrics (``khabar_entities``, ``khabar_quotes``) from its file.

    Loading by file path makes ``evaluate`` import the local script; a bare name would send it
    to the Hub, which is unreachable offline (and ``seqeval`` is not installed anyway).
    """
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; the packaged metrics are {list(METRIC_NAMES)}")
    import evaluate  # heavy (datasets, pyarrow): only when a metric module is asked for

    # Eval sets here are small: keeping them in memory spares the Arrow cache files and their
    # locks under ~/.cache, which concurrent runs on one machine would otherwise share.
    if kwargs.get("num_process", 1) == 1:
        kwargs.setdefault("keep_in_memory", True)
    return evaluate.load(str(METRICS_DIR / name / f"{name}.py"), **kwargs)
