"""The fast path: int8 dynamic quantisation of a model's Linear layers, per token and per channel.

torch's dynamic quantisation picks one activation scale per input tensor, which one outlier token
ruins (mean cosine 0.977 to the float model on e5-small). Each row is therefore scaled to unit
max-abs before the int8 matmul and the output scaled back: a per-token scale, with per-output-channel
weight scales (mean cosine 0.998 to the float model). Imports torch: import this module lazily.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic


class RowScaledInt8Linear(nn.Module):
    """``nn.Linear`` with int8 weights (per output channel) and per-row int8 activations."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        inner = nn.Linear(linear.in_features, linear.out_features, bias=False)
        inner.weight = linear.weight
        with warnings.catch_warnings():  # torch.ao eager quantisation is deprecated, still shipped
            warnings.simplefilter("ignore")
            self.inner = quantize_dynamic(nn.Sequential(inner), {nn.Linear: per_channel_dynamic_qconfig})[0]
        bias = linear.bias if linear.bias is not None else torch.zeros(linear.out_features)
        self.register_buffer("bias", bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
        return self.inner(x / scale) * scale + self.bias


def quantize_linears(module: nn.Module) -> int:
    """Replace every ``nn.Linear`` inside ``module`` in place; return how many were replaced."""
    targets = [(parent, name, child) for parent in module.modules()
               for name, child in parent.named_children() if type(child) is nn.Linear]  # fmt: skip
    for parent, name, child in targets:
        setattr(parent, name, RowScaledInt8Linear(child))
    return len(targets)
