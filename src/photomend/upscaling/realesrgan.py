"""Convert Real-ESRGAN checkpoints (``.pth``) to ONNX: RRDBNet and SRVGGNetCompact.

The architectures follow the published definitions (BasicSR ``RRDBNet``: ESRGAN's residual-in-
residual dense blocks, LeakyReLU 0.2, residuals scaled by 0.2, two nearest x2 upsamplings, with
a pixel-unshuffle in front for x2/x1; Real-ESRGAN ``SRVGGNetCompact``: a plain conv stack with
PReLU, a pixel shuffle, plus the nearest-upsampled input). They are re-described here as an
ONNX graph (:class:`~photomend.upscaling.onnx_graph.GraphBuilder`); no code of those projects is
used. A checkpoint is checked key by key (names and shapes, in order) against the architecture
before conversion, so a checkpoint of another architecture fails with the first mismatch.

Checkpoints are read without torch when they are in PyTorch's zip format (every ``torch.save``
since 1.6) by :mod:`photomend.nn.checkpoint`, with no code run. Older pickle files
need torch (``pip install 'photomend[torch]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photomend.errors import ModelError
from photomend.nn.checkpoint import check_state_dict as _check_keys
from photomend.nn.checkpoint import load_state_dict
from photomend.upscaling.onnx_graph import GraphBuilder


@dataclass(frozen=True)
class RRDBNetArch:
    """BasicSR ``RRDBNet(num_in_ch, num_out_ch, scale, num_feat, num_block, num_grow_ch)``."""

    scale: int = 4
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    num_in_ch: int = 3
    num_out_ch: int = 3

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every state-dict key and shape, in the module's order."""
        unshuffle = {1: 16, 2: 4}.get(self.scale, 1)
        f, g = self.num_feat, self.num_grow_ch
        out: dict[str, tuple[int, ...]] = {}

        def conv(name: str, cin: int, cout: int) -> None:
            out[f"{name}.weight"] = (cout, cin, 3, 3)
            out[f"{name}.bias"] = (cout,)

        conv("conv_first", self.num_in_ch * unshuffle, f)
        for b in range(self.num_block):
            for r in (1, 2, 3):
                for i in range(1, 5):
                    conv(f"body.{b}.rdb{r}.conv{i}", f + (i - 1) * g, g)
                conv(f"body.{b}.rdb{r}.conv5", f + 4 * g, f)
        for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
            conv(name, f, f)
        conv("conv_last", f, self.num_out_ch)
        return out


@dataclass(frozen=True)
class SRVGGNetArch:
    """Real-ESRGAN ``SRVGGNetCompact(num_in_ch, num_out_ch, num_feat, num_conv, upscale,
    act_type)``."""

    scale: int = 4
    num_feat: int = 64
    num_conv: int = 32
    act_type: str = "prelu"
    num_in_ch: int = 3
    num_out_ch: int = 3

    def shapes(self) -> dict[str, tuple[int, ...]]:
        f = self.num_feat
        out: dict[str, tuple[int, ...]] = {}
        index = 0
        for k in range(self.num_conv + 2):
            cin = self.num_in_ch if k == 0 else f
            cout = self.num_out_ch * self.scale**2 if k == self.num_conv + 1 else f
            out[f"body.{index}.weight"] = (cout, cin, 3, 3)
            out[f"body.{index}.bias"] = (cout,)
            index += 1
            if k <= self.num_conv:  # an activation after every conv but the last
                if self.act_type == "prelu":
                    out[f"body.{index}.weight"] = (f,)
                index += 1
        return out


Arch = RRDBNetArch | SRVGGNetArch


def check_state_dict(state: dict[str, np.ndarray], arch: Arch, *, what: str = "checkpoint"):
    """Raise ModelArchitectureError naming the first key whose presence or shape differs from
    ``arch``."""
    _check_keys(state, arch.shapes(), label=f"a {_describe(arch)}", what=what)


