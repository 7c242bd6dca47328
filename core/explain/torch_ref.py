"""PyTorch's answer for the same numbers, for the pages' "Check against PyTorch".

torch is imported inside each function, only when a check is asked for: the explainer
pages must start without paying torch's import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.explain.conv import resolve_padding

_F_PAD_MODE = {
    "zeros": "constant",
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


@dataclass(frozen=True)
class Check:
    """PyTorch's output, ours, the largest absolute difference and the call that was made."""

    torch_output: np.ndarray
    our_output: np.ndarray
    max_abs_diff: float
    call: str

    @property
    def agrees(self) -> bool:
        return self.max_abs_diff <= 1e-9 * max(1.0, float(np.abs(self.torch_output).max(initial=0)))


def _tuple(v, nd):
    return (int(v),) * nd if isinstance(v, (int, np.integer)) else tuple(int(i) for i in v)


def check_conv(
    x,
    w,
    bias,
    ours: np.ndarray,
    *,
    stride=1,
    padding=0,
    padding_mode="zeros",
    pad_value=0.0,
    dilation=1,
) -> Check:
    """Run F.pad + F.conv1d/conv2d in float64 on the same numbers and compare with ``ours``."""
    import torch
    import torch.nn.functional as F

    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    nd = x.ndim - 1
    stride_t, dil_t = _tuple(stride, nd), _tuple(dilation, nd)
    pads = resolve_padding(padding, w.shape[2:], dil_t, stride_t)
    flat = [v for pair in reversed(pads) for v in pair]  # F.pad starts from the last axis
    xt = torch.from_numpy(x)[None]  # (1, C, *S)
    value = pad_value if padding_mode == "constant" else 0.0
    if any(flat):
        mode = _F_PAD_MODE[padding_mode]
        xt = (
            F.pad(xt, flat, mode=mode, value=value)
            if mode == "constant"
            else F.pad(xt, flat, mode=mode)
        )
    fn = F.conv2d if nd == 2 else F.conv1d
    b = None if bias is None else torch.from_numpy(np.asarray(bias, dtype=np.float64))
    out = fn(xt, torch.from_numpy(w), b, stride=stride_t, dilation=dil_t)[0].numpy()
    mode_txt = f"'{_F_PAD_MODE[padding_mode]}'" + (
        f", value={value:g}" if padding_mode == "constant" else ""
    )
    call = (
        f"F.conv{nd}d(F.pad(x, {flat}, mode={mode_txt}), w, b, stride={stride_t}, dilation={dil_t})"
    )
    return Check(out, ours, float(np.abs(out - ours).max()), call)


def check_pool(
    x,
    ours: np.ndarray,
    *,
    kind: str,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    count_include_pad=True,
) -> Check:
    """Run F.max_pool / F.avg_pool (1-D or 2-D) on the same numbers and compare with ``ours``."""
    import torch
    import torch.nn.functional as F

    x = np.asarray(x, dtype=np.float64)
    nd = x.ndim - 1
    xt = torch.from_numpy(x)[None]
    if kind == "max":
        fn = F.max_pool2d if nd == 2 else F.max_pool1d
        out = fn(xt, kernel_size, stride=stride, padding=padding, dilation=dilation)
        call = (
            f"F.max_pool{nd}d(x, kernel_size={kernel_size}, stride={stride}, "
            f"padding={padding}, dilation={dilation})"
        )
    else:
        fn = F.avg_pool2d if nd == 2 else F.avg_pool1d
        out = fn(
            xt, kernel_size, stride=stride, padding=padding, count_include_pad=count_include_pad
        )
        call = (
            f"F.avg_pool{nd}d(x, kernel_size={kernel_size}, stride={stride}, "
            f"padding={padding}, count_include_pad={count_include_pad})"
        )
    out = out[0].numpy()
    return Check(out, ours, float(np.abs(out - ours).max()), call)


def check_conv_transpose(x, kernel, bias: float, ours: np.ndarray, *, stride: int, padding: int,
                         output_padding: int, dilation: int) -> Check:  # fmt: skip
    """Run F.conv_transpose2d in float64 on one (H, W) input and one kernel; compare."""
    import torch
    import torch.nn.functional as F

    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))[None, None]
    kt = torch.from_numpy(np.asarray(kernel, dtype=np.float64))[None, None]
    b = torch.tensor([float(bias)], dtype=torch.float64)
    out = F.conv_transpose2d(xt, kt, b, stride=stride, padding=padding,
                             output_padding=output_padding, dilation=dilation)[0, 0].numpy()  # fmt: skip
    call = (
        f"F.conv_transpose2d(x, w, b, stride={stride}, padding={padding}, "
        f"output_padding={output_padding}, dilation={dilation})"
    )
    diff = float(np.abs(out - ours).max()) if out.shape == ours.shape else float("inf")
    return Check(out, ours, diff, call)
