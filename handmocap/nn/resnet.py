"""ResNet encoder in plain torch (torchvision does not work with this torch build).

He et al. 2016 bottleneck ResNet; `resnet50()` is layers (3, 4, 6, 3), base width 64,
2048 output channels at stride 32. Smaller configurations (fewer blocks, narrower) serve
the CPU tests. Input: (B, C, H, W) images (C = 3, or 3 + 21 with keypoint heat-maps).
"""
from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride), 1x1 expand (x4), batch norm, residual."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn3.weight)  # residual branches start at zero (Goyal et al.)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ResNet(nn.Module):
    """Bottleneck ResNet trunk: (B, in_channels, H, W) -> (B, out_channels, H/32, W/32)."""

    def __init__(self, layers=(3, 4, 6, 3), width: int = 64, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], width
        for i, n in enumerate(layers):
            w = width * 2 ** i
            blocks = [Bottleneck(cin, w, 1 if i == 0 else 2)]
            cin = w * Bottleneck.expansion
            blocks += [Bottleneck(cin, w) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


def resnet50(in_channels: int = 3) -> ResNet:
    """ResNet-50 trunk (randomly initialised; no pretrained weights are downloaded)."""
    return ResNet((3, 4, 6, 3), 64, in_channels)


__all__ = ["Bottleneck", "ResNet", "resnet50"]
