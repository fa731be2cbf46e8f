"""The generated model card's metadata names what the model learnt from, not what scored it."""

from __future__ import annotations

from types import SimpleNamespace

from khabar.model.card import card_metadata


def _config(**card):
    summary = {"data": [
        {"path": "${shared}/data/anercorp-camel/train.txt", "split": "train"},
        {"path": "${shared}/data/aqmar/dev.txt", "split": "train"},
        {"path": "${shared}/data/aqmar/train.txt", "split": "train"},
        {"path": "${shared}/data/quotes-dev/quotes-dev.gold.jsonl", "split": "eval"},
    ]}
    return SimpleNamespace(card=card, training_summary=summary)


def test_datasets_are_the_training_sources_only():
    assert card_metadata(_config())["datasets"] == ["anercorp-camel", "aqmar"]


def test_datasets_given_in_the_config_win():
    assert card_metadata(_config(datasets=["org/name"]))["datasets"] == ["org/name"]
