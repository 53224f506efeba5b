"""The scratch detector of "Bringing Old Photos Back to Life" (Wan et al., CVPR 2020; Microsoft,
MIT licence) in torch, with the parameter names and shapes of the published
``checkpoints/detection/FT_Epoch_latest.pt`` (under ``model_state``).

Written from the official code's architecture (read, not copied) and the layout of the
release, for converting the checkpoint to ONNX (torch is needed once, at import; inference runs on ONNX Runtime). The
network is a U-Net on the grey scan: a 7x7 convolution (64 channels), four levels down, each an
anti-aliased downsampling (a 3x3 convolution, batch norm, leaky ReLU, then a [1 2 1]^2 blur at
stride 2, Zhang 2019) and two 3x3 convolutions with batch norm (128 to 1024 channels), four
levels up (bilinear x2, a 3x3 convolution, the skip concatenated, two 3x3 convolutions with
batch norm), and a 3x3 convolution to one logit. Every convolution pads by reflection. 37.6 M
parameters. ``tools/bopbtl_parity.py`` checks it against the official code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: The published configuration (``Global/detection.py``): depth 4, 2**6 first channels.
DEPTH = 4
WIDTH_LOG2 = 6


class _Blur(nn.Module):
    """The anti-aliasing blur: [1 2 1] x [1 2 1] / 16 per channel, reflection-padded, stride 2.
    Its filter is a buffer of the checkpoint (``filt``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = a[:, None] * a[None, :]
        self.register_buffer("filt", (filt / filt.sum())[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2,
                        groups=x.shape[1])


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3), nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.2)]


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.block = nn.Sequential(*_conv_bn(c_in, c_out), *_conv_bn(c_out, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _Up(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3))
        self.conv_block = _Block(c_in, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv_block(torch.cat([self.up(x), skip], 1))


class ScratchUNet(nn.Module):
    """1xHxW grey scan, normalised to [-1, 1] (H and W multiples of 16) -> 1xHxW logits.

    >>> net = ScratchUNet()
    >>> sum(p.numel() for p in net.parameters()) // 1_000_000
    37
    """

    def __init__(self) -> None:
        super().__init__()
        c = 2 ** WIDTH_LOG2
        self.first = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(1, c, 7), nn.LeakyReLU(0.2))
        self.down_sample = nn.ModuleList()
        self.down_path = nn.ModuleList()
        for i in range(DEPTH):
            self.down_sample.append(nn.Sequential(*_conv_bn(c, c), _Blur(c)))
            self.down_path.append(_Block(c, 2 ** (WIDTH_LOG2 + i + 1)))
            c = 2 ** (WIDTH_LOG2 + i + 1)
        self.up_path = nn.ModuleList()
        for i in reversed(range(DEPTH)):
            self.up_path.append(_Up(c, 2 ** (WIDTH_LOG2 + i)))
            c = 2 ** (WIDTH_LOG2 + i)
        self.last = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, 1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(x)
        skips = []
        for down, block in zip(self.down_sample, self.down_path):
            skips.append(x)
            x = block(down(x))
        for up, skip in zip(self.up_path, reversed(skips)):
            x = up(x, skip)
        return self.last(x)
