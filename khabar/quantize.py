"""The fast paths: int8 weights for every ``nn.Linear`` (CPU), and bfloat16 weights.

``quantize_int8`` stores each Linear layer's weights as int8 (symmetric, one scale per output
row: a quarter of their float32 size) and picks how the products run from what the CPU does fast:

- ``scheme="dynamic"`` (W8A8): torch's dynamic quantisation; activations are quantised on the fly
  per batch and the products run in int8 (oneDNN on CPUs with AMX int8 tiles, ``x86``/fbgemm on
  other Intel/AMD CPUs, ``qnnpack`` on ARM). Needs no calibration data and no retraining. This is
  the int8 scheme on CPUs without fast bfloat16, where int8 products are several times faster
  than float32 ones.
- ``scheme="weight_only"`` (W8A16): the int8 weights are dequantised to the activations' dtype in
  each call (a (out, in) matrix: tiny next to the (tokens, in) activations) and the product runs
  in that dtype. On CPUs with AVX512-BF16/AMX, where the rest of the model runs in bfloat16, this
  is faster than the dynamic int8 kernels: measured on such a CPU at 1 thread, (4000 x 256) @
  (256 x 1024): bf16 on AMX 1.8 ms, oneDNN dynamic int8 2.3 ms (quantising the activations, the
  int8 product, the float32 result), x86/fbgemm dynamic int8 5.7 ms, float32 13.9 ms; and the
  dynamic layers take float32 in and give float32 out, so a bf16 model paid for a cast on each
  side (about 12 % of the int8 path's time). Whole analyzer, 64 articles, 1 thread: weight-only
  0.62 s, the same as plain bf16 (0.62 s), dynamic int8 with a bf16 rest 0.81 s.

``scheme="auto"`` (the default): weight-only where the rest runs in bfloat16, dynamic elsewhere.

``rest``: everything that is not a Linear layer (embeddings, attention, LayerNorm, GELU, the
BiLSTM) runs in bfloat16 on CPUs with fast bf16 (``"auto"``), else in float32: with int8 Linear
layers those are most of what is left (float32 attention alone took as long as all the int8
products). Either way the int8 weights are quantised from the float32 ones, never from bf16.

bf16: the model's weights are cast to bfloat16 (no autocast: casting fp32 weights on every call
costs more than the product on small matrices); the attribution scorer keeps its float32 sums.

torch 2.13 still ships ``torch.ao.quantization.quantize_dynamic`` (with a deprecation notice
pointing at ``torchao``, which is not a dependency of khabar); the warnings are silenced here
because users can do nothing about them.
"""

from __future__ import annotations

import platform
import warnings
from typing import Any, Callable

import torch
from torch import nn


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def int8_engine() -> str:
    """The quantised kernel backend for this CPU: oneDNN where there are AMX int8 tiles,
    x86/fbgemm on other Intel/AMD CPUs, qnnpack on ARM."""
    engines = torch.backends.quantized.supported_engines
    if "onednn" in engines and "amx_int8" in cpu_flags():
        return "onednn"
    for name in ("x86", "fbgemm", "qnnpack", "onednn"):
        if name in engines:
            return name
    raise RuntimeError(f"this torch build has no int8 CPU kernels (quantized engines: {engines}); run without --quantize")