def _describe(arch: Arch) -> str:
    if isinstance(arch, RRDBNetArch):
        return (f"RRDBNet x{arch.scale} ({arch.num_block} blocks, {arch.num_feat} features, "
                f"growth {arch.num_grow_ch})")
    return f"SRVGGNetCompact x{arch.scale} ({arch.num_conv} convs, {arch.act_type})"


# --- ONNX graphs --------------------------------------------------------------------------
def build_onnx(state: dict[str, np.ndarray], arch: Arch, *, doc: str = "") -> GraphBuilder:
    """The ONNX graph of ``arch`` with ``state``'s weights (checked first)."""
    check_state_dict(state, arch)
    if isinstance(arch, RRDBNetArch):
        return _rrdbnet(state, arch, doc)
    return _srvgg(state, arch, doc)


def _rrdbnet(w: dict[str, np.ndarray], arch: RRDBNetArch, doc: str) -> GraphBuilder:
    g = GraphBuilder(doc=doc)

    def conv(x: str, name: str, weight: np.ndarray | None = None) -> str:
        return g.conv(x, w[f"{name}.weight"] if weight is None else weight, w[f"{name}.bias"],
                      hint=name.replace(".", "_"))

    def lrelu(x: str) -> str:
        return g.leaky_relu(x, 0.2)

    x = g.input
    block = {1: 4, 2: 2}.get(arch.scale)
    first = w["conv_first.weight"]
    if block:
        # BasicSR's pixel_unshuffle orders channels c*b*b + i*b + j; ONNX SpaceToDepth orders
        # them (i*b + j)*C + c: permute conv_first's input channels to match.
        c = arch.num_in_ch
        perm = [cc * block * block + i * block + j
                for i in range(block) for j in range(block) for cc in range(c)]
        first = first[:, perm]
        x = g.space_to_depth(x, block)
    feat = conv(x, "conv_first", first)
    body = feat
    for b in range(arch.num_block):
        rrdb_in = body
        for r in (1, 2, 3):
            prefix = f"body.{b}.rdb{r}"
            feats = [body]
            for i in range(1, 5):
                feats.append(lrelu(conv(g.concat(feats) if len(feats) > 1 else feats[0],
                                        f"{prefix}.conv{i}")))
            x5 = conv(g.concat(feats), f"{prefix}.conv5")
            body = g.add(g.scale(x5, 0.2), body)
        body = g.add(g.scale(body, 0.2), rrdb_in)
    feat = g.add(feat, conv(body, "conv_body"))
    feat = lrelu(conv(g.upsample_nearest(feat, 2), "conv_up1"))
    feat = lrelu(conv(g.upsample_nearest(feat, 2), "conv_up2"))
    g.output_name(conv(lrelu(conv(feat, "conv_hr")), "conv_last"))
    return g


def _srvgg(w: dict[str, np.ndarray], arch: SRVGGNetArch, doc: str) -> GraphBuilder:
    g = GraphBuilder(doc=doc)
    x = g.input
    index = 0
    for k in range(arch.num_conv + 2):
        x = g.conv(x, w[f"body.{index}.weight"], w[f"body.{index}.bias"], hint=f"body_{index}")
        index += 1
        if k <= arch.num_conv:
            if arch.act_type == "prelu":
                x = g.prelu(x, w[f"body.{index}.weight"])
            elif arch.act_type == "relu":
                x = g.relu(x)
            elif arch.act_type == "leakyrelu":
                x = g.leaky_relu(x, 0.1)
            else:
                raise ModelError(f"unknown activation {arch.act_type!r}")
            index += 1
    out = g.depth_to_space(x, arch.scale, "CRD")  # PyTorch PixelShuffle order
    g.output_name(g.add(out, g.upsample_nearest(g.input, arch.scale)))
    return g


def convert_checkpoint(source: Path, dest: Path, arch: Arch, *, doc: str = "") -> None:
    """Read the ``.pth`` ``source``, check it against ``arch`` and write the ONNX ``dest``."""
    state = load_state_dict(source)
    check_state_dict(state, arch, what=Path(source).name)
    build_onnx(state, arch, doc=doc).save(dest)
