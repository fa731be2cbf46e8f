"""`KhabarConfig`: the encoder's config (nested dict) plus labels, windows, heads and loss weights."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PretrainedConfig

from khabar.data.article import ENTITY_LABELS, QUOTE_TYPES

TASKS = ("entity", "quote", "cue", "source", "attribution")

# Window bounds, shared with the YAML config check of `khabar train` (training/config.py).
MIN_MAX_LENGTH = 8


def max_window_overlap(max_length: int) -> int:
    """The largest overlap a window of ``max_length`` tokens ([CLS]/[SEP] included) may have: half
    of its content, so that consecutive windows always advance."""
    return (max_length - 2) // 2


class KhabarConfig(PretrainedConfig):
    """Configuration of :class:`~khabar.model.modeling.KhabarModel`.

    ``encoder`` is the full ``to_dict()`` of a BERT-family config (it carries its own ``model_type``),
    so one ``config.json`` describes the whole model and no remote code is ever needed to rebuild it.
    """

    model_type = "khabar"

    encoder: dict[str, Any] | None = None
    entity_labels: tuple[str, ...] | list[str] = ENTITY_LABELS
    quote_types: tuple[str, ...] | list[str] = QUOTE_TYPES
    # Window length in tokens, [CLS] and [SEP] included (a window, not a truncation: nothing is cut).
    max_length: int = 512
    window_overlap: int = 64
    classifier_dropout: float = 0.1
    attribution_size: int = 128
    attribution_feature_size: int = 32
    # Weight of the auxiliary loss on the annotated speaker mention itself (beside the marginal
    # over all mentions of its source): the output then points at the mention in the quote's sentence.
    attribution_exact_weight: float = 0.1
    # Speaker candidates: "sources" = source mentions (gold speaker spans in training, the source
    # head's mentions at inference); "sources+entities" adds PER/ORG entities (gold ones in
    # training when the article has an entity layer, predicted ones at inference). Predicted
    # entities always help to name a source (its fullest form), whichever is chosen.
    attribution_candidates: str = "sources"
    # A bidirectional LSTM over the encoder's states, added to them (residual) before every head.
    # Off for pretrained encoders; a small encoder trained on little labelled data learns local
    # sequence patterns (entity boundaries) much faster with it.
    context_lstm: bool = False
    # Hashed word-level embeddings (khabar.model.lexical) added to the encoder's states before the
    # context LSTM and the heads: ``true`` = the default tables, or {attr: [rows, dim]}; null = off.
    lexical_features: Any = None
    # Attributes of lexical_features that also get a frozen table on the same rows (skip-gram
    # vectors): a list (same width as the trainable table) or {attr: width}.
    lexical_frozen: Any = None
    # Training only: the probability that a token's trainable lexical rows are blanked (word dropout).
    lexical_word_dropout: float = 0.0
    # Decoding: join a predicted entity to the one right before it when both have the same label
    # and it does not begin with و (khabar.model.decoding.merge_adjacent).
    entity_merge_adjacent: bool = False
    # Decoding entities: "viterbi" = the best valid BIO sequence (a name keeps one type), "greedy" =
    # each word's own best tag with the lenient rule (khabar.model.decoding).
    entity_decoding: str = "viterbi"
    # Quotations from rules + model (khabar.model.hybrid): None = the model's own; a number = the
    # bootstrapper's quotations of at least this confidence, plus the model's quotations (score >=
    # hybrid_model_score) that overlap none of them.
    hybrid_rule_confidence: float | None = None
    hybrid_model_score: float = 0.0
    loss_weights: dict[str, float] | None = None
    # Set by the trainer (hyper-parameters, data, scores) and rendered in the model card.
    training_summary: dict[str, Any] | None = None
    # Extra model-card metadata: {"datasets": [...], "metrics": [...], "tags": [...], "base_model": ...}.
    card: dict[str, Any] | None = None
    initializer_range: float | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        self.encoder = dict(self.encoder) if self.encoder is not None else {"model_type": "bert"}
        if "model_type" not in self.encoder:
            raise ValueError("KhabarConfig(encoder=...): the encoder dict needs a 'model_type' (e.g. 'bert')")
        self.entity_labels = list(self.entity_labels)
        self.quote_types = list(self.quote_types)
        self.max_length = int(self.max_length)
        self.window_overlap = int(self.window_overlap)
        weights = {task: 1.0 for task in TASKS}
        unknown = set(self.loss_weights or {}) - set(TASKS)
        if unknown:
            raise ValueError(f"KhabarConfig(loss_weights=...): unknown task(s) {sorted(unknown)}; tasks are {list(TASKS)}")
        weights.update({k: float(v) for k, v in (self.loss_weights or {}).items()})
        self.loss_weights = weights
        self.card = dict(self.card or {})
        if self.attribution_candidates not in ("sources+entities", "sources"):
            raise ValueError(
                f"KhabarConfig: attribution_candidates={self.attribution_candidates!r}; "
                "use 'sources+entities' or 'sources'"
            )
        from khabar.model.lexical import lexical_spec

        spec = lexical_spec(self.lexical_features)
        self.lexical_features = {a: list(rd) for a, rd in spec.items()} if spec else None
        if self.entity_decoding not in ("viterbi", "greedy"):
            raise ValueError(f"KhabarConfig: entity_decoding={self.entity_decoding!r}; use 'viterbi' or 'greedy'")
        if isinstance(self.lexical_frozen, str):
            raise ValueError(f"KhabarConfig: lexical_frozen={self.lexical_frozen!r}; give a list of attributes "
                             f"(e.g. [{self.lexical_frozen!r}]) or a mapping attribute -> width")
        if not 0.0 <= float(self.lexical_word_dropout) <= 1.0:
            raise ValueError(f"KhabarConfig: lexical_word_dropout={self.lexical_word_dropout} must be in [0, 1]")
        if self.initializer_range is None:
            self.initializer_range = float(self.encoder.get("initializer_range", 0.02))
        super().__post_init__(**kwargs)
        self._validate_windows()

    def _validate_windows(self) -> None:
        max_pos = self.encoder.get("max_position_embeddings")
        if max_pos is not None and self.max_length > max_pos:
            raise ValueError(
                f"KhabarConfig: max_length={self.max_length} exceeds the encoder's max_position_embeddings={max_pos}; "
                f"set max_length <= {max_pos}"
            )
        if self.max_length < MIN_MAX_LENGTH:
            raise ValueError(f"KhabarConfig: max_length={self.max_length} is too small (need >= {MIN_MAX_LENGTH})")
        if not 0 <= self.window_overlap <= max_window_overlap(self.max_length):
            raise ValueError(
                f"KhabarConfig: window_overlap={self.window_overlap} must be in [0, {max_window_overlap(self.max_length)}] "
                f"(at most half of a window of max_length={self.max_length})"
            )

    @property
    def encoder_config(self) -> PretrainedConfig:
        """The encoder's own config object (``BertConfig`` etc.), rebuilt from the nested dict."""
        enc = dict(self.encoder)
        return AutoConfig.for_model(enc.pop("model_type"), **enc)

    # Label schemes (the order defines the ids; see khabar.model.features for the tag strings).
    @property
    def entity_tags(self) -> list[str]:
        return ["O"] + [f"{p}-{label}" for label in self.entity_labels for p in ("B", "I")]

    @property
    def quote_tags(self) -> list[str]:
        return ["O"] + [f"{p}-{qtype}" for qtype in self.quote_types for p in ("B", "I")]