def quantize_int8(model: nn.Module, rest: str = "auto", scheme: str = "auto") -> nn.Module:
    """Return ``model`` with each ``nn.Linear`` replaced by an int8 one (in place; CPU only).

    ``rest``: the dtype of everything else: ``"auto"`` (bfloat16 where this CPU has fast bf16
    products, else float32), ``"bf16"`` or ``"float32"``. ``scheme``: ``"dynamic"`` (int8
    products, activations quantised per batch), ``"weight_only"`` (int8 weights, products in the
    rest's dtype) or ``"auto"`` (weight-only with a bf16 rest, dynamic with a float32 one; see
    the module's docstring for why). Methods of the model (``predict``, ``forward``) keep
    working: only leaf modules are swapped.
    """
    if rest not in ("auto", "bf16", "float32"):
        raise ValueError(f"rest={rest!r}: pass 'auto', 'bf16' or 'float32'")
    if scheme not in ("auto", "dynamic", "weight_only"):
        raise ValueError(f"scheme={scheme!r}: pass 'auto', 'dynamic' or 'weight_only'")
    if rest == "auto":
        rest = "bf16" if bf16_supported(torch.device("cpu")) else "float32"
    if scheme == "auto":
        scheme = "weight_only" if rest == "bf16" else "dynamic"
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 quantisation runs on CPU; move the model to CPU first (device='cpu')")
    dtype = torch.bfloat16 if rest == "bf16" else torch.float32
    model.eval()
    if scheme == "weight_only":
        # quantised from the float32 weights, before the rest is cast
        layers = _swap_children(model, lambda child: type(child) is nn.Linear, WeightOnlyInt8Linear)
        scales = [m.scale for m in layers]
        model.to(dtype)
        for m, scale in zip(layers, scales):
            m.scale = scale  # the per-row scales stay float32 whatever the rest's dtype
        quantized = model
    else:
        engine = int8_engine()
        if torch.backends.quantized.engine != engine:
            torch.backends.quantized.engine = engine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from torch.ao.quantization import quantize_dynamic

            quantized = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
        if rest == "bf16":
            # quantised from the float32 weights first, so the int8 weights never see bf16 rounding
            from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

            _swap_children(quantized, lambda child: isinstance(child, DynamicLinear),
                           lambda child: Int8Linear(child, torch.bfloat16))
            quantized.to(torch.bfloat16)
    quantized.khabar_quantized = "int8"  # type: ignore[attr-defined]
    quantized.khabar_rest_dtype = rest  # type: ignore[attr-defined]
    quantized.khabar_int8_scheme = scheme  # type: ignore[attr-defined]
    return quantized


class WeightOnlyInt8Linear(nn.Module):
    """A Linear layer with int8 weights (symmetric, one float32 scale per output row), dequantised
    to the input's dtype in each call; the bias is kept as a float (cast with the model)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()  # (out, in)
        scale = w.abs().amax(1).clamp(min=torch.finfo(torch.float32).tiny) / 127  # (out,)
        self.register_buffer("qweight", torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        return (self.qweight.float() * self.scale.unsqueeze(1)).to(dtype)  # (out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias if self.bias is None or self.bias.dtype == x.dtype else self.bias.to(x.dtype)
        return nn.functional.linear(x, self.dequantized(x.dtype), bias)  # (..., out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights"


def _swap_children(model: nn.Module, pick: Callable[[nn.Module], bool],
                   make: Callable[[Any], nn.Module]) -> list[nn.Module]:
    """Replace every submodule ``pick`` chooses by ``make(submodule)`` (in place); the new modules."""
    swapped = []
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if pick(child):
                new = make(child)
                setattr(module, name, new)
                swapped.append(new)
    return swapped


class Int8Linear(nn.Module):
    """A dynamic int8 Linear inside a model of another dtype: float32 in (what the int8 kernels
    take), ``dtype`` out."""

    def __init__(self, linear: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.linear = linear
        self.dtype = dtype
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.float()).to(self.dtype)  # (..., out_features)


def is_quantized(model: nn.Module) -> bool:
    return getattr(model, "khabar_quantized", None) == "int8"


def to_bf16(model: nn.Module) -> nn.Module:
    """Cast every floating-point weight of ``model`` to bfloat16 (in place)."""
    model.to(torch.bfloat16)
    model.khabar_quantized = "bf16"  # type: ignore[attr-defined]
    return model


def bf16_supported(device: torch.device) -> bool:
    """Whether bfloat16 is fast here: any CUDA GPU with bf16, or a CPU with AVX512-BF16/AMX.

    Without those instructions bf16 runs *slower* than fp32 on a CPU, so it is refused there.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        mkldnn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
    if mkldnn_bf16 and platform.machine().lower() in ("x86_64", "amd64"):
        # oneDNN's check passes any AVX-512 CPU (bf16 emulated there, slower than float32): ask
        # torch for the instructions themselves where it can tell
        avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        if avx512_bf16 is not None and amx is not None:
            return bool(avx512_bf16() or amx())
    return mkldnn_bf16
