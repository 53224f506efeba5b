"""Parity of photomend's BasicVSR (photomend.video.basicvsr_arch, and the ONNX graphs its import
writes, run by photomend.video.basicvsr) with the official mmagic code, on random weights.

    # read and run only, never committed: the official files from github.com/open-mmlab/mmagic
    git clone https://github.com/open-mmlab/mmagic /tmp/mmagic
    python tools/basicvsr_parity.py --mmagic-repo /tmp/mmagic [--frames 6 --size 64x96]

The official ``basicvsr_net.py`` (with ``archs/upsample.py``, ``archs/sr_backbone.py`` and
``utils/flow_warp.py``, which it imports) is loaded from its files with stand-ins for what
needs mmengine/mmcv: ``BaseModule`` (an ``nn.Module``), ``ConvModule`` (a convolution named
``conv`` and its activation, as mmcv's), the registry decorator, the logger, and the
initialisers (``default_init_weights``, ``make_layer``: a plain ``nn.Sequential``). A random
``BasicVSRNet`` of the published size (64 channels, 30 blocks; PyTorch's default init plus
N(0, 0.02) on every parameter) is saved as ``{"state_dict": {"generator." + key: ...}}`` like
the published files, imported with photomend's converter (layout check + ONNX export), and run
on the same random clip by the official module, photomend's torch module and the ONNX graphs
under ONNX Runtime (one window: the clip is no longer than ``basicvsr.WINDOW``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from photomend.video import basicvsr  # noqa: E402


class _ConvModule(nn.Module):
    """mmcv's ConvModule as BasicVSR uses it: conv (key ``conv``), then ReLU or nothing."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 norm_cfg=None, act_cfg=None, **_):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)
        self.act = nn.ReLU() if act_cfg else nn.Identity()

    def forward(self, x):
        return self.act(self.conv(x))


class _BaseModule(nn.Module):
    def __init__(self, init_cfg=None):
        super().__init__()


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def _exec(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_official(repo: Path) -> types.ModuleType:
    """mmagic's basicvsr_net module, from its file, with the stand-ins of the docstring."""
    models = repo / "mmagic" / "models"
    registry = types.SimpleNamespace(register_module=lambda *a, **k: (lambda cls: cls))
    _module("mmcv"), _module("mmcv.cnn", ConvModule=_ConvModule)
    _module("mmengine", MMLogger=types.SimpleNamespace(get_current_instance=lambda: None),
            print_log=lambda *a, **k: None)
    _module("mmengine.model", BaseModule=_BaseModule)
    _module("mmengine.runner", load_checkpoint=lambda *a, **k: None)
    for pkg in ("mmagic", "mmagic.models", "mmagic.models.editors",
                "mmagic.models.editors.basicvsr"):
        _module(pkg, __path__=[])
    _module("mmagic.registry", MODELS=registry)
    utils = _module("mmagic.models.utils", __path__=[],
                    default_init_weights=lambda *a, **k: None,
                    make_layer=lambda block, n, **kw: nn.Sequential(*[block(**kw)
                                                                     for _ in range(n)]))
    utils.flow_warp = _exec("mmagic.models.utils.flow_warp",
                            models / "utils" / "flow_warp.py").flow_warp
    archs = _module("mmagic.models.archs", __path__=[])
    archs.ResidualBlockNoBN = _exec("mmagic.models.archs.sr_backbone",
                                    models / "archs" / "sr_backbone.py").ResidualBlockNoBN
    archs.PixelShufflePack = _exec("mmagic.models.archs.upsample",
                                   models / "archs" / "upsample.py").PixelShufflePack
    return _exec("mmagic.models.editors.basicvsr.basicvsr_net",
                 models / "editors" / "basicvsr" / "basicvsr_net.py")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mmagic-repo", type=Path, required=True)
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--size", default="64x96", help="HxW of the low-resolution frames")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    h, w = (int(v) for v in args.size.split("x"))
    if not 1 <= args.frames <= basicvsr.WINDOW:
        p.error(f"--frames must be 1..{basicvsr.WINDOW} (one window)")
    official = load_official(args.mmagic_repo)
    torch.manual_seed(0)
    ref = official.BasicVSRNet(mid_channels=64, num_blocks=30).eval()
    with torch.no_grad():  # PyTorch's default init, then every parameter moved off it
        for t in ref.parameters():
            t.add_(torch.randn(t.shape) * 0.02)
    lrs = torch.rand(1, args.frames, 3, h, w)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "basicvsr_reds4.pth", Path(tmp) / "basicvsr.zip"
        state = {"generator." + k: v for k, v in ref.state_dict().items()}
        torch.save({"meta": {}, "state_dict": state}, src)
        t = time.perf_counter()
        basicvsr.convert_checkpoint(src, dst)
        print(f"import (layout check + ONNX export): {time.perf_counter() - t:.1f} s")
        mine = basicvsr.load_checkpoint(src)
        with torch.no_grad():
            a = ref(lrs)[0]
            b = mine(lrs)[0]
        scale = float(a.abs().max())
        rows.append(("torch", float((a - b).abs().max()), scale))
        up = basicvsr.BasicVSRUpscaler(dst)
        up.clip = False
        t = time.perf_counter()
        c = np.stack(list(up.upscale_frames(f.permute(1, 2, 0).numpy() for f in lrs[0])))
        seconds = time.perf_counter() - t
        diff = np.abs(a.permute(0, 2, 3, 1).numpy() - c).max()
        rows.append(("ONNX Runtime (fp32)", float(diff), scale))
    lines = [f"# BasicVSR parity: photomend vs the official mmagic BasicVSRNet (random weights, "
             f"64 ch, 30 blocks, {args.frames} frames {h}x{w} -> x4, torch {torch.__version__})",
             "", "Written by tools/basicvsr_parity.py. ONNX Runtime: "
             f"{seconds / args.frames:.2f} s per frame.", "",
             "| photomend | max abs difference | max abs output |", "|---|---|---|"]
    lines += [f"| {n} | {d:.3g} | {s:.3g} |" for n, d, s in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0 if max(r[1] / r[2] for r in rows) < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
