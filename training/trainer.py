"""``KhabarTrainer``: a thin ``transformers.Trainer`` that scores the tasks at every evaluation.

Two things differ from the stock Trainer:

* Batches are whole articles (an article's windows never straddle two batches), drawn by
  :class:`~khabar.training.data.ArticleSampler`: seeded per epoch, optionally length-grouped.
* Every evaluation runs ``model.predict`` on the eval articles' texts and scores the character
  spans with ``khabar.evaluation.scoring`` (the scorer of the annotation guidelines), beside the
  loss: ``eval_entities_micro_f1``, ``eval_quotes_f1``, ``eval_attribution_f1``, ... These are
  what ``metric_for_best_model`` chooses the best checkpoint by.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import SequentialSampler
from transformers import Trainer
from transformers.trainer_utils import EvalLoopOutput

from khabar.data.article import Article
from khabar.evaluation.scoring import score
from khabar.training.data import ArticleSampler


def flatten_scores(scores: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of ``scoring.score`` as flat metric names (no prefix)."""
    out: dict[str, float] = {}
    ent = scores.get("entities")
    if ent is not None:
        for avg in ("micro", "macro"):
            for k in ("precision", "recall", "f1"):
                out[f"entities_{avg}_{k}"] = float(ent[avg][k])
        for label, s in ent["per_label"].items():
            out[f"entities_{label}_f1"] = float(s["f1"])
    q = scores.get("quotes")
    if q is not None:
        for k in ("precision", "recall", "f1"):
            out[f"quotes_{k}"] = float(q["overlap"][k])
        out["quotes_exact_f1"] = float(q["exact"]["f1"])
        out["quotes_type_accuracy"] = float(q["type_accuracy"]["accuracy"])
        out["cues_f1"] = float(q["cue"]["f1"])
    att = scores.get("attribution")
    if att is not None:
        for k in ("precision", "recall", "f1"):
            out[f"attribution_{k}"] = float(att[k])
        out["attribution_accuracy_on_matched"] = float(att["accuracy_on_matched"])
    return out


class KhabarTrainer(Trainer):
    """``Trainer`` with article batches and task metrics computed from ``model.predict``."""

    def __init__(
        self,
        *args: Any,
        eval_articles: list[Article] | None = None,
        group_by_length: bool = True,
        predict_batch_size: int | None = None,
        eval_loss: bool = True,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.eval_articles = list(eval_articles or [])
        self.group_by_length = group_by_length
        self.eval_loss = eval_loss
        self.predict_batch_size = predict_batch_size or self.args.per_device_eval_batch_size
        self.last_scores: dict[str, Any] | None = None
        # Evaluations of this process by global step, so the end of a run can report the best
        # checkpoint's scores without evaluating it again.
        self.evaluations: dict[int, tuple[dict[str, float], dict[str, Any] | None]] = {}

    # -- batching -------------------------------------------------------------------------------

    def _get_train_sampler(self, train_dataset=None) -> torch.utils.data.Sampler | None:
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        group = self.args.per_device_train_batch_size if self.group_by_length else None
        return ArticleSampler(dataset.lengths, seed=seed, group_size=group)

    def _get_eval_sampler(self, eval_dataset) -> torch.utils.data.Sampler | None:
        if self.args.world_size <= 1:
            return SequentialSampler(eval_dataset)
        return None

    # -- evaluation ---------------------------------------------------------------------------

    def evaluation_loop(
        self,
        dataloader,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> EvalLoopOutput:
        if self.eval_loss:
            # The loss over the eval windows comes from the stock loop; logits are not gathered.
            output = super().evaluation_loop(
                dataloader, description, prediction_loss_only=True, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix
            )
        else:  # one forward pass less per evaluation; the task metrics below are what selects checkpoints
            output = EvalLoopOutput(predictions=None, label_ids=None, metrics={}, num_samples=len(dataloader.dataset))
        if self.eval_articles:
            metrics = self.task_metrics(self.eval_articles)
            output.metrics.update({f"{metric_key_prefix}_{k}": v for k, v in metrics.items()})
        if metric_key_prefix == "eval":
            self.evaluations[self.state.global_step] = (dict(output.metrics), self.last_scores)
        return output

    def best_evaluation(self) -> tuple[dict[str, float], dict[str, Any] | None] | None:
        """Metrics and scores of the checkpoint the run ended with, if this process evaluated it."""
        best = self.state.best_model_checkpoint
        step = int(best.rsplit("-", 1)[-1]) if best and self.args.load_best_model_at_end else self.state.global_step
        return self.evaluations.get(step)

    def task_metrics(self, articles: list[Article]) -> dict[str, float]:
        """Predict on the texts (character offsets) and score against the gold layers."""
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                predictions = model.predict([a.text for a in articles], self.processing_class, batch_size=self.predict_batch_size)
        finally:
            model.train(was_training)
        for gold, pred in zip(articles, predictions):
            pred.id = gold.id  # predict numbers its outputs; the scorer aligns by id
        self.last_scores = score(articles, predictions)
        return flatten_scores(self.last_scores)
