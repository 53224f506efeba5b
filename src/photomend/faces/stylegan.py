"""StyleGAN (v1, FFHQ 1024 px, 18 style layers): the synthesis and mapping networks in torch,
with the parameter names and shapes of PULSE's published ``synthesis.pt`` and ``mapping.pt``
(its port of the official TensorFlow model, after lernapparat's).

Synthesis: a learned 4x4 constant, then eight blocks that double the resolution (8 ... 1024);
each of the 18 layers is a 3x3 convolution (the first of a block upsamples: nearest + conv
below 128 px, a fused transposed convolution from 128 px on, then a [1 2 1] blur), per-pixel
noise scaled per channel, leaky ReLU, instance norm and a style modulation ``x * (1 + s) + b``
from the layer's 512-d latent; a 1x1 convolution turns the 16 channels at 1024 px into RGB in
[-1, 1]. All weights use the equalised learning rate (stored ~N(0, 1), scaled at run time by
``gain / sqrt(fan_in)``). Mapping: pixel norm, then eight 512-512 dense layers with leaky ReLU
(learning-rate multiplier 0.01).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

#: Feature maps per resolution (fmap_base 8192, decay 1, max 512).
CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
RESOLUTIONS = tuple(CHANNELS)
NUM_LAYERS = 18
LATENT = 512
#: From this output side on, the upsampling convolution is fused (a transposed convolution).
FUSED_FROM = 128


def noise_shapes(batch: int = 1) -> list[tuple[int, int, int, int]]:
    """Shapes of the 18 noise inputs: two per resolution, 4 ... 1024.

    >>> [s[-1] for s in noise_shapes()][:5]
    [4, 4, 8, 8, 16]
    """
    return [(batch, 1, 2 ** (i // 2 + 2), 2 ** (i // 2 + 2)) for i in range(NUM_LAYERS)]


class EqualLinear(nn.Module):
    def __init__(self, fan_in: int, fan_out: int, gain: float = math.sqrt(2), lrmul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / lrmul)
        self.bias = nn.Parameter(torch.zeros(fan_out))
        self.w_mul = gain * fan_in ** -0.5 * lrmul
        self.b_mul = lrmul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.w_mul, self.bias * self.b_mul)


class Blur(nn.Module):
    """Depthwise [1 2 1] x [1 2 1] / 16 filter (its kernel is a buffer of the checkpoint)."""

    def __init__(self):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        k = k[:, None] * k[None, :]
        self.register_buffer("kernel", (k / k.sum())[None, None])

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        return F.conv2d(x, self.kernel.expand(x.size(1), -1, -1, -1), bias, padding=1,
                        groups=x.size(1))


class EqualConv(nn.Module):
    """3x3 (or 1x1) convolution; ``upsample``: doubles the resolution first and blurs after."""

    def __init__(self, cin: int, cout: int, k: int, gain: float = math.sqrt(2),
                 upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.w_mul = gain * (cin * k * k) ** -0.5
        self.upsample = upsample
        self.intermediate = Blur() if upsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.w_mul
        if not self.upsample:
            return F.conv2d(x, w, self.bias, padding=w.size(-1) // 2)
        if 2 * min(x.shape[2:]) >= FUSED_FROM:
            # nearest x2 then 3x3 conv, fused: a 4x4 transposed convolution of stride 2
            w = F.pad(w.permute(1, 0, 2, 3), (1, 1, 1, 1))
            w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
            x = F.conv_transpose2d(x, w, stride=2, padding=1)
        else:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.conv2d(x, w, padding=1)
        return self.intermediate(x, self.bias)  # the bias added by the blur's convolution


class NoiseWeight(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))


class StyleMod(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.lin = EqualLinear(LATENT, 2 * channels, gain=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.lin(w).view(-1, 2, x.size(1), 1, 1)
        return torch.addcmul(style[:, 1], x, style[:, 0] + 1.0)  # x * (1 + s) + b, one pass


class Epilogue(nn.Module):
    """Noise, leaky ReLU, instance norm, style."""

    def __init__(self, channels: int):
        super().__init__()
        self.noise = NoiseWeight(channels)
        self.style_mod = StyleMod(channels)

    def forward(self, x, w, noise):
        x = torch.addcmul(x, self.noise.weight.view(1, -1, 1, 1), noise)  # x + weight * noise
        x = F.instance_norm(F.leaky_relu(x, 0.2), eps=1e-5)
        return self.style_mod(x, w)


class InputBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.const = nn.Parameter(torch.ones(1, channels, 4, 4))
        self.bias = nn.Parameter(torch.ones(channels))
        self.epi1 = Epilogue(channels)
        self.conv = EqualConv(channels, channels, 3)
        self.epi2 = Epilogue(channels)

    def forward(self, w, noise):
        x = self.const.expand(w.size(0), -1, -1, -1) + self.bias.view(1, -1, 1, 1)
        x = self.epi1(x, w[:, 0], noise[0])
        return self.epi2(self.conv(x), w[:, 1], noise[1])


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0_up = EqualConv(cin, cout, 3, upsample=True)
        self.epi1 = Epilogue(cout)
        self.conv1 = EqualConv(cout, cout, 3)
        self.epi2 = Epilogue(cout)

    def forward(self, x, w, noise):
        x = self.epi1(self.conv0_up(x), w[:, 0], noise[0])
        return self.epi2(self.conv1(x), w[:, 1], noise[1])


class Synthesis(nn.Module):
    """``forward(w, noise)``: w (B, 18, 512), noise a list of 18 tensors (:func:`noise_shapes`)
    -> (B, 3, 1024, 1024) in about [-1, 1]. A smaller ``resolution`` (a power of two, for
    tests and parity checks on random weights) uses only the first 2 log2(res) - 2 layers."""

    def __init__(self, resolution: int = 1024, fmap_max: int = 512):
        super().__init__()
        if resolution not in CHANNELS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
        self.resolution = resolution
        ch = {r: min(c, fmap_max) for r, c in CHANNELS.items()}  # fmap_max < 512: tests only
        res_list = [r for r in RESOLUTIONS if r <= resolution]
        blocks = [("4x4", InputBlock(ch[4]))]
        for prev, res in zip(res_list, res_list[1:]):
            blocks.append((f"{res}x{res}", UpBlock(ch[prev], ch[res])))
        self.blocks = nn.ModuleDict(OrderedDict(blocks))
        self.torgb = EqualConv(ch[resolution], 3, 1, gain=1.0)

    def forward(self, w: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        x = None
        for i, block in enumerate(self.blocks.values()):
            pair = w[:, 2 * i:2 * i + 2], noise[2 * i:2 * i + 2]
            x = block(*pair) if x is None else block(x, *pair)
        return self.torgb(x)


class Mapping(nn.Module):
    """z (B, 512) -> w (B, 512)."""

    def __init__(self):
        super().__init__()
        for i in range(8):
            setattr(self, f"dense{i}", EqualLinear(LATENT, LATENT, lrmul=0.01))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(torch.mean(z ** 2, dim=1, keepdim=True) + 1e-8)
        for i in range(8):
            x = F.leaky_relu(getattr(self, f"dense{i}")(x), 0.2)
        return x
