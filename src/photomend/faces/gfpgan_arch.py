"""GFPGAN v1.3 / v1.4 ("clean" architecture, Apache-2.0) in torch, with the parameter names and
shapes of the published ``GFPGANv1.3.pth`` / ``GFPGANv1.4.pth`` (under ``params_ema``).

A U-Net encoder reads the degraded 512 px face ([-1, 1]) down to 4x4, gives one 512-d style
per StyleGAN2 layer (``different_w``, ``input_is_latent``), and on the way back up, at each
resolution, a scale and a shift that modulate half of the channels of the StyleGAN2 decoder's
first convolution there (SFT, ``sft_half``). The decoder is StyleGAN2 ("clean": plain PyTorch
ops, bilinear resampling): modulated + demodulated 3x3 convolutions (in the unfused form, so that
the exported convolutions have constant weights), noise, bias, leaky ReLU, and skip ToRGB
layers. Only inference is kept (used to export ONNX); noise is the checkpoint's
stored noise (``randomize_noise=False``), so that the exported model is deterministic.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

STYLE = 512


def _channels(mult: float, narrow: float) -> dict[int, int]:
    return {4: int(512 * narrow), 8: int(512 * narrow), 16: int(512 * narrow),
            32: int(512 * narrow), 64: int(256 * mult * narrow), 128: int(128 * mult * narrow),
            256: int(64 * mult * narrow), 512: int(32 * mult * narrow),
            1024: int(16 * mult * narrow)}


def _resample(x: torch.Tensor, factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class ModulatedConv2d(nn.Module):
    """StyleGAN2's modulated convolution in its unfused form (``fused_modconv=False``): the
    input's channels scaled by the style, a convolution with the fixed weight, the output's
    channels scaled by the demodulation coefficients. Mathematically the same as scaling the
    weight per sample, but the exported graph's convolutions keep constant weights, which
    ONNX Runtime pre-packs (about 3x faster on a CPU)."""

    def __init__(self, cin: int, cout: int, k: int, demodulate: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.modulation = nn.Linear(STYLE, cin)
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k) / math.sqrt(cin * k * k))
        self.demodulate, self.upsample = demodulate, upsample

    def forward(self, x: torch.Tensor, style: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """``gain`` multiplies the output (folded into the demodulation coefficients)."""
        b, c = x.shape[:2]
        s = self.modulation(style)  # (b, cin)
        x = x * s.view(b, c, 1, 1)
        if self.upsample:
            x = _resample(x, 2)
        w = self.weight[0]
        out = F.conv2d(x, w, padding=w.shape[-1] // 2)
        if self.demodulate:
            # sum over cin, k, k of (w * s)^2 = (s^2) @ (sum over k, k of w^2)^T
            demod = torch.rsqrt(s.pow(2) @ w.pow(2).sum([2, 3]).t() + 1e-8)  # (b, cout)
            out = out * (demod * gain).view(b, -1, 1, 1)
        elif gain != 1.0:
            out = out * gain
        return out


class StyleConv(nn.Module):
    def __init__(self, cin: int, cout: int, upsample: bool = False):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(cin, cout, 3, upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x, style, noise):
        out = self.modulated_conv(x, style, gain=2 ** 0.5)
        return F.leaky_relu(out + self.weight * noise + self.bias, 0.2)


class ToRGB(nn.Module):
    def __init__(self, cin: int, upsample: bool = True):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(cin, 3, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.upsample = upsample

    def forward(self, x, style, skip=None):
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (_resample(skip, 2) if self.upsample else skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, 4, 4))


class Decoder(nn.Module):
    """StyleGAN2 (clean) with SFT on half of the channels; ``style_mlp`` is kept for the
    checkpoint's layout but unused (GFPGAN feeds latents directly)."""

    def __init__(self, out_size: int, mult: float):
        super().__init__()
        ch = _channels(mult, 1)
        layers = [nn.Identity()]  # NormStyleCode has no parameters
        for _ in range(8):
            layers += [nn.Linear(STYLE, STYLE), nn.LeakyReLU(0.2)]
        self.style_mlp = nn.Sequential(*layers)
        self.constant_input = ConstantInput(ch[4])
        self.style_conv1 = StyleConv(ch[4], ch[4])
        self.to_rgb1 = ToRGB(ch[4], upsample=False)
        self.log_size = int(math.log2(out_size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise{i}", torch.randn(1, 1, r, r))
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            cout = ch[2 ** i]
            self.style_convs.append(StyleConv(cin, cout, upsample=True))
            self.style_convs.append(StyleConv(cout, cout))
            self.to_rgbs.append(ToRGB(cout))
            cin = cout

    def forward(self, latent: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
        noise = [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
        out = self.constant_input.weight.expand(latent.shape[0], -1, -1, -1)
        out = self.style_conv1(out, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, n1, n2, to_rgb in zip(self.style_convs[::2], self.style_convs[1::2],
                                                noise[1::2], noise[2::2], self.to_rgbs):
            out = conv1(out, latent[:, i], n1)
            if i < len(conditions):
                same, sft = torch.split(out, out.size(1) // 2, dim=1)
                out = torch.cat([same, sft * conditions[i - 1] + conditions[i]], dim=1)
            out = conv2(out, latent[:, i + 1], n2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factor: float):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)
        self.factor = factor

    def forward(self, x):
        out = _resample(F.leaky_relu(self.conv1(x), 0.2), self.factor)
        out = F.leaky_relu(self.conv2(out), 0.2)
        return out + self.skip(_resample(x, self.factor))


class GFPGANv1Clean(nn.Module):
    """``forward(x)``: (1, 3, S, S) in [-1, 1] -> the restored face, same shape, about
    [-1, 1]. Published v1.3 / v1.4: ``out_size=512, channel_multiplier=2``."""

    def __init__(self, out_size: int = 512, channel_multiplier: float = 2):
        super().__init__()
        ch = _channels(channel_multiplier, 0.5)
        self.log_size = int(math.log2(out_size))
        self.conv_body_first = nn.Conv2d(3, ch[out_size], 1)
        cin = ch[out_size]
        self.conv_body_down = nn.ModuleList()
        for i in range(self.log_size, 2, -1):
            self.conv_body_down.append(ResBlock(cin, ch[2 ** (i - 1)], 0.5))
            cin = ch[2 ** (i - 1)]
        self.final_conv = nn.Conv2d(cin, ch[4], 3, 1, 1)
        cin = ch[4]
        self.conv_body_up = nn.ModuleList()
        for i in range(3, self.log_size + 1):
            self.conv_body_up.append(ResBlock(cin, ch[2 ** i], 2))
            cin = ch[2 ** i]
        self.toRGB = nn.ModuleList(nn.Conv2d(ch[2 ** i], 3, 1)
                                   for i in range(3, self.log_size + 1))
        self.final_linear = nn.Linear(ch[4] * 16, (self.log_size * 2 - 2) * STYLE)
        self.stylegan_decoder = Decoder(out_size, channel_multiplier)
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for i in range(3, self.log_size + 1):
            c = ch[2 ** i]
            for heads in (self.condition_scale, self.condition_shift):
                heads.append(nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2),
                                           nn.Conv2d(c, c, 3, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu(self.conv_body_first(x), 0.2)
        skips = []
        for down in self.conv_body_down:
            feat = down(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu(self.final_conv(feat), 0.2)
        latent = self.final_linear(feat.reshape(feat.size(0), -1)).view(feat.size(0), -1, STYLE)
        conditions = []
        for i, up in enumerate(self.conv_body_up):
            feat = up(feat + skips[i])
            conditions += [self.condition_scale[i](feat), self.condition_shift[i](feat)]
        return self.stylegan_decoder(latent, conditions)
