"""Export a trained model to ONNX, and check the export by running it.

The check runs the exported graph in onnxruntime on a random input and compares it with
PyTorch's output on the same input.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from core.errors import UserInputError


@dataclass(frozen=True)
class OnnxExport:
    data: bytes  # the .onnx file
    max_abs_diff: float  # onnxruntime against PyTorch on the same random input
    checked_with: str


def to_onnx(model, input_shape: tuple[int, ...], *, seed: int = 0) -> OnnxExport:
    """Export ``model`` (reading one example of ``input_shape``) and check it."""
    import torch

    model = model.eval().cpu()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, *input_shape, generator=gen)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.onnx")
            program = torch.onnx.export(model, (x,), dynamo=True, input_names=["input"],
                                        output_names=["logits"], verbose=False)  # fmt: skip
            program.save(path)
            with open(path, "rb") as fh:
                data = fh.read()
    except Exception as err:  # noqa: BLE001 - the exporter raises many kinds of errors
        raise UserInputError(
            f"This model could not be exported to ONNX ({type(err).__name__}: {err})."
        ) from None
    with torch.no_grad():
        ref = model(x).numpy()
    try:
        import onnxruntime as ort
    except ImportError:
        import onnx

        onnx.checker.check_model(onnx.load_from_string(data))
        return OnnxExport(data, float("nan"), "onnx.checker (onnxruntime is not installed)")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return OnnxExport(data, float(np.abs(out - ref).max()), f"onnxruntime {ort.__version__}")
