"""LaMa's FFC-ResNet generator (Suvorov et al., WACV 2022), inference only, in plain torch.

A clean re-implementation of ``FFCResNetGenerator`` for the configurations LaMa publishes: no
learnable spatial transforms, no squeeze-excitation, no local Fourier unit, no gates. Module
names follow the official ones, so a published state dict loads as it is (``model.<i>.…``).

Importing this module imports torch; :mod:`photomend.lama` imports it only when a model runs.

A Fast Fourier Convolution splits its channels into a *local* part (ordinary 3x3 convolutions)
and a *global* part, transformed by a 1x1 convolution in the frequency domain (real FFT,
"ortho" normalisation) so every output pixel sees the whole image from the first block on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from photomend.lama.config import LamaConfig


class FourierUnit(nn.Module):
    """1x1 convolution + BN + ReLU on the real FFT of the input (real and imaginary parts as
    interleaved channels), then back to the image domain."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(2 * channels, 2 * channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        spec = torch.fft.rfft2(x, norm="ortho")  # b, c, h, w//2+1 (complex)
        spec = torch.stack((spec.real, spec.imag), dim=2).reshape(b, 2 * c, h, -1)
        spec = F.relu(self.bn(self.conv_layer(spec)))
        spec = spec.reshape(b, c, 2, h, -1)
        spec = torch.complex(spec[:, :, 0].contiguous(), spec[:, :, 1].contiguous())
        return torch.fft.irfft2(spec, s=(h, w), norm="ortho")


class SpectralTransform(nn.Module):
    """The global-to-global path: 1x1 conv halving the channels, Fourier unit (residual),
    1x1 conv back."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        half = cout // 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True)
        )
        self.fu = FourierUnit(half)
        self.conv2 = nn.Conv2d(half, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(x + self.fu(x))


def _conv(cin: int, cout: int, k: int, stride: int, padding: int) -> nn.Module | None:
    if cin == 0 or cout == 0:
        return None
    return nn.Conv2d(cin, cout, k, stride, padding, bias=False, padding_mode="reflect")


class FFC(nn.Module):
    """The four paths of a Fast Fourier Convolution: local->local, local->global,
    global->local (spatial convolutions) and global->global (spectral transform)."""

    def __init__(self, cin: int, cout: int, k: int, gin: float, gout: float, *,
                 stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        in_g = int(cin * gin)
        in_l = cin - in_g
        out_g = int(cout * gout)
        out_l = cout - out_g
        if in_g and stride != 1:
            raise ValueError("a strided FFC with global inputs is not part of LaMa's generators")
        self.convl2l = _conv(in_l, out_l, k, stride, padding)
        self.convl2g = _conv(in_l, out_g, k, stride, padding)
        self.convg2l = _conv(in_g, out_l, k, stride, padding)
        self.convg2g = SpectralTransform(in_g, out_g) if in_g and out_g else None
        self.has_local, self.has_global = out_l > 0, out_g > 0

    def forward(self, x_l: torch.Tensor | None, x_g: torch.Tensor | None):
        out_l = out_g = None
        if self.has_local:
            out_l = _add(_apply(self.convl2l, x_l), _apply(self.convg2l, x_g))
        if self.has_global:
            out_g = _add(_apply(self.convl2g, x_l), _apply(self.convg2g, x_g))
        return out_l, out_g


def _apply(layer: nn.Module | None, x: torch.Tensor | None) -> torch.Tensor | None:
    return None if layer is None or x is None else layer(x)


def _add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if a is None:
        return b
    return a if b is None else a + b


class FFCBlock(nn.Module):
    """FFC followed by BatchNorm and (optionally) ReLU on each part (``FFC_BN_ACT`` upstream)."""

    def __init__(self, cin: int, cout: int, k: int, gin: float, gout: float, *,
                 stride: int = 1, padding: int = 0, relu: bool = True) -> None:
        super().__init__()
        self.ffc = FFC(cin, cout, k, gin, gout, stride=stride, padding=padding)
        out_g = int(cout * gout)
        self.bn_l = nn.BatchNorm2d(cout - out_g) if gout != 1 else None
        self.bn_g = nn.BatchNorm2d(out_g) if gout != 0 else None
        self.relu = relu

    def forward(self, x):
        x_l, x_g = self.ffc(*x)
        x_l, x_g = _apply(self.bn_l, x_l), _apply(self.bn_g, x_g)
        if self.relu:
            x_l = None if x_l is None else F.relu(x_l)
            x_g = None if x_g is None else F.relu(x_g)
        return x_l, x_g


class FFCResBlock(nn.Module):
    """Two FFC blocks with an identity shortcut on both the local and the global part."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        self.conv1 = FFCBlock(dim, dim, 3, ratio, ratio, padding=1)
        self.conv2 = FFCBlock(dim, dim, 3, ratio, ratio, padding=1)

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        return _add(x[0], y[0]), _add(x[1], y[1])


class _Pad(nn.Module):
    def forward(self, x):
        return F.pad(x, (3, 3, 3, 3), mode="reflect")


class _Join(nn.Module):
    """Local and global channels back into one tensor (``ConcatTupleLayer`` upstream)."""

    def forward(self, x):
        parts = [p for p in x if p is not None]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class _Wrap(nn.Module):
    """A tensor into the (local, global) pair the FFC layers take."""

    def forward(self, x):
        return x, None


class LamaGenerator(nn.Module):
    """FFC-ResNet generator: 4-channel input (image with the hole zeroed, mask), RGB in [0, 1].

    ``self.model`` has the official layer indices, hence the official state-dict keys. Only
    evaluation (BatchNorm running statistics) is supported.
    """

    def __init__(self, config: LamaConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        layers: list[nn.Module] = [_Pad(), FFCBlock(c.input_nc, c.ngf, 7, 0.0, 0.0)]
        for i in range(c.n_downsampling):
            gout = c.ratio_g if i == c.n_downsampling - 1 else 0.0
            layers.append(FFCBlock(c.channels(i), c.channels(i + 1), 3, 0.0, gout,
                                   stride=2, padding=1))
        layers += [FFCResBlock(c.bottleneck, c.ratio_g) for _ in range(c.n_blocks)]
        layers.append(_Join())
        for i in range(c.n_downsampling):
            level = c.n_downsampling - i
            cout = min(c.max_features, int(c.ngf * 2**level / 2))
            layers += [nn.ConvTranspose2d(c.channels(level), cout, 3, stride=2, padding=1,
                                          output_padding=1),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        layers += [_Pad(), nn.Conv2d(c.ngf, c.output_nc, 7), nn.Sigmoid()]
        self.model = nn.Sequential(*layers)
        self._wrap = _Wrap()
        self.eval()

    #: Index (into ``model``) of the decoder layer whose output serves as attention features:
    #: the ReLU after the first transposed convolution, at 1/2**(n_downsampling-1) resolution
    #: (1/4 for Big-LaMa: one feature vector per 4x4 cell of the working image).
    def feature_index(self) -> int:
        return self.config.up_index(0) + 2

    def forward(self, x: torch.Tensor, *, with_features: bool = False):
        """``x``: N x input_nc x H x W with H, W multiples of ``config.pad_multiple``.

        Returns the N x output_nc x H x W prediction, and with ``with_features`` also the
        decoder features (N x C x H/4 x W/4 for Big-LaMa).
        """
        tap = self.feature_index() if with_features else -1
        features = None
        h = self.model[0](x)
        h = self.model[1](self._wrap(h))
        for i, layer in enumerate(self.model[2:], start=2):
            h = layer(h)
            if i == tap:
                features = h
        return (h, features) if with_features else h
