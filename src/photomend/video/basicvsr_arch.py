"""BasicVSR (Chan et al., CVPR 2021) in PyTorch, with the parameter names of MMEditing/mmagic's
published checkpoints, for importing them (torch extra; run time is ONNX Runtime, see
:mod:`photomend.video.basicvsr`).

The network: SPyNet optical flow between neighbouring low-resolution frames; a backward and a
forward recurrent branch (a 3x3 convolution from ``3 + C`` to ``C`` channels, leaky ReLU, then
``blocks`` residual blocks), each step warping the previous step's features by the flow; a
fusion and two pixel-shuffle x2 stages to x4, added to bilinear x4 upsampling of the frame.

The parts are separate modules so that they export to separate ONNX graphs:
:class:`SpyNetCore` (flow between frames whose sides are multiples of 32), :class:`Propagate`
(one recurrent step, warping included) and :class:`Upsample` (one output frame). The resizes
around SPyNet are done by the caller (:func:`spynet_flow` here, OpenCV at run time).
Written from the paper and the published layout; checked against the official module by
``tools/basicvsr_parity.py``.

>>> net = BasicVSR(channels=8, blocks=1)
>>> lrs = torch.rand(1, 3, 3, 40, 48)
>>> tuple(net(lrs).shape)
(1, 3, 3, 160, 192)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: The published networks' width and depth (every mmagic BasicVSR checkpoint).
CHANNELS, BLOCKS = 64, 30
#: SPyNet's input normalisation (ImageNet statistics; stored as buffers in the checkpoints).
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LEVELS = 6  # SPyNet pyramid levels: the frame sides must be multiples of 2 ** (LEVELS - 1)


def warp(x: torch.Tensor, flow: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """``x`` (N, C, H, W) sampled at ``p + flow[p]`` (flow N, 2, H, W in pixels, x then y):
    bilinear, pixel centres on the corners' grid (``align_corners=True``). The sampling grid
    is built from the flow's own shape, so the ONNX export keeps H and W dynamic."""
    ones = torch.ones_like(flow[:, :1])
    gx = ones.cumsum(3) - 1.0
    gy = ones.cumsum(2) - 1.0
    w = gx[:, :, :1, -1:].clamp(min=1.0)  # W - 1 (at least 1, as the official code)
    h = gy[:, :, -1:, :1].clamp(min=1.0)
    sx = 2.0 * (gx + flow[:, :1]) / w - 1.0
    sy = 2.0 * (gy + flow[:, 1:]) / h - 1.0
    grid = torch.cat([sx, sy], 1).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=True)


