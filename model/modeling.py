"""`KhabarModel`: one BERT-family encoder pass, four token heads and the attribution scorer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModel, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from khabar.model.configuration import KhabarConfig
from khabar.model.lexical import LexicalEmbedding
from khabar.model.heads import AttributionScorer, ContextLSTM, TokenTagger, attribution_loss, tagging_loss


@dataclass
class KhabarOutput(ModelOutput):
    """``loss`` is the weighted sum of the task losses present in the batch (``None`` if none is)."""

    loss: torch.Tensor | None = None
    entity_logits: torch.Tensor | None = None  # (batch, seq, 1 + 2 * n_entity_labels)
    quote_logits: torch.Tensor | None = None  # (batch, seq, 1 + 2 * n_quote_types)
    cue_logits: torch.Tensor | None = None  # (batch, seq, 3)
    source_logits: torch.Tensor | None = None  # (batch, seq, 3)
    attribution_logits: torch.Tensor | None = None  # (quotes, 1 + candidates), column 0 = none
    entity_loss: torch.Tensor | None = None
    quote_loss: torch.Tensor | None = None
    cue_loss: torch.Tensor | None = None
    source_loss: torch.Tensor | None = None
    attribution_loss: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None  # (batch, seq, hidden), only with output_hidden_states


class KhabarModel(PreTrainedModel):
    config_class = KhabarConfig
    base_model_prefix = "khabar"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    # The losses are means over each task's own labelled tokens: the Trainer must not rescale them.
    accepts_loss_kwargs = False

    def __init__(self, config: KhabarConfig):
        super().__init__(config)
        enc_config = config.encoder_config
        hidden = enc_config.hidden_size
        self.encoder = _encoder_from_config(enc_config)
        p = config.classifier_dropout
        self.entity_head = TokenTagger(hidden, 1 + 2 * len(config.entity_labels), p)
        self.quote_head = TokenTagger(hidden, 1 + 2 * len(config.quote_types), p)
        self.cue_head = TokenTagger(hidden, 3, p)
        self.source_head = TokenTagger(hidden, 3, p)
        self.attribution = AttributionScorer(hidden, config.attribution_size, config.attribution_feature_size, p)
        self.context = ContextLSTM(hidden, p) if getattr(config, "context_lstm", False) else None
        spec = getattr(config, "lexical_features", None)
        self.lexical = LexicalEmbedding(spec, hidden, p, getattr(config, "lexical_frozen", None) or (),
                                        getattr(config, "lexical_word_dropout", 0.0)) if spec else None
        self.post_init()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_encoder(cls, encoder: str | os.PathLike | PretrainedConfig, encoder_layers: int | None = None,
                     **config_kwargs: Any) -> "KhabarModel":
        """A new model around an encoder: a Hub name or local path (pretrained weights loaded), or a
        ``PretrainedConfig`` (random weights). ``encoder_layers``: keep only the first N transformer
        layers of a pretrained encoder (``num_hidden_layers`` = N; the whole checkpoint is read and
        the higher layers' weights are left out of the new model). ``config_kwargs`` go to :class:`KhabarConfig`; a ``max_length`` beyond the
        encoder's positions is an error, its default is min(512, positions)."""
        if isinstance(encoder, PretrainedConfig):
            if encoder_layers is not None:
                raise EncoderLayersError("encoder_layers cuts a pretrained encoder; for a new one set num_hidden_layers in its config")
            enc_config, pretrained = encoder, None
        else:
            pretrained = _load_pretrained_encoder(str(encoder))
            enc_config = pretrained.config
        enc_dict = enc_config.to_dict()
        if encoder_layers is not None:
            have = enc_dict.get("num_hidden_layers")
            if not isinstance(have, int):
                raise EncoderLayersError(f"{encoder} has no num_hidden_layers in its config: it cannot be cut")
            if not 1 <= encoder_layers <= have:
                raise EncoderLayersError(f"{encoder_layers} layers asked, {encoder} has {have}: pass 1 to {have}")
            enc_dict["num_hidden_layers"] = encoder_layers
        enc_dict["model_type"] = enc_config.model_type
        config_kwargs.setdefault("max_length", min(512, int(enc_dict.get("max_position_embeddings", 512))))
        model = cls(KhabarConfig(encoder=enc_dict, **config_kwargs))
        if pretrained is not None:
            missing, unexpected = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
            if missing:
                raise ValueError(f"encoder weights from {encoder} lack {missing[:5]} ({len(missing)} tensors)")
        return model

    # -- forward ------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        lexical_ids: torch.Tensor | None = None,
        entity_labels: torch.Tensor | None = None,
        quote_labels: torch.Tensor | None = None,
        cue_labels: torch.Tensor | None = None,
        source_labels: torch.Tensor | None = None,
        attr_token_gather: torch.Tensor | None = None,
        attr_quote_spans: torch.Tensor | None = None,
        attr_mention_spans: torch.Tensor | None = None,
        attr_candidates: torch.Tensor | None = None,
        attr_features: torch.Tensor | None = None,
        attr_targets: torch.Tensor | None = None,
        attr_exact: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        return_dict: bool = True,
        **kwargs: Any,  # Trainer extras (e.g. num_items_in_batch): not used, see accepts_loss_kwargs
    ) -> KhabarOutput:
        h = self.encode(input_ids, attention_mask, token_type_ids, lexical_ids)  # (batch, seq, hidden)
        out = KhabarOutput(
            entity_logits=self.entity_head(h),
            quote_logits=self.quote_head(h),
            cue_logits=self.cue_head(h),
            source_logits=self.source_head(h),
            last_hidden_state=h if output_hidden_states else None,
        )
        out.entity_loss = tagging_loss(out.entity_logits, entity_labels)
        out.quote_loss = tagging_loss(out.quote_logits, quote_labels)
        out.cue_loss = tagging_loss(out.cue_logits, cue_labels)
        out.source_loss = tagging_loss(out.source_logits, source_labels)
        if attr_quote_spans is not None and attr_quote_spans.size(0) > 0:
            if attr_token_gather is None or int(attr_token_gather.max()) >= h.size(0) * h.size(1):
                raise ValueError(
                    "attribution tensors do not index this batch: were they split from their windows "
                    "(torch DataParallel over several GPUs)? Run one process per GPU (torchrun) instead"
                )
            states = h.reshape(-1, h.size(-1))[attr_token_gather]  # (T, hidden): whole articles
            scores = self.attribution(states, attr_quote_spans, attr_mention_spans, attr_candidates, attr_features)
            out.attribution_logits = scores
            if attr_targets is not None:
                out.attribution_loss = attribution_loss(scores, attr_targets, attr_exact,
                                                        self.config.attribution_exact_weight)
        w = self.config.loss_weights
        losses = [w[task] * loss for task in ("entity", "quote", "cue", "source", "attribution")
                  if (loss := getattr(out, f"{task}_loss")) is not None]
        if losses:
            out.loss = torch.stack(losses).sum()
        elif any(x is not None for x in (entity_labels, quote_labels, cue_labels, source_labels)):
            # labels given but none present: a zero that still has a graph, so backward() works
            out.loss = h.sum() * 0.0
        return out

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               token_type_ids: torch.Tensor | None = None, lexical_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's last hidden states (batch, seq, hidden), plus the lexical word features and
        through the context LSTM when configured. ``lexical_ids``: (batch, seq, n_attrs) table rows
        (:class:`~khabar.model.features.ArticleEncoder` computes them)."""
        kw: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kw["token_type_ids"] = token_type_ids
        h = self.encoder(**kw).last_hidden_state
        if self.lexical is not None:
            if lexical_ids is None:
                raise ValueError("this model reads lexical word features (config.lexical_features): pass "
                                 "lexical_ids, as ArticleEncoder.encode and khabar.model.inference do")
            h = h + self.lexical(lexical_ids).to(h.dtype)
        if self.context is not None:
            h = self.context(h, attention_mask)
        return h

    # -- inference and saving -----------------------------------------------------------------

    @torch.no_grad()
    def predict(self, texts: list[str], tokenizer: Any, batch_size: int = 16) -> list[Any]:
        """Entities and quotations (with cue, speaker, speaker_name, score) of whole articles;
        character offsets index each text exactly as given. Returns ``khabar.data.Article`` objects."""
        from khabar.gcpause import paused_gc
        from khabar.model.inference import predict

        rules = self._rule_quotes()  # configured rules + model quotations, if any
        with paused_gc():  # the rules' candidates too, not only the model's windows
            # in hybrid mode the model's quotations below hybrid_model_score never reach the output:
            # they are dropped before attribution rather than attributed and then dropped
            articles = predict(self, texts, tokenizer, batch_size=batch_size,
                               min_quote_score=rules.model_score if rules is not None else None)
            return [rules(a) for a in articles] if rules is not None else articles

    def _rule_quotes(self) -> Any:
        """The configured bootstrapper, built once per setting (it reads its lexicon from disk)."""
        from khabar.model.hybrid import RuleQuotes

        key = (self.config.hybrid_rule_confidence, self.config.hybrid_model_score)
        cached = self.__dict__.get("_rules_cache")
        if cached is None or cached[0] != key:
            cached = (key, RuleQuotes.from_config(self.config))
            self.__dict__["_rules_cache"] = cached
        return cached[1]

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """Save config + safetensors weights (no Python object serialisation) and a ``README.md`` model card."""
        if kwargs.get("safe_serialization") is False:
            raise ValueError("KhabarModel saves safetensors only; drop safe_serialization=False")
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            from khabar.model.card import write_model_card

            write_model_card(self.config, save_directory)
        return result


class EncoderLayersError(ValueError):
    """``encoder_layers`` that the encoder cannot give."""


def _encoder_from_config(enc_config: PretrainedConfig) -> PreTrainedModel:
    try:  # BERT-family models have a pooler we never use: leave it out (no unused weights)
        return AutoModel.from_config(enc_config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(enc_config)


def _load_pretrained_encoder(name_or_path: str) -> PreTrainedModel:
    try:
        return AutoModel.from_pretrained(name_or_path, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(name_or_path)
