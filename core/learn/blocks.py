"""The two blocks the layer specs can name, as PyTorch modules (imports torch).

:mod:`core.learn.build` builds them from a spec and copies this very source text into the
PyTorch code it writes, so the module a user copies is the module the app builds.
"""

from torch import nn


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the skip path, then ReLU."""

    def __init__(self, in_channels, out_channels, stride=1, dims=2):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm(out_channels)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            # the skip path must match the main path's shape: a 1x1 conv and BN
            self.downsample = nn.Sequential(
                conv(in_channels, out_channels, 1, stride=stride, bias=False),
                norm(out_channels),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SeparableBlock(nn.Module):
    """MobileNet block: depthwise kxk conv-BN-ReLU, then pointwise 1x1 conv-BN-ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dims=2):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.depthwise = conv(
            in_channels, in_channels, kernel_size, stride=stride,
            padding=kernel_size // 2, groups=in_channels, bias=False,
        )  # fmt: skip
        self.bn1 = norm(in_channels)
        self.pointwise = conv(in_channels, out_channels, 1, bias=False)
        self.bn2 = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.bn1(self.depthwise(x)))
        return self.relu(self.bn2(self.pointwise(x)))