class _ConvAct(nn.Module):
    """A 7x7 convolution, ReLU after all but SPyNet's last layer (key: ``.conv``)."""

    def __init__(self, cin: int, cout: int, relu: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 7, 1, 3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class _FlowLevel(nn.Module):
    """One pyramid level of SPyNet: (reference, warped neighbour, flow) 8 ch -> flow residual."""

    def __init__(self) -> None:
        super().__init__()
        widths = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(*[
            _ConvAct(widths[i], widths[i + 1], relu=i < len(widths) - 2)
            for i in range(len(widths) - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SpyNetCore(nn.Module):
    """SPyNet on frames in [0, 1] whose sides are multiples of 32: flow from ``ref`` to
    ``supp`` (``ref[p] ~ supp[p + flow[p]]``), N x 2 x H x W."""

    def __init__(self) -> None:
        super().__init__()
        self.basic_module = nn.ModuleList([_FlowLevel() for _ in range(LEVELS)])
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        refs, supps = [(ref - self.mean) / self.std], [(supp - self.mean) / self.std]
        for _ in range(LEVELS - 1):
            refs.insert(0, F.avg_pool2d(refs[0], 2, 2))
            supps.insert(0, F.avg_pool2d(supps[0], 2, 2))
        flow = torch.zeros_like(refs[0][:, :2])
        for level, (r, s) in enumerate(zip(refs, supps)):
            if level:
                flow = F.interpolate(flow, scale_factor=2.0, mode="bilinear",
                                     align_corners=True) * 2.0
            moved = warp(s, flow, padding="border")
            flow = flow + self.basic_module[level](torch.cat([r, moved, flow], 1))
        return flow


def spynet_flow(core: SpyNetCore, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
    """SPyNet on frames of any size: resized (bilinear) up to multiples of 32, the flow
    resized back and rescaled to the frame's pixels."""
    h, w = ref.shape[-2:]
    hu, wu = -(-h // 32) * 32, -(-w // 32) * 32
    up = [F.interpolate(t, size=(hu, wu), mode="bilinear", align_corners=False)
          for t in (ref, supp)]
    flow = F.interpolate(core(*up), size=(h, w), mode="bilinear", align_corners=False)
    return flow * torch.tensor([w / wu, h / hu]).view(1, 2, 1, 1)


class _ResBlock(nn.Module):
    """conv-ReLU-conv plus the input (no normalisation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class _Trunk(nn.Module):
    """Input convolution (3 + C -> C), leaky ReLU, residual blocks (key: ``.main``)."""

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels + 3, channels, 3, 1, 1), nn.LeakyReLU(0.1),
            nn.Sequential(*[_ResBlock(channels) for _ in range(blocks)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Propagate(nn.Module):
    """One recurrent step: warp the previous features by ``flow``, then the trunk on the frame
    and them. At a clip's end pass zeros for both (warping zeros gives zeros)."""

    def __init__(self, trunk: _Trunk) -> None:
        super().__init__()
        self.trunk = trunk

    def forward(self, lr: torch.Tensor, state: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return self.trunk(torch.cat([lr, warp(state, flow)], 1))


class _PixelShuffleX2(nn.Module):
    """Convolution to 4x the channels, then pixel shuffle x2 (key: ``.upsample_conv``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.upsample_conv = nn.Conv2d(cin, cout * 4, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), 2)


class Upsample(nn.Module):
    """Backward and forward features of one frame -> the x4 frame."""

    def __init__(self, net: BasicVSR) -> None:
        super().__init__()
        self.net = net

    def forward(self, lr: torch.Tensor, backward: torch.Tensor,
                forward: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = F.leaky_relu(n.fusion(torch.cat([backward, forward], 1)), 0.1)
        x = F.leaky_relu(n.upsample1(x), 0.1)
        x = F.leaky_relu(n.upsample2(x), 0.1)
        x = n.conv_last(F.leaky_relu(n.conv_hr(x), 0.1))
        return x + F.interpolate(lr, scale_factor=4.0, mode="bilinear", align_corners=False)


class BasicVSR(nn.Module):
    """The whole network, parameter names as in mmagic's ``BasicVSRNet`` (without the
    checkpoint's ``generator.`` prefix). :meth:`forward` runs a whole clip, as the official
    test does; photomend runs the parts through ONNX in windows."""

    def __init__(self, channels: int = CHANNELS, blocks: int = BLOCKS) -> None:
        super().__init__()
        self.channels = channels
        self.spynet = SpyNetCore()
        self.backward_resblocks = _Trunk(channels, blocks)
        self.forward_resblocks = _Trunk(channels, blocks)
        self.fusion = nn.Conv2d(channels * 2, channels, 1)
        self.upsample1 = _PixelShuffleX2(channels, channels)
        self.upsample2 = _PixelShuffleX2(channels, 64)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def forward(self, lrs: torch.Tensor) -> torch.Tensor:
        """(N, T, 3, H, W) frames in [0, 1] -> (N, T, 3, 4H, 4W)."""
        n, t, _, h, w = lrs.shape
        frames = [lrs[:, i] for i in range(t)]
        back_step, fwd_step, up = (Propagate(self.backward_resblocks),
                                   Propagate(self.forward_resblocks), Upsample(self))
        zero_flow = lrs.new_zeros(n, 2, h, w)
        state = lrs.new_zeros(n, self.channels, h, w)
        backs: list[torch.Tensor] = [state] * t
        for i in reversed(range(t)):
            flow = spynet_flow(self.spynet, frames[i], frames[i + 1]) if i < t - 1 else zero_flow
            state = backs[i] = back_step(frames[i], state, flow)
        state = torch.zeros_like(state)
        outs = []
        for i in range(t):
            flow = spynet_flow(self.spynet, frames[i], frames[i - 1]) if i else zero_flow
            state = fwd_step(frames[i], state, flow)
            outs.append(up(frames[i], backs[i], state))
        return torch.stack(outs, 1)
