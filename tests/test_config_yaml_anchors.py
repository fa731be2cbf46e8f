"""YAML anchors and merge keys in a training config: the duplicate-key check must not refuse them
(``<<: *anchor`` then an overriding key is YAML's way to reuse a block, not a key written twice)."""

from __future__ import annotations

import pytest

from khabar.training.config import ConfigError, load_config

CONFIG = """\
output_dir: {out}
model:
  encoder_config: {{model_type: bert, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}}
  tokenizer: {tok}
  max_length: 32
  window_overlap: 8
data:
  sources:
    # one file, a train part and a held-out part: the second item reuses the first
    - &conll {{kind: conll, path: {conll}, split: train, limit: 3}}
    - <<: *conll
      split: eval
      skip: 3
      limit: null
training:
  batch_size: 4
"""


def write(tmp_path, text):
    (tmp_path / "train.conll").write_text("زار O\nماكرون B-PER\nالجزائر B-LOC\n", encoding="utf-8")
    (tmp_path / "tok").mkdir(exist_ok=True)
    path = tmp_path / "c.yaml"
    path.write_text(text.format(out=tmp_path / "run", tok=tmp_path / "tok", conll=tmp_path / "train.conll"), encoding="utf-8")
    return path


def test_a_merge_key_with_overrides_loads(tmp_path):
    cfg = load_config(write(tmp_path, CONFIG), check_files=False)
    train, held_out = cfg.data.sources
    assert (train.split, train.skip, train.limit) == ("train", 0, 3)
    assert (held_out.split, held_out.skip, held_out.limit, held_out.kind) == ("eval", 3, None, "conll")
    assert held_out.path == train.path


def test_a_key_written_twice_is_still_refused(tmp_path):
    twice = CONFIG.replace("  batch_size: 4\n", "  batch_size: 4\n  batch_size: 8\n")
    with pytest.raises(ConfigError, match="'batch_size' written twice"):
        load_config(write(tmp_path, twice), check_files=False)
    in_merged_item = CONFIG.replace("      skip: 3\n", "      skip: 3\n      skip: 4\n")
    with pytest.raises(ConfigError, match="'skip' written twice"):
        load_config(write(tmp_path, in_merged_item), check_files=False)
