"""ONNX export: the exported graph computes what the PyTorch model computes."""

import numpy as np
import onnxruntime as ort
import torch

from core.learn.build import build_model
from core.learn.export import to_onnx


def test_exported_model_matches_torch_on_new_inputs():
    spec = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
            {"type": "global_avg_pool"}, {"type": "linear", "out_features": 3}]  # fmt: skip
    torch.manual_seed(0)
    model = build_model(spec, (1, 12, 12), logits=True).eval()
    exp = to_onnx(model, (1, 12, 12))
    assert exp.max_abs_diff < 1e-5 and exp.checked_with.startswith("onnxruntime")
    session = ort.InferenceSession(exp.data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(1, 1, 12, 12)).astype(np.float32)
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, model(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
