"""Inference fast paths give what the plain paths give: the unpacked BiLSTM, the bf16/int8 set-ups."""

from __future__ import annotations

import torch

from khabar.model.heads import ContextLSTM, reverse_rows


def test_reverse_rows_reverses_within_each_length():
    x = torch.arange(12).view(2, 6, 1)
    out = reverse_rows(x, torch.tensor([6, 3])).squeeze(-1)
    assert out.tolist() == [[5, 4, 3, 2, 1, 0], [8, 7, 6, 9, 10, 11]]


def test_unpacked_bilstm_equals_the_packed_one():
    torch.manual_seed(0)
    ctx = ContextLSTM(16, 0.1).eval()
    x = torch.randn(4, 9, 16)  # (batch, seq, hidden)
    mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4, [1] + [0] * 8, [1] * 8 + [0]])
    with torch.no_grad():
        fast = ctx(x, mask)  # the inference path
        full = ctx(x, torch.ones_like(mask))  # no padding: plain flips
    with torch.enable_grad():
        packed = ctx(x, mask).detach()  # the training path
        packed_full = ctx(x, torch.ones_like(mask)).detach()
    torch.testing.assert_close(fast, packed, atol=1e-6, rtol=1e-5)  # padded steps included (= x there)
    torch.testing.assert_close(full, packed_full, atol=1e-6, rtol=1e-5)
