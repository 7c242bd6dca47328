"""Ready-made numbers for the convolution and pooling pages: the textbook's examples and
the classic hand-made kernels (what a CNN's first layer often ends up learning by itself).
"""

from __future__ import annotations

import numpy as np

EDGE_INPUT = np.array(
    [
        [0, 0, 0, 0, 9, 9, 9],
        [0, 0, 0, 0, 9, 9, 9],
        [0, 0, 0, 0, 9, 9, 9],
        [0, 0, 0, 9, 9, 9, 9],
        [0, 0, 9, 9, 9, 9, 9],
        [0, 0, 9, 9, 9, 9, 9],
        [0, 0, 9, 9, 9, 9, 9],
    ],
    dtype=float,
)

KERNELS: dict[str, np.ndarray] = {
    "Identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float),
    "Box blur": np.full((3, 3), 1 / 9),
    "Sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "Sobel x (vertical edges)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "Sobel y (horizontal edges)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
}

KERNEL_TEXT = {"Box blur": "1/9 1/9 1/9\n1/9 1/9 1/9\n1/9 1/9 1/9"}

TEXTBOOK_CONV = "Textbook worked example (3x3 input, 2x2 kernel)"
RANDOM = "Random integers"
CONV_PRESETS = [TEXTBOOK_CONV, *KERNELS, RANDOM]


def conv_preset(
    name: str, *, rows: int = 6, cols: int = 6, krows: int = 3, kcols: int = 3, seed: int = 0
) -> dict:
    """Input, kernel and settings of a convolution preset, as plain arrays and numbers."""
    settings = {
        "stride": (1, 1),
        "padding": (0, 0),
        "padding_kind": "amount",
        "padding_mode": "zeros",
        "dilation": (1, 1),
        "bias": 0.0,
    }
    if name == TEXTBOOK_CONV:
        x = np.arange(1, 10, dtype=float).reshape(3, 3)
        k = np.array([[1, 0], [0, 1]], dtype=float)
    elif name == RANDOM:
        rng = np.random.default_rng(seed)
        x = rng.integers(-3, 10, size=(rows, cols)).astype(float)
        k = rng.integers(-2, 3, size=(krows, kcols)).astype(float)
    elif name in KERNELS:
        x = EDGE_INPUT.copy()
        k = KERNELS[name]
    else:
        raise KeyError(name)
    return {"input": x, "kernel": k, **settings}


TEXTBOOK_POOL = "Textbook average pooling (4x4, 2x2 window, stride 2)"
POOL_PRESETS = {
    TEXTBOOK_POOL: {
        "input": np.arange(1, 17, dtype=float).reshape(4, 4),
        "mode": "avg",
        "size": 2,
        "stride": 2,
        "padding": 0,
    },
    "Max pooling on the same numbers": {
        "input": np.arange(1, 17, dtype=float).reshape(4, 4),
        "mode": "max",
        "size": 2,
        "stride": 2,
        "padding": 0,
    },
    "Overlapping max pooling (3x3, stride 2, padding 1)": {
        "input": np.array(
            [
                [1, 3, 2, 0, 1, 4],
                [5, 6, 1, 2, 0, 1],
                [0, 2, 9, 4, 3, 1],
                [1, 0, 3, 7, 2, 2],
                [4, 1, 0, 2, 8, 0],
                [2, 2, 1, 0, 3, 5],
            ],
            dtype=float,
        ),
        "mode": "max",
        "size": 3,
        "stride": 2,
        "padding": 1,
    },
}

TEXTBOOK_1D = "Textbook 1-D (25 samples, 9-sample kernel)"


def textbook_1d() -> tuple[np.ndarray, np.ndarray]:
    """The 25-sample input and 9-sample kernel of the textbook's 1-D figures."""
    x = np.round(np.sin(np.arange(25) * 2 * np.pi / 12) * 4)  # (25,) a slow wave in whole numbers
    k = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1], dtype=float) / 9  # (9,) a moving average
    return x, k
