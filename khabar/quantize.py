"""The fast paths: int8 dynamic quantisation of every ``nn.Linear`` (CPU), and bfloat16 weights.

Dynamic quantisation stores Linear weights as int8 and quantises activations on the fly per
batch, so it needs no calibration data and no retraining. On a BERT-base-sized encoder on CPU,
the Linear layers are most of the time, and int8 matrix products are several times faster than
fp32 ones; embeddings and LayerNorms stay fp32, which keeps the accuracy loss small.

The int8 kernels come from oneDNN on CPUs with AMX int8 tiles (Xeon Sapphire Rapids and later):
measured on such a CPU, 1 thread, Linear layers of a 4x256 encoder at (1000..4000, 256..1024):
oneDNN 1.9-4.2x faster than the ``x86``/``fbgemm`` engine (whole encoder: 0.73 s vs 0.97 s on
the same batches). Elsewhere ``x86`` (fbgemm) on Intel/AMD, ``qnnpack`` on ARM.

On CPUs with fast bfloat16 (AVX512-BF16/AMX) everything that is not a Linear layer (embeddings,
attention, LayerNorm, GELU, the BiLSTM) then runs in bfloat16 instead of float32: with int8
Linear layers those are most of what is left (float32 attention alone took as long as all the
int8 products). Each int8 Linear takes its input as float32 (what the dynamic int8 kernels
accept) and hands bfloat16 on. Measured on the shipped model's batches, 1 thread: encoder pass
1.39-1.58 s (int8, rest float32) vs 1.01-1.09 s (int8, rest bf16); encoder states cosine 0.9998
to float32 either way. ``quantize_int8(model, rest="float32")`` keeps the float32 rest.

bf16: the model's weights are cast to bfloat16 (no autocast: casting fp32 weights on every call
costs more than the product on small matrices); the attribution scorer keeps its float32 sums.

torch 2.13 still ships ``torch.ao.quantization.quantize_dynamic`` (with a deprecation notice
pointing at ``torchao``, which is not a dependency of khabar); the warnings are silenced here
because users can do nothing about them.
"""

from __future__ import annotations

import platform
import warnings

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


def quantize_int8(model: nn.Module, rest: str = "auto") -> nn.Module:
    """Return ``model`` with each ``nn.Linear`` replaced by a dynamic int8 Linear (in place; CPU only).

    ``rest``: the dtype of everything else: ``"auto"`` (bfloat16 where this CPU has fast bf16
    products, else float32), ``"bf16"`` or ``"float32"``. Methods of the model (``predict``,
    ``forward``) keep working: only leaf modules are swapped.
    """
    if rest not in ("auto", "bf16", "float32"):
        raise ValueError(f"rest={rest!r}: pass 'auto', 'bf16' or 'float32'")
    if rest == "auto":
        rest = "bf16" if bf16_supported(torch.device("cpu")) else "float32"
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 dynamic quantisation runs on CPU; move the model to CPU first (device='cpu')")
    engine = int8_engine()
    if torch.backends.quantized.engine != engine:
        torch.backends.quantized.engine = engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import quantize_dynamic

        model.eval()
        quantized = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    if rest == "bf16":
        # quantised from the float32 weights first, so the int8 weights never see bf16 rounding
        _wrap_int8_linears(quantized, torch.bfloat16)
        quantized.to(torch.bfloat16)
    quantized.khabar_quantized = "int8"  # type: ignore[attr-defined]
    quantized.khabar_rest_dtype = rest  # type: ignore[attr-defined]
    return quantized


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


def _wrap_int8_linears(model: nn.Module, dtype: torch.dtype) -> None:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, DynamicLinear):
                setattr(module, name, Int8Linear(child, dtype))


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
